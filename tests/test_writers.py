"""Tests for deepchem_actinn.io.writers: round trips and atomic outputs."""

import os
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import deepchem_actinn
from deepchem_actinn.errors import ACTINNInputError
import deepchem_actinn.io as readers
from deepchem_actinn.io import writers

DATA = Path(deepchem_actinn.__file__).parent / "data" / "tabula_muris_sample"


@pytest.fixture(scope="module")
def sample() -> anndata.AnnData:
    return readers.read(DATA / "test_sample.h5", upper_case_genes=False)


def _names(directory: Path):
    return sorted(os.listdir(directory))


def test_actinn_h5_round_trip(tmp_path, sample):
    path = tmp_path / "out.h5"
    writers.write_actinn_h5(sample, path)
    frame = pd.read_hdf(path, "dge")
    assert frame.shape == (sample.n_vars, sample.n_obs)  # genes x cells
    assert list(frame.index) == list(sample.var_names)
    assert list(frame.columns) == list(sample.obs_names)
    back = readers.read_actinn_h5(path)
    assert (back.X != sample.X).nnz == 0
    assert list(back.obs_names) == list(sample.obs_names)
    assert list(back.var_names) == list(sample.var_names)
    chunks = list(readers.iter_cell_chunks(path, 300, upper_case_genes=False))
    assert (sp.vstack([X for _, X in chunks]) != sample.X).nnz == 0
    assert _names(tmp_path) == ["out.h5"]
    # dense in the layout, compressed in the file (as the bundled one is)
    with h5py.File(path, "r") as f:
        assert f["dge/block0_values"].compression == "gzip"
    assert path.stat().st_size < 0.2 * sample.n_obs * sample.n_vars * 8
    writers.write_actinn_h5(sample, tmp_path / "plain.h5", complevel=0)
    with h5py.File(tmp_path / "plain.h5", "r") as f:
        assert f["dge/block0_values"].compression is None
    pd.testing.assert_frame_equal(pd.read_hdf(tmp_path / "plain.h5", "dge"),
                                  frame)
    with pytest.raises(ValueError,
                       match="complevel must be a whole number "
                       "from 0 to 9, got 10"):
        writers.write_actinn_h5(sample, tmp_path / "bad.h5", complevel=10)
    assert not (tmp_path / "bad.h5").exists()


def test_actinn_h5_equals_original_file(tmp_path):
    original = pd.read_hdf(DATA / "test_sample.h5", "dge")
    adata = readers.read_actinn_h5(DATA / "test_sample.h5")
    writers.write_actinn_h5(adata, tmp_path / "copy.h5")
    pd.testing.assert_frame_equal(pd.read_hdf(tmp_path / "copy.h5", "dge"),
                                  original)


def test_h5ad_round_trip(tmp_path, sample):
    path = tmp_path / "out.h5ad"
    writers.write_h5ad(sample, path)
    back = anndata.read_h5ad(path)
    assert sp.issparse(back.X)
    assert (back.X != sample.X).nnz == 0
    assert list(back.obs_names) == list(sample.obs_names)
    assert list(back.var_names) == list(sample.var_names)
    assert _names(tmp_path) == ["out.h5ad"]


def test_predicted_labels_layout(tmp_path):
    path = tmp_path / "predicted_label.txt"
    writers.write_predicted_labels(path, ["c1", "c2", "c3"],
                                   ["B cell", "T cell", "B cell"])
    assert path.read_text() == ("cellname\tcelltype\n"
                                "c1\tB cell\n"
                                "c2\tT cell\n"
                                "c3\tB cell\n")
    frame = pd.read_csv(path, sep="\t")
    assert list(frame.columns) == ["cellname", "celltype"]
    labels = readers.read_labels(path)  # the header is recognised
    assert labels.to_dict() == {"c1": "B cell", "c2": "T cell", "c3": "B cell"}


def test_probabilities_layout(tmp_path):
    path = tmp_path / "predicted_probabilities.txt"
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    writers.write_probabilities(path, ["c1", "c2"], ["A", "B", "C"], proba)
    lines = path.read_text().splitlines()
    assert lines[0] == "\tc1\tc2"
    assert lines[1].split("\t")[0] == "A"
    frame = pd.read_csv(path, sep="\t", index_col=0)
    assert list(frame.index) == ["A", "B", "C"]
    assert list(frame.columns) == ["c1", "c2"]
    np.testing.assert_array_equal(frame.to_numpy(), proba.T)
    with pytest.raises(ValueError, match="expected \\(n_cells, n_types\\)"):
        writers.write_probabilities(tmp_path / "bad.txt", ["c1", "c2"],
                                    ["A", "B", "C"], proba.T)


def test_label_writer_streams_chunks_with_confidence(tmp_path):
    path = tmp_path / "labels.txt"
    with writers.PredictedLabelWriter(path) as writer:
        writer.write(["c1", "c2"], ["A", "B"], confidence=[0.91234, 0.5])
        assert not path.exists()
        writer.write(np.array(["c3"]), np.array(["A"]), confidence=[1.0])
    assert writer.n_written == 3
    assert path.read_text() == ("cellname\tcelltype\tconfidence\n"
                                "c1\tA\t0.912340\n"
                                "c2\tB\t0.500000\n"
                                "c3\tA\t1.000000\n")
    assert readers.read_labels(path).to_dict() == {
        "c1": "A",
        "c2": "B",
        "c3": "A"
    }


def test_label_writer_rules(tmp_path):
    path = tmp_path / "labels.txt"
    with pytest.raises(ValueError, match="every chunk or for none"):
        with writers.PredictedLabelWriter(path) as writer:
            writer.write(["c1"], ["A"])
            writer.write(["c2"], ["B"], confidence=[0.5])
    assert _names(tmp_path) == []
    with pytest.raises(ValueError, match="2 cell ids but 1 cell types"):
        with writers.PredictedLabelWriter(path) as writer:
            writer.write(["c1", "c2"], ["A"])
    with pytest.raises(RuntimeError, match="with block"):
        writers.PredictedLabelWriter(path).write(["c1"], ["A"])
    with writers.PredictedLabelWriter(path):
        pass
    assert path.read_text() == "cellname\tcelltype\n"


def test_label_writer_refuses_existing_before_work(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("old\n")
    with pytest.raises(ACTINNInputError, match="overwrite=True"):
        writers.PredictedLabelWriter(path)
    with writers.PredictedLabelWriter(path, overwrite=True) as writer:
        writer.write(["c1"], ["A"])
    assert path.read_text() == "cellname\tcelltype\nc1\tA\n"


def test_atomic_output_failure_leaves_nothing(tmp_path):
    path = tmp_path / "out.txt"
    with pytest.raises(KeyError):
        with writers.atomic_output(path) as tmp:
            assert tmp.parent == tmp_path
            assert tmp.name.startswith(".out.tmp-")
            tmp.write_text("half")
            raise KeyError("boom")
    assert _names(tmp_path) == []


def test_atomic_output_existing(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    entered = []
    with pytest.raises(ACTINNInputError) as err:
        with writers.atomic_output(path) as tmp:
            entered.append(tmp)
    assert str(err.value) == ("%s exists; pass overwrite=True to replace it" %
                              path)
    assert entered == [] and path.read_text() == "old"
    with writers.atomic_output(path, overwrite=True) as tmp:
        tmp.write_text("new")
        assert path.read_text() == "old"
    assert path.read_text() == "new"
    assert _names(tmp_path) == ["out.txt"]
    with pytest.raises(RuntimeError):
        with writers.atomic_output(path, overwrite=True) as tmp:
            tmp.write_text("newer")
            raise RuntimeError()
    assert path.read_text() == "new"
    assert _names(tmp_path) == ["out.txt"]


def test_writers_refuse_existing(tmp_path, sample):
    small = sample[:5, :4].copy()
    for name, write in [
        ("a.h5", lambda p, **kw: writers.write_actinn_h5(small, p, **kw)),
        ("a.h5ad", lambda p, **kw: writers.write_h5ad(small, p, **kw)),
        ("l.txt",
         lambda p, **kw: writers.write_predicted_labels(p, ["c"], ["A"], **kw)),
        ("p.txt", lambda p, **kw: writers.write_probabilities(
            p, ["c"], ["A"], [[1.0]], **kw)),
    ]:
        path = tmp_path / name
        path.write_text("keep")
        with pytest.raises(ACTINNInputError, match="exists"):
            write(path)
        assert path.read_text() == "keep"
        write(path, overwrite=True)
        assert path.stat().st_size > 0 and path.read_bytes() != b"keep"


def test_atomic_output_missing_directory(tmp_path):
    with pytest.raises(ACTINNInputError, match="does not exist"):
        with writers.atomic_output(tmp_path / "no" / "out.txt"):
            pass
    (tmp_path / "a_file").write_text("mine")
    with pytest.raises(ACTINNInputError,
                       match="a_file is a file, not a directory"):
        with writers.atomic_output(tmp_path / "a_file" / "out.txt"):
            pass
    assert (tmp_path / "a_file").read_text() == "mine"


def test_atomic_output_dir(tmp_path):
    path = tmp_path / "model"
    with pytest.raises(OSError):
        with writers.atomic_output_dir(path) as tmp:
            (tmp / "a.txt").write_text("a")
            raise OSError("disk full")
    assert _names(tmp_path) == []
    with writers.atomic_output_dir(path) as tmp:
        (tmp / "a.txt").write_text("a")
        assert not path.exists()
    assert _names(path) == ["a.txt"]
    with pytest.raises(ACTINNInputError, match="overwrite=True"):
        with writers.atomic_output_dir(path):
            pass
    with writers.atomic_output_dir(path, overwrite=True) as tmp:
        (tmp / "b.txt").write_text("b")
        assert _names(path) == ["a.txt"]
    assert _names(path) == ["b.txt"]
    assert _names(tmp_path) == ["model"]
