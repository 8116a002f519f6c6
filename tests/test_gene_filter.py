import logging

import numpy as np
import pytest
import scipy.sparse as sp

from deepchem_actinn import library_size_log
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.preprocessing import GeneFilter, take_columns
from deepchem_actinn.preprocessing.gene_stats import GeneStats, gene_statistics

try:  # the DeepChem integration; where it cannot be imported, the tests
    # marked requires_deepchem are skipped (conftest.py)
    import deepchem as dc

    from deepchem_actinn import GeneFilterTransformer
except ImportError:
    pass


def reference_mask(X, total=(1, 99), cvp=(1, 99), rtol=0.0):
    """The filter as the DeepChem tutorial writes it, in plain NumPy,
    returning the mask and the bounds of each step. ``rtol`` widens the
    (non-negative) bounds: values within it of a bound count as ties."""
    X = np.asarray(X, dtype=np.float64)
    expr = X.sum(axis=0)
    lo, hi = np.percentile(expr, total)
    keep = (expr >= lo * (1 - rtol)) & (expr <= hi * (1 + rtol))
    keep &= X.mean(axis=0) > 0
    mean = X.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = X.std(axis=0) / mean
    clo, chi = np.percentile(cv[keep], cvp)
    keep &= (cv >= clo * (1 - rtol)) & (cv <= chi * (1 + rtol))
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


@pytest.mark.requires_deepchem
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
    # The tie rule keeps every gene tied with a bound: 1,882 genes here.
    assert len(gf.kept_genes) == 1882


@pytest.mark.requires_deepchem
def test_fit_is_the_same_for_sparse_float64_and_disk_datasets(
        normalised, tm_train, tmp_path):
    genes = tm_train["genes"]
    masks = [
        GeneFilterTransformer(dataset=normalised, genes=genes).mask,
        GeneFilterTransformer(dataset=sp.csr_matrix(normalised),
                              genes=genes,
                              chunk_size=500).mask,
        GeneFilterTransformer(dataset=normalised.astype(np.float64),
                              genes=genes).mask,
        GeneFilterTransformer(dataset=dc.data.DiskDataset.from_numpy(
            normalised, data_dir=str(tmp_path)),
                              genes=genes,
                              chunk_size=700).mask,
    ]
    for mask in masks[1:]:
        np.testing.assert_array_equal(mask, masks[0])


@pytest.mark.requires_deepchem
def test_transform_applies_mask(normalised, tm_train):
    gf = GeneFilterTransformer(dataset=normalised, genes=tm_train["genes"])
    out = gf.transform(dc.data.NumpyDataset(normalised[:10]))
    np.testing.assert_array_equal(out.X, normalised[:10][:, gf.mask])


@pytest.mark.requires_deepchem
def test_align_by_name_with_shuffled_and_missing_genes(normalised, tm_train,
                                                       caplog):
    genes = tm_train["genes"]
    gf = GeneFilterTransformer(dataset=normalised, genes=genes)
    expected = normalised[:20][:, gf.mask]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(genes))
    kept_positions = np.flatnonzero(gf.mask)
    dropped = set(order[:0]) | {kept_positions[0], kept_positions[5]}
    order = np.array([i for i in order if i not in dropped])
    query_X, query_genes = normalised[:20][:, order], genes[order]
    with caplog.at_level(logging.WARNING):
        aligned = gf.align(query_X, query_genes)
    # missing genes are logged once, with their number
    assert caplog.text.count("missing from the query") == 1
    assert "2 of the gene filter's %d genes" % len(gf.kept_genes) in caplog.text
    expected[:, [0, 5]] = 0
    np.testing.assert_array_equal(aligned, expected)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        via_dataset = gf.transform(dc.data.NumpyDataset(query_X),
                                   genes=query_genes)
    assert caplog.text.count("missing from the query") == 1
    sparse = gf.align(sp.csr_matrix(query_X), query_genes)
    np.testing.assert_array_equal(via_dataset.X, expected)
    assert sp.issparse(sparse)
    np.testing.assert_array_equal(sparse.toarray(), expected)


@pytest.mark.requires_deepchem
def test_too_few_shared_genes_is_an_error(normalised, tm_train):
    gf = GeneFilterTransformer(dataset=normalised, genes=tm_train["genes"])
    other = ["ENSMUSG%08d" % i for i in range(2000)]
    with pytest.raises(ACTINNInputError,
                       match="0 of the gene filter.s 1882 genes found"):
        gf.align(normalised[:3], other)


@pytest.mark.requires_deepchem
def test_wrong_width_and_missing_fit_data(normalised, tm_train):
    gf = GeneFilterTransformer(dataset=normalised, genes=tm_train["genes"])
    with pytest.raises(ACTINNInputError, match="genes=..."):
        gf.transform(dc.data.NumpyDataset(normalised[:3, :100]))
    with pytest.raises(ValueError, match="fit on training data"):
        GeneFilterTransformer()
    with pytest.raises(ACTINNInputError, match="100 genes but 3 gene names"):
        gf.transform(dc.data.NumpyDataset(normalised[:3, :100]),
                     genes=["a", "b", "c"])
    with pytest.raises(ACTINNInputError, match="2000 genes but 3"):
        GeneFilterTransformer(dataset=normalised, genes=["a", "b", "c"])


def test_take_columns_sparse_equals_dense_in_any_order():
    rng = np.random.default_rng(0)
    X = sp.random(30, 12, density=0.3, random_state=0, format="csr")
    dense = X.toarray()
    for positions in (np.arange(12), np.arange(0, 12, 2), rng.permutation(12),
                      np.array([5, -1, 0, 11, -1]), np.array([3, 3, -1, 7])):
        out = take_columns(X, positions)
        assert sp.issparse(out) and out.shape == (30, len(positions))
        np.testing.assert_array_equal(out.toarray(),
                                      take_columns(dense, positions))


# -- GeneFilter, the array-level filter both paths use ----------------------


@pytest.fixture(scope="module")
def continuous():
    """Normalised-looking cells without ties: lognormal values, a third of
    them zero, and five genes never expressed."""
    rng = np.random.default_rng(7)
    X = rng.lognormal(0.0, 1.0, size=(300, 400))
    X[rng.random(X.shape) < 0.3] = 0.0
    X[:, [3, 50, 51, 200, 399]] = 0.0
    genes = np.array(["Gene%d" % i for i in range(400)])
    return X, genes


@pytest.mark.parametrize("sparse", [False, True])
def test_gene_filter_equals_numpy_filter(continuous, sparse):
    X, genes = continuous
    mask = reference_mask(X, (2, 97), (5, 90))[0]
    data = sp.csr_matrix(X) if sparse else X
    gf = GeneFilter(total_percentiles=(2, 97), cv_percentiles=(5, 90))
    out = gf.fit(data, genes).transform(data)
    np.testing.assert_array_equal(gf.support_, mask)
    assert 300 < mask.sum() < 400 and not mask[[3, 50, 51, 200, 399]].any()
    assert sp.issparse(out) == sparse
    dense_out = out.toarray() if sparse else out
    np.testing.assert_array_equal(dense_out, X[:, mask])
    # fitted attributes
    assert gf.n_genes_in_ == 400
    np.testing.assert_array_equal(gf.genes_, genes[mask])
    np.testing.assert_array_equal(gf.genes_in_, genes)
    assert gf.stats_.n_cells == 300
    np.testing.assert_allclose(gf.stats_.total, X.sum(0), rtol=1e-12)
    np.testing.assert_allclose(gf.stats_.mean, X.mean(0), rtol=1e-12)
    np.testing.assert_allclose(gf.stats_.var, X.var(0), rtol=1e-9)
    np.testing.assert_allclose(gf.stats_.cv[mask],
                               X.std(0)[mask] / X.mean(0)[mask],
                               rtol=1e-9)
    np.testing.assert_array_equal(
        GeneFilter((2, 97), (5, 90)).fit_transform(data, genes).shape,
        (300, mask.sum()))


@pytest.mark.requires_deepchem
def test_gene_filter_on_bundled_data_is_numpy_with_the_tie_rule(
        normalised, tm_train):
    gf = GeneFilter().fit(normalised, tm_train["genes"])
    mask = reference_mask(normalised, rtol=1e-5)[0]
    np.testing.assert_array_equal(gf.support_, mask)
    assert gf.support_.sum() == 1882
    np.testing.assert_array_equal(gf.genes_, tm_train["genes"][mask])
    # the transformer wraps the same filter
    gft = GeneFilterTransformer(dataset=normalised, genes=tm_train["genes"])
    np.testing.assert_array_equal(gft.mask, gf.support_)


def test_get_support(continuous):
    X, genes = continuous
    gf = GeneFilter().fit(X)
    mask = gf.get_support()
    assert mask.dtype == bool and mask.shape == (400,)
    np.testing.assert_array_equal(gf.get_support(indices=True),
                                  np.flatnonzero(mask))
    assert gf.genes_ is None and gf.genes_in_ is None


@pytest.mark.parametrize("block", [1000, 333, 1])
def test_partial_fit_over_blocks_equals_fit(normalised, tm_train, block):
    genes = tm_train["genes"]
    whole = GeneFilter().fit(normalised, genes)
    blocks = GeneFilter()
    if block == 1:  # a handful of single cells, then the rest
        starts = list(range(5)) + [5]
        stops = list(range(1, 6)) + [len(normalised)]
    else:
        starts = list(range(0, len(normalised), block))
        stops = [s + block for s in starts]
    for start, stop in zip(starts, stops):
        part = normalised[start:stop]
        blocks.partial_fit(sp.csr_matrix(part) if start % 2 else part, genes)
    np.testing.assert_array_equal(blocks.support_, whole.support_)
    np.testing.assert_array_equal(blocks.genes_, whole.genes_)
    assert blocks.stats_.n_cells == whole.stats_.n_cells == len(normalised)
    np.testing.assert_allclose(blocks.stats_.total,
                               whole.stats_.total,
                               rtol=1e-10)


def test_fit_on_an_iterable_of_blocks_and_on_statistics(normalised, tm_train):
    genes = tm_train["genes"]
    whole = GeneFilter().fit(normalised, genes)
    generator = (sp.csr_matrix(normalised[i:i + 700])
                 for i in range(0, len(normalised), 700))
    chunked = GeneFilter().fit(generator, genes)
    np.testing.assert_array_equal(chunked.support_, whole.support_)
    from_stats = GeneFilter().fit_stats(gene_statistics(normalised), genes)
    np.testing.assert_array_equal(from_stats.support_, whole.support_)
    np.testing.assert_array_equal(from_stats.genes_, whole.genes_)
    # a refit forgets the earlier data
    refit = GeneFilter().fit(normalised[:10], genes).fit(normalised, genes)
    assert refit.stats_.n_cells == len(normalised)
    with pytest.raises(TypeError, match="row blocks"):
        GeneFilter().fit_transform(iter([normalised]), genes)
    with pytest.raises(ACTINNInputError, match="no cells"):
        GeneFilter().fit(iter([]), genes)


def test_transform_by_name_is_case_insensitive_and_fills_zeros(
        continuous, caplog):
    X, genes = continuous
    gf = GeneFilter().fit(X, genes)
    kept = gf.get_support(indices=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(400)
    order = order[~np.isin(order, kept[[1, 10, 20]])]  # three kept go missing
    query_genes = np.array([g.lower() for g in genes[order]])
    expected = X[:, kept].copy()
    expected[:, [1, 10, 20]] = 0.0
    with caplog.at_level(logging.WARNING):
        out = gf.transform(X[:, order], genes=query_genes)
    np.testing.assert_array_equal(out, expected)
    assert caplog.text.count("missing from the query") == 1
    assert "3 of the gene filter's %d genes" % len(kept) in caplog.text
    sparse = gf.transform(sp.csr_matrix(X[:, order]), genes=query_genes)
    assert sp.issparse(sparse)
    np.testing.assert_array_equal(sparse.toarray(), expected)
    # the same names in the same order give plain column selection
    np.testing.assert_array_equal(gf.transform(X, genes=genes), X[:, kept])


def test_gene_filter_refusals(continuous):
    X, genes = continuous
    with pytest.raises(ValueError, match="not fitted"):
        GeneFilter().transform(X)
    with pytest.raises(ValueError, match="percentile bounds"):
        GeneFilter(total_percentiles=(5, 101)).fit(X)
    gf = GeneFilter(min_overlap=0.9).fit(X, genes)
    with pytest.raises(ACTINNInputError, match="genes=..."):
        gf.transform(X[:, :100])
    with pytest.raises(ACTINNInputError, match="100 genes but 400 gene names"):
        gf.transform(X[:, :100], genes=genes)
    with pytest.raises(ACTINNInputError, match="do not match"):
        gf.transform(X[:, :200], genes=genes[:200])
    with pytest.raises(ACTINNInputError, match="fit without gene names"):
        GeneFilter().fit(X).transform(X, genes=genes)
    with pytest.raises(ACTINNInputError, match="400 genes but 3 gene names"):
        GeneFilter().fit(X, ["a", "b", "c"])
    blocks = GeneFilter().partial_fit(X[:10], genes)
    with pytest.raises(ACTINNInputError, match="has 100 genes, the earlier"):
        blocks.partial_fit(X[10:20, :100])
    with pytest.raises(ACTINNInputError, match="differently"):
        blocks.partial_fit(X[10:20], genes[::-1])


def test_statistics_leave_float64_sparse_input_alone():
    X = sp.random(40, 30, density=0.3, random_state=1, format="csr") * 3.0
    before = X.data.copy()
    stats = GeneStats.of(X)
    GeneFilter().fit(X)
    np.testing.assert_array_equal(X.data, before)
    np.testing.assert_allclose(stats.sum_sq, (X.toarray()**2).sum(0))


def test_fit_and_fit_stats_say_what_they_keep(normalised, tm_train, caplog):
    """Training in memory (fit) and from disk (fit_stats, after a pass over
    the file) both log how many genes the filter keeps."""
    genes = tm_train["genes"]
    caplog.set_level(logging.INFO, logger="deepchem_actinn")
    said = []
    for fit in (lambda f: f.fit(normalised, genes),
                lambda f: f.fit_stats(gene_statistics(normalised), genes)):
        caplog.clear()
        kept = fit(GeneFilter())
        said.append([r.getMessage() for r in caplog.records])
        assert said[-1] == [
            "gene filter keeps %d of %d genes" %
            (kept.support_.sum(), len(genes))
        ]
    assert said[0] == said[1]


def test_blocks_of_other_genes_are_an_input_error():
    """A file whose values and gene names were read differently gave out
    of core a bare ValueError, 'a block has 200 genes, earlier blocks
    201'."""
    from deepchem_actinn.errors import ACTINNInputError
    stats = GeneStats(0, np.zeros(3), np.zeros(3))
    with pytest.raises(ACTINNInputError,
                       match="^a block of cells holds 2 genes, the sums so far "
                       "3: every block must hold the same genes \\(the file's "
                       "values and its gene names read differently\\?\\)$"):
        stats.add(np.ones((4, 2)))
