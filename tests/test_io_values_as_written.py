"""What a file's text says is read as it says, or refused naming the file
and the place: a Matrix Market value its header's field cannot hold (SciPy
read ``1.8`` in an integer file as 1, ``7abc`` as 7, without a word); a
quoted name or value holding a line break (pandas and the names' reader
read it differently); a text file separated by ';'."""
import gzip
import re
from pathlib import Path

import pytest

from deepchem_actinn.cli import main
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import read, read_cell_ids, read_gene_names
from deepchem_actinn.io import matrix_market


def mtx_dir(root: Path, field: str, entries, gz=False, comments=1) -> Path:
    """A 10x matrix directory of 3 genes x 2 cells whose matrix.mtx holds
    ``entries`` as written, under a header of ``field`` values."""
    root.mkdir()
    text = ("%%%%MatrixMarket matrix coordinate %s general\n%s3 2 %d\n%s" %
            (field, "%\n" * comments, len(entries), "".join(
                e + "\n" for e in entries))).encode()
    if gz:
        (root / "matrix.mtx.gz").write_bytes(gzip.compress(text))
    else:
        (root / "matrix.mtx").write_bytes(text)
    (root / "genes.tsv").write_text("".join(
        "ENSG%d\tG%d\n" % (i, i) for i in range(3)))
    (root / "barcodes.tsv").write_text("c0\nc1\n")
    return root


def mtx_message(matrix: Path, field: str, line: int, text: str,
                value: str) -> str:
    return ("%s: its header declares %s values, but line %d (%r) holds %r, "
            "not %s: a damaged or wrongly written file?" %
            (matrix, field, line, text, value, "written as an integer"
             if field == "integer" else "a finite number"))


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("value", ["1.8", "1.1", "1e40", "7abc", "0x10"])
def test_an_integer_matrix_market_value_with_more_is_refused(
        tmp_path, value, gz, reader, exactly):
    # SciPy read them as 1, 1, 1, 7 and 0
    root = mtx_dir(tmp_path / "m", "integer", ["1 1 4", "3 2 " + value], gz=gz)
    matrix = root / ("matrix.mtx.gz" if gz else "matrix.mtx")
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           mtx_message(matrix, "integer", 5, "3 2 " + value,
                                       value))):
        reader(root)


@pytest.mark.parametrize("value", ["7abc", "0x10", "NaN", "inf"])
def test_a_real_matrix_market_value_that_is_no_number_is_refused(
        tmp_path, value, exactly, read_all):
    # SciPy read 7abc as 7 and 0x10 as 0
    root = mtx_dir(tmp_path / "m",
                   "real", ["1 1 4", "2 1 1", "3 2 " + value],
                   comments=3)
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           mtx_message(root / "matrix.mtx", "real", 8,
                                       "3 2 " + value, value))):
        read_all(root)


def test_a_row_index_with_more_is_refused_too(tmp_path, exactly, read_all):
    root = mtx_dir(tmp_path / "m", "integer", ["1.5 1 4"])
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           mtx_message(root / "matrix.mtx", "integer", 4,
                                       "1.5 1 4", "1.5"))):
        read_all(root)


@pytest.mark.parametrize("field, entries, expected", [
    ("integer", ["1 1 4", "3 2 5", "2 1 -0"], [[4, 0, 0], [0, 0, 5]]),
    ("real", ["1 1 4.0", "3 2 5E0", "2 1 .5e1"], [[4, 5, 0], [0, 0, 5]]),
])
def test_values_as_the_field_writes_them_still_read(tmp_path, field, entries,
                                                    expected, read_all):
    root = mtx_dir(tmp_path / "m", field, [e + "\r" for e in entries])
    assert read_all(root).tolist() == expected


@pytest.mark.parametrize("block", [3, 7, 64])
def test_the_line_is_found_across_blocks(tmp_path, monkeypatch, block, exactly,
                                         read_all):
    """The entries are checked block by block as SciPy reads them: the
    line and its number come out whole wherever the blocks split it."""
    monkeypatch.setattr(matrix_market._CheckedEntries, "BLOCK", block)
    entries = ["1 1 4", "2 1 3", "3 1 12", "1 2 10", "3 2 1.25"]
    root = mtx_dir(tmp_path / "m", "integer", entries)
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           mtx_message(root / "matrix.mtx", "integer", 8,
                                       "3 2 1.25", "1.25"))):
        read_all(root)
    sound = mtx_dir(tmp_path / "sound", "integer", entries[:-1])
    assert read_all(sound).tolist() == [[4, 3, 12], [10, 0, 0]]


def test_actinn_format_refuses_decimals_in_an_integer_file(tmp_path, capsys):
    root = mtx_dir(tmp_path / "m", "integer", ["1 1 1.800", "2 2 1.100"])
    out = tmp_path / "out.h5ad"
    assert main(["format", "-i", str(root), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "actinn format: error: " +
        mtx_message(root / "matrix.mtx", "integer", 4, "1 1 1.800", "1.800")
    ]
    assert not out.exists()


# --- text: a quoted field holding a line break; the separator ';'

BREAK = ("{}: line {} opens a quoted field that goes on past the line's end "
         "(\"{}...): a name or value holding a line break is not read; write "
         "each row on one line (take the line breaks out of the names)")

#: The ways of reading a text file, each of which meets a quoted field:
#: whole, in chunks (and in chunks with the genes expected), and the
#: readers of its gene names and of its cell ids.
TEXT_READERS = [
    "read_all", "stream_all", "chunks_hinted", "names_genes", "names_cells"
]
GENES = ["A", "B", "C"]


@pytest.fixture(params=TEXT_READERS)
def text_reader(request, read_all, stream_all):
    """Each of :data:`TEXT_READERS` in turn, a function of the path."""
    return {
        "read_all": read_all,
        "stream_all": stream_all,
        "chunks_hinted": lambda path: stream_all(path, expected_genes=GENES),
        "names_genes": read_gene_names,
        "names_cells": lambda path: read_cell_ids(path, expected_genes=GENES),
    }[request.param]


def test_a_gene_name_holding_a_line_break_is_refused(tmp_path, text_reader,
                                                     exactly):
    # pandas read 3 genes, the names' reader 4: "the query matrix has 3
    # genes, fewer than its gene names say", or a traceback out of core
    path = tmp_path / "nl_gene.csv"
    path.write_text(',c1,c2\nA,1,0\nB,0,2\n"C\nD",3,3\n')
    with pytest.raises(ACTINNInputError,
                       match=exactly(BREAK.format(path, 4, "C"))):
        text_reader(path)


def test_a_cell_id_or_value_holding_a_line_break_is_refused(
        tmp_path, text_reader, exactly):
    header = tmp_path / "nl_cell.csv"
    header.write_text(',"c\n1",c2\nA,1,0\nB,0,2\nC,3,3\n')
    with pytest.raises(ACTINNInputError,
                       match=exactly(BREAK.format(header, 1, "c"))):
        text_reader(header)
    value = tmp_path / "nl_value.tsv"
    value.write_text('\tc1\tc2\nA\t1\t0\n\nB\t"0\n"\t2\nC\t3\t3\n')
    with pytest.raises(ACTINNInputError,
                       match=exactly(BREAK.format(value, 4, "0"))):
        text_reader(value)


def test_quoted_names_on_one_line_still_read(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text(',"c,1",c2\n"A ""x""",1,0\nB,0,2\n"C",3,3\n')
    adata = read(path, upper_case_genes=False)
    assert list(adata.obs_names) == ["c,1", "c2"]
    assert list(adata.var_names) == ['A "x"', "B", "C"]
    assert list(read_gene_names(path,
                                upper_case_genes=False)) == ['A "x"', "B", "C"]


def test_a_file_without_cells_names_its_genes_without_line_ends(tmp_path):
    # rows without a separator kept their line end: 'A\n'
    path = tmp_path / "zerocells.csv"
    path.write_text('""\nA\r\nB\nC\n')
    assert list(read_gene_names(path,
                                upper_case_genes=False)) == ["A", "B", "C"]


@pytest.mark.parametrize("name, sep, words", [
    ("semicolon.csv", ";", "comma"),
    ("semicolon.tsv", ";", "tab"),
])
def test_a_file_separated_by_semicolons_is_told_so(tmp_path, name, sep, words,
                                                   exactly):
    path = tmp_path / name
    path.write_text(";c1;c2\nA;1;0\nB;0;2\n")
    howto = ("commas (R: write.csv; pandas: to_csv)" if words == "comma" else
             "tabs (R: write.table(..., sep = \"\\t\"))")
    with pytest.raises(
            ACTINNInputError,
            match=exactly("%s: its lines hold no %s but semicolons: the "
                          "separator looks like ';' (as Excel and R's "
                          "write.csv2 write where a comma is the decimal "
                          "mark), which is not read; write it with %s" %
                          (path, words, howto))):
        read(path)


# --- text that is not UTF-8

REENCODE = ("re-encode it as UTF-8 first (e.g. iconv -f latin1 -t utf-8 FILE "
            "> NEW, or save it as 'CSV UTF-8')")


@pytest.mark.parametrize("text_reader",
                         ["read_all", "stream_all", "names_cells"],
                         indirect=True)
def test_latin1_text_is_told_apart_from_binary_data(tmp_path, text_reader,
                                                    exactly, read_all):
    # it was "the file holds binary data, not text"
    path = tmp_path / "latin1.csv"
    path.write_bytes(",c1,c2\nG\xe9NE1,1,0\nGENE2,0,2\n".encode("latin-1"))
    with pytest.raises(ACTINNInputError,
                       match=exactly("%s: the file holds text that is not "
                                     "UTF-8 (Latin-1?); %s" %
                                     (path, REENCODE))):
        text_reader(path)
    late = tmp_path / "late.csv"
    late.write_bytes(b",c1\n" + b"GENE,1\n" * 2000 + b"G\xe9NE,2\n")
    with pytest.raises(ACTINNInputError, match=re.escape(REENCODE) + "$"):
        read_all(late)


def test_a_header_without_rows_is_said_as_such(tmp_path, text_reader, exactly):
    # it was "cannot read it as a CSV matrix, it looks damaged or
    # truncated (EmptyDataError: No columns to parse from file)", or
    # "neither the rows nor the columns match ...: rows look like nothing"
    path = tmp_path / "header.csv"
    path.write_text(",c1,c2\n\n")
    with pytest.raises(ACTINNInputError,
                       match=exactly("%s: only a header line (,c1,c2), no "
                                     "rows of counts under it" % path)):
        text_reader(path)


#: What a message about UTF-16 text says.
UTF16 = ("the file holds UTF-16 text (as Excel's 'Unicode Text' saves it), "
         "not UTF-8; re-encode it as UTF-8 first (e.g. iconv -f utf-16 -t "
         "utf-8 FILE > NEW, or save it as 'CSV UTF-8')")


@pytest.mark.parametrize("text_reader",
                         ["read_all", "stream_all", "names_cells"],
                         indirect=True)
def test_utf16_text_is_told_apart_from_binary_data(tmp_path, text_reader,
                                                   exactly):
    # it was "the file holds binary data, not text"
    path = tmp_path / "unicode.txt"
    path.write_text("\tc1\tc2\nGENE1\t1\t0\nGENE2\t0\t2\n", encoding="utf-16")
    with pytest.raises(ACTINNInputError,
                       match=exactly("%s: %s" % (path, UTF16))):
        text_reader(path)


def test_binary_data_is_still_called_so(tmp_path, read_all):
    path = tmp_path / "binary.csv"
    path.write_bytes(bytes(range(1, 256)) * 4)
    with pytest.raises(ACTINNInputError,
                       match="^%s: the file holds binary data, not text, " %
                       re.escape(str(path))):
        read_all(path)
