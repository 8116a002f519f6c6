"""Tests for deepchem_actinn.simulate: the synthetic .h5ad count generator."""
import os

import anndata
import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from deepchem_actinn import count_model
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.simulate import simulate_counts


def _read_raw(path):
    """X (CSR), the integer type codes and the type names, via h5py."""
    with h5py.File(path, "r") as f:
        shape = tuple(f["X"].attrs["shape"])
        x = sp.csr_matrix((f["X/data"][:], f["X/indices"][:], f["X/indptr"][:]),
                          shape=shape)
        codes = f["obs/cell_type/codes"][:]
        names = [
            s.decode() if isinstance(s, bytes) else s
            for s in f["obs/cell_type/categories"][:]
        ]
    return x, codes, names


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "small.h5ad"
    simulate_counts(path, n_cells=500, n_genes=300, n_types=4, seed=3)
    return path


def test_opens_with_anndata_in_memory(small):
    adata = anndata.read_h5ad(small)
    assert adata.shape == (500, 300)
    assert sp.issparse(adata.X) and adata.X.format == "csr"
    assert adata.X.dtype == np.float32
    data = adata.X.data
    assert data.size > 0 and (data > 0).all()
    assert (data == np.round(data)).all()
    assert adata.X.has_sorted_indices
    assert list(adata.obs_names[:2]) == ["cell_0000001", "cell_0000002"]
    assert adata.obs_names[-1] == "cell_0000500"
    assert list(adata.var_names[:2]) == ["GENE00001", "GENE00002"]
    assert adata.obs_names.is_unique and adata.var_names.is_unique
    assert adata.obs["cell_type"].dtype.name == "category"
    assert list(adata.obs["cell_type"].cat.categories) == [
        "Type 00", "Type 01", "Type 02", "Type 03"
    ]
    params = adata.uns["simulate_counts"]
    assert params["seed"] == 3
    assert len(params["type_lineage"]) == 4


def test_opens_with_anndata_backed(small):
    full = anndata.read_h5ad(small)
    backed = anndata.read_h5ad(small, backed="r")
    try:
        assert backed.shape == (500, 300)
        rows = backed.X[100:150]
        assert (rows != full.X[100:150]).nnz == 0
        assert list(backed.obs["cell_type"]) == list(full.obs["cell_type"])
    finally:
        backed.file.close()


def test_on_disk_layout(small):
    with h5py.File(small, "r") as f:
        assert f.attrs["encoding-type"] == "anndata"
        assert f.attrs["encoding-version"] == "0.1.0"
        x = f["X"]
        assert x.attrs["encoding-type"] == "csr_matrix"
        assert x.attrs["encoding-version"] == "0.1.0"
        assert tuple(x.attrs["shape"]) == (500, 300)
        assert x["data"].dtype == np.float32
        assert x["indices"].dtype == np.int32
        assert x["indptr"].dtype == np.int64
        for name in ("data", "indices", "indptr"):
            assert x[name].chunks is not None
            assert x[name].maxshape == (None,)
        for key in ("obs", "var", "uns", "obsm", "varm", "obsp", "varp",
                    "layers"):
            assert key in f


@pytest.mark.parametrize("density", [0.065, 0.2])
def test_density_close_to_target(tmp_path, density):
    path = simulate_counts(tmp_path / "d.h5ad",
                           n_cells=1500,
                           n_genes=2000,
                           density=density,
                           seed=1)
    x, _, _ = _read_raw(path)
    realised = x.nnz / float(np.prod(x.shape))
    assert abs(realised / density - 1) < 0.1, realised


def test_counts_look_like_umis(tmp_path):
    path = simulate_counts(tmp_path / "u.h5ad",
                           n_cells=400,
                           n_genes=20000,
                           seed=2)
    x, _, _ = _read_raw(path)
    genes = np.diff(x.indptr)
    library = np.asarray(x.sum(axis=1)).ravel()
    assert 1000 < np.median(genes) < 1600
    assert 1500 < np.median(library) < 6000
    # Mostly ones, a heavy tail, and library sizes that vary across cells.
    assert 0.5 < np.mean(x.data == 1) < 0.85
    assert x.data.max() > 50
    assert np.std(np.log(library)) > 0.3


def test_same_seed_same_file_other_seed_differs(tmp_path):
    kwargs = dict(n_cells=300, n_genes=200, n_types=3)
    a = _read_raw(simulate_counts(tmp_path / "a.h5ad", seed=7, **kwargs))
    b = _read_raw(simulate_counts(tmp_path / "b.h5ad", seed=7, **kwargs))
    c = _read_raw(simulate_counts(tmp_path / "c.h5ad", seed=8, **kwargs))
    assert (a[0] != b[0]).nnz == 0 and np.array_equal(a[1], b[1])
    assert (a[0] != c[0]).nnz > 0 or not np.array_equal(a[1], c[1])


def test_chunking_and_threads_do_not_change_the_file(tmp_path, monkeypatch):
    # Blocks of 37 cells, chunks of 100 (neither divides 1000 nor each other).
    monkeypatch.setattr(count_model, "_BLOCK_ENTRIES", 37 * 150)
    kwargs = dict(n_cells=1000, n_genes=150, n_types=5, seed=4)
    seen, odd_seen = [], []
    ref = _read_raw(
        simulate_counts(tmp_path / "one.h5ad",
                        chunk_size=1000,
                        n_threads=1,
                        **kwargs))
    other = _read_raw(
        simulate_counts(tmp_path / "many.h5ad",
                        chunk_size=100,
                        n_threads=2,
                        progress=seen.append,
                        **kwargs))
    odd = _read_raw(
        simulate_counts(tmp_path / "odd.h5ad",
                        chunk_size=333,
                        n_threads=3,
                        progress=odd_seen.append,
                        **kwargs))
    assert seen == list(range(100, 1001, 100))
    assert odd_seen == [333, 666, 999, 1000]
    for x, codes, _ in (other, odd):
        assert x.indptr[0] == 0 and x.indptr[-1] == x.nnz
        assert np.all(np.diff(x.indptr) >= 0)
        assert np.array_equal(x.indptr, ref[0].indptr)
        assert np.array_equal(x.indices, ref[0].indices)
        assert np.array_equal(x.data, ref[0].data)
        assert np.array_equal(codes, ref[1])


def test_types_and_requested_proportions(tmp_path):
    want = np.array([0.5, 0.3, 0.15, 0.05])
    path = simulate_counts(tmp_path / "p.h5ad",
                           n_cells=4000,
                           n_genes=50,
                           n_types=4,
                           type_proportions=[10, 6, 3, 1],
                           seed=5)
    _, codes, names = _read_raw(path)
    assert names == ["Type 00", "Type 01", "Type 02", "Type 03"]
    got = np.bincount(codes, minlength=4) / codes.size
    assert np.all(np.abs(got - want) < 0.03), got


def test_default_proportions_are_unequal(tmp_path):
    path = simulate_counts(tmp_path / "q.h5ad",
                           n_cells=5000,
                           n_genes=50,
                           n_types=10,
                           seed=6)
    _, codes, names = _read_raw(path)
    assert names[0] == "Type 00" and names[-1] == "Type 09"
    got = np.bincount(codes, minlength=10) / codes.size
    assert (got > 0).all()
    assert got[0] > 0.2 and got.argmax() == 0
    assert (got < 0.03).sum() >= 2


def test_learnable_but_not_trivially(tmp_path):
    path = simulate_counts(tmp_path / "c.h5ad",
                           n_cells=1500,
                           n_genes=3000,
                           n_types=6,
                           density=0.2,
                           seed=0)
    x, y, _ = _read_raw(path)
    lineage = anndata.read_h5ad(path).uns["simulate_counts"]["type_lineage"]
    library = np.asarray(x.sum(axis=1)).ravel()
    z = np.log1p(sp.diags(1e4 / library) @ x).toarray()
    train = np.arange(y.size) < 1000
    centroids = np.stack([z[train & (y == t)].mean(axis=0) for t in range(6)])
    test = z[~train]
    dist = ((test[:, None, :] - centroids[None])**2).sum(axis=-1)
    pred = dist.argmin(axis=1)
    truth = y[~train]
    accuracy = np.mean(pred == truth)
    assert 0.75 < accuracy < 0.99, accuracy
    # The mistakes are mostly between types of one lineage.
    wrong = pred != truth
    assert np.mean(lineage[pred[wrong]] == lineage[truth[wrong]]) > 0.6


def test_counts_follow_the_model(tmp_path):
    # Per type and gene, the fraction of non-zero cells and the mean count
    # agree with the model's negative binomials (mixed over the library
    # levels and the cycling state) to within sampling noise.
    seed, n, g = 11, 6000, 200
    path = simulate_counts(tmp_path / "m.h5ad",
                           n_cells=n,
                           n_genes=g,
                           n_types=2,
                           density=0.3,
                           seed=seed)
    x, y, _ = _read_raw(path)
    model = count_model.build_model(
        np.random.SeedSequence(seed).entropy, g, 2, 0.3,
        count_model.default_proportions(2))
    levels = count_model._level_weights(model.library_offset, model.level_lo,
                                        model.level_step, model.n_levels)
    for t in range(2):
        cells = x[y == t]
        states = (1 - model.cycling[t], model.cycling[t])
        profiles = model.profiles[2 * t:2 * t + 2]
        nonzero = sum(w * levels[t] @ count_model._nonzero_probability(
            model.libraries[:, None] * p[None, :], model.theta)
                      for w, p in zip(states, profiles))
        mean = (levels[t] @ model.libraries) * (states[0] * profiles[0] +
                                                states[1] * profiles[1])
        seen = np.asarray((cells > 0).mean(axis=0)).ravel()
        z = (seen - nonzero) / np.sqrt(nonzero * (1 - nonzero) / cells.shape[0])
        assert np.abs(z).max() < 5
        total = cells.sum() / cells.shape[0]
        assert total == pytest.approx(mean.sum(), rel=0.03)


def test_positive_nb_matches_truncated_negative_binomial():
    from scipy import stats
    rng = np.random.default_rng(0)
    n = 100_000
    for mu, theta in [(0.05, 2.0), (0.8, 0.5), (3.0, 4.0), (20.0, 1.0)]:
        x = count_model._positive_nb(rng, np.full(n, mu), np.full(n, theta))
        assert x.dtype == np.float32 and x.min() >= 1
        p = theta / (theta + mu)
        nonzero = 1 - stats.nbinom.pmf(0, theta, p)
        assert x.mean() == pytest.approx(mu / nonzero, rel=0.02)
        k = np.arange(1, 4)
        want = stats.nbinom.pmf(k, theta, p) / nonzero
        got = np.array([np.mean(x == i) for i in k])
        assert np.allclose(got, want, atol=0.01)


def test_refuses_existing_path_unless_overwrite(tmp_path):
    path = tmp_path / "x.h5ad"
    path.write_bytes(b"keep me")
    with pytest.raises(ACTINNInputError, match="already exists"):
        simulate_counts(path, n_cells=10, n_genes=20, n_types=2)
    assert path.read_bytes() == b"keep me"
    simulate_counts(path, n_cells=10, n_genes=20, n_types=2, overwrite=True)
    assert anndata.read_h5ad(path).shape == (10, 20)
    assert sorted(os.listdir(tmp_path)) == ["x.h5ad"]


def test_failure_leaves_nothing_behind(tmp_path):
    path = tmp_path / "y.h5ad"

    def boom(done):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        simulate_counts(path, n_cells=10, n_genes=20, n_types=2, progress=boom)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_cells=0), "n_cells"),
    (dict(n_genes=2.5), "n_genes"),
    (dict(density=1.5), "density"),
    (dict(density=0.0), "density"),
    (dict(density="dense"), "density"),
    (dict(type_proportions=["a", "b", "c"]), "type_proportions"),
    (dict(chunk_size=0), "chunk_size"),
    (dict(type_proportions=[1, 2]), "type_proportions"),
    (dict(type_proportions=[1, -1, 1]), "type_proportions"),
    (dict(seed=-1), "seed"),
    (dict(n_threads=0), "n_threads"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    args = dict(n_cells=10, n_genes=20, n_types=3)
    args.update(kwargs)
    with pytest.raises(ACTINNInputError, match=message):
        simulate_counts(tmp_path / "z.h5ad", **args)
    assert os.listdir(tmp_path) == []


def test_missing_directory(tmp_path):
    with pytest.raises(ACTINNInputError, match="does not exist"):
        simulate_counts(tmp_path / "no" / "z.h5ad", n_cells=10, n_genes=20)


def test_the_model_line_counts_in_words(tmp_path, caplog):
    """One lineage, one gene: singular nouns ("4 types in 1 lineage")."""
    with caplog.at_level("INFO", logger="deepchem_actinn"):
        simulate_counts(tmp_path / "a.h5ad", n_cells=20, n_genes=30, n_types=4)
    assert "simulation model: 30 genes, 4 types in 1 lineage, " in caplog.text
