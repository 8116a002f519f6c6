"""Figure plumbing shared by the report's plots: an Agg canvas per figure
(no pyplot global state), label sizes, colours, names as drawn, PNG bytes."""
import io
import warnings
from collections import Counter
from typing import Dict, Iterable, List, Optional

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Colour of the cells left ``Unassigned`` in every figure.
UNASSIGNED_COLOUR = "#9e9e9e"

#: Names longer than this are shortened in the figures (the page's tables
#: give them in full).
MAX_NAME_CHARS = 40


def _shortened(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters in the middle (an ellipsis for
    what is left out), or as it is when it fits."""
    if len(text) <= width:
        return text
    head = (width - 1) - (width - 1) // 2
    return text[:head] + "\u2026" + text[len(text) - (width - 1 - head):]


def _escaped(text: str) -> str:
    """``text`` with its ``$`` escaped, so matplotlib draws it as it is."""
    return text.replace("$", r"\$")


def drawn(name: object, width: int = MAX_NAME_CHARS) -> str:
    r"""A name from the data as a figure draws it: longer than ``width``
    characters, shortened in the middle; its ``$`` escaped, so matplotlib
    draws it as it is, not as mathtext. Every text from the data that
    reaches matplotlib goes through here or through :func:`drawn_names`,
    which keeps the names of one figure apart.

    Examples
    --------
    >>> from deepchem_actinn.report._canvas import drawn
    >>> print(drawn(r"Th17 $\gamma$ cell"))
    Th17 \$\gamma\$ cell
    >>> drawn("a" * 30 + "b" * 30, 10)
    'aaaaa…bbbb'
    """
    return _escaped(_shortened(str(name), width))


def _common_prefix(a: str, b: str) -> int:
    """The number of leading characters ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _told_apart(names: List[str], width: int) -> List[str]:
    """Names that :func:`_shortened` makes one text, each shortened with
    the stretch where they part kept between two ellipses: the same head
    and tail as :func:`_shortened`, and from a few characters before the
    first place where any two differ to the last such place."""
    head = (width - 1) - (width - 1) // 2
    tail = width - 1 - head
    parts = [
        _common_prefix(a, b) for i, a in enumerate(names) for b in names[i + 1:]
    ]
    start, stop = max(head, min(parts) - 3), max(parts) + 4
    texts = []
    for name in names:
        end = len(name) - tail
        if stop >= end:  # the stretch reaches the tail: no second ellipsis
            texts.append(name[:head] + "\u2026" + name[start:])
        else:
            texts.append(name[:head] + "\u2026" + name[start:stop] + "\u2026" +
                         name[end:])
    return texts


def drawn_names(names: Iterable[object],
                width: int = MAX_NAME_CHARS) -> List[str]:
    """Names from the data as one figure draws them (:func:`drawn`), told
    apart: where names longer than ``width`` characters would be shortened
    to one text, each keeps the stretch of the middle where they differ
    too; should they still read alike, they are drawn in full.

    Parameters
    ----------
    names: iterable
        The names of one figure (a confusion matrix's rows and columns
        together, a legend's entries), each different.
    width: int, default MAX_NAME_CHARS
        Longest name drawn as it is.

    Returns
    -------
    list of str
        The text to draw for each name, in order, every one different.

    Examples
    --------
    >>> from deepchem_actinn.report._canvas import drawn, drawn_names
    >>> a = "mature alpha-beta T cell, CD4-positive, of the lung"
    >>> b = "mature alpha-beta T cell, CD8-positive, of the lung"
    >>> drawn(a) == drawn(b)
    True
    >>> for text in drawn_names([a, b, "B cell"]):
    ...     print(text)
    mature alpha-beta T … CD4-positive, of the lung
    mature alpha-beta T … CD8-positive, of the lung
    B cell
    >>> for text in drawn_names(["a" * 30 + "X" + "b" * 30,
    ...                          "a" * 30 + "Y" + "b" * 30], 10):
    ...     print(text)
    aaaaa…aaaXbbb…bbbb
    aaaaa…aaaYbbb…bbbb
    """
    given = [str(n) for n in names]
    texts = {n: _shortened(n, width) for n in given}
    alike: Dict[str, List[str]] = {}
    for name, text in texts.items():
        alike.setdefault(text, []).append(name)
    for group in alike.values():
        if len(group) > 1:
            texts.update(zip(group, _told_apart(group, width)))
    counted = Counter(texts.values())
    return [_escaped(texts[n] if counted[texts[n]] == 1 else n) for n in given]


#: After the name of a parent type (a type hierarchy's) in the figures.
PARENT_MARK = " [parent]"


def marked_names(names: Iterable[object],
                 parents: Optional[Iterable[str]] = None,
                 width: int = MAX_NAME_CHARS) -> List[str]:
    """:func:`drawn_names`, each of ``parents`` followed by
    :data:`PARENT_MARK`.

    Examples
    --------
    >>> from deepchem_actinn.report._canvas import marked_names
    >>> marked_names(["T cell", "lymphocyte"], {"lymphocyte"})
    ['T cell', 'lymphocyte [parent]']
    """
    given = [str(n) for n in names]
    parent = set(parents or ())
    return [
        text + PARENT_MARK if name in parent else text
        for name, text in zip(given, drawn_names(given, width))
    ]


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
