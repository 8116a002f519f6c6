"""A CSV/TSV value that is no count is refused in our words: the value as
written, its data row (counted from 1, as the header is not), the gene and
the cell, whichever of them the rows hold; text (``abc``), a missing value
(``NA``) and an empty field alike, gzipped or not."""
import gzip
from pathlib import Path

import numpy as np
import pytest

from deepchem_actinn.errors import ACTINNInputError

GENES = ["Actb", "Cd3e", "Gapdh"]
CELLS = ["c1", "c2"]
VALUES = [[3, 0], [0, 2], [1, 1]]  # genes x cells

TAILS = {
    "text": "; every value must be a number (a count)",
    "missing": "; every value must be a number (a count)",
}


def write_matrix(path: Path, bad: str, where=(1, 1), cells_as_rows=False):
    """GENES x CELLS (or its transpose) with the value of gene ``where[0]``
    in cell ``where[1]`` written as ``bad``; gzipped for a ``.gz`` name."""
    sep = "," if ".csv" in path.name else "\t"
    rows, columns = (CELLS, GENES) if cells_as_rows else (GENES, CELLS)
    text = [[str(v) for v in row] for row in VALUES]
    text[where[0]][where[1]] = bad
    if cells_as_rows:
        text = [list(row) for row in zip(*text)]
    lines = [sep.join([""] + columns)]
    lines += [sep.join([name] + row) for name, row in zip(rows, text)]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


LAYOUTS = {
    # orientation, cells as rows, the place of Cd3e's value in c2
    "genes_as_rows": ("genes_by_cells", False,
                      "data row 2 (gene 'Cd3e'), column of cell c2"),
    "cells_as_rows":
        ("cells_by_genes", True, "data row 2 (cell 'c2'), column of gene Cd3e"),
}


@pytest.mark.parametrize("name", ["x.csv", "x.tsv", "x.tsv.gz", "x.csv.gz"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("bad, words, kind", [
    pytest.param(bad, "1 value is %s, e.g. %r" % (words, bad), kind, id=bad)
    for bad, words, kind in [
        ("abc", "not a number", "text"),
        ("1,5", "not a number", "text"),
        ("0x10", "not a number", "text"),
        ("NA", "missing (NA, NaN, NULL or the like)", "missing"),
        ("nan", "missing (NA, NaN, NULL or the like)", "missing"),
        ("#N/A", "missing (NA, NaN, NULL or the like)", "missing"),
    ]
])
def test_a_value_that_is_no_number_is_named_with_its_gene_and_cell(
        tmp_path, name, layout, bad, words, kind, reader, exactly):
    orientation, cells_as_rows, place = LAYOUTS[layout]
    if bad == "1,5" and ".csv" in name:
        bad = '"1,5"'  # quoted, as csv writes it: read as 1,5
    path = write_matrix(tmp_path / name, bad, cells_as_rows=cells_as_rows)
    with pytest.raises(ACTINNInputError,
                       match=exactly("%s: %s in %s%s" %
                                     (path, words, place, TAILS[kind]))):
        reader(path, orientation=orientation)


BOOLEANS = {
    # a column of true and false: its first value, the count, where
    "genes_as_rows": ("genes_by_cells", ["c1", "c2"], [["Actb", "3", "{t}"],
                                                       ["Cd3e", "0", "{f}"],
                                                       ["Gapdh", "1", "{t}"]],
                      3, "data row 1 (gene 'Actb'), column of cell c2"),
    "cells_as_rows": ("cells_by_genes", ["Actb", "Cd3e",
                                         "Gapdh"], [["c1", "3", "{t}", "1"],
                                                    ["c2", "0", "{f}", "1"]], 2,
                      "data row 1 (cell 'c1'), column of gene Cd3e"),
}


@pytest.mark.parametrize("name", ["x.csv", "x.tsv.gz"])
@pytest.mark.parametrize("layout", list(BOOLEANS))
@pytest.mark.parametrize("true, false", [("True", "False"), ("TRUE", "FALSE"),
                                         ('"true"', "false")])
def test_a_column_of_true_and_false_is_named_as_written(tmp_path, name, layout,
                                                        true, false, reader,
                                                        exactly):
    """pandas reads a column holding only true and false (as pandas or R
    write booleans) as booleans: refused as text all the same, its first
    value shown as the file spells it."""
    orientation, columns, rows, count, place = BOOLEANS[layout]
    sep = "," if ".csv" in name else "\t"
    lines = [sep.join([""] + columns)]
    lines += [sep.join(row).format(t=true, f=false) for row in rows]
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(
            ACTINNInputError,
            match=exactly(
                "%s: %d values are not numbers, e.g. %r "
                "in %s%s" %
                (path, count, true.strip('"'), place, TAILS["text"]))):
        reader(path, orientation=orientation)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_an_empty_field_names_its_gene_and_cell(tmp_path, layout, exactly):
    orientation, cells_as_rows, place = LAYOUTS[layout]
    path = write_matrix(tmp_path / "x.tsv", "", cells_as_rows=cells_as_rows)
    with pytest.raises(
            ACTINNInputError,
            match=exactly("%s: 1 value is empty (rows cut short, or empty "
                          "fields), e.g. in %s; every row needs a value in "
                          "each of the %d columns" %
                          (path, place, 3 if cells_as_rows else 2))):
        _read(path, orientation)


def _read(path, orientation):
    from deepchem_actinn.io import read
    return read(path, orientation=orientation)


def test_the_count_is_of_the_file_and_the_example_its_first(tmp_path, exactly):
    """Values in several columns: all are counted, the first in the file
    (by rows, then columns) is shown; text comes before missing values."""
    path = tmp_path / "x.csv"
    path.write_text(",c1,c2,c3\nActb,1,NA,x1\nCd3e,y2,0,3\nGapdh,NA,2,z3\n")
    with pytest.raises(
            ACTINNInputError,
            match=exactly("%s: 3 values are not numbers, e.g. 'x1' in data "
                          "row 1 (gene 'Actb'), column of cell c3%s" %
                          (path, TAILS["text"]))):
        _read(path, None)
    path.write_text(",c1,c2,c3\nActb,1,0,NULL\nCd3e,2,0,3\nGapdh,None,2,3\n")
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           "%s: 2 values are missing (NA, NaN, NULL or the "
                           "like), e.g. 'NULL' in data row 1 (gene 'Actb'), "
                           "column of cell c3%s" % (path, TAILS["missing"]))):
        _read(path, None)


def test_a_long_value_is_shown_cut_short(tmp_path, exactly):
    path = write_matrix(tmp_path / "x.tsv", "a" * 100)
    with pytest.raises(ACTINNInputError,
                       match=exactly("%s: 1 value is not a number, e.g. '%s"
                                     "...' in data row 2 (gene 'Cd3e'), "
                                     "column of cell c2%s" %
                                     (path, "a" * 40, TAILS["text"]))):
        _read(path, None)


def test_infinite_values_are_left_to_the_count_check(tmp_path):
    """``inf`` is a number pandas reads; the check of counts refuses it,
    naming the cell."""
    path = write_matrix(tmp_path / "x.tsv", "inf")
    with pytest.raises(ACTINNInputError,
                       match="^%s: X holds 1 NaN or infinite values, e.g. in "
                       "cells c2$" % path):
        _read(path, None)


def test_a_sound_file_reads_as_before(tmp_path):
    path = write_matrix(tmp_path / "x.csv", "7")
    X = _read(path, None).X.toarray()
    assert X.tolist() == [[3, 0, 1], [0, 7, 1]]


# --- pandas' words stay out: a file read in chunks (DtypeWarning)


@pytest.fixture(scope="module")
def wide(tmp_path_factory, small_reference):
    """The small reference's 300 genes as rows and 2,048 cells as columns
    (its 600 cells, repeated): so wide a table that pandas parses it in
    chunks of 256 rows, and a column whose rows in one chunk are numbers
    and in another text has mixed types (pandas warned, naming our line);
    with an annotator trained on the reference."""
    import anndata
    from deepchem_actinn.cli import main
    root = tmp_path_factory.mktemp("wide")
    ref = anndata.read_h5ad(small_reference[1])
    X = np.asarray(ref.X.todense() if hasattr(ref.X, "todense") else ref.X)
    X = np.tile(X, (4, 1))[:2048].T.astype(int)  # genes x cells
    genes = list(ref.var_names)
    cells = ["c%d" % i for i in range(X.shape[1])]
    rows = ["\t".join([g] + [str(v) for v in row]) for g, row in zip(genes, X)]
    (root / "header").write_text("\t".join([""] + cells) + "\n")
    (root / "rows").write_text("\n".join(rows) + "\n")
    assert main([
        "train", *small_reference, "-m",
        str(root / "model"), "-ne", "1", "--networks", "1", "-q", "--device",
        "cpu"
    ]) == 0
    return root, genes


def _wide_query(wide, path: Path, bad: str) -> Path:
    """The wide query, the value of its gene 291 (in the second chunk) in
    cell c5 written as ``bad``."""
    root, _ = wide
    lines = (root / "rows").read_text().split("\n")
    fields = lines[290].split("\t")
    fields[6] = bad
    lines[290] = "\t".join(fields)
    path.write_text((root / "header").read_text() + "\n".join(lines))
    return path


WIDE_MESSAGES = {
    "": "1 value is empty (rows cut short, or empty fields), e.g. in data "
        "row 291 (gene %r), column of cell c5; every row needs a value in each "
        "of the 2048 columns",
    "abc": "1 value is not a number, e.g. 'abc' in data row 291 (gene %r), "
           "column of cell c5; every value must be a number (a count)",
    "NA":
        "1 value is missing (NA, NaN, NULL or the like), e.g. 'NA' in data "
        "row 291 (gene %r), column of cell c5; every value must be a number (a "
        "count)",
}


@pytest.mark.parametrize("bad", list(WIDE_MESSAGES), ids=["empty", "abc", "NA"])
def test_a_file_read_in_chunks_warns_nothing(wide, tmp_path, bad, exactly):
    import warnings
    path = _wide_query(wide, tmp_path / "query.tsv", bad)
    message = WIDE_MESSAGES[bad] % wide[1][290]
    with warnings.catch_warnings(record=True) as caught, \
            pytest.raises(ACTINNInputError,
                          match=exactly("%s: %s" % (path, message))):
        warnings.simplefilter("always")
        _read(path, None)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("command", ["predict", "run"])
@pytest.mark.parametrize("bad", list(WIDE_MESSAGES), ids=["empty", "abc", "NA"])
def test_predict_and_run_say_our_words_only(wide, small_reference, tmp_path,
                                            command, bad, actinn_process):
    query = _wide_query(wide, tmp_path / "query.tsv", bad)
    model = ["-m", str(wide[0] / "model")]
    if command == "run":
        model = [*small_reference, "-ne", "1", "--networks", "1"]
    proc = actinn_process(command, *model, "-ts", str(query), "-o",
                          str(tmp_path / "out"), "-q", "--device", "cpu")
    assert proc.returncode == 2, proc.stderr
    assert "DtypeWarning" not in proc.stderr
    assert proc.stderr.splitlines() == [
        "actinn %s: error: %s: %s" %
        (command, query, WIDE_MESSAGES[bad] % wide[1][290])
    ]
