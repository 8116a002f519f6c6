"""Count-level augmentation (preprocessing/augment.py) and its use in fit."""
import numpy as np
import pytest
import scipy.sparse as sp

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.preprocessing.augment import (Augmentation, augment_counts,
                                                   capture_factors, drop_genes,
                                                   thin)


def _counts(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(5.0, (30, 12)).astype(np.float32)
    X[X < 3] = 0
    X[:, 0] += 1
    return X


def test_capture_factors_are_log_normal_with_mean_one():
    z = np.random.default_rng(4).standard_normal(6)
    got = capture_factors(6, 0.7, np.random.default_rng(4))
    np.testing.assert_allclose(got, np.exp(0.7 * z - 0.7**2 / 2))
    many = capture_factors(200_000, 1.0, np.random.default_rng(0))
    assert abs(many.mean() - 1.0) < 0.02
    with pytest.raises(ValueError, match="sigma"):
        capture_factors(3, -1.0, np.random.default_rng(0))


def test_thin_is_binomial_on_the_counts_dense_and_sparse():
    X = _counts()
    cell_p = np.linspace(0.1, 1.0, 30)
    gene_p = np.linspace(0.5, 3.0, 12)
    p = np.clip(cell_p[:, None] * gene_p[None, :], 0, 1)
    dense = thin(X, cell_p, gene_p, np.random.default_rng(1))
    expected = np.random.default_rng(1).binomial(X.astype(np.int64), p)
    np.testing.assert_array_equal(dense, expected)
    sparse = thin(sp.csr_matrix(X), cell_p, gene_p, np.random.default_rng(1))
    csr = sp.csr_matrix(X)
    rows = np.repeat(np.arange(30), np.diff(csr.indptr))
    draws = np.random.default_rng(1).binomial(csr.data.astype(np.int64),
                                              p[rows, csr.indices])
    np.testing.assert_array_equal(
        sparse.toarray(),
        sp.csr_matrix((draws, csr.indices, csr.indptr),
                      shape=X.shape).toarray())
    assert sparse.dtype == np.float32 and (sparse.data > 0).all()
    # probability 1 keeps every count; 0 none
    np.testing.assert_array_equal(
        thin(X, np.ones(30), None, np.random.default_rng(0)), X)
    assert thin(X, np.zeros(30), None, np.random.default_rng(0)).sum() == 0
    with pytest.raises(ValueError, match="cell probabilities"):
        thin(X, np.ones(3), None, np.random.default_rng(0))


def test_drop_genes_zeroes_that_share_of_columns_only():
    X = _counts() + 1
    for matrix in (X, sp.csr_matrix(X)):
        out = drop_genes(matrix, 0.25, np.random.default_rng(3))
        out = out.toarray() if sp.issparse(out) else out
        zero = np.flatnonzero(out.sum(axis=0) == 0)
        assert len(zero) == 3
        kept = np.setdiff1d(np.arange(12), zero)
        np.testing.assert_array_equal(out[:, kept], X[:, kept])


def test_augment_counts_thins_to_the_depth_range_reproducibly():
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.poisson(50.0, (200, 100)).astype(np.float32))
    out = augment_counts(X, np.random.default_rng(5), (500, 1000), 0.0, 0.0)
    totals = np.asarray(out.sum(axis=1)).ravel()
    assert 400 < totals.min() and totals.max() < 1150
    assert 600 < np.median(totals) < 800  # log-uniform: median ~707
    assert (out.toarray() <= X.toarray()).all()
    again = augment_counts(X, np.random.default_rng(5), (500, 1000), 0.0, 0.0)
    assert (out != again).nnz == 0
    with pytest.raises(ValueError, match="depth"):
        augment_counts(X, rng, (10, 5))


def test_augmentation_settings_round_trip_and_stack_copies():
    assert Augmentation.from_value(None) is None
    assert Augmentation.from_value(False) is None
    settings = Augmentation.from_value({"copies": 2, "depth": [100, 200]})
    assert settings.depth == (100.0, 200.0)
    assert Augmentation.from_value(settings.to_dict()) == settings
    with pytest.raises(ValueError, match="augment must be"):
        Augmentation.from_value("yes")
    X = sp.csr_matrix(_counts())
    stacked = settings.apply(X, np.random.default_rng(0))
    assert stacked.shape == (60, 12)
    # two copies, each a new draw of the technology, from the one generator
    rng = np.random.default_rng(0)
    copies = [
        augment_counts(X, rng, settings.depth, settings.capture_sigma,
                       settings.dropout) for _ in range(2)
    ]
    np.testing.assert_array_equal(stacked.toarray(),
                                  sp.vstack(copies).toarray())
    assert (copies[0] != copies[1]).nnz and (copies[0] != X).nnz


def test_fit_with_augment_adds_copies_and_is_saved(tm_train, tmp_path,
                                                   monkeypatch):
    from deepchem_actinn.annotator import annotator as module
    rows = np.flatnonzero(np.isin(tm_train["labels"], ["B cell", "T cell"]))
    X = sp.csr_matrix(tm_train["X"][rows][:, :300])
    genes, labels = tm_train["genes"][:300], tm_train["labels"][rows]
    trained_on = []
    original = module.epoch_source

    def recording(X_train, y_train, *args):
        rows = args[3] if len(args) > 3 else None
        y_seen = y_train if rows is None else y_train[rows]
        trained_on.append((len(y_seen), np.bincount(y_seen).tolist()))
        return original(X_train, y_train, *args)

    monkeypatch.setattr(module, "epoch_source", recording)
    params = dict(max_epochs=1, early_stopping=False, n_networks=1)
    plain = ACTINNAnnotator(**params).fit(X, genes, labels)
    augmented = ACTINNAnnotator(augment={"copies": 2}, **params)
    augmented.fit(X, genes, labels)
    assert augmented.get_params()["augment"]["copies"] == 2
    # three times the training cells (original + 2 copies), same mix
    assert trained_on[1][0] == 3 * trained_on[0][0]
    assert trained_on[1][1] == [3 * n for n in trained_on[0][1]]
    # the held-out cells (and so the calibration set) are the same
    assert augmented.n_reference_cells_ == plain.n_reference_cells_
    assert not np.allclose(
        augmented.predict(X, genes).probabilities,
        plain.predict(X, genes).probabilities)
    augmented.save(tmp_path / "m")
    loaded = ACTINNAnnotator.load(tmp_path / "m", device="cpu")
    # saved with every field; the annotator keeps its augment as given
    assert loaded.augment == Augmentation(copies=2).to_dict()
    assert augmented.augment == {"copies": 2}
    with pytest.raises(ValueError, match="fit_file"):
        ACTINNAnnotator(augment=True).fit_file(tmp_path / "none.h5ad",
                                               tmp_path / "labels.txt")
