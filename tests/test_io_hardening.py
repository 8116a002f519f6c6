"""The readers refuse, in one line naming the file, what they used to read
wrongly without a word: a 10x HDF5 file whose barcodes do not match its
matrix (cells lost), counts too large for float32 (infinite once stored),
a Matrix Market header that lies about its entries (SciPy allocated for
them all), pattern and complex Matrix Market files, repeated entries (SciPy
adds them up); and read float16 sparse h5ad matrices as float32."""
import gzip
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError
from deepchem_actinn.io import as_count_matrix, n_cells, read, read_cell_ids

F32 = "3.403e+38"


def tenx_h5(path: Path,
            M: sp.csc_matrix,
            n_barcodes=None,
            n_features=None,
            shape=None) -> Path:
    """A 10x V3 HDF5 file of the genes x cells CSC matrix ``M``, as is
    (repeated indices stay)."""
    n_genes, n_cells_ = M.shape
    n_barcodes = n_cells_ if n_barcodes is None else n_barcodes
    n_features = n_genes if n_features is None else n_features
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g["data"], g["indices"], g["indptr"] = M.data, M.indices, M.indptr
        g["shape"] = list(M.shape) if shape is None else shape
        g["barcodes"] = [b"C%d-1" % i for i in range(n_barcodes)]
        g["features/id"] = [b"ENSG%d" % i for i in range(n_features)]
        g["features/name"] = [b"GENE%05d" % i for i in range(n_features)]
        g["features/feature_type"] = [b"Gene Expression"] * n_features
    return path


def poisson(n_genes=200, n_cells_=5) -> sp.csc_matrix:
    rng = np.random.default_rng(0)
    return sp.csc_matrix(
        rng.poisson(1.0, size=(n_genes, n_cells_)).astype(np.int32))


def mtx_dir(root: Path,
            header: str,
            entries,
            n_genes=3,
            n_cells_=2,
            gz=False) -> Path:
    """A 10x matrix directory whose matrix.mtx holds ``header`` (banner and
    size line) and ``entries`` as written."""
    root.mkdir()
    text = (header + "\n" + "".join(e + "\n" for e in entries)).encode()
    if gz:
        (root / "matrix.mtx.gz").write_bytes(gzip.compress(text))
    else:
        (root / "matrix.mtx").write_bytes(text)
    (root / "genes.tsv").write_text("".join(
        "ENSG%d\tG%d\n" % (i, i) for i in range(n_genes)))
    (root / "barcodes.tsv").write_text("".join(
        "c%d\n" % i for i in range(n_cells_)))
    return root


COORDINATE = "%%MatrixMarket matrix coordinate {} general\n{}"

# --- H1: a 10x HDF5 file whose barcodes do not match its matrix


@pytest.mark.parametrize("n_barcodes", [4, 6])
def test_tenx_h5_barcodes_that_do_not_match_the_cells_are_refused(
        tmp_path, reader, n_barcodes, exactly):
    # 5 cells, 6 index pointers: 4 barcodes lost the 5th cell silently
    # when streamed, 6 ended in a bare IndexError
    path = tenx_h5(tmp_path / "bc.h5", poisson(), n_barcodes=n_barcodes)
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           "%s: /matrix/shape says 5 cells but there are %d "
                           "barcodes (/matrix/barcodes) and 5 columns "
                           "(/matrix/indptr); a file cut short or written "
                           "wrongly? write it again" % (path, n_barcodes))):
        reader(path)


def test_tenx_h5_cell_count_and_ids_refuse_short_barcodes(tmp_path):
    path = tenx_h5(tmp_path / "bc.h5", poisson(), n_barcodes=4)
    for tell in (n_cells, read_cell_ids):
        with pytest.raises(ACTINNInputError,
                           match="says 5 cells but there "
                           "are 4 barcodes"):
            tell(path)


def test_tenx_h5_index_pointers_that_do_not_match_the_shape_are_refused(
        tmp_path, exactly, stream_all):
    path = tenx_h5(tmp_path / "ptr.h5", poisson(), shape=[200, 4], n_barcodes=4)
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           "%s: /matrix/shape says 4 cells but there are 4 "
                           "barcodes (/matrix/barcodes) and 5 columns "
                           "(/matrix/indptr); a file cut short or written "
                           "wrongly? write it again" % path)):
        stream_all(path)


def test_tenx_h5_features_that_do_not_match_the_genes_are_refused(
        tmp_path, reader, exactly):
    path = tenx_h5(tmp_path / "genes.h5", poisson(), n_features=199)
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           "%s: /matrix/shape says 200 genes but there are "
                           "199 features (/matrix/features); a file cut "
                           "short or written wrongly? write it again" % path)):
        reader(path)


def test_a_sound_tenx_h5_reads_the_same_in_memory_and_in_chunks(
        tmp_path, read_all, stream_all):
    M = poisson()
    path = tenx_h5(tmp_path / "ok.h5", M)
    expected = M.T.toarray().astype(np.float32)
    np.testing.assert_array_equal(read_all(path), expected)
    np.testing.assert_array_equal(stream_all(path), expected)


# --- H4: counts above the largest float32


def huge_message(path, what="X", cell="c1") -> str:
    return ("%s: %s holds 1 value above %s, the largest float32 (up to "
            "1e+39), e.g. in cells %s: they would be infinite once stored as "
            "float32, and no count is that large" % (path, what, F32, cell))


def _huge_csv(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("gene,c1,c2\nA,1e39,1\nB,2,3\n")
    return path, "X", "c1"


def _huge_mtx(tmp_path):
    root = mtx_dir(tmp_path / "mtx", COORDINATE.format("real", "3 2 2"),
                   ["1 1 1e39", "2 2 5"])
    return root, "X", "c0"


def _huge_tenx_h5(tmp_path):
    M = sp.csc_matrix(np.array([[1e39, 1.0], [2.0, 3.0], [0.0, 1.0]]))
    path = tenx_h5(tmp_path / "huge.h5", M)
    return path, None, "C0-1"


def _huge_h5ad(tmp_path, dense=False):
    X = np.array([[1e39, 2.0, 0.0], [0.0, 1.0, 4.0]])
    adata = anndata.AnnData(X if dense else sp.csr_matrix(X))
    adata.obs_names, adata.var_names = ["c1", "c2"], ["A", "B", "C"]
    path = tmp_path / "huge.h5ad"
    adata.write_h5ad(path)
    return path, "X", "c1"


HUGE = {
    "csv": _huge_csv,
    "real mtx": _huge_mtx,
    "float64 10x h5": _huge_tenx_h5,
    "float64 csr h5ad": _huge_h5ad,
    "float64 dense h5ad": lambda tmp_path: _huge_h5ad(tmp_path, dense=True),
}


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("allow_non_integer", [False, True])
@pytest.mark.parametrize("case", sorted(HUGE))
def test_counts_above_the_largest_float32_are_refused(tmp_path, case, reader,
                                                      allow_non_integer,
                                                      exactly, read_all):
    path, what, cell = HUGE[case](tmp_path)
    if what is None:  # the 10x h5 file streams as "the matrix"
        what = "X" if reader is read_all else "the matrix"
    with pytest.raises(ACTINNInputError,
                       match=exactly(huge_message(path, what, cell))):
        reader(path, allow_non_integer=allow_non_integer)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_counts_above_the_largest_float32_are_refused_unchecked(
        tmp_path, exactly, stream_all):
    # a pass told the values were checked still never stores infinity
    path, _, _ = _huge_h5ad(tmp_path)
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           "%s: the matrix holds values up to 1e+39, above %s,"
                           " the largest float32: they would be infinite once "
                           "stored as float32" % (path, F32))):
        stream_all(path, check=False)


def test_as_count_matrix_refuses_values_float32_cannot_hold(exactly):
    with pytest.raises(ACTINNCellError,
                       match=exactly(
                           "the matrix holds values up to 1e+39, above %s, the"
                           " largest float32: they would be infinite once "
                           "stored as float32" % F32)):
        as_count_matrix(np.array([[1e39, 1.0]]))
    assert as_count_matrix(np.array([[3.4e38, 1.0]])).data.max() < np.inf


# --- M1: a Matrix Market header that lies, a value too large to read


def test_more_entries_than_places_are_refused_before_reading(tmp_path, exactly):
    # SciPy allocated 3.6 TiB for the entries this size line declares
    root = mtx_dir(tmp_path / "liar",
                   COORDINATE.format("integer", "200 5 1000000000000"),
                   ["1 1 4", "2 2 5"],
                   n_genes=200,
                   n_cells_=5)
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           "%s: the Matrix Market size line declares "
                           "1000000000000 entries, more than the 200 x 5 "
                           "matrix has places (1000); a damaged or wrongly "
                           "written header?" % (root / "matrix.mtx"))):
        read(root)


@pytest.mark.parametrize("gz", [False, True])
def test_more_entries_than_the_file_can_hold_are_refused(
        tmp_path, gz, exactly, stream_all):
    header = COORDINATE.format("integer", "30000 2000000 500000000")
    root = mtx_dir(tmp_path / "liar", header, ["1 1 4", "2 2 5"], gz=gz)
    matrix = root / ("matrix.mtx.gz" if gz else "matrix.mtx")
    size = matrix.stat().st_size
    room = (size * (1032 if gz else 1) + 1) // 6
    with pytest.raises(
            ACTINNInputError,
            match=exactly(
                "%s: the Matrix Market size line declares 500000000"
                " entries, more than the file's %d%s bytes can "
                "hold (at most %d, an entry taking at least 6 "
                "bytes: '1 1 1'); a damaged or wrongly written "
                "header?" %
                (matrix, size, " gzip-compressed" if gz else "", room))):
        stream_all(root)


def test_an_integer_too_large_to_read_is_one_clear_line(tmp_path, reader,
                                                        exactly):
    root = mtx_dir(tmp_path / "big", COORDINATE.format("integer", "3 2 2"),
                   ["1 1 99999999999999999999", "2 2 5"])
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           "%s: a value is too large to read (Line 3: Integer "
                           "out of range.); no count is that large: a damaged "
                           "or wrongly written file?" % (root / "matrix.mtx"))):
        reader(root)


# --- M2: matrices read wrongly: pattern and complex fields, repeats


def test_a_pattern_matrix_market_file_holds_no_counts(tmp_path, reader,
                                                      exactly):
    # it was read with every entry 1
    root = mtx_dir(tmp_path / "pattern", COORDINATE.format("pattern", "3 2 2"),
                   ["1 1", "2 2"])
    with pytest.raises(
            ACTINNInputError,
            match=exactly("%s: a 'pattern' Matrix Market file holds no "
                          "counts, only where they are not zero; write the "
                          "counts as integer or real values" %
                          (root / "matrix.mtx"))):
        reader(root)


def test_a_complex_matrix_market_file_is_refused_by_its_header(
        tmp_path, exactly):
    root = mtx_dir(tmp_path / "complex", COORDINATE.format("complex", "3 2 2"),
                   ["1 1 1 0", "2 2 5 0"])
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           "%s: a 'complex' Matrix Market file holds complex "
                           "numbers, not counts; write the counts as integer "
                           "or real values" % (root / "matrix.mtx"))):
        read(root)


def test_repeated_matrix_market_entries_are_refused(tmp_path, reader, exactly):
    # 2 and 3 at gene 2, cell 1 were read as 5
    root = mtx_dir(tmp_path / "dup", COORDINATE.format("integer", "3 2 4"),
                   ["1 1 1", "2 1 2", "2 1 3", "3 2 5"])
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           "%s: 1 entry repeats the row and column of another,"
                           " e.g. row 2 (gene G1), column 1 (cell c0); a "
                           "Matrix Market file lists each place once, SciPy "
                           "would add them up (a damaged or wrongly written "
                           "file?)" % (root / "matrix.mtx"))):
        reader(root)


def test_a_symmetric_matrix_market_file_still_reads(tmp_path, read_all):
    # scipy.io.mmwrite writes a square symmetric matrix this way
    root = mtx_dir(tmp_path / "sym",
                   "%%MatrixMarket matrix coordinate integer symmetric\n2 2 2",
                   ["1 1 3", "2 1 4"],
                   n_genes=2,
                   n_cells_=2)
    np.testing.assert_array_equal(read_all(root), [[3, 4], [4, 0]])


def repeat_message(path, what, cell, row, gene, column):
    return ("%s: %sthe sparse matrix is damaged: 1 stored value repeats the "
            "cell and gene of another, e.g. cell %s (row %d) and gene %s "
            "(column %d); SciPy would add them up (a file written wrongly? "
            "write it again)" % (path, what, cell, row, gene, column))


def test_a_tenx_h5_column_repeating_a_gene_is_refused(tmp_path, reader,
                                                      exactly):
    # cell 3 stores 2 and 3 for gene 1 (read back as 5)
    data = np.array([1, 4, 2, 3, 5], np.int32)
    indices = np.array([0, 2, 1, 1, 0])
    indptr = np.array([0, 1, 2, 2, 4, 5])
    M = sp.csc_matrix((data, indices, indptr), shape=(3, 5))
    path = tenx_h5(tmp_path / "dup.h5", M)
    with pytest.raises(ACTINNInputError,
                       match=exactly(
                           repeat_message(path, "", "C3-1", 3, "GENE00001",
                                          1))):
        reader(path)


def dup_h5ad(path: Path, layer=None) -> Path:
    """An h5ad file whose CSR row 2 (cell c2) stores gene B twice."""
    X = sp.csr_matrix(
        np.array([[1, 0, 0], [0, 2, 0], [0, 2, 3], [4, 0, 0]],
                 dtype=np.float32))
    adata = anndata.AnnData(X.copy())
    adata.obs_names = ["c0", "c1", "c2", "c3"]
    adata.var_names = ["A", "B", "C"]
    if layer:
        adata.layers[layer] = X.copy()
        adata.X = sp.csr_matrix(np.log1p(X.toarray()))
    adata.write_h5ad(path)
    key = "layers/%s/indices" % layer if layer else "X/indices"
    with h5py.File(path, "r+") as f:
        f[key][...] = np.array([0, 1, 1, 1, 0])  # c2: B, B (was B, C)
    return path


@pytest.mark.parametrize("layer", [None, "counts"])
def test_an_h5ad_row_repeating_a_gene_is_refused(tmp_path, reader, layer,
                                                 exactly):
    path = dup_h5ad(tmp_path / "dup.h5ad", layer)
    what = "layers['counts']: " if layer else "X: "
    with pytest.raises(ACTINNInputError,
                       match=exactly(repeat_message(path, what, "c2", 2, "B",
                                                    1))):
        reader(path)


def test_rows_in_any_order_without_repeats_still_read(tmp_path, read_all,
                                                      stream_all):
    X = np.array([[1, 0, 5], [0, 2, 0], [7, 2, 3]], dtype=np.float32)
    csr = sp.csr_matrix(X)
    # each row's columns written backwards: not sorted, not repeated
    indices = np.concatenate(
        [csr.indices[csr.indptr[i]:csr.indptr[i + 1]][::-1] for i in range(3)])
    data = np.concatenate(
        [csr.data[csr.indptr[i]:csr.indptr[i + 1]][::-1] for i in range(3)])
    adata = anndata.AnnData(sp.csr_matrix(X))
    adata.obs_names, adata.var_names = ["c0", "c1", "c2"], ["A", "B", "C"]
    path = tmp_path / "unsorted.h5ad"
    adata.write_h5ad(path)
    with h5py.File(path, "r+") as f:
        f["X/indices"][...] = indices
        f["X/data"][...] = data
    np.testing.assert_array_equal(read_all(path), X)
    np.testing.assert_array_equal(stream_all(path), X)


# --- L7: float16 sparse h5ad


@pytest.mark.parametrize("where", ["X", "layers/counts", "raw/X"])
def test_a_float16_sparse_h5ad_reads_as_float32(tmp_path, reader, where):
    # float16 holds every whole number up to 2048 exactly, and float32 every
    # float16: the values read back unchanged
    X = np.array([[1, 0, 2048], [0, 7, 0]], dtype=np.float32)
    adata = anndata.AnnData(sp.csr_matrix(X))
    adata.obs_names, adata.var_names = ["c0", "c1"], ["A", "B", "C"]
    kwargs = {}
    if where == "layers/counts":
        adata.layers["counts"] = sp.csr_matrix(X)
        kwargs = dict(layer="counts")
    elif where == "raw/X":
        adata.raw = adata.copy()
        kwargs = dict(use_raw=True)
    path = tmp_path / "half.h5ad"
    adata.write_h5ad(path)
    with h5py.File(path, "r+") as f:
        data = f[where + "/data"][:]
        del f[where + "/data"]
        f[where + "/data"] = data.astype(np.float16)
    out = reader(path, **kwargs)
    np.testing.assert_array_equal(out, X)
    assert out.dtype == np.float32


def test_a_float16_h5ad_keeps_its_obs(tmp_path):
    adata = anndata.AnnData(sp.csr_matrix(np.array([[1.0, 2.0]])))
    adata.obs_names, adata.var_names = ["c0"], ["A", "B"]
    adata.obs["cell_type"] = pd.Categorical(["T cell"])
    path = tmp_path / "half.h5ad"
    adata.write_h5ad(path)
    with h5py.File(path, "r+") as f:
        data = f["X/data"][:]
        del f["X/data"]
        f["X/data"] = data.astype(np.float16)
    out = read(path)
    assert list(out.obs["cell_type"]) == ["T cell"]
    assert list(out.var_names) == ["A", "B"]


def test_repeated_entries_are_counted_block_by_block(monkeypatch):
    """Unsorted indices are sorted a block of rows at a time (memory bounded
    by the block): the count and the first repeat are those of the whole."""
    from collections import Counter

    from deepchem_actinn.io import sparse
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 40, 300)
    cols = rng.integers(0, 25, 300)
    order = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=40))])
    matrix = sp.csr_matrix((np.ones(300), cols[order], indptr), shape=(40, 25))
    repeats = Counter(zip(rows[order].tolist(), cols[order].tolist()))
    expected = sum(n - 1 for n in repeats.values())
    first_row = min(r for (r, _), n in repeats.items() if n > 1)
    whole = sparse.repeated_entries(matrix)
    monkeypatch.setattr(sparse, "_BLOCK", 7)
    assert sparse.repeated_entries(matrix) == whole
    assert whole[0] == expected and whole[1] == first_row
    assert repeats[whole[1], whole[2]] > 1
