"""A CSV/TSV value that is no count is refused in our words: the value as
written, its data row (counted from 1, as the header is not), the gene and
the cell, whichever of them the rows hold; text (``abc``), a missing value
(``NA``) and an empty field alike, gzipped or not."""
import gzip
from pathlib import Path

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
