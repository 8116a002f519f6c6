"""The novelty rule's decision apart from its scoring
(labelling.decide_novelty): the same calls as RejectionRule.reject, the
query's own calibration, and the previous chunk's for a small chunk."""
import numpy as np
import pytest

from deepchem_actinn.annotator import labelling
from deepchem_actinn.confidence import RejectionRule


@pytest.fixture(scope="module")
def fitted():
    """A kNN rule on two 2-d types, and 1,200 query cells twice as far out
    from the reference mean as the reference cells (a shifted query)."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 300)
    features = rng.normal(size=(600, 2)) + 6 * labels[:, None]
    logits = np.stack([-features[:, 0], features[:, 0] - 6], axis=1)
    rule = RejectionRule().fit(features,
                               logits,
                               labels,
                               heldout=np.arange(0, 600, 4),
                               rejection_rate=0.05)
    query_labels = np.repeat([0, 1], 600)
    centre = features.mean(axis=0)
    query = centre + 2.0 * (rng.normal(size=(1200, 2)) +
                            6 * query_labels[:, None] - centre)
    query_logits = np.stack([-query[:, 0], query[:, 0] - 6], axis=1)
    return rule, query, query_logits


def test_decision_matches_reject_and_its_own_scale(fitted):
    rule, query, logits = fitted
    scores = rule.score(query, logits)
    rejected, scale = labelling.decide_novelty(rule, scores)
    assert scale == rule.query_scale(scores) > rule.min_shift
    np.testing.assert_array_equal(rejected, rule.reject(query, logits))
    np.testing.assert_array_equal(rejected, scores / scale < rule.threshold)
    # without calibration most of the shifted cells would look novel
    assert rejected.mean() < (scores < rule.threshold).mean()
    # a chunk of MIN_CALIBRATION_CELLS or more calibrates on itself
    assert len(scores) >= labelling.MIN_CALIBRATION_CELLS
    assert labelling.decide_novelty(rule, scores, 1.0)[1] == scale


def test_small_chunk_takes_the_previous_scale(fitted):
    rule, query, logits = fitted
    tail = rule.score(query[:10], logits[:10])
    assert rule.query_scale(tail) != 3.0
    rejected, scale = labelling.decide_novelty(rule, tail, 3.0)
    assert scale == 3.0
    np.testing.assert_array_equal(rejected, tail / 3.0 < rule.threshold)
    # the first chunk of a query has no previous scale: its own
    assert labelling.decide_novelty(rule, tail)[1] == rule.query_scale(tail)


def test_max_probability_rule_is_not_calibrated(fitted):
    rule, query, logits = fitted
    simple = RejectionRule(method="max_probability").fit(None,
                                                         logits,
                                                         logits.argmax(axis=1),
                                                         rejection_rate=0.1)
    scores = simple.score(None, logits)
    rejected, scale = labelling.decide_novelty(simple, scores)
    assert scale == 1.0
    np.testing.assert_array_equal(rejected, simple.reject(None, logits))


def test_unfitted_rule_is_refused():
    with pytest.raises(RuntimeError, match="not fitted"):
        labelling.decide_novelty(RejectionRule(), np.zeros(3))
