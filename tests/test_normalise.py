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
