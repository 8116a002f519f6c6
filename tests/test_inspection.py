"""What a CellTypist user asks of a model and of ``annotate``: the model's
summary and top markers, a saved model by its path, the clusters in order,
and the way out of an AnnData that keeps only log-normalised values."""
import copy
import re

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn import ACTINNAnnotator, annotate, train
from deepchem_actinn.annotator.inspection import PROFILE_PSEUDOCOUNT
from deepchem_actinn.errors import ACTINNInputError

pytestmark = pytest.mark.torch

PARAMS = dict(max_epochs=2, early_stopping=False, n_networks=1, seed=0)


@pytest.fixture(scope="module")
def reference(tm_reference):
    return tm_reference(800)


@pytest.fixture(scope="module")
def model(reference):
    return train(reference, "cell_type", **PARAMS)


@pytest.fixture
def query(tm_test):
    return anndata.AnnData(X=sp.csr_matrix(tm_test["X"][:300],
                                           dtype=np.float32),
                           obs=pd.DataFrame(index=tm_test["ids"][:300]),
                           var=pd.DataFrame(index=tm_test["genes"]))


def test_repr_says_what_the_model_is(model):
    assert repr(ACTINNAnnotator()) == "<ACTINNAnnotator: not fitted>"
    assert repr(model) == (
        "<ACTINNAnnotator: %d cell types, %d genes, 1 network and a "
        "logistic regression (weight 0.5)>" %
        (len(model.type_names), len(model.genes_)))


def test_top_markers_are_the_regressions_largest_coefficients(model):
    markers = model.top_markers("B cell", top_n=5)
    row = model.type_names.index("B cell")
    coef = model.linear_.coef[row]
    expected = np.argsort(-coef, kind="stable")[:5]
    assert markers.name == "B cell"
    assert list(markers.index) == [model.genes_[i] for i in expected]
    np.testing.assert_array_equal(markers.to_numpy(), coef[expected])
    assert "Ms4a1" in list(model.top_markers("B cell", top_n=10).index)


def test_top_markers_without_a_regression_come_from_the_profiles(
        reference, model):
    networks = train(reference, "cell_type", linear_weight=0.0, **PARAMS)
    assert networks.linear_ is None
    markers = networks.top_markers("Hepatocyte", top_n=3)
    # the ratio to the other types' mean gene shares, by hand
    profiles = np.asarray(networks.type_profiles_, np.float64)
    row = networks.type_names.index("Hepatocyte")
    pseudo = PROFILE_PSEUDOCOUNT / profiles.shape[1]
    others = np.delete(profiles, row, axis=0).mean(axis=0)
    ratio = np.log2((profiles[row] + pseudo) / (others + pseudo))
    top = np.argsort(-ratio, kind="stable")[:3]
    assert list(markers.index) == [networks.genes_[i] for i in top]
    np.testing.assert_allclose(markers.to_numpy(), ratio[top], rtol=1e-4)


def test_top_markers_follow_linear_weight_set_after_fitting(model):
    """With ``set_params(linear_weight=0)`` prediction uses the networks
    alone, so the markers are the profiles' enrichment, not the unused
    regression's coefficients; setting the weight back restores them."""
    networks = copy.deepcopy(model)
    networks.set_params(linear_weight=0.0)
    assert networks.linear_ is not None
    markers = networks.top_markers("Hepatocyte", top_n=4)
    row = networks.type_names.index("Hepatocyte")
    profiles = np.asarray(networks.type_profiles_, np.float64)
    pseudo = PROFILE_PSEUDOCOUNT / profiles.shape[1]
    others = np.delete(profiles, row, axis=0).mean(axis=0)
    ratio = np.log2((profiles[row] + pseudo) / (others + pseudo))
    top = np.argsort(-ratio, kind="stable")[:4]
    assert list(markers.index) == [networks.genes_[i] for i in top]
    np.testing.assert_allclose(markers.to_numpy(), ratio[top], rtol=1e-4)
    networks.set_params(linear_weight=0.5)
    coef = networks.linear_.coef[row]
    np.testing.assert_array_equal(
        networks.top_markers("Hepatocyte", top_n=4).to_numpy(),
        coef[np.argsort(-coef, kind="stable")[:4]])


def test_top_markers_without_profiles_name_what_prediction_lacks(model):
    networks = copy.deepcopy(model)
    networks.set_params(linear_weight=0.0)
    networks.type_profiles_ = None
    with pytest.raises(ACTINNInputError,
                       match=r"^with linear_weight 0 this annotator predicts "
                       r"with its networks alone, and it was saved without "
                       r"the reference's per-type profiles"):
        networks.top_markers("B cell")


def test_top_markers_refuse_an_unknown_type_and_an_unfitted_model(model):
    with pytest.raises(ACTINNInputError,
                       match="no cell type 'X cell' in this annotator; its "
                       "types: B cell, "):
        model.top_markers("X cell")
    with pytest.raises(ValueError, match="top_n must be a positive integer"):
        model.top_markers("B cell", top_n=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        ACTINNAnnotator().top_markers("B cell")


def test_annotate_takes_min_overlap_as_its_refusal_advises(
        model, query, tmp_path):
    """A query cut to a few genes, annotated by the model's path (no
    annotator object to set): the refusal names annotate's own keyword,
    which accepts it without changing the annotator passed."""
    model.save(tmp_path / "model")
    few = query[:, :400].copy()
    with pytest.raises(ACTINNInputError) as info:
        annotate(few, str(tmp_path / "model"))
    message = str(info.value)
    advice = re.search(r"To annotate it anyway, pass min_overlap=(0\.\d+)$",
                       message)
    assert advice is not None, message
    assert message.startswith("the query's genes do not match the model's")
    assert "annotator" not in message
    result = annotate(few,
                      str(tmp_path / "model"),
                      min_overlap=float(advice.group(1)))
    assert len(result.cell_types) == few.n_obs
    assert "actinn_cell_type" in few.obs
    # an annotator object: the keyword applies to this call alone
    annotate(few.copy(), model, min_overlap=float(advice.group(1)))
    assert model.min_overlap == 0.5
    with pytest.raises(ACTINNInputError) as info:
        annotate(few.copy(), model)
    assert str(info.value) == message
    with pytest.raises(ValueError, match="min_overlap"):
        annotate(few.copy(), model, min_overlap=1.5)


def test_annotate_takes_a_saved_models_path(model, query, tmp_path):
    model.save(tmp_path / "model")
    by_path = query.copy()
    result = annotate(by_path, str(tmp_path / "model"))
    expected = annotate(query.copy(), model)
    np.testing.assert_array_equal(result.cell_types, expected.cell_types)
    np.testing.assert_array_equal(result.probabilities, expected.probabilities)
    assert "actinn_cell_type" in by_path.obs


def test_annotate_refuses_an_unfitted_model_or_another_object(query):
    with pytest.raises(RuntimeError, match="this annotator is not fitted"):
        annotate(query, ACTINNAnnotator())
    with pytest.raises(TypeError,
                       match="expected a fitted ACTINNAnnotator or the "
                       "directory one was saved to"):
        annotate(query, 3)
    assert "actinn_cell_type" not in query.obs


def test_train_checks_its_parameters_before_reading_and_passes_progress(
        reference, caplog):
    logged = reference.copy()
    logged.layers["counts"] = logged.X.copy()
    logged.X = logged.X.log1p()
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        train(logged, "cell_type", bogus=1)
    assert "layers['counts']" not in caplog.text  # not read first
    states = []
    train(reference, "cell_type", progress=states.append, **PARAMS)
    assert [s["epoch"] for s in states] == [1, 2]


def test_over_clusters_keep_their_order(model, query):
    # Leiden's clusters are numbers: 2 before 10, not after it
    clusters = np.array([str(i % 12) for i in range(query.n_obs)])
    annotate(query, model, majority_voting=True, over_clustering=clusters)
    assert list(query.obs["actinn_over_clustering"].cat.categories) == [
        str(i) for i in range(12)
    ]
    # a categorical column keeps the order it has
    order = ["late", "early", "middle"]
    query.obs["stage"] = pd.Categorical(np.resize(order, query.n_obs),
                                        categories=order)
    annotate(query, model, majority_voting=True, over_clustering="stage")
    assert list(query.obs["actinn_over_clustering"].cat.categories) == order
    np.testing.assert_array_equal(query.obs["actinn_over_clustering"],
                                  query.obs["stage"])


def _celltypist_like(counts):
    """``counts`` (an AnnData) as CellTypist's users keep it: ``.raw`` the
    natural log1p of each cell's counts scaled to the median total (scanpy's
    normalize_total then log1p), X scaled (sc.pp.scale) on some genes, no
    counts kept; a new object, ``counts`` untouched."""
    X = counts.X.toarray().astype(np.float64)
    totals = X.sum(axis=1, keepdims=True)
    logged = np.log1p(X / totals * np.median(totals)).astype(np.float32)
    out = anndata.AnnData(sp.csr_matrix(logged),
                          obs=counts.obs.copy(),
                          var=counts.var.copy())
    out.raw = out.copy()
    out = out[:, :500].copy()
    X = out.X.toarray()
    out.X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-6)
    return out


def test_celltypist_object_is_annotated_through_expm1_of_raw(model, query):
    """X scaled, .raw log1p(normalize_total(counts)): annotate takes
    expm1(.raw.X), says so in uns, and gives the labels (Unassigned
    included) and probabilities of the counts themselves; the user's
    .raw is not changed."""
    expected = annotate(query.copy(), model, unassigned=True)
    adata = _celltypist_like(query)
    raw_before = adata.raw.X.copy()
    result = annotate(adata, model, unassigned=True)
    np.testing.assert_array_equal(result.cell_types, expected.cell_types)
    np.testing.assert_allclose(result.probabilities,
                               expected.probabilities,
                               atol=1e-5)
    assert adata.uns["actinn"]["counts"] == "expm1(.raw.X)"
    assert (adata.raw.X != raw_before).nnz == 0
    # a feature that needs each cell's true depth is refused by name
    with pytest.raises(ACTINNInputError,
                       match=r"AnnData: remove_ambient needs raw counts, "
                       r"each cell's own depth; expm1\(\.raw\.X\) holds "
                       r"counts normalised to one total per cell"):
        annotate(_celltypist_like(query), model, remove_ambient=True)


def test_celltypist_reference_trains_as_its_counts(reference, query):
    """train on X scaled, .raw log1p(normalize_total(counts)) gives the
    annotator trained on the counts: the same labels and (close)
    probabilities; augmentation, which thins true counts, is refused."""
    by_counts = train(reference.copy(), "cell_type", **PARAMS)
    logged = train(_celltypist_like(reference), "cell_type", **PARAMS)
    assert logged.training_["reference"]["matrix"] == "expm1(.raw.X)"
    assert logged.genes_ == by_counts.genes_
    expected = by_counts.predict(query.X, query.var_names)
    result = logged.predict(query.X, query.var_names)
    np.testing.assert_array_equal(result.cell_types, expected.cell_types)
    np.testing.assert_allclose(result.probabilities,
                               expected.probabilities,
                               atol=1e-4)
    with pytest.raises(ACTINNInputError,
                       match=r"AnnData: augment needs raw counts, each "
                       r"cell's own depth; expm1\(\.raw\.X\) holds"):
        train(_celltypist_like(reference), "cell_type", augment=True, **PARAMS)


def test_log_normalised_only_says_how_to_annotate_it_anyway(model, query):
    """Log1p values whose expm1 sums differ between cells (X cut to some
    genes after normalising) are refused, saying how to annotate them
    anyway; following that advice gives the labels of the counts."""
    genes = query.var_names[:1500]
    counts = query[:, genes].copy()
    expected = annotate(counts, model)
    X = query.X.toarray()  # scanpy's normalize_total then log1p, then HVGs
    logged = anndata.AnnData(np.log1p(X / X.sum(axis=1, keepdims=True) *
                                      1e4)[:, :1500],
                             obs=counts.obs.copy(),
                             var=counts.var.copy())
    with pytest.raises(ACTINNInputError) as err:
        annotate(logged, model)
    assert str(err.value).endswith(
        "if X is the natural log1p of normalised counts (scanpy's "
        "normalize_total then log1p), its expm1 is each cell's counts up to "
        "a factor, which the annotator's own per-cell normalisation removes: "
        "adata.layers['counts'] = np.expm1(adata.X) (adata.X.expm1() if "
        "sparse), then layer='counts', allow_non_integer=True")
    # and the advice holds: the same labels as from the counts
    logged.layers["counts"] = np.expm1(logged.X)
    result = annotate(logged, model, layer="counts", allow_non_integer=True)
    np.testing.assert_array_equal(result.cell_types, expected.cell_types)
    np.testing.assert_allclose(result.probabilities,
                               expected.probabilities,
                               atol=1e-5)


def test_the_vote_takes_the_neighbour_graph_scanpy_built(model, query):
    pytest.importorskip("leidenalg")
    from deepchem_actinn.voting import over_cluster_graph
    rng = np.random.default_rng(0)
    # a graph of three groups, as sc.pp.neighbors leaves in obsp
    group = np.repeat([0, 1, 2], 100)
    weights = rng.random((300, 300)) * (group[:, None] == group[None, :])
    graph = sp.csr_matrix(np.triu(weights, 1) + np.triu(weights, 1).T)
    query.obsp["connectivities"] = graph
    annotate(query, model, majority_voting=True)
    expected = over_cluster_graph(graph, seed=model.seed)
    np.testing.assert_array_equal(query.obs["actinn_over_clustering"], expected)
    # no cluster spans two groups of the graph
    frame = pd.DataFrame({"group": group, "cluster": expected})
    assert (frame.groupby("cluster")["group"].nunique() == 1).all()


def test_annotate_says_why_a_cell_is_unassigned(model, query):
    result = annotate(query, model, unassigned=True)
    np.testing.assert_array_equal(query.obs["actinn_novelty_score"],
                                  result.novelty_score)
    annotate(query, model)  # a run without the rule leaves none behind
    assert "actinn_novelty_score" not in query.obs


def test_scikit_learn_fitted_attributes_name_the_types_and_genes(model):
    """classes_ (the probabilities' columns), feature_names_in_ and
    n_features_in_, as a scikit-learn classifier has them; CellTypist's
    model.cell_types and model.features are the same lists. An unfitted
    annotator lacks them (hasattr is False), as an unfitted estimator."""
    assert list(model.classes_) == model.type_names
    assert list(model.feature_names_in_) == model.genes_
    assert model.n_features_in_ == len(model.genes_)
    assert model.classes_.dtype == object
    unfitted = ACTINNAnnotator()
    for name in ("classes_", "feature_names_in_", "n_features_in_"):
        assert not hasattr(unfitted, name)
    with pytest.raises(AttributeError,
                       match="not fitted, so it has no "
                       "classes_: call fit"):
        unfitted.classes_
