"""The report's figures, each a :class:`matplotlib.figure.Figure` on its own
Agg canvas (no pyplot global state): the confusion matrix, per-type scores,
training curves and the confidence of the calls.

The UMAP, which needs scanpy, is in :mod:`deepchem_actinn.report.umap`.
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from deepchem_actinn.confidence import UNASSIGNED
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.report._canvas import (UNASSIGNED_COLOUR, drawn_names,
                                            label_font_size, marked_names,
                                            new_figure)
from deepchem_actinn.report._checks import (as_confidence, as_labels,
                                            check_same_length, check_threshold)
from deepchem_actinn.report.metrics import normalise_rows, type_counts
from deepchem_actinn.types import Floats, Strings

#: At most this many cells per type are drawn as points by
#: :func:`plot_confidence` (the boxes use every cell).
MAX_STRIP_POINTS = 400


def plot_confusion_matrix(table: pd.DataFrame,
                          normalise: bool = True,
                          parents: Optional[Strings] = None) -> Figure:
    """Heat map of a confusion table, each cell annotated with its value.

    Entries with no cells are left blank so that the errors stand out.

    Parameters
    ----------
    table: pandas.DataFrame
        Counts from :func:`confusion_table` (rows true, columns predicted).
    normalise: bool, default True
        Show each row as fractions of that true type's cells
        (:func:`normalise_rows`); otherwise raw counts.
    parents: sequence of str, optional
        Names given as parent types (a type hierarchy's), marked
        ``[parent]``.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; ``fig.axes[0].images[0].get_array()`` holds the numbers
        drawn.

    Examples
    --------
    >>> from deepchem_actinn.report import (confusion_table,
    ...                                     plot_confusion_matrix)
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
    label_font = label_font_size(size)
    names = list(dict.fromkeys(list(values.index) + list(values.columns)))
    shown = dict(zip(names, marked_names(names, parents)))
    rows, columns = ([shown[r] for r in values.index],
                     [shown[c] for c in values.columns])
    # room for the names beyond what short ones (~18 characters) need
    inch = 0.0085 * label_font  # about one character
    extra = max(0.0, inch * max(len(t) for t in rows + columns) - 1.6)
    fig = new_figure(
        max(5.0, 3.2 + cell * n_cols) + extra,
        max(4.0, 2.6 + cell * n_rows) + 0.7 * extra)
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
            text = "%.2f" % value if normalise else "{:,}".format(int(value))
            colour = "white" if value > 0.55 * vmax else "black"
            ax.text(j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=font,
                    color=colour)
    ax.set_xticks(np.arange(n_cols))
    ax.set_xticklabels(columns,
                       rotation=45,
                       ha="right",
                       rotation_mode="anchor",
                       fontsize=label_font)
    ax.set_yticks(np.arange(n_rows))
    ax.set_yticklabels(rows, fontsize=label_font)
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


def plot_per_type_metrics(metrics_df: pd.DataFrame) -> Figure:
    """Grouped horizontal bars of precision, recall and F1 per cell type.

    Parameters
    ----------
    metrics_df: pandas.DataFrame
        From :func:`per_type_metrics` (``precision``, ``recall``, ``f1``,
        optional ``support``); a NaN (the precision of a type never
        predicted) is drawn as no bar, with "n/a" written in its place.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from deepchem_actinn.report import (per_type_metrics,
    ...                                     plot_per_type_metrics)
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
    fig = new_figure(9.0, max(3.0, 1.4 + 0.5 * n))
    ax = fig.add_subplot()
    y = np.arange(n)
    height = 0.26
    colours = {"precision": "#4c72b0", "recall": "#dd8452", "f1": "#55a868"}
    names = {"precision": "Precision", "recall": "Recall", "f1": "F1"}
    for k, column in enumerate(needed):
        values = metrics_df[column].to_numpy(float)
        ax.barh(y + (k - 1) * height,
                np.nan_to_num(values),
                height=height,
                color=colours[column],
                label=names[column])
        for row in np.flatnonzero(np.isnan(values)):  # precision of no cells
            ax.text(0.01,
                    row + (k - 1) * height,
                    "%s n/a: never predicted" % names[column].lower(),
                    va="center",
                    fontsize=7,
                    color=colours[column])
    labels = drawn_names(metrics_df.index)
    if "support" in metrics_df.columns:
        labels = [
            "%s (n=%s)" % (t, "{:,}".format(int(s)))
            for t, s in zip(labels, metrics_df["support"])
        ]
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=label_font_size(n))
    ax.set_ylim(n - 0.5, -0.5)  # first type on top, no empty band
    for k, value in enumerate(metrics_df["f1"].to_numpy(float)):
        ax.text(1.02,
                k,
                "F1 %.3f" % value,
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


def _history_series(history: Mapping[str, Any],
                    key: str) -> Optional[np.ndarray]:
    """One per-epoch list from ``history`` as floats (None when absent)."""
    values = history.get(key)
    if values is None or len(values) == 0:
        return None
    try:
        return np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ACTINNInputError("history[%r]: not a list of numbers" %
                               key) from None


def _best_epoch(history: Mapping[str, Any], n_epochs: int) -> Optional[int]:
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


#: Colours of the networks' lines when several are drawn (tab10's first).
_NETWORK_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _plot_epochs(ax: Axes,
                 values: np.ndarray,
                 color: str,
                 label: str,
                 thin: bool = False,
                 dashed: bool = False) -> None:
    """One per-epoch series on ``ax``, epochs counted from 1 (``thin``:
    a line without markers, for one network of several)."""
    style: Dict[str, Any] = (dict(
        linewidth=1.0) if thin else dict(marker="o", markersize=3))
    ax.plot(np.arange(1,
                      len(values) + 1),
            values,
            color=color,
            linestyle="--" if dashed else "-",
            label=label,
            **style)


def _networks(history: Any) -> List[Mapping[str, Any]]:
    """``history`` as a list of the networks' histories (a dict is one)."""
    if isinstance(history, Mapping):
        return [history]
    if (isinstance(history, (list, tuple)) and history and
            all(isinstance(h, Mapping) for h in history)):
        return list(history)
    raise ACTINNInputError("history: expected a dict of per-epoch lists, or "
                           "a non-empty list of them (one per network)")


def plot_training_curves(
        history: Union[Mapping[str, Any], Sequence[Mapping[str,
                                                           Any]]]) -> Figure:
    """Loss (and validation accuracy) per epoch, of one network or of each
    network of an ensemble.

    Parameters
    ----------
    history: dict or list of dict
        One network's history, or each network's (as
        ``ACTINNAnnotator.histories_`` holds them), each a dict of:
        ``train_loss``: list, one value per epoch (required);
        ``valid_loss``, ``valid_accuracy``: optional lists of the same kind;
        ``best_epoch``: optional epoch number, counted from 1 (the epoch
        whose weights were kept), as an int or a one-element list (as
        :mod:`deepchem_actinn.annotator` records it); drawn as a dotted
        vertical line. Epochs are numbered from 1 on the x axis. Several
        networks are drawn in thin lines, one colour each, their labels
        naming them ("network 2: validation loss"); validation losses
        dashed.

    Returns
    -------
    matplotlib.figure.Figure
        One panel (loss), or two when ``valid_accuracy`` is given.

    Examples
    --------
    >>> from deepchem_actinn.report import plot_training_curves
    >>> fig = plot_training_curves({"train_loss": [1.0, 0.5, 0.4],
    ...                             "valid_loss": [1.1, 0.6, 0.7],
    ...                             "best_epoch": [2]})
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['train loss', 'validation loss', 'best epoch (2)']
    >>> fig = plot_training_curves([{"train_loss": [1.0, 0.5],
    ...                              "best_epoch": [2]},
    ...                             {"train_loss": [0.9, 0.6, 0.5],
    ...                              "best_epoch": [3]}])
    >>> fig.axes[0].get_title()
    'Loss per epoch, each of 2 networks'
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['network 1: train loss', 'network 1: best epoch (2)', \
'network 2: train loss', 'network 2: best epoch (3)']
    """
    networks = _networks(history)
    several = len(networks) > 1
    series = []
    for k, one in enumerate(networks):
        train = _history_series(one, "train_loss")
        if train is None:
            raise ACTINNInputError(
                "history%s: needs a non-empty 'train_loss' list" %
                ("[%d]" % k if several else ""))
        series.append(
            (train, _history_series(one, "valid_loss"),
             _history_series(one,
                             "valid_accuracy"), _best_epoch(one, len(train))))
    with_accuracy = any(s[2] is not None for s in series)
    # each panel's legend beside it, clear of the curves and the best-epoch
    # lines it covered inside the panel (with several networks)
    beside = (1.9 if several else 1.3) * (2 if with_accuracy else 1)
    fig = new_figure((11.0 if with_accuracy else 6.5) + beside, 4.2)
    axes = fig.subplots(1, 2 if with_accuracy else 1, squeeze=False)[0]
    loss_ax = axes[0]
    panels = [loss_ax] + ([axes[1]] if with_accuracy else [])
    for k, (train, valid, accuracy, best) in enumerate(series):
        name = "network %d: " % (k + 1) if several else ""
        colour = _NETWORK_COLOURS[k % len(_NETWORK_COLOURS)]
        colours = ((colour,) * 3 if several else
                   ("#4c72b0", "#dd8452", "#55a868"))
        _plot_epochs(loss_ax, train, colours[0], name + "train loss", several)
        if valid is not None:
            _plot_epochs(loss_ax, valid, colours[1], name + "validation loss",
                         several, several)
        if accuracy is not None:
            _plot_epochs(axes[1], accuracy, colours[2],
                         name + "validation accuracy", several)
        for ax in panels:
            if best is not None:
                ax.axvline(best,
                           color=colour if several else "#c44e52",
                           linestyle=":",
                           linewidth=1.0 if several else 1.5,
                           label="%sbest epoch (%d)" % (name, best))
    each = ", each of %d networks" % len(series) if several else ""
    loss_ax.set_ylabel("Loss")
    loss_ax.set_title("Loss per epoch" + each)
    if with_accuracy:
        axes[1].set_ylabel("Accuracy")
        axes[1].set_title("Validation accuracy per epoch" + each)
    for ax in panels:
        ax.set_xlabel("Epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(color="#eeeeee")
        ax.legend(loc="upper left",
                  bbox_to_anchor=(1.0, 1.0),
                  frameon=False,
                  fontsize=8 if several else None)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
    return fig


def _horizontal_boxplot(ax: Axes, data: List[np.ndarray],
                        positions: np.ndarray) -> Any:
    """``ax.boxplot`` drawn horizontally, on old and new matplotlib."""
    style: Dict[str, Any] = dict(positions=positions,
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


def plot_confidence(predicted_labels: Strings,
                    confidence: Floats,
                    threshold: Optional[float] = None,
                    parents: Optional[Strings] = None) -> Figure:
    """Confidence of the calls, per predicted type: box plot plus points.

    At most 400 randomly chosen points per type are drawn (the boxes use
    every cell).

    Parameters
    ----------
    predicted_labels: sequence of str
        Predicted cell types.
    confidence: sequence of float
        Per-cell confidence in [0, 1] (e.g. the top softmax probability).
    threshold: float, optional
        Confidence below which cells were left unassigned; drawn as a
        dashed vertical line.
    parents: sequence of str, optional
        Names given as parent types (a type hierarchy's), marked
        ``[parent]``.

    Returns
    -------
    matplotlib.figure.Figure
        Types ordered by number of cells, most first.

    Examples
    --------
    >>> from deepchem_actinn.report import plot_confidence
    >>> fig = plot_confidence(["B", "T", "T"], [0.9, 0.8, 0.4], threshold=0.5)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['T (n=2)', 'B (n=1)']
    """
    pred = as_labels(predicted_labels, "predicted_labels")
    conf = as_confidence(confidence)
    check_same_length(predicted_labels=pred, confidence=conf)
    threshold = check_threshold(threshold)
    if not len(pred):
        raise ACTINNInputError("predicted_labels: no cells")
    counts = type_counts(pred)
    order = list(counts.index)
    n = len(order)
    fig = new_figure(9.0, max(3.0, 1.4 + 0.42 * n))
    ax = fig.add_subplot()
    groups = [conf[pred == t] for t in order]
    positions = np.arange(n)
    _horizontal_boxplot(ax, groups, positions)
    rng = np.random.default_rng(0)
    for k, (name, values) in enumerate(zip(order, groups)):
        colour = UNASSIGNED_COLOUR if name == UNASSIGNED else "#4c72b0"
        if len(values) > MAX_STRIP_POINTS:
            values = rng.choice(values, MAX_STRIP_POINTS, replace=False)
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
    ax.set_yticklabels([
        "%s (n=%s)" % (t, "{:,}".format(int(c)))
        for t, c in zip(marked_names(order, parents), counts["cells"])
    ],
                       fontsize=label_font_size(n))
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("Confidence")
    ax.set_title("Confidence per predicted type")
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    return fig
