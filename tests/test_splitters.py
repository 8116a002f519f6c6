import numpy as np
import pytest

try:  # the DeepChem integration; where it cannot be imported, the tests
    # marked requires_deepchem are skipped (conftest.py)
    import deepchem as dc

    from deepchem_actinn import SingletaskStratifiedSplitter
except ImportError:
    pass

from deepchem_actinn.errors import ACTINNInputError

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
    sizes = [len(cv) for _, cv in folds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("n_types, per_type, sizes", [(20, 5, [80, 10, 10]),
                                                      (30, 3, [72, 9, 9]),
                                                      (10, 15, [120, 15, 15])])
def test_split_sizes_follow_the_fractions_when_classes_are_small(
        n_types, per_type, sizes):
    y = np.repeat(np.arange(n_types), per_type)
    ds = dc.data.NumpyDataset(np.zeros((len(y), 1)), y)
    splits = SingletaskStratifiedSplitter().train_valid_test_split(ds, seed=0)
    assert [len(s) for s in splits] == sizes
    for split, frac in zip(splits, (0.8, 0.1, 0.1)):
        got = np.bincount(split.y.astype(int), minlength=n_types)
        # each class still divided as evenly as it can be
        assert np.all(np.abs(got - frac * per_type) < 1)


def test_ties_between_splits_follow_the_seed():
    ds = dc.data.NumpyDataset(np.zeros((25, 1)), np.zeros(25))
    sizes = {
        tuple(
            len(part)
            for part in SingletaskStratifiedSplitter().split(ds, seed=seed))
        for seed in range(20)
    }
    assert sizes == {(20, 3, 2), (20, 2, 3)}


@pytest.mark.parametrize("ids, named", [(list("abcdef"), "e, f"),
                                        (None, "4, 5")])
def test_cells_without_a_label_are_refused_by_name(ids, named):
    y = np.array([0.0, 0.0, 1.0, 1.0, np.nan, np.nan])
    ds = dc.data.NumpyDataset(np.zeros((6, 1)), y, ids=ids)
    splitter = SingletaskStratifiedSplitter()
    message = "^2 cells have no label \\(NaN in task 0 of y\\): %s; " % named
    with pytest.raises(ACTINNInputError, match=message):
        splitter.train_test_split(ds, frac_train=0.5, seed=0)
    with pytest.raises(ACTINNInputError, match=message):
        splitter.k_fold_split(ds, 2, seed=0)
    one = dc.data.NumpyDataset(np.zeros((3, 1)), np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ACTINNInputError, match="^1 cell has no label .*: 1;"):
        splitter.split(one)


def test_bad_fractions():
    ds = dc.data.NumpyDataset(np.zeros((4, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="sum to 1"):
        SingletaskStratifiedSplitter().split(ds, 0.5, 0.1, 0.1)
