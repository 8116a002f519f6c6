"""``annotate(adata)`` of an AnnData read backed
(``anndata.read_h5ad(path, backed="r")``): streamed from its file chunk by
chunk, it writes what an annotation of the AnnData in memory writes; what
needs the whole query in memory, a view and names changed in memory are
refused, saying ``adata.to_memory()``."""

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from deepchem_actinn import ACTINNAnnotator, annotate, train
from deepchem_actinn.datasets import load_tabula_muris_sample
from deepchem_actinn.errors import ACTINNInputError


@pytest.fixture(scope="module")
def sample():
    return load_tabula_muris_sample()


@pytest.fixture(scope="module")
def tiny(sample):
    reference, _ = sample
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return ACTINNAnnotator(max_epochs=2,
                               n_networks=1).fit(reference.X,
                                                 reference.var_names,
                                                 reference.obs["cell_type"],
                                                 reference.obs_names)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def files(sample, tmp_path_factory):
    """The sample's query as h5ad: counts in X; counts in a layer under a
    log-normalised X; shifted counts; a selection of genes."""
    _, query = sample
    folder = tmp_path_factory.mktemp("backed")
    query.write_h5ad(folder / "counts.h5ad")
    layered = query.copy()
    layered.layers["counts"] = layered.X.copy()
    layered.X = layered.X.multiply(1e4 / layered.X.sum(axis=1)).tocsr()
    layered.X.data = np.log1p(layered.X.data)
    layered.write_h5ad(folder / "layered.h5ad")
    # as a shallower, soupier technology would measure the cells (as in
    # test_dask_predict.py): the novelty rule's calibration on 300 cells
    # is not the whole query's
    rng = np.random.default_rng(0)
    own = rng.binomial(np.rint(query.X.toarray()).astype(np.int64), 0.2)
    ambient = rng.poisson(
        np.outer(own.sum(axis=1) * 0.25,
                 own.sum(axis=0) / own.sum()))
    shifted = query.copy()
    shifted.X = sp.csr_matrix((own + ambient).astype(np.float32))
    shifted.write_h5ad(folder / "shifted.h5ad")
    # a selection of genes, 60 % of the model's
    query[:, :1200].copy().write_h5ad(folder / "few_genes.h5ad")
    return {
        name: folder / (name + ".h5ad")
        for name in ["counts", "layered", "shifted", "few_genes"]
    }


@pytest.fixture
def opened():
    """Opens h5ad files backed; closes them after the test."""
    backed = []

    def open_backed(path, mode="r"):
        backed.append(anndata.read_h5ad(path, backed=mode))
        return backed[-1]

    yield open_backed
    for adata in backed:
        adata.file.close()


def _assert_same(backed, memory, key="actinn"):
    assert backed.isbacked  # X was not loaded
    pd.testing.assert_frame_equal(backed.obs, memory.obs, check_exact=True)
    np.testing.assert_array_equal(backed.obsm[key + "_probabilities"],
                                  memory.obsm[key + "_probabilities"])
    assert backed.uns[key].keys() == memory.uns[key].keys()
    for name, value in memory.uns[key].items():
        np.testing.assert_array_equal(backed.uns[key][name], value)


@pytest.mark.parametrize("chunk_size", [50_000, 300])
@pytest.mark.parametrize(
    "rule",
    [dict(unassigned=True), dict(threshold=0.6), {}])
def test_backed_annotate_writes_what_in_memory_writes(tiny, files, opened,
                                                      chunk_size, rule):
    memory = anndata.read_h5ad(files["counts"])
    expected = annotate(memory, tiny, **rule)
    backed = opened(files["counts"])
    result = annotate(backed, tiny, chunk_size=chunk_size, **rule)
    _assert_same(backed, memory)
    np.testing.assert_array_equal(result.cell_ids, expected.cell_ids)
    assert result.query_scale == expected.query_scale
    if rule:
        assert "actinn_unassigned_reason" in backed.obs
    if rule.get("unassigned"):
        assert "actinn_novelty_score" in backed.obs


def test_backed_annotate_calibrates_unassigned_on_every_cell(
        tiny, files, opened):
    """Chunks of 300 cells of a shifted query, each calibrated alone
    (predict_file), would label some cells otherwise: the rule is decided
    on the whole query, as in memory."""
    memory = anndata.read_h5ad(files["shifted"])
    expected = annotate(memory, tiny, unassigned=True)
    assert expected.query_scale > 1.5
    chunked = np.concatenate([
        c.cell_types for c in tiny.predict_file(
            files["shifted"], chunk_size=300, unassigned=True)
    ])
    assert (chunked != expected.cell_types).any()
    backed = opened(files["shifted"])
    result = annotate(backed, tiny, unassigned=True, chunk_size=300)
    _assert_same(backed, memory)
    assert result.query_scale == expected.query_scale
    assert (backed.obs["actinn_cell_type"] == "Unassigned").any()


@pytest.mark.parametrize("layer", ["counts", None])
def test_backed_annotate_reads_a_layer(tiny, files, opened, layer):
    memory = anndata.read_h5ad(files["layered"])
    annotate(memory, tiny, layer=layer, unassigned=True, key_added="ct")
    backed = opened(files["layered"], "r+")
    annotate(backed,
             tiny,
             layer=layer,
             unassigned=True,
             key_added="ct",
             chunk_size=400)
    _assert_same(backed, memory, "ct")
    assert backed.uns["ct"]["counts"] == "layers['counts']"
    # X, log-normalised, is refused as in memory
    with pytest.raises(ACTINNInputError, match="log-normalised"):
        annotate(backed, tiny, use_raw=False)


def test_backed_annotate_min_overlap(tiny, files, opened):
    """min_overlap= holds for the call, as in memory."""
    backed = opened(files["few_genes"])
    with pytest.raises(ACTINNInputError,
                       match="few_genes.h5ad: .* 1153 of the model's 1921 "
                       "genes found .*pass min_overlap=0.6$"):
        annotate(backed, tiny, min_overlap=1.0)
    assert "actinn_cell_type" not in backed.obs
    annotate(backed, tiny)
    assert backed.uns["actinn"]["genes_missing"] == 768


@pytest.mark.parametrize("option, value", [("majority_voting", True),
                                           ("over_clustering", "cell_type"),
                                           ("hierarchy", {
                                               "B cell": "immune"
                                           }), ("remove_ambient", True)])
def test_backed_annotate_refuses_what_needs_the_query_in_memory(
        tiny, files, opened, option, value):
    backed = opened(files["counts"])
    with pytest.raises(ACTINNInputError) as err:
        annotate(backed, tiny, **{option: value})
    assert str(err.value) == (
        "this AnnData is backed by %s, its counts on disk: %s needs the "
        "whole query in memory; call adata.to_memory() first" %
        (files["counts"], option))
    assert "actinn_cell_type" not in backed.obs


def test_backed_annotate_refuses_a_view_and_renamed_genes(tiny, files, opened):
    backed = opened(files["counts"])
    view = backed[backed.obs["cell_type"] == "B cell"]
    with pytest.raises(ACTINNInputError) as err:
        annotate(view, tiny)
    assert str(err.value) == (
        "this AnnData is a view of one backed by %s (adata[...]): annotate "
        "writes into obs, which a view has not of its own; call "
        "adata.to_memory() first (the view's cells read into memory)" %
        files["counts"])
    renamed = opened(files["counts"])
    renamed.var_names = ["g%d" % i for i in range(renamed.n_vars)]
    with pytest.raises(ACTINNInputError) as err:
        annotate(renamed, tiny)
    assert str(err.value) == (
        "this AnnData is backed by %s, but its var_names are no longer the "
        "file's (var_names[0] is 'g0' here, %r in the file): the counts are "
        "streamed from the file; call adata.to_memory() first" %
        (files["counts"], str(backed.var_names[0])))
    assert "actinn_cell_type" not in renamed.obs


def test_backed_annotate_refuses_cells_renamed_in_memory(tiny, files, opened):
    backed = opened(files["counts"])
    names = list(backed.obs_names)
    names[700] = "renamed"
    backed.obs_names = names
    with pytest.raises(ACTINNInputError) as err:
        annotate(backed, tiny, chunk_size=300)
    assert str(err.value) == (
        "this AnnData is backed by %s, but its obs_names are no longer the "
        "file's (obs_names[700] is 'renamed' here, %r in the file): the "
        "counts are streamed from the file; call adata.to_memory() first" %
        (files["counts"], str(opened(files["counts"]).obs_names[700])))
    assert "actinn_cell_type" not in backed.obs


def test_train_refuses_a_backed_anndata(files, opened):
    backed = opened(files["counts"])
    with pytest.raises(ACTINNInputError, match="backed by .*fit_file"):
        train(backed, "cell_type", max_epochs=1, n_networks=1)


def test_backed_annotate_refuses_counts_it_cannot_read_by_cells(
        sample, tiny, tmp_path, opened):
    """Counts stored by columns (CSC) cannot be streamed a chunk of cells at
    a time (the file would be read whole): refused, saying to_memory()."""
    _, query = sample
    csc = query[:200].copy()
    csc.layers["counts"] = sp.csc_matrix(csc.X)
    csc.X = sp.csc_matrix(np.log1p(csc.X.toarray()))
    csc.write_h5ad(tmp_path / "csc.h5ad")
    backed = opened(tmp_path / "csc.h5ad")
    with pytest.raises(ACTINNInputError,
                       match=r"^this AnnData is backed by .*csc.h5ad, whose "
                       r"counts cannot be read a chunk of cells at a time.*: "
                       r"call adata.to_memory\(\) first$"):
        annotate(backed, tiny)
    with pytest.raises(ACTINNInputError, match="chunk of cells at a time"):
        annotate(backed, tiny, layer="counts")
    assert "actinn_cell_type" not in backed.obs
    memory = backed.to_memory()
    annotate(memory, tiny)
    assert memory.uns["actinn"]["counts"] == "layers['counts']"


def test_backed_annotate_refuses_a_file_not_found_by_its_name(
        tiny, files, tmp_path, monkeypatch):
    monkeypatch.chdir(files["counts"].parent)
    backed = anndata.read_h5ad("counts.h5ad", backed="r")
    try:
        monkeypatch.chdir(tmp_path)
        with pytest.raises(ACTINNInputError) as err:
            annotate(backed, tiny)
        assert str(err.value) == (
            "this AnnData is backed by counts.h5ad, which is not found from "
            "the working directory %s (annotate reads the file by its name): "
            "open it by an absolute path, or call adata.to_memory() first" %
            tmp_path)
    finally:
        backed.file.close()


def test_backed_annotate_refuses_genes_it_would_match_otherwise(
        sample, tiny, tmp_path, opened):
    """Counts in .raw whose genes the AnnData in memory matches through a
    column of X's var that .raw's lacks: the file's .raw cannot lend it."""
    _, query = sample
    q = query[:200].copy()
    q.var["symbol"] = q.var_names.to_numpy()
    q.var_names = ["ENSMUSG%08d" % i for i in range(q.n_vars)]
    q.raw = anndata.AnnData(q.X.copy(),
                            var=pd.DataFrame(index=q.var_names),
                            obs=q.obs[[]])
    q.X = sp.csr_matrix(np.log1p(q.X.toarray()))
    q.write_h5ad(tmp_path / "raw.h5ad")
    memory = q.copy()
    annotate(memory, tiny)
    assert memory.uns["actinn"]["gene_column"] == "var['symbol']"
    backed = opened(tmp_path / "raw.h5ad")
    with pytest.raises(ACTINNInputError) as err:
        annotate(backed, tiny)
    assert str(err.value) == (
        "this AnnData is backed by %s: its counts are in .raw, whose genes "
        "match the model's through var['symbol'], a column of X's var that "
        ".raw's var lacks and the streamed file cannot lend; call "
        "adata.to_memory() first" % (tmp_path / "raw.h5ad"))


@pytest.mark.parametrize("chunk_size", [0, 2.5, None, True])
def test_backed_annotate_refuses_a_chunk_size_of_no_cells(
        tiny, files, opened, chunk_size):
    with pytest.raises(ACTINNInputError) as err:
        annotate(opened(files["counts"]), tiny, chunk_size=chunk_size)
    assert str(err.value) == (
        "chunk_size must be a whole number of cells, at least 1, got %r" %
        (chunk_size,))
