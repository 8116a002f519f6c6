import json
import re
import warnings

import anndata
import numpy as np
import torch
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import accuracy_score, f1_score

from deepchem_actinn import ACTINNAnnotator, annotate
from deepchem_actinn.annotator import persistence
from deepchem_actinn.annotator import FORMAT_VERSION
from deepchem_actinn.preprocessing.genes import choose_gene_column
from deepchem_actinn.confidence import (MIN_ASSIGNED_PROBABILITY,
                                        MIN_CALIBRATION_CELLS)
from deepchem_actinn.confidence.calibration import fit_temperature
from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError
from deepchem_actinn.models.inference import embed
from deepchem_actinn.stratify import stratified_indices


@pytest.fixture(scope="module")
def quick(tm_train):
    """A briefly trained annotator (fast; for behaviour, not accuracy)."""
    return ACTINNAnnotator(max_epochs=4, early_stopping=False,
                           n_networks=2).fit(sp.csr_matrix(tm_train["X"]),
                                             tm_train["genes"],
                                             tm_train["labels"],
                                             tm_train["ids"])


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


def test_predict_aligns_a_query_from_another_source(quick, tm_test, caplog):
    X, genes, ids = tm_test["X"], tm_test["genes"], tm_test["ids"]
    base = quick.predict(X, genes, ids)
    assert base.probabilities.shape == (1000, 12)
    np.testing.assert_allclose(base.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(base.confidence,
                                  base.probabilities.max(axis=1))
    # Shuffled, upper-cased genes and a few model genes missing.
    rng = np.random.default_rng(0)
    order = rng.permutation(len(genes))
    upper = np.array([g.upper() for g in genes])
    shuffled = quick.predict(X[:, order], upper[order], ids)
    np.testing.assert_allclose(shuffled.probabilities,
                               base.probabilities,
                               rtol=1e-5,
                               atol=1e-6)
    drop = np.isin(genes, quick.genes_[:3])
    with caplog.at_level("WARNING"):
        partial = quick.predict(X[:, ~drop], genes[~drop], ids)
    assert partial.genes_missing == 3
    assert "3 of the model's" in caplog.text


def test_unmatched_genes_fail_with_overlap_figures(quick, tm_test):
    ensembl = ["ENSMUSG%011d" % i for i in range(2000)]
    with pytest.raises(ACTINNInputError) as info:
        quick.predict(tm_test["X"], ensembl)
    assert ": 0 of the model's 1921 genes found (0 %; at least 50 % needed)" in str(
        info.value)
    assert "ENSMUSG" in str(info.value)


def test_choose_gene_column_prefers_best_identifier():
    model = ["CD3E", "MS4A1", "NKG7"]
    column, n = choose_gene_column(
        model, {
            "var_names": ["ENSG1", "ENSG2", "NKG7"],
            "var['gene_symbols']": ["Cd3e", "Ms4a1", "Nkg7"]
        }, 0.5)
    assert (column, n) == ("var['gene_symbols']", 3)


def test_save_load_round_trip_gives_identical_probabilities(
        quick, tm_test, tmp_path):
    quick.save(tmp_path / "model")
    loaded = ACTINNAnnotator.load(tmp_path / "model")
    a = quick.predict(tm_test["X"], tm_test["genes"])
    b = loaded.predict(tm_test["X"], tm_test["genes"])
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    np.testing.assert_array_equal(a.cell_types, b.cell_types)
    assert loaded.genes_ == quick.genes_
    assert loaded.threshold_ == quick.threshold_
    np.testing.assert_array_equal(
        loaded.predict(tm_test["X"], tm_test["genes"],
                       unassigned=True).cell_types,
        quick.predict(tm_test["X"], tm_test["genes"],
                      unassigned=True).cell_types)
    with pytest.raises(ACTINNInputError, match="exists"):
        quick.save(tmp_path / "model")
    quick.save(tmp_path / "model", overwrite=True)


def test_load_refuses_non_annotators_and_other_versions(quick, tmp_path):
    with pytest.raises(ACTINNInputError, match="no such annotator"):
        ACTINNAnnotator.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ACTINNInputError, match="not an ACTINN annotator"):
        ACTINNAnnotator.load(tmp_path / "empty")
    quick.save(tmp_path / "old")
    config_path = tmp_path / "old" / "annotator.json"
    config = json.loads(config_path.read_text())
    config["format_version"] = FORMAT_VERSION + 1
    config_path.write_text(json.dumps(config))
    with pytest.raises(ACTINNInputError, match="annotator format"):
        ACTINNAnnotator.load(tmp_path / "old")
    config_path.write_text("{}")
    with pytest.raises(ACTINNInputError) as err:
        ACTINNAnnotator.load(tmp_path / "old")
    assert str(err.value).startswith("%s is damaged: it has no "
                                     "format_version" % config_path)
    (tmp_path / "counts.h5").write_bytes(b"")
    with pytest.raises(ACTINNInputError) as err:
        ACTINNAnnotator.load(tmp_path / "counts.h5")
    assert str(err.value).startswith(
        "%s is a file; an annotator is a directory" % (tmp_path / "counts.h5"))


def test_load_warns_about_a_model_of_another_package_version(
        quick, tmp_path, caplog):
    quick.save(tmp_path / "model")
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        ACTINNAnnotator.load(tmp_path / "model", device="cpu")
    assert "was saved by" not in caplog.text
    config_path = tmp_path / "model" / "annotator.json"
    for saved_by, said in (("0.0.1", "0.0.1"), (None, "(an earlier version)")):
        config = json.loads(config_path.read_text())
        config["package_version"] = saved_by
        config_path.write_text(json.dumps(config))
        caplog.clear()
        with caplog.at_level("WARNING", logger="deepchem_actinn"):
            loaded = ACTINNAnnotator.load(tmp_path / "model", device="cpu")
        assert ("%s was saved by deepchem-actinn %s, this is " %
                (tmp_path / "model", said)) in caplog.text
        assert loaded.genes_ == quick.genes_


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


def test_annotate_writes_obs_obsm_uns(quick, tm_test):
    adata = anndata.AnnData(X=sp.csr_matrix(tm_test["X"]),
                            obs=pd.DataFrame(index=tm_test["ids"]),
                            var=pd.DataFrame(
                                {"gene_symbols": tm_test["genes"]},
                                index=["ENSMUSG%05d" % i for i in range(2000)]))
    result = annotate(adata, quick)
    assert result.gene_column == "var['gene_symbols']"
    expected = quick.predict(tm_test["X"], tm_test["genes"])
    np.testing.assert_array_equal(
        adata.obs["actinn_cell_type"].astype(str).to_numpy(),
        expected.cell_types.astype(str))
    # Sparse and dense inputs differ only in summation order.
    np.testing.assert_allclose(adata.obs["actinn_confidence"],
                               expected.confidence,
                               rtol=1e-5)
    assert adata.obsm["actinn_probabilities"].shape == (1000, 12)
    assert adata.uns["actinn"]["type_names"] == quick.type_names
    assert adata.uns["actinn"]["counts"] == "X"
    # Counts read from a layer when X holds something else.
    adata.layers["counts"] = adata.X.copy()
    adata.X = sp.csr_matrix(adata.X.shape, dtype=np.float32)
    annotate(adata, quick, layer="counts", key_added="again")
    assert adata.uns["again"]["counts"] == "layers['counts']"
    np.testing.assert_allclose(adata.obs["again_confidence"],
                               expected.confidence,
                               rtol=1e-5)


def test_annotate_warns_of_gene_names_written_as_another_species(
        quick, tm_test, caplog):
    # genes are matched ignoring case, so a human-style query (CD3E) of
    # the mouse model (Cd3e) is annotated; how its names are capitalised
    # gives it away, as actinn predict says
    def query(genes):
        return anndata.AnnData(X=tm_test["X"].copy(),
                               obs=pd.DataFrame(index=tm_test["ids"]),
                               var=pd.DataFrame(index=genes))

    caplog.set_level("WARNING")
    mouse = annotate(query(tm_test["genes"]), quick)
    assert "another species" not in caplog.text
    human = annotate(query([g.upper() for g in tm_test["genes"]]), quick)
    assert ("the model's genes are written like Cd3e (mouse, rat), the "
            "query's like CD3E (human): is the query from another species?"
            in caplog.text)
    np.testing.assert_array_equal(human.cell_types, mouse.cell_types)


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


def test_fused_sparse_scorer_equals_normalise_align_then_networks(
        quick, tm_test):
    """The fast path (weights gathered into the query's gene order,
    normalisation on the non-zeros) against the plain one: align the raw
    counts to the model's genes, then normalise (library size = counts in
    the model's genes)."""
    from deepchem_actinn.preprocessing.gene_filter import take_columns
    from deepchem_actinn.preprocessing.normalise import library_size_log
    rng = np.random.default_rng(1)
    order = rng.permutation(2000)[:1900]  # shuffled, some genes missing
    X = tm_test["X"][:, order]
    positions = quick.gene_positions(tm_test["genes"][order])
    hidden, logits = quick.scorer(positions, X.shape[1])(sp.csr_matrix(X))
    plain = library_size_log(take_columns(X, positions))
    ref_hidden, ref_logits = embed(quick.ensemble_, plain)
    np.testing.assert_allclose(hidden, ref_hidden, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-5)
    # Computing a chunk in small blocks changes nothing.
    scorer = quick.scorer(positions, X.shape[1])
    scorer.block = 97
    small_hidden, small_logits = scorer(sp.csr_matrix(X))
    np.testing.assert_array_equal(small_logits, logits)
    np.testing.assert_array_equal(small_hidden, hidden)


def test_fused_scorer_index_and_value_types_change_nothing(quick, tm_test):
    """int32 or int64 column indices, float32 or float64 counts."""
    positions = quick.gene_positions(tm_test["genes"])
    X = sp.csr_matrix(tm_test["X"][:300].astype(np.float32))
    assert X.indices.dtype == np.int32
    scorer = quick.scorer(positions, X.shape[1])
    hidden, logits = scorer(X)
    wide = sp.csr_matrix(X.astype(np.float64))
    wide.indices = wide.indices.astype(np.int64)
    wide.indptr = wide.indptr.astype(np.int64)
    wide_hidden, wide_logits = scorer(wide, check=False)
    np.testing.assert_allclose(wide_logits, logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(wide_hidden, hidden, rtol=1e-6, atol=1e-6)


def test_row_sums_of_csr_rows_including_empty_ones():
    from deepchem_actinn.models.inference import _row_sums
    X = sp.csr_matrix(
        np.array([[0, 0, 0], [1, 2, 0], [0, 0, 0], [0, 0, 5], [0, 0, 0]],
                 dtype=np.float32))
    np.testing.assert_array_equal(_row_sums(X.indptr, X.data), [0, 3, 0, 5, 0])
    np.testing.assert_array_equal(_row_sums(X.indptr[1:5], X.data), [3, 0, 5])
    np.testing.assert_array_equal(_row_sums(X.indptr[4:], X.data), [0])


@pytest.mark.requires_deepchem
def test_models_are_deepchem_views_of_the_networks(quick, tm_test):
    """``models_`` wraps the ensemble's members as ACTINNModel, so
    DeepChem's predict gives each member's probabilities."""
    import deepchem as dc

    from deepchem_actinn import ACTINNModel
    from deepchem_actinn.preprocessing.gene_filter import take_columns
    from deepchem_actinn.preprocessing.normalise import library_size_log
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        models = quick.models_
    # made with ACTINNModel's names, not its former ones
    assert not [w for w in caught if "ACTINNModel's" in str(w.message)]
    assert models[0].optimizer.weight_decay == quick.weight_decay
    assert all(isinstance(m, ACTINNModel) for m in models)
    assert len(models) == len(quick.ensemble_) == 2
    assert quick.models_ is models  # made once
    X = take_columns(library_size_log(tm_test["X"][:50]),
                     quick.gene_positions(tm_test["genes"]))
    proba = models[1].predict(dc.data.NumpyDataset(X))
    with torch.no_grad():
        expected = quick.ensemble_(torch.from_numpy(X))[1][:, 1].softmax(-1)
    np.testing.assert_allclose(proba, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_annotator_holds_one_ensemble_whose_embedding_is_the_prediction(
        quick, tm_test):
    """The ensemble's mean probabilities, calibrated, averaged with the
    linear member's (``linear_weight`` of them), are what predict returns
    (dense and sparse queries alike)."""
    from deepchem_actinn.confidence import calibrated_probabilities
    from deepchem_actinn.models.network import ACTINNEnsemble
    assert isinstance(quick.ensemble_, ACTINNEnsemble)
    assert quick.linear_weight == 0.5 and quick.linear_.known.all()
    X = quick.preprocess(tm_test["X"][:40], tm_test["genes"])
    with torch.no_grad():
        mean = quick.ensemble_(torch.from_numpy(X))[0].numpy()
    networks = calibrated_probabilities(np.log(mean), quick.temperature_)
    regression = quick.linear_.logits(X).astype(np.float64)
    regression = np.exp(regression - regression.max(axis=1, keepdims=True))
    regression /= regression.sum(axis=1, keepdims=True)
    expected = 0.5 * networks + 0.5 * regression
    for query in (tm_test["X"][:40], sp.csr_matrix(tm_test["X"][:40])):
        result = quick.predict(query, tm_test["genes"])
        np.testing.assert_allclose(result.probabilities,
                                   expected,
                                   rtol=1e-4,
                                   atol=1e-6)


def test_iter_predict_and_predict_file_give_predict_chunk_by_chunk(
        quick, tm_test, tmp_path):
    whole = quick.predict(sp.csr_matrix(tm_test["X"]), tm_test["genes"],
                          tm_test["ids"])
    chunks = [(tm_test["ids"][i:i + 300],
               sp.csr_matrix(tm_test["X"][i:i + 300]))
              for i in range(0, 1000, 300)]
    parts = list(quick.iter_predict(chunks, tm_test["genes"], checked=True))
    assert [len(p) for p in parts] == [300, 300, 300, 100]
    np.testing.assert_array_equal(
        np.concatenate([p.probabilities for p in parts]), whole.probabilities)
    path = tmp_path / "query.h5ad"
    anndata.AnnData(X=sp.csr_matrix(tm_test["X"]),
                    obs=pd.DataFrame(index=tm_test["ids"]),
                    var=pd.DataFrame(index=tm_test["genes"])).write_h5ad(path)
    parts = list(quick.predict_file(path, chunk_size=400))
    assert [len(p) for p in parts] == [400, 400, 200]
    np.testing.assert_array_equal(np.concatenate([p.cell_ids for p in parts]),
                                  tm_test["ids"])
    np.testing.assert_allclose(np.concatenate([p.probabilities for p in parts]),
                               whole.probabilities,
                               rtol=1e-6,
                               atol=1e-7)


def test_predict_file_names_the_file_of_bad_cells(quick, tm_test, tmp_path):
    """A cell the scorer refuses is named with the file it came from, as
    the command line names it, in a plain ACTINNInputError (so no caller
    adds the name twice)."""
    X = sp.lil_matrix(tm_test["X"][:600])
    X[450, :] = 0
    path = tmp_path / "query.h5ad"
    anndata.AnnData(X=sp.csr_matrix(X, dtype=np.float32),
                    obs=pd.DataFrame(index=tm_test["ids"][:600]),
                    var=pd.DataFrame(index=tm_test["genes"])).write_h5ad(path)
    with pytest.raises(ACTINNInputError) as err:
        list(quick.predict_file(path, chunk_size=400))
    assert not isinstance(err.value, ACTINNCellError)
    assert str(err.value).startswith("%s: 1 cell has zero total counts" % path)
    assert tm_test["ids"][450] in str(err.value)


def test_predict_file_takes_tpm_when_allowed_but_never_a_log_scale(
        quick, tm_test, tmp_path):
    X = sp.csr_matrix(tm_test["X"], dtype=np.float64)
    tpm = sp.diags(1e6 / np.asarray(X.sum(axis=1)).ravel()) @ X
    logged = tpm.copy()
    logged.data = np.log1p(logged.data / 100)
    paths = {}
    for name, M in (("tpm", tpm), ("logged", logged)):
        paths[name] = tmp_path / ("%s.h5ad" % name)
        anndata.AnnData(X=sp.csr_matrix(M, dtype=np.float32),
                        obs=pd.DataFrame(index=tm_test["ids"]),
                        var=pd.DataFrame(index=tm_test["genes"])).write_h5ad(
                            paths[name])
    with pytest.raises(ACTINNInputError, match="allow_non_integer=True"):
        list(quick.predict_file(paths["tpm"]))
    parts = list(quick.predict_file(paths["tpm"], allow_non_integer=True))
    np.testing.assert_allclose(np.concatenate([p.probabilities for p in parts]),
                               quick.predict(
                                   sp.csr_matrix(tpm, dtype=np.float32),
                                   tm_test["genes"]).probabilities,
                               rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ACTINNInputError,
                       match="%s: X holds non-integer.*log-normalised" %
                       paths["logged"]):
        list(quick.predict_file(paths["logged"], allow_non_integer=True))
    # the verdict is the file's, whatever the chunk size: TPM whose first
    # 300 cells are shrunk under 50 passes in chunks of 100 and of 1,000
    low = tpm.toarray()
    low[:300] *= 40.0 / low[:300].max(axis=1, keepdims=True)
    path = tmp_path / "low_first.h5ad"
    anndata.AnnData(X=sp.csr_matrix(low.astype(np.float32)),
                    obs=pd.DataFrame(index=tm_test["ids"]),
                    var=pd.DataFrame(index=tm_test["genes"])).write_h5ad(path)
    for chunk_size in (100, 1000):
        parts = list(
            quick.predict_file(path,
                               chunk_size=chunk_size,
                               allow_non_integer=True))
        assert sum(len(p) for p in parts) == 1000
        with pytest.raises(ACTINNInputError, match="log-normalised"):
            list(
                quick.predict_file(paths["logged"],
                                   chunk_size=chunk_size,
                                   allow_non_integer=True))


def test_annotating_needs_no_deepchem(tmp_path):
    """Loading an annotator and predicting (the ``actinn predict`` path)
    imports neither DeepChem nor its start-up cost."""
    import subprocess
    import sys
    code = ("import sys, deepchem_actinn.annotator, deepchem_actinn.cli, "
            "deepchem_actinn.io.writers, deepchem_actinn.io.readers; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == "
            "'deepchem'))")
    out = subprocess.run([sys.executable, "-c", code],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_fused_scorer_names_bad_cells(quick, tm_test):
    X = sp.csr_matrix(tm_test["X"][:5])
    X.data[X.indptr[3]] = -1.0
    positions = quick.gene_positions(tm_test["genes"])
    with pytest.raises(ACTINNInputError, match="1 cell holds negative.*c3"):
        quick.scorer(positions, 2000)(X, ["c0", "c1", "c2", "c3", "c4"])
    empty = sp.csr_matrix(tm_test["X"][:3])
    empty = sp.vstack([empty, sp.csr_matrix((1, 2000))]).tocsr()
    with pytest.raises(ACTINNInputError, match="zero total counts.*d"):
        quick.scorer(positions, 2000)(empty, ["a", "b", "c", "d"])


@pytest.mark.parametrize("sparse", [True, False])
def test_cells_without_model_gene_counts_are_refused(quick, tm_test, sparse):
    """A cell whose counts are all in genes the model does not use would be
    labelled from a row of zeros: refused, named, on every path."""
    genes = list(tm_test["genes"]) + ["NotAModelGene"]
    X = sp.hstack([sp.csr_matrix(tm_test["X"][:4]),
                   sp.csr_matrix((4, 1))]).tolil()
    X[2, :] = 0
    X[2, len(genes) - 1] = 7
    X = sp.csr_matrix(X) if sparse else X.toarray()
    ids = ["a", "b", "c", "d"]
    with pytest.raises(ACTINNCellError,
                       match="1 cell has no counts in the model's "
                       "%d genes.*: c;" % len(quick.genes_)):
        quick.predict(X, genes, ids)
    chunks = iter([(ids, X)])
    with pytest.raises(ACTINNCellError, match="no counts in the model's"):
        list(quick.iter_predict(chunks, genes))
    # the other cells alone are annotated
    keep = [0, 1, 3]
    assert len(quick.predict(X[keep], genes, [ids[i] for i in keep])) == 3


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
                           match="1 reference cell has no label .*: %s;" %
                           ids[7]):
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


def test_matrices_in_other_forms(quick, tm_test, tmp_path):
    """A DataFrame or nested lists are taken as the matrix they hold; one
    cell's vector, an AnnData and a backed AnnData get a clear error."""
    X, genes, ids = tm_test["X"][:40], list(tm_test["genes"]), tm_test["ids"]
    expected = quick.predict(X, genes).probabilities
    frame = pd.DataFrame(X, index=ids[:40], columns=genes)
    np.testing.assert_array_equal(
        quick.predict(frame, genes).probabilities, expected)
    np.testing.assert_array_equal(
        quick.predict(X.tolist(), genes).probabilities, expected)
    with pytest.raises(ACTINNInputError, match="2-d.*reshape"):
        quick.predict(X[0], genes)
    adata = anndata.AnnData(sp.csr_matrix(X),
                            obs=pd.DataFrame(index=ids[:40]),
                            var=pd.DataFrame(index=genes))
    with pytest.raises(ACTINNInputError, match="is an AnnData"):
        quick.predict(adata, genes)
    adata.write_h5ad(tmp_path / "q.h5ad")
    backed = anndata.read_h5ad(tmp_path / "q.h5ad", backed="r")
    with pytest.raises(ACTINNInputError, match="backed by .*to_memory"):
        annotate(backed, quick)
    backed.file.close()
    # chunks without ids are numbered across chunks, not from 0 each time
    chunks = [(None, X[:25]), (None, X[25:])]
    ids_given = np.concatenate(
        [r.cell_ids for r in quick.iter_predict(chunks, genes)])
    assert ids_given.tolist() == [str(i) for i in range(40)]


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


def test_labels_by_position_unless_indexed_by_every_cell(tm_train):
    """A filtered Series (integer index) or one whose cell ids repeat is
    taken by position, as before; only a Series indexed by every cell id
    is reordered."""
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


def test_log_checks_on_every_prediction_path(quick, query_adata):
    """iter_predict refuses a log-normalised chunk as predict does;
    annotate(allow_non_integer=True) still finds the counts a scanpy object
    keeps in a layer; wrong-length cell ids are one clear error."""
    logged = _log_normalised(query_adata)
    genes = list(query_adata.var_names)
    with pytest.raises(ACTINNInputError, match="log-normalised"):
        list(quick.iter_predict([(None, logged.X)], genes))
    with pytest.raises(ACTINNInputError, match="200 cells but 3 cell ids"):
        quick.predict(query_adata.X, genes, ["a", "b", "c"])
    scanpy_like = logged.copy()
    scanpy_like.layers["counts"] = query_adata.X.copy()
    expected = quick.predict(query_adata.X, genes)
    result = annotate(scanpy_like, quick, allow_non_integer=True)
    np.testing.assert_array_equal(result.probabilities, expected.probabilities)


def test_gene_names_must_name_every_column(quick, tm_test):
    genes = list(tm_test["genes"])
    for X in (tm_test["X"], sp.csr_matrix(tm_test["X"])):
        with pytest.raises(ACTINNInputError,
                           match="the query matrix has 2000 genes, its gene "
                           "names 1995"):
            quick.predict(X, genes[5:])


def test_overwrite_replaces_only_an_annotator(quick, tmp_path):
    """save(overwrite=True) replaces the whole directory: one holding other
    files is refused, and they are kept."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("mine")
    with pytest.raises(ACTINNInputError,
                       match="files that are not an annotator's "
                       "\\(notes.txt\\)"):
        quick.save(tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "notes.txt").read_text() == "mine"
    quick.save(tmp_path / "model")
    (tmp_path / "model" / ".DS_Store").write_text("")
    quick.save(tmp_path / "model", overwrite=True)  # an annotator: replaced
    assert ACTINNAnnotator.load(tmp_path / "model").genes_ == quick.genes_


@pytest.mark.parametrize("damage", [
    "no rule", "weights not torch", "config a list", "no genes",
    "unknown param", "nan weights", "nan setting", "no profiles",
    "changed weights"
])
def test_a_damaged_annotator_is_one_clear_error(quick, tmp_path, damage):
    import json
    path = tmp_path / "model"
    quick.save(path)
    config = json.loads((path / persistence.CONFIG_FILE).read_text())
    if damage == "no rule":
        (path / persistence.RULE_FILE).unlink()
    elif damage == "weights not torch":
        (path / persistence.WEIGHTS_FILE).write_bytes(b"not a torch file")
    elif damage == "config a list":
        (path / persistence.CONFIG_FILE).write_text("[1, 2]")
    elif damage == "no genes":
        del config["genes"]
        (path / persistence.CONFIG_FILE).write_text(json.dumps(config))
    elif damage in ("nan weights", "changed weights"):
        states = torch.load(path / persistence.WEIGHTS_FILE)
        next(iter(states[0].values()))[0, 0] = float("nan")
        torch.save(states, path / persistence.WEIGHTS_FILE)
        if damage == "nan weights":  # as saved before checksums were kept
            del config["checksums"]
            (path / persistence.CONFIG_FILE).write_text(json.dumps(config))
    elif damage == "no profiles":  # written by every save of this version
        (path / persistence.PROFILE_FILE).unlink()
    elif damage == "nan setting":
        config["params"]["target_sum"] = float("nan")
        (path / persistence.CONFIG_FILE).write_text(json.dumps(config))
    else:
        config["params"]["from_the_future"] = 1
        (path / persistence.CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ACTINNInputError, match=str(path)) as err:
        ACTINNAnnotator.load(path, device="cpu")
    if damage == "unknown param":
        assert "settings this version" in str(err.value)
        assert "from_the_future" in str(err.value)
    if damage == "nan weights":
        assert "weights hold NaN or infinite values" in str(err.value)
    if damage == "changed weights":
        assert ("weights.pt is not the file this annotator was saved with "
                "(its checksum differs" in str(err.value))
    if damage == "nan setting":
        assert "target_sum must be a number above 0" in str(err.value)


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
])
def test_settings_out_of_range_are_refused_at_construction(setting, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ACTINNAnnotator(**setting)


def test_a_device_without_cuda_is_not_a_damaged_model(quick, tmp_path,
                                                      monkeypatch):
    quick.save(tmp_path / "model")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ACTINNInputError, match="sees no CUDA GPU"):
        ACTINNAnnotator.load(tmp_path / "model", device="cuda")


def test_format_1_written_as_networks_state_dicts_still_loads(
        quick, tm_test, tmp_path):
    """Format 1 as earlier versions wrote it (one ACTINNClassifier
    state_dict per member, no checksums) loads into the ensemble
    unchanged."""
    quick.save(tmp_path / "model")
    torch.save([network.state_dict() for network in quick.networks_],
               tmp_path / "model" / "weights.pt")
    config_path = tmp_path / "model" / "annotator.json"
    config = json.loads(config_path.read_text())
    del config["checksums"]
    config_path.write_text(json.dumps(config))
    loaded = ACTINNAnnotator.load(tmp_path / "model", device="cpu")
    np.testing.assert_array_equal(
        loaded.predict(tm_test["X"], tm_test["genes"]).probabilities,
        quick.predict(tm_test["X"], tm_test["genes"]).probabilities)
    # and a damaged one is refused in one line
    torch.save([{
        "first.weight": torch.zeros(3, 3)
    }], tmp_path / "model" / "weights.pt")
    with pytest.raises(ACTINNInputError,
                       match="network 1's first.bias is missing, .* the "
                       "annotator.json and the weights are not one "
                       "annotator's"):
        ACTINNAnnotator.load(tmp_path / "model")


def _log_normalised(adata):
    """A scanpy-style object: counts moved away, X log-normalised."""
    from deepchem_actinn.preprocessing.normalise import library_size_log
    out = adata.copy()
    out.X = sp.csr_matrix(library_size_log(adata.X))
    return out


@pytest.fixture(scope="module")
def query_adata(tm_test):
    return anndata.AnnData(X=sp.csr_matrix(tm_test["X"][:200]),
                           obs=pd.DataFrame(index=tm_test["ids"][:200]),
                           var=pd.DataFrame(index=tm_test["genes"]))


def test_annotate_reads_counts_from_raw_when_x_is_log_normalised(
        quick, query_adata):
    expected = annotate(query_adata.copy(), quick, unassigned=True)
    adata = _log_normalised(query_adata)
    adata.raw = query_adata.copy()
    result = annotate(adata, quick, unassigned=True)
    np.testing.assert_array_equal(result.cell_types, expected.cell_types)
    np.testing.assert_array_equal(result.probabilities, expected.probabilities)


def test_annotate_records_the_rules_calibration_to_the_query(
        quick, query_adata, tm_test):
    # A query thinned to 5 % of its depth, 40 % of its counts ambient,
    # lies further from the reference than its held-out cells: the rule is
    # calibrated to it, and uns says by how much (the labels depend on it).
    rng = np.random.default_rng(7)
    X = tm_test["X"].astype(np.int64)
    kept = rng.binomial(X, 0.05)
    soup = X.sum(axis=0) / X.sum()
    ambient = rng.poisson(0.4 * kept.sum(axis=1, keepdims=True) * soup)
    thinned = anndata.AnnData(X=sp.csr_matrix(
        (kept + ambient).astype(np.float32)),
                              var=pd.DataFrame(index=tm_test["genes"]))
    result = annotate(thinned, quick, unassigned=True)
    assert result.query_scale > 1
    assert thinned.uns["actinn"]["query_scale"] == result.query_scale
    if result.type_scales is None:
        assert "type_scales" not in thinned.uns["actinn"]
    else:
        np.testing.assert_array_equal(thinned.uns["actinn"]["type_scales"],
                                      result.type_scales)
    plain = annotate(query_adata.copy(), quick)
    assert "query_scale" not in query_adata.uns.get("actinn", {})
    assert plain.novelty_score is None


def test_unassigned_reason_in_to_frame_and_obs(quick, query_adata, tmp_path):
    """Why each cell is Unassigned: the frame's and obs' column are
    Annotation.unassigned_reason, with either rule, and absent without."""
    X, genes = query_adata.X, query_adata.var_names
    adata = query_adata.copy()
    expected = quick.predict(X, genes, unassigned=True)
    result = annotate(adata, quick, unassigned=True)
    np.testing.assert_array_equal(result.unassigned_reason,
                                  expected.unassigned_reason)
    column = adata.obs["actinn_unassigned_reason"]
    assert isinstance(column.dtype, pd.CategoricalDtype)
    assert column.astype(str).tolist() == list(expected.unassigned_reason)
    frame = result.to_frame()
    assert list(
        frame.columns[:3]) == ["cell_type", "confidence", "unassigned_reason"]
    assert frame["unassigned_reason"].tolist() == list(
        expected.unassigned_reason)
    marked = result.cell_types == "Unassigned"
    assert marked.any()
    assert set(result.unassigned_reason[marked]) <= {"novel", "low_probability"}
    assert set(result.unassigned_reason[~marked]) == {""}
    adata.write_h5ad(tmp_path / "annotated.h5ad")  # "" is a category
    # a confidence threshold has one reason: the label's probability
    cut = annotate(adata, quick, threshold=0.9)
    low = cut.cell_types == "Unassigned"
    assert low.any()
    np.testing.assert_array_equal(low, cut.confidence < 0.9)
    assert adata.obs["actinn_unassigned_reason"].astype(str).tolist() == list(
        np.where(low, "low_probability", ""))
    assert cut.to_frame()["unassigned_reason"].tolist() == list(
        cut.unassigned_reason)
    # without a rule: no reasons, and an earlier run's column goes
    plain = annotate(adata, quick)
    assert plain.unassigned_reason is None
    assert "actinn_unassigned_reason" not in adata.obs
    assert "unassigned_reason" not in plain.to_frame().columns


def test_annotate_reads_counts_from_a_counts_layer(quick, query_adata):
    expected = annotate(query_adata.copy(), quick)
    adata = _log_normalised(query_adata)
    adata.layers["counts"] = query_adata.X.copy()
    result = annotate(adata, quick)
    np.testing.assert_array_equal(result.cell_types, expected.cell_types)
    np.testing.assert_array_equal(result.probabilities, expected.probabilities)


def test_annotate_without_counts_anywhere_says_what_it_found(
        quick, query_adata):
    adata = _log_normalised(query_adata)
    with pytest.raises(ACTINNInputError, match="X.*non-integer"):
        annotate(adata, quick)
    assert "actinn_cell_type" not in adata.obs


def test_log_normalised_values_are_never_taken_for_counts(
        quick, query_adata, tm_train):
    """predict, fit and annotate refuse a log scale, naming a cell; counts
    on another scale (TPM-like) pass predict, and annotate with
    allow_non_integer=True."""
    logged = _log_normalised(query_adata)
    genes = list(query_adata.var_names)
    with pytest.raises(ACTINNInputError,
                       match="the query: X holds non-integer values .* "
                       "looks log-normalised"):
        quick.predict(logged.X, genes, list(logged.obs_names))
    with pytest.raises(ACTINNInputError,
                       match="the reference: .* "
                       "log-normalised"):
        ACTINNAnnotator(max_epochs=1).fit(logged.X, genes,
                                          tm_train["labels"][:200])
    with pytest.raises(ACTINNInputError, match="log-normalised"):
        annotate(logged, quick, allow_non_integer=True)
    scaled = query_adata.copy()
    scaled.X = query_adata.X * 1.5
    expected = quick.predict(scaled.X, genes)
    with pytest.raises(ACTINNInputError, match="allow_non_integer=True"):
        annotate(scaled.copy(), quick)
    result = annotate(scaled, quick, allow_non_integer=True)
    np.testing.assert_array_equal(result.probabilities, expected.probabilities)


def test_annotate_explicit_use_raw_and_layer_win(quick, query_adata):
    expected = annotate(query_adata.copy(), quick)
    adata = query_adata.copy()
    # X holds counts, but the caller names another matrix: it is used
    adata.raw = _log_normalised(query_adata)
    with pytest.raises(ACTINNInputError, match="raw"):
        annotate(adata, quick, use_raw=True)
    adata.layers["other"] = query_adata.X.copy()
    adata.X = sp.csr_matrix(adata.shape, dtype=np.float32)
    result = annotate(adata, quick, layer="other")
    np.testing.assert_array_equal(result.probabilities, expected.probabilities)
    with pytest.raises(ACTINNInputError):
        annotate(adata, quick, use_raw=False)  # X insisted on: no counts


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
        "cell_type", "confidence", "majority_voting", "over_clustering"
    ]
    with pytest.raises(ACTINNInputError,
                       match="3 cluster names for 6 cells \\(one per cell\\)"):
        quick.predict(X,
                      genes,
                      majority_voting=True,
                      over_clustering=clusters[:3])
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


def test_annotate_writes_voting_and_levels(quick, tm_test):
    from deepchem_actinn.hierarchy import TypeHierarchy
    adata = anndata.AnnData(X=sp.csr_matrix(tm_test["X"][:60]),
                            obs=pd.DataFrame(
                                {"mine": np.repeat(["x", "y", "z"], 20)},
                                index=tm_test["ids"][:60]),
                            var=pd.DataFrame(index=tm_test["genes"]))
    everything = TypeHierarchy({name: "cell" for name in quick.type_names})
    result = annotate(adata,
                      quick,
                      majority_voting=True,
                      over_clustering="mine",
                      hierarchy=everything)
    np.testing.assert_array_equal(adata.obs["actinn_over_clustering"],
                                  adata.obs["mine"])
    np.testing.assert_array_equal(adata.obs["actinn_majority_voting"],
                                  result.majority_cell_types)
    np.testing.assert_array_equal(adata.obs["actinn_level"], result.levels)
    assert list(adata.uns["actinn"]["clusters"]["cluster"]) == ["x", "y", "z"]
    # a second run under the same key leaves no column of the first
    before = set(adata.obs.columns)
    annotate(adata, quick, threshold=0.9)
    assert before - set(adata.obs.columns) == {
        "actinn_over_clustering", "actinn_majority_voting", "actinn_level"
    }
    assert "clusters" not in adata.uns["actinn"]
    assert list(adata.obs["mine"]) == list(np.repeat(["x", "y", "z"], 20))


def test_annotation_repr_is_a_summary(quick, tm_test):
    result = quick.predict(tm_test["X"], tm_test["genes"], unassigned=True)
    text = repr(result)
    labels, counts = np.unique(result.cell_types, return_counts=True)
    top = labels[np.argmax(counts)]
    assert text.startswith(
        "Annotation of %d cells (%d reference types): "
        "%s %d, " % (len(result), len(quick.type_names), top, counts.max()))
    assert text.endswith("; also novelty_score")
    assert len(text) < 400


def test_predict_refuses_gene_names_of_another_length_first(
        quick, tm_test, caplog):
    X, genes = tm_test["X"][:5], list(tm_test["genes"])
    with caplog.at_level("INFO", logger="deepchem_actinn"):
        with pytest.raises(ACTINNInputError,
                           match="the query matrix has %d genes, its gene "
                           "names %d" % (len(genes), len(genes) - 1)):
            quick.predict(X, genes[:-1])
    assert "missing" not in caplog.text


@pytest.mark.requires_deepchem
def test_to_dataset_feeds_the_deepchem_models(quick, tm_test):
    """The networks' input as a dense dc.data.NumpyDataset with the
    annotator's class ids: what models_ evaluate, from sparse counts too."""
    import deepchem as dc
    import torch
    X = sp.csr_matrix(tm_test["X"][:50])
    labels = tm_test["labels"][:50]
    data = quick.to_dataset(X, tm_test["genes"], labels, tm_test["ids"][:50])
    expected = quick.preprocess(X, tm_test["genes"])
    np.testing.assert_array_equal(data.X, expected.toarray())
    assert data.X.dtype == np.float32
    np.testing.assert_array_equal(data.y.ravel(),
                                  [quick.type_names.index(t) for t in labels])
    np.testing.assert_array_equal(data.ids, tm_test["ids"][:50])
    model = quick.models_[0]
    with torch.no_grad():
        own = quick.networks_[0](torch.from_numpy(data.X))[0].numpy()
    np.testing.assert_allclose(model.predict(data), own, rtol=1e-5, atol=1e-6)
    scores = model.evaluate(data,
                            [dc.metrics.Metric(dc.metrics.accuracy_score)])
    assert scores["accuracy_score"] == pytest.approx(
        (own.argmax(axis=1) == data.y.ravel()).mean())
    np.testing.assert_array_equal(
        quick.to_dataset(X, tm_test["genes"]).X,
        data.X)  # unlabelled: DeepChem's zero y
    with pytest.raises(ACTINNInputError, match="not in the reference: Neuron"):
        quick.to_dataset(X[:1], tm_test["genes"], ["Neuron"])


def test_annotate_names_the_anndata_in_its_messages(quick, tm_test):
    # one prefix for every refusal of an AnnData's matrices
    adata = anndata.AnnData(np.log1p(
        np.asarray(tm_test["X"][:20], dtype=np.float32)),
                            var=pd.DataFrame(index=tm_test["genes"]))
    with pytest.raises(ACTINNInputError,
                       match="^AnnData: X holds non-integer values"):
        annotate(adata, quick)
    with pytest.raises(ACTINNInputError, match="^AnnData: no layer 'count'"):
        annotate(adata, quick, layer="count")
