"""``ACTINNAnnotator.fit``: what a fit records (genes, types, histories,
calibration), dense and sparse references alike, the labels it takes and
refuses, the gene filter, the defaults' accuracy on the bundled split, a
diverged training, settings out of range and the device rule."""

import re

import numpy as np
import torch
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import accuracy_score, f1_score

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.annotator.fitting import (CALIBRATION_CELLS,
                                               CALIBRATION_WARNING)
from deepchem_actinn.confidence.calibration import (expected_calibration_error,
                                                    fit_temperature)
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.models.inference import embed
from deepchem_actinn.stratify import stratified_indices


def test_fit_records_genes_types_history_and_calibration(quick, tm_train):
    assert quick.type_names == sorted(set(tm_train["labels"]))
    # Default bounds keep every gene expressed in the reference.
    expressed = tm_train["genes"][tm_train["X"].sum(axis=0) > 0]
    assert quick.genes_ == list(expressed)
    assert len(quick.models_) == 2 and len(quick.histories_) == 2
    assert len(quick.history_["train_loss"]) == 4
    assert len(quick.history_["valid_loss"]) == 4
    assert quick.temperature_ > 0
    y = np.unique(tm_train["labels"], return_inverse=True)[1]
    held_out = stratified_indices(y, [0.9, 0.1], seed=0)[1]
    assert quick.calibration_["n_cells"] == len(held_out)
    assert 0 <= quick.threshold_ <= 1
    # the temperature is the one fitted to the networks' held-out logits
    X_held = quick.preprocess(
        sp.csr_matrix(tm_train["X"])[held_out], tm_train["genes"])
    logits = embed(quick.ensemble_, X_held)[1]
    assert quick.temperature_ == pytest.approx(fit_temperature(
        logits, y[held_out]),
                                               rel=1e-6)
    assert quick.temperature_ != pytest.approx(1.0, abs=0.01)
    assert (quick.calibration_["ece_after"] < quick.calibration_["ece_before"])
    # and the calibration error of what predict gives on them (the networks
    # averaged with the linear member, which learned from neither)
    proba = quick.probabilities(logits, quick.linear_.logits(X_held))
    assert quick.calibration_["ece_average"] == pytest.approx(
        expected_calibration_error(proba, y[held_out]), rel=1e-9)


def test_a_fit_whose_confidence_is_not_calibrated_says_so(tm_train, caplog):
    """Networks cut short by a few epochs, averaged with a regression that
    is right more often, give confidences far under their accuracy: the fit
    warns with the held-out figures (399 cells, at least CALIBRATION_CELLS);
    the defaults' (below) are calibrated."""
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        short = ACTINNAnnotator(max_epochs=2,
                                early_stopping=False,
                                n_networks=1,
                                seed=0).fit(tm_train["X"], tm_train["genes"],
                                            tm_train["labels"])
    y = np.unique(tm_train["labels"], return_inverse=True)[1]
    held_out = stratified_indices(y, [0.9, 0.1], seed=0)[1]
    X_held = short.preprocess(tm_train["X"][held_out], tm_train["genes"])
    proba = short.probabilities(
        embed(short.ensemble_, X_held)[1], short.linear_.logits(X_held))
    ece = short.calibration_["ece_average"]
    confidence = proba.max(axis=1).mean()
    accuracy = (proba.argmax(axis=1) == y[held_out]).mean()
    assert accuracy - confidence > CALIBRATION_WARNING
    assert len(held_out) >= CALIBRATION_CELLS and ece == pytest.approx(
        expected_calibration_error(proba, y[held_out]), rel=1e-9)
    warned = [
        r.getMessage()
        for r in caplog.records
        if "calibrated" in r.getMessage()
    ]
    assert warned == [
        "the confidence is not calibrated: on the 399 held-out cells its "
        "mean is %.3f and the accuracy %.3f (calibration error %.3f), so a "
        "confidence threshold leaves out cells the model labels right (or "
        "keeps wrong ones); train until early stopping ends it (the "
        "default, without -ne / max_epochs), which calibrates it" %
        (confidence, accuracy, ece)
    ]


def test_dense_and_sparse_fit_are_identical(tm_train):
    kwargs = dict(max_epochs=2, early_stopping=False, seed=3, n_networks=1)
    X = tm_train["X"][:800]
    a = ACTINNAnnotator(**kwargs).fit(X, tm_train["genes"],
                                      tm_train["labels"][:800])
    b = ACTINNAnnotator(**kwargs).fit(sp.csr_matrix(X), tm_train["genes"],
                                      tm_train["labels"][:800])
    pa = a.predict(X[:50], tm_train["genes"]).probabilities
    pb = b.predict(sp.csr_matrix(X[:50]), tm_train["genes"]).probabilities
    np.testing.assert_allclose(pa, pb, rtol=1e-5, atol=1e-6)


def test_fit_rejects_bad_labels(tm_train):
    with pytest.raises(ACTINNInputError, match="labels"):
        ACTINNAnnotator().fit(tm_train["X"], tm_train["genes"],
                              tm_train["labels"][:10])
    with pytest.raises(ACTINNInputError, match="at least 2 cell types"):
        ACTINNAnnotator().fit(tm_train["X"][:5], tm_train["genes"],
                              ["B cell"] * 5)
    with pytest.raises(ACTINNInputError,
                       match="name a type 'Unassigned', the label given to "
                       "cells no type fits"):
        ACTINNAnnotator().fit(tm_train["X"][:6], tm_train["genes"],
                              ["B cell", "Unassigned"] * 3)


def test_actinn_gene_filter_is_available(tm_train):
    annotator = ACTINNAnnotator(max_epochs=1,
                                n_networks=1,
                                total_percentiles=(1, 99),
                                cv_percentiles=(1, 99)).fit(
                                    tm_train["X"], tm_train["genes"],
                                    tm_train["labels"])
    assert 1863 <= len(annotator.genes_) <= 1882


def test_defaults_beat_the_tutorial_on_the_bundled_split(
        default_annotator, tm_test):
    """Issue 3's floor and issue 6's target with default settings."""
    # ACTINNAnnotator(seed=0).fit(tm_train["X"], tm_train["genes"],
    # tm_train["labels"]), trained once for this and test_ambient.py
    annotator = default_annotator
    assert annotator.get_params() == ACTINNAnnotator(seed=0).get_params()
    result = annotator.predict(tm_test["X"], tm_test["genes"])
    accuracy = accuracy_score(tm_test["labels"], result.cell_types)
    macro_f1 = f1_score(tm_test["labels"], result.cell_types, average="macro")
    assert accuracy >= 0.99, accuracy
    assert macro_f1 > 0.957, macro_f1
    ece = annotator.calibration_
    assert ece["ece_after"] <= ece["ece_before"] + 1e-9
    assert ece["ece_average"] < CALIBRATION_WARNING  # calibrated


def test_labels_are_matched_to_cells_and_none_may_be_missing(tm_train):
    """A labels Series indexed by cell id follows the cells, whatever its
    order; a missing label is refused, not trained as a type 'nan'."""
    X, genes = tm_train["X"][:300], tm_train["genes"]
    ids = list(tm_train["ids"][:300])
    labels = pd.Series(list(tm_train["labels"][:300]), index=ids)
    shuffled = labels.sample(frac=1.0, random_state=0)
    kwargs = dict(max_epochs=2, early_stopping=False, n_networks=1, seed=0)
    a = ACTINNAnnotator(**kwargs).fit(X, genes, labels, ids)
    b = ACTINNAnnotator(**kwargs).fit(X, genes, shuffled, ids)
    np.testing.assert_array_equal(
        a.predict(X, genes).probabilities,
        b.predict(X, genes).probabilities)
    # missing, as Python, pandas' astype(str) or a blank field gives it
    for missing in (None, np.nan, "nan", "", " "):
        holed = list(labels)
        holed[7] = missing
        with pytest.raises(ACTINNInputError,
                           match="^1 cell has no label .*: %s;" % ids[7]):
            ACTINNAnnotator(**kwargs).fit(X, genes, holed, ids)
    # spaces around a name do not make another type, as in a labels file
    spaced = ACTINNAnnotator(**kwargs).fit(
        X, genes, [t + " " if i % 2 else t for i, t in enumerate(labels)], ids)
    assert spaced.type_names == a.type_names
    with pytest.raises(ACTINNInputError, match="300 cells but 299 cell ids"):
        ACTINNAnnotator(**kwargs).fit(X, genes, labels, ids[1:])
    twice = list(genes)
    twice[5] = twice[4].lower()
    with pytest.raises(ACTINNInputError,
                       match="1 gene is named more than once .*: %s/%s;" %
                       (genes[4], genes[4].lower())):
        ACTINNAnnotator(**kwargs).fit(X, twice, labels, ids)


def test_a_series_missing_one_cell_id_is_refused_naming_it(tm_train):
    """A Series matched to the cell ids by id that lacks one of them is
    refused, naming the id and the one it has instead, before any
    training: not trained in row order, its labels on other cells."""
    X, genes = tm_train["X"][:300], tm_train["genes"]
    ids = list(tm_train["ids"][:300])
    labels = pd.Series(list(tm_train["labels"][:300]), index=ids)
    off = labels.sample(frac=1.0,
                        random_state=0).rename(index={ids[4]: "renamed_cell"})
    with pytest.raises(ACTINNInputError) as err:
        ACTINNAnnotator(max_epochs=1).fit(X, genes, off, ids)
    assert str(err.value) == (
        "labels: 1 of 300 cells have no label: their ids are not in the "
        "Series' index (labels are matched to cell_ids by id), e.g. %s; its "
        "index names 1 id that no cell has, e.g. renamed_cell" % ids[4])


def test_labels_by_position_unless_indexed_by_every_cell(tm_train):
    """A filtered Series (integer index) whose numbers are no cell ids,
    or one indexed by the cell ids as they are (repeats and all), is taken
    by position."""
    X, genes = tm_train["X"][:200], tm_train["genes"]
    labels = list(tm_train["labels"][:200])
    kwargs = dict(max_epochs=1, early_stopping=False, n_networks=1, seed=0)
    expected = ACTINNAnnotator(**kwargs).fit(X, genes, labels)
    filtered = pd.Series(labels, index=np.arange(0, 400, 2))
    repeated_ids = ["c%d" % (i // 2) for i in range(200)]
    for series, ids in ((filtered, None), (filtered, tm_train["ids"][:200]),
                        (pd.Series(labels, index=repeated_ids), repeated_ids)):
        got = ACTINNAnnotator(**kwargs).fit(X, genes, series, ids)
        np.testing.assert_array_equal(
            got.predict(X, genes).probabilities,
            expected.predict(X, genes).probabilities)


def test_a_diverged_training_is_refused_not_saved(tm_train):
    # a learning rate far too high: the cost goes to NaN, and so would
    # every label; the fit says so instead of returning such networks
    with pytest.raises(ACTINNInputError,
                       match="training diverged: the networks' weights "
                       "became NaN or infinite \\(the cost was nan from "
                       "epoch 1\\); lower the learning rate \\(now 1e\\+12\\)"):
        ACTINNAnnotator(learning_rate=1e12,
                        max_epochs=2,
                        early_stopping=False,
                        n_networks=1).fit(tm_train["X"][:600],
                                          tm_train["genes"],
                                          tm_train["labels"][:600])


@pytest.mark.parametrize("setting, message", [
    (dict(learning_rate=-1), "learning_rate must be a number above 0, got -1"),
    (dict(learning_rate=float("nan")), "learning_rate must be a number above"),
    (dict(seed=-1), "seed must be a whole number from 0 to 4294967295"),
    (dict(seed=2**32), "seed must be a whole number from 0 to 4294967295"),
    (dict(min_overlap=2),
     "min_overlap must be a number of at least 0 and at most 1"),
    (dict(weight_decay=-0.1), "weight_decay must be a number of at least 0"),
    (dict(log_base=1), "log_base must be a number above 1"),
    (dict(min_overlap="x"), "min_overlap must be a number, got 'x'"),
    (dict(rejection_rate=None), "rejection_rate must be a number, got None"),
    (dict(linear_weight=True), "linear_weight must be a number, got True"),
])
def test_settings_out_of_range_are_refused_at_construction(setting, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ACTINNAnnotator(**setting)


def test_device_rule_for_fit_and_load(tm_train, tmp_path, monkeypatch):
    """None means CUDA when available (here: the CPU); the fitted ensemble
    sits on the resolved device; load follows the same rule."""
    from deepchem_actinn.models.device import resolve_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(None) == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    annotator = ACTINNAnnotator(max_epochs=1,
                                n_networks=2).fit(tm_train["X"][:300],
                                                  tm_train["genes"],
                                                  tm_train["labels"][:300])
    assert {p.device for p in annotator.ensemble_.parameters()
           } == {torch.device("cpu")}
    annotator.save(tmp_path / "m")
    for device in (None, "cpu"):
        loaded = ACTINNAnnotator.load(tmp_path / "m", device=device)
        assert {p.device for p in loaded.ensemble_.parameters()
               } == {torch.device("cpu")}
        assert loaded.device == device
