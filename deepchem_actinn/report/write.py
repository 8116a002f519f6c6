"""Write a report: the PNG figures and one self-contained ``report.html``,
published together (see :func:`write_report`)."""
import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from matplotlib.figure import Figure

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.report import figures
from deepchem_actinn.report._canvas import png_bytes
from deepchem_actinn.report._checks import (as_confidence, as_labels,
                                            check_same_length, check_threshold)
from deepchem_actinn.io.output import atomic_files
from deepchem_actinn.report.metrics import (confusion_table, per_type_metrics,
                                            summary_metrics)
from deepchem_actinn.report.page import CAPTIONS, Voting, report_page
from deepchem_actinn.report.umap import Query, check_query, umap_figure
from deepchem_actinn.types import Floats, PathLike, Strings

logger = logging.getLogger(__name__)

#: A training history: one network's per-epoch lists, or each network's.
History = Union[Mapping[str, Any], Sequence[Mapping[str, Any]]]

#: Under a figure that marks parent types.
PARENT_NOTE = ("A name marked [parent] is a parent type of the type "
               "hierarchy, given where the fine type was uncertain.")

#: The report's numbers as tables, for pipelines (tab-separated).
SUMMARY_FILE = "summary.txt"
METRICS_FILE = "per_type_metrics.txt"

#: The files a report directory may hold: the figures in the order they
#: are shown, the tables, then the page.
REPORT_FILES = tuple(CAPTIONS) + (SUMMARY_FILE, METRICS_FILE, "report.html")


def _write_tables(folder: Path, predicted: np.ndarray,
                  truth: Optional[np.ndarray],
                  type_names: Optional[Strings]) -> None:
    """``summary.txt`` and (with ``truth``) ``per_type_metrics.txt``."""
    summary = summary_metrics(truth, predicted, type_names)
    with open(folder / SUMMARY_FILE, "w", encoding="utf-8") as handle:
        handle.write("metric\tvalue\n")
        for name, value in summary.items():
            if value is not None:
                handle.write("%s\t%s\n" %
                             (name, "%.6g" %
                              value if isinstance(value, float) else value))
    if truth is not None:
        per_type_metrics(truth, predicted,
                         type_names).to_csv(folder / METRICS_FILE,
                                            sep="\t",
                                            float_format="%.6g",
                                            na_rep="")


def _make_figures(
    predicted: np.ndarray,
    confidence: np.ndarray,
    truth: Optional[np.ndarray],
    type_names: Optional[Strings],
    history: Optional[History],
    threshold: Optional[float],
    query: Optional[Any],
    parents: Optional[Strings] = None,
    no_history_reason: Optional[str] = None,
) -> Tuple[Dict[str, Figure], Dict[str, str]]:
    """Every figure that applies, and the notes for the page (``parents``:
    the names given as parent types, marked in the figures;
    ``no_history_reason``: see :func:`write_report`)."""
    drawn: Dict[str, Figure] = {}
    if truth is not None:
        table = confusion_table(truth, predicted, type_names)
        drawn["confusion_matrix.png"] = figures.plot_confusion_matrix(
            table, parents=parents)
        drawn["per_type_metrics.png"] = figures.plot_per_type_metrics(
            per_type_metrics(truth, predicted, type_names))
    else:
        logger.info("report: no true labels, skipping confusion matrix and "
                    "per-type metrics")
    if history is not None:
        drawn["training_curves.png"] = figures.plot_training_curves(history)
    elif no_history_reason:
        logger.info("report: %s, so there are no training curves",
                    no_history_reason)
    else:
        logger.info("report: no training history, skipping training curves")
    drawn["confidence.png"] = figures.plot_confidence(predicted,
                                                      confidence,
                                                      threshold,
                                                      parents=parents)
    umap, note = umap_figure(query, predicted, confidence, parents=parents)
    notes: Dict[str, str] = {}
    if umap is None:
        logger.info("report: skipping UMAP: %s", note)
        notes["umap.png"] = "UMAP not drawn: %s." % note
    else:
        drawn["umap.png"] = umap
        if note:
            notes["umap.png"] = note
    if parents:
        for name in ("confusion_matrix.png", "confidence.png", "umap.png"):
            if name in drawn:
                notes[name] = " ".join(
                    filter(None, [notes.get(name), PARENT_NOTE]))
    return drawn, notes


def write_report(out_dir: PathLike,
                 predicted_labels: Strings,
                 confidence: Floats,
                 *,
                 true_labels: Optional[Strings] = None,
                 type_names: Optional[Strings] = None,
                 history: Optional[History] = None,
                 threshold: Optional[float] = None,
                 query: Optional[Query] = None,
                 title: str = "ACTINN cell-type annotation",
                 overwrite: bool = False,
                 extra_info: Optional[Mapping[str, Any]] = None,
                 levels: Optional[Strings] = None,
                 voting: Optional[Voting] = None,
                 no_history_reason: Optional[str] = None) -> Path:
    """Write the PNG figures and one self-contained ``report.html``.

    The figures are ``confusion_matrix.png`` and ``per_type_metrics.png``
    (when ``true_labels`` is given), ``training_curves.png`` (when
    ``history`` is given: each network's), ``confidence.png``, and ``umap.png`` (when
    ``query`` is given and scanpy is installed; when it is not drawn, the
    page says why in one line). ``report.html`` embeds the same PNGs as
    data URIs, with the summary numbers, per-type metrics, predicted type
    counts and ``extra_info``, so it can be mailed or archived on its own.
    Skipped figures are logged at INFO. The numbers are also written as
    tab-separated tables for pipelines: ``summary.txt`` (``metric<TAB>value``:
    ``n_cells`` and ``share_unassigned``, and with ``true_labels``
    ``accuracy``, ``assigned_accuracy`` and ``macro_f1``; see
    :func:`~deepchem_actinn.report.summary_metrics`) and, with
    ``true_labels``, ``per_type_metrics.txt`` (``type``, ``precision``,
    ``recall``, ``f1``, ``support``; precision empty for a type never
    predicted).

    The report's files appear together or not at all: a new ``out_dir`` is
    built under a temporary name and renamed into place; into an existing
    one (such as the directory holding ``predicted_label.txt``) the files
    are moved in at the end, ``report.html`` last, and the other files
    there are left alone.

    Parameters
    ----------
    out_dir: str or os.PathLike
        Directory to write; created (with parents) if needed.
    predicted_labels: sequence of str
        Predicted cell type per cell (e.g. ``"Unassigned"`` below threshold).
    confidence: sequence of float
        Per-cell confidence, finite, in [0, 1].
    true_labels: sequence of str, optional
        Known cell types, for accuracy and the confusion matrix.
    type_names: sequence of str, optional
        Reference types, in display order.
    history: dict or list of dict, optional
        Training history, one network's or each network's (an annotator's
        ``histories_``), see
        :func:`~deepchem_actinn.report.plot_training_curves`.
    threshold: float, optional
        Confidence threshold used for ``Unassigned``.
    query: anndata.AnnData, np.ndarray or scipy.sparse matrix, optional
        The annotated cells' counts, cells x genes in the order of
        ``predicted_labels``, for the UMAP. An AnnData's ``obsm["X_umap"]``
        is used when present; otherwise the UMAP is computed on a
        log-normalised copy, on at most 50,000 cells chosen at random
        (``deepchem_actinn.report.umap.MAX_UMAP_CELLS``).
    title: str, default "ACTINN cell-type annotation"
        Page heading.
    overwrite: bool, default False
        Replace an existing report in ``out_dir``.
    extra_info: dict, optional
        Shown as a key/value table (e.g. model version, genes matched).
    levels: sequence of str, optional
        ``"type"``, ``"parent"`` or ``"unassigned"`` per cell, as a type
        hierarchy gives them
        (:meth:`~deepchem_actinn.hierarchy.TypeHierarchy.resolve`); the page
        then lists the cells labelled with a parent type, and the figures
        mark their names ``[parent]``.
    voting: tuple, optional
        A majority vote over the cells, a
        ``deepchem_actinn.report.page.Voting`` (each cell's own and voted
        label, in the order of ``predicted_labels``): the page says what it
        changed and shows its clusters.
    no_history_reason: str, optional
        Why ``history`` is not given, in the caller's terms (``actinn
        report`` gives "no model was given with -m"): logged as "<reason>,
        so there are no training curves" in place of the generic line.

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.

    Raises
    ------
    deepchem_actinn.errors.ACTINNInputError
        Invalid inputs, ``out_dir`` is a file, or it already holds a
        report's files and ``overwrite`` is False.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from deepchem_actinn.report import write_report
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report"
    >>> path = write_report(out, ["B", "T", "T"], [0.9, 0.8, 0.6],
    ...                     true_labels=["B", "T", "B"])
    >>> path.name
    'report.html'
    >>> sorted(p.name for p in out.glob("*.png"))
    ['confidence.png', 'confusion_matrix.png', 'per_type_metrics.png']
    """
    predicted = as_labels(predicted_labels, "predicted_labels")
    conf = as_confidence(confidence)
    truth = None if true_labels is None else as_labels(true_labels,
                                                       "true_labels")
    check_same_length(predicted_labels=predicted,
                      confidence=conf,
                      true_labels=truth)
    if not len(predicted):
        raise ACTINNInputError("predicted_labels: no cells")
    threshold = check_threshold(threshold)
    if extra_info is not None and not isinstance(extra_info, Mapping):
        raise ACTINNInputError("extra_info: expected a dict, got %s" %
                               type(extra_info).__name__)
    cells = check_query(query, len(predicted))
    level = None if levels is None else as_labels(levels, "levels")
    check_same_length(predicted_labels=predicted, levels=level)
    if voting is not None:
        voting = voting._replace(own=as_labels(voting.own, "voting.own"),
                                 voted=as_labels(voting.voted, "voting.voted"))
        check_same_length(predicted_labels=predicted,
                          own=voting.own,
                          voted=voting.voted)
    out = Path(out_dir)
    with atomic_files(out, REPORT_FILES, overwrite=overwrite,
                      parents=True) as tmp:
        parents = None if level is None else sorted(
            set(predicted[level == "parent"]))
        drawn, notes = _make_figures(predicted, conf, truth, type_names,
                                     history, threshold, cells, parents,
                                     no_history_reason)
        pngs = {name: png_bytes(fig) for name, fig in drawn.items()}
        for name, data in pngs.items():
            (tmp / name).write_bytes(data)
        _write_tables(tmp, predicted, truth, type_names)
        tables = (SUMMARY_FILE,) + (() if truth is None else (METRICS_FILE,))
        page = report_page(title, predicted, conf, truth, type_names, threshold,
                           extra_info, pngs, notes, level, tables, voting)
        (tmp / "report.html").write_text(page, encoding="utf-8")
    logger.info("report: wrote %s", out / "report.html")
    return out / "report.html"
