"""Tests for deepchem_actinn.report: tables, figures and the HTML report."""

import base64
import logging
import os
import re
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from deepchem_actinn import report
from deepchem_actinn.errors import ACTINNInputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# A hand-made example: 8 cells, reference types B, T, NK, Mono.
# Mono is never present nor predicted; NK is never predicted correctly.
TRUE = ["B", "B", "B", "T", "T", "T", "NK", "NK"]
PRED = ["B", "B", "T", "T", "T", "Unassigned", "T", "Unassigned"]
TYPES = ["B", "T", "NK", "Mono"]
CONF = [0.9, 0.95, 0.6, 0.99, 0.8, 0.3, 0.7, 0.2]


@pytest.fixture
def demo():
    """A realistic fake run: 12 types, 600 cells, ~95 % correct."""
    rng = np.random.default_rng(7)
    names = [
        "B cell", "T cell", "NK cell", "Monocyte", "Macrophage", "Erythrocyte",
        "Granulocyte", "Dendritic cell", "Endothelial cell", "Hepatocyte",
        "Kupffer cell", "Stromal cell"
    ]
    truth = rng.choice(names, size=600)
    pred = truth.astype(object).copy()
    wrong = rng.random(600) < 0.04
    pred[wrong] = rng.choice(names, size=int(wrong.sum()))
    conf = rng.beta(10, 1.5, size=600)
    pred[conf < 0.5] = "Unassigned"
    history = {
        "train_loss": list(np.linspace(2.0, 0.1, 30)),
        "valid_loss": list(np.linspace(2.1, 0.3, 30)),
        "valid_accuracy": list(np.linspace(0.3, 0.96, 30)),
        "best_epoch": [21],
    }
    return dict(names=names, truth=truth, pred=pred, conf=conf, history=history)


def _check_png(path):
    """Assert ``path`` is a real, non-trivial PNG image."""
    image_module = pytest.importorskip("PIL.Image")
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000
    with image_module.open(path) as image:
        image.verify()
    with image_module.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] > 300 and image.size[1] > 200
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 5  # not a blank canvas


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
        np.testing.assert_allclose(metrics[column].to_numpy(), values)
    assert metrics.loc["NK", "f1"] == 0.0
    assert metrics.loc["B", "precision"] == 1.0
    assert metrics.loc["T", "precision"] == pytest.approx(2 / 4)


def test_summary_metrics():
    summary = report.summary_metrics(TRUE, PRED, TYPES)
    assert summary["accuracy"] == pytest.approx(4 / 8)
    metrics = report.per_type_metrics(TRUE, PRED, TYPES)
    assert summary["macro_f1"] == pytest.approx(metrics["f1"].mean())
    assert summary["n_cells"] == 8
    assert summary["share_unassigned"] == pytest.approx(2 / 8)
    without_truth = report.summary_metrics(None, PRED)
    assert without_truth["accuracy"] is None
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
    np.testing.assert_allclose(widths, expected)
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


def test_plot_umap_draws_given_coordinates(monkeypatch):
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
    colours = np.asarray(conf_ax.collections[0].get_array())
    np.testing.assert_allclose(np.sort(colours),
                               np.sort(adata.obs["actinn_confidence"]))
    with pytest.raises(ACTINNInputError, match="no column 'missing'"):
        report.plot_umap(adata, predicted_key="missing")


def test_plot_umap_computes_embedding_with_scanpy():
    pytest.importorskip("scanpy", reason="scanpy not installed (optional)")
    adata = _adata_with_predictions(n=80, with_umap=False)
    fig = report.plot_umap(adata)
    assert "X_umap" not in adata.obsm  # computed on a copy
    drawn = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
    assert drawn.shape == (80, 2) and np.isfinite(drawn).all()


# --------------------------------------------------------------------------
# write_report
# --------------------------------------------------------------------------


def _data_uris(page):
    return re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)


def test_write_report_files_and_html(tmp_path, demo):
    out = tmp_path / "run" / "report"
    path = report.write_report(out,
                               demo["pred"],
                               demo["conf"],
                               true_labels=demo["truth"],
                               type_names=demo["names"],
                               history=demo["history"],
                               threshold=0.5,
                               extra_info={
                                   "model version": "0.1.0",
                                   "genes matched": 1824
                               })
    assert path == out / "report.html"
    pngs = [
        "confusion_matrix.png", "per_type_metrics.png", "training_curves.png",
        "confidence.png"
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(pngs +
                                                           ["report.html"])
    for name in pngs:
        _check_png(out / name)
    page = path.read_text(encoding="utf-8")
    uris = _data_uris(page)
    assert len(uris) == len(pngs)
    embedded = {base64.b64decode(u) for u in uris}
    for name in pngs:
        assert (out / name).read_bytes() in embedded
    summary = report.summary_metrics(demo["truth"], demo["pred"])
    assert "%.1f%%" % (100 * summary["accuracy"]) in page
    assert "%.3f" % summary["macro_f1"] in page
    assert "Accuracy" in page and "Macro F1" in page
    assert ">600<" in page  # cells
    assert "<th>model version</th><td>0.1.0</td>" in page
    assert "<th>genes matched</th><td>1824</td>" in page
    for name in demo["names"]:
        assert "<td>%s</td>" % name in page  # per-type and count tables
    # no temporary directories left beside the report
    assert [p.name for p in out.parent.iterdir()] == ["report"]


def test_write_report_without_truth_or_history(tmp_path, demo, caplog):
    caplog.set_level(logging.INFO, logger="deepchem_actinn.report")
    path = report.write_report(tmp_path / "r", demo["pred"], demo["conf"])
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["confidence.png", "report.html"]
    page = path.read_text(encoding="utf-8")
    assert len(_data_uris(page)) == 1
    assert "Accuracy" not in page
    assert "Unassigned" in page
    assert "skipping confusion matrix" in caplog.text
    assert "skipping training curves" in caplog.text


def test_write_report_skips_umap_without_scanpy(tmp_path, demo, caplog,
                                                monkeypatch):
    monkeypatch.setitem(sys.modules, "scanpy", None)
    caplog.set_level(logging.INFO, logger="deepchem_actinn.report")
    adata = _adata_with_predictions(n=len(demo["pred"]))
    path = report.write_report(tmp_path / "r",
                               demo["pred"],
                               demo["conf"],
                               query=adata)
    assert not (path.parent / "umap.png").exists()
    assert "skipping UMAP" in caplog.text and "scanpy" in caplog.text


def test_write_report_with_umap(tmp_path, demo, monkeypatch):
    monkeypatch.setitem(sys.modules, "scanpy", types.ModuleType("scanpy"))
    adata = _adata_with_predictions(n=len(demo["pred"]))
    path = report.write_report(tmp_path / "r",
                               demo["pred"],
                               demo["conf"],
                               query=adata)
    _check_png(path.parent / "umap.png")
    assert len(_data_uris(path.read_text(encoding="utf-8"))) == 2


def test_write_report_escapes_user_strings(tmp_path):
    evil = "<b>T</b>"
    path = report.write_report(tmp_path / "r", ["B", evil, evil],
                               [0.9, 0.8, 0.7],
                               true_labels=["B", evil, "B"],
                               type_names=["B", evil],
                               title="Run <script>alert(1)</script>",
                               extra_info={"<i>key</i>": "a & b"})
    page = path.read_text(encoding="utf-8")
    assert evil not in page
    assert "&lt;b&gt;T&lt;/b&gt;" in page
    assert "<script>" not in page
    assert "Run &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;i&gt;key&lt;/i&gt;" in page and "a &amp; b" in page


def test_write_report_refuses_existing_report(tmp_path, demo):
    out = tmp_path / "r"
    report.write_report(out,
                        demo["pred"],
                        demo["conf"],
                        true_labels=demo["truth"])
    before = (out / "report.html").read_bytes()
    with pytest.raises(ACTINNInputError,
                       match="already holds report.html.*overwrite=True"):
        report.write_report(out, demo["pred"], demo["conf"])
    assert (out / "report.html").read_bytes() == before
    # overwrite replaces it and removes figures this run did not make
    report.write_report(out,
                        demo["pred"],
                        demo["conf"],
                        overwrite=True,
                        title="second run")
    assert "second run" in (out / "report.html").read_text(encoding="utf-8")
    assert not (out / "confusion_matrix.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_write_report_into_existing_directory_keeps_other_files(tmp_path, demo):
    out = tmp_path / "r"
    out.mkdir()
    (out / "predictions.csv").write_text("cell,type\n")
    report.write_report(out, demo["pred"], demo["conf"])
    assert (out / "predictions.csv").read_text() == "cell,type\n"
    assert (out / "report.html").exists()


def test_write_report_failure_leaves_nothing(tmp_path, demo, monkeypatch):

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(report.figures, "plot_confidence", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        report.write_report(tmp_path / "r",
                            demo["pred"],
                            demo["conf"],
                            true_labels=demo["truth"])
    assert list(tmp_path.iterdir()) == []


def test_write_report_refuses_a_file_as_out_dir(tmp_path):
    target = tmp_path / "r"
    target.write_text("x")
    with pytest.raises(ACTINNInputError, match="not a directory"):
        report.write_report(target, ["B"], [0.5])


TWO = ["B", "T"]
INVALID_REPORT_INPUTS = [
    (dict(predicted_labels=TWO,
          confidence=[0.5]), "predicted_labels has 2, confidence has 1"),
    (dict(predicted_labels=TWO, confidence=[0.5, 0.6],
          true_labels=["B"]), "true_labels has 1"),
    (dict(predicted_labels=TWO, confidence=[0.5, np.nan]), "NaN or infinite"),
    (dict(predicted_labels=TWO, confidence=[0.5, 1.2]), "outside \\[0, 1\\]"),
    (dict(predicted_labels=[], confidence=[]), "no cells"),
    (dict(predicted_labels=["B"], confidence=[0.5], threshold=-1), "threshold"),
    (dict(predicted_labels=["B"], confidence=[0.5],
          extra_info=["x"]), "extra_info: expected a dict"),
    (dict(predicted_labels="B", confidence=[0.5]), "got one string"),
]


@pytest.mark.parametrize("kwargs, message", INVALID_REPORT_INPUTS)
def test_write_report_invalid_inputs(tmp_path, kwargs, message):
    with pytest.raises(ACTINNInputError, match=message):
        report.write_report(tmp_path / "r", **kwargs)
    assert list(tmp_path.iterdir()) == []


def _chromium():
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def test_report_renders_in_headless_browser(tmp_path, demo):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not installed; cannot render the page")
    image_module = pytest.importorskip("PIL.Image")
    path = report.write_report(tmp_path / "r",
                               demo["pred"],
                               demo["conf"],
                               true_labels=demo["truth"],
                               type_names=demo["names"],
                               history=demo["history"],
                               threshold=0.5)
    shot = tmp_path / "shot.png"
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--user-data-dir=%s" % (tmp_path / "profile"),
        "--screenshot=%s" % shot, "--window-size=1200,2400",
        path.resolve().as_uri()
    ]
    try:
        subprocess.run(command,
                       stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE,
                       timeout=120,
                       check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not finish within 120 s")
    assert shot.exists(), "chromium wrote no screenshot"
    with image_module.open(shot) as image:
        assert image.size == (1200, 2400)
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 10  # text, tables and figures, not a blank page
    # the figures are rendered: dark heat-map cells appear lower down
    assert (pixels[1200:] < 100).mean() > 0.001
