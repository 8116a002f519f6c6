"""``actinn report`` shows what the prediction files say: a parent type's
summed confidence, type names read as text (``01``, ``1``, ``NA``), and every
name drawn literally and readably in the figures."""
import re
import sys
import types

import numpy as np
import pytest

from deepchem_actinn.cli import main


def _counts_row(page, name):
    """The cells and median confidence of ``name`` in the page's table of
    predicted type counts."""
    section = page.split("<h2>Predicted type counts</h2>", 1)[1]
    found = re.search(
        r'<tr><td>%s</td><td class="num">([^<]*)</td><td class="num">[^<]*'
        r'</td><td class="num">([^<]*)</td></tr>' % re.escape(name), section)
    assert found, name
    return found.group(1), found.group(2)


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_report_shows_a_parent_types_summed_confidence_with_op(tmp_path):
    """With --hierarchy, a cell given the parent T holds its children's
    summed probability (0.85); -op's largest single type (0.45) is not it."""
    folder = tmp_path / "pred"
    folder.mkdir()
    _write(folder / "predicted_label.txt", [
        "cellname\tcelltype\tconfidence\tlevel",
        "c1\tCD4 T\t0.700000\ttype",
        "c2\tT\t0.850000\tparent",
        "c3\tB\t0.900000\ttype",
    ])
    _write(folder / "predicted_probabilities.txt", [
        "\tc1\tc2\tc3",
        "CD4 T\t0.7\t0.45\t0.05",
        "CD8 T\t0.2\t0.40\t0.05",
        "B\t0.1\t0.15\t0.9",
    ])
    for name, flags in (("with_op",
                         ["-op",
                          str(folder / "predicted_probabilities.txt")]),
                        ("beside", [])):
        out = tmp_path / name
        assert main([
            "report", "-p",
            str(folder / "predicted_label.txt"), "-o",
            str(out), "-q", "--threads", "1"
        ] + flags) == 0
        page = (out / "report.html").read_text(encoding="utf-8")
        assert _counts_row(page, "T") == ("1", "0.850")
        assert _counts_row(page, "CD4 T") == ("1", "0.700")
        assert _counts_row(page, "B") == ("1", "0.900")


def test_report_of_the_vote_shows_the_voted_types_probability(
        tmp_path, voted_prediction_lines):
    """--use-as-prediction majority_voting placed each cell under its voted
    type but with the probability of its own label; with the probabilities
    beside the predictions it is the voted type's, and the page says so."""
    folder = tmp_path / "pred"
    folder.mkdir()
    _write(folder / "predicted_label.txt", voted_prediction_lines)
    probabilities = [
        "\tc1\tc2\tc3\tc4\tc5",
        "B\t0.9\t0.35\t0.2\t0.3\t0.05",
        "T\t0.1\t0.6\t0.8\t0.7\t0.95",
    ]

    def report(out):
        assert main([
            "report", "-p",
            str(folder / "predicted_label.txt"), "--use-as-prediction",
            "majority_voting", "-o",
            str(tmp_path / out), "-q", "--threads", "1"
        ]) == 0
        return (tmp_path / out / "report.html").read_text(encoding="utf-8")

    page = report("own")  # no probabilities: each cell's own, said so
    assert _counts_row(page, "B") == ("3", "0.700")
    assert ("<th>confidence</th><td>each cell&#x27;s own confidence, before "
            "the vote: the probability of the label it was given itself, not "
            "of the voted label") in page
    _write(folder / "predicted_probabilities.txt", probabilities)
    page = report("voted")
    # B: c1 0.9, c2 0.35, c4 0.3; T: c3 0.8; Unassigned: c5 its own 0.95
    assert _counts_row(page, "B") == ("3", "0.350")
    assert _counts_row(page, "T") == ("1", "0.800")
    assert _counts_row(page, "Unassigned") == ("1", "0.950")
    assert ("<th>confidence</th><td>each cell&#x27;s probability of its voted "
            "type, from %s (a cell voted Unassigned or its own label keeps "
            "its own confidence)</td>" %
            (folder / "predicted_probabilities.txt")) in page


def test_report_says_every_cell_is_unassigned(tmp_path, capsys):
    """With every cell Unassigned the report asked whether the true labels
    were this query's; it compares them with the types given, and says
    when there are none."""
    predictions, labels = tmp_path / "predicted_label.txt", tmp_path / "l.txt"
    _write(labels, ["c1\tB cell", "c2\tT cell", "c3\tB cell"])

    def warnings(*types):
        _write(predictions, ["cellname\tcelltype\tconfidence"] +
               ["c%d\t%s\t0.5" % (k + 1, t) for k, t in enumerate(types)])
        out = tmp_path / ("r%d" % len(list(tmp_path.iterdir())))
        assert main([
            "report", "-p",
            str(predictions), "-l",
            str(labels), "-o",
            str(out), "--threads", "1"
        ]) == 0
        return [
            line for line in capsys.readouterr().err.splitlines()
            if "counts as wrong" in line
        ]

    assert warnings("Unassigned", "Unassigned", "Unassigned") == [
        "actinn: %s: every cell is Unassigned, so every cell counts as wrong "
        "against %s" % (predictions, labels)
    ]
    said = warnings("b cell", "Unassigned", "Unassigned")
    assert len(said) == 1 and (
        "none of its 2 types is among the predicted "
        "ones (its: B cell, T cell; predicted: b cell)") in said[0]
    assert warnings("B cell", "Unassigned", "Unassigned") == []


def test_report_reads_numeric_looking_type_names_as_text(tmp_path, capsys):
    """Types "1" and "01" stay two types and a type "NA" stays "NA" in
    predict -op's probabilities (the original ACTINN's two-column
    predictions take their confidence from it)."""
    folder = tmp_path / "pred"
    folder.mkdir()
    _write(folder / "predicted_label.txt", [
        "cellname\tcelltype",
        "c1\t1",
        "c2\t01",
        "c3\tNA",
        "NA\t1",
    ])
    _write(folder / "predicted_probabilities.txt", [
        "\tc1\tc2\tc3\tNA",
        "01\t0.2\t0.6\t0.1\t0.3",
        "1\t0.7\t0.3\t0.2\t0.55",
        "NA\t0.1\t0.1\t0.7\t0.15",
    ])
    out = tmp_path / "report"
    assert main([
        "report", "-p",
        str(folder / "predicted_label.txt"), "-op",
        str(folder / "predicted_probabilities.txt"), "-o",
        str(out), "-q", "--threads", "1"
    ]) == 0, capsys.readouterr().err
    page = (out / "report.html").read_text(encoding="utf-8")
    assert _counts_row(page, "1") == ("2", "0.625")
    assert _counts_row(page, "01") == ("1", "0.600")
    assert _counts_row(page, "NA") == ("1", "0.700")


def test_report_names_the_predicted_cells_the_probabilities_lack(
        tmp_path, capsys):
    """A -pr file without some of the predicted cells is refused naming a
    few of them, in the predictions' order, not only counting them."""
    _write(tmp_path / "pred.txt", [
        "cellname\tcelltype",
        "c4\tB",
        "c1\tT",
        "c3\tB",
        "c2\tT",
    ])
    _write(tmp_path / "probs.txt", [
        "\tc1\tc3",
        "B\t0.9\t0.8",
        "T\t0.1\t0.2",
    ])
    assert main([
        "report", "-p",
        str(tmp_path / "pred.txt"), "-pr",
        str(tmp_path / "probs.txt"), "-o",
        str(tmp_path / "out"), "-q", "--threads", "1"
    ]) == 2
    err = capsys.readouterr().err
    assert ("%s lacks 2 of the 4 predicted cells, e.g. c4, c2 (expected: "
            "types as rows, cells as columns, as predict -op writes)" %
            (tmp_path / "probs.txt")) in err


# --------------------------------------------------------------------------
# names in the figures: drawn literally, shortened, readable at atlas scale
# --------------------------------------------------------------------------

MATH_NAMES = ["Th17 $\\badcommand{x}$ cell", "Th17 $\\gamma$ cell", "B cell"]
LONG_NAME = "L" + "ong " * 70 + "cell"  # 285 characters


def _drawn_texts(fig):
    """Every tick label and legend entry of a figure, as matplotlib has it."""
    texts = []
    for ax in fig.axes:
        texts += [t.get_text() for t in ax.get_yticklabels()]
        texts += [t.get_text() for t in ax.get_xticklabels()]
        if ax.get_legend() is not None:
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
    return texts


def _names_figures(names, n_cells=120, seed=0):
    from deepchem_actinn import report
    rng = np.random.default_rng(seed)
    truth = rng.choice(names, size=n_cells).astype(object)
    pred = truth.copy()
    pred[::7] = names[0]
    conf = rng.uniform(size=n_cells)
    return {
        "confusion":
            report.plot_confusion_matrix(report.confusion_table(truth, pred)),
        "per type":
            report.plot_per_type_metrics(report.per_type_metrics(truth, pred)),
        "confidence":
            report.plot_confidence(pred, conf, 0.3),
    }


def test_figures_draw_names_holding_dollars_literally():
    """'$...$' in a type name was drawn as mathtext: invalid math crashed
    the report, valid math drew another name."""
    from matplotlib.cbook import is_math_text

    from deepchem_actinn.report._canvas import png_bytes
    for what, fig in _names_figures(MATH_NAMES).items():
        png_bytes(fig)  # draws every text
        drawn = [t for t in _drawn_texts(fig) if "Th17" in t]
        assert len(drawn) == (4 if what == "confusion" else 2), what
        for text in drawn:
            assert not is_math_text(text), (what, text)
            # matplotlib draws an escaped "\$" as "$": the name itself
            shown = text.replace("\\$", "$").split(" (n=")[0]
            assert shown in MATH_NAMES[:2], (what, text)


def test_write_report_with_a_name_that_is_invalid_mathtext(tmp_path):
    from deepchem_actinn import report
    path = report.write_report(tmp_path / "r",
                               MATH_NAMES, [0.9, 0.8, 0.7],
                               true_labels=MATH_NAMES)
    page = path.read_text(encoding="utf-8")
    assert "<tr><td>Th17 $\\badcommand{x}$ cell</td>" in page
    assert sorted(p.name for p in path.parent.glob("*.png")) == [
        "confidence.png", "confusion_matrix.png", "per_type_metrics.png"
    ]


def test_figures_shorten_long_names_in_the_middle(tmp_path, recwarn):
    """A 285-character name shrank the plots to a sliver ('constrained_layout
    not applied'); figures show it at 40 characters, the page in full."""
    from deepchem_actinn.report._canvas import png_bytes
    names = ["B cell", LONG_NAME]
    short = "Long ong ong ong ong\u2026ng ong ong ong cell"
    assert len(short) == 40
    for what, fig in _names_figures(names).items():
        png_bytes(fig)
        drawn = [t for t in _drawn_texts(fig) if t.startswith("Long")]
        assert drawn and all(t.split(" (n=")[0] == short for t in drawn)
        plot = fig.axes[0].get_position()
        assert plot.width > 0.3 and plot.height > 0.3, (what, plot)
        renderer = fig.canvas.get_renderer()
        for label in (fig.axes[0].get_yticklabels() +
                      fig.axes[0].get_xticklabels()):
            box = label.get_window_extent(renderer)
            assert box.x0 >= 0 and box.y0 >= 0, (what, label, box)
    assert not [w for w in recwarn if "constrained_layout" in str(w.message)]
    from deepchem_actinn import report
    path = report.write_report(tmp_path / "r", names, [0.9, 0.8])
    assert ("<tr><td>%s</td>" % LONG_NAME) in path.read_text(encoding="utf-8")


def test_long_names_that_differ_in_the_middle_stay_apart(monkeypatch):
    """Two long names that differ only in the middle were shortened to one
    label: the confusion matrix, legend and bars showed one type twice."""
    from deepchem_actinn import report
    cd4 = "mature alpha-beta T cell, CD4-positive, of the lung"
    cd8 = "mature alpha-beta T cell, CD8-positive, of the lung"
    shown = {
        cd4: "mature alpha-beta T \u2026 CD4-positive, of the lung",
        cd8: "mature alpha-beta T \u2026 CD8-positive, of the lung"
    }
    figures = _names_figures([cd4, cd8, "B cell"])
    anndata = pytest.importorskip("anndata")
    monkeypatch.setitem(sys.modules, "scanpy", types.ModuleType("scanpy"))
    adata = anndata.AnnData(np.zeros((6, 2), dtype=np.float32))
    adata.obs["actinn_cell_type"] = [cd4, cd8, "B cell"] * 2
    adata.obs["actinn_confidence"] = 0.9
    adata.obsm["X_umap"] = np.arange(12.0).reshape(6, 2)
    figures["umap"] = report.plot_umap(adata)
    for what, fig in figures.items():
        texts = [t.split(" (")[0] for t in _drawn_texts(fig)]
        mature = sorted(t for t in texts if t.startswith("mature"))
        twice = 2 if what == "confusion" else 1  # its rows and columns
        assert mature == [shown[cd4]] * twice + [shown[cd8]] * twice, what


def test_per_type_metrics_has_no_empty_band():
    names = ["type %02d" % k for k in range(90)]
    figure = _names_figures(names, n_cells=900)["per type"]
    assert figure.axes[0].get_ylim() == (89.5, -0.5)


def test_missing_glyphs_draw_without_warnings(recwarn):
    """A CJK or emoji name printed two lines of UserWarning per character."""
    from deepchem_actinn.report._canvas import png_bytes
    for fig in _names_figures(
        ["\u7ec6\u80de type A", "\U0001f9a0 infected cell"]).values():
        png_bytes(fig)
    assert [str(w.message) for w in recwarn] == []


def test_umap_colours_are_distinct_for_an_atlas():
    """tab20 repeated its colours from the 21st type on."""
    from matplotlib.colors import to_hex

    from deepchem_actinn.report._canvas import UNASSIGNED_COLOUR
    from deepchem_actinn.report.umap import _type_colours
    for n in (5, 12, 54, 90):
        names = ["type %d" % k for k in range(n)] + ["Unassigned"]
        colours = {k: to_hex(c) for k, c in _type_colours(names).items()}
        assert colours["Unassigned"] == UNASSIGNED_COLOUR
        assert len(set(colours.values())) == n + 1, n


def test_umap_colours_of_neighbouring_types_differ_in_hue():
    """tab20 in order gave the commonest types pairs of one hue (blue and
    light blue, green and light green, brown and rosy brown)."""
    import colorsys

    from matplotlib.colors import to_rgb

    from deepchem_actinn.report.umap import _type_colours

    def hue_and_chroma(colour):
        rgb = to_rgb(colour)
        return colorsys.rgb_to_hsv(*rgb)[0], max(rgb) - min(rgb)

    for n in (12, 20, 60):
        names = ["type %d" % k for k in range(n)]  # most common first
        colours = [hue_and_chroma(_type_colours(names)[t]) for t in names]
        for k, ((h1, s1), (h2, s2)) in enumerate(zip(colours, colours[1:])):
            apart = min(abs(h1 - h2), 1 - abs(h1 - h2))
            assert apart > 0.1, (n, k)
        # none greyish, as Unassigned is
        assert min(c for _, c in colours) > 0.1, n


def _umap(n_types, monkeypatch):
    from deepchem_actinn import report
    anndata = pytest.importorskip("anndata")
    # the drawing needs only obsm["X_umap"]; stand in for scanpy
    monkeypatch.setitem(sys.modules, "scanpy", types.ModuleType("scanpy"))
    rng = np.random.default_rng(0)
    names = ["type %02d %s" % (k, "x" * (k % 30)) for k in range(n_types)]
    pred = np.array(names + list(rng.choice(names, size=400)) +
                    ["Unassigned"] * 500,
                    dtype=object)
    adata = anndata.AnnData(np.zeros((len(pred), 2), dtype=np.float32))
    adata.obs["actinn_cell_type"] = pred
    adata.obs["actinn_confidence"] = rng.uniform(size=len(pred))
    adata.obsm["X_umap"] = rng.normal(size=(len(pred), 2))
    return report.plot_umap(adata), pred


@pytest.mark.parametrize("n_types", [12, 90])
def test_umap_legend_fits_the_figure(n_types, monkeypatch, recwarn):
    """With 90 types the legend ran off the image, over the confidence
    panel, the commonest types (Unassigned) cut off."""
    from deepchem_actinn.report._canvas import png_bytes
    fig, pred = _umap(n_types, monkeypatch)
    png_bytes(fig)
    type_ax, conf_ax = fig.axes[:2]
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert len(legends) == 1
    texts = [t.get_text() for t in legends[0].get_texts()]
    assert texts[0] == "Unassigned (500)"
    assert len(texts) == n_types + 1
    renderer = fig.canvas.get_renderer()
    box = legends[0].get_window_extent(renderer)
    whole = fig.bbox
    assert (box.x0 >= whole.x0 and box.y0 >= whole.y0 and box.x1 <= whole.x1 and
            box.y1 <= whole.y1), (box, whole)
    for ax in (type_ax, conf_ax):
        assert not box.overlaps(ax.get_window_extent(renderer))
    assert not [w for w in recwarn if "constrained_layout" in str(w.message)]


def _umap_of_many_types(monkeypatch, n_types):
    """The UMAP figure and note of two cells of each of ``n_types`` types
    and one Unassigned cell, at random coordinates (no scanpy needed)."""
    from deepchem_actinn.report.umap import umap_figure
    anndata = pytest.importorskip("anndata")
    monkeypatch.setitem(sys.modules, "scanpy", types.ModuleType("scanpy"))
    names = np.array(["type %03d" % k for k in range(n_types)] * 2 +
                     ["Unassigned"],
                     dtype=object)
    adata = anndata.AnnData(np.zeros((len(names), 2), dtype=np.float32))
    adata.obsm["X_umap"] = np.random.default_rng(0).normal(size=(len(names), 2))
    return umap_figure(adata, names, np.full(len(names), 0.5))


def test_umap_beyond_200_types_names_them_on_the_plot(monkeypatch):
    fig, note = _umap_of_many_types(monkeypatch, 205)
    assert note == ("The 205 types are too many for a legend: each name is "
                    "written at the centre of its cells.")
    assert not any(ax.get_legend() for ax in fig.axes)
    drawn = sorted(t.get_text() for t in fig.axes[0].texts)
    assert drawn == ["type %03d" % k for k in range(205)]


def test_wide_figures_link_to_their_full_size_file(tmp_path):
    """A 90-type confusion matrix (~5000 px) was shown at page width with
    no way to the full-size file."""
    from deepchem_actinn import report
    names = ["type %02d" % k for k in range(30)]
    truth = np.array(names * 3, dtype=object)
    path = report.write_report(tmp_path / "r",
                               truth,
                               np.full(90, 0.9),
                               true_labels=truth)
    page = path.read_text(encoding="utf-8")
    assert ('<figure id="confusion_matrix">\n<h3>Confusion matrix</h3>\n'
            '<a href="confusion_matrix.png"><img alt="Confusion matrix" '
            'src="data:image/png;base64,') in page
    assert ("correct calls. Shown reduced: click it for confusion_matrix.png "
            "at full size (the file beside this page).</figcaption>") in page
    # a figure that fits the page says nothing of the kind
    assert page.count("Shown reduced") == 1


def test_umap_of_200_types_and_unassigned_notes_its_centre_labels(monkeypatch):
    # 200 types and Unassigned are 201 labels: drawn at their centres, and
    # the caption said nothing of it (it counted the types alone)
    fig, note = _umap_of_many_types(monkeypatch, 200)
    assert not any(ax.get_legend() for ax in fig.axes)
    assert note == ("The 200 types are too many for a legend: each name is "
                    "written at the centre of its cells.")
