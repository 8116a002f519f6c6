"""Figure plumbing shared by the report's plots: an Agg canvas per figure
(no pyplot global state), label sizes, colours, PNG bytes."""
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Colour of the cells left ``Unassigned`` in every figure.
UNASSIGNED_COLOUR = "#9e9e9e"


def new_figure(width: float, height: float) -> Figure:
    """A Figure on its own Agg canvas, with constrained layout."""
    fig = Figure(figsize=(width, height), layout="constrained", dpi=100)
    FigureCanvasAgg(fig)
    return fig


def label_font_size(n: int) -> int:
    """Tick-label font size that keeps ``n`` categories readable."""
    return 10 if n <= 12 else 9 if n <= 20 else 8


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG, the way the report saves and embeds it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, facecolor="white")
    return buffer.getvalue()
