"""Tables of what the annotation got right: confusion, per-type scores,
headline numbers and cell counts per predicted type.

Every function takes plain sequences of cell-type *names* (and per-cell
confidences), so none depends on the model.
"""
from typing import Any, Dict, Optional

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from deepchem_actinn.confidence import UNASSIGNED
from deepchem_actinn.report._checks import (as_confidence, as_labels,
                                            check_same_length, ordered, pair,
                                            sorted_names)
from deepchem_actinn.types import Floats, Strings


def confusion_table(true_labels: Strings,
                    predicted_labels: Strings,
                    type_names: Optional[Strings] = None) -> pd.DataFrame:
    """Count cells per (true type, predicted type).

    Parameters
    ----------
    true_labels: sequence of str
        The known cell type of each cell.
    predicted_labels: sequence of str
        The predicted cell type of each cell, same length.
    type_names: sequence of str, optional
        Reference types, in display order. Every one gets a row and a column
        even if no cell has it; other names are appended, sorted case aside,
        ``"Unassigned"`` last.

    Returns
    -------
    pandas.DataFrame
        Integer counts. Rows are true types (``type_names``, then other true
        names); columns are the same names in the same order, so the diagonal
        holds the correct calls, followed by any name that was only predicted
        (such as a parent type), sorted case aside, then ``"Unassigned"``.

    Examples
    --------
    >>> from deepchem_actinn.report import confusion_table
    >>> t = confusion_table(["B", "B", "T", "T", "NK"],
    ...                     ["B", "T", "T", "Unassigned", "T"],
    ...                     type_names=["B", "T", "NK", "Mono"])
    >>> print(t)
    predicted type  B  T  NK  Mono  Unassigned
    true type
    B               1  1   0     0           0
    T               0  1   0     0           1
    NK              0  1   0     0           0
    Mono            0  0   0     0           0
    """
    truth, pred = pair(true_labels, predicted_labels)
    rows = ordered(type_names, truth)
    columns = sorted_names(set(pred) - set(rows))
    if UNASSIGNED in rows:  # last in both, past the names only predicted
        columns = columns + [UNASSIGNED]
    columns = [r for r in rows if r != UNASSIGNED] + columns
    table = pd.crosstab(pd.Series(truth, name="true type"),
                        pd.Series(pred, name="predicted type"))
    table = table.reindex(index=rows, columns=columns, fill_value=0)
    table.index.name = "true type"
    table.columns.name = "predicted type"
    return table.astype(np.int64)


def normalise_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Divide each row of a confusion table by its total.

    Rows with no cells stay all zero (rather than NaN).

    Parameters
    ----------
    table: pandas.DataFrame
        Counts, as from :func:`confusion_table`.

    Returns
    -------
    pandas.DataFrame
        Fractions of each true type's cells, rows summing to 1 (or 0).

    Examples
    --------
    >>> from deepchem_actinn.report import confusion_table, normalise_rows
    >>> t = confusion_table(["B", "B", "T", "T"], ["B", "T", "T", "T"])
    >>> print(normalise_rows(t))
    predicted type    B    T
    true type
    B               0.5  0.5
    T               0.0  1.0
    """
    counts = table.to_numpy(dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts,
                          totals,
                          out=np.zeros_like(counts),
                          where=totals > 0)
    return pd.DataFrame(fractions, index=table.index, columns=table.columns)


def per_type_metrics(true_labels: Strings,
                     predicted_labels: Strings,
                     type_names: Optional[Strings] = None) -> pd.DataFrame:
    """Precision, recall, F1 and support for each true cell type.

    Computed with :func:`sklearn.metrics.precision_recall_fscore_support`;
    a type no cell was predicted as has no precision (NaN: of no cells,
    no share is right) and F1 0. Cells predicted ``"Unassigned"`` (or any
    other name) count as misses for their true type.

    Parameters
    ----------
    true_labels: sequence of str
        The known cell type of each cell.
    predicted_labels: sequence of str
        The predicted cell type of each cell, same length.
    type_names: sequence of str, optional
        Display order; types absent from ``true_labels`` are left out.

    Returns
    -------
    pandas.DataFrame
        Index: the true types present (ordered by ``type_names``, others
        appended sorted); columns ``precision`` (NaN for a type never
        predicted), ``recall``, ``f1``, ``support``.

    Examples
    --------
    >>> from deepchem_actinn.report import per_type_metrics
    >>> m = per_type_metrics(["B", "B", "T", "T", "T"],
    ...                      ["B", "T", "T", "T", "Unassigned"])
    >>> print(m.round(2))
          precision  recall    f1  support
    type
    B          1.00    0.50  0.67        2
    T          0.67    0.67  0.67        3
    >>> print(per_type_metrics(["B", "T"], ["B", "B"]))
          precision  recall        f1  support
    type
    B           0.5     1.0  0.666667        1
    T           NaN     0.0  0.000000        1
    """
    truth, pred = pair(true_labels, predicted_labels)
    present = set(truth)
    labels = [t for t in ordered(type_names, truth) if t in present]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, pred, labels=labels, zero_division=0)
    predicted = set(pred)
    precision = np.where([t in predicted for t in labels], precision, np.nan)
    return pd.DataFrame(
        {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support.astype(np.int64),
        },
        index=pd.Index(labels, name="type"))


def summary_metrics(true_labels: Optional[Strings],
                    predicted_labels: Strings,
                    type_names: Optional[Strings] = None,
                    *,
                    unassigned: str = UNASSIGNED) -> Dict[str, Any]:
    """Headline numbers: accuracy, macro F1, cell count, share unassigned.

    Parameters
    ----------
    true_labels: sequence of str or None
        Known cell types; when ``None`` only ``n_cells`` and
        ``share_unassigned`` are computed (the others are ``None``).
    predicted_labels: sequence of str
        Predicted cell types.
    type_names: sequence of str, optional
        Passed to :func:`per_type_metrics` (order only).
    unassigned: str, default "Unassigned"
        The label of cells left without a type.

    Returns
    -------
    dict
        ``accuracy`` (share of cells whose prediction equals the truth;
        unassigned cells count as wrong), ``assigned_accuracy`` (the same
        over the cells not ``unassigned``; a parent type given instead of
        a fine one counts as wrong in both; None when every cell is
        unassigned), ``macro_f1``
        (mean F1 over the true types present, those of ``true_labels``; a
        type never predicted counts 0), ``n_cells`` and
        ``share_unassigned``.

    Examples
    --------
    >>> from deepchem_actinn.report import summary_metrics
    >>> s = summary_metrics(["B", "B", "T", "T"], ["B", "T", "T", "Unassigned"])
    >>> s["accuracy"], s["assigned_accuracy"], s["share_unassigned"]
    (0.5, 0.6666666666666666, 0.25)
    >>> summary_metrics(None, ["B", "Unassigned"])["accuracy"] is None
    True
    """
    pred = as_labels(predicted_labels, "predicted_labels")
    result: Dict[str, Any] = {
        "accuracy":
            None,
        "assigned_accuracy":
            None,
        "macro_f1":
            None,
        "n_cells":
            int(len(pred)),
        "share_unassigned":
            (float(np.mean(pred == unassigned)) if len(pred) else 0.0),
    }
    if true_labels is not None:
        truth, pred = pair(true_labels, pred)
        metrics = per_type_metrics(truth, pred, type_names)
        result["accuracy"] = float(np.mean(truth == pred))
        assigned = pred != unassigned
        if assigned.any():
            result["assigned_accuracy"] = float(
                np.mean(truth[assigned] == pred[assigned]))
        result["macro_f1"] = float(metrics["f1"].mean())
    return result


def type_counts(predicted_labels: Strings,
                confidence: Optional[Floats] = None) -> pd.DataFrame:
    """Number and share of cells per predicted type, most common first.

    Parameters
    ----------
    predicted_labels: sequence of str
        Predicted cell types.
    confidence: sequence of float, optional
        Per-cell confidence in [0, 1]; adds a ``median_confidence`` column.

    Returns
    -------
    pandas.DataFrame
        Index ``type``; columns ``cells``, ``share`` (and
        ``median_confidence``).

    Examples
    --------
    >>> from deepchem_actinn.report import type_counts
    >>> print(type_counts(["T", "B", "T", "Unassigned"]))
                cells  share
    type
    T               2   0.50
    B               1   0.25
    Unassigned      1   0.25
    """
    pred = as_labels(predicted_labels, "predicted_labels")
    frame = pd.DataFrame({"type": pred})
    if confidence is not None:
        conf = as_confidence(confidence)
        check_same_length(predicted_labels=pred, confidence=conf)
        frame["confidence"] = conf
    groups = frame.groupby("type", sort=True)
    out = pd.DataFrame({"cells": groups.size().astype(np.int64)})
    out["share"] = out["cells"] / max(len(pred), 1)
    if confidence is not None:
        out["median_confidence"] = groups["confidence"].median()
    out = out.sort_values("cells", ascending=False, kind="stable")
    out.index.name = "type"
    return out
