"""Tests for deepchem_actinn.report.write_report: the files, the page, the
UMAP it draws from the query, and its output safety (whole or nothing,
never clobbering)."""

import base64
import html
import logging
import os
import re
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from deepchem_actinn import report
from deepchem_actinn.errors import ACTINNInputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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
    tables = ["summary.txt", "per_type_metrics.txt"]
    assert sorted(p.name for p in out.iterdir()) == sorted(pngs + tables +
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
    # with Unassigned cells, the page says how they count
    assert summary["share_unassigned"] > 0
    assert ('<div class="value">%.1f%%</div><div class="label">Accuracy '
            '(Unassigned counted wrong)</div>' %
            (100 * summary["accuracy"])) in page
    assert ('<div class="value">%.1f%%</div><div class="label">Accuracy of '
            'the cells not Unassigned</div>' %
            (100 * summary["assigned_accuracy"])) in page
    assert ("Cells whose confidence is below the threshold (0.50) are "
            "Unassigned; an Unassigned cell&#x27;s confidence is the "
            "probability") in page
    assert ">600<" in page  # cells
    assert "<th>model version</th><td>0.1.0</td>" in page
    assert "<th>genes matched</th><td>1,824</td>" in page
    for name in demo["names"]:
        assert "<td>%s</td>" % name in page  # per-type and count tables
    # no temporary directories left beside the report
    assert [p.name for p in out.parent.iterdir()] == ["report"]


def test_write_report_without_truth_or_history(tmp_path, demo, caplog):
    caplog.set_level(logging.INFO, logger="deepchem_actinn.report")
    path = report.write_report(tmp_path / "r", demo["pred"], demo["conf"])
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["confidence.png", "report.html", "summary.txt"]
    page = path.read_text(encoding="utf-8")
    assert len(_data_uris(page)) == 1
    assert "Accuracy" not in page
    assert "Unassigned" in page
    assert "skipping confusion matrix" in caplog.text
    assert "skipping training curves" in caplog.text


def _query(n, n_genes=40, with_umap=False, seed=0):
    """Counts of ``n`` cells with a little structure, as an AnnData."""
    anndata = pytest.importorskip("anndata")
    rng = np.random.default_rng(seed)
    means = rng.gamma(1.0, 2.0, size=(4, n_genes))
    counts = rng.poisson(means[rng.integers(0, 4, size=n)])
    adata = anndata.AnnData(counts.astype(np.float32))
    if with_umap:
        adata.obsm["X_umap"] = rng.normal(size=(n, 2))
    return adata


def _note(page):
    return re.findall(r'<p class="note">([^<]*)</p>', page)


def test_write_report_draws_umap_from_a_counts_matrix(tmp_path, demo):
    pytest.importorskip("scanpy", reason="scanpy not installed (optional)")
    sparse = pytest.importorskip("scipy.sparse")
    counts = sparse.csr_matrix(_query(len(demo["pred"])).X)
    path = report.write_report(tmp_path / "r",
                               demo["pred"],
                               demo["conf"],
                               query=counts)
    _check_png(path.parent / "umap.png")
    page = path.read_text(encoding="utf-8")
    embedded = {base64.b64decode(u) for u in _data_uris(page)}
    assert (path.parent / "umap.png").read_bytes() in embedded
    assert len(embedded) == 2
    assert '<figure id="umap">' in page
    assert _note(page) == []


def test_the_umap_is_drawn_from_the_counts_as_the_annotator_takes_them(caplog):
    # X log-normalised, the counts in a layer: the UMAP of the counts, not of
    # X logged twice; X scaled with no counts beside it: refused, one line
    pytest.importorskip("scanpy", reason="scanpy not installed (optional)")
    from deepchem_actinn.report.umap import (_import_scanpy, _umap_coordinates)
    sc = _import_scanpy()
    counts = _query(60)
    logged = counts.copy()
    logged.layers["counts"] = counts.X.copy()
    logged.X = np.log1p(counts.X)
    caplog.set_level("INFO")
    np.testing.assert_array_equal(_umap_coordinates(logged, sc),
                                  _umap_coordinates(counts, sc))
    assert "the UMAP drawn from the query's layers['counts']" in caplog.text
    scaled = counts.copy()
    scaled.X = counts.X - counts.X.mean(axis=0)
    with pytest.raises(ACTINNInputError, match="query: X holds .* negative"):
        _umap_coordinates(scaled, sc)
    # the report is written all the same, saying why there is no UMAP
    predicted = np.array(["a", "b"] * 30)
    from deepchem_actinn.report.umap import umap_figure
    figure, note = umap_figure(scaled, predicted, np.full(60, 0.9))
    assert figure is None
    assert note.startswith("no raw counts to compute it from (query: X holds")


def test_write_report_says_why_no_umap(tmp_path, demo, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="deepchem_actinn.report")
    path = report.write_report(tmp_path / "a", demo["pred"], demo["conf"])
    page = path.read_text(encoding="utf-8")
    assert _note(page) == [
        "UMAP not drawn: no query expression matrix was given."
    ]
    assert '<figure id="umap">' not in page
    assert "skipping UMAP: no query" in caplog.text

    tiny = report.write_report(tmp_path / "b", ["B", "T", "T"], [0.9, 0.8, 0.7],
                               query=_query(3, n_genes=30))
    assert _note(tiny.read_text(encoding="utf-8")) == [
        "UMAP not drawn: it needs at least 4 cells and 3 genes; the query "
        "has 3 x 30."
    ]

    monkeypatch.setitem(sys.modules, "scanpy", None)
    path = report.write_report(tmp_path / "c",
                               demo["pred"],
                               demo["conf"],
                               query=_query(len(demo["pred"])))
    assert not (path.parent / "umap.png").exists()
    assert _note(html.unescape(path.read_text(encoding="utf-8"))) == [
        "UMAP not drawn: scanpy is not installed (install the report extra: "
        "pip install \"deepchem-actinn[report]\" (from a clone: pip install "
        "\".[report]\"))."
    ]
    assert "skipping UMAP" in caplog.text and "scanpy" in caplog.text


def test_write_report_with_umap_coordinates(tmp_path, demo, monkeypatch):
    # The drawing only needs obsm["X_umap"]; stand in for scanpy.
    monkeypatch.setitem(sys.modules, "scanpy", types.ModuleType("scanpy"))
    adata = _query(len(demo["pred"]), with_umap=True)
    path = report.write_report(tmp_path / "r",
                               demo["pred"],
                               demo["conf"],
                               query=adata)
    _check_png(path.parent / "umap.png")
    assert len(_data_uris(path.read_text(encoding="utf-8"))) == 2


def test_umap_figure_draws_the_predictions_and_subsamples(
        monkeypatch, coloured_points):
    from deepchem_actinn.report.umap import umap_figure
    monkeypatch.setitem(sys.modules, "scanpy", types.ModuleType("scanpy"))
    adata = _query(200, with_umap=True)
    rng = np.random.default_rng(1)
    pred = rng.choice(["B", "T", "Unassigned"], size=200).astype(object)
    conf = rng.uniform(size=200)
    fig, note = umap_figure(adata, pred, conf)
    assert note == ""
    type_ax, conf_ax = fig.axes[:2]
    for name in ("B", "T", "Unassigned"):
        drawn = [
            c.get_offsets()
            for c in type_ax.collections
            if c.get_label().startswith(name + " ")
        ]
        np.testing.assert_array_equal(drawn[0],
                                      adata.obsm["X_umap"][pred == name])
    fig, note = umap_figure(adata, pred, conf, max_cells=50)
    assert note == "Drawn for 50 of 200 cells, chosen at random."
    rows = np.sort(np.random.default_rng(0).choice(200, 50, replace=False))
    np.testing.assert_allclose(
        coloured_points(fig.axes[1]),
        coloured_points(adata.obsm["X_umap"][rows], conf[rows]))


@pytest.mark.parametrize("query, message", [
    (np.ones((5, 3)), "query has 5 cells but predicted_labels has 2"),
    ([[1, 2], [3, 4]], "expected an AnnData or a cells x genes matrix, "
     "got list"),
    (np.ones(2), "expected a cells x genes matrix, got 1 dimension"),
])
def test_write_report_refuses_a_bad_query(tmp_path, query, message):
    with pytest.raises(ACTINNInputError, match=message):
        report.write_report(tmp_path / "r", ["B", "T"], [0.5, 0.6], query=query)
    assert list(tmp_path.iterdir()) == []


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


def _listing(directory):
    """Every entry under ``directory`` (hidden ones too) with its bytes."""
    return {
        str(p.relative_to(directory)): p.read_bytes() if p.is_file() else None
        for p in sorted(directory.rglob("*"))
    }


@pytest.fixture
def prediction_dir(tmp_path, demo):
    """A predict output directory that already holds a full report."""
    out = tmp_path / "predictions"
    out.mkdir()
    (out / "predicted_label.txt").write_text("cellname\tcelltype\n")
    report.write_report(out,
                        demo["pred"],
                        demo["conf"],
                        true_labels=demo["truth"],
                        history=demo["history"])
    return out


def test_write_report_overwrite_in_a_prediction_dir(prediction_dir, demo):
    report.write_report(prediction_dir,
                        demo["pred"],
                        demo["conf"],
                        overwrite=True,
                        title="second run")
    assert sorted(p.name for p in prediction_dir.iterdir()) == [
        "confidence.png", "predicted_label.txt", "report.html", "summary.txt"
    ]
    text = (prediction_dir / "predicted_label.txt").read_text()
    assert text == "cellname\tcelltype\n"
    page = (prediction_dir / "report.html").read_text(encoding="utf-8")
    assert "second run" in page


def test_write_report_refuses_a_stray_report_figure(tmp_path, demo):
    out = tmp_path / "r"
    out.mkdir()
    (out / "umap.png").write_bytes(b"mine")
    with pytest.raises(ACTINNInputError,
                       match="r: already holds umap.png; pass overwrite=True"):
        report.write_report(out, demo["pred"], demo["conf"])
    assert _listing(out) == {"umap.png": b"mine"}


def test_write_report_failure_keeps_the_previous_report(prediction_dir, demo,
                                                        monkeypatch):
    before = _listing(prediction_dir)

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(report.figures, "plot_confidence", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        report.write_report(prediction_dir,
                            demo["pred"],
                            demo["conf"],
                            overwrite=True)
    assert _listing(prediction_dir) == before


def test_write_report_puts_old_files_back_when_a_move_fails(
        prediction_dir, demo, monkeypatch):
    from deepchem_actinn.io import output as _output
    before = _listing(prediction_dir)
    replace = os.replace
    moved = []

    def flaky(src, dst):
        # fail on the second new file moved in, after old ones moved aside
        if ".tmp-" in str(src):
            moved.append(dst)
            if len(moved) == 2:
                raise OSError("disk full")
        replace(src, dst)

    monkeypatch.setattr(_output.os, "replace", flaky)
    with pytest.raises(OSError, match="disk full"):
        report.write_report(prediction_dir,
                            demo["pred"],
                            demo["conf"],
                            true_labels=demo["truth"],
                            overwrite=True,
                            title="second run")
    assert _listing(prediction_dir) == before


def test_write_report_failure_removes_the_parents_it_made(
        tmp_path, demo, monkeypatch):

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    (tmp_path / "a").mkdir()
    monkeypatch.setattr(report.figures, "plot_confidence", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        report.write_report(tmp_path / "a" / "b" / "c" / "r", demo["pred"],
                            demo["conf"])
    assert _listing(tmp_path) == {"a": None}


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


def test_parent_levels_are_listed_on_the_page(tmp_path):
    predicted = np.array(["T cell", "lymphocyte", "lymphocyte", "B cell"])
    levels = np.array(["type", "parent", "parent", "type"])
    page = report.write_report(tmp_path / "r",
                               predicted, [0.9, 0.8, 0.7, 0.95],
                               levels=levels).read_text()
    assert "Labels by level" in page
    assert ('<p class="note">2 of 4 cells (50.0%) are labelled with a parent '
            'type.</p>\n<p class="explain">A cell is given a parent type where '
            'its two most probable types are within 0.2 of each other and have '
            'a common ancestor in the hierarchy: the nearest one above both '
            '(for two siblings their parent; for types further apart a '
            'grandparent or higher), with the summed probability of the '
            'reference types under it as its confidence.</p>') in page
    # with true labels, how a parent type is scored
    page = report.write_report(
        tmp_path / "t",
        predicted, [0.9, 0.8, 0.7, 0.95],
        true_labels=["T cell", "T cell", "NK cell", "B cell"],
        levels=levels).read_text()
    assert ("confidence. In accuracy, F1 and the confusion matrix a parent "
            "type is scored as a label of its own: a cell given one counts as "
            "wrong against its true type, even where the parent holds it.</p>"
           ) in page
    with pytest.raises(ACTINNInputError, match="levels has 2"):
        report.write_report(tmp_path / "s",
                            predicted, [0.9, 0.8, 0.7, 0.95],
                            levels=levels[:2])


def test_parent_types_are_marked_in_the_figures(tmp_path, monkeypatch):
    """A parent type given by a hierarchy was drawn like a type of its
    own; its name is marked [parent] and each figure's caption says so."""
    anndata = pytest.importorskip("anndata")
    monkeypatch.setitem(sys.modules, "scanpy", types.ModuleType("scanpy"))
    figures = {}

    def kept(fig):
        figures[len(figures)] = fig
        return png_bytes(fig)

    from deepchem_actinn.report import write
    png_bytes = write.png_bytes
    monkeypatch.setattr(write, "png_bytes", kept)
    predicted = np.array(["T cell", "lymphocyte", "lymphocyte", "B cell"] * 3)
    levels = np.array(["type", "parent", "parent", "type"] * 3)
    query = anndata.AnnData(np.zeros((12, 2), dtype=np.float32))
    query.obsm["X_umap"] = np.arange(24.0).reshape(12, 2)
    page = report.write_report(
        tmp_path / "r",
        predicted,
        np.full(12, 0.9),
        true_labels=["T cell", "T cell", "NK cell", "B cell"] * 3,
        levels=levels,
        query=query).read_text()
    confusion, _, confidence, umap = figures.values()
    columns = [t.get_text() for t in confusion.axes[0].get_xticklabels()]
    assert columns == ["B cell", "NK cell", "T cell", "lymphocyte [parent]"]
    rows = [t.get_text() for t in confusion.axes[0].get_yticklabels()]
    assert rows == ["B cell", "NK cell", "T cell"]
    assert [t.get_text() for t in confidence.axes[0].get_yticklabels()
           ] == ["lymphocyte [parent] (n=6)", "B cell (n=3)", "T cell (n=3)"]
    assert [t.get_text() for t in umap.axes[0].get_legend().get_texts()
           ] == ["lymphocyte [parent] (6)", "B cell (3)", "T cell (3)"]
    assert page.count("A name marked [parent] is a parent type of the type "
                      "hierarchy, given where the fine type was "
                      "uncertain.") == 3


def test_the_unassigned_note_follows_the_rule_the_report_knows(tmp_path):
    """With a threshold the page explained Unassigned cells by the novelty
    rule; without one it said the novelty rule marked them, which the
    report cannot know from the labels alone: it names both tests and the
    column that says which marked each cell."""
    predicted = ["B", "Unassigned", "T", "Unassigned"]
    conf = [0.9, 0.3, 0.8, 0.4]
    page = report.write_report(tmp_path / "t", predicted, conf,
                               threshold=0.5).read_text()
    assert (
        '<p class="explain">Cells whose confidence is below the threshold '
        '(0.50) are Unassigned; an Unassigned cell&#x27;s confidence is the '
        'probability of the type it would have been given.</p>') in page
    assert "novelty rule" not in page
    page = report.write_report(tmp_path / "u", predicted, conf).read_text()
    assert (
        "predict&#x27;s unassigned_reason column says which test marked "
        "it: novel, the novelty rule (predict --unassigned), which judges "
        "a cell unlike every reference type apart from its "
        "probabilities, so it may be Unassigned at a high confidence; or "
        "low_probability, a label held under the rule&#x27;s least "
        "probability, or under a threshold (predict --threshold).</p>") in page
    page = report.write_report(tmp_path / "v", ["B", "T"],
                               [0.9, 0.8]).read_text()
    assert "Unassigned cell" not in page


def test_the_unassigned_card_only_where_cells_could_be_unassigned(tmp_path):
    """actinn demo, which marks no cell Unassigned, showed 'Unassigned
    0.0%' as if a rule had found none."""
    card = '<div class="value">%s</div><div class="label">Unassigned</div>'
    page = report.write_report(tmp_path / "a", ["B", "T"],
                               [0.9, 0.8]).read_text()
    assert '<div class="label">Unassigned</div>' not in page
    page = report.write_report(tmp_path / "b", ["B", "T"], [0.9, 0.8],
                               threshold=0.5).read_text()
    assert card % "0.0%" in page  # the threshold marked none
    page = report.write_report(tmp_path / "c", ["B", "Unassigned"],
                               [0.9, 0.8]).read_text()
    assert card % "50.0%" in page


def test_the_page_and_figures_write_thousands_alike(tmp_path, monkeypatch):
    """The run information wrote '1921' beside the cards' '1,000'."""
    figures = {}
    from deepchem_actinn.report import write
    png_bytes = write.png_bytes

    def kept(fig):
        figures[len(figures)] = fig
        return png_bytes(fig)

    monkeypatch.setattr(write, "png_bytes", kept)
    pred = np.array(["B"] * 1500 + ["T"] * 20, dtype=object)
    page = report.write_report(tmp_path / "r",
                               pred,
                               np.full(1520, 0.9),
                               true_labels=pred,
                               extra_info={
                                   "genes used": 1921,
                                   "flag": True,
                                   "year": "2024"
                               }).read_text()
    assert "<th>genes used</th><td>1,921</td>" in page
    assert "<th>flag</th><td>True</td>" in page  # not a number
    assert "<th>year</th><td>2024</td>" in page  # text stays as given
    assert '<div class="value">1,520</div><div class="label">Cells</div>' in page
    confusion, metrics, confidence = figures.values()
    assert [t.get_text() for t in confidence.axes[0].get_yticklabels()
           ] == ["B (n=1,500)", "T (n=20)"]
    assert [t.get_text() for t in metrics.axes[0].get_yticklabels()
           ] == ["B (n=1,500)", "T (n=20)"]
    counts = report.plot_confusion_matrix(report.confusion_table(pred, pred),
                                          normalise=False)
    assert sorted(t.get_text() for t in counts.axes[0].texts) == ["1,500", "20"]


def test_the_page_links_the_tables_beside_it(tmp_path):
    """summary.txt and per_type_metrics.txt sat beside the page unnamed."""
    page = report.write_report(tmp_path / "a", ["B", "T"], [0.9, 0.8],
                               true_labels=["B", "B"]).read_text()
    assert (
        '<p class="note">The numbers as tab-separated tables, beside this '
        'page: <a href="summary.txt">summary.txt</a>, '
        '<a href="per_type_metrics.txt">per_type_metrics.txt</a>.</p>') in page
    page = report.write_report(tmp_path / "b", ["B", "T"],
                               [0.9, 0.8]).read_text()
    assert ('page: <a href="summary.txt">summary.txt</a>.</p>') in page
    assert sorted(
        p.name for p in (tmp_path / "b").glob("*.txt")) == ["summary.txt"]
