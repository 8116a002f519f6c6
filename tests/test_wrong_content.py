"""Every reader refuses content that does not match its name or format with
one line naming the file (never a traceback), and reads mislabelled files
whose content it can tell: gzip by its bytes, HDF5 by its layout."""

import gzip
import logging
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

import deepchem_actinn.io as dio
from deepchem_actinn.errors import ACTINNInputError

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
N_GENES, N_CELLS = 120, 40


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Genes x cells counts, large enough that half a gzip still decodes."""
    rng = np.random.default_rng(0)
    values = rng.poisson(2.0, size=(N_GENES, N_CELLS))
    return pd.DataFrame(values,
                        index=["Gene%d" % i for i in range(N_GENES)],
                        columns=["cell%d" % i for i in range(N_CELLS)])


def _h5ad(frame, path):
    anndata.AnnData(sp.csr_matrix(frame.T.to_numpy(), dtype=np.float32),
                    pd.DataFrame(index=frame.columns),
                    pd.DataFrame(index=frame.index)).write_h5ad(path)


def _tenx_h5(frame, path):
    csc = sp.csc_matrix(frame.to_numpy())
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g["data"], g["indices"], g["indptr"] = csc.data, csc.indices, csc.indptr
        g["shape"] = np.array(csc.shape, dtype=np.int32)
        g["barcodes"] = np.array(frame.columns, dtype="S")
        g["features/id"] = np.array(frame.index, dtype="S")
        g["features/name"] = np.array(frame.index, dtype="S")
        g["features/feature_type"] = np.array(["Gene Expression"] * len(frame),
                                              dtype="S")


def _tenx_dir(frame, path: Path) -> Path:
    path.mkdir()
    scipy.io.mmwrite(str(path / "matrix.mtx"), sp.coo_matrix(frame.to_numpy()))
    data = (path / "matrix.mtx").read_bytes()
    (path / "matrix.mtx").unlink()
    (path / "matrix.mtx.gz").write_bytes(gzip.compress(data))
    (path / "features.tsv.gz").write_bytes(
        gzip.compress("".join("E%d\t%s\tGene Expression\n" % (i, g)
                              for i, g in enumerate(frame.index)).encode()))
    (path / "barcodes.tsv.gz").write_bytes(
        gzip.compress("".join(c + "\n" for c in frame.columns).encode()))
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory, frame):
    """One well-formed file per format."""
    root = tmp_path_factory.mktemp("good")
    out = {}
    frame.to_csv(root / "counts.csv")
    out["csv"] = root / "counts.csv"
    frame.to_csv(root / "counts.tsv", sep="\t")
    out["tsv"] = root / "counts.tsv"
    frame.to_csv(root / "counts.csv.gz")
    out["csv_gz"] = root / "counts.csv.gz"
    _h5ad(frame, root / "counts.h5ad")
    out["h5ad"] = root / "counts.h5ad"
    frame.to_hdf(root / "actinn.h5", key="dge")
    out["actinn_h5"] = root / "actinn.h5"
    _tenx_h5(frame, root / "filtered.h5")
    out["10x_h5"] = root / "filtered.h5"
    out["10x_mtx"] = _tenx_dir(frame, root / "tenx")
    return out


def _half(data: bytes) -> bytes:
    return data[:len(data) // 2]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _tenx_variant(good, root, name, change):
    path = root / name
    path.mkdir()
    for child in good["10x_mtx"].iterdir():
        (path / child.name).write_bytes(child.read_bytes())
    change(path)
    return path


# Each case: (what it is, builder(good, root) -> path of the bad input).
CASES = {
    # text
    "csv_empty":
        lambda g, r: _write(r / "e.csv", b""),
    "csv_gz_empty":
        lambda g, r: _write(r / "e.csv.gz", gzip.compress(b"")),
    "tsv_empty":
        lambda g, r: _write(r / "e.tsv", b""),
    "csv_gz_truncated_to_nothing":
        lambda g, r: _write(r / "t.csv.gz", g["csv_gz"].read_bytes()[:20]),
    "csv_gz_truncated":
        lambda g, r: _write(r / "t2.csv.gz", _half(g["csv_gz"].read_bytes())),
    "csv_png":
        lambda g, r: _write(r / "image.csv", PNG),
    "tsv_png":
        lambda g, r: _write(r / "image.tsv", PNG),
    "txt_binary":
        lambda g, r: _write(r / "b.txt",
                            bytes(range(256)) * 8),
    "csv_ragged":
        lambda g, r: _write(r / "ragged.csv", b"gene,c1,c2\nA,1,2,3,4\nB,1,2\n"
                           ),
    "csv_bad_utf8":
        lambda g, r: _write(r / "latin.csv", b"gene,c1\nA\xe9\xff\xfe,1\n" * 3),
    "csv_zip":
        lambda g, r: _write(r / "z.csv", b"PK\x03\x04" + PNG),
    # h5ad
    "h5ad_empty":
        lambda g, r: _write(r / "e.h5ad", b""),
    "h5ad_truncated":
        lambda g, r: _write(r / "t.h5ad", _half(g["h5ad"].read_bytes())),
    "h5ad_png":
        lambda g, r: _write(r / "image.h5ad", PNG),
    "h5ad_gzipped":
        lambda g, r: _write(r / "z.h5ad", gzip.compress(g["h5ad"].read_bytes())
                           ),
    # ACTINN pandas HDF5
    "h5_empty":
        lambda g, r: _write(r / "e.h5", b""),
    "h5_truncated":
        lambda g, r: _write(r / "t.h5", _half(g["actinn_h5"].read_bytes())),
    "h5_gzipped":
        lambda g, r: _write(r / "z.h5",
                            gzip.compress(g["actinn_h5"].read_bytes())),
    "h5_png":
        lambda g, r: _write(r / "image.h5", PNG),
    # 10x HDF5
    "10x_h5_truncated":
        lambda g, r: _write(r / "t10x.h5", _half(g["10x_h5"].read_bytes())),
    "hdf5_unknown_layout":
        lambda g, r: _unknown_hdf5(r / "other.h5"),
    # 10x matrix directories
    "mtx_truncated_matrix":
        lambda g, r: _tenx_variant(
            g, r, "trunc", lambda d: _write(d / "matrix.mtx.gz", (
                d / "matrix.mtx.gz").read_bytes()[:40])),
    "mtx_missing_barcodes":
        lambda g, r: _tenx_variant(g, r, "nobar", lambda d:
                                   (d / "barcodes.tsv.gz").unlink()),
    "mtx_empty_barcodes":
        lambda g, r: _tenx_variant(g, r, "emptybar", lambda d: _write(
            d / "barcodes.tsv.gz", b"")),
    "mtx_short_barcodes":
        lambda g, r: _tenx_variant(
            g, r, "shortbar", lambda d: _write(d / "barcodes.tsv.gz",
                                               gzip.compress(b"c1\nc2\n"))),
    "mtx_empty_features":
        lambda g, r: _tenx_variant(g, r, "emptyfeat", lambda d: _write(
            d / "features.tsv.gz", b"")),
    "mtx_png_matrix":
        lambda g, r: _tenx_variant(g, r, "pngmat", lambda d: _write(
            d / "matrix.mtx.gz", PNG)),
    "mtx_binary_barcodes":
        lambda g, r: _tenx_variant(g, r, "binbar", lambda d: _write(
            d / "barcodes.tsv.gz", PNG)),
    "not_a_10x_directory":
        lambda g, r: _not_tenx(r / "notes"),
}


def _unknown_hdf5(path):
    with h5py.File(path, "w") as f:
        f["something"] = np.arange(3)
    return path


def _not_tenx(path):
    path.mkdir()
    (path / "README.txt").write_text("not counts\n")
    return path


ENTRY_POINTS = {
    "read": lambda p: dio.read(p),
    "iter_cell_chunks": lambda p: list(dio.iter_cell_chunks(p, chunk_size=7)),
    "n_cells": lambda p: dio.n_cells(p),
    "read_var": lambda p: dio.read_var(p),
    "read_cell_ids": lambda p: dio.read_cell_ids(p),
}


@pytest.fixture(scope="module")
def bad(tmp_path_factory, good):
    root = tmp_path_factory.mktemp("bad")
    return {name: build(good, root) for name, build in CASES.items()}


def _assert_one_line_naming(err: pytest.ExceptionInfo, path: Path) -> str:
    message = str(err.value)
    assert err.type is ACTINNInputError
    assert "\n" not in message and "\r" not in message
    assert str(path) in message
    assert "Traceback" not in message
    return message


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_wrong_content_is_one_line(bad, case, entry):
    # a truncated matrix body is only seen by the readers of the values
    if case == "csv_gz_truncated" and entry in ("n_cells", "read_cell_ids"):
        pytest.skip("the header survives: see test_truncated_body_header")
    path = bad[case]
    with pytest.raises(ACTINNInputError) as err:
        ENTRY_POINTS[entry](path)
    _assert_one_line_naming(err, path)


def test_truncated_body_header(bad):
    """Cell ids come from the intact header; the values are refused."""
    path = bad["csv_gz_truncated"]
    assert dio.n_cells(path) == N_CELLS
    with pytest.raises(ACTINNInputError, match="damaged or truncated"):
        dio.read(path)


@pytest.mark.parametrize("case,words", [
    ("csv_empty", "the file is empty"),
    ("csv_gz_empty", "gzip-compressed but empty"),
    ("csv_gz_truncated_to_nothing", "truncated gzip"),
    ("csv_gz_truncated", "damaged or truncated"),
    ("csv_png", "a PNG image"),
    ("txt_binary", "binary data"),
    ("csv_zip", "zip archive"),
    ("csv_bad_utf8", "text that is not UTF-8 (Latin-1?); re-encode it"),
    ("csv_ragged", "the header has 3 fields but the first row 5"),
    ("h5ad_truncated", "damaged or truncated"),
    ("h5ad_gzipped", "gzip-compressed HDF5"),
    ("hdf5_unknown_layout", "unknown layout"),
    ("mtx_missing_barcodes", "needs barcodes.tsv"),
    ("mtx_empty_barcodes", "barcodes.tsv.gz: the file is empty"),
    ("mtx_short_barcodes", "2 barcodes"),
    ("mtx_png_matrix", "matrix.mtx.gz: not a Matrix Market file"),
    ("not_a_10x_directory", "holds README.txt"),
])
def test_message_says_what_is_wrong(bad, case, words):
    with pytest.raises(ACTINNInputError) as err:
        dio.read(bad[case])
    assert words in _assert_one_line_naming(err, bad[case])


def _same(adata, frame):
    assert list(adata.obs_names) == list(frame.columns)
    assert list(adata.var_names) == [g.upper() for g in frame.index]
    np.testing.assert_array_equal(adata.X.toarray(), frame.T.to_numpy())


@pytest.mark.parametrize("name,source", [
    ("counts.csv", "csv_gz"),
    ("counts.csv.gz", "csv"),
    ("counts.tsv.gz", "tsv"),
])
def test_gzip_told_by_bytes_not_name(tmp_path, good, frame, name, source,
                                     caplog):
    path = _write(tmp_path / name, good[source].read_bytes())
    with caplog.at_level(logging.INFO, logger="deepchem_actinn.io"):
        _same(dio.read(path), frame)
    assert "gzip-compressed; reading it as such" in caplog.text
    ids = np.concatenate(
        [i for i, _ in dio.iter_cell_chunks(path, chunk_size=16)])
    assert list(ids) == list(frame.columns)
    assert dio.n_cells(path) == N_CELLS
    assert list(dio.read_var(path).index) == [g.upper() for g in frame.index]


def test_plain_matrix_named_gz(tmp_path, good, frame):
    path = _tenx_variant(
        good, tmp_path, "plain",
        lambda d: _write(d / "matrix.mtx.gz",
                         gzip.decompress((d / "matrix.mtx.gz").read_bytes())))
    _same(dio.read(path), frame)
    assert dio.n_cells(path) == N_CELLS


@pytest.mark.parametrize("name,source,fmt", [
    ("counts.h5", "h5ad", "h5ad"),
    ("counts.csv", "h5ad", "h5ad"),
    ("counts.h5ad", "csv", "csv"),
    ("counts.csv", "actinn_h5", "actinn_h5"),
    ("counts.h5ad", "10x_h5", "10x_h5"),
    ("counts.txt", "h5ad", "h5ad"),
    ("counts.txt", "actinn_h5", "actinn_h5"),
    ("counts.csv", "tsv", "tsv"),
    ("counts.tsv", "csv", "csv"),
])
def test_content_wins_over_name(tmp_path, good, frame, name, source, fmt,
                                caplog):
    path = _write(tmp_path / name, good[source].read_bytes())
    assert dio.detect_format(path) == fmt
    with caplog.at_level(logging.WARNING):
        _same(dio.read(path), frame)
    if Path(name).suffix != ".h5":  # an .h5 may hold any HDF5 layout
        assert "reading it as %s" % fmt in caplog.text
    assert dio.n_cells(path) == N_CELLS


@pytest.mark.parametrize("source,fmt,words", [
    ("csv", "h5ad", "needs an HDF5 file, but the file is text"),
    ("h5ad", "csv", "needs text, but the file is an HDF5 file"),
    ("h5ad", "10x_mtx", "needs text"),
    ("h5ad", "10x_h5", "format='10x_h5', but the file is an h5ad file "
     "(h5ad); leave format= out and it is detected"),
    ("actinn_h5", "h5ad", "format='h5ad', but the file is an ACTINN (pandas) "
     "HDF5 file (actinn_h5)"),
    ("10x_h5", "actinn_h5", "but the file is a 10x HDF5 file (10x_h5)"),
    ("csv", "10x_mtx", "a 10x matrix needs barcodes.tsv"),
])
def test_forced_format_that_does_not_fit(good, source, fmt, words):
    path = good[source]
    for entry in (lambda: dio.read(path, fmt),
                  lambda: list(dio.iter_cell_chunks(path, format=fmt)),
                  lambda: dio.n_cells(path, fmt),
                  lambda: dio.read_var(path, fmt)):
        with pytest.raises(ACTINNInputError) as err:
            entry()
        assert words in _assert_one_line_naming(err, path)


def test_a_forced_format_is_named_as_the_command_line_names_it(
        good, tmp_path, capsys):
    from deepchem_actinn.cli import main
    path = good["actinn_h5"]
    assert main([
        "format", "-i",
        str(path), "-f", "h5ad", "-o",
        str(tmp_path / "out"), "-q"
    ]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "%s: --format h5ad, but the file is an ACTINN (pandas) HDF5 file "
        "(actinn_h5); leave --format out and it is detected" % path)


def test_forced_file_format_on_a_directory(good):
    with pytest.raises(ACTINNInputError, match="needs a file, not a dir"):
        dio.read(good["10x_mtx"], "h5ad")
