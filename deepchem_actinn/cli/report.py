"""``actinn report``: figures and one HTML page from a prediction's files."""
import logging
import os
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from deepchem_actinn.cli.common import matrix_options
from deepchem_actinn.errors import ACTINNInputError, counted, examples
from deepchem_actinn.io.predictions import (  # noqa: F401 (report's reader)
    check_probabilities, read_predictions, read_probabilities)

logger = logging.getLogger("deepchem_actinn")


def predictions_file(path: str) -> str:
    """``-p``: the predictions file, or the directory ``predict`` wrote
    into, whose ``predicted_label.txt`` is then meant."""
    from deepchem_actinn.cli.outputs import LABEL_FILE
    if not Path(path).is_dir():
        return path
    inside = Path(path) / LABEL_FILE
    if not inside.is_file():
        raise ACTINNInputError(
            "%s is a directory without a %s; pass the predictions file "
            "(predict and run write %s in their -o directory)" %
            (path, LABEL_FILE, LABEL_FILE))
    return str(inside)


def _confidence(args, frame) -> np.ndarray:
    """The probability of each cell's label: the predictions' ``confidence``
    column (which ``predict`` and ``run`` write; with ``--hierarchy`` a
    parent type's is its types' sum), else, for a file without one (the
    original ACTINN's), the top type's from ``-pr``, or from the
    ``predicted_probabilities.txt`` that predict's ``-op`` wrote beside the
    predictions. A ``-pr`` file given with a confidence column is checked
    to go with the predictions, not read for the confidence."""
    stated = _stated_confidence(args, frame)
    if stated is not None and not args.probabilities:
        return stated
    proba, _ = _probabilities(args, frame, required=True)
    if stated is not None:  # a parent type's is its types' summed one
        return stated
    return proba.max(axis=0).to_numpy(dtype=float)


def _stated_confidence(args, frame) -> Optional[np.ndarray]:
    """The predictions' ``confidence`` column, checked (numbers, in [0,
    1]), or None."""
    import pandas as pd
    if "confidence" not in frame.columns:
        return None
    values = pd.to_numeric(frame["confidence"], errors="coerce")
    return check_probabilities(
        values.to_numpy(dtype=float)[None, :], frame[frame.columns[0]],
        "%s's confidence column" % args.predictions)[0]


def _probabilities(args, frame, required: bool):
    """The probabilities of ``-pr``, or of the ``predicted_probabilities.txt``
    beside the predictions, and the file's path: a DataFrame, types x the
    predictions' cells, checked to go with them. Without either, an error
    (``required``) or ``(None, "")``."""
    from deepchem_actinn.cli.outputs import PROBABILITY_FILE
    cells = frame[frame.columns[0]].to_numpy()
    source = args.probabilities
    if not source:
        beside = Path(args.predictions).parent / PROBABILITY_FILE
        if not beside.is_file():
            if not required:
                return None, ""
            raise ACTINNInputError(
                "%s: no confidence for the report: no confidence column "
                "and no %s beside it; pass -pr FILE (predict and run write "
                "it with -op)" % (args.predictions, PROBABILITY_FILE))
        source = str(beside)
        logger.info("confidence from %s", source)
    found = "" if args.probabilities else " (found beside %s)" % (
        args.predictions)
    proba = read_probabilities(source, source + found)
    have = set(proba.columns)
    missing = [c for c in cells if c not in have]
    if missing:
        raise ACTINNInputError(
            "%s%s lacks %d of the %d predicted cells, e.g. %s (expected: "
            "types as rows, cells as columns, as predict -op writes)" %
            (source, found, len(missing), len(cells), examples(missing)))
    proba = proba[cells].copy()
    _check_same_run(
        proba, frame[frame.columns[1]].to_numpy(), source + found,
        args.predictions,
        frame["level"].to_numpy() if "level" in frame.columns else None)
    return proba, source


def _voted_confidence(args, frame, own: np.ndarray) -> Tuple[np.ndarray, str]:
    """The confidence to show with the ``majority_voting`` labels, and what
    it is, in words for the page: with the probabilities (``-pr``, or the
    file beside the predictions), each cell's probability of its voted
    type; without them, each cell's ``own`` confidence, of its own label.

    A cell voted Unassigned, or voted the label it was given itself, keeps
    its own confidence (an Unassigned cell's is that of the type it would
    have been given); so does a cell voted a label the probabilities have
    no row for (a parent type), which the words count.
    """
    from deepchem_actinn.confidence import UNASSIGNED
    proba, source = _probabilities(args, frame, required=False)
    if proba is None:
        return own, ("each cell's own confidence, before the vote: the "
                     "probability of the label it was given itself, not of "
                     "the voted label (with the probabilities, which "
                     "predict -op writes beside the predictions, the "
                     "report shows the voted type's)")
    voted = frame["majority_voting"].to_numpy()
    mine = frame[frame.columns[1]].to_numpy()
    rows = {t: i for i, t in enumerate(proba.index)}
    values = proba.to_numpy(dtype=float)
    confidence = np.array(own, dtype=float)
    moved = [
        i for i in range(len(voted))
        if voted[i] != mine[i] and voted[i] != UNASSIGNED
    ]
    taken = [i for i in moved if voted[i] in rows]
    confidence[taken] = values[[rows[voted[i]] for i in taken], taken]
    words = ("each cell's probability of its voted type, from %s (a cell "
             "voted Unassigned or its own label keeps its own confidence)" %
             source)
    left = len(moved) - len(taken)
    if left:
        words += ("; their own confidence also for %s voted a label that "
                  "file has no row for (a parent type)" % counted(left, "cell"))
    return confidence, words


def _check_same_run(proba,
                    labels: np.ndarray,
                    source: str,
                    predictions: str,
                    levels: Optional[np.ndarray] = None) -> None:
    """Refuse probabilities (types x cells) that have no row for a type
    some cells were given, or under which a cell given a reference type did
    not hold it as its most probable type: they were written by another
    run (a file left beside re-written predictions). Cells given a parent
    type (``levels`` other than ``"type"``) are not checked: a parent that
    is itself a reference type is given for its children's summed
    probability, and another has no row.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from deepchem_actinn.cli.report import _check_same_run
    >>> proba = pd.DataFrame([[0.1, 0.7], [0.5, 0.2], [0.4, 0.1]],
    ...                      index=["T", "CD4 T", "CD8 T"],
    ...                      columns=["c1", "c2"])
    >>> _check_same_run(proba, np.array(["T", "T"]), "p.txt", "l.txt",
    ...                 np.array(["parent", "type"]))
    >>> _check_same_run(proba, np.array(["T", "T"]), "p.txt", "l.txt")
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: p.txt does not go with l.txt: in it, 1 of the cells given a type hold another as more probable (e.g. c1); were both written by the same run? Pass -pr with that run's file
    >>> _check_same_run(proba, np.array(["B", "T"]), "p.txt", "l.txt",
    ...                 np.array(["type", "parent"]))
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: p.txt does not go with l.txt: it has no row for B, which 1 cell was given; were both written by the same run? Pass -pr with that run's file
    """
    from deepchem_actinn.confidence import UNASSIGNED
    rows = {t: i for i, t in enumerate(proba.index.astype(str))}
    own = (np.ones(len(labels), dtype=bool)
           if levels is None else np.asarray(levels) == "type")
    lacking = [
        label for label, mine in zip(labels, own)
        if mine and label != UNASSIGNED and label not in rows
    ]
    if lacking:
        raise ACTINNInputError(
            "%s does not go with %s: it has no row for %s, which %s given; "
            "were both written by the same run? Pass -pr with that run's "
            "file" % (source, predictions, examples(sorted(
                set(lacking))), counted(len(lacking), "cell", "was/were")))
    cells = np.flatnonzero(
        [label in rows and mine for label, mine in zip(labels, own)])
    values = proba.to_numpy(dtype=float)
    given = values[[rows[labels[c]] for c in cells], cells]
    wrong = cells[given < values[:, cells].max(axis=0) - 1e-6]
    if len(wrong):
        raise ACTINNInputError(
            "%s does not go with %s: in it, %d of the cells given a type "
            "hold another as more probable (e.g. %s); were both written by "
            "the same run? "
            "Pass -pr with that run's file" %
            (source, predictions, len(wrong),
             examples([str(proba.columns[c]) for c in wrong])))


def read_query(path: str,
               fmt,
               cell_ids,
               upper_case_genes: bool = True,
               allow_non_integer: bool = False,
               layer: Optional[str] = None):
    """The query's counts, rows in the order of ``cell_ids`` - or, for an
    h5ad file holding ``obsm['X_umap']``, only that UMAP (with
    ``allow_non_integer``, non-integer values as they are; ``layer``, a
    ``--query-layer`` value, names the matrix: :func:`matrix_options`).

    Raises
    ------
    ACTINNInputError
        If the file lacks some of ``cell_ids``.
    """
    import anndata
    import pandas as pd

    from deepchem_actinn.io import read
    from deepchem_actinn.io.formats import path_and_format
    from deepchem_actinn.io.h5ad import h5ad_umap
    ids = [str(c) for c in cell_ids]
    p, found = path_and_format(path, fmt)
    umap = h5ad_umap(p) if found == "h5ad" else None
    if umap is not None:  # the user's own UMAP: no counts needed
        logger.info("%s: drawing the UMAP of its obsm['X_umap']", path)
        adata = anndata.AnnData(obs=pd.DataFrame(index=umap[0]),
                                obsm={"X_umap": umap[1]})
        _refuse_absent(path, adata.obs_names, ids)
        return adata[ids].copy()
    adata = read(p,
                 found,
                 upper_case_genes=upper_case_genes,
                 allow_non_integer=allow_non_integer,
                 expected_cells=ids,
                 **matrix_options(layer))
    _refuse_absent(path, adata.obs_names, ids)
    return adata[ids].copy()


def _refuse_absent(path: str, obs_names, ids: List[str]) -> None:
    """Refuse a query that lacks some of the predicted cells."""
    have = set(obs_names)
    absent = [c for c in ids if c not in have]
    if absent:
        raise ACTINNInputError(
            "%s: %d of the %d predicted cells are not in it, e.g. %s" %
            (path, len(absent), len(ids), examples(absent)))


def _warn_unmatched_types(truth: np.ndarray, predicted: np.ndarray, source: str,
                          predictions: str) -> None:
    """Warn when no true type is among the types predicted (Unassigned
    aside): every cell would count as wrong, which usually means other
    names for the same types; or, when every cell is Unassigned, say that.
    """
    from deepchem_actinn.confidence import UNASSIGNED
    assigned = set(predicted.tolist()) - {UNASSIGNED}
    if not assigned:
        logger.warning(
            "%s: every cell is Unassigned, so every cell counts as wrong "
            "against %s", predictions, source)
        return
    true_types = set(truth.tolist()) - {UNASSIGNED}
    if true_types and not true_types & assigned:
        logger.warning(
            "%s: none of its %d types is among the predicted ones (its: %s; "
            "predicted: %s), so every cell counts as wrong; are these the "
            "labels of this query, spelled as the reference spells them?",
            source, len(true_types), examples(sorted(true_types)),
            examples(sorted(assigned)))


#: The files ``report`` reads, by attribute, and their flags.
REPORT_INPUTS = (
    ("predictions", "-p"),
    ("probabilities", "-pr"),
    ("labels", "-l"),
    ("query", "--query"),
)


def cmd_report(args) -> None:
    """``actinn report``: read the predictions (and labels, model, query),
    write the report."""
    from deepchem_actinn.annotator.inspection import model_words
    from deepchem_actinn.io import labels_from, match_labels
    from deepchem_actinn.io.output import refuse_existing
    from deepchem_actinn.report import REPORT_FILES, write_report
    from deepchem_actinn.cli.outputs import (refuse_file_like_folder,
                                             refuse_inputs_among)
    refuse_file_like_folder("-o", args.output)
    for flag, given in (("--labelled-only", args.labelled_only),
                        ("--labels-column", args.labels_column)):
        if given and not args.labels:
            raise ACTINNInputError("%s is about the true labels -l gives: "
                                   "pass -l too" % flag)
    args.predictions = predictions_file(args.predictions)
    written = [Path(args.output) / n for n in reversed(REPORT_FILES)]
    refuse_inputs_among(args,
                        REPORT_INPUTS, {os.path.realpath(p) for p in written},
                        Path(args.output), "the report")
    # the page last: the user knows the report writes it
    refuse_existing(written, args.overwrite)
    frame = read_predictions(args.predictions)
    n_predicted = len(frame)  # before --labelled-only leaves cells out
    column = args.use_as_prediction
    if column not in frame.columns:
        raise ACTINNInputError(
            "%s has no %s column (its columns: %s): predict and run write it "
            "with --majority-voting" %
            (args.predictions, column, ", ".join(frame.columns)))
    cells = frame[frame.columns[0]].to_numpy()
    confidence = _confidence(args, frame)
    query = None
    if args.query:  # first: a query lacking cells is said as such
        query = read_query(args.query, args.query_format, cells,
                           not args.keep_gene_case, args.allow_non_integer,
                           args.query_layer)
    truth, left_out = None, None
    if args.labels:
        labels, named = labels_from(args.labels, args.query, args.query_format,
                                    args.labels_column)
        truth = match_labels(
            cells,
            labels,
            named,
            "drop" if args.labelled_only else "error",
            missing_hint=" (the report scores every predicted cell against "
            "its true label: label them all, pass --labelled-only to report "
            "on the labelled ones, or leave out -l)",
            cells_of="the predictions")
        keep = np.asarray([t is not None for t in truth])
        if not keep.all():
            logger.warning(
                "%s: %d of the %d predicted cells have no label and are left "
                "out of the report (--labelled-only); reporting on %d", named,
                int((~keep).sum()), len(keep), int(keep.sum()))
            frame, confidence, truth = (frame[keep], confidence[keep],
                                        truth[keep])
            left_out = "the %d of %d predicted cells that %s labels " \
                "(--labelled-only)" % (int(keep.sum()), len(keep), named)
            query = None if query is None else query[keep].copy()
        _warn_unmatched_types(truth, frame[column].to_numpy(), named,
                              args.predictions)
    history, type_names, fingerprint = None, None, None
    if args.model:
        from deepchem_actinn.annotator import ACTINNAnnotator
        from deepchem_actinn.cli.record import model_fingerprint
        annotator = ACTINNAnnotator.load(args.model, device="cpu")
        history, type_names = annotator.histories_, annotator.type_names
        fingerprint = model_fingerprint(annotator)
    from deepchem_actinn.cli.record_report import record_info
    info, threshold, recorded_types = record_info(args.predictions, n_predicted,
                                                  args.model, fingerprint)
    if type_names is None:  # no -m: the record's, for the page's card
        type_names = recorded_types
    if args.model:
        from deepchem_actinn.annotator.provenance import describe
        info.update({
            "model": "%s: %s" % (args.model, model_words(annotator)),
            **describe(annotator.training_)
        })
    if left_out:
        info["cells reported"] = left_out
    if column != frame.columns[1]:
        info["labels"] = "the %s column of %s" % (column, args.predictions)
        confidence, info["confidence"] = _voted_confidence(
            args, frame, confidence)
        threshold = None  # it marked the cells' own labels, not the vote's
    # (write_report says where it wrote the page)
    voting = None
    if "majority_voting" in frame.columns:
        from deepchem_actinn.report.page import Voting
        voting = Voting(frame[frame.columns[1]].to_numpy(),
                        frame["majority_voting"].to_numpy(),
                        (frame["over_clustering"].to_numpy()
                         if "over_clustering" in frame.columns else None),
                        _cluster_table(args.predictions))
    write_report(
        args.output,
        frame[column].to_numpy(),
        np.asarray(confidence),
        true_labels=truth,
        type_names=type_names,
        history=history,
        threshold=threshold,
        query=query,
        overwrite=args.overwrite,
        extra_info=info or None,
        levels=(frame["level"].to_numpy() if "level" in frame.columns and
                column == frame.columns[1] else None),
        voting=voting,
        no_history_reason=None if args.model else "no model was given with -m")


def _cluster_table(predictions: str):
    """The ``clusters.txt`` that ``--majority-voting`` wrote beside the
    predictions, as a DataFrame, or None where there is none (or it cannot
    be read as one: a warning says so)."""
    import pandas as pd

    from deepchem_actinn.cli.outputs import CLUSTER_FILE
    path = Path(predictions).parent / CLUSTER_FILE
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path, sep="\t", dtype={"cluster": str})
    except (ValueError, OSError, UnicodeDecodeError) as err:
        logger.warning("%s: left out of the report: %s", path, err)
        return None
    if "cluster" not in table.columns or "majority_label" not in table.columns:
        logger.warning(
            "%s: left out of the report: not a table of clusters (its "
            "columns: %s)", path, ", ".join(map(str, table.columns)))
        return None
    return table
