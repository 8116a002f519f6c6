"""What predict labels beyond the likeliest type: Unassigned (the novelty
rule, a confidence threshold, the query's shift), majority voting over
clusters and a type hierarchy, and the checks on those arguments."""

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn import ACTINNAnnotator, annotate
from deepchem_actinn.confidence import (MIN_ASSIGNED_PROBABILITY,
                                        MIN_CALIBRATION_CELLS)
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.models.inference import embed


def test_unassigned_rule_and_threshold(quick, tm_test):
    X, genes = tm_test["X"], tm_test["genes"]
    plain = quick.predict(X, genes)
    assert "Unassigned" not in set(plain.cell_types)
    cut = np.quantile(plain.confidence, 0.25)
    marked = quick.predict(X, genes, threshold=float(cut))
    rejected = marked.cell_types == "Unassigned"
    np.testing.assert_array_equal(rejected, plain.confidence < cut)
    np.testing.assert_array_equal(marked.cell_types[~rejected],
                                  plain.cell_types[~rejected])
    default = quick.predict(X, genes, unassigned=True)
    values = quick.preprocess(X, genes)
    hidden, logits = embed(quick.ensemble_, values)
    averaged = quick.probabilities(logits, quick.linear_.logits(values))
    # the novelty rule on the type the average gives, or a label held at
    # under half the probability
    np.testing.assert_array_equal(
        default.cell_types == "Unassigned",
        quick.rule_.reject(hidden, logits, probabilities=averaged) |
        (plain.confidence < MIN_ASSIGNED_PROBABILITY))
    kept = default.cell_types != "Unassigned"
    np.testing.assert_array_equal(default.cell_types[kept],
                                  plain.cell_types[kept])
    assert quick.rule_.method == "knn"


def test_rejection_rule_decides_as_predict(quick, tm_test, monkeypatch):
    """The rule's public decision (reject, decide) marks the cells that
    predict(..., unassigned=True) marks, and says why as predict does."""
    from deepchem_actinn.confidence import RejectionRule
    X, genes = tm_test["X"], tm_test["genes"]
    # a higher probability level, so that many cells fail that test alone
    rule = RejectionRule.from_dict(
        dict(quick.rule_.to_dict(), min_assigned_probability=0.9))
    monkeypatch.setattr(quick, "rule_", rule)
    result = quick.predict(X, genes, unassigned=True)
    marked = result.cell_types == "Unassigned"
    values = quick.preprocess(X, genes)
    hidden, logits = embed(quick.ensemble_, values)
    proba = quick.probabilities(logits, quick.linear_.logits(values))
    np.testing.assert_array_equal(
        rule.reject(hidden, logits, probabilities=proba), marked)
    decision = rule.decide(result.novelty_score, proba.argmax(axis=1),
                           result.confidence)
    np.testing.assert_array_equal(decision.rejected, marked)
    np.testing.assert_array_equal(decision.reasons, result.unassigned_reason)
    assert set(result.unassigned_reason[marked]) == {"novel", "low_probability"}
    assert set(result.unassigned_reason[~marked]) == {""}


def test_threshold_and_clusters_are_checked(quick, tm_test, caplog):
    X, genes = tm_test["X"][:60], list(tm_test["genes"])
    for bad in (1.5, -0.1, float("nan"), "0.5"):
        with pytest.raises(ACTINNInputError, match="between 0 and 1"):
            quick.predict(X, genes, threshold=bad)
    with pytest.raises(ACTINNInputError, match="two rules for Unassigned"):
        quick.predict(X, genes, unassigned=True, threshold=0.5)
    clusters = np.array(["a"] * 30 + [np.nan] * 30, dtype=object)
    with pytest.raises(ACTINNInputError, match="no cluster .* for 30 cells"):
        quick.predict(X, genes, majority_voting=True, over_clustering=clusters)
    with pytest.raises(ACTINNInputError, match="1-d array"):
        quick.predict(X,
                      genes,
                      majority_voting=True,
                      over_clustering=np.zeros((60, 2)))
    with pytest.raises(ACTINNInputError,
                       match="pass majority_voting=True with it"):
        quick.predict(X, genes, over_clustering=["a"] * 60)
    adata = anndata.AnnData(X.astype(np.float32), var=pd.DataFrame(index=genes))
    adata.obs["mine"] = "a"
    with pytest.raises(ACTINNInputError,
                       match="pass majority_voting=True with it"):
        annotate(adata, quick, over_clustering="mine")
    assert "actinn_cell_type" not in adata.obs
    used = genes.index(quick.genes_[0])  # a model gene
    with caplog.at_level("WARNING"):
        quick.predict(np.hstack([X, X[:, used:used + 1]]),
                      genes + [genes[used]])
    assert ("1 of the model's genes are named more than once in the query, "
            "e.g. %s" % genes[used]) in caplog.text


def test_hierarchy_forms_and_hyperparameters_are_checked(
        quick, tm_test, tmp_path):
    X, genes = tm_test["X"][:40], list(tm_test["genes"])
    as_dict = quick.predict(X,
                            genes,
                            hierarchy={
                                "NK cell": "lymphocyte",
                                "T cell": "lymphocyte"
                            })
    assert set(as_dict.levels) <= {"type", "parent"}
    for bad in (5, ["NK cell"]):
        with pytest.raises(ACTINNInputError, match="hierarchy must be"):
            quick.predict(X, genes, hierarchy=bad)
    with pytest.raises(ACTINNInputError, match="not a file .a type hierarchy"):
        quick.predict(X, genes, hierarchy=tmp_path)
    for kwargs in (dict(batch_size=0), dict(max_epochs=0),
                   dict(rejection_rate=2.0)):
        with pytest.raises(ValueError, match="must be"):
            ACTINNAnnotator(**kwargs)


def test_unassigned_rule_divides_out_a_shift_of_the_whole_query(quick, tm_test):
    """A query whose every cell sits twice as far from the reference is
    taken for another technology: its distances are divided by the shift."""
    X, genes = tm_test["X"], tm_test["genes"]
    hidden, logits = embed(quick.ensemble_, quick.preprocess(X, genes))
    rule = quick.rule_
    scores = rule.score(hidden, logits)
    scale = rule.query_scale(scores)
    shift = np.median(-scores) / rule.median_ratio_
    assert scale == (shift if shift > rule.min_shift else 1.0)
    # the novelty test (reject adds the cells under half the probability)
    predicted = logits.argmax(axis=1)
    np.testing.assert_array_equal(
        rule.decide(scores, predicted).novel, scores / scale < rule.threshold)
    centre = rule.reference_.mean(axis=0)
    far = centre + 3.0 * (hidden - centre)  # every cell further out
    far_scores = rule.score(far, logits)
    assert rule.query_scale(far_scores) > 2.0
    uncalibrated = (far_scores < rule.threshold).mean()
    calibrated = rule.decide(far_scores, predicted).novel.mean()
    assert calibrated < uncalibrated and calibrated <= 0.1
    # the fitted median travels with the rule
    from deepchem_actinn.confidence import RejectionRule
    same = RejectionRule.from_dict(rule.to_dict())
    assert same.median_ratio_ == rule.median_ratio_


def test_chunks_under_the_calibration_size_reuse_the_previous_scale(
        quick, tm_test):
    X = sp.csr_matrix(tm_test["X"])
    genes = tm_test["genes"]
    whole = quick.predict(X, genes, unassigned=True)
    chunks = [(None, X[:1000]), (None, X[:7])]
    first, tail = quick.iter_predict(chunks, genes, unassigned=True)
    assert first.query_scale == whole.query_scale
    assert tail.query_scale == first.query_scale
    np.testing.assert_array_equal(tail.cell_types, whole.cell_types[:7])
    assert MIN_CALIBRATION_CELLS == 1000


def test_majority_voting_over_given_clusters_and_hierarchy(quick, tm_test):
    from deepchem_actinn.hierarchy import TypeHierarchy
    X, genes = tm_test["X"][:6], tm_test["genes"]
    plain = quick.predict(X, genes)
    clusters = np.array(["a", "a", "a", "b", "b", "b"])
    result = quick.predict(X,
                           genes,
                           majority_voting=True,
                           over_clustering=clusters)
    from deepchem_actinn.voting import MIN_VOTE_PROBABILITY, majority_vote
    proba = pd.DataFrame(plain.probabilities, columns=plain.type_names)
    voted, table = majority_vote(plain.cell_types,
                                 clusters,
                                 probabilities=proba,
                                 min_probability=MIN_VOTE_PROBABILITY)
    np.testing.assert_array_equal(result.majority_cell_types, voted)
    np.testing.assert_array_equal(result.clusters, clusters)
    pd.testing.assert_frame_equal(result.cluster_table, table)
    # 0: CellTypist's plain vote, every cell of a cluster voted
    everyone = quick.predict(X,
                             genes,
                             majority_voting=True,
                             over_clustering=clusters,
                             vote_min_probability=0.0)
    np.testing.assert_array_equal(everyone.majority_cell_types,
                                  majority_vote(plain.cell_types, clusters)[0])
    frame = result.to_frame()
    assert list(frame.columns[:4]) == [
        "cell_type", "confidence", "over_clustering", "majority_voting"
    ]
    with pytest.raises(ACTINNInputError,
                       match="3 cluster names for 6 cells \\(one per cell\\)"):
        quick.predict(X,
                      genes,
                      majority_voting=True,
                      over_clustering=clusters[:3])
    with pytest.raises(ACTINNInputError,
                       match="^vote_min_probability must be between 0 and 1, "
                       "got 2$"):
        quick.predict(X,
                      genes,
                      majority_voting=True,
                      over_clustering=clusters,
                      vote_min_probability=2)
    # a hierarchy with every type under one root: uncertain cells get it
    names = quick.type_names
    everything = TypeHierarchy({name: "cell" for name in names})
    resolved = quick.predict(tm_test["X"], genes, hierarchy=everything)
    top2 = np.sort(resolved.probabilities, axis=1)[:, -2:]
    uncertain = top2[:, 1] - top2[:, 0] < 0.2
    np.testing.assert_array_equal(resolved.levels == "parent", uncertain)
    np.testing.assert_array_equal(resolved.cell_types[uncertain], "cell")
    whole = quick.predict(tm_test["X"], genes)
    np.testing.assert_array_equal(resolved.cell_types[~uncertain],
                                  whole.cell_types[~uncertain])
    assert "level" in resolved.to_frame().columns
    # the confidence is the probability of the label given: a parent's is
    # its types' sum (here every type's: 1)
    np.testing.assert_allclose(resolved.confidence[uncertain], 1.0, atol=1e-5)
    np.testing.assert_array_equal(resolved.confidence[~uncertain],
                                  whole.confidence[~uncertain])
    # a cell marked Unassigned is at neither level, whichever rule marks it
    for rule in ({"unassigned": True}, {"threshold": 0.9}):
        marked = quick.predict(tm_test["X"],
                               genes,
                               hierarchy={
                                   "B cell": "lymphocyte",
                                   "T cell": "lymphocyte"
                               },
                               **rule)
        gone = marked.cell_types == "Unassigned"
        assert 0 < gone.sum() < len(gone)
        np.testing.assert_array_equal(marked.levels[gone], "unassigned")
        assert set(marked.levels[~gone]) <= {"type", "parent"}
