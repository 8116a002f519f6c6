import numpy as np
import pytest
import scipy.sparse as sp

from deepchem_actinn import library_size_log
from deepchem_actinn.errors import ACTINNInputError

try:  # the DeepChem integration; where it cannot be imported, the tests
    # marked requires_deepchem are skipped (conftest.py)
    import deepchem as dc

    from deepchem_actinn import LibrarySizeLogTransformer
except ImportError:
    pass


def reference(X, target_sum=1e4, base=2.0):
    X = np.asarray(X, dtype=np.float64)
    X = X / X.sum(axis=1, keepdims=True) * target_sum
    return np.log(X + 1) / np.log(base)


def test_matches_numpy_on_bundled_data(tm_train):
    out = library_size_log(tm_train["X"])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out,
                               reference(tm_train["X"]),
                               rtol=1e-6,
                               atol=1e-6)


def test_every_cell_sums_to_target_before_log(tm_test):
    out = library_size_log(tm_test["X"], target_sum=1234.0)
    np.testing.assert_allclose((2.0**out.astype(np.float64) - 1).sum(axis=1),
                               1234.0,
                               rtol=1e-4)


def test_sparse_equals_dense_and_stays_sparse(tm_test):
    dense = library_size_log(tm_test["X"])
    sparse = library_size_log(sp.csr_matrix(tm_test["X"]))
    assert sp.issparse(sparse) and sparse.dtype == np.float32
    assert sparse.nnz == np.count_nonzero(tm_test["X"])
    np.testing.assert_allclose(sparse.toarray(), dense, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("base", [np.e, 10.0])
def test_other_log_bases(base):
    X = np.array([[1.0, 3.0, 0.0], [2.0, 2.0, 6.0]])
    np.testing.assert_allclose(library_size_log(X, 100.0, base),
                               reference(X, 100.0, base),
                               rtol=1e-6)


@pytest.mark.requires_deepchem
def test_transformer_on_numpy_and_disk_datasets(tm_test, tmp_path):
    X = tm_test["X"][:300]
    y = np.arange(300).reshape(-1, 1)
    expected = reference(X)
    t = LibrarySizeLogTransformer()
    numpy_ds = dc.data.NumpyDataset(X, y, ids=tm_test["ids"][:300])
    for out in (numpy_ds.transform(t), t.transform(numpy_ds)):
        assert out.X.dtype == np.float32
        np.testing.assert_allclose(out.X, expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(out.y, y)
    disk = dc.data.DiskDataset.from_numpy(X,
                                          y,
                                          ids=tm_test["ids"][:300],
                                          data_dir=str(tmp_path / "disk"))
    out = t.transform(disk, out_dir=str(tmp_path / "out"))
    np.testing.assert_allclose(out.X, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out.ids, tm_test["ids"][:300])


def _bad(matrix, ids):
    with pytest.raises(ACTINNInputError) as info:
        LibrarySizeLogTransformer().transform(
            dc.data.NumpyDataset(matrix, ids=np.array(ids)))
    return str(info.value)


@pytest.mark.requires_deepchem
def test_zero_total_cells_are_named():
    X = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 0.0], [0.0, 0.0]])
    message = _bad(X, ["a", "b", "c", "d"])
    assert "2 cells have zero total counts" in message
    assert "b, d" in message


@pytest.mark.requires_deepchem
def test_negative_and_nan_values_are_named():
    assert "1 cell holds negative values" in _bad(
        np.array([[1.0, -2.0], [1.0, 1.0]]), ["x", "y"])
    message = _bad(np.array([[1.0, 1.0], [np.nan, 1.0], [np.inf, 0.0]]),
                   ["x", "y", "z"])
    assert "2 cells hold NaN or infinite values: y, z" in message


def test_sparse_bad_values_are_named():
    X = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ACTINNInputError, match="negative.*c2"):
        library_size_log(X, ids=["c1", "c2"])


@pytest.mark.requires_deepchem
def test_untransform_is_refused():
    with pytest.raises(NotImplementedError):
        LibrarySizeLogTransformer().untransform(np.zeros((1, 1)))


def test_columns_normalise_over_those_columns_only():
    """The prediction path's normalisation (the model's genes, a query's
    other genes ignored) is library_size_log over the given columns."""
    X = np.array([[1.0, 3.0, 96.0, 0.0], [2.0, 2.0, 0.0, 5.0],
                  [0.0, 0.0, 7.0, 0.0]])
    columns = np.array([1, -1, 0])
    expected = reference(np.array([[3.0, 1.0], [2.0, 2.0]]), 4.0)
    for matrix in (X, sp.csr_matrix(X)):
        out = library_size_log(matrix, 4.0, columns=columns)
        out = out.toarray() if sp.issparse(out) else out
        assert out.dtype == np.float32 and out.shape == (3, 3)
        np.testing.assert_allclose(out[:2, [0, 2]], expected, rtol=1e-6)
        # a missing column is zeros; a cell with counts, none of them in the
        # columns, is a row of zeros (the scorer names and refuses it)
        np.testing.assert_array_equal(out[:, 1], 0.0)
        np.testing.assert_array_equal(out[2], 0.0)
    with pytest.raises(ACTINNInputError, match="1 cell has zero total.*: e"):
        library_size_log(np.vstack([X, np.zeros(4)]),
                         ids=["a", "b", "c", "e"],
                         columns=columns)


def test_unchecked_cells_without_counts_are_still_refused():
    # check=False skips the scan of the values; the totals are made anyway
    X = np.array([[1.0, 2.0], [0.0, 0.0]])
    for matrix in (X, sp.csr_matrix(X)):
        with pytest.raises(ACTINNInputError,
                           match=r"^1 cell has zero total counts and cannot "
                           r"be library-size normalised: b; leave cells "
                           r"without counts out first \(scanpy: "
                           r"sc.pp.filter_cells\(adata, min_counts=1\)\)$"):
            library_size_log(matrix, ids=["a", "b"], check=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(target_sum=0), "target_sum must be a number above 0, got 0"),
    (dict(target_sum=np.nan), "target_sum must be a number above 0, got nan"),
    (dict(base=1.0), "base must be a number above 1, got 1.0"),
    (dict(base=np.inf), "base must be a number above 1, got inf"),
])
def test_target_sum_and_base_are_checked_by_one_rule(kwargs, message):
    with pytest.raises(ValueError, match="^%s$" % message):
        library_size_log(np.ones((2, 2)), **kwargs)


@pytest.mark.requires_deepchem
def test_transformer_checks_the_values_from_its_one_scan(monkeypatch):
    """The transformer scans a shard once (for a log scale, NaN, infinite
    and negative values), and its check of the cells reads that scan."""
    import deepchem_actinn.io.counts as counts
    import deepchem_actinn.preprocessing.normalise as normalise
    scans, original = [], counts.scan_values

    def scan(matrix, *args, **kwargs):
        scans.append(matrix.shape)
        return original(matrix, *args, **kwargs)

    monkeypatch.setattr(normalise, "scan_values", scan)
    monkeypatch.setattr(counts, "scan_values", scan)
    X = np.array([[1.0, 3.0], [5.0, 5.0]])
    t = LibrarySizeLogTransformer()
    out = t.transform_array(X, None, None, np.array(["a", "b"]))[0]
    assert scans == [(2, 2)]
    np.testing.assert_array_equal(out, library_size_log(X))
    message = _bad(np.array([[1.0, 1.0], [-1.0, 1.0]]), ["x", "y"])
    assert message == "1 cell holds negative values, which are not counts: y"
    with pytest.raises(ValueError, match="base must be a number above 1"):
        LibrarySizeLogTransformer(base=0.5)
