"""The cross-technology benchmark's query generator
(benchmarks/technologies.py) and its scoring."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
if not BENCH.is_dir():  # tests run outside the repository or an sdist
    pytest.skip("needs the repository's benchmarks/ folder, not at %s" % BENCH,
                allow_module_level=True)


def _load(name):
    spec = importlib.util.spec_from_file_location("bench_" + name,
                                                  BENCH / ("%s.py" % name))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


technologies = _load("technologies")


@pytest.fixture(scope="module")
def cells(tm_test):
    # 200 bundled test cells: real Smart-seq2 counts.
    return tm_test["X"][:200], list(tm_test["genes"])


def test_droplet_query_has_the_three_differences(cells):
    X, genes = cells
    tech = technologies.TECHNOLOGIES["droplet"]
    Q, names, info = technologies.make_query(X, genes, tech, seed=0)
    n_kept = 2000 - round(2000 / 3)
    assert Q.shape == (200, n_kept + 12_000) == (200, len(names))
    # A third of the reference's genes missing; the rest in order, then
    # the unseen ones.
    assert info["n_reference_genes_missing"] == round(2000 / 3)
    kept = names[:n_kept]
    assert set(kept) < set(genes)
    assert [genes.index(g) for g in kept
           ] == sorted(genes.index(g) for g in kept)
    assert all(n.startswith("UNSEEN-") for n in names[n_kept:])
    # Counts stay whole numbers; ~90 % of each cell's counts are unseen.
    dense = Q.toarray()
    assert np.array_equal(dense, np.round(dense)) and dense.min() >= 0
    totals = dense.sum(axis=1)
    share = dense[:, n_kept:].sum(axis=1) / totals
    assert abs(share.mean() - 0.9) < 0.01
    assert share.min() > 0.8
    assert info["mean_extra_share"] == pytest.approx(share.mean())
    # Thinned to ~5,000 counts per cell (log-normal spread 0.3).
    assert 4500 < np.median(totals) < 5500
    assert np.median(totals) == info["median_depth"]
    # Binomial thinning never adds counts to a reference gene.
    columns = [genes.index(g) for g in kept]
    assert (dense[:, :n_kept] <= X[:, columns]).all()


def test_capture_factor_changes_gene_shares(cells):
    X, genes = cells
    flat = technologies.Technology("flat", "", depth=5000, depth_sigma=0.0)
    skewed = technologies.Technology("skewed",
                                     "",
                                     depth=5000,
                                     depth_sigma=0.0,
                                     capture_sigma=1.0)

    def profile(tech, seed):
        Q, _, _ = technologies.make_query(X, genes, tech, seed=seed)
        return np.asarray(Q.sum(axis=0)).ravel() / Q.sum()

    base = profile(flat, 3)
    top = base > 1e-4
    spread = [
        np.std(np.log(profile(tech, 4)[top] / base[top]))
        for tech in (flat, skewed)
    ]
    # Thinning alone keeps each gene's share of the counts (only count
    # noise between seeds); the capture factor (log-normal, sigma 1) spreads
    # them by about sigma.
    assert spread[0] < 0.3 < 0.7 < spread[1]


def test_seeded_reproducibility_and_the_identity(cells):
    X, genes = cells
    tech = technologies.TECHNOLOGIES["droplet_ambient"]
    a = technologies.make_query(X, genes, tech, seed=5)
    b = technologies.make_query(X, genes, tech, seed=5)
    c = technologies.make_query(X, genes, tech, seed=6)
    assert (a[0] != b[0]).nnz == 0 and a[1] == b[1] and a[2] == b[2]
    assert (a[0] != c[0]).nnz > 0 and a[1] != c[1]
    # "same" is the test cells untouched.
    Q, names, _ = technologies.make_query(X,
                                          genes,
                                          technologies.TECHNOLOGIES["same"],
                                          seed=0)
    assert names == genes and np.array_equal(Q.toarray(), X)
    assert not set(technologies.DEVELOPMENT_SEEDS) & set(
        technologies.HELD_OUT_SEEDS)


def test_ambient_rna_adds_counts_from_the_pool(cells):
    X, genes = cells
    base = technologies.Technology("t", "", depth=5000, depth_sigma=0.0)
    soup = technologies.Technology("t",
                                   "",
                                   depth=5000,
                                   depth_sigma=0.0,
                                   ambient_fraction=(0.5, 0.5))
    clean, _, _ = technologies.make_query(X, genes, base, seed=0)
    mixed, _, _ = technologies.make_query(X, genes, soup, seed=0)
    # Genes a cell does not express at all pick up ambient counts.
    absent = X == 0
    assert clean.toarray()[absent].sum() == 0
    assert mixed.toarray()[absent].sum() > 0.2 * mixed.sum()


def test_score_counts_unassigned(tmp_path):
    xtech = _load("cross_technology")
    truth = {"a": "T", "b": "T", "c": "B", "d": "B"}
    result = xtech.score(truth, {
        "a": "T",
        "b": "Unassigned",
        "c": "B",
        "d": "T"
    })
    assert result["accuracy"] == 0.5
    assert result["unassigned_pct"] == 25.0
    assert result["assigned_accuracy"] == pytest.approx(2 / 3)


def test_droplet_bound_naive_bayes_redraws_the_querys_capture():
    import dataclasses

    from deepchem_actinn.datasets import load_tabula_muris_sample
    bound = _load("droplet_bound")
    train, test = load_tabula_muris_sample(upper_case_genes=False)
    truth = test.obs["cell_type"].astype(str).to_numpy()
    tech = bound.technologies.TECHNOLOGIES["droplet"]
    # (it asserts that its own draw of the missing genes is the query's)
    labels = bound.naive_bayes_with_capture(train, test, tech, 0)
    assert labels.shape == truth.shape
    assert (labels == truth).mean() > 0.9
    # with no capture differences, being told the capture changes nothing
    flat = dataclasses.replace(tech, capture_sigma=0.0)
    np.testing.assert_array_equal(
        bound.naive_bayes_with_capture(train, test, flat, 1),
        bound.naive_bayes_with_capture(train, test, flat, 1, False))


def test_droplet_bound_best_vote_labels_each_cluster_by_its_true_majority():
    bound = _load("droplet_bound")
    truth = np.array(["T", "T", "NK", "B", "B", "NK", "NK", "B"])
    clusters = np.array(["0", "0", "0", "1", "1", "2", "2", "2"])
    np.testing.assert_array_equal(bound.cluster_majority(truth, clusters),
                                  ["T", "T", "T", "B", "B", "NK", "NK", "NK"])
    # a tie goes to the label seen first in the cluster
    np.testing.assert_array_equal(
        bound.cluster_majority(np.array(["B", "T", "T", "B"]),
                               np.array(["x", "x", "x", "x"])),
        ["B", "B", "B", "B"])
    # one cell per cluster: every label kept
    np.testing.assert_array_equal(
        bound.cluster_majority(truth,
                               np.arange(8).astype(str)), truth)


def test_shared_genes_marker_genes_lead_their_type():
    bench = _load("shared_genes")
    # three types; genes 0-1 lead type a, 2 leads b, 3 leads c, 4-5 flat
    X = np.array(
        [[50, 40, 1, 1, 10, 10], [60, 30, 1, 2, 10, 10], [1, 1, 70, 2, 10, 10],
         [2, 1, 60, 1, 10, 10], [1, 2, 2, 80, 10, 10], [1, 1, 1, 90, 10, 10]],
        dtype=np.float32)
    y = np.array(["a", "a", "b", "b", "c", "c"])
    np.testing.assert_array_equal(bench.marker_genes(X, y, 1), [0, 2, 3])
    # n = 2, against a dense computation written out here
    L = np.log1p(X / X.sum(axis=1, keepdims=True) * 1e4)
    means = {t: L[y == t].mean(axis=0) for t in "abc"}
    expected = set()
    for t in "abc":
        lead = means[t] - np.max([means[o] for o in "abc" if o != t], axis=0)
        expected.update(np.argsort(-lead, kind="stable")[:2].tolist())
    np.testing.assert_array_equal(bench.marker_genes(X, y, 2), sorted(expected))
    assert len(expected) > 3


def test_immune_query_cross_fitted_folds_partition_the_cells_by_type():
    bench = _load("immune_query")
    labels = np.array(["B"] * 23 + ["NK"] * 7 + ["T"] * 12)
    folds = bench.cross_fitted_folds(labels, n_folds=5, seed=0)
    # a partition: each cell in exactly one fold (annotate labels a fold's
    # cells with an annotator trained on the other folds)
    assert folds.shape == labels.shape
    assert set(folds.tolist()) == set(range(5))
    # stratified: every type with >= 5 cells is in every fold, in near
    # equal numbers
    for t in ("B", "NK", "T"):
        counts = np.bincount(folds[labels == t], minlength=5)
        assert counts.min() >= 1 and counts.max() - counts.min() <= 1
    # the same seed gives the same folds; another seed other folds
    np.testing.assert_array_equal(folds, bench.cross_fitted_folds(labels))
    assert (folds != bench.cross_fitted_folds(labels, seed=1)).any()


def test_immune_query_scores_count_stray_labels_only_over_every_label():
    bench = _load("immune_query")
    truth = np.array([
        "NK cell", "NK cell", "T cell", "T cell", "B cell", "B cell",
        "Monocyte", "Granulocyte"
    ])
    labels = np.array([
        "NK cell", "T cell", "T cell", "T cell", "B cell", "Hepatocyte",
        "Monocyte", "Unassigned"
    ])
    s = bench.scores(truth, labels)
    assert s["accuracy"] == 5 / 8
    assert s["unassigned"] == 1 / 8
    assert s["assigned_accuracy"] == 5 / 7
    assert s["nk_as_t"] == 1
    # per-type F1 written out: NK 2/3, T 0.8, B 2/3, Monocyte 1, Granulocyte 0
    five = (2 / 3 + 0.8 + 2 / 3 + 1 + 0) / 5
    assert s["f1_types"] == pytest.approx(five)
    # every label: Hepatocyte and Unassigned join with F1 0
    assert s["f1_all"] == pytest.approx(five * 5 / 7)


def test_immune_query_peer_labels_cross_fit_a_peer_on_shared_genes(tmp_path):
    # linearsvc runs in this environment (no venv), through the same
    # fit/predict scripts as the venv peers.
    import anndata
    bench = _load("immune_query")
    rng = np.random.default_rng(0)
    y = np.array(["a", "b"] * 20)
    rate = np.where((y == "a")[:, None], [30, 30, 30, 1, 1, 1],
                    [1, 1, 1, 30, 30, 30])
    X = rng.poisson(rate).astype(np.float32)
    folds = bench.cross_fitted_folds(y, n_folds=2)
    immune = np.arange(0, 40, 3)
    columns = [0, 1, 3, 4]
    # the query: the reference genes it measures first, then two unseen
    # genes holding most of its counts
    Xq = np.hstack([X[immune][:, columns], rng.poisson(500, (len(immune), 2))])
    genes = ["g0", "g1", "g3", "g4", "u1", "u2"]
    labels = bench.peer_labels("linearsvc",
                               tmp_path,
                               7,
                               Xq=Xq,
                               genes=genes,
                               shared=genes[:4],
                               X=X,
                               columns=columns,
                               y=y,
                               immune=immune,
                               folds=folds,
                               threads=1)
    np.testing.assert_array_equal(labels["intersected"], y[immune])
    assert labels["as is"].shape == (len(immune),)
    assert set(labels["as is"]) <= {"a", "b"}
    # each fold: a reference of the other fold's cells on the shared genes,
    # and the fold's query cells with and without the unseen genes
    for fold in (0, 1):
        data = tmp_path / "immune" / "seed7" / ("fold%d" % fold)
        ref = anndata.read_h5ad(data / "reference.h5ad")
        assert list(ref.var_names) == genes[:4]
        np.testing.assert_array_equal(ref.X.toarray(),
                                      X[folds != fold][:, columns])
        query = anndata.read_h5ad(data / "query_intersected.h5ad")
        np.testing.assert_array_equal(query.X.toarray(),
                                      Xq[folds[immune] == fold][:, :4])
        n_query = (folds[immune] == fold).sum()
        assert anndata.read_h5ad(data / "query_as_is.h5ad").shape == (n_query,
                                                                      6)
        assert list(
            anndata.read_h5ad(data /
                              "query_intersected.h5ad").var_names) == genes[:4]


def test_peer_choices_name_an_unknown_peer_and_a_missing_venv(tmp_path):
    peers = _load("peers")
    assert peers.peer_choices(["", " linearsvc "], tmp_path) == ["linearsvc"]
    with pytest.raises(ValueError, match="unknown peer 'scmap'"):
        peers.peer_choices(["scmap"])
    with pytest.raises(ValueError,
                       match="celltypist has no venv under .*--tools "
                       "celltypist --work-dir " + str(tmp_path)):
        peers.peer_choices(["celltypist"], tmp_path)


def test_run_peer_refuses_a_query_whose_genes_do_not_lead_with_the_reference(
        tmp_path):
    peers = _load("peers")
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="start with the reference's 2 genes"):
        peers.run_peer("linearsvc", tmp_path, tmp_path / "d", X, ["a", "b"] * 2,
                       ["g1", "g2"], X, ["g2", "g1"])


@pytest.mark.parametrize("name", ["technologies", "immune_query", "peers"])
def test_benchmark_docstring_examples(name):
    import doctest
    result = doctest.testmod(_load(name))
    assert result.attempted > 0 and result.failed == 0


def test_modes_pick_this_packages_predict_runs():
    xtech = _load("cross_technology")
    assert xtech._modes(None) == list(xtech.MODES)
    assert xtech._modes("default, --remove-ambient") == ["", "--remove-ambient"]
    args = xtech.build_parser().parse_args(["--modes=--remove-ambient"])
    assert xtech._modes(args.modes) == ["--remove-ambient"]
    with pytest.raises(SystemExit):
        xtech.main(["--modes=--bogus"])
