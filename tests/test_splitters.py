import numpy as np
import pytest

try:  # the DeepChem integration; where it cannot be imported, the tests
    # marked requires_deepchem are skipped (conftest.py)
    import deepchem as dc

    from deepchem_actinn import SingletaskStratifiedSplitter
except ImportError:
    pass

pytestmark = pytest.mark.requires_deepchem


@pytest.fixture
def labelled(tm_train):
    y = np.unique(tm_train["labels"], return_inverse=True)[1].reshape(-1, 1)
    X = np.arange(len(y), dtype=np.float32).reshape(-1, 1)
    return X, y, tm_train["ids"]


def _as(kind, X, y, ids, tmp_path):
    if kind == "numpy":
        return dc.data.NumpyDataset(X, y, ids=ids)
    return dc.data.DiskDataset.from_numpy(X,
                                          y,
                                          ids=ids,
                                          data_dir=str(tmp_path / "src"))


@pytest.mark.parametrize("kind", ["numpy", "disk"])
def test_every_cell_in_exactly_one_split_with_proportions(
        kind, labelled, tmp_path):
    X, y, ids = labelled
    ds = _as(kind, X, y, ids, tmp_path)
    splits = SingletaskStratifiedSplitter().train_valid_test_split(
        ds, frac_train=0.8, frac_valid=0.1, frac_test=0.1, seed=3)
    all_ids = np.concatenate([s.ids for s in splits])
    assert len(all_ids) == len(ids)
    assert sorted(all_ids) == sorted(ids)
    counts = np.bincount(y.ravel())
    for split, frac in zip(splits, (0.8, 0.1, 0.1)):
        got = np.bincount(split.y.ravel().astype(int), minlength=len(counts))
        # Largest remainder: each class within one cell of its exact share.
        assert np.all(np.abs(got - frac * counts) <= 1.0)
        # X travels with its ids.
        np.testing.assert_array_equal(split.X.ravel().astype(int),
                                      [list(ids).index(i) for i in split.ids])


def test_train_test_split_is_seeded(labelled):
    X, y, ids = labelled
    ds = dc.data.NumpyDataset(X, y, ids=ids)
    splitter = SingletaskStratifiedSplitter()
    a = splitter.train_test_split(ds, frac_train=0.8, seed=1)[1].ids
    b = splitter.train_test_split(ds, frac_train=0.8, seed=1)[1].ids
    c = splitter.train_test_split(ds, frac_train=0.8, seed=2)[1].ids
    np.testing.assert_array_equal(a, b)
    assert set(a) != set(c)
    assert len(a) + len(splitter.train_test_split(ds, seed=1)[0]) == len(ids)


def test_tiny_classes_are_still_placed():
    y = np.array([0] * 20 + [1, 2, 2]).reshape(-1, 1)
    ds = dc.data.NumpyDataset(np.zeros((23, 1)), y)
    train, valid, test = SingletaskStratifiedSplitter().split(ds,
                                                              0.8,
                                                              0.1,
                                                              0.1,
                                                              seed=0)
    assert sorted(np.concatenate([train, valid, test])) == list(range(23))
    assert 20 in train  # the single cell of class 1 goes to train
    assert {21, 22} <= set(train) | set(valid)


@pytest.mark.parametrize("kind", ["numpy", "disk"])
def test_k_fold_is_stratified_and_covers_every_cell(kind, labelled, tmp_path):
    X, y, ids = labelled
    ds = _as(kind, X, y, ids, tmp_path)
    folds = SingletaskStratifiedSplitter().k_fold_split(ds, 4, seed=0)
    assert len(folds) == 4
    cv_ids = np.concatenate([cv.ids for _, cv in folds])
    assert sorted(cv_ids) == sorted(ids)
    counts = np.bincount(y.ravel())
    for train, cv in folds:
        assert len(train) + len(cv) == len(ids)
        assert not set(train.ids) & set(cv.ids)
        got = np.bincount(cv.y.ravel().astype(int), minlength=len(counts))
        assert np.all(np.abs(got - counts / 4) <= 1.0)


def test_bad_fractions():
    ds = dc.data.NumpyDataset(np.zeros((4, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="sum to 1"):
        SingletaskStratifiedSplitter().split(ds, 0.5, 0.1, 0.1)
