"""``annotate(adata, annotator)``: what it writes to ``obs``, ``obsm`` and
``uns``, where it finds the counts (X, ``raw``, layers) and its refusal of
log-normalised values, voting and levels in ``obs``, and its messages."""

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn import ACTINNAnnotator, annotate
from deepchem_actinn.errors import ACTINNInputError


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
    Annotation.unassigned_reason, with either rule, and absent without;
    in obs an assigned cell's is missing (NaN, which scanpy draws and
    names as NA), not an unnamed '' category."""
    X, genes = query_adata.X, query_adata.var_names
    adata = query_adata.copy()
    expected = quick.predict(X, genes, unassigned=True)
    result = annotate(adata, quick, unassigned=True)
    np.testing.assert_array_equal(result.unassigned_reason,
                                  expected.unassigned_reason)
    column = adata.obs["actinn_unassigned_reason"]
    assert isinstance(column.dtype, pd.CategoricalDtype)
    assert set(column.cat.categories) <= {"novel", "low_probability"}
    assigned = expected.unassigned_reason == ""
    assert assigned.any() and (~assigned).any()
    np.testing.assert_array_equal(column.isna().to_numpy(), assigned)
    assert column[~assigned].astype(str).tolist() == list(
        expected.unassigned_reason[~assigned])
    frame = result.to_frame()
    assert list(
        frame.columns[:3]) == ["cell_type", "confidence", "unassigned_reason"]
    assert frame["unassigned_reason"].tolist() == list(
        expected.unassigned_reason)
    marked = result.cell_types == "Unassigned"
    assert marked.any()
    assert set(result.unassigned_reason[marked]) <= {"novel", "low_probability"}
    assert set(result.unassigned_reason[~marked]) == {""}
    adata.write_h5ad(tmp_path / "annotated.h5ad")  # NaN round trips
    back = anndata.read_h5ad(tmp_path / "annotated.h5ad")
    pd.testing.assert_series_equal(back.obs["actinn_unassigned_reason"],
                                   column,
                                   check_categorical=False)
    np.testing.assert_array_equal(
        back.obs["actinn_unassigned_reason"].isna().to_numpy(), assigned)
    # a confidence threshold has one reason: the label's probability
    cut = annotate(adata, quick, threshold=0.9)
    low = cut.cell_types == "Unassigned"
    assert low.any()
    np.testing.assert_array_equal(low, cut.confidence < 0.9)
    reason = adata.obs["actinn_unassigned_reason"]
    assert list(reason.cat.categories) == ["low_probability"]
    np.testing.assert_array_equal(reason.isna().to_numpy(), ~low)
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


def test_annotate_checks_its_keys_and_vote_share_before_predicting(
        quick, query_adata, monkeypatch):
    """A key_added that is no name, or a vote_min_probability outside
    [0, 1], is refused by the parameter's own name before anything is
    predicted (not a TypeError after, nor keys named '_cell_type')."""
    monkeypatch.setattr(
        ACTINNAnnotator, "predict",
        lambda *args, **kwargs: pytest.fail("predicted before the check"))
    for key in (None, "", 3):
        with pytest.raises(ACTINNInputError) as err:
            annotate(query_adata.copy(), quick, key_added=key)
        assert str(err.value) == (
            "key_added must be a non-empty str, the prefix of the keys "
            "written (e.g. 'actinn' writes obs['actinn_cell_type']), got %r" %
            (key,))
    # anndata (0.13) refuses a '/' in a key when the AnnData is written
    with pytest.raises(ACTINNInputError) as err:
        annotate(query_adata.copy(), quick, key_added="run/1")
    assert str(err.value) == (
        "key_added must hold no '/', which anndata refuses in the keys it "
        "writes (write_h5ad), got 'run/1'")
    for share in (2, -0.1, float("nan")):
        with pytest.raises(ACTINNInputError) as err:
            annotate(query_adata.copy(),
                     quick,
                     majority_voting=True,
                     vote_min_probability=share)
        assert str(err.value) == (
            "vote_min_probability must be between 0 and 1, got %r" % share)


def test_raw_counts_match_genes_through_the_var_of_x(quick, tm_test, caplog):
    """Counts in .raw whose var lacks the symbol column X's var has (the
    same genes: raw = copy, symbols added after) are matched through X's
    column, as scanpy users keep symbols beside Ensembl ids."""
    n = 200
    adata = anndata.AnnData(
        X=sp.csr_matrix(tm_test["X"][:n]),
        obs=pd.DataFrame(index=tm_test["ids"][:n]),
        var=pd.DataFrame(
            index=["ENSMUSG%011d" % i for i in range(len(tm_test["genes"]))]))
    adata.raw = adata.copy()
    adata.var["gene_symbols"] = list(tm_test["genes"])
    adata.X = sp.csr_matrix(np.log1p(adata.X.toarray()))
    expected = quick.predict(tm_test["X"][:n], tm_test["genes"])
    with caplog.at_level("INFO", logger="deepchem_actinn"):
        result = annotate(adata, quick)
    assert adata.uns["actinn"]["counts"] == ".raw.X"
    assert result.gene_column == "var['gene_symbols']"
    np.testing.assert_allclose(result.probabilities,
                               expected.probabilities,
                               rtol=1e-5,
                               atol=1e-6)
    assert ("var['gene_symbols'] is X's var column: .raw holds the same "
            "genes" in caplog.text)


def test_probability_columns_in_obs_round_trip_and_go_when_not_asked(
        quick, query_adata, tmp_path):
    """probability_columns=True writes one obs column per type, as
    CellTypist's to_adata(insert_prob=True), named key_added +
    '_probability_' + type; they survive write_h5ad, and a later run
    without them (or with another model's types) leaves none stale."""
    adata = query_adata.copy()
    result = annotate(adata, quick, probability_columns=True)
    names = ["actinn_probability_" + t for t in quick.type_names]
    assert [c for c in adata.obs if c.startswith("actinn_probability_")
           ] == names
    for i, name in enumerate(names):
        assert adata.obs[name].dtype == np.float32
        np.testing.assert_array_equal(adata.obs[name].to_numpy(),
                                      result.probabilities[:, i])
    adata.write_h5ad(tmp_path / "annotated.h5ad")
    back = anndata.read_h5ad(tmp_path / "annotated.h5ad")
    pd.testing.assert_frame_equal(back.obs[names], adata.obs[names])
    annotate(adata, quick, key_added="other", probability_columns=True)
    assert "other_probability_" + quick.type_names[0] in adata.obs
    annotate(adata, quick)  # a run without them: none left
    assert not [c for c in adata.obs if c.startswith("actinn_probability_")]
    assert "other_probability_" + quick.type_names[0] in adata.obs


def test_probability_columns_of_types_named_with_a_slash_can_be_written(
        quick, query_adata, tmp_path):
    """anndata refuses '/' in a key it writes (0.13; 0.12 warns): a type
    named so, as 'Tem/Trm cytotoxic T cells' of CellTypist's models, has
    its column written with '_' in its stead; two types that would share
    a column are refused, naming them."""
    import copy

    from deepchem_actinn.labels import CellTypeLabels
    renamed = copy.copy(quick)
    names = list(quick.type_names)
    names[0] = "B/plasma cell"
    renamed.labels_ = CellTypeLabels.in_order(names)
    adata = query_adata.copy()
    result = annotate(adata, renamed, probability_columns=True)
    column = adata.obs["actinn_probability_B_plasma cell"]
    np.testing.assert_array_equal(column.to_numpy(), result.probabilities[:, 0])
    adata.write_h5ad(tmp_path / "slash.h5ad")
    back = anndata.read_h5ad(tmp_path / "slash.h5ad")
    assert "actinn_probability_B_plasma cell" in back.obs
    names[1] = "B_plasma cell"
    renamed.labels_ = CellTypeLabels.in_order(names)
    with pytest.raises(ACTINNInputError,
                       match="'B/plasma cell' and 'B_plasma cell'.*"
                       "obsm\\['actinn_probabilities'\\]"):
        annotate(adata, renamed, probability_columns=True)


def test_a_new_run_drops_the_colours_scanpy_kept_for_the_old_categories(
        quick, query_adata):
    """scanpy keeps a categorical column's colours in uns[column +
    '_colors'] and reuses them while there are enough: after a run whose
    labels differ, each colour would name another type. annotate drops
    them for the columns it writes under its key_added, and only those."""
    adata = query_adata.copy()
    annotate(adata, quick, unassigned=True)
    for column in ("actinn_cell_type", "actinn_unassigned_reason",
                   "other_cell_type"):
        adata.uns[column + "_colors"] = ["#000000"] * 20
    annotate(adata, quick, threshold=0.99)
    assert "actinn_cell_type_colors" not in adata.uns
    assert "actinn_unassigned_reason_colors" not in adata.uns
    assert adata.uns["other_cell_type_colors"] == ["#000000"] * 20
