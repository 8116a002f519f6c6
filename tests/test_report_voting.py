"""``actinn report`` of predictions made with ``--majority-voting``: the page
says what the vote changed and shows ``clusters.txt``, whichever labels it
reports."""
import re

from deepchem_actinn.cli import main


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _section(page):
    """The page's majority-voting section (up to the next heading h2)."""
    assert "<h2>Majority voting</h2>" in page
    return page.split("<h2>Majority voting</h2>", 1)[1].split("<h2>", 1)[0]


def _row(section, name):
    """The numbers of the row whose first cell is ``name``."""
    found = re.search(
        r"<tr><td>%s</td>((?:<td class=\"num\">[^<]*</td>)+)"
        r"</tr>" % re.escape(name), section)
    assert found, name
    return re.findall(r'<td class="num">([^<]*)</td>', found.group(1))


def _predictions(tmp_path, lines, clusters=True):
    """The five cells of ``lines`` (the voted_prediction_lines fixture),
    their clusters.txt and true labels."""
    folder = tmp_path / "pred"
    folder.mkdir()
    _write(folder / "predicted_label.txt", lines)
    if clusters:
        _write(folder / "clusters.txt", [
            "cluster\tsize\tmajority_label\tmajority_share\tunassigned_share"
            "\tpossible_new_population\tvoted\tkept_own",
            "0\t3\tB\t0.6666666666666666\t0.3333333333333333\tFalse\tTrue\t0",
            "1\t1\tT\t1.0\t0.0\tFalse\tTrue\t0",
            "2\t1\tUnassigned\t1.0\t1.0\tTrue\tTrue\t0",
        ])
    _write(tmp_path / "truth.txt",
           ["c1\tB", "c2\tB", "c3\tT", "c4\tB", "c5\tT"])
    return folder / "predicted_label.txt"


def _report(tmp_path, predictions, name, *flags):
    out = tmp_path / name
    assert main([
        "report", "-p",
        str(predictions), "-o",
        str(out), "-q", "--threads", "1"
    ] + list(flags)) == 0
    return (out / "report.html").read_text(encoding="utf-8")


def test_report_of_own_labels_shows_what_the_vote_changed(
        tmp_path, voted_prediction_lines):
    predictions = _predictions(tmp_path, voted_prediction_lines)
    section = _section(
        _report(tmp_path, predictions, "own", "-l",
                str(tmp_path / "truth.txt")))
    assert ("The vote over 3 clusters gave 3 of 5 cells (60.0%) a label "
            "other than their own.") in section
    assert ("This page reports each cell&#x27;s own label (the celltype "
            "column); actinn report --use-as-prediction majority_voting "
            "reports the voted ones (the majority_voting column).") in section
    # accuracy: own c1, c3, c5 right (3 of 5); voted c1 to c4 (4 of 5)
    assert ("Accuracy of the voted labels: 80.0% (of each cell&#x27;s own: "
            "60.0%).") in section
    # label, own cells, voted cells
    assert _row(section, "B") == ["1", "3"]
    assert _row(section, "T") == ["3", "1"]
    assert _row(section, "Unassigned") == ["1", "1"]
    # clusters.txt, beside the predictions, as a table
    assert "clusters.txt" in section
    assert _row(section, "0") == ["3", "B", "0.667", "0.333", "no", "yes", "0"]
    assert _row(section, "2") == [
        "1", "Unassigned", "1.000", "1.000", "yes", "yes", "0"
    ]
    assert "possible new population" in section


def test_report_of_the_vote_says_it_reports_the_voted_labels(
        tmp_path, voted_prediction_lines):
    predictions = _predictions(tmp_path, voted_prediction_lines, clusters=False)
    section = _section(
        _report(tmp_path, predictions, "voted", "--use-as-prediction",
                "majority_voting"))
    # no clusters.txt: the clusters counted from over_clustering
    assert ("The vote over 3 clusters gave 3 of 5 cells (60.0%) a label "
            "other than their own.") in section
    assert ("This page reports the voted labels (--use-as-prediction "
            "majority_voting, the majority_voting column); each cell&#x27;s "
            "own is in the celltype column.") in section
    assert "Accuracy" not in section  # no -l
    assert "<h3>Clusters" not in section


def test_report_without_a_vote_has_no_voting_section(tmp_path):
    predictions = tmp_path / "predicted_label.txt"
    _write(predictions, ["cellname\tcelltype\tconfidence", "c1\tB\t0.9"])
    assert "Majority voting" not in _report(tmp_path, predictions, "r")
