"""The one prediction path: embed and EnsembleScorer on a small ensemble."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepchem_actinn.errors import ACTINNCellError
from deepchem_actinn.models.inference import (EnsembleScorer, embed,
                                              model_gene_log)
from deepchem_actinn.models.network import mean_log_proba, seeded_ensemble
from deepchem_actinn.preprocessing.normalise import library_size_log


def _counts(n_cells=300, n_genes=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(0.8, (n_cells, n_genes)).astype(np.float32)
    X[:, 0] += 1  # no empty cell
    return X


def test_embed_is_the_ensembles_forward_pass_block_by_block():
    ensemble = seeded_ensemble(40, 4, (16, 8), n_networks=3, seed=0)
    X = library_size_log(_counts())
    hidden, logits = embed(ensemble, X, block=64)
    with torch.no_grad():
        proba, member = ensemble(torch.from_numpy(X))
        first = torch.relu(ensemble.first(torch.from_numpy(X)))
    np.testing.assert_allclose(np.exp(logits), proba.numpy(), rtol=1e-5)
    np.testing.assert_allclose(logits,
                               mean_log_proba(member.transpose(0, 1)).numpy(),
                               rtol=1e-6,
                               atol=1e-6)
    assert hidden.shape == (300, 3 * 8)
    # member 1's features are its own network's last hidden layer
    net = ensemble.member(1)
    with torch.no_grad():
        own = net.features(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(hidden[:, 8:16], own, rtol=1e-5, atol=1e-6)
    assert first.shape == (300, 3 * 16)
    # a sparse input goes through the sparse first layer: same result
    sparse_hidden, sparse_logits = embed(ensemble, sp.csr_matrix(X), block=64)
    np.testing.assert_allclose(sparse_logits, logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sparse_hidden, hidden, rtol=1e-5, atol=1e-6)


def test_scorer_takes_dense_or_sparse_counts_in_the_querys_gene_order():
    ensemble = seeded_ensemble(30, 3, (16, 8), n_networks=2, seed=1)
    counts = _counts(n_genes=40)
    rng = np.random.default_rng(2)
    positions = rng.permutation(40)[:30]
    positions[:3] = -1  # three model genes missing from the query
    scorer = EnsembleScorer(ensemble, positions, 40, 1e4, 2.0, block=50)
    sparse = scorer(sp.csr_matrix(counts))
    dense = scorer(counts)
    # library size: each cell's counts in the model genes the query has
    raw = counts[:, np.maximum(positions, 0)]
    raw[:, positions < 0] = 0
    reference = embed(ensemble, library_size_log(raw))
    for got in (sparse, dense):
        np.testing.assert_allclose(got[0], reference[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got[1], reference[1], rtol=1e-4, atol=1e-5)


def test_scorer_on_another_device_leaves_the_ensemble_where_it_is():
    ensemble = seeded_ensemble(10, 2, (4,), seed=0)
    scorer = EnsembleScorer(ensemble, np.arange(10), 10, 1e4, 2.0, "cpu")
    assert scorer.device == torch.device("cpu")
    assert scorer.ensemble is ensemble


def _with_unknown_genes(counts, n_extra=500, seed=5):
    """The same cells with ``n_extra`` unknown genes appended, holding most
    of the counts, and the columns shuffled."""
    rng = np.random.default_rng(seed)
    extra = rng.poisson(rng.gamma(0.5, 40.0, n_extra),
                        (len(counts), n_extra)).astype(np.float32)
    wide = np.hstack([counts, extra])
    order = rng.permutation(wide.shape[1])
    return wide[:, order], np.argsort(order)


def test_extra_unknown_genes_do_not_change_the_scores():
    ensemble = seeded_ensemble(30, 3, (16, 8), n_networks=2, seed=1)
    counts = _counts(n_genes=40)
    positions = np.random.default_rng(2).permutation(40)[:30]
    positions[:3] = -1
    plain = EnsembleScorer(ensemble, positions, 40, 1e4, 2.0)
    wide, new_column = _with_unknown_genes(counts)
    assert wide[:, 40:].sum() > 5 * counts.sum()  # most counts are unknown
    moved = np.where(positions >= 0, new_column[np.maximum(positions, 0)], -1)
    widened = EnsembleScorer(ensemble, moved, wide.shape[1], 1e4, 2.0)
    for narrow, broad in ((counts, wide), (sp.csr_matrix(counts),
                                           sp.csr_matrix(wide))):
        before, after = plain(narrow), widened(broad)
        np.testing.assert_allclose(after[1], before[1], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(after[0], before[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model_gene_log(wide, moved, 1e4, 2.0),
                               model_gene_log(counts, positions, 1e4, 2.0),
                               rtol=1e-6)


def test_a_cell_with_counts_only_in_unknown_genes_is_all_zeros():
    """model_gene_log gives such a cell a row of zeros; the scorer, which
    labels cells, refuses it by name rather than label an empty input."""
    X = np.array([[0., 0., 7.], [2., 2., 0.]])
    np.testing.assert_array_equal(model_gene_log(X, np.array([0, 1]), 2.0, 2.0),
                                  [[0., 0.], [1., 1.]])
    sparse = model_gene_log(sp.csr_matrix(X), np.array([1, -1, 0]), 2.0, 2.0)
    np.testing.assert_array_equal(sparse.toarray(),
                                  [[0., 0., 0.], [1., 0., 1.]])
    ensemble = seeded_ensemble(2, 2, (4,), seed=0)
    scorer = EnsembleScorer(ensemble, np.array([0, 1]), 3, 4.0, 2.0)
    for matrix in (X, sp.csr_matrix(X)):
        with pytest.raises(ACTINNCellError,
                           match="1 cell has no counts in the model's 2 "
                           "genes .*: empty;"):
            scorer(matrix, ["empty", "full"])
        hidden, logits = scorer(matrix[1:], ["full"])
        np.testing.assert_allclose(logits,
                                   embed(
                                       ensemble,
                                       model_gene_log(X[1:], np.array([0, 1]),
                                                      4.0, 2.0))[1],
                                   rtol=1e-6)


def test_normalisation_on_the_device_is_the_float32_arithmetic_bit_for_bit():
    """EnsembleScorer normalises the raw non-zeros with torch where the
    networks run: float32 scale target_sum / total, times the value, log1p;
    the same bits by np.repeat (the CPU default) or repeat_interleave (other
    devices, called here on the CPU), and model_gene_log's numbers."""
    counts = _counts(n_cells=50, n_genes=12, seed=3)
    counts[7] = 0
    counts[7, 11] = 5  # counts only in the gene the model lacks: total 0
    counts[8] = 0  # an empty row
    X = sp.csr_matrix(counts)
    positions = np.arange(11)  # query gene 11 is unknown to the model
    ensemble = seeded_ensemble(11, 3, (8, 4), seed=0)
    scorer = EnsembleScorer(ensemble, positions, 12, 1e4, 2.0)
    totals = X @ scorer.multiplicity
    assert totals.dtype == np.float32 and totals[7] == 0
    # the NumPy arithmetic this replaced
    scale = np.divide(1e4, totals, out=np.zeros_like(totals), where=totals > 0)
    values = np.repeat(scale.astype(np.float32), np.diff(X.indptr))
    np.multiply(values, X.data, out=values)
    expected = torch.from_numpy(values).log1p_().numpy()
    # row offsets in the CSR indices' dtype (int32 here), as _block sends
    for kind in (np.int32, np.int64):
        rows = torch.from_numpy(X.indptr.astype(kind))
        args = (torch.from_numpy(X.data), rows, torch.from_numpy(totals))
        with torch.inference_mode():
            host = scorer._normalise(*args).numpy()
            device = scorer._normalise(*args, host_repeat=False).numpy()
        assert host.dtype == device.dtype == np.float32
        np.testing.assert_array_equal(host, expected)
        np.testing.assert_array_equal(device, expected)
    # log2(1 + x): 1 / ln(2) sits in the weight table
    ours = sp.csr_matrix((device / np.log(2.0), X.indices, X.indptr),
                         shape=X.shape)[:, :11]
    np.testing.assert_allclose(ours.toarray(),
                               model_gene_log(X,
                                              positions,
                                              1e4,
                                              2.0,
                                              check=False).toarray(),
                               rtol=1e-6,
                               atol=1e-7)
    assert not ours[7].toarray().any()


def test_scorer_and_normalisation_refuse_bad_values_in_the_same_words():
    """One check of the values: the sparse scorer, the dense path and
    library_size_log name the same cells with the same message."""
    ensemble = seeded_ensemble(3, 2, (4,), seed=0)
    scorer = EnsembleScorer(ensemble, np.array([0, 1, 2]), 3, 1e4, 2.0)
    ids = ["a", "b", "c"]
    for bad, message in ((np.nan, "2 cells hold NaN or infinite values: b, c"),
                         (-1.0, "2 cells hold negative values, which are "
                          "not counts: b, c")):
        X = np.ones((3, 3), np.float32)
        X[1:, 2] = bad
        for call in (
                lambda m: scorer(m, ids),
                lambda m: library_size_log(m, ids=ids),
                lambda m: model_gene_log(m, np.array([0, 1]), 1e4, 2.0, ids)):
            for matrix in (X, sp.csr_matrix(X)):
                with pytest.raises(ACTINNCellError, match="^%s$" % message):
                    call(matrix)


def test_target_sum_and_log_base_are_checked_where_they_enter():
    ensemble = seeded_ensemble(3, 2, (4,), seed=0)
    with pytest.raises(ValueError,
                       match="^log_base must be a number above 1, got 1.0$"):
        model_gene_log(np.ones((1, 3)), np.array([0, 1, 2]), 1e4, 1.0)
    with pytest.raises(ValueError,
                       match="^log_base must be a number above 1, got 0.5$"):
        EnsembleScorer(ensemble, np.array([0, 1, 2]), 3, 1e4, 0.5)
    with pytest.raises(ValueError,
                       match="^target_sum must be a number above 0, got -1"):
        EnsembleScorer(ensemble, np.array([0, 1, 2]), 3, -1, 2.0)


def test_a_query_narrower_than_its_gene_names_is_an_input_error():
    """Reached when a file's values and gene names were read differently:
    one line saying so, not a bare count."""
    from deepchem_actinn.errors import ACTINNInputError
    ensemble = seeded_ensemble(3, 2, (4,), seed=0)
    with pytest.raises(ACTINNInputError,
                       match="^the query matrix has 3 genes \\(columns\\), "
                       "but its gene names place a model gene at column 4: "
                       "the values and the gene names do not fit \\(read "
                       "differently from the file\\?\\)$"):
        EnsembleScorer(ensemble, np.array([0, 3, -1]), 3, 1e4, 2.0)
