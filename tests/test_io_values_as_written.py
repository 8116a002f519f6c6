"""What a file's text says is read as it says, or refused naming the file
and the place: a Matrix Market value its header's field cannot hold (SciPy
read ``1.8`` in an integer file as 1, ``7abc`` as 7, without a word)."""
import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from deepchem_actinn.cli import main
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import iter_cell_chunks, read
from deepchem_actinn.io import matrix_market


def exactly(message: str) -> str:
    """A pattern matching ``message`` whole."""
    return "^%s$" % re.escape(message)


def read_all(path, **kwargs):
    """Every cell of a file, read in memory."""
    return read(path, **kwargs).X.toarray()


def stream_all(path, **kwargs):
    """Every cell of a file, read in chunks of two cells."""
    return np.vstack([
        X.toarray() for _, X in iter_cell_chunks(path, chunk_size=2, **kwargs)
    ])


READERS = [read_all, stream_all]


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


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("value", ["1.8", "1.1", "1e40", "7abc", "0x10"])
def test_an_integer_matrix_market_value_with_more_is_refused(
        tmp_path, value, gz, reader):
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
        tmp_path, value):
    # SciPy read 7abc as 7 and 0x10 as 0
    root = mtx_dir(tmp_path / "m",
                   "real", ["1 1 4", "2 1 1", "3 2 " + value],
                   comments=3)
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           mtx_message(root / "matrix.mtx", "real", 8,
                                       "3 2 " + value, value))):
        read_all(root)


def test_a_row_index_with_more_is_refused_too(tmp_path):
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
                                                    expected):
    root = mtx_dir(tmp_path / "m", field, [e + "\r" for e in entries])
    assert read_all(root).tolist() == expected


@pytest.mark.parametrize("block", [3, 7, 64])
def test_the_line_is_found_across_blocks(tmp_path, monkeypatch, block):
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
