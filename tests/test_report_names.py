"""``actinn report`` shows what the prediction files say: a parent type's
summed confidence, type names read as text (``01``, ``1``, ``NA``), and every
name drawn literally and readably in the figures."""
import re

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
