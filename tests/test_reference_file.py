"""Out-of-core training: a reference read from disk block by block."""
import re

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import accuracy_score

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError
from deepchem_actinn.annotator.reference_file import ReferenceFile
from deepchem_actinn.preprocessing.gene_stats import gene_statistics
from deepchem_actinn.preprocessing.normalise import library_size_log


@pytest.fixture(scope="module")
def sorted_reference(tm_train, tmp_path_factory):
    """The bundled training set as h5ad, sorted by cell type (the hard case
    for shuffling), and its labels file."""
    order = np.argsort(tm_train["labels"], kind="stable")
    root = tmp_path_factory.mktemp("ref")
    adata = anndata.AnnData(sp.csr_matrix(tm_train["X"][order]),
                            obs=pd.DataFrame(index=tm_train["ids"][order]),
                            var=pd.DataFrame(index=tm_train["genes"]))
    adata.write_h5ad(root / "ref.h5ad")
    labels = root / "labels.txt"
    pd.Series(tm_train["labels"], index=tm_train["ids"]).to_csv(labels,
                                                                sep="\t",
                                                                header=False)
    return root / "ref.h5ad", labels, order


def test_scan_matches_in_memory_statistics(sorted_reference, tm_train):
    path, labels, order = sorted_reference
    ref = ReferenceFile(path, labels, upper_case_genes=False, block_size=333)
    np.testing.assert_array_equal(ref.labels, tm_train["labels"][order])
    keep = np.array([0, 5, 332, 333, 3999])
    stats, rows = ref.scan(keep)
    expected = library_size_log(tm_train["X"][order])
    reference = gene_statistics(expected)
    np.testing.assert_allclose(stats.total, reference.total, rtol=1e-10)
    np.testing.assert_allclose(stats.std, reference.std, rtol=1e-7, atol=1e-9)
    # the kept rows are raw counts: fit_file makes them the model's input
    np.testing.assert_array_equal(rows.toarray(), tm_train["X"][order][keep])


def test_a_shared_scan_reads_one_run_of_blocks_per_process(
        sorted_reference, tm_train, monkeypatch, caplog):
    """The statistics pass of process ``rank`` of 2 (here without a process
    group, so nothing is gathered): the ``rank``-th of 2 runs of
    consecutive blocks, whose sums and kept rows make up one process's;
    each process says what the file holds, as a whole pass does."""
    path, labels, order = sorted_reference
    ref = ReferenceFile(path, labels, upper_case_genes=False, block_size=333)
    blocks = ReferenceFile._blocks
    read = []

    def recorded(self, *args, **kwargs):
        for start, X in blocks(self, *args, **kwargs):
            read.append(int(start))
            yield start, X

    monkeypatch.setattr(ReferenceFile, "_blocks", recorded)
    keep = np.array([0, 5, 332, 333, 3999])
    parts = []
    for rank in (0, 1):
        read.clear()
        caplog.clear()
        with caplog.at_level("INFO", logger="deepchem_actinn"):
            parts.append(ref.scan(keep, shard=(rank, 2)))
        assert read == list(range(0, 4000, 333))[7 * rank:7 * rank + 7]
        assert "read 4000 cells x 2000 genes" in caplog.text
    whole = gene_statistics(library_size_log(tm_train["X"][order]))
    assert parts[0][0].n_cells + parts[1][0].n_cells == 4000
    np.testing.assert_allclose(parts[0][0].total + parts[1][0].total,
                               whole.total,
                               rtol=1e-10)
    np.testing.assert_allclose(parts[0][0].sum_sq + parts[1][0].sum_sq,
                               whole.sum_sq,
                               rtol=1e-10)
    np.testing.assert_array_equal(
        sp.vstack([parts[0][1], parts[1][1]]).toarray(),
        tm_train["X"][order][keep])


def test_scan_leaves_unlabelled_cells_out_of_the_statistics(
        sorted_reference, tm_train):
    path, _, order = sorted_reference
    labelled = np.arange(len(order)) % 3 != 0
    ids, types = tm_train["ids"][order], tm_train["labels"][order]
    ref = ReferenceFile(path,
                        pd.Series(types[labelled], index=ids[labelled]),
                        upper_case_genes=False,
                        block_size=333,
                        labelled_only=True)
    np.testing.assert_array_equal(ref.labelled, labelled)
    assert list(ref.labels[~labelled]) == [None] * int((~labelled).sum())
    stats, _ = ref.scan(np.array([0, 1]))
    reference = gene_statistics(library_size_log(
        tm_train["X"][order][labelled]))
    np.testing.assert_allclose(stats.total, reference.total, rtol=1e-10)
    np.testing.assert_allclose(stats.std, reference.std, rtol=1e-7, atol=1e-9)


def test_epoch_visits_each_training_cell_once_and_mixes_types(sorted_reference):
    path, labels, _ = sorted_reference
    ref = ReferenceFile(path, labels, upper_case_genes=False, block_size=250)
    y = np.unique(ref.labels, return_inverse=True)[1]
    train = np.ones(len(y), dtype=bool)
    train[::10] = False  # held-out cells never appear
    columns = np.arange(0, 2000, 2)
    expected = library_size_log(sp.csr_matrix(
        anndata.read_h5ad(path).X))[:, columns].toarray()
    seen = []
    batch_types = []
    for inputs, (y_b,), (w_b,) in ref.epoch(np.random.default_rng(0),
                                            columns,
                                            y,
                                            np.arange(len(y), dtype=np.float32),
                                            train,
                                            128,
                                            buffer_cells=1000):
        indices, offsets = inputs[0], inputs[1]  # a CSR batch (+ transpose)
        assert indices.max() < len(columns) and len(offsets) == len(y_b)
        batch = sp.csr_matrix(
            (inputs[2], indices, np.append(offsets, len(indices))),
            shape=(len(y_b), len(columns)))
        np.testing.assert_allclose(batch.toarray(),
                                   expected[w_b.ravel().astype(int)],
                                   rtol=1e-6)
        seen.append(w_b.ravel().astype(int))  # weights carry the row index
        batch_types.append(len(np.unique(y_b)))
    seen = np.concatenate(seen)
    assert sorted(seen) == list(np.flatnonzero(train))
    # A file sorted by type still gives batches of several types.
    assert np.median(batch_types) >= 4


def test_fit_file_matches_fit(sorted_reference, tm_train, tm_test):
    path, labels, order = sorted_reference
    kwargs = dict(n_networks=1, max_epochs=40, seed=0)
    from_file = ACTINNAnnotator(**kwargs).fit_file(path,
                                                   labels,
                                                   upper_case_genes=False,
                                                   block_size=512,
                                                   buffer_cells=1500)
    in_memory = ACTINNAnnotator(max_epochs=1, n_networks=1,
                                seed=0).fit(tm_train["X"][order],
                                            tm_train["genes"],
                                            tm_train["labels"][order])
    assert from_file.genes_ == in_memory.genes_
    assert from_file.type_names == in_memory.type_names
    assert from_file.calibration_["n_cells"] == \
        in_memory.calibration_["n_cells"]
    result = from_file.predict(tm_test["X"], tm_test["genes"])
    assert accuracy_score(tm_test["labels"], result.cell_types) >= 0.97


def test_fit_file_label_errors_come_first(sorted_reference, tmp_path,
                                          monkeypatch):
    path, labels, _ = sorted_reference
    lines = labels.read_text().splitlines()
    short = tmp_path / "short.txt"
    short.write_text("\n".join(lines[:-2]) + "\n")
    missing = [line.split("\t")[0] for line in lines[-2:]]
    # the labels are checked before a single count is read
    monkeypatch.setattr(
        ReferenceFile, "_blocks",
        lambda *args, **kwargs: pytest.fail("counts were read before the "
                                            "labels were checked"))
    with pytest.raises(ACTINNInputError) as err:
        ACTINNAnnotator().fit_file(path, short)
    assert str(err.value).startswith(
        "%s: 2 of 4000 cells have no label, e.g. " % short)
    assert all(cell in str(err.value) for cell in missing)
    # Python's words (the command line puts its flag in their place)
    assert str(err.value).endswith(
        "(pass labelled_only=True to train on the labelled cells alone)")


def test_fit_file_names_the_file_of_bad_cells(tm_train, tmp_path):
    X = sp.lil_matrix(tm_train["X"][:300])
    X[7, :] = 0
    path = tmp_path / "ref.h5ad"
    anndata.AnnData(sp.csr_matrix(X, dtype=np.float32),
                    obs=pd.DataFrame(index=tm_train["ids"][:300]),
                    var=pd.DataFrame(index=tm_train["genes"])).write_h5ad(path)
    labels = pd.Series(tm_train["labels"][:300], index=tm_train["ids"][:300])
    with pytest.raises(ACTINNInputError) as err:
        ACTINNAnnotator(max_epochs=1).fit_file(path, labels)
    assert not isinstance(err.value, ACTINNCellError)
    assert str(err.value).startswith("%s: 1 cell has zero total counts" % path)
    assert tm_train["ids"][7] in str(err.value)


@pytest.mark.filterwarnings("ignore:Observation names are not unique")
def test_fit_file_refuses_repeated_cell_ids_matched_to_labels(
        tm_train, tmp_path):
    """Two cells of one id cannot each get their own label: the file is
    refused, naming it and the id, before any pass over its counts."""
    ids = np.array(tm_train["ids"][:400], dtype=object)
    ids[5] = ids[4]
    path = tmp_path / "twice.h5ad"
    anndata.AnnData(sp.csr_matrix(tm_train["X"][:400], dtype=np.float32),
                    obs=pd.DataFrame(index=ids),
                    var=pd.DataFrame(index=tm_train["genes"])).write_h5ad(path)
    labels = pd.Series(tm_train["labels"][:400], index=ids)
    labels = labels[~labels.index.duplicated()]
    with pytest.raises(ACTINNInputError,
                       match="^labels: 1 cell id appears more than once in "
                       "%s, so labels matched by cell id cannot tell those "
                       "cells apart: %s;" % (re.escape(str(path)), ids[4])):
        ACTINNAnnotator(max_epochs=3, n_networks=1,
                        early_stopping=False).fit_file(path,
                                                       labels,
                                                       block_size=64)


def test_fit_file_refuses_repeated_cell_ids_of_a_text_file(tmp_path):
    rng = np.random.default_rng(0)
    ids = ["c%d" % i for i in range(60)]
    ids[7] = ids[6]
    counts = rng.poisson(3.0, size=(60, 40)) + 1
    frame = pd.DataFrame(counts.T,
                         index=["G%d" % g for g in range(40)],
                         columns=ids)
    frame.to_csv(tmp_path / "twice.csv")
    labels = pd.Series(["A", "B"] * 30, index=ids)
    labels = labels[~labels.index.duplicated()]
    with pytest.raises(ACTINNInputError,
                       match="1 cell id appears more than once in .*twice.csv"
                       ", so labels matched by cell id cannot tell those "
                       "cells apart: c6;"):
        ACTINNAnnotator(max_epochs=3, n_networks=1,
                        early_stopping=False).fit_file(tmp_path / "twice.csv",
                                                       labels)
