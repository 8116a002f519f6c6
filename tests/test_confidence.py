"""Behaviour of the calibration helpers and of the ``Unassigned`` rule, on
small synthetic data (Gaussian clusters standing in for cell types)."""
import json

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from deepchem_actinn.confidence import (RejectionRule, calibrated_probabilities,
                                        expected_calibration_error,
                                        fit_temperature, kth_neighbour_distance)

CENTRES = np.array([[0.0, 0.0, 0.0, 0.0], [6.0, 0.0, 0.0, 0.0],
                    [0.0, 6.0, 0.0, 0.0]])


def clusters(n_per_type, seed, spreads=(1.0, 1.0, 1.0)):
    """Features, logits (negative squared distance to each centre) and
    labels of points around ``CENTRES``."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CENTRES)), n_per_type)
    spread = np.asarray(spreads)[labels][:, None]
    features = CENTRES[labels] + spread * rng.normal(size=(len(labels), 4))
    return features, logits_of(features), labels


def logits_of(features):
    return -0.5 * cdist(features, CENTRES, "sqeuclidean")


@pytest.fixture(scope="module")
def fitted():
    features, logits, labels = clusters(400, seed=0)
    heldout = np.random.default_rng(1).random(len(labels)) < 0.3
    rule = RejectionRule().fit(features,
                               logits,
                               labels,
                               heldout=heldout,
                               rejection_rate=0.05)
    return rule, heldout


def test_threshold_rejects_the_requested_share_of_held_out_cells(fitted):
    rule, heldout = fitted
    assert rule.reference_.shape == (int((~heldout).sum()), 4)
    features, logits, _ = clusters(1000, seed=2)
    rejected = rule.reject(features, logits).mean()
    assert 0.02 <= rejected <= 0.09


def test_a_far_away_cluster_is_rejected(fitted):
    rule, _ = fitted
    rng = np.random.default_rng(3)
    # Between the known types but far from all of them: a new type.
    far = np.array([3.0, 3.0, 8.0, 0.0]) + rng.normal(size=(300, 4))
    assert rule.reject(far, logits_of(far), scale=1.0).mean() > 0.95
    # in a query mostly of known cells (the median is theirs), calibration
    # changes little and the new type is still rejected
    known, known_logits, _ = clusters(1000, seed=4)
    both = np.vstack([far, known])
    rejected = rule.reject(both, np.vstack([logits_of(far), known_logits]))
    assert rejected[:300].mean() > 0.95 and rejected[300:].mean() < 0.1
    # a query made only of the new type is taken for a shifted technology:
    # the query-calibrated rule cannot tell (the documented limit)
    assert rule.query_scale(rule.score(far, logits_of(far))) > 1.5
    assert rule.score(far, logits_of(far)).mean() < rule.score(
        known, known_logits).mean()


def test_json_round_trip_gives_identical_scores(fitted):
    rule, _ = fitted
    again = RejectionRule.from_dict(json.loads(json.dumps(rule.to_dict())))
    features, logits, _ = clusters(50, seed=5)
    np.testing.assert_array_equal(again.score(features, logits),
                                  rule.score(features, logits))
    assert again.threshold == rule.threshold
    np.testing.assert_array_equal(again.reject(features, logits),
                                  rule.reject(features, logits))


def test_a_diffuse_type_is_not_rejected_wholesale():
    # Type 2 is rare and five times as spread out as the others.
    features, logits, labels = clusters(400, seed=6, spreads=(0.3, 0.3, 1.5))
    keep = (labels != 2) | (np.arange(len(labels)) % 400 < 60)
    features, logits, labels = features[keep], logits[keep], labels[keep]
    heldout = np.random.default_rng(7).random(len(labels)) < 0.3
    rule = RejectionRule().fit(features,
                               logits,
                               labels,
                               heldout=heldout,
                               rejection_rate=0.02)
    fresh, fresh_logits, fresh_labels = clusters(300,
                                                 seed=8,
                                                 spreads=(0.3, 0.3, 1.5))
    rejected = rule.reject(fresh, fresh_logits)
    assert rejected[fresh_labels == 2].mean() < 0.15
    assert rejected.mean() < 0.06


def test_without_held_out_cells_the_threshold_is_leave_one_out():
    features, logits, labels = clusters(300, seed=9)
    rule = RejectionRule().fit(features, logits, labels, rejection_rate=0.05)
    assert len(rule.reference_) == len(labels)
    fresh, fresh_logits, _ = clusters(500, seed=10)
    assert rule.reject(fresh, fresh_logits).mean() < 0.12


def test_max_reference_keeps_a_stratified_sample_with_rare_types():
    features, logits, labels = clusters(400, seed=11)
    keep = (labels != 1) | (np.arange(len(labels)) % 400 < 10)
    rule = RejectionRule(max_reference=100).fit(features[keep], logits[keep],
                                                labels[keep])
    assert len(rule.reference_) <= 110
    nearest = cdist(rule.reference_, CENTRES).argmin(axis=1)
    assert (nearest == 1).sum() == 10


def test_max_probability_rule_is_the_calibrated_confidence_cut():
    features, logits, labels = clusters(200, seed=12)
    heldout = np.arange(0, len(labels), 3)
    rule = RejectionRule("max_probability").fit(None,
                                                logits,
                                                labels,
                                                heldout=heldout,
                                                rejection_rate=0.1,
                                                temperature=2.0)
    top = calibrated_probabilities(logits[heldout], 2.0).max(axis=1)
    assert rule.threshold == pytest.approx(np.quantile(top, 0.1), rel=1e-6)
    assert rule.reject(None, logits[heldout]).mean() == pytest.approx(0.1,
                                                                      abs=0.02)
    again = RejectionRule.from_dict(json.loads(json.dumps(rule.to_dict())))
    np.testing.assert_array_equal(again.score(None, logits),
                                  rule.score(None, logits))


def test_misuse_is_reported():
    with pytest.raises(ValueError, match="method"):
        RejectionRule("nearest")
    with pytest.raises(RuntimeError, match="not fitted"):
        RejectionRule().reject(np.zeros((1, 4)), np.zeros((1, 3)))
    features, logits, labels = clusters(20, seed=13)
    with pytest.raises(ValueError, match="needs features"):
        RejectionRule().fit(None, logits, labels)
    rule = RejectionRule().fit(features, logits, labels)
    with pytest.raises(ValueError, match="features per cell"):
        rule.score(features[:, :2], logits)


def test_kth_neighbour_distance_matches_brute_force():
    rng = np.random.default_rng(14)
    reference = rng.normal(size=(200, 6)) + 50.0
    queries = rng.normal(size=(70, 6)) + 50.0
    full = np.sort(cdist(queries, reference), axis=1)
    for k in (1, 3):
        np.testing.assert_allclose(kth_neighbour_distance(queries,
                                                          reference,
                                                          k,
                                                          block=16),
                                   full[:, k - 1],
                                   rtol=1e-4)
    self_full = np.sort(cdist(reference, reference), axis=1)
    np.testing.assert_allclose(kth_neighbour_distance(reference,
                                                      reference,
                                                      2,
                                                      exclude_self=True,
                                                      block=32),
                               self_full[:, 2],
                               rtol=1e-4)


def test_temperature_scaling_reduces_ece_on_over_confident_logits():
    rng = np.random.default_rng(15)
    labels = rng.integers(0, 4, 3000)
    logits = rng.normal(size=(3000, 4))
    logits[np.arange(3000), labels] += 1.5
    over = 8.0 * logits
    t = fit_temperature(over, labels)
    before = expected_calibration_error(calibrated_probabilities(over), labels)
    after = expected_calibration_error(calibrated_probabilities(over, t),
                                       labels)
    assert t > 2.0
    assert after < 0.03 < before / 3


def test_ece_on_a_hand_computed_example():
    # Bin of 0.9 confidence: 2 cells, both right (gap 0.1); bin of 0.7:
    # 2 cells, one right (gap 0.2). ECE = 0.5 * 0.1 + 0.5 * 0.2 = 0.15.
    p = np.array([[0.9, 0.1], [0.1, 0.9], [0.7, 0.3], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 0])
    assert expected_calibration_error(p, labels) == pytest.approx(0.15)
