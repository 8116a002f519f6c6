"""The report's self-contained HTML page: summary numbers, tables, and the
figures embedded as PNG data URIs, so the page can be mailed or archived on
its own. Every string from the user is HTML-escaped."""
import base64
import datetime
import html
import math
from typing import (Any, Callable, Dict, Iterable, List, Mapping, NamedTuple,
                    Optional, Sequence, Tuple)

import numpy as np
import pandas as pd

from deepchem_actinn._version import __version__
from deepchem_actinn.confidence import UNASSIGNED
from deepchem_actinn.report.metrics import (per_type_metrics, summary_metrics,
                                            type_counts)
from deepchem_actinn.types import Strings

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1100px; padding: 1.5em 2em; color: #222;
       line-height: 1.45; }
h1 { margin-bottom: 0.1em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
.meta { color: #666; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em;
        min-width: 8em; background: #fafafa; }
.card .value { font-size: 1.5em; font-weight: 600; }
.card .label { color: #666; font-size: 0.85em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 0.3em 0.8em;
         text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
thead th { border-bottom: 2px solid #bbb; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
p.note, p.explain { color: #555; font-style: italic; }
"""

#: Under the type counts when some cells are Unassigned and the threshold
#: that marked them is known.
THRESHOLD_NOTE = (
    "Cells whose confidence is below the threshold ({threshold:.2f}) are "
    "Unassigned; an Unassigned cell's confidence is the probability of the "
    "type it would have been given.")

#: Under the type counts when some cells are Unassigned by a rule the report
#: is not told: why their confidence can be high.
UNASSIGNED_NOTE = (
    "An Unassigned cell's confidence is the probability of the type it "
    "would have been given. predict's unassigned_reason column says which "
    "test marked it: novel, the novelty rule (predict --unassigned), which "
    "judges a cell unlike every reference type apart from its "
    "probabilities, so it may be Unassigned at a high confidence; or "
    "low_probability, a label held under the rule's least probability, or "
    "under a threshold (predict --threshold).")

#: A table's text for a number that is undefined (NaN).
UNDEFINED = "\u2014"

#: Under the per-type metrics: what is undefined, what macro F1 averages.
METRICS_NOTE = (
    "Precision is undefined (\u2014) for a type no cell was predicted as. "
    "Macro F1 is the mean F1 over the {n:,} true types of these cells (a "
    "reference type none of them has is left out; a type never predicted "
    "counts 0).")

#: Title and caption of each figure, in the order the page shows them.
CAPTIONS: Dict[str, Tuple[str, str]] = {
    "confusion_matrix.png":
        ("Confusion matrix",
         "Each row is a true cell type; each cell gives the share of that "
         "type's cells given each predicted type. The diagonal holds the "
         "correct calls."),
    "per_type_metrics.png":
        ("Per-type precision, recall and F1",
         "Precision: of the cells called this type, the share that are. "
         "Recall: of the cells of this type, the share found."),
    "training_curves.png":
        ("Training curves",
         "Loss per epoch on the training and validation cells and, where "
         "recorded, accuracy on the validation cells, for each network "
         "the model averages; a dotted line marks the epoch whose weights a "
         "network kept."),
    "confidence.png":
        ("Confidence per predicted type",
         "Confidence of each call (box: quartiles; points: cells)."),
    "umap.png":
        ("UMAP",
         "Cells placed by expression similarity, coloured by predicted type "
         "and by confidence."),
}


class Voting(NamedTuple):
    """A majority vote, for the page: each cell's ``own`` label and its
    ``voted`` one (``predict``'s ``celltype`` and ``majority_voting``
    columns), its cluster (``over_clustering``), and ``clusters.txt`` read
    as a DataFrame (one row per cluster; None where it is not at hand).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.report.page import Voting
    >>> Voting(np.array(["B", "T"]), np.array(["B", "B"])).clusters is None
    True
    """
    own: np.ndarray
    voted: np.ndarray
    clusters: Optional[np.ndarray] = None
    table: Optional[pd.DataFrame] = None


#: Under the table of ``clusters.txt``: what its columns mean.
CLUSTERS_NOTE = (
    "majority share: the share of the cluster's cells whose own label is "
    "the majority label; unassigned share: the share Unassigned; possible "
    "new population: most of its cells Unassigned; voted: its cells were "
    "offered the majority label; kept own: cells that kept their own label, "
    "giving the majority label less than the vote's least probability "
    "(predict --vote-min-probability).")


def _esc(value: object) -> str:
    """HTML-escape anything, as text."""
    return html.escape(str(value), quote=True)


def _format_column(values: pd.Series) -> list:
    """Readable table text for one column: ints plain, floats 3 decimals,
    NaN (undefined) a dash."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return ["{:,}".format(int(v)) for v in values]
    if pd.api.types.is_float_dtype(values.dtype):
        return [
            "%.3f" %
            v if math.isfinite(v) else UNDEFINED if math.isnan(v) else str(v)
            for v in values
        ]
    return [str(v) for v in values]


def _html_table(
        frame: pd.DataFrame,
        index_label: str,
        formats: Optional[Mapping[str, Callable[[float], str]]] = None) -> str:
    """An escaped HTML table of a DataFrame, numbers right-aligned.

    ``formats`` maps a column name to a function of one value, overriding
    the default formatting of that column.
    """
    formats = formats or {}
    columns = list(frame.columns)
    texts = [[formats[c](v)
              for v in frame[c]] if c in formats else _format_column(frame[c])
             for c in columns]
    head = "<th>%s</th>" % _esc(index_label) + "".join(
        '<th class="num">%s</th>' % _esc(str(c).replace("_", " "))
        for c in columns)
    rows = []
    for i, name in enumerate(frame.index):
        cells = "".join(
            '<td class="num">%s</td>' % _esc(col[i]) for col in texts)
        rows.append("<tr><td>%s</td>%s</tr>" % (_esc(name), cells))
    return ("<table>\n<thead><tr>%s</tr></thead>\n<tbody>\n%s\n</tbody>\n"
            "</table>" % (head, "\n".join(rows)))


def _number(value: object) -> object:
    """An integer with thousands separators, as the page writes them all
    (``4,000 cells``); anything else as it is."""
    if isinstance(value,
                  (int, np.integer)) and not isinstance(value,
                                                        (bool, np.bool_)):
        return "{:,}".format(int(value))
    return value


def _key_value_table(items: Iterable[Tuple[object, object]]) -> str:
    """An escaped two-column HTML table of (key, value) pairs, integers
    with thousands separators."""
    rows = "\n".join("<tr><th>%s</th><td>%s</td></tr>" %
                     (_esc(k), _esc(_number(v))) for k, v in items)
    return "<table>\n<tbody>\n%s\n</tbody>\n</table>" % rows


def _summary_cards(summary: Mapping[str, Any], n_types: int,
                   n_reference: Optional[int],
                   threshold: Optional[float]) -> str:
    """The headline numbers as HTML boxes."""
    cards = [("Cells", "{:,}".format(summary["n_cells"])),
             ("Predicted types", str(n_types))]
    if n_reference is not None:
        cards.append(("Reference types", str(n_reference)))
    if summary["accuracy"] is not None:
        if summary["share_unassigned"] > 0:  # say how Unassigned counts
            cards.append(("Accuracy (Unassigned counted wrong)",
                          "%.1f%%" % (100 * summary["accuracy"])))
            if summary["assigned_accuracy"] is not None:
                cards.append(("Accuracy of the cells not Unassigned",
                              "%.1f%%" % (100 * summary["assigned_accuracy"])))
        else:
            cards.append(("Accuracy", "%.1f%%" % (100 * summary["accuracy"])))
        cards.append(("Macro F1", "%.3f" % summary["macro_f1"]))
    # a share of none only where a rule could have marked some: not for
    # predictions made without one (or with one the report is not told)
    if summary["share_unassigned"] > 0 or threshold is not None:
        cards.append(
            ("Unassigned", "%.1f%%" % (100 * summary["share_unassigned"])))
    if threshold is not None:
        cards.append(("Confidence threshold", "%.2f" % threshold))
    body = "\n".join('<div class="card"><div class="value">%s</div>'
                     '<div class="label">%s</div></div>' % (_esc(v), _esc(k))
                     for k, v in cards)
    return '<div class="cards">\n%s\n</div>' % body


#: A figure wider than this many pixels is shown reduced on the page.
PAGE_WIDTH_PX = 1036


def _png_width(png_bytes: bytes) -> int:
    """The width in pixels a PNG's header gives (0 if it has none)."""
    if png_bytes[12:16] != b"IHDR":
        return 0
    return int.from_bytes(png_bytes[16:20], "big")


def _figure_html(name: str, png_bytes: bytes, note: str = "") -> str:
    """An HTML figure embedding PNG bytes as a base64 data URI, linked to
    the PNG file written beside the page (a figure wider than the page is
    shown reduced: the caption says where the full size is)."""
    title, caption = CAPTIONS[name]
    if note:
        caption = "%s %s" % (caption, note)
    if _png_width(png_bytes) > PAGE_WIDTH_PX:
        caption += (" Shown reduced: click it for %s at full size (the file "
                    "beside this page)." % name)
    data = base64.b64encode(png_bytes).decode("ascii")
    return ('<figure id="%s">\n<h3>%s</h3>\n<a href="%s"><img alt="%s" '
            'src="data:image/png;base64,%s"></a>\n<figcaption>%s'
            '</figcaption>\n</figure>' %
            (_esc(name.rsplit(".", 1)[0]), _esc(title), _esc(name), _esc(title),
             data, _esc(caption)))


def _render_html(title: str, sections: Sequence[str], generated: str) -> str:
    """The whole page."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
        "<meta charset=\"utf-8\">\n<title>%s</title>\n<style>%s</style>\n"
        "</head>\n<body>\n<h1>%s</h1>\n<p class=\"meta\">%s</p>\n%s\n"
        "</body>\n</html>\n" %
        (_esc(title), _CSS, _esc(title), _esc(generated), "\n".join(sections)))


def report_page(title: str,
                predicted: np.ndarray,
                confidence: np.ndarray,
                truth: Optional[np.ndarray],
                type_names: Optional[Strings],
                threshold: Optional[float],
                extra_info: Optional[Mapping[str, object]],
                pngs: Mapping[str, bytes],
                notes: Optional[Mapping[str, str]] = None,
                levels: Optional[np.ndarray] = None,
                tables: Sequence[str] = (),
                voting: Optional[Voting] = None) -> str:
    """The HTML text of the report.

    Parameters
    ----------
    title: str
        Page heading.
    predicted: numpy.ndarray
        Predicted type per cell.
    confidence: numpy.ndarray
        Confidence per cell.
    truth: numpy.ndarray, optional
        Known type per cell; adds accuracy, macro F1 and per-type metrics.
    type_names: sequence of str, optional
        Reference types, in display order.
    threshold: float, optional
        Confidence threshold used for ``Unassigned``.
    extra_info: dict, optional
        Shown as a key/value table.
    pngs: dict
        PNG bytes by file name (keys of :data:`CAPTIONS`), embedded in the
        order of :data:`CAPTIONS`.
    notes: dict, optional
        One line per file name: added to the caption of a figure drawn, or
        shown in its place (saying why) for a figure not drawn.
    levels: numpy.ndarray, optional
        ``"type"``, ``"parent"`` or ``"unassigned"`` per cell (a type
        hierarchy's output); adds a table of the cells labelled with a
        parent type.
    tables: sequence of str, default ()
        Names of the tab-separated tables written beside the page; linked
        under the summary.
    voting: Voting, optional
        A majority vote over the cells: the page says how many cells it
        relabelled (with ``truth``, the accuracy of both labels), which
        labels it reports, and shows the vote's table of clusters.

    Returns
    -------
    str
        The whole page.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.report.page import report_page
    >>> page = report_page("Run", np.array(["B", "T"]), np.array([0.9, 0.8]),
    ...                    None, None, None, None, {},
    ...                    {"umap.png": "UMAP not drawn: no query."})
    >>> '<p class="note">UMAP not drawn: no query.</p>' in page
    True
    """
    notes = notes or {}
    summary = summary_metrics(truth, predicted, type_names)
    counts = type_counts(predicted, confidence)
    n_types = int(sum(1 for t in counts.index if t != UNASSIGNED))
    n_reference = None if type_names is None else len(dict.fromkeys(type_names))
    generated = "Generated %s UTC by deepchem_actinn %s" % (
        datetime.datetime.now(
            datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"), __version__)
    sections = [
        "<h2>Summary</h2>",
        _summary_cards(summary, n_types, n_reference, threshold)
    ]
    if tables:
        sections.append(
            '<p class="note">The numbers as tab-separated tables, beside this '
            'page: %s.</p>' % ", ".join('<a href="%s">%s</a>' %
                                        (_esc(name), _esc(name))
                                        for name in tables))
    if extra_info:
        sections += [
            "<h2>Run information</h2>",
            _key_value_table(extra_info.items())
        ]
    if truth is not None:
        metrics = per_type_metrics(truth, predicted, type_names)
        sections += [
            "<h2>Per-type metrics</h2>",
            _html_table(metrics, "true type"),
            '<p class="explain">%s</p>' %
            _esc(METRICS_NOTE.format(n=len(metrics)))
        ]
    counts = counts.rename(columns={"share": "share of cells"})
    table = _html_table(counts, "predicted type",
                        {"share of cells": lambda v: "%.1f%%" % (100 * v)})
    sections += ["<h2>Predicted type counts</h2>", table]
    if UNASSIGNED in counts.index:
        note = (UNASSIGNED_NOTE if threshold is None else THRESHOLD_NOTE.format(
            threshold=threshold))
        sections.append('<p class="explain">%s</p>' % _esc(note))
    if levels is not None:
        sections += _level_section(predicted, levels, truth is not None)
    if voting is not None:
        sections += _voting_section(predicted, voting, truth, type_names)
    sections.append("<h2>Figures</h2>")
    for name in CAPTIONS:
        if name in pngs:
            sections.append(_figure_html(name, pngs[name], notes.get(name, "")))
        elif name in notes:
            sections.append('<p class="note">%s</p>' % _esc(notes[name]))
    return _render_html(title, sections, generated)


def _level_section(predicted: np.ndarray, levels: np.ndarray,
                   scored: bool) -> List[str]:
    """How many cells a type hierarchy labelled with a parent type, and
    which parents; the rule that gives them, and (``scored``: with true
    labels) how they are scored."""
    from deepchem_actinn.hierarchy import HIERARCHY_MARGIN
    parent = np.asarray(levels) == "parent"
    names, counts = np.unique(np.asarray(predicted)[parent], return_counts=True)
    frame = pd.DataFrame({"cells": counts}, index=pd.Index(names))
    frame = frame.sort_values("cells", ascending=False)
    line = ("{:,} of {:,} cells ({:.1f}%) are labelled with a parent "
            "type.".format(int(parent.sum()), len(parent),
                           100.0 * parent.mean()))
    rule = ("A cell is given a parent type where its two most probable types "
            "are within %g of each other and have a common ancestor in the "
            "hierarchy: the nearest one above both (for two siblings their "
            "parent; for types further apart a grandparent or higher), with "
            "the summed probability of the reference types under it as its "
            "confidence." % HIERARCHY_MARGIN)
    if scored:
        rule += (" In accuracy, F1 and the confusion matrix a parent type is "
                 "scored as a label of its own: a cell given one counts as "
                 "wrong against its true type, even where the parent holds "
                 "it.")
    return [
        "<h2>Labels by level</h2>",
        '<p class="note">%s</p>' % _esc(line),
        '<p class="explain">%s</p>' % _esc(rule),
        _html_table(frame, "parent type")
    ]


def _voting_section(predicted: np.ndarray, voting: Voting,
                    truth: Optional[np.ndarray],
                    type_names: Optional[Strings]) -> List[str]:
    """What a majority vote changed: how many cells it relabelled, which
    labels the page reports, each label's cells before and after, (with
    ``truth``) both accuracies, and the vote's table of clusters."""
    own, voted = np.asarray(voting.own), np.asarray(voting.voted)
    moved = int((own != voted).sum())
    if voting.table is not None:
        n_clusters: Optional[int] = len(voting.table)
    elif voting.clusters is not None:
        n_clusters = len(set(np.asarray(voting.clusters).astype(str)))
    else:
        n_clusters = None
    over = "" if n_clusters is None else " over {:,} clusters".format(
        n_clusters)
    lines = [
        "The vote{} gave {:,} of {:,} cells ({:.1f}%) a label other than "
        "their own.".format(over, moved, len(own), 100.0 * moved / len(own))
    ]
    if moved and np.array_equal(predicted, voted):
        lines.append("This page reports the voted labels (--use-as-prediction"
                     " majority_voting, the majority_voting column); each "
                     "cell's own is in the celltype column.")
    else:
        lines.append("This page reports each cell's own label (the celltype "
                     "column); actinn report --use-as-prediction "
                     "majority_voting reports the voted ones (the "
                     "majority_voting column).")
    if truth is not None:
        lines.append(
            "Accuracy of the voted labels: {:.1f}% (of each cell's "
            "own: {:.1f}%).".format(
                100 * summary_metrics(truth, voted, type_names)["accuracy"],
                100 * summary_metrics(truth, own, type_names)["accuracy"]))
    before = pd.Series(own).value_counts()
    after = pd.Series(voted).value_counts()
    names = sorted(set(before.index) | set(after.index),
                   key=lambda t: (t == UNASSIGNED, -after.get(t, 0), t))
    frame = pd.DataFrame(
        {
            "own label": [int(before.get(t, 0)) for t in names],
            "voted label": [int(after.get(t, 0)) for t in names]
        },
        index=pd.Index(names))
    section = [
        "<h2>Majority voting</h2>",
        '<p class="note">%s</p>' % _esc(" ".join(lines)),
        _html_table(frame, "label (cells)")
    ]
    if voting.table is not None:
        table = voting.table.set_index(voting.table.columns[0])
        yes_no = {
            c: (lambda v: "yes" if v else "no")
            for c in table.columns
            if pd.api.types.is_bool_dtype(table[c].dtype)
        }
        section += [
            "<h3>Clusters (clusters.txt)</h3>",
            _html_table(table, "cluster", yes_no),
            '<p class="explain">%s</p>' % _esc(CLUSTERS_NOTE)
        ]
    return section
