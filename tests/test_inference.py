"""The one prediction path: embed and EnsembleScorer on a small ensemble."""
import numpy as np
import scipy.sparse as sp
import torch

from deepchem_actinn.models.inference import EnsembleScorer, embed
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
    aligned = library_size_log(counts)[:, np.maximum(positions, 0)]
    aligned[:, positions < 0] = 0
    reference = embed(ensemble, aligned)
    for got in (sparse, dense):
        np.testing.assert_allclose(got[0], reference[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got[1], reference[1], rtol=1e-4, atol=1e-5)


def test_scorer_on_another_device_leaves_the_ensemble_where_it_is():
    ensemble = seeded_ensemble(10, 2, (4,), seed=0)
    scorer = EnsembleScorer(ensemble, np.arange(10), 10, 1e4, 2.0, "cpu")
    assert scorer.device == torch.device("cpu")
    assert scorer.ensemble is ensemble
