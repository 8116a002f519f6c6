"""An annotator says how it was trained (``training_``), and keeps saying
it once saved, loaded and saved again (deepchem_actinn/annotator/provenance.py)."""
import html
import json
import os
import platform
import sys
from collections import Counter

import numpy as np
import pytest
import scipy
import sklearn
import torch

from deepchem_actinn import ACTINNAnnotator, __version__
from deepchem_actinn.cli import main
from deepchem_actinn.datasets import tabula_muris_sample_paths
from deepchem_actinn.errors import ACTINNInputError

pytestmark = pytest.mark.torch

N = 600


@pytest.fixture(scope="module")
def fitted(tm_train):
    return ACTINNAnnotator(max_epochs=2,
                           early_stopping=False,
                           n_networks=1,
                           seed=0).fit(tm_train["X"][:N], tm_train["genes"],
                                       tm_train["labels"][:N])


def test_fit_records_versions_machine_and_cells_per_type(fitted, tm_train):
    record = fitted.training_
    assert record["package_version"] == __version__ == fitted.package_version_
    assert record["python"] == platform.python_version()
    assert record["torch"] == torch.__version__
    assert record["numpy"] == np.__version__
    assert record["scipy"] == scipy.__version__
    assert record["scikit-learn"] == sklearn.__version__
    assert record["device"] == "cpu"
    assert record["threads"] == torch.get_num_threads()
    assert record["cells_per_type"] == dict(
        sorted(Counter(tm_train["labels"][:N].tolist()).items()))
    assert record["held_out_cells"] == 60  # a stratified 10 %
    assert record["reference"] == {"out_of_core": False}


def test_fit_file_records_the_file_and_how_it_was_read(tm_train):
    paths = tabula_muris_sample_paths()
    annotator = ACTINNAnnotator(max_epochs=1,
                                early_stopping=False,
                                n_networks=1).fit_file(paths["train"],
                                                       paths["train_labels"],
                                                       buffer_cells=1000)
    reference = annotator.training_["reference"]
    assert reference == {
        "file": str(paths["train"]),
        "bytes": paths["train"].stat().st_size,
        "format": "actinn_h5",
        "out_of_core": True,
        "buffer_cells": 1000,
        "labelled_only": False,
        "allow_non_integer": False,
    }
    assert sum(annotator.training_["cells_per_type"].values()) == 4000


def test_the_record_survives_save_load_and_save_again(fitted, tmp_path):
    fitted.save(tmp_path / "a")
    config = json.loads((tmp_path / "a" / "annotator.json").read_text())
    assert config["training"] == fitted.training_
    # Trained by an earlier version: loading and saving again keeps that
    # version in the record (it used to be replaced by this one).
    config["training"]["package_version"] = "0.0.9"
    (tmp_path / "a" / "annotator.json").write_text(json.dumps(config))
    loaded = ACTINNAnnotator.load(tmp_path / "a", device="cpu")
    assert loaded.package_version_ == "0.0.9"
    loaded.save(tmp_path / "b")
    again = json.loads((tmp_path / "b" / "annotator.json").read_text())
    assert again["training"] == config["training"]
    assert again["package_version"] == __version__  # the file's writer


def test_an_annotator_saved_without_a_record_keeps_its_version(
        fitted, tmp_path):
    fitted.save(tmp_path / "old")
    path = tmp_path / "old" / "annotator.json"
    config = json.loads(path.read_text())
    del config["training"]
    config["package_version"] = "0.0.5"
    path.write_text(json.dumps(config))
    loaded = ACTINNAnnotator.load(tmp_path / "old", device="cpu")
    assert loaded.training_ == {"package_version": "0.0.5"}
    loaded.save(tmp_path / "new")
    again = json.loads((tmp_path / "new" / "annotator.json").read_text())
    assert again["training"] == {"package_version": "0.0.5"}


@pytest.mark.parametrize("record", [
    "trained", {
        "python": "3.11"
    }, {
        "package_version": "0.1.0",
        "threads": float("nan")
    }, {
        "package_version": "0.1.0",
        "reference": {
            "file": "x" * 100_001
        }
    }, {
        "package_version": "0.1.0",
        "threads": "4"
    }, {
        "package_version": "0.1.0",
        "cells_per_type": ["B", 3]
    }, {
        "package_version": "0.1.0",
        "reference": "ref.h5ad"
    }
],
                         ids=[
                             "text", "no version", "nan", "huge text",
                             "text threads", "list of cells", "text reference"
                         ])
def test_a_damaged_record_is_refused(fitted, tmp_path, record):
    fitted.save(tmp_path / "m")
    path = tmp_path / "m" / "annotator.json"
    config = json.loads(path.read_text())
    config["training"] = record
    path.write_text(json.dumps(config))
    with pytest.raises(ACTINNInputError) as err:
        ACTINNAnnotator.load(tmp_path / "m", device="cpu")
    assert str(err.value) == (
        "%s is damaged: its training record is not what ACTINNAnnotator "
        "saves (an object of plain values naming the package version)" % path)


def test_actinn_train_records_its_command_and_reference(tmp_path):
    paths = tabula_muris_sample_paths()
    argv = [
        "train", "-trs",
        str(paths["train"]), "-trl",
        str(paths["train_labels"]), "-ne", "1", "--networks", "1", "--threads",
        "1", "-q", "-m",
        str(tmp_path / "m")
    ]
    assert main(argv) == 0
    config = json.loads((tmp_path / "m" / "annotator.json").read_text())
    record = config["training"]
    assert record["command"] == "actinn " + " ".join(argv)
    assert record["directory"] == os.getcwd()  # where relative paths start
    assert record["threads"] == 1
    assert record["reference"] == {
        "file": str(paths["train"]),
        "bytes": paths["train"].stat().st_size,
        "format": "actinn_h5",
        "labels": str(paths["train_labels"]),
        "out_of_core": False,
        "labelled_only": False,
        "allow_non_integer": False,
    }
    # The report of its predictions says how it was trained
    assert main([
        "predict", "-m",
        str(tmp_path / "m"), "-ts",
        str(paths["test"]), "-o",
        str(tmp_path / "p"), "-q"
    ]) == 0
    assert main([
        "report", "-p",
        str(tmp_path / "p" / "predicted_label.txt"), "-m",
        str(tmp_path / "m"), "-o",
        str(tmp_path / "r"), "-q"
    ]) == 0
    page = html.unescape((tmp_path / "r" / "report.html").read_text())
    assert ("deepchem-actinn %s (Python %s, PyTorch %s, on cpu, 1 thread)" %
            (__version__, platform.python_version(), torch.__version__)) in page
    assert (
        "%s (%s bytes): 4,000 cells of 12 types, 399 held out" %
        (paths["train"], format(paths["train"].stat().st_size, ","))) in page
    assert "%s (in %s)" % (record["command"], os.getcwd()) in page


@pytest.fixture(scope="module")
def scanpy_reference(tmp_path_factory, small_reference):
    """The small simulated reference as scanpy leaves it: X log-normalised,
    the counts in ``layers['counts']`` (``ref.h5ad``), and ``.raw`` in
    their place (``raw.h5ad``); the labels file."""
    import anndata
    import scipy.sparse as sp
    root = tmp_path_factory.mktemp("scanpy_reference")
    adata = anndata.read_h5ad(small_reference[1])
    counts = sp.csr_matrix(adata.X, dtype=np.float32)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    adata.X = sp.csr_matrix(sp.diags(1e4 / totals) @ counts).log1p()
    adata.layers["counts"] = counts
    adata.write_h5ad(root / "ref.h5ad")
    del adata.layers["counts"]
    adata.raw = anndata.AnnData(counts, obs=adata.obs, var=adata.var)
    adata.write_h5ad(root / "raw.h5ad")
    return root, small_reference[3]


@pytest.mark.parametrize("where", [[], ["--out-of-core"]])
def test_actinn_train_records_the_matrix_and_format_it_read(
        scanpy_reference, tmp_path, where):
    root, labels = scanpy_reference
    for name, matrix, layer in (("ref", "layers['counts']", []), ("raw",
                                                                  ".raw.X", []),
                                ("ref", "layers['counts']",
                                 ["--train-layer", "counts"])):
        ref = root / (name + ".h5ad")
        assert main([
            "train", "-trs",
            str(ref), "-trl", labels, "-ne", "1", "--networks", "1", "-q",
            "--device", "cpu", "-m",
            str(tmp_path / "m"), "--overwrite", *where, *layer
        ]) == 0
        config = json.loads((tmp_path / "m" / "annotator.json").read_text())
        reference = config["training"]["reference"]
        assert (reference["format"], reference["matrix"]) == ("h5ad",
                                                              matrix), name
        assert reference["out_of_core"] is bool(where)


def test_actinn_run_records_the_matrix_of_the_reference_and_the_query(
        scanpy_reference, tmp_path):
    root, labels = scanpy_reference
    ref = root / "ref.h5ad"
    assert main([
        "run", "-trs",
        str(ref), "-trl", labels, "-ts",
        str(root / "raw.h5ad"), "-ne", "1", "--networks", "1", "-q", "--device",
        "cpu", "-o",
        str(tmp_path / "out")
    ]) == 0
    record = json.loads((tmp_path / "out" / "prediction.json").read_text())
    reference = record["model"]["training"]["reference"]
    assert (reference["file"], reference["format"],
            reference["matrix"]) == (str(ref), "h5ad", "layers['counts']")
    assert (record["query"]["format"], record["query"]["matrix"]) == ("h5ad",
                                                                      ".raw.X")


def test_python_training_records_the_matrix_it_read(scanpy_reference):
    import anndata

    from deepchem_actinn import train
    root, labels = scanpy_reference
    quick = dict(max_epochs=1, early_stopping=False, n_networks=1)
    for name, matrix in (("ref", "layers['counts']"), ("raw", ".raw.X")):
        adata = anndata.read_h5ad(root / (name + ".h5ad"))
        annotator = train(adata, "cell_type", **quick)
        assert annotator.training_["reference"] == {
            "out_of_core": False,
            "matrix": matrix
        }
        fitted = ACTINNAnnotator(**quick).fit_file(root / (name + ".h5ad"),
                                                   labels)
        reference = fitted.training_["reference"]
        assert (reference["format"], reference["matrix"]) == ("h5ad", matrix)


@pytest.mark.parametrize("name,layer,matrix,choices",
                         [("ref", None, "layers['counts']", 1),
                          ("raw", None, ".raw.X", 1),
                          ("ref", "counts", "layers['counts']", 0)])
def test_a_reference_on_disk_records_the_matrix_it_chose_once(
        scanpy_reference, matrix_looks, caplog, name, layer, matrix, choices):
    """The matrix a reference read from disk records is the one its first
    look chose (said once), the file opened once to choose it, no logger's
    level touched; a layer named is recorded without a look."""
    from deepchem_actinn.annotator.reference_file import ReferenceFile
    root, labels = scanpy_reference
    caplog.set_level("WARNING", "deepchem_actinn")
    ref = ReferenceFile(root / (name + ".h5ad"), labels, layer=layer)
    assert ref.matrix == matrix
    assert matrix_looks == {"choices": choices, "levels": []}
    said = "reading the raw counts from %s instead" % matrix
    assert sum(said in r.getMessage() for r in caplog.records) == (choices == 1)


def test_actinn_demo_records_how_it_trained(tmp_path, capsys):
    # actinn demo crashed once the record was kept: its arguments have no
    # labels file (the smoke run of a fresh install caught it)
    paths = tabula_muris_sample_paths()
    argv = [
        "demo", "--networks", "1", "-ne", "1", "--threads", "1", "-o",
        str(tmp_path / "d")
    ]
    # an earlier prediction's record there is refused, then replaced by the
    # demo's own (of the demo's labels)
    (tmp_path / "d").mkdir()
    stale = tmp_path / "d" / "prediction.json"
    stale.write_text("{}")
    assert main(argv) == 2
    assert "prediction.json" in capsys.readouterr().err
    argv.append("--overwrite")
    assert main(argv) == 0
    # its last line names every file it wrote, and only it names them
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == (
        "Wrote %s: predicted_label.txt, predicted_probabilities.txt, "
        "prediction.json, report.html, confusion_matrix.png, "
        "per_type_metrics.png, training_curves.png, confidence.png%s, "
        "summary.txt, per_type_metrics.txt" %
        (tmp_path / "d", ", umap.png" if
         (tmp_path / "d" / "umap.png").exists() else ""))
    assert sorted(out.splitlines()[-1].split(": ", 1)[1].split(", ")) == sorted(
        p.name for p in (tmp_path / "d").iterdir())
    assert "report.html" not in err
    record = json.loads(stale.read_text())
    assert record["argv"] == argv and record["cells"] == 1000
    page = html.unescape((tmp_path / "d" / "report.html").read_text())
    assert "actinn " + " ".join(argv) in page
    assert (
        "%s (%s bytes): 4,000 cells of 12 types, 399 held out" %
        (paths["train"], format(paths["train"].stat().st_size, ","))) in page


def test_environment_gives_the_versions_without_importing_the_libraries(
        monkeypatch):
    # predict records the versions: a library not imported yet is looked up
    # in its installed metadata rather than imported, and says the same
    from deepchem_actinn.annotator.provenance import LIBRARIES, environment
    imported = environment()
    for name in LIBRARIES:
        monkeypatch.delitem(sys.modules, name)
    assert environment() == imported
    assert not any(name in sys.modules for name in LIBRARIES)
    assert imported["scikit-learn"] == sklearn.__version__
    assert imported["torch"] == torch.__version__
