"""The ambient-RNA warning and a reference with small types: a type profiled
from few cells shows no counts in many genes it expresses at a low level,
which must not make a query without soup look like soup
(``ambient_fractions(..., profile_cells=...)``, the annotator's
``profile_cells_``, saved in ``annotator.json``)."""
import json

import anndata
import numpy as np
import pytest
import scipy.sparse as sp

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.annotator import persistence
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.preprocessing import ambient
from deepchem_actinn.simulate import simulate_counts

from test_ambient import _with_soup


def test_a_gene_unseen_in_few_cells_is_not_a_soup_gene():
    # type 0 never showed gene 2 in its reference cells; its query cells hold
    # 5 % of their counts there, 30 % of the soup's share (1 / 6)
    X = np.array([[50., 45., 5.], [50., 45., 5.], [10., 50., 40.]])
    positions = np.arange(3)
    types = np.array([0, 0, 1])
    profiles = np.array([[0.5, 0.5, 0.0], [0.1, 0.7, 0.2]])
    plain = ambient.ambient_fractions(X, positions, types, profiles)
    np.testing.assert_allclose(plain, [0.3, 0.3, 0.0])
    # 100 counts a cell: type 0's reference cells would have held 50 counts
    # of gene 2 at 5 % of the soup's share with 60 cells
    assert ambient.MIN_EXPECTED / (100 * ambient.MAX_RATIO / 6) == \
        pytest.approx(60)
    few = ambient.ambient_fractions(X,
                                    positions,
                                    types,
                                    profiles,
                                    profile_cells=np.array([59, 1000]))
    assert np.isnan(few).all()  # type 1 expresses every gene: no soup genes
    enough = ambient.ambient_fractions(X,
                                       positions,
                                       types,
                                       profiles,
                                       profile_cells=np.array([61, 1000]))
    np.testing.assert_allclose(enough[:2], plain[:2], rtol=1e-12)
    assert np.isnan(enough[2])
    # the cells not judged are left out of the typical share
    assert ambient.typical_fraction(enough, np.ones(3, bool),
                                    min_cells=2) == pytest.approx(plain[0])
    assert ambient.typical_fraction(few, np.ones(3, bool), min_cells=1) is None
    with pytest.raises(ValueError, match=r"\(1,\) profile cell counts for 2"):
        ambient.ambient_fractions(X,
                                  positions,
                                  types,
                                  profiles,
                                  profile_cells=np.array([75]))


def test_each_type_is_as_deep_as_its_median_query_cell():
    rng = np.random.default_rng(0)
    totals = rng.integers(1, 1000, size=200).astype(float)
    types = rng.integers(0, 6, size=200)
    types[types == 4] = 5  # a type without query cells
    expected = [
        np.median(totals[types == t]) if (types == t).any() else 0.0
        for t in range(7)
    ]
    np.testing.assert_array_equal(ambient._type_depths(totals, types, 7),
                                  expected)


@pytest.fixture(scope="module")
def small_types(tm_train):
    """An annotator of the Tabula Muris sample cut to 15 cells a type (14
    or 13 of them in its profiles)."""
    labels = tm_train["labels"]
    keep = np.concatenate(
        [np.flatnonzero(labels == t)[:15] for t in np.unique(labels)])
    return ACTINNAnnotator(seed=0).fit(tm_train["X"][keep], tm_train["genes"],
                                       labels[keep])


def test_small_types_do_not_make_a_query_without_soup_look_soupy(
        small_types, tm_test, caplog):
    assert list(small_types.profile_cells_) == [14] * 5 + [13] + [14] * 6
    X = tm_test["X"].astype(np.float64)
    positions = small_types.gene_positions(tm_test["genes"])
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        plain = small_types.predict(X, tm_test["genes"])
    assert "ambient RNA" not in caplog.text  # was "about 10 %"
    assert small_types._note_ambient(X, positions, plain.probabilities) == 0
    # real soup is still seen, and measured (was 28 % for 20 %)
    mixed, _ = _with_soup(X, np.full(X.shape[0], 0.2), 1)
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        soupy = small_types.predict(mixed, tm_test["genes"])
    assert "hold about 20 %" in caplog.text
    assert abs(
        small_types._note_ambient(mixed, positions, soupy.probabilities) -
        0.2) < 0.01


def test_remove_ambient_judges_by_the_warnings_genes(small_types, tm_test):
    # 15 reference cells a type, the test cells without soup: judged by the
    # bare ratio test a typical cell was 10 % soup, and subtracted
    X = tm_test["X"].astype(np.float64)
    genes = tm_test["genes"]
    plain = small_types.predict(X, genes)
    result = small_types.predict(X, genes, remove_ambient=True)
    assert np.median(result.ambient_fraction) == 0
    proba = plain.probabilities
    clean, shares = ambient.remove_ambient(
        X,
        small_types.gene_positions(genes),
        proba.argmax(axis=1),
        small_types.type_profiles_,
        proba.max(axis=1) >= ambient.TRUSTED_PROBABILITY,
        profile_cells=small_types.profile_cells_)
    np.testing.assert_array_equal(result.ambient_fraction, shares)
    lost = 1 - np.asarray(clean.sum(axis=1)).ravel() / X.sum(axis=1)
    assert np.median(lost) == 0  # was 3.5 % of each cell's counts
    assert np.mean(result.cell_types == plain.cell_types) >= 0.99


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """One simulation without ambient RNA, split into 40 reference cells a
    type and the query."""
    path = simulate_counts(tmp_path_factory.mktemp("sim") / "sim.h5ad",
                           n_cells=900,
                           n_genes=600,
                           n_types=6,
                           density=0.2,
                           seed=0,
                           type_proportions=[1] * 6,
                           n_threads=1)
    data = anndata.read_h5ad(path)
    y = data.obs["cell_type"].to_numpy()
    ref = np.concatenate([np.flatnonzero(y == t)[:40] for t in np.unique(y)])
    query = np.setdiff1d(np.arange(len(y)), ref)
    return data, y, ref, query


def test_a_simulated_atlas_of_small_types_gets_no_warning(simulated, caplog):
    # a random split of one simulation: no ambient RNA at all; with 40
    # reference cells a type the warning said about 46 %
    data, y, ref, query = simulated
    annotator = ACTINNAnnotator(max_epochs=10,
                                seed=0).fit(data.X[ref], data.var_names, y[ref])
    with caplog.at_level("INFO", logger="deepchem_actinn"):
        result = annotator.predict(data.X[query], data.var_names)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    # no soup, but too few reference cells to judge any: it says so (at
    # info level) rather than staying silent as if it had looked
    assert ("ambient RNA not checked: the reference cells of most of this "
            "query's types are too few (or too shallow) to tell a gene their "
            "type does not express from one they missed by chance"
           ) in caplog.messages
    assert annotator._note_ambient(sp.csr_matrix(data.X[query]),
                                   annotator.gene_positions(data.var_names),
                                   result.probabilities) is None


def test_profile_cells_are_saved_checked_and_optional(small_types, tm_test,
                                                      tmp_path, caplog):
    small_types.save(tmp_path / "a")
    config_path = tmp_path / "a" / persistence.CONFIG_FILE
    config = json.loads(config_path.read_text())
    assert config["profile_cells"] == [
        int(n) for n in small_types.profile_cells_
    ]
    loaded = ACTINNAnnotator.load(tmp_path / "a", device="cpu")
    assert loaded.profile_cells_.dtype == np.int64
    np.testing.assert_array_equal(loaded.profile_cells_,
                                  small_types.profile_cells_)
    for bad, message in ((config["profile_cells"][:-1],
                          "profile_cells is a list of 11, not a list of 12"),
                         ("14", "profile_cells is str, not a list of 12"),
                         ([14] * 11 + [-1], "profile_cells holds -1; each "
                          "must be a whole number from 0 up"),
                         ([14] * 11 + [2.5], "holds 2.5"), ([14] * 11 + [True],
                                                            "holds True")):
        config_path.write_text(json.dumps({**config, "profile_cells": bad}))
        with pytest.raises(ACTINNInputError, match=message):
            ACTINNAnnotator.load(tmp_path / "a", device="cpu")
    config_path.write_text(json.dumps({**config, "profile_cells": [14.0] * 12}))
    assert list(
        ACTINNAnnotator.load(tmp_path / "a",
                             device="cpu").profile_cells_) == [14] * 12
    # saved without them (an earlier version): judged as before, and saved
    # again without them
    del config["profile_cells"]
    config_path.write_text(json.dumps(config))
    old = ACTINNAnnotator.load(tmp_path / "a", device="cpu")
    assert old.profile_cells_ is None
    X = tm_test["X"].astype(np.float64)
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        old.predict(X, tm_test["genes"])
    assert "hold about 10 %" in caplog.text
    # and remove_ambient takes what it took before
    assert np.median(
        old.predict(X, tm_test["genes"],
                    remove_ambient=True).ambient_fraction) > 0.05
    old.save(tmp_path / "b")
    assert "profile_cells" not in json.loads(
        (tmp_path / "b" / persistence.CONFIG_FILE).read_text())


def test_remove_ambient_gives_unjudged_cells_the_judged_median():
    rng = np.random.default_rng(3)
    X = rng.poisson(3.0, size=(150, 10)).astype(np.float64)
    X[rng.random(X.shape) > 0.5] = 0
    positions = np.arange(10)
    types = np.arange(150) % 3
    profiles = rng.random((3, 10))**4
    # type 2 rests on one reference cell: its cells are not judged
    cells = np.array([10**6, 10**6, 1])
    own = ambient.ambient_fractions(X,
                                    positions,
                                    types,
                                    profiles,
                                    0.5,
                                    1.0,
                                    profile_cells=cells)
    judged = types != 2
    assert not np.isnan(own[judged]).any() and np.isnan(own[~judged]).all()
    trusted = np.arange(150) % 5 != 0
    clean, rho = ambient.remove_ambient(X,
                                        positions,
                                        types,
                                        profiles,
                                        trusted,
                                        0.5,
                                        1.0,
                                        profile_cells=cells)
    kept = judged & trusted  # 80 cells
    typical = np.median(own[kept])
    assert 0 < typical < 1
    np.testing.assert_array_equal(rho[kept], own[kept])
    assert (rho[~kept] == typical).all()
    np.testing.assert_allclose(
        clean.toarray(),
        ambient.subtract_ambient(X, positions, rho).toarray())
    # every cell trusted: the unjudged ones still get the judged median
    _, rho = ambient.remove_ambient(X,
                                    positions,
                                    types,
                                    profiles,
                                    max_ratio=0.5,
                                    max_fraction=1.0,
                                    profile_cells=cells)
    np.testing.assert_array_equal(rho[judged], own[judged])
    assert (rho[~judged] == np.median(own[judged])).all()
    # 40 judged cells of 60 trusted, under 50: nothing from the others
    kept = judged & (np.arange(150) < 60)
    _, rho = ambient.remove_ambient(X,
                                    positions,
                                    types,
                                    profiles,
                                    np.arange(150) < 60,
                                    0.5,
                                    1.0,
                                    profile_cells=cells)
    np.testing.assert_array_equal(rho[kept], own[kept])
    assert kept.sum() == 40 and (rho[~kept] == 0).all()
    # without profile_cells every type is judged, as before
    _, rho = ambient.remove_ambient(X, positions, types, profiles, None, 0.5,
                                    1.0)
    np.testing.assert_array_equal(
        rho, ambient.ambient_fractions(X, positions, types, profiles, 0.5, 1.0))


def test_remove_ambient_leaves_a_query_without_soup_as_it_was(simulated):
    # 25 reference cells a type: judged by the bare ratio test each query
    # cell was at the cap, half soup, and lost a third of its counts
    data, y, _, query = simulated
    names, index = np.unique(y, return_inverse=True)
    ref = np.concatenate([np.flatnonzero(y == t)[:25] for t in names])
    X = sp.csr_matrix(data.X, dtype=np.float64)
    profiles = ambient.type_profiles(X[ref], index[ref], len(names))
    positions = np.arange(X.shape[1])
    clean, rho = ambient.remove_ambient(X[query], positions, index[query],
                                        profiles)
    assert np.median(rho) == ambient.MAX_FRACTION
    assert 1 - clean.sum() / X[query].sum() > 0.3
    clean, rho = ambient.remove_ambient(X[query],
                                        positions,
                                        index[query],
                                        profiles,
                                        profile_cells=np.bincount(index[ref]))
    assert (rho == 0).all()
    np.testing.assert_array_equal(clean.toarray(), X[query].toarray())


def test_one_small_type_loses_no_more_than_the_others(tm_train, tm_test):
    # the Tabula Muris sample with its B cells cut to 25 reference cells;
    # the test cells, without soup, each labelled its true type
    labels = tm_train["labels"]
    names, index = np.unique(labels, return_inverse=True)
    b_cell = list(names).index("B cell")
    keep = np.concatenate([
        np.flatnonzero(index == t)[:25 if t == b_cell else None]
        for t in range(len(names))
    ])
    profiles = ambient.type_profiles(tm_train["X"][keep], index[keep],
                                     len(names))
    types = np.searchsorted(names, tm_test["labels"])
    X = sp.csr_matrix(tm_test["X"], dtype=np.float64)
    positions = np.arange(X.shape[1])
    small = types == b_cell

    def removed(clean):
        return (1 - clean[small].sum() / X[small].sum(),
                1 - clean[~small].sum() / X[~small].sum())

    plain, _ = ambient.remove_ambient(X, positions, types, profiles)
    judged, rho = ambient.remove_ambient(X,
                                         positions,
                                         types,
                                         profiles,
                                         profile_cells=np.bincount(index[keep]))
    assert removed(plain)[0] > 0.02  # 2.3 %, 0.3 % of the other cells'
    b_cells, others = removed(judged)
    assert b_cells < 0.005 and others < 0.005
    assert np.median(rho[small]) == 0
