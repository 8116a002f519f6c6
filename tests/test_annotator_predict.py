"""``ACTINNAnnotator.predict``, ``iter_predict`` and ``predict_file``: the
query's genes aligned to the model's, the matrices and cells taken or
refused, the probabilities the ensemble and the linear member give, chunks
and files, and the fused sparse scorer."""

import anndata
import numpy as np
import torch
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn import annotate
from deepchem_actinn.preprocessing.genes import choose_gene_column
from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError
from deepchem_actinn.models.inference import embed


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


@pytest.mark.parametrize("sparse,spelled", [(True, "as model"),
                                            (False, "as model"),
                                            (True, "upper"),
                                            (False, "symbol column")])
def test_advice_for_cells_without_model_gene_counts_leaves_them_out(
        quick, tm_test, sparse, spelled):
    """The cell has counts (filter_cells(min_counts=1) would keep it): the
    advice says to keep the cells with counts in the model's genes, and the
    scanpy line it gives, run as written, leaves out just that cell, with
    the genes matched as the annotator matches them: ignoring case (a query
    upper-casing the model's ``Cts7``), or through the ``var`` column that
    holds the model's genes: c4, whose counts are all in ``Cts7``, is kept.
    """
    genes = list(tm_test["genes"]) + ["NotAModelGene"]
    cts7 = genes.index("Cts7")
    assert "Cts7" in quick.genes_
    if spelled == "upper":
        genes = [g.upper() for g in genes]
    X = sp.hstack([sp.csr_matrix(tm_test["X"][:6]),
                   sp.csr_matrix((6, 1))]).tolil()
    X[2, :] = 0
    X[2, len(genes) - 1] = 5
    X[4, :] = 0
    X[4, cts7] = 3
    X = sp.csr_matrix(X) if sparse else X.toarray()
    var = pd.DataFrame(index=genes)
    if spelled == "symbol column":
        var = pd.DataFrame({"symbol": genes},
                           index=["ID%d" % i for i in range(len(genes))])
    adata = anndata.AnnData(
        X, obs=pd.DataFrame(index=["c%d" % i for i in range(6)]), var=var)
    with pytest.raises(ACTINNCellError) as err:
        annotate(adata.copy(), quick)
    message = str(err.value)
    assert message.startswith(
        "1 cell has no counts in the model's %d genes (all their counts are "
        "in genes the model does not use), so nothing can tell their type: "
        "c2; leave them out first, keeping the cells with counts in the "
        "model's genes (the \"genes\" of annotator.json, annotator.genes_, "
        "matched ignoring case and Ensembl versions; scanpy: adata = adata[" %
        len(quick.genes_)), message
    assert "filter_cells" not in message
    line = message[message.index("adata = "):-1]
    namespace = {"adata": adata, "annotator": quick, "np": np}
    exec(line, namespace)
    kept = namespace["adata"]
    assert list(kept.obs_names) == ["c0", "c1", "c3", "c4", "c5"]
    assert len(annotate(kept, quick).cell_types) == 5


def test_matrices_in_other_forms(quick, tm_test, tmp_path):
    """A DataFrame or nested lists are taken as the matrix they hold; one
    cell's vector and an AnnData get a clear error; annotate streams a
    backed AnnData (tests/test_annotate_backed.py)."""
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
    result = annotate(backed, quick)
    backed.file.close()
    # sparse and dense inputs differ only in summation order
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-6)
    # chunks without ids are numbered across chunks, not from 0 each time
    chunks = [(None, X[:25]), (None, X[25:])]
    ids_given = np.concatenate(
        [r.cell_ids for r in quick.iter_predict(chunks, genes)])
    assert ids_given.tolist() == [str(i) for i in range(40)]


def test_gene_names_must_name_every_column(quick, tm_test):
    genes = list(tm_test["genes"])
    for X in (tm_test["X"], sp.csr_matrix(tm_test["X"])):
        with pytest.raises(ACTINNInputError,
                           match="the query matrix has 2000 genes, its gene "
                           "names 1995"):
            quick.predict(X, genes[5:])


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
