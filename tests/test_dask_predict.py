"""Prediction on a dask.distributed cluster (two worker processes) gives the
labels and probabilities of a plain run, in the query's order, and sends the
annotator to the workers once."""
import copyreg
import sys

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
from anndata.experimental import read_elem_lazy

from deepchem_actinn import ACTINNAnnotator, load_tabula_muris_sample
from deepchem_actinn.distributed import (dask_predict, is_dask_array,
                                         predict_dask, predict_file_dask,
                                         require_distributed)
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import read

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


class PickleCountingAnnotator(ACTINNAnnotator):
    """Counts how often the client pickles it; the workers unpickle a plain
    ACTINNAnnotator (this test module need not be importable there)."""
    pickled = 0

    def __reduce_ex__(self, protocol):
        PickleCountingAnnotator.pickled += 1
        return (copyreg._reconstructor, (ACTINNAnnotator, object, None),
                dict(self.__dict__))


@pytest.fixture(scope="module")
def sample():
    return load_tabula_muris_sample()


@pytest.fixture(scope="module")
def annotator(sample):
    train, _ = sample
    return ACTINNAnnotator(max_epochs=3, n_networks=2,
                           seed=0).fit(train.X, train.var_names,
                                       train.obs["cell_type"])


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2,
                                  processes=True,
                                  threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def files(sample, tmp_path_factory):
    """The test set as h5ad, with a sparse X and with a dense X."""
    _, test = sample
    folder = tmp_path_factory.mktemp("dask_query")
    paths = {"sparse": folder / "sparse.h5ad", "dense": folder / "dense.h5ad"}
    query = test.copy()
    query.X = sp.csr_matrix(test.X)
    query.write_h5ad(paths["sparse"])
    query.X = query.X.toarray()
    query.write_h5ad(paths["dense"])
    return paths


@pytest.fixture(scope="module")
def shifted(sample, tmp_path_factory):
    """The test cells as a shallower, soupier technology would measure them
    (20 % of their counts, a fifth more from the pooled profile of all the
    cells): the whole query sits beyond the reference (query scale ~1.9),
    and a block's median is not the query's. As h5ad, sparse X."""
    _, test = sample
    rng = np.random.default_rng(0)
    own = rng.binomial(np.rint(test.X.toarray()).astype(np.int64), 0.2)
    soup = own.sum(axis=0) / own.sum()
    ambient = rng.poisson(np.outer(own.sum(axis=1) * 0.25, soup))
    query = test.copy()
    query.X = sp.csr_matrix((own + ambient).astype(np.float32))
    path = tmp_path_factory.mktemp("dask_shifted") / "shifted.h5ad"
    query.write_h5ad(path)
    return query, path


def _assert_same(result, expected, rule=None):
    """The same annotation; with ``rule``, a cell whose Unassigned decision
    sits within float error of a boundary (its scaled novelty score at the
    threshold, or its confidence at the rule's least probability) may be
    called either way: workers sum float32 in another order."""
    assert list(result.cell_ids) == list(expected.cell_ids)
    same = np.asarray(result.cell_types) == np.asarray(expected.cell_types)
    if rule is not None and expected.novelty_score is not None:
        scaled = expected.novelty_score / expected.calibration.divisors(
            expected.probabilities.argmax(axis=1))
        near = np.abs(scaled - rule.threshold) < 1e-5 * abs(rule.threshold)
        near |= np.abs(expected.confidence -
                       rule.min_assigned_probability) < 1e-5
        same |= near
    assert same.all()
    assert result.type_names == expected.type_names
    assert result.genes_missing == expected.genes_missing
    np.testing.assert_allclose(result.probabilities,
                               expected.probabilities,
                               rtol=0,
                               atol=1e-6)
    np.testing.assert_allclose(result.confidence,
                               expected.confidence,
                               rtol=0,
                               atol=1e-6)


@pytest.mark.parametrize("kind", ["sparse", "dense"])
def test_lazy_h5ad_matches_plain_predict(annotator, client, sample, files,
                                         kind):
    _, test = sample
    with h5py.File(files[kind], "r") as f:
        X = read_elem_lazy(f["X"], chunks=(300, -1))
        block = X.blocks[0].compute()
        assert sp.issparse(block) == (kind == "sparse")
        result = predict_dask(annotator,
                              X,
                              test.var_names,
                              test.obs_names,
                              client=client,
                              unassigned=True)
    expected = annotator.predict(
        test.X if kind == "sparse" else test.X.toarray(),
        test.var_names,
        test.obs_names,
        unassigned=True)
    assert X.numblocks[0] == 4
    _assert_same(result, expected)
    assert (result.cell_types == "Unassigned").sum() == (
        expected.cell_types == "Unassigned").sum()


def test_shifted_query_is_calibrated_as_a_whole(annotator, client, shifted):
    """Per-block calibration would change some labels of a shifted query;
    the client decides Unassigned on all the cells' scores at once."""
    query, path = shifted
    X = sp.csr_matrix(query.X)
    expected = annotator.predict(X,
                                 query.var_names,
                                 query.obs_names,
                                 unassigned=True)
    assert expected.query_scale > 1.5
    blockwise = [
        annotator.predict(X[i:i + 300], query.var_names, unassigned=True)
        for i in range(0, X.shape[0], 300)
    ]
    assert {b.query_scale for b in blockwise} != {expected.query_scale}
    assert (np.concatenate([b.cell_types for b in blockwise]) !=
            expected.cell_types).any()
    with h5py.File(path, "r") as f:
        result = predict_dask(annotator,
                              read_elem_lazy(f["X"], chunks=(300, -1)),
                              query.var_names,
                              query.obs_names,
                              client=client,
                              unassigned=True)
    _assert_same(result, expected, annotator.rule_)
    # the workers compute hidden features in blocks of 300 cells on one
    # thread, the plain run all at once: float32 sums in another order
    assert result.query_scale == pytest.approx(expected.query_scale, rel=1e-5)
    np.testing.assert_allclose(result.novelty_score,
                               expected.novelty_score,
                               rtol=1e-5,
                               atol=1e-6)
    assert (result.cell_types == "Unassigned").sum() > 0


def test_shifted_file_is_calibrated_chunk_by_chunk(annotator, client, shifted,
                                                   monkeypatch):
    """predict_file_dask decides as predict_file / iter_predict do with the
    same chunk size: each chunk on its own scores, a small tail on the
    chunk before it (the calibration size lowered to 250 cells here, so
    that 300-cell chunks calibrate on themselves)."""
    from deepchem_actinn.confidence import decision
    from deepchem_actinn.io import iter_cell_chunks
    monkeypatch.setattr(decision, "MIN_CALIBRATION_CELLS", 250)
    query, path = shifted
    expected = list(
        annotator.predict_file(path, chunk_size=300, unassigned=True))
    streamed = list(
        annotator.iter_predict(iter_cell_chunks(path, 300),
                               query.var_names,
                               unassigned=True))
    chunks = list(
        predict_file_dask(annotator,
                          path,
                          client,
                          chunk_size=300,
                          unassigned=True,
                          max_in_flight=2))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    scales = [c.query_scale for c in expected]
    assert len(set(scales[:3])) == 3 and scales[3] == scales[2]
    tail_own = annotator.rule_.query_scale(expected[3].novelty_score)
    assert tail_own != scales[2]
    for result, plain, stream in zip(chunks, expected, streamed):
        _assert_same(result, plain, annotator.rule_)
        _assert_same(result, stream, annotator.rule_)
        assert plain.query_scale == stream.query_scale
        # a worker's one thread sums in another order than this process
        assert result.query_scale == pytest.approx(plain.query_scale, rel=1e-5)


def test_blocks_split_by_genes_are_joined(annotator, client, sample):
    _, test = sample
    X = da.from_array(test.X.toarray(), chunks=(400, 700))
    result = predict_dask(annotator,
                          X,
                          test.var_names,
                          client=client,
                          threshold=0.9)
    # the dense path, as X's blocks are dense (the sparse path sums in
    # another order: probabilities differ by ~1e-6)
    expected = annotator.predict(test.X.toarray(),
                                 test.var_names,
                                 threshold=0.9)
    _assert_same(result, expected)
    assert list(result.cell_ids[:3]) == ["0", "1", "2"]
    assert (result.cell_types == "Unassigned").any()


def test_file_chunks_come_back_in_order(annotator, client, files):
    query = read(files["sparse"])
    chunks = list(
        predict_file_dask(annotator,
                          files["sparse"],
                          client,
                          chunk_size=300,
                          unassigned=True,
                          max_in_flight=2))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    expected = annotator.predict(query.X,
                                 query.var_names,
                                 query.obs_names,
                                 unassigned=True)
    joined = dask_predict.join_annotations(
        chunks, np.concatenate([c.cell_ids for c in chunks]),
        chunks[0].genes_missing, chunks[0].gene_column)
    _assert_same(joined, expected)
    assert chunks[0].gene_column == "var_names"


def test_annotator_is_sent_once(annotator, client, sample, files):
    _, test = sample
    counting = PickleCountingAnnotator.__new__(PickleCountingAnnotator)
    counting.__dict__.update(annotator.__dict__)
    X = da.from_array(test.X.toarray(), chunks=(100, -1))
    PickleCountingAnnotator.pickled = 0
    result = predict_dask(counting, X, test.var_names, client=client)
    assert X.numblocks[0] == 10
    assert PickleCountingAnnotator.pickled == 1
    assert list(result.cell_types) == list(
        annotator.predict(test.X.toarray(), test.var_names).cell_types)

    PickleCountingAnnotator.pickled = 0
    chunks = list(
        predict_file_dask(counting, files["sparse"], client, chunk_size=100))
    assert len(chunks) == 10
    assert PickleCountingAnnotator.pickled == 1


def test_bad_queries_are_refused_on_the_client(annotator, client, sample):
    _, test = sample
    X = da.from_array(test.X.toarray(), chunks=(500, -1))
    with pytest.raises(ACTINNInputError, match="2000 genes in the matrix"):
        predict_dask(annotator, X, test.var_names[:10], client=client)
    with pytest.raises(ACTINNInputError, match="1000 cells but 3 cell ids"):
        predict_dask(annotator,
                     X,
                     test.var_names, ["a", "b", "c"],
                     client=client)
    other = ["OTHER%d" % i for i in range(test.n_vars)]
    with pytest.raises(ACTINNInputError, match="do not match the model"):
        predict_dask(annotator, X, other, client=client)
    with pytest.raises(TypeError, match="dask.array"):
        predict_dask(annotator, test.X, test.var_names, client=client)


def test_bad_counts_are_named_from_the_worker(annotator, client, sample):
    _, test = sample
    dense = test.X.toarray()
    dense[700, 5] = -1.0
    X = da.from_array(dense, chunks=(500, -1))
    with pytest.raises(ACTINNInputError, match=test.obs_names[700]):
        predict_dask(annotator,
                     X,
                     test.var_names,
                     test.obs_names,
                     client=client)


def test_bad_cells_of_a_file_are_named_with_the_file(annotator, client, sample,
                                                     tmp_path):
    _, test = sample
    query = test.copy()
    dense = test.X.toarray()
    dense[700, :] = 0
    query.X = sp.csr_matrix(dense)
    path = tmp_path / "blind.h5ad"
    query.write_h5ad(path)
    with pytest.raises(ACTINNInputError) as err:
        list(predict_file_dask(annotator, path, client=client, chunk_size=500))
    assert str(err.value).startswith("%s: 1 cell has zero total counts" % path)
    assert test.obs_names[700] in str(err.value)


@pytest.mark.filterwarnings("ignore:Observation names are not unique")
def test_repeated_cell_ids_of_a_file_are_told_once(annotator, client, sample,
                                                   tmp_path, caplog):
    _, test = sample
    query = test.copy()
    names = list(query.obs_names)
    names[700] = names[3]
    query.obs_names = names
    path = tmp_path / "twice.h5ad"
    query.write_h5ad(path)
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        parts = list(
            predict_file_dask(annotator, path, client=client, chunk_size=300))
    assert sum(len(p) for p in parts) == 1000
    assert caplog.text.count("%s: 1 cell id appears more than once" % path) == 1


def test_log_normalised_files_are_refused_even_when_allowed(
        annotator, client, sample, tmp_path):
    _, test = sample
    query = test.copy()
    query.X = sp.csr_matrix(np.log1p(test.X.toarray()), dtype=np.float32)
    path = tmp_path / "logged.h5ad"
    query.write_h5ad(path)
    with pytest.raises(ACTINNInputError,
                       match="%s: X holds non-integer.*log-normalised" % path):
        list(
            predict_file_dask(annotator,
                              path,
                              client=client,
                              chunk_size=500,
                              allow_non_integer=True))


def test_log_normalised_blocks_are_refused_from_the_worker(
        annotator, client, sample):
    _, test = sample
    logged = np.log1p(test.X.toarray())
    X = da.from_array(logged, chunks=(500, -1))
    with pytest.raises(ACTINNInputError,
                       match=r"the Dask array: X holds non-integer values.*"
                       r"log-normalised"):
        predict_dask(annotator,
                     X,
                     test.var_names,
                     test.obs_names,
                     client=client)


def test_annotate_an_anndata_with_a_dask_x(annotator, client, sample, files):
    import anndata

    from deepchem_actinn.annotator import annotate
    _, test = sample
    plain = anndata.read_h5ad(files["sparse"])
    expected = annotate(plain, annotator, unassigned=True)
    with h5py.File(files["sparse"], "r") as f:
        lazy = anndata.AnnData(X=read_elem_lazy(f["X"], chunks=(300, -1)),
                               obs=plain.obs[[]].copy(),
                               var=plain.var.copy())
        result = annotate(lazy, annotator, unassigned=True)
        with pytest.raises(ACTINNInputError,
                           match="X is a Dask array; majority voting"):
            annotate(lazy, annotator, majority_voting=True)
    _assert_same(result, expected)
    np.testing.assert_array_equal(lazy.obs["actinn_cell_type"],
                                  plain.obs["actinn_cell_type"])
    np.testing.assert_allclose(lazy.obsm["actinn_probabilities"],
                               plain.obsm["actinn_probabilities"],
                               atol=1e-6)
    assert lazy.uns["actinn"] == plain.uns["actinn"]
    # a lazily held log-normalised X: the worker's count check names it
    logged = anndata.AnnData(X=da.from_array(np.log1p(test.X.toarray()),
                                             chunks=(500, -1)),
                             obs=plain.obs[[]].copy(),
                             var=plain.var.copy())
    with pytest.raises(ACTINNInputError, match="X holds non-integer"):
        annotate(logged, annotator)
    # allowed non-integer values: TPM is annotated as in memory, a log
    # scale is refused on the client even so
    dense = test.X.toarray().astype(np.float64)
    tpm = (dense / dense.sum(axis=1, keepdims=True) * 1e6).astype(np.float32)
    lazy_tpm = anndata.AnnData(X=da.from_array(tpm, chunks=(300, -1)),
                               obs=plain.obs[[]].copy(),
                               var=plain.var.copy())
    result = annotate(lazy_tpm, annotator, allow_non_integer=True)
    np.testing.assert_allclose(result.probabilities,
                               annotator.predict(tpm,
                                                 test.var_names).probabilities,
                               atol=1e-6)
    with pytest.raises(ACTINNInputError,
                       match="the Dask array: X holds non-integer.*"
                       "log-normalised"):
        annotate(logged, annotator, allow_non_integer=True)


def test_cells_as_rows_csv_on_the_cluster(annotator, client, sample, tmp_path):
    import pandas as pd
    _, test = sample
    path = tmp_path / "cells_as_rows.csv"
    pd.DataFrame(test.X.toarray(), index=test.obs_names,
                 columns=test.var_names).to_csv(path)
    chunks = list(
        predict_file_dask(annotator,
                          path,
                          client,
                          chunk_size=400,
                          expected_genes=annotator.genes_))
    assert [len(c) for c in chunks] == [400, 400, 200]
    expected = annotator.predict(test.X, test.var_names, test.obs_names)
    joined = dask_predict.join_annotations(
        chunks, np.concatenate([c.cell_ids for c in chunks]),
        chunks[0].genes_missing, chunks[0].gene_column)
    _assert_same(joined, expected)


def test_is_dask_array(sample):
    _, test = sample
    assert is_dask_array(da.zeros((2, 3)))
    assert not is_dask_array(test.X)


def test_without_dask_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError,
                       match=r'pip install "deepchem-actinn\[distributed\]"'):
        require_distributed()


def test_the_linear_member_is_scored_on_the_workers(annotator, client, sample):
    _, test = sample
    # the module's annotator averages its networks with the regression
    averaged = annotator
    assert averaged.linear_weight == 0.5 and averaged.linear_ is not None
    X = da.from_array(test.X.toarray(), chunks=(400, -1))
    result = predict_dask(averaged,
                          X,
                          test.var_names,
                          test.obs_names,
                          client=client,
                          unassigned=True)
    # the same dense values in memory (the sparse path sums the regression
    # in another order: float32 differences of about 1e-6)
    _assert_same(
        result,
        averaged.predict(test.X.toarray(),
                         test.var_names,
                         test.obs_names,
                         unassigned=True))


def test_cells_as_rows_are_told_by_the_models_genes(annotator, client, sample,
                                                    tmp_path):
    """As predict_file: with no orientation and no expected genes, the axis
    holding the model's genes is taken for genes."""
    import pandas as pd
    _, test = sample
    path = tmp_path / "cells_as_rows.csv"
    pd.DataFrame(test.X[:300].toarray(),
                 index=test.obs_names[:300],
                 columns=test.var_names).to_csv(path)
    chunks = list(predict_file_dask(annotator, path, client, chunk_size=200))
    assert [len(c) for c in chunks] == [200, 100]
    local = list(annotator.predict_file(path, chunk_size=200))
    for mine, theirs in zip(chunks, local):
        np.testing.assert_array_equal(mine.cell_types, theirs.cell_types)


def test_the_query_genes_are_said_as_predict_file_says_them(
        annotator, client, sample, tmp_path, caplog):
    """One function chooses the query's gene column on every path, and says
    it once, alike: here a var column, at INFO."""
    import logging

    _, test = sample
    query = test[:200].copy()
    query.var["symbol"] = list(query.var_names)
    query.var_names = ["ENSMUSG%05d" % i for i in range(query.n_vars)]
    path = tmp_path / "by_symbol.h5ad"
    query.write_h5ad(path)

    def said(run):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="deepchem_actinn"):
            run()
        return [(r.levelname, r.getMessage())
                for r in caplog.records
                if "matched genes through" in r.getMessage()]

    on_cluster = said(
        lambda: list(predict_file_dask(annotator, path, client, 100)))
    assert on_cluster == said(
        lambda: list(annotator.predict_file(path, chunk_size=100)))
    assert on_cluster == [
        ("INFO", "%s: matched genes through var['symbol'] (%d of "
         "the model's %d genes)" %
         (path, len(annotator.genes_), len(annotator.genes_)))
    ]
