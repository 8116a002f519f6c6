"""The ambient-RNA warning and a reference with small types: a type profiled
from few cells shows no counts in many genes it expresses at a low level,
which must not make a query without soup look like soup
(``ambient_fractions(..., profile_cells=...)``, the annotator's
``profile_cells_``, saved in ``annotator.json``)."""
import numpy as np
import pytest

from deepchem_actinn.preprocessing import ambient


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
