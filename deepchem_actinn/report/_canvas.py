"""Figure plumbing shared by the report's plots: an Agg canvas per figure
(no pyplot global state), label sizes, colours, names as drawn, PNG bytes."""
import io
import warnings

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Colour of the cells left ``Unassigned`` in every figure.
UNASSIGNED_COLOUR = "#9e9e9e"

#: Names longer than this are shortened in the figures (the page's tables
#: give them in full).
MAX_NAME_CHARS = 40


def drawn(name: object, width: int = MAX_NAME_CHARS) -> str:
    r"""A name from the data as a figure draws it: longer than ``width``
    characters, shortened in the middle; its ``$`` escaped, so matplotlib
    draws it as it is, not as mathtext. Every text from the data that
    reaches matplotlib goes through here.

    Examples
    --------
    >>> from deepchem_actinn.report._canvas import drawn
    >>> print(drawn(r"Th17 $\gamma$ cell"))
    Th17 \$\gamma\$ cell
    >>> drawn("a" * 30 + "b" * 30, 10)
    'aaaaa…bbbb'
    """
    text = str(name)
    if len(text) > width:
        head = (width - 1) - (width - 1) // 2
        text = text[:head] + "\u2026" + text[len(text) - (width - 1 - head):]
    return text.replace("$", r"\$")


def new_figure(width: float, height: float) -> Figure:
    """A Figure on its own Agg canvas, with constrained layout."""
    fig = Figure(figsize=(width, height), layout="constrained", dpi=100)
    FigureCanvasAgg(fig)
    return fig


def label_font_size(n: int) -> int:
    """Tick-label font size that keeps ``n`` categories readable."""
    return 10 if n <= 12 else 9 if n <= 20 else 8


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG, the way the report saves and embeds it (a name
    in a script the font lacks is drawn as boxes, without a warning per
    character: the page's tables give it)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore",
                                message=r"Glyph \d+ .*missing from",
                                category=UserWarning)
        fig.savefig(buffer, format="png", dpi=110, facecolor="white")
    return buffer.getvalue()
