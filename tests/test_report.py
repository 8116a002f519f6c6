"""Tests for deepchem_actinn.report's tables and figures (write_report and
the UMAP it draws are in test_report_write.py)."""

import sys
import types

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from deepchem_actinn import report
from deepchem_actinn.errors import ACTINNInputError

# Mono is never present nor predicted; NK is never predicted correctly.
TRUE = ["B", "B", "B", "T", "T", "T", "NK", "NK"]
PRED = ["B", "B", "T", "T", "T", "Unassigned", "T", "Unassigned"]
TYPES = ["B", "T", "NK", "Mono"]
CONF = [0.9, 0.95, 0.6, 0.99, 0.8, 0.3, 0.7, 0.2]

# --------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------


def test_confusion_table_counts_exact():
    table = report.confusion_table(TRUE, PRED, type_names=TYPES)
    assert list(table.index) == ["B", "T", "NK", "Mono"]
    assert list(table.columns) == ["B", "T", "NK", "Mono", "Unassigned"]
    expected = np.array([
        [2, 1, 0, 0, 0],  # B: 2 right, 1 called T
        [0, 2, 0, 0, 1],  # T: 2 right, 1 unassigned
        [0, 1, 0, 0, 1],  # NK: never right
        [0, 0, 0, 0, 0],  # Mono: reference type with no cells
    ])
    np.testing.assert_array_equal(table.to_numpy(), expected)
    assert table.to_numpy().sum() == len(TRUE)
    assert table.index.name == "true type"
    assert table.columns.name == "predicted type"


def test_confusion_table_order_without_and_with_extra_names():
    table = report.confusion_table(TRUE, PRED)
    assert list(table.index) == ["B", "NK", "T"]
    assert list(table.columns) == ["B", "NK", "T", "Unassigned"]
    # names not in type_names are appended, sorted
    table = report.confusion_table(["Z", "A", "T"], ["Y", "A", "T"],
                                   type_names=["T"])
    assert list(table.index) == ["T", "A", "Z"]
    assert list(table.columns) == ["T", "A", "Z", "Y"]
    assert table.loc["Z", "Y"] == 1 and table.loc["Z", "Z"] == 0


def test_confusion_table_puts_unassigned_last_and_sorts_case_aside():
    """A sort by code point put "Unassigned" before lower-case names (a
    parent type "immune cell") and those after every capitalised one."""
    table = report.confusion_table(
        ["B cell", "T cell", "T cell", "NK cell", "B cell"],
        ["B cell", "immune cell", "Unassigned", "lymphocyte", "T cell"],
        type_names=["T cell", "B cell"])
    assert list(table.index) == ["T cell", "B cell", "NK cell"]
    assert list(table.columns) == [
        "T cell", "B cell", "NK cell", "immune cell", "lymphocyte", "Unassigned"
    ]
    table = report.confusion_table(["b", "A", "Unassigned", "C"],
                                   ["b", "A", "Unassigned", "a"])
    assert list(table.index) == ["A", "b", "C", "Unassigned"]
    assert list(table.columns) == ["A", "b", "C", "a", "Unassigned"]
    assert table.loc["Unassigned", "Unassigned"] == 1


def test_normalise_rows_sum_to_one_and_empty_row_zero():
    table = report.confusion_table(TRUE, PRED, type_names=TYPES)
    fractions = report.normalise_rows(table)
    sums = fractions.sum(axis=1)
    np.testing.assert_allclose(sums[["B", "T", "NK"]], 1.0)
    assert sums["Mono"] == 0.0
    assert fractions.loc["B", "B"] == pytest.approx(2 / 3)


def test_per_type_metrics_equal_sklearn():
    metrics = report.per_type_metrics(TRUE, PRED, type_names=TYPES)
    labels = ["B", "T", "NK"]  # true types present, in type_names order
    assert list(metrics.index) == labels
    expected = precision_recall_fscore_support(TRUE,
                                               PRED,
                                               labels=labels,
                                               zero_division=0)
    for column, values in zip(["precision", "recall", "f1", "support"],
                              expected):
        if column == "precision":  # NK, never predicted, has none
            values = np.where(np.array(labels) == "NK", np.nan, values)
        np.testing.assert_allclose(metrics[column].to_numpy(), values)
    assert metrics.loc["NK", "f1"] == 0.0
    assert metrics.loc["B", "precision"] == 1.0
    assert metrics.loc["T", "precision"] == pytest.approx(2 / 4)


def test_summary_metrics():
    summary = report.summary_metrics(TRUE, PRED, TYPES)
    assert summary["accuracy"] == pytest.approx(4 / 8)
    # 6 cells given a type, 4 of them right (the 2 Unassigned left out)
    assert summary["assigned_accuracy"] == pytest.approx(4 / 6)
    metrics = report.per_type_metrics(TRUE, PRED, TYPES)
    assert summary["macro_f1"] == pytest.approx(metrics["f1"].mean())
    assert summary["n_cells"] == 8
    assert summary["share_unassigned"] == pytest.approx(2 / 8)
    without_truth = report.summary_metrics(None, PRED)
    assert without_truth["accuracy"] is None
    assert without_truth["assigned_accuracy"] is None
    assert without_truth["macro_f1"] is None
    assert without_truth["share_unassigned"] == pytest.approx(2 / 8)


def test_type_counts():
    counts = report.type_counts(PRED, CONF)
    assert list(counts.index) == ["T", "B", "Unassigned"]
    assert counts["cells"].tolist() == [4, 2, 2]
    assert counts.loc["Unassigned", "median_confidence"] == pytest.approx(0.25)
    assert counts["share"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "func",
    [report.confusion_table, report.per_type_metrics, report.summary_metrics])
def test_tables_refuse_length_mismatch(func):
    with pytest.raises(ACTINNInputError,
                       match="true_labels has 3, predicted_labels has 2"):
        func(["B", "T", "T"], ["B", "T"])


def test_tables_refuse_missing_labels():
    with pytest.raises(ACTINNInputError, match="missing label.*positions 1"):
        report.confusion_table(["B", None], ["B", "T"])


# --------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------


def test_confusion_figure_is_row_normalised_and_labelled():
    table = report.confusion_table(TRUE, PRED, type_names=TYPES)
    fig = report.plot_confusion_matrix(table)
    ax = fig.axes[0]
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(shown, report.normalise_rows(table))
    np.testing.assert_allclose(shown.sum(axis=1), [1, 1, 1, 0])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(table.columns)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table.index)
    assert all(t.get_rotation() == 45 for t in ax.get_xticklabels())
    annotations = sorted(t.get_text() for t in ax.texts)
    assert annotations == sorted(
        ["0.67", "0.33", "0.67", "0.33", "0.50", "0.50"])


def test_confusion_figure_counts_and_size_grow_with_types():
    table = report.confusion_table(TRUE, PRED, type_names=TYPES)
    fig = report.plot_confusion_matrix(table, normalise=False)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_array_equal(shown, table.to_numpy())
    assert "2" in [t.get_text() for t in fig.axes[0].texts]
    names = ["type %02d" % i for i in range(20)]
    big = report.confusion_table(names, names, type_names=names)
    big_fig = report.plot_confusion_matrix(big)
    assert big_fig.get_figwidth() > fig.get_figwidth()
    assert big_fig.get_figheight() > fig.get_figheight()


def test_per_type_metrics_figure_bars_match_table():
    metrics = report.per_type_metrics(TRUE, PRED, TYPES)
    fig = report.plot_per_type_metrics(metrics)
    ax = fig.axes[0]
    widths = np.array([p.get_width() for p in ax.patches])
    assert len(widths) == 3 * len(metrics)
    expected = np.concatenate(
        [metrics[c].to_numpy() for c in ("precision", "recall", "f1")])
    np.testing.assert_allclose(widths, np.nan_to_num(expected))  # NK: none
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["B (n=3)", "T (n=3)", "NK (n=2)"]
    with pytest.raises(ACTINNInputError, match="missing column"):
        report.plot_per_type_metrics(metrics.drop(columns="f1"))


def test_training_curves_with_best_epoch():
    history = {
        "train_loss": [1.0, 0.6, 0.4, 0.35],
        "valid_loss": [1.1, 0.7, 0.6, 0.65],
        "valid_accuracy": [0.5, 0.8, 0.9, 0.88],
        "best_epoch": 3,  # counted from 1, like the x axis
    }
    fig = report.plot_training_curves(history)
    assert len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    lines = {line.get_label(): line for line in loss_ax.get_lines()}
    np.testing.assert_allclose(lines["train loss"].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(lines["validation loss"].get_ydata(),
                               history["valid_loss"])
    best = lines["best epoch (3)"]
    assert list(best.get_xdata()) == [3, 3]
    acc_labels = [line.get_label() for line in acc_ax.get_lines()]
    assert acc_labels == ["validation accuracy", "best epoch (3)"]


def test_training_curves_train_only_and_errors():
    fig = report.plot_training_curves({"train_loss": [1.0, 0.5]})
    assert len(fig.axes) == 1
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["train loss"]
    with pytest.raises(ACTINNInputError, match="train_loss"):
        report.plot_training_curves({"valid_loss": [1.0]})
    for bad in (5, 0, [1, 2], 1.5, True):
        with pytest.raises(ACTINNInputError, match="best_epoch.*1\\.\\.1"):
            report.plot_training_curves({
                "train_loss": [1.0],
                "best_epoch": bad
            })
    # the annotator records it as a one-element list
    fig = report.plot_training_curves({
        "train_loss": [1.0, 0.5],
        "valid_loss": [],
        "best_epoch": [2]
    })
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["train loss", "best epoch (2)"]


def test_confidence_figure_threshold_line_and_order():
    fig = report.plot_confidence(PRED, CONF, threshold=0.5)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["T (n=4)", "B (n=2)", "Unassigned (n=2)"]
    dashed = [
        line for line in ax.get_lines() if line.get_label() == "threshold 0.50"
    ]
    assert len(dashed) == 1
    assert dashed[0].get_linestyle() == "--"
    assert list(dashed[0].get_xdata()) == [0.5, 0.5]
    # one point per cell, at its confidence
    points = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections])
    np.testing.assert_allclose(np.sort(points), np.sort(CONF))


def test_confidence_figure_without_threshold_has_no_line():
    fig = report.plot_confidence(PRED, CONF)
    assert not any(
        line.get_linestyle() == "--" for line in fig.axes[0].get_lines())


@pytest.mark.parametrize("conf, message", [
    ([0.5, float("nan"), 0.2], "1 value.*NaN or infinite.*positions 1"),
    ([0.5, float("inf"), 0.2], "NaN or infinite"),
    ([0.5, 1.5, -0.1], "2 value.*outside \\[0, 1\\]"),
    ([0.5, 0.2], "predicted_labels has 3, confidence has 2"),
    (["a", "b", "c"], "confidence: not numbers"),
])
def test_confidence_validation(conf, message):
    with pytest.raises(ACTINNInputError, match=message):
        report.plot_confidence(["B", "T", "T"], conf)


def test_bad_threshold():
    with pytest.raises(ACTINNInputError, match="threshold.*not in \\[0, 1\\]"):
        report.plot_confidence(["B"], [0.5], threshold=2)


def _adata_with_predictions(n=60, with_umap=True):
    anndata = pytest.importorskip("anndata")
    rng = np.random.default_rng(0)
    adata = anndata.AnnData(rng.poisson(2, size=(n, 30)).astype(np.float32))
    adata.obs["actinn_cell_type"] = rng.choice(["B", "T", "Unassigned"], size=n)
    adata.obs["actinn_confidence"] = rng.uniform(0, 1, size=n)
    if with_umap:
        adata.obsm["X_umap"] = rng.normal(size=(n, 2))
    return adata


def test_plot_umap_without_scanpy_raises_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "scanpy", None)
    with pytest.raises(ImportError, match="plot_umap needs scanpy"):
        report.plot_umap(_adata_with_predictions())


def test_plot_umap_draws_given_coordinates(monkeypatch, coloured_points):
    # The drawing itself only needs obsm["X_umap"]; stand in for scanpy.
    monkeypatch.setitem(sys.modules, "scanpy", types.ModuleType("scanpy"))
    adata = _adata_with_predictions()
    fig = report.plot_umap(adata)
    type_ax, conf_ax = fig.axes[:2]
    assert type_ax.get_title() == "Predicted cell type"
    drawn = np.concatenate([c.get_offsets() for c in type_ax.collections])
    assert len(drawn) == adata.n_obs
    legend = [t.get_text() for t in type_ax.get_legend().get_texts()]
    assert len(legend) == adata.obs["actinn_cell_type"].nunique()
    # each point carries its own cell's confidence
    np.testing.assert_allclose(
        coloured_points(conf_ax),
        coloured_points(adata.obsm["X_umap"], adata.obs["actinn_confidence"]))
    with pytest.raises(ACTINNInputError, match="no column 'missing'"):
        report.plot_umap(adata, predicted_key="missing")


def test_plot_umap_computes_embedding_with_scanpy():
    """... on a copy, leaving PyTorch's thread count as it was (scanpy's
    neighbours and UMAP set it to the cores)."""
    pytest.importorskip("scanpy", reason="scanpy not installed (optional)")
    import torch
    adata = _adata_with_predictions(n=80, with_umap=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        fig = report.plot_umap(adata)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert "X_umap" not in adata.obsm  # computed on a copy
    drawn = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
    assert drawn.shape == (80, 2) and np.isfinite(drawn).all()


def test_umap_draws_the_cells_to_review_on_top(monkeypatch):
    """The confidence panel drew the most confident cells last, over the
    least confident ones a user must review."""
    monkeypatch.setitem(sys.modules, "scanpy", types.ModuleType("scanpy"))
    adata = _adata_with_predictions()
    adata.obs["actinn_cell_type"] = ["Unassigned", "B", "T"] * 20
    adata.obs["actinn_confidence"] = np.linspace(0.99, 0.01, 60)
    conf_ax = report.plot_umap(adata).axes[1]
    drawn = np.asarray(conf_ax.collections[0].get_array())
    conf = adata.obs["actinn_confidence"].to_numpy()
    unassigned = (adata.obs["actinn_cell_type"] == "Unassigned").to_numpy()
    # the assigned cells, most confident first; then every Unassigned one
    np.testing.assert_allclose(
        drawn, np.concatenate([conf[~unassigned], conf[unassigned]]))


def test_training_curves_draw_every_network():
    """An annotator's three networks were drawn as the first one alone,
    without a word of it."""
    histories = [{
        "train_loss": [1.0, 0.5 + k / 10, 0.4],
        "valid_loss": [1.1, 0.6, 0.7 - k / 10],
        "valid_accuracy": [0.5, 0.8, 0.85],
        "best_epoch": [2 + (k > 0)],
    } for k in range(3)]
    fig = report.plot_training_curves(histories)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "Loss per epoch, each of 3 networks"
    assert acc_ax.get_title() == ("Validation accuracy per epoch, each of 3 "
                                  "networks")
    lines = {line.get_label(): line for line in loss_ax.get_lines()}
    assert list(lines) == [
        "network %d: %s" % (k, what)
        for k, best in ((1, 2), (2, 3), (3, 3))
        for what in ("train loss", "validation loss", "best epoch (%d)" % best)
    ]
    for k in range(3):
        np.testing.assert_allclose(
            lines["network %d: validation loss" % (k + 1)].get_ydata(),
            histories[k]["valid_loss"])
    legend = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert legend == list(lines)
    assert [line.get_label() for line in acc_ax.get_lines()][-2:] == [
        "network 3: validation accuracy", "network 3: best epoch (3)"
    ]
    # one network, in a list or not, is drawn as before
    for one in (histories[0], histories[:1]):
        labels = [
            line.get_label()
            for line in report.plot_training_curves(one).axes[0].get_lines()
        ]
        assert labels == ["train loss", "validation loss", "best epoch (2)"]
    with pytest.raises(ACTINNInputError, match="history\\[1\\]: needs"):
        report.plot_training_curves([histories[0], {"valid_loss": [1.0]}])


def test_training_curves_legends_cover_no_data():
    """Inside the panels the legends of three networks covered their
    best-epoch lines: each legend is now beside its panel."""
    histories = [{
        "train_loss": [1.0, 0.5, 0.4, 0.3],
        "valid_loss": [1.1, 0.6, 0.5, 0.55],
        "valid_accuracy": [0.5, 0.8, 0.85, 0.84],
        "best_epoch": [3 + (k > 0)],
    } for k in range(3)]
    for history in (histories, histories[0]):
        fig = report.plot_training_curves(history)
        fig.canvas.draw()
        for ax in fig.axes:
            legend = ax.get_legend().get_window_extent()
            panel = ax.get_window_extent()
            assert legend.x0 >= panel.x1  # right of the panel
            assert legend.x1 <= fig.bbox.x1  # and within the figure


def test_the_page_says_what_the_training_curves_show(tmp_path):
    from deepchem_actinn.cli.train import epochs_per_network
    history = {"train_loss": [1.0, 0.5], "best_epoch": [2]}
    page = report.write_report(tmp_path / "r", ["B"], [0.9],
                               history=[history, history]).read_text()
    assert ("accuracy on the validation cells, for each network the model "
            "averages; a dotted line marks the epoch whose weights a network "
            "kept.") in page
    assert epochs_per_network([history, dict(history,
                                             best_epoch=[1])]) == "2 (2), 2 (1)"


def test_umap_legend_names_a_type_starting_with_an_underscore(monkeypatch):
    """matplotlib leaves a label starting with "_" out of a legend: a type
    "_unknown" was drawn but not named."""
    monkeypatch.setitem(sys.modules, "scanpy", types.ModuleType("scanpy"))
    for n_types in (3, 30):  # the legend beside the panels, and under them
        adata = _adata_with_predictions(n=90)
        adata.obs["actinn_cell_type"] = (
            ["_unknown", "B"] +
            ["t%02d" % k for k in range(n_types)])[:n_types] * (90 // n_types)
        fig = report.plot_umap(adata)
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        texts = [t.get_text() for t in legends[0].get_texts()]
        assert len(texts) == n_types
        assert "_unknown (%d)" % (90 // n_types) in texts


def test_precision_of_a_type_never_predicted_is_undefined(tmp_path):
    """A type no cell was predicted as showed precision 0.000, as if its
    calls had all been wrong; it has none."""
    metrics = report.per_type_metrics(TRUE, PRED, type_names=TYPES)
    assert np.isnan(metrics.loc["NK", "precision"])
    assert metrics.loc["NK", "recall"] == 0.0
    fig = report.plot_per_type_metrics(metrics)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts if "n/a" in t.get_text()
           ] == ["precision n/a: never predicted"]
    bars = [p.get_width() for p in ax.patches][:3]  # precision: B, T, NK
    assert bars == [1.0, 0.5, 0.0]
    page = report.write_report(tmp_path / "r",
                               PRED,
                               CONF,
                               true_labels=TRUE,
                               type_names=TYPES).read_text()
    row = page.split("<tr><td>NK</td>", 1)[1].split("</tr>")[0]
    assert row == ('<td class="num">\u2014</td><td class="num">0.000</td>'
                   '<td class="num">0.000</td><td class="num">2</td>')
    assert ("Precision is undefined (\u2014) for a type no cell was "
            "predicted as. Macro F1 is the mean F1 over the 3 true types of "
            "these cells (a reference type none of them has is left out; a "
            "type never predicted counts 0).") in page
    table = (tmp_path / "r" / "per_type_metrics.txt").read_text()
    assert "NK\t\t0\t0\t2\n" in table


def test_per_type_f1_written_to_three_decimals():
    """An F1 of 0.997 was written 'F1 1.00', as if no cell were missed."""
    truth = ["B"] * 333 + ["T"] * 10
    pred = ["B"] * 332 + ["T"] + ["T"] * 10
    metrics = report.per_type_metrics(truth, pred)
    assert metrics.loc["B", "f1"] == pytest.approx(0.9985, abs=1e-4)
    fig = report.plot_per_type_metrics(metrics)
    assert [t.get_text() for t in fig.axes[0].texts] == ["F1 0.998", "F1 0.952"]
