"""What did the annotation get wrong, and how sure is it: tables, figures, HTML.

Everything here works on plain arrays of cell-type *names* (strings) and
per-cell confidences, so it does not depend on the model. The pieces are:

* tables: :func:`confusion_table`, :func:`normalise_rows`,
  :func:`per_type_metrics`, :func:`summary_metrics`, :func:`type_counts`;
* figures, each a :class:`matplotlib.figure.Figure` drawn with the Agg
  canvas (no pyplot global state): :func:`plot_confusion_matrix`,
  :func:`plot_per_type_metrics`, :func:`plot_training_curves`,
  :func:`plot_confidence`, :func:`plot_umap` (needs scanpy);
* :func:`write_report`, which writes the PNGs and one self-contained
  ``report.html`` that embeds them, atomically.

Examples
--------
>>> from deepchem_actinn.report import summary_metrics
>>> summary_metrics(["B", "T", "T"], ["B", "T", "Unassigned"])["accuracy"]
0.666...
"""

import base64
import datetime
import html
import logging
import math
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_fscore_support

from deepchem_actinn._version import __version__
from deepchem_actinn.confidence import UNASSIGNED
from deepchem_actinn.errors import ACTINNInputError, examples

logger = logging.getLogger(__name__)

#: The files a report directory may hold, in the order they are shown.
REPORT_FILES = ("confusion_matrix.png", "per_type_metrics.png",
                "training_curves.png", "confidence.png", "umap.png",
                "report.html")

_UNASSIGNED_COLOUR = "#9e9e9e"
_MAX_STRIP_POINTS = 400

# --------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------


def _as_labels(labels, name):
    """Return ``labels`` as a 1-D array of ``str``; refuse missing values."""
    if labels is None:
        raise ACTINNInputError("%s: no labels given" % name)
    if isinstance(labels, str):
        raise ACTINNInputError("%s: expected a sequence of cell-type names, "
                               "got one string" % name)
    values = pd.Series(np.asarray(labels, dtype=object).ravel())
    missing = np.flatnonzero(values.isna().to_numpy())
    if missing.size:
        raise ACTINNInputError("%s: %d missing label(s), at positions %s" %
                               (name, missing.size, examples(missing.tolist())))
    return values.astype(str).to_numpy(dtype=object)


def _check_same_length(**arrays):
    """Refuse arrays of different lengths, naming each length."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        detail = ", ".join("%s has %d" % kv for kv in lengths.items())
        raise ACTINNInputError("lengths differ: %s" % detail)


def _as_confidence(confidence):
    """Return ``confidence`` as a float array; refuse NaN/inf or not [0, 1]."""
    try:
        values = np.asarray(confidence, dtype=float).ravel()
    except (TypeError, ValueError) as err:
        raise ACTINNInputError("confidence: not numbers (%s)" % err) from None
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ACTINNInputError(
            "confidence: %d value(s) are NaN or infinite, at positions %s" %
            (bad.size, examples(bad.tolist())))
    bad = np.flatnonzero((values < 0) | (values > 1))
    if bad.size:
        raise ACTINNInputError(
            "confidence: %d value(s) outside [0, 1], e.g. %s at positions %s" %
            (bad.size, examples(["%g" % v for v in values[bad]],
                                3), examples(bad.tolist())))
    return values


def _check_threshold(threshold):
    """Refuse a threshold that is not a finite number in [0, 1]."""
    if threshold is None:
        return None
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ACTINNInputError("threshold: not a number: %r" %
                               (threshold,)) from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise ACTINNInputError("threshold: %r is not in [0, 1]" % (threshold,))
    return value


def _ordered(type_names, *label_arrays):
    """``type_names`` first (deduplicated), then other labels, sorted."""
    order = list(dict.fromkeys(str(t) for t in (type_names or ())))
    known = set(order)
    extra = set()
    for labels in label_arrays:
        extra.update(labels)
    return order + sorted(extra - known)


def _pair(true_labels, predicted_labels):
    """Validate a truth/prediction pair; return both as string arrays."""
    truth = _as_labels(true_labels, "true_labels")
    pred = _as_labels(predicted_labels, "predicted_labels")
    _check_same_length(true_labels=truth, predicted_labels=pred)
    if not len(truth):
        raise ACTINNInputError("true_labels: no cells")
    return truth, pred


# --------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------


def confusion_table(true_labels, predicted_labels, type_names=None):
    """Count cells per (true type, predicted type).

    Parameters
    ----------
    true_labels, predicted_labels : sequence of str
        One cell-type name per cell, same length.
    type_names : sequence of str, optional
        Reference types, in display order. Every one gets a row and a column
        even if no cell has it; other names are appended, sorted.

    Returns
    -------
    pandas.DataFrame
        Integer counts. Rows are true types (``type_names``, then other true
        names); columns are the same names in the same order, so the diagonal
        holds the correct calls, followed by any name that was only predicted
        (such as ``"Unassigned"``), sorted.

    Examples
    --------
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
    truth, pred = _pair(true_labels, predicted_labels)
    rows = _ordered(type_names, truth)
    columns = rows + sorted(set(pred) - set(rows))
    table = pd.crosstab(pd.Series(truth, name="true type"),
                        pd.Series(pred, name="predicted type"))
    table = table.reindex(index=rows, columns=columns, fill_value=0)
    table.index.name = "true type"
    table.columns.name = "predicted type"
    return table.astype(np.int64)


def normalise_rows(table):
    """Divide each row of a confusion table by its total.

    Rows with no cells stay all zero (rather than NaN).

    Parameters
    ----------
    table : pandas.DataFrame
        Counts, as from :func:`confusion_table`.

    Returns
    -------
    pandas.DataFrame
        Fractions of each true type's cells, rows summing to 1 (or 0).

    Examples
    --------
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


def per_type_metrics(true_labels, predicted_labels, type_names=None):
    """Precision, recall, F1 and support for each true cell type.

    Computed with :func:`sklearn.metrics.precision_recall_fscore_support`
    (``zero_division=0``). Cells predicted ``"Unassigned"`` (or any other
    name) count as misses for their true type.

    Parameters
    ----------
    true_labels, predicted_labels : sequence of str
        One cell-type name per cell, same length.
    type_names : sequence of str, optional
        Display order; types absent from ``true_labels`` are left out.

    Returns
    -------
    pandas.DataFrame
        Index: the true types present (ordered by ``type_names``, others
        appended sorted); columns ``precision``, ``recall``, ``f1``,
        ``support``.

    Examples
    --------
    >>> m = per_type_metrics(["B", "B", "T", "T", "T"],
    ...                      ["B", "T", "T", "T", "Unassigned"])
    >>> print(m.round(2))
          precision  recall    f1  support
    type
    B          1.00    0.50  0.67        2
    T          0.67    0.67  0.67        3
    """
    truth, pred = _pair(true_labels, predicted_labels)
    present = set(truth)
    labels = [t for t in _ordered(type_names, truth) if t in present]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, pred, labels=labels, zero_division=0)
    frame = pd.DataFrame(
        {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support.astype(np.int64),
        },
        index=pd.Index(labels, name="type"))
    return frame


def summary_metrics(true_labels,
                    predicted_labels,
                    type_names=None,
                    *,
                    unassigned=UNASSIGNED):
    """Headline numbers: accuracy, macro F1, cell count, share unassigned.

    Parameters
    ----------
    true_labels : sequence of str or None
        Known cell types; when ``None`` only ``n_cells`` and
        ``share_unassigned`` are computed (the others are ``None``).
    predicted_labels : sequence of str
        Predicted cell types.
    type_names : sequence of str, optional
        Passed to :func:`per_type_metrics` (order only).
    unassigned : str, default "Unassigned"
        The label of cells left without a type.

    Returns
    -------
    dict
        ``accuracy`` (share of cells whose prediction equals the truth;
        unassigned cells count as wrong), ``macro_f1`` (mean F1 over the
        true types present), ``n_cells`` and ``share_unassigned``.

    Examples
    --------
    >>> s = summary_metrics(["B", "B", "T", "T"], ["B", "T", "T", "Unassigned"])
    >>> s["accuracy"], s["n_cells"], s["share_unassigned"]
    (0.5, 4, 0.25)
    >>> summary_metrics(None, ["B", "Unassigned"])["accuracy"] is None
    True
    """
    pred = _as_labels(predicted_labels, "predicted_labels")
    result = {
        "accuracy":
            None,
        "macro_f1":
            None,
        "n_cells":
            int(len(pred)),
        "share_unassigned":
            float(np.mean(pred == unassigned)) if len(pred) else 0.0,
    }
    if true_labels is not None:
        truth, pred = _pair(true_labels, pred)
        metrics = per_type_metrics(truth, pred, type_names)
        result["accuracy"] = float(np.mean(truth == pred))
        result["macro_f1"] = float(metrics["f1"].mean())
    return result


def type_counts(predicted_labels, confidence=None):
    """Number and share of cells per predicted type, most common first.

    Parameters
    ----------
    predicted_labels : sequence of str
        Predicted cell types.
    confidence : sequence of float, optional
        Per-cell confidence in [0, 1]; adds a ``median_confidence`` column.

    Returns
    -------
    pandas.DataFrame
        Index ``type``; columns ``cells``, ``share`` (and
        ``median_confidence``).

    Examples
    --------
    >>> print(type_counts(["T", "B", "T", "Unassigned"]))
                cells  share
    type
    T               2   0.50
    B               1   0.25
    Unassigned      1   0.25
    """
    pred = _as_labels(predicted_labels, "predicted_labels")
    frame = pd.DataFrame({"type": pred})
    if confidence is not None:
        conf = _as_confidence(confidence)
        _check_same_length(predicted_labels=pred, confidence=conf)
        frame["confidence"] = conf
    groups = frame.groupby("type", sort=True)
    out = pd.DataFrame({"cells": groups.size().astype(np.int64)})
    out["share"] = out["cells"] / max(len(pred), 1)
    if confidence is not None:
        out["median_confidence"] = groups["confidence"].median()
    out = out.sort_values("cells", ascending=False, kind="stable")
    out.index.name = "type"
    return out


# --------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------


def _new_figure(width, height):
    """A Figure on an Agg canvas with constrained layout (no pyplot)."""
    fig = Figure(figsize=(width, height), layout="constrained", dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _label_font_size(n):
    """Tick-label font size that keeps ``n`` categories readable."""
    return 10 if n <= 12 else 9 if n <= 20 else 8


def plot_confusion_matrix(table, normalise=True):
    """Heat map of a confusion table, each cell annotated with its value.

    Entries with no cells are left blank so that the errors stand out.

    Parameters
    ----------
    table : pandas.DataFrame
        Counts from :func:`confusion_table` (rows true, columns predicted).
    normalise : bool, default True
        Show each row as fractions of that true type's cells
        (:func:`normalise_rows`); otherwise raw counts.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; ``fig.axes[0].images[0].get_array()`` holds the numbers
        drawn.

    Examples
    --------
    >>> t = confusion_table(["B", "B", "T"], ["B", "T", "T"])
    >>> fig = plot_confusion_matrix(t)
    >>> fig.axes[0].images[0].get_array().sum(axis=1).tolist()
    [1.0, 1.0]
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ACTINNInputError("plot_confusion_matrix: need a non-empty "
                               "DataFrame from confusion_table()")
    values = normalise_rows(table) if normalise else table
    data = values.to_numpy(dtype=float)
    n_rows, n_cols = data.shape
    size = max(n_rows, n_cols)
    cell = 0.55 if size <= 12 else 0.48
    fig = _new_figure(max(5.0, 3.2 + cell * n_cols),
                      max(4.0, 2.6 + cell * n_rows))
    ax = fig.add_subplot()
    vmax = 1.0 if normalise else max(float(data.max()), 1.0)
    image = ax.imshow(data,
                      cmap="Blues",
                      vmin=0.0,
                      vmax=vmax,
                      aspect="auto",
                      interpolation="nearest")
    font = 8 if size <= 12 else 7 if size <= 20 else 6
    for i in range(n_rows):
        for j in range(n_cols):
            value = data[i, j]
            if value == 0:
                continue
            text = "%.2f" % value if normalise else "%d" % value
            colour = "white" if value > 0.55 * vmax else "black"
            ax.text(j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=font,
                    color=colour)
    label_font = _label_font_size(size)
    ax.set_xticks(np.arange(n_cols))
    ax.set_xticklabels([str(c) for c in values.columns],
                       rotation=45,
                       ha="right",
                       rotation_mode="anchor",
                       fontsize=label_font)
    ax.set_yticks(np.arange(n_rows))
    ax.set_yticklabels([str(r) for r in values.index], fontsize=label_font)
    ax.set_xlabel("Predicted type")
    ax.set_ylabel("True type")
    ax.set_title("Confusion matrix (share of each true type)"
                 if normalise else "Confusion matrix (cells)")
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(n_cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    colorbar = fig.colorbar(image, ax=ax, shrink=0.6, pad=0.02)
    colorbar.set_label("share of true type" if normalise else "cells")
    return fig


def plot_per_type_metrics(metrics_df):
    """Grouped horizontal bars of precision, recall and F1 per cell type.

    Parameters
    ----------
    metrics_df : pandas.DataFrame
        From :func:`per_type_metrics` (``precision``, ``recall``, ``f1``,
        optional ``support``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> m = per_type_metrics(["B", "T", "T"], ["B", "T", "B"])
    >>> fig = plot_per_type_metrics(m)
    >>> len(fig.axes[0].patches)
    6
    """
    needed = ["precision", "recall", "f1"]
    if not isinstance(metrics_df, pd.DataFrame) or metrics_df.empty:
        raise ACTINNInputError("plot_per_type_metrics: need a non-empty "
                               "DataFrame from per_type_metrics()")
    missing = [c for c in needed if c not in metrics_df.columns]
    if missing:
        raise ACTINNInputError("plot_per_type_metrics: missing column(s) %s" %
                               ", ".join(missing))
    n = len(metrics_df)
    fig = _new_figure(9.0, max(3.0, 1.4 + 0.5 * n))
    ax = fig.add_subplot()
    y = np.arange(n)
    height = 0.26
    colours = {"precision": "#4c72b0", "recall": "#dd8452", "f1": "#55a868"}
    names = {"precision": "Precision", "recall": "Recall", "f1": "F1"}
    for k, column in enumerate(needed):
        ax.barh(y + (k - 1) * height,
                metrics_df[column].to_numpy(float),
                height=height,
                color=colours[column],
                label=names[column])
    labels = [str(t) for t in metrics_df.index]
    if "support" in metrics_df.columns:
        labels = [
            "%s (n=%d)" % (t, s) for t, s in zip(labels, metrics_df["support"])
        ]
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=_label_font_size(n))
    ax.invert_yaxis()
    for k, value in enumerate(metrics_df["f1"].to_numpy(float)):
        ax.text(1.02,
                k,
                "F1 %.2f" % value,
                va="center",
                fontsize=8,
                color="#2f6b3c")
    ax.set_xlim(0, 1.14)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("Score")
    ax.grid(axis="x", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_title("Per-type precision, recall and F1")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    ax.spines["bottom"].set_bounds(0, 1)
    return fig


def _history_series(history, key):
    """One per-epoch list from ``history`` as floats (None when absent)."""
    values = history.get(key)
    if values is None or len(values) == 0:
        return None
    try:
        return np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ACTINNInputError("history[%r]: not a list of numbers" %
                               key) from None


def _best_epoch(history, n_epochs):
    """``history["best_epoch"]`` (int or one-element list) as an int, or None.

    Refuses anything that is not an epoch number in 1..n_epochs.
    """
    value = history.get("best_epoch")
    if value is None:
        return None
    raw = value
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 1:
        value = value[0]
    if (isinstance(value, (int, np.integer)) and
            not isinstance(value, (bool, np.bool_)) and 1 <= value <= n_epochs):
        return int(value)
    raise ACTINNInputError("history['best_epoch']: %r is not an epoch number "
                           "in 1..%d" % (raw, n_epochs))


def plot_training_curves(history):
    """Loss (and validation accuracy) per epoch.

    Parameters
    ----------
    history : dict
        ``train_loss``: list, one value per epoch (required);
        ``valid_loss``, ``valid_accuracy``: optional lists of the same kind;
        ``best_epoch``: optional epoch number, counted from 1 (the epoch
        whose weights were kept), as an int or a one-element list (as
        :mod:`deepchem_actinn.annotator` records it); drawn as a dotted
        vertical line. Epochs are numbered from 1 on the x axis.

    Returns
    -------
    matplotlib.figure.Figure
        One panel (loss), or two when ``valid_accuracy`` is given.

    Examples
    --------
    >>> fig = plot_training_curves({"train_loss": [1.0, 0.5, 0.4],
    ...                             "valid_loss": [1.1, 0.6, 0.7],
    ...                             "best_epoch": [2]})
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['train loss', 'validation loss', 'best epoch (2)']
    """
    if not isinstance(history, dict):
        raise ACTINNInputError("history: expected a dict of per-epoch lists")
    train = _history_series(history, "train_loss")
    if train is None:
        raise ACTINNInputError("history: needs a non-empty 'train_loss' list")
    valid = _history_series(history, "valid_loss")
    accuracy = _history_series(history, "valid_accuracy")
    best = _best_epoch(history, len(train))
    fig = _new_figure(11.0 if accuracy is not None else 6.5, 4.2)
    axes = fig.subplots(1, 2 if accuracy is not None else 1, squeeze=False)[0]
    loss_ax = axes[0]
    loss_ax.plot(np.arange(1,
                           len(train) + 1),
                 train,
                 color="#4c72b0",
                 marker="o",
                 markersize=3,
                 label="train loss")
    if valid is not None:
        loss_ax.plot(np.arange(1,
                               len(valid) + 1),
                     valid,
                     color="#dd8452",
                     marker="o",
                     markersize=3,
                     label="validation loss")
    loss_ax.set_ylabel("Loss")
    loss_ax.set_title("Loss per epoch")
    panels = [loss_ax]
    if accuracy is not None:
        acc_ax = axes[1]
        acc_ax.plot(np.arange(1,
                              len(accuracy) + 1),
                    accuracy,
                    color="#55a868",
                    marker="o",
                    markersize=3,
                    label="validation accuracy")
        acc_ax.set_ylabel("Accuracy")
        acc_ax.set_title("Validation accuracy per epoch")
        panels.append(acc_ax)
    for ax in panels:
        if best is not None:
            ax.axvline(best,
                       color="#c44e52",
                       linestyle=":",
                       linewidth=1.5,
                       label="best epoch (%d)" % best)
        ax.set_xlabel("Epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(color="#eeeeee")
        ax.legend(frameon=False)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
    return fig


def _horizontal_boxplot(ax, data, positions):
    """``ax.boxplot`` drawn horizontally, on old and new matplotlib."""
    style = dict(positions=positions,
                 widths=0.6,
                 showfliers=False,
                 patch_artist=True,
                 medianprops={"color": "black"},
                 boxprops={
                     "facecolor": "#dbe6f4",
                     "edgecolor": "#4c72b0"
                 },
                 whiskerprops={"color": "#4c72b0"},
                 capprops={"color": "#4c72b0"})
    try:
        return ax.boxplot(data, orientation="horizontal", **style)
    except TypeError:  # matplotlib < 3.10
        return ax.boxplot(data, vert=False, **style)


def plot_confidence(predicted_labels, confidence, threshold=None):
    """Confidence of the calls, per predicted type: box plot plus points.

    At most 400 randomly chosen points per type are drawn (the boxes use
    every cell).

    Parameters
    ----------
    predicted_labels : sequence of str
        Predicted cell types.
    confidence : sequence of float
        Per-cell confidence in [0, 1] (e.g. the top softmax probability).
    threshold : float, optional
        Confidence below which cells were left unassigned; drawn as a
        dashed vertical line.

    Returns
    -------
    matplotlib.figure.Figure
        Types ordered by number of cells, most first.

    Examples
    --------
    >>> fig = plot_confidence(["B", "T", "T"], [0.9, 0.8, 0.4], threshold=0.5)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['T (n=2)', 'B (n=1)']
    """
    pred = _as_labels(predicted_labels, "predicted_labels")
    conf = _as_confidence(confidence)
    _check_same_length(predicted_labels=pred, confidence=conf)
    threshold = _check_threshold(threshold)
    if not len(pred):
        raise ACTINNInputError("predicted_labels: no cells")
    counts = type_counts(pred)
    order = list(counts.index)
    n = len(order)
    fig = _new_figure(9.0, max(3.0, 1.4 + 0.42 * n))
    ax = fig.add_subplot()
    groups = [conf[pred == t] for t in order]
    positions = np.arange(n)
    _horizontal_boxplot(ax, groups, positions)
    rng = np.random.default_rng(0)
    for k, (name, values) in enumerate(zip(order, groups)):
        colour = _UNASSIGNED_COLOUR if name == UNASSIGNED else "#4c72b0"
        if len(values) > _MAX_STRIP_POINTS:
            values = rng.choice(values, _MAX_STRIP_POINTS, replace=False)
        jitter = rng.uniform(-0.22, 0.22, size=len(values))
        ax.scatter(values,
                   k + jitter,
                   s=5,
                   alpha=0.35,
                   color=colour,
                   linewidths=0,
                   zorder=3)
    if threshold is not None:
        ax.axvline(threshold,
                   color="#c44e52",
                   linestyle="--",
                   linewidth=1.5,
                   label="threshold %.2f" % threshold,
                   zorder=4)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_yticks(positions)
    ax.set_yticklabels(
        ["%s (n=%d)" % (t, c) for t, c in zip(order, counts["cells"])],
        fontsize=_label_font_size(n))
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("Confidence")
    ax.set_title("Confidence per predicted type")
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    return fig


def _import_scanpy():
    """Import scanpy or raise an ImportError that says how to get it."""
    try:
        import scanpy
    except ImportError as err:
        raise ImportError(
            "plot_umap needs scanpy, which is not installed; install it with "
            "`pip install scanpy` (or `pip install deepchem-actinn[umap]`)"
        ) from err
    return scanpy


def _umap_coordinates(adata, sc):
    """``adata.obsm['X_umap']``, or a UMAP of a log-normalised copy."""
    if "X_umap" in adata.obsm:
        return np.asarray(adata.obsm["X_umap"], dtype=float)[:, :2]
    if adata.n_obs < 4 or adata.n_vars < 3:
        raise ACTINNInputError("plot_umap: need at least 4 cells and 3 genes "
                               "to compute a UMAP (got %d x %d)" %
                               (adata.n_obs, adata.n_vars))
    work = adata.copy()
    sc.pp.normalize_total(work, target_sum=1e4)
    sc.pp.log1p(work)
    n_comps = min(50, work.n_obs - 1, work.n_vars - 1)
    sc.pp.pca(work, n_comps=n_comps)
    sc.pp.neighbors(work, n_neighbors=min(15, work.n_obs - 1), n_pcs=n_comps)
    sc.tl.umap(work)
    return np.asarray(work.obsm["X_umap"], dtype=float)[:, :2]


def _type_colours(names):
    """A colour per type name; ``Unassigned`` grey."""
    from matplotlib import colormaps
    cmap = colormaps["tab20" if len(names) > 10 else "tab10"]
    others = [n for n in names if n != UNASSIGNED]
    colours = {n: cmap(k % cmap.N) for k, n in enumerate(others)}
    colours[UNASSIGNED] = _UNASSIGNED_COLOUR
    return colours


def plot_umap(adata,
              predicted_key="actinn_cell_type",
              confidence_key="actinn_confidence"):
    """UMAP of the cells, coloured by predicted type and by confidence.

    Needs scanpy. Uses ``adata.obsm["X_umap"]`` when present; otherwise
    computes PCA, neighbours and UMAP on a library-size-normalised,
    log1p-transformed copy (``adata`` itself is not changed).

    Parameters
    ----------
    adata : anndata.AnnData
        Cells x genes counts with the predictions in ``adata.obs``.
    predicted_key, confidence_key : str
        Columns of ``adata.obs`` holding the predicted type and confidence.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels.

    Raises
    ------
    ImportError
        If scanpy is not installed.

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd
    >>> ad = anndata.AnnData(np.ones((3, 2), dtype=np.float32))
    >>> ad.obs["actinn_cell_type"] = ["B", "T", "T"]
    >>> ad.obs["actinn_confidence"] = [0.9, 0.8, 0.7]
    >>> ad.obsm["X_umap"] = np.array([[0.0, 0], [1, 1], [1, 0]])
    >>> try:
    ...     fig = plot_umap(ad)
    ... except ImportError:
    ...     fig = None  # scanpy not installed
    """
    sc = _import_scanpy()
    for key in (predicted_key, confidence_key):
        if key not in adata.obs:
            raise ACTINNInputError("plot_umap: adata.obs has no column %r "
                                   "(columns: %s)" %
                                   (key, examples(list(adata.obs.columns))))
    pred = _as_labels(adata.obs[predicted_key].to_numpy(), predicted_key)
    conf = _as_confidence(adata.obs[confidence_key].to_numpy())
    xy = _umap_coordinates(adata, sc)
    fig = _new_figure(13.0, 5.6)
    type_ax, conf_ax = fig.subplots(1, 2)
    counts = type_counts(pred)
    colours = _type_colours(list(counts.index))
    size = float(np.clip(12000 / max(len(pred), 1), 2, 40))
    for name in counts.index:
        mask = pred == name
        type_ax.scatter(xy[mask, 0],
                        xy[mask, 1],
                        s=size,
                        color=colours[name],
                        linewidths=0,
                        label="%s (%d)" % (name, counts.loc[name, "cells"]),
                        rasterized=True)
    type_ax.set_title("Predicted cell type")
    type_ax.legend(loc="center left",
                   bbox_to_anchor=(1.0, 0.5),
                   frameon=False,
                   fontsize=9,
                   markerscale=max(1, 20 / size))
    order = np.argsort(conf)
    points = conf_ax.scatter(xy[order, 0],
                             xy[order, 1],
                             c=conf[order],
                             cmap="viridis",
                             vmin=0,
                             vmax=1,
                             s=size,
                             linewidths=0,
                             rasterized=True)
    fig.colorbar(points, ax=conf_ax, shrink=0.8, label="confidence")
    conf_ax.set_title("Confidence")
    for ax in (type_ax, conf_ax):
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


# --------------------------------------------------------------------------
# HTML report
# --------------------------------------------------------------------------

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
"""

_CAPTIONS = {
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
         "Loss per epoch on the training and validation cells."),
    "confidence.png":
        ("Confidence per predicted type",
         "Confidence of each call (box: quartiles; points: cells)."),
    "umap.png":
        ("UMAP",
         "Cells placed by expression similarity, coloured by predicted type "
         "and by confidence."),
}


def _esc(value):
    """HTML-escape anything, as text."""
    return html.escape(str(value), quote=True)


def _format_column(values):
    """Readable table text for one column: ints plain, floats 3 decimals."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return ["{:,}".format(int(v)) for v in values]
    if pd.api.types.is_float_dtype(values.dtype):
        return ["%.3f" % v if math.isfinite(v) else str(v) for v in values]
    return [str(v) for v in values]


def _html_table(frame, index_label, formats=None):
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


def _key_value_table(items):
    """An escaped two-column HTML table of (key, value) pairs."""
    rows = "\n".join("<tr><th>%s</th><td>%s</td></tr>" % (_esc(k), _esc(v))
                     for k, v in items)
    return "<table>\n<tbody>\n%s\n</tbody>\n</table>" % rows


def _summary_cards(summary, n_types, n_reference, threshold):
    """The headline numbers as HTML boxes."""
    cards = [("Cells", "{:,}".format(summary["n_cells"])),
             ("Predicted types", str(n_types))]
    if n_reference is not None:
        cards.append(("Reference types", str(n_reference)))
    if summary["accuracy"] is not None:
        cards.append(("Accuracy", "%.1f%%" % (100 * summary["accuracy"])))
        cards.append(("Macro F1", "%.3f" % summary["macro_f1"]))
    cards.append(("Unassigned", "%.1f%%" % (100 * summary["share_unassigned"])))
    if threshold is not None:
        cards.append(("Confidence threshold", "%.2f" % threshold))
    body = "\n".join('<div class="card"><div class="value">%s</div>'
                     '<div class="label">%s</div></div>' % (_esc(v), _esc(k))
                     for k, v in cards)
    return '<div class="cards">\n%s\n</div>' % body


def _figure_html(name, png_bytes):
    """An HTML figure embedding PNG bytes as a base64 data URI."""
    title, caption = _CAPTIONS[name]
    data = base64.b64encode(png_bytes).decode("ascii")
    return ('<figure id="%s">\n<h3>%s</h3>\n<img alt="%s" '
            'src="data:image/png;base64,%s">\n<figcaption>%s</figcaption>\n'
            '</figure>' % (_esc(name.rsplit(
                ".", 1)[0]), _esc(title), _esc(title), data, _esc(caption)))


def _render_html(title, sections, generated):
    """The whole page."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
        "<meta charset=\"utf-8\">\n<title>%s</title>\n<style>%s</style>\n"
        "</head>\n<body>\n<h1>%s</h1>\n<p class=\"meta\">%s</p>\n%s\n"
        "</body>\n</html>\n" %
        (_esc(title), _CSS, _esc(title), _esc(generated), "\n".join(sections)))


def _save_png(fig, path):
    """Write a figure as PNG and return the bytes written."""
    fig.savefig(path, format="png", dpi=110, facecolor="white")
    return Path(path).read_bytes()


def _make_figures(tmp, predicted, confidence, truth, type_names, history,
                  threshold, adata):
    """Draw every figure that applies into ``tmp``; return name -> bytes."""
    figures = {}
    if truth is not None:
        table = confusion_table(truth, predicted, type_names)
        figures["confusion_matrix.png"] = plot_confusion_matrix(table)
        figures["per_type_metrics.png"] = plot_per_type_metrics(
            per_type_metrics(truth, predicted, type_names))
    else:
        logger.info("report: no true labels, skipping confusion matrix and "
                    "per-type metrics")
    if history is not None:
        figures["training_curves.png"] = plot_training_curves(history)
    else:
        logger.info("report: no training history, skipping training curves")
    figures["confidence.png"] = plot_confidence(predicted, confidence,
                                                threshold)
    if adata is None:
        logger.info("report: no AnnData given, skipping UMAP")
    else:
        try:
            figures["umap.png"] = plot_umap(adata)
        except ImportError as err:
            logger.info("report: skipping UMAP: %s", err)
    return {name: _save_png(fig, tmp / name) for name, fig in figures.items()}


def _check_out_dir(out_dir, overwrite):
    """Refuse a file, or a directory holding a report unless overwriting."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ACTINNInputError("%s: exists and is not a directory" % out_dir)
    if (out_dir / "report.html").exists() and not overwrite:
        raise ACTINNInputError("%s: already holds a report.html; pass "
                               "overwrite=True to replace it" % out_dir)


def _publish(tmp, out_dir, written):
    """Move the finished files from ``tmp`` into ``out_dir``.

    A new ``out_dir`` is the renamed temporary directory. Into an existing
    one, each file is renamed over its old version (report.html last), and
    report files an earlier run left that this run did not make are removed.
    """
    if not out_dir.exists():
        try:
            os.rename(tmp, out_dir)
            return
        except OSError:
            if not out_dir.is_dir():
                raise
    for name in REPORT_FILES:
        if name in written:
            os.replace(tmp / name, out_dir / name)
    for name in REPORT_FILES:
        if name not in written and (out_dir / name).exists():
            (out_dir / name).unlink()


def write_report(out_dir,
                 predicted_labels,
                 confidence,
                 *,
                 true_labels=None,
                 type_names=None,
                 history=None,
                 threshold=None,
                 adata=None,
                 title="ACTINN cell-type annotation",
                 overwrite=False,
                 extra_info=None):
    """Write the PNG figures and one self-contained ``report.html``.

    The figures are ``confusion_matrix.png`` and ``per_type_metrics.png``
    (when ``true_labels`` is given), ``training_curves.png`` (when
    ``history`` is given), ``confidence.png`` and ``umap.png`` (when
    ``adata`` is given and scanpy is installed; skipped figures are logged
    at INFO). ``report.html`` embeds the same PNGs as data URIs, with the
    summary numbers, per-type metrics, predicted type counts and
    ``extra_info``, so it can be mailed or archived on its own.

    Everything is built in a temporary directory beside ``out_dir`` and
    renamed into place at the end, so files appear whole or not at all.

    Parameters
    ----------
    out_dir : str or path-like
        Directory to write; created (with parents) if needed.
    predicted_labels : sequence of str
        Predicted cell type per cell (e.g. ``"Unassigned"`` below threshold).
    confidence : sequence of float
        Per-cell confidence, finite, in [0, 1].
    true_labels : sequence of str, optional
        Known cell types, for accuracy and the confusion matrix.
    type_names : sequence of str, optional
        Reference types, in display order.
    history : dict, optional
        Training history, see :func:`plot_training_curves`.
    threshold : float, optional
        Confidence threshold used for ``Unassigned``.
    adata : anndata.AnnData, optional
        Cells with predictions in ``obs``, for :func:`plot_umap`.
    title : str
        Page heading.
    overwrite : bool, default False
        Replace an existing report in ``out_dir``.
    extra_info : dict, optional
        Shown as a key/value table (e.g. model version, genes matched).

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.

    Raises
    ------
    deepchem_actinn.errors.ACTINNInputError
        Invalid inputs, or ``out_dir`` already holds a report and
        ``overwrite`` is False.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report"
    >>> path = write_report(out, ["B", "T", "T"], [0.9, 0.8, 0.6],
    ...                     true_labels=["B", "T", "B"])
    >>> path.name, sorted(p.name for p in out.glob("*.png"))
    ('report.html', ['confidence.png', 'confusion_matrix.png', 'per_type_metrics.png'])
    """
    predicted = _as_labels(predicted_labels, "predicted_labels")
    conf = _as_confidence(confidence)
    truth = None if true_labels is None else _as_labels(true_labels,
                                                        "true_labels")
    _check_same_length(predicted_labels=predicted,
                       confidence=conf,
                       true_labels=truth)
    if not len(predicted):
        raise ACTINNInputError("predicted_labels: no cells")
    threshold = _check_threshold(threshold)
    if extra_info is not None and not isinstance(extra_info, dict):
        raise ACTINNInputError("extra_info: expected a dict, got %s" %
                               type(extra_info).__name__)
    if adata is not None and adata.n_obs != len(predicted):
        raise ACTINNInputError("adata has %d cells but predicted_labels has "
                               "%d" % (adata.n_obs, len(predicted)))
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / (".%s.tmp-%s" % (out_dir.name, uuid.uuid4().hex))
    tmp.mkdir()
    try:
        pngs = _make_figures(tmp, predicted, conf, truth, type_names, history,
                             threshold, adata)
        page = _report_page(title, predicted, conf, truth, type_names,
                            threshold, extra_info, pngs)
        (tmp / "report.html").write_text(page, encoding="utf-8")
        _publish(tmp, out_dir, set(pngs) | {"report.html"})
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("report: wrote %s", out_dir / "report.html")
    return out_dir / "report.html"


def _report_page(title, predicted, confidence, truth, type_names, threshold,
                 extra_info, pngs):
    """Assemble the HTML text of the report."""
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
    if extra_info:
        sections += [
            "<h2>Run information</h2>",
            _key_value_table(extra_info.items())
        ]
    if truth is not None:
        metrics = per_type_metrics(truth, predicted, type_names)
        sections += [
            "<h2>Per-type metrics</h2>",
            _html_table(metrics, "true type")
        ]
    counts = counts.rename(columns={"share": "share of cells"})
    table = _html_table(counts, "predicted type",
                        {"share of cells": lambda v: "%.1f%%" % (100 * v)})
    sections += ["<h2>Predicted type counts</h2>", table, "<h2>Figures</h2>"]
    sections += [
        _figure_html(name, pngs[name]) for name in REPORT_FILES if name in pngs
    ]
    return _render_html(title, sections, generated)
