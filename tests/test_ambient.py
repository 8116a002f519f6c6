"""Ambient RNA: the estimate of each cell's soup share and its subtraction
(``preprocessing/ambient.py``), ``predict(remove_ambient=True)``, its saved
reference table, ``annotate`` and ``actinn predict --remove-ambient``."""
import re

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import f1_score

from deepchem_actinn import ACTINNAnnotator, annotate
from deepchem_actinn.annotator import persistence
from deepchem_actinn.cli import main
from deepchem_actinn.datasets import tabula_muris_sample_paths
from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError
from deepchem_actinn.preprocessing import ambient


def _random_counts(rng, cells=40, genes=12, density=0.5):
    X = rng.poisson(3.0, size=(cells, genes)).astype(np.float64)
    X[rng.random((cells, genes)) > density] = 0
    return X


def test_type_profiles_match_a_loop():
    rng = np.random.default_rng(0)
    X = _random_counts(rng)
    X[0] = 0  # a cell without counts adds zeros
    y = rng.integers(0, 3, size=X.shape[0])
    shares = X / np.maximum(X.sum(axis=1, keepdims=True), 1)
    expected = np.array([shares[y == t].mean(axis=0) for t in range(3)] +
                        [np.zeros(X.shape[1])])
    for matrix in (X, sp.csr_matrix(X)):
        got = ambient.type_profiles(matrix, y, 4)
        assert got.dtype == np.float32 and got.shape == (4, X.shape[1])
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="40 cells but 3 types"):
        ambient.type_profiles(X, y[:3], 3)


def _reference_fractions(X, positions, types, profiles, max_ratio,
                         max_fraction):
    """The estimate written out cell by cell."""
    cols = positions[positions >= 0]
    Q = X[:, cols]
    soup = Q.sum(axis=0) / Q.sum()
    out = np.zeros(X.shape[0])
    for i, t in enumerate(types):
        own = profiles[t, positions >= 0] / profiles[t, positions >= 0].sum()
        genes = own < max_ratio * soup
        n = Q[i].sum()
        gap = soup[genes].sum() - own[genes].sum()
        if n > 0 and gap > 0:
            rho = (Q[i, genes].sum() / n - own[genes].sum()) / gap
            out[i] = min(max(rho, 0.0), max_fraction)
    return out


def test_fractions_and_subtraction_match_a_loop():
    rng = np.random.default_rng(1)
    X = _random_counts(rng, genes=15)
    positions = np.array([3, -1, 0, 7, 9, 1, -1, 12, 14, 5])  # 8 measured
    types = rng.integers(0, 3, size=X.shape[0])
    profiles = rng.random((3, len(positions)))**4
    for max_ratio, max_fraction in ((0.3, 0.5), (1.0, 1.0)):
        expected = _reference_fractions(X, positions, types, profiles,
                                        max_ratio, max_fraction)
        assert (expected > 0).any()
        got = ambient.ambient_fractions(sp.csr_matrix(X), positions, types,
                                        profiles, max_ratio, max_fraction)
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        assert got.max() <= max_fraction
    rho = ambient.ambient_fractions(X, positions, types, profiles, 0.3)
    clean = ambient.subtract_ambient(X, positions, rho)
    assert sp.issparse(clean) and clean.shape == X.shape
    cols = positions[positions >= 0]
    soup = X[:, cols].sum(axis=0) / X[:, cols].sum()
    expected = X.copy()
    totals = X[:, cols].sum(axis=1)
    for j, col in enumerate(cols):
        expected[:, col] = np.maximum(X[:, col] - rho * totals * soup[j], 0)
    np.testing.assert_allclose(clean.toarray(), expected, rtol=1e-12)
    # the columns the model does not use, and every zero, are untouched
    other = np.setdiff1d(np.arange(X.shape[1]), cols)
    np.testing.assert_array_equal(clean.toarray()[:, other], X[:, other])
    assert not (clean.toarray()[X == 0]).any()
    np.testing.assert_array_equal(
        ambient.subtract_ambient(sp.csr_matrix(X), positions, rho).toarray(),
        clean.toarray())


def test_untrusted_cells_get_the_trusted_cells_median():
    rng = np.random.default_rng(2)
    X = _random_counts(rng, cells=120, genes=10)
    positions = np.arange(10)
    types = rng.integers(0, 2, size=X.shape[0])
    profiles = rng.random((2, 10))**4
    own = ambient.ambient_fractions(X, positions, types, profiles, 0.5)
    trusted = np.arange(X.shape[0]) % 3 != 0  # 80 trusted cells
    clean, rho = ambient.remove_ambient(X, positions, types, profiles, trusted,
                                        0.5)
    np.testing.assert_array_equal(rho[trusted], own[trusted])
    assert (rho[~trusted] == np.median(own[trusted])).all()
    np.testing.assert_allclose(
        clean.toarray(),
        ambient.subtract_ambient(X, positions, rho).toarray())
    # too few trusted cells to judge by: the others are left alone
    few = np.zeros(X.shape[0], dtype=bool)
    few[:10] = True
    _, rho = ambient.remove_ambient(X, positions, types, profiles, few, 0.5)
    assert (rho[~few] == 0).all() and (rho[few] == own[few]).all()


def test_argument_checks():
    X = np.ones((2, 3))
    with pytest.raises(ValueError, match="2 cells but 1 types"):
        ambient.ambient_fractions(X, np.array([0, 1]), np.array([0]),
                                  np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"max_fraction in \[0, 1\]"):
        ambient.ambient_fractions(X,
                                  np.array([0, 1]),
                                  np.array([0, 0]),
                                  np.ones((1, 2)),
                                  max_fraction=2.0)


@pytest.fixture(scope="module")
def trained(default_annotator):
    # ACTINNAnnotator(seed=0) on the bundled training cells (conftest.py),
    # trained once for this module and test_annotator_fit.py
    return default_annotator


def _with_soup(X, rho, seed):
    """``X`` (cells x genes counts) with a share ``rho`` of each cell's
    counts drawn from the pooled profile: the soup counts and their true
    share of each cell's total."""
    rng = np.random.default_rng(seed)
    profile = X.sum(axis=0) / X.sum()
    own = X.sum(axis=1)
    extra = np.round(own * rho / (1 - rho)).astype(int)
    soup = np.stack([rng.multinomial(n, profile) for n in extra])
    return X + soup, soup.sum(axis=1) / (own + soup.sum(axis=1))


def test_predict_estimates_and_removes_the_soup(trained, tm_test):
    genes = tm_test["genes"]
    X = tm_test["X"].astype(np.float64)
    rho = np.random.default_rng(0).uniform(0.05, 0.25, size=X.shape[0])
    mixed, true_share = _with_soup(X, rho, 0)
    result = trained.predict(sp.csr_matrix(mixed),
                             genes,
                             tm_test["ids"],
                             remove_ambient=True)
    estimate = result.ambient_fraction
    assert estimate.shape == (X.shape[0],)
    # an estimate: within a few points of each cell's true share, and the
    # typical cell's within two
    assert np.median(np.abs(estimate - true_share)) < 0.03
    assert abs(np.median(estimate) - np.median(true_share)) < 0.02
    assert "ambient_fraction" in result.to_frame().columns
    plain = trained.predict(sp.csr_matrix(mixed), genes, tm_test["ids"])
    truth = tm_test["labels"]
    assert (f1_score(truth, result.cell_types, average="macro") >= f1_score(
        truth, plain.cell_types, average="macro"))
    # the labels are those of the cleaned counts: the soup estimated from the
    # plain labels, taken away, and the cells labelled again
    cleaned, shares = ambient.remove_ambient(
        sp.csr_matrix(mixed),
        trained.gene_positions(genes),
        plain.probabilities.argmax(axis=1),
        trained.type_profiles_,
        plain.probabilities.max(axis=1) >= ambient.TRUSTED_PROBABILITY,
        profile_cells=trained.profile_cells_)
    np.testing.assert_array_equal(shares, estimate)
    again = trained.predict(cleaned, genes, tm_test["ids"])
    np.testing.assert_array_equal(again.cell_types, result.cell_types)
    np.testing.assert_allclose(again.probabilities, result.probabilities)
    assert (result.cell_types != plain.cell_types).any()
    # a query without soup is estimated near zero and keeps its labels
    clean = trained.predict(X, genes, remove_ambient=True)
    assert np.median(clean.ambient_fraction) < 0.02
    assert np.mean(
        clean.cell_types == trained.predict(X, genes).cell_types) >= 0.98


def test_a_query_with_soup_gets_a_warning(trained, tm_test, caplog):
    X = tm_test["X"].astype(np.float64)
    mixed, _ = _with_soup(X, np.full(X.shape[0], 0.2), 1)
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        trained.predict(X, tm_test["genes"])
    assert "ambient RNA" not in caplog.text
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        trained.predict(mixed, tm_test["genes"])
    warning, = [r.getMessage() for r in caplog.records]
    assert re.fullmatch(
        r"a typical cell of this query looks to hold about 2\d % ambient RNA "
        r"\(counts in genes its type does not express in the reference\); "
        r"remove_ambient=True subtracts it before labelling", warning), warning
    assert "unlike the reference" not in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        chunks = [(tm_test["ids"][i:i + 300], sp.csr_matrix(mixed[i:i + 300]))
                  for i in range(0, X.shape[0], 300)]
        assert len(list(trained.iter_predict(chunks, tm_test["genes"]))) == 4
    assert caplog.text.count("ambient RNA") == 1  # once, on the first chunk
    caplog.clear()
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        trained.predict(mixed, tm_test["genes"], remove_ambient=True)
    assert "hold about" not in caplog.text


def test_the_command_s_warning_names_its_option(trained, tm_test, tmp_path,
                                                capsys):
    """actinn predict says the soup warning's advice in its option's words:
    --remove-ambient, not remove_ambient=True."""
    mixed, _ = _with_soup(tm_test["X"].astype(np.float64),
                          np.full(tm_test["X"].shape[0], 0.2), 1)
    query = tmp_path / "soup.h5ad"
    anndata.AnnData(sp.csr_matrix(mixed),
                    obs=pd.DataFrame(index=tm_test["ids"]),
                    var=pd.DataFrame(index=tm_test["genes"])).write_h5ad(query)
    trained.save(tmp_path / "model")
    assert main([
        "predict", "-m",
        str(tmp_path / "model"), "-ts",
        str(query), "-o",
        str(tmp_path / "out"), "--device", "cpu", "-q"
    ]) == 0
    lines = capsys.readouterr().err.splitlines()
    said = [line for line in lines if "ambient RNA" in line]
    assert len(said) == 1 and re.fullmatch(
        r"actinn: a typical cell of this query looks to hold about 2\d % "
        r"ambient RNA \(counts in genes its type does not express in the "
        r"reference\); --remove-ambient subtracts it before labelling",
        said[0]), lines


def test_profiles_are_saved_and_an_older_annotator_is_refused(
        trained, tm_test, tmp_path):
    assert trained.type_profiles_.shape == (len(trained.type_names),
                                            len(trained.genes_))
    np.testing.assert_allclose(trained.type_profiles_.sum(axis=1), 1, rtol=1e-5)
    trained.save(tmp_path / "a")
    loaded = ACTINNAnnotator.load(tmp_path / "a", device="cpu")
    np.testing.assert_array_equal(loaded.type_profiles_, trained.type_profiles_)
    X = tm_test["X"][:50]
    np.testing.assert_array_equal(
        loaded.predict(X, tm_test["genes"], remove_ambient=True).cell_types,
        trained.predict(X, tm_test["genes"], remove_ambient=True).cell_types)
    (tmp_path / "a" / persistence.PROFILE_FILE).unlink()
    # this version writes the profiles: without them, the directory is
    # damaged; an annotator of an earlier version is loaded without them
    with pytest.raises(ACTINNInputError, match="profiles.pt is missing"):
        ACTINNAnnotator.load(tmp_path / "a", device="cpu")
    import json
    config_path = tmp_path / "a" / persistence.CONFIG_FILE
    config = json.loads(config_path.read_text())
    config["package_version"] = "0.0.9"
    del config["checksums"]  # kept since
    config_path.write_text(json.dumps(config))
    old = ACTINNAnnotator.load(tmp_path / "a", device="cpu")
    assert old.type_profiles_ is None
    old.predict(X, tm_test["genes"])  # everything else still works
    with pytest.raises(ACTINNInputError, match="retrain it"):
        old.predict(X, tm_test["genes"], remove_ambient=True)
    with pytest.raises(ACTINNCellError,
                       match="needs at least 50 cells, got 49"):
        trained.predict(X[:49], tm_test["genes"], remove_ambient=True)
    import torch
    torch.save(torch.zeros(2, 2), tmp_path / "a" / persistence.PROFILE_FILE)
    with pytest.raises(ACTINNInputError, match="damaged"):
        ACTINNAnnotator.load(tmp_path / "a", device="cpu")


def test_annotate_writes_the_fraction(trained, tm_test):
    adata = anndata.AnnData(X=sp.csr_matrix(tm_test["X"][:100]),
                            obs=pd.DataFrame(index=tm_test["ids"][:100]),
                            var=pd.DataFrame(index=tm_test["genes"]))
    result = annotate(adata, trained, remove_ambient=True)
    np.testing.assert_array_equal(adata.obs["actinn_ambient_fraction"],
                                  result.ambient_fraction)


def test_cli_remove_ambient(trained, tm_test, tmp_path):
    paths = tabula_muris_sample_paths()
    trained.save(tmp_path / "model")
    args = [
        "predict", "-m",
        str(tmp_path / "model"), "-ts",
        str(paths["test"]), "--device", "cpu", "-q", "--remove-ambient"
    ]
    assert main(args + ["-o", str(tmp_path / "out")]) == 0
    labels = pd.read_csv(tmp_path / "out" / "predicted_label.txt", sep="\t")
    assert list(labels.columns) == [
        "cellname", "celltype", "confidence", "ambient_fraction"
    ]
    assert labels["ambient_fraction"].between(0, ambient.MAX_FRACTION).all()
    expected = trained.predict(tm_test["X"],
                               tm_test["genes"],
                               tm_test["ids"],
                               remove_ambient=True)
    assert labels["cellname"].tolist() == list(tm_test["ids"])
    assert labels["celltype"].tolist() == list(expected.cell_types)
    np.testing.assert_allclose(labels["ambient_fraction"],
                               expected.ambient_fraction,
                               atol=1e-4)
    # the soup is the whole query's: not on a cluster chunk by chunk
    assert main(
        args +
        ["-o", str(tmp_path / "dask"), "--scheduler", "tcp://127.0.0.1:1"]) != 0
    assert not (tmp_path / "dask").exists()


def test_a_share_at_the_cap_is_called_a_mismatch(trained, tm_test, caplog):
    # every cell confidently "type 0" but with its counts only in genes type 0
    # does not express: no soup does that, cells of another kind do
    genes = np.asarray(trained.genes_)
    absent = trained.type_profiles_[0] == 0
    assert absent.sum() >= 5
    X = np.zeros((60, len(genes)))
    X[:, np.flatnonzero(absent)[:5]] = 10
    X[:, np.flatnonzero(~absent)[:5]] = 10  # and some in its own genes
    X[:, np.flatnonzero(absent)[5:50]] = 1
    proba = np.zeros((60, len(trained.type_names)), np.float32)
    proba[:, 0] = 1
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        median = trained._note_ambient(X, np.arange(len(genes)), proba)
    assert median == ambient.MAX_FRACTION
    assert "unlike the reference's types" in caplog.text
