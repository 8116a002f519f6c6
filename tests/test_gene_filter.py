import warnings

import deepchem as dc
import numpy as np
import pytest
import scipy.sparse as sp

from deepchem_actinn import GeneFilterTransformer, library_size_log
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.stats import gene_statistics


def reference_mask(X, total=(1, 99), cvp=(1, 99)):
    """The filter as the DeepChem tutorial writes it, in plain NumPy,
    returning the mask and the bounds of each step."""
    X = np.asarray(X, dtype=np.float64)
    expr = X.sum(axis=0)
    lo, hi = np.percentile(expr, total)
    keep = (expr >= lo) & (expr <= hi)
    keep &= X.mean(axis=0) > 0
    mean = X.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = X.std(axis=0) / mean
    clo, chi = np.percentile(cv[keep], cvp)
    keep &= (cv >= clo) & (cv <= chi)
    return keep, expr, (lo, hi), cv, (clo, chi)


def at_bound(values, bounds, rtol=1e-5):
    return np.isclose(values, bounds[0], rtol=rtol) | np.isclose(
        values, bounds[1], rtol=rtol)


@pytest.fixture(scope="module")
def normalised(tm_train):
    return library_size_log(tm_train["X"])


def test_stats_match_numpy_dense_sparse_and_chunked(normalised):
    Xd = normalised.astype(np.float64)
    for source in (normalised, sp.csr_matrix(normalised)):
        stats = gene_statistics(source, chunk_size=333)
        np.testing.assert_allclose(stats.total, Xd.sum(0), rtol=1e-10)
        np.testing.assert_allclose(stats.mean, Xd.mean(0), rtol=1e-10)
        np.testing.assert_allclose(stats.std, Xd.std(0), rtol=1e-7, atol=1e-9)


def test_same_genes_as_numpy_reference_up_to_ties(normalised, tm_train):
    gf = GeneFilterTransformer(dataset=dc.data.NumpyDataset(normalised),
                               genes=tm_train["genes"])
    ref, expr, ebounds, cv, cbounds = reference_mask(normalised)
    differ = gf.mask != ref
    # Genes may only disagree where their value ties with a percentile bound.
    tie = at_bound(expr, ebounds) | at_bound(cv, cbounds)
    assert not (differ & ~tie).any()
    # ... and the filter keeps the whole tie.
    assert gf.mask[tie & (gf.mask | ref)].all()
    np.testing.assert_array_equal(gf.kept_genes, tm_train["genes"][gf.mask])
    assert 1863 <= len(gf.kept_genes) <= 1882


def test_fit_is_the_same_for_sparse_float64_and_disk_datasets(
        normalised, tm_train, tmp_path):
    genes = tm_train["genes"]
    masks = [
        GeneFilterTransformer(normalised, genes).mask,
        GeneFilterTransformer(sp.csr_matrix(normalised), genes,
                              chunk_size=500).mask,
        GeneFilterTransformer(normalised.astype(np.float64), genes).mask,
        GeneFilterTransformer(dc.data.DiskDataset.from_numpy(
            normalised, data_dir=str(tmp_path)),
                              genes,
                              chunk_size=700).mask,
    ]
    for mask in masks[1:]:
        np.testing.assert_array_equal(mask, masks[0])


def test_transform_applies_mask(normalised, tm_train):
    gf = GeneFilterTransformer(normalised, tm_train["genes"])
    out = gf.transform(dc.data.NumpyDataset(normalised[:10]))
    np.testing.assert_array_equal(out.X, normalised[:10][:, gf.mask])


def test_align_by_name_with_shuffled_and_missing_genes(normalised, tm_train):
    genes = tm_train["genes"]
    gf = GeneFilterTransformer(normalised, genes)
    expected = normalised[:20][:, gf.mask]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(genes))
    kept_positions = np.flatnonzero(gf.mask)
    dropped = set(order[:0]) | {kept_positions[0], kept_positions[5]}
    order = np.array([i for i in order if i not in dropped])
    query_X, query_genes = normalised[:20][:, order], genes[order]
    with pytest.warns(UserWarning,
                      match="2 of the %d genes" % len(gf.kept_genes)):
        aligned = gf.align(query_X, query_genes)
    expected[:, [0, 5]] = 0
    np.testing.assert_array_equal(aligned, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        via_dataset = gf.transform(dc.data.NumpyDataset(query_X),
                                   genes=query_genes)
        sparse = gf.align(sp.csr_matrix(query_X), query_genes)
    np.testing.assert_array_equal(via_dataset.X, expected)
    assert sp.issparse(sparse)
    np.testing.assert_array_equal(sparse.toarray(), expected)


def test_too_few_shared_genes_is_an_error(normalised, tm_train):
    gf = GeneFilterTransformer(normalised, tm_train["genes"])
    other = ["ENSMUSG%08d" % i for i in range(2000)]
    with pytest.raises(ACTINNInputError, match="only 0 of the"):
        gf.align(normalised[:3], other)


def test_wrong_width_and_missing_fit_data(normalised, tm_train):
    gf = GeneFilterTransformer(normalised, tm_train["genes"])
    with pytest.raises(ACTINNInputError, match="genes=..."):
        gf.transform(dc.data.NumpyDataset(normalised[:3, :100]))
    with pytest.raises(ValueError, match="fit on training data"):
        GeneFilterTransformer()
    with pytest.raises(ACTINNInputError, match="2000 genes but 3"):
        GeneFilterTransformer(normalised, ["a", "b", "c"])


def test_take_columns_sparse_equals_dense_in_any_order():
    from deepchem_actinn.preprocessing.gene_filter import take_columns
    rng = np.random.default_rng(0)
    X = sp.random(30, 12, density=0.3, random_state=0, format="csr")
    dense = X.toarray()
    for positions in (np.arange(12), np.arange(0, 12, 2), rng.permutation(12),
                      np.array([5, -1, 0, 11, -1]), np.array([3, 3, -1, 7])):
        out = take_columns(X, positions)
        assert sp.issparse(out) and out.shape == (30, len(positions))
        np.testing.assert_array_equal(out.toarray(),
                                      take_columns(dense, positions))
