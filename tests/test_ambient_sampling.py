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


def test_a_simulated_atlas_of_small_types_gets_no_warning(tmp_path, caplog):
    # a random split of one simulation: no ambient RNA at all; with 40
    # reference cells a type the warning said about 46 %
    path = simulate_counts(tmp_path / "sim.h5ad",
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
    old.save(tmp_path / "b")
    assert "profile_cells" not in json.loads(
        (tmp_path / "b" / persistence.CONFIG_FILE).read_text())
