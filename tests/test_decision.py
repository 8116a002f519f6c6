"""The Unassigned decision apart from the scoring
(RejectionRule.decide, RejectionRule.calibrate): the same calls as
RejectionRule.reject, the query's own calibration, per type on a shifted
query, the previous chunk's calibration for a small chunk, and uncertain
cells."""
import numpy as np
import pytest

from deepchem_actinn.confidence import (MIN_ASSIGNED_PROBABILITY,
                                        MIN_CALIBRATION_CELLS, QueryCalibration,
                                        RejectionRule)


def _decide(rule, scores, predicted, previous=None, confidence=None):
    """``rule.decide``'s cells and calibration, as a pair."""
    decision = rule.decide(scores, predicted, confidence, previous)
    return decision.rejected, decision.calibration


def _logits(cells):
    return np.stack([-cells[:, 0], cells[:, 0] - 6], axis=1)


@pytest.fixture(scope="module")
def fitted():
    """A kNN rule on two 2-d types, and 1,200 query cells pushed out from
    their type's centre, type 0 by 1.5 times and type 1 by 3 times (a
    technology that shifts types unequally)."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 300)
    features = rng.normal(size=(600, 2)) + 6 * labels[:, None]
    rule = RejectionRule().fit(features,
                               _logits(features),
                               labels,
                               heldout=np.arange(0, 600, 4),
                               rejection_rate=0.05)
    query_labels = np.repeat([0, 1], 600)
    spread = np.where(query_labels == 0, 1.5, 3.0)[:, None]
    query = spread * rng.normal(size=(1200, 2)) + 6 * query_labels[:, None]
    return rule, query, _logits(query)


def test_decision_matches_reject_and_calibrates_each_type(fitted):
    rule, query, logits = fitted
    scores = rule.score(query, logits)
    predicted = logits.argmax(axis=1)
    rejected, calibration = _decide(rule, scores, predicted)
    assert calibration.scale == rule.query_scale(scores) > rule.min_shift
    np.testing.assert_array_equal(rejected, rule.reject(query, logits))
    # each type is divided by its own shift: the median relative distance
    # of its cells over the held-out reference's
    for c in (0, 1):
        own = np.median(-scores[predicted == c]) / rule.median_ratio_
        expected = min(own, rule.max_type_shift * calibration.scale)
        assert calibration.type_scales[c] == pytest.approx(expected)
    assert calibration.type_scales[1] > 1.5 * calibration.type_scales[0]
    np.testing.assert_array_equal(
        rejected, scores / calibration.type_scales[predicted] < rule.threshold)
    # one divisor for the whole query leaves the more shifted type novel
    whole = scores / calibration.scale < rule.threshold
    assert whole[predicted == 1].mean() > 1.3 * rejected[predicted == 1].mean()
    # a chunk of MIN_CALIBRATION_CELLS or more calibrates on itself
    assert len(scores) >= MIN_CALIBRATION_CELLS
    again = _decide(rule, scores, predicted, QueryCalibration(1.0))[1]
    np.testing.assert_array_equal(again.type_scales, calibration.type_scales)


def test_a_type_shift_is_capped_and_small_types_take_the_query_scale(fitted):
    rule, query, logits = fitted
    scores = rule.score(query, logits)
    predicted = logits.argmax(axis=1)
    capped = RejectionRule.from_dict(dict(rule.to_dict(), max_type_shift=1.0))
    calibration = capped.calibrate(scores, predicted)
    assert calibration.type_scales.max() == pytest.approx(calibration.scale)
    few = RejectionRule.from_dict(dict(rule.to_dict(), min_type_cells=10**6))
    calibration = few.calibrate(scores, predicted)
    np.testing.assert_array_equal(calibration.type_scales, calibration.scale)


def test_a_query_like_the_reference_is_not_calibrated_per_type(fitted):
    rule, _, _ = fitted
    rng = np.random.default_rng(1)
    same = rng.normal(size=(400, 2)) + 6 * np.repeat([0, 1], 200)[:, None]
    scores = rule.score(same, _logits(same))
    calibration = rule.calibrate(scores, _logits(same).argmax(axis=1))
    assert calibration == QueryCalibration(1.0, None)


def test_small_chunk_takes_the_previous_calibration(fitted):
    rule, query, logits = fitted
    tail = rule.score(query[:10], logits[:10])
    predicted = logits[:10].argmax(axis=1)
    previous = QueryCalibration(3.0, np.array([2.0, 4.0]))
    rejected, calibration = _decide(rule, tail, predicted, previous)
    assert calibration is previous
    np.testing.assert_array_equal(
        rejected, tail / np.array([2.0, 4.0])[predicted] < rule.threshold)
    # the first chunk of a query has no previous calibration: its own
    own = _decide(rule, tail, predicted)[1]
    assert own.scale == rule.query_scale(tail)


def test_uncertain_cells_are_unassigned_too(fitted):
    rule, query, logits = fitted
    scores = rule.score(query, logits)
    predicted = logits.argmax(axis=1)
    novel = _decide(rule, scores, predicted)[0]
    confidence = np.linspace(0.3, 1.0, len(scores))
    both = _decide(rule, scores, predicted, None, confidence)[0]
    np.testing.assert_array_equal(
        both, novel | (confidence < MIN_ASSIGNED_PROBABILITY))
    assert MIN_ASSIGNED_PROBABILITY == 0.5
    # the rule carries the level: 0 turns the test off; it is saved, and an
    # annotator saved before it existed gets the default
    state = rule.to_dict()
    assert state["min_assigned_probability"] == 0.5
    off = RejectionRule.from_dict(dict(state, min_assigned_probability=0.0))
    np.testing.assert_array_equal(
        _decide(off, scores, predicted, None, confidence)[0], novel)
    del state["min_assigned_probability"]
    assert RejectionRule.from_dict(state).min_assigned_probability == 0.5


def test_max_probability_rule_is_not_calibrated(fitted):
    rule, query, logits = fitted
    simple = RejectionRule(method="max_probability").fit(None,
                                                         logits,
                                                         logits.argmax(axis=1),
                                                         rejection_rate=0.1)
    scores = simple.score(None, logits)
    rejected, calibration = _decide(simple, scores, logits.argmax(axis=1))
    assert calibration == QueryCalibration(1.0, None)
    np.testing.assert_array_equal(rejected, simple.reject(None, logits))


def test_unfitted_rule_is_refused():
    with pytest.raises(RuntimeError, match="not fitted"):
        _decide(RejectionRule(), np.zeros(3), np.zeros(3))


def test_decide_is_the_one_decision_with_its_reasons(fitted):
    """RejectionRule.decide: the novelty test on the calibrated score or
    the probability floor; it says why each cell is marked, and reject is
    decide on the cells' scores and probabilities."""
    from deepchem_actinn.confidence import calibrated_probabilities
    rule, query, logits = fitted
    scores = rule.score(query, logits)
    proba = calibrated_probabilities(logits, rule.temperature)
    predicted = proba.argmax(axis=1)
    # a level no two-type cell can always reach: both reasons occur
    strict = RejectionRule.from_dict(
        dict(rule.to_dict(), min_assigned_probability=0.99))
    confidence = proba.max(axis=1)
    decision = strict.decide(scores, predicted, confidence)
    # novel: the calibrated novelty score alone, as without a probability
    calibration = strict.calibrate(scores, predicted)
    assert decision.calibration.scale == calibration.scale
    np.testing.assert_array_equal(decision.calibration.type_scales,
                                  calibration.type_scales)
    np.testing.assert_array_equal(
        decision.novel,
        scores / calibration.divisors(predicted) < strict.threshold)
    np.testing.assert_array_equal(decision.novel,
                                  _decide(strict, scores, predicted)[0])
    np.testing.assert_array_equal(decision.rejected,
                                  decision.novel | decision.low_probability)
    np.testing.assert_array_equal(decision.low_probability, confidence < 0.99)
    reasons = decision.reasons
    assert {"novel", "low_probability", ""} == set(reasons)
    # a cell failing both tests is reported as unsure between types
    both = decision.novel & decision.low_probability
    assert both.any() and set(reasons[both]) == {"low_probability"}
    np.testing.assert_array_equal(reasons == "", ~decision.rejected)
    np.testing.assert_array_equal(strict.reject(query, logits),
                                  decision.rejected)
    # a given scale is used whatever the number of cells
    forced = strict.decide(scores, predicted, scale=1.0)
    assert forced.calibration == QueryCalibration(1.0)
    np.testing.assert_array_equal(forced.novel, scores < rule.threshold)
    np.testing.assert_array_equal(strict.reject(query, logits, scale=1.0),
                                  forced.novel | decision.low_probability)
