"""The command line in a pipeline (Snakemake, Nextflow): a full disk, a
pipe given as input, outputs named as the pipeline names them, a stale
file beside the outputs, links and empty directories, Ctrl-C at start-up,
and what goes to stdout and stderr."""
import errno
import os
import signal
import subprocess
import sys
import time

import anndata
import numpy as np
import pandas as pd
import pytest

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.cli import main
from deepchem_actinn.cli.misc import format_outputs
from deepchem_actinn.datasets import tabula_muris_sample_paths
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import output
from deepchem_actinn.io.output import (atomic_files, atomic_output,
                                       atomic_output_dir)
from deepchem_actinn.report import per_type_metrics, summary_metrics
from deepchem_actinn.simulate import simulate_counts

PATHS = tabula_muris_sample_paths()
TRAIN = ["-trs", str(PATHS["train"]), "-trl", str(PATHS["train_labels"])]
QUICK = ["-ne", "2", "--networks", "1", "--seed", "0", "--threads", "1"]
H5_FULL = ("Can't decrement id ref count (file write failed: errno = 28, "
           "error message = 'No space left on device')")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    assert main(["train", *TRAIN, "-m", str(root / "model"), *QUICK, "-q"]) == 0
    return root / "model"


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"),
    RuntimeError(H5_FULL),
])
def test_a_full_disk_is_one_error_naming_the_output(tmp_path, error):
    target = tmp_path / "out.h5ad"
    with pytest.raises(OSError) as err:
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"partial")
            raise error
    assert (err.value.errno, err.value.filename) == (errno.ENOSPC, str(target))
    assert err.value.__cause__ is error
    assert os.listdir(tmp_path) == []  # nothing left behind
    with pytest.raises(OSError, match="no space left on the device for it"):
        with atomic_output_dir(tmp_path / "model") as tmp:
            (tmp / "weights.pt").write_bytes(b"partial")
            raise error
    assert os.listdir(tmp_path) == []
    with pytest.raises(OSError) as err:
        with atomic_files(tmp_path, ["a.png", "index.html"]) as tmp:
            (tmp / "a.png").write_bytes(b"partial")
            raise error
    assert (err.value.errno, err.value.filename) == (errno.ENOSPC,
                                                     str(tmp_path))
    assert err.value.__cause__ is error
    assert os.listdir(tmp_path) == []


def test_pytorchs_wordless_write_error_is_a_full_disk_only_when_it_is(
        tmp_path, monkeypatch):
    # torch.save on a full disk: "unexpected pos 1216 vs 1110"
    wordless = RuntimeError("[enforce fail at inline_container.cc:672] . "
                            "unexpected pos 1216 vs 1110")
    monkeypatch.setattr(output, "NEARLY_FULL", 0)  # this disk is not full
    with pytest.raises(RuntimeError, match="unexpected pos"):
        with atomic_output_dir(tmp_path / "model"):
            raise wordless
    monkeypatch.setattr(output, "NEARLY_FULL", 1 << 62)  # now it is
    with pytest.raises(OSError, match="no space left"):
        with atomic_output_dir(tmp_path / "model"):
            raise wordless
    with pytest.raises(ValueError, match="not a disk"):
        with atomic_output_dir(tmp_path / "model"):
            raise ValueError("not a disk")


def test_a_full_disk_under_the_command_is_one_line(tmp_path, monkeypatch,
                                                   capsys):

    def full(self, path, **kwargs):  # as anndata and h5py fail on one
        sys.stderr.write("Traceback ... h5py._objects.ObjectID._dealloc\n")
        raise RuntimeError(H5_FULL)

    monkeypatch.setattr(anndata.AnnData, "write_h5ad", full)
    out = tmp_path / "sample.h5ad"
    assert main(["format", "-i", str(PATHS["test"]), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        "actinn format: error: %s: no space left on the device for it" % out)
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_a_pipe_is_refused_as_input(tmp_path, capsys):
    fifo = tmp_path / "labels.txt"
    os.mkfifo(fifo)  # as <(zcat labels.txt.gz) gives
    code = main([
        "train", "-trs",
        str(PATHS["train"]), "-trl",
        str(fifo), "-m",
        str(tmp_path / "m"), *QUICK
    ])
    assert code == 2
    assert ("%s: a pipe, not a file (as <(zcat file) gives)" %
            fifo) in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_train_writes_into_an_empty_directory_and_through_a_link(
        model, tmp_path, small_reference):
    # a small simulated reference: where the annotator goes is the subject
    small = small_reference
    empty = tmp_path / "empty"
    empty.mkdir()  # as a pipeline's mkdir -p leaves it
    assert main(["train", *small, "-m", str(empty), *QUICK, "-q"]) == 0
    assert sorted(os.listdir(empty)) == sorted(os.listdir(model))
    real = tmp_path / "v1"
    link = tmp_path / "current"
    real.mkdir()
    (real / "annotator.json").write_text("{}")  # an earlier annotator
    link.symlink_to(real, target_is_directory=True)
    assert main([
        "train", *small, "-m",
        str(link), *QUICK, "-q", "--overwrite", "--seed", "3"
    ]) == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert ACTINNAnnotator.load(real, device="cpu").seed == 3
    assert sorted(
        p.name for p in tmp_path.iterdir()) == ["current", "empty", "v1"]


def test_a_stale_probabilities_file_is_refused_then_removed(
        model, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "predicted_probabilities.txt").write_text("another model's\n")
    args = [
        "predict", "-m",
        str(model), "-ts",
        str(PATHS["test"]), "-o",
        str(out), "-q", "--threads", "1"
    ]
    assert main(args) == 2
    assert ("%s exists; pass --overwrite to replace it" %
            (out / "predicted_probabilities.txt")) in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    assert sorted(os.listdir(out)) == ["predicted_label.txt", "prediction.json"]


def test_format_names_its_file_as_given(tmp_path, capsys):
    assert [str(p) for p in format_outputs("x/out.h5ad", None)
           ] == ["x/out.h5ad"]
    assert [str(p) for p in format_outputs("out", "h5ad")] == ["out.h5ad"]
    assert [str(p) for p in format_outputs("out.v2", None)] == ["out.v2.h5"]
    with pytest.raises(ACTINNInputError,
                       match="out.h5: a .h5 name, and --to h5ad writes "
                       ".h5ad"):
        format_outputs("out.h5", "h5ad")
    with pytest.raises(ACTINNInputError, match="a directory; -o names"):
        format_outputs(str(tmp_path) + os.sep, None)
    out = tmp_path / "sample.h5ad"
    assert main(["format", "-i", str(PATHS["test"]), "-o", str(out), "-q"]) == 0
    assert os.listdir(tmp_path) == ["sample.h5ad"]
    # an h5ad keeps the genes as the input spells them: no species alarm
    genes = anndata.read_h5ad(out).var_names
    assert "Commd5" in genes and "COMMD5" not in genes


def test_report_writes_its_numbers_as_tables(model, tmp_path):
    out = tmp_path / "pred"
    assert main([
        "predict", "-m",
        str(model), "-ts",
        str(PATHS["test"]), "-o",
        str(out), "-q", "--threads", "1"
    ]) == 0
    assert main([
        "report", "-p",
        str(out / "predicted_label.txt"), "-l",
        str(PATHS["test_labels"]), "-o",
        str(tmp_path / "report"), "-q"
    ]) == 0
    predicted = pd.read_csv(out / "predicted_label.txt", sep="\t")
    truth = pd.read_csv(PATHS["test_labels"],
                        sep="\t",
                        header=None,
                        index_col=0)[1]
    truth = truth[predicted["cellname"]].to_numpy()
    summary = pd.read_csv(tmp_path / "report" / "summary.txt",
                          sep="\t",
                          index_col=0)["value"]
    expected = summary_metrics(truth, predicted["celltype"])
    assert list(summary.index) == list(expected)
    np.testing.assert_allclose(summary.to_numpy(dtype=float),
                               [expected[k] for k in summary.index],
                               rtol=1e-5)
    table = pd.read_csv(tmp_path / "report" / "per_type_metrics.txt",
                        sep="\t",
                        index_col=0)
    pd.testing.assert_frame_equal(table,
                                  per_type_metrics(truth,
                                                   predicted["celltype"]),
                                  rtol=1e-5,
                                  check_index_type=False)


def test_quiet_means_nothing_on_stdout(tmp_path, capsys):
    assert main(["sample-data", str(tmp_path / "sample"), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert len(os.listdir(tmp_path / "sample")) == 5


def test_a_small_simulation_has_no_empty_cell(tmp_path):
    # few genes at low depth: about a sixth of the cells drew no count
    paths = [
        simulate_counts(tmp_path / ("sim%d.h5ad" % size),
                        n_cells=600,
                        n_genes=60,
                        n_types=3,
                        density=0.02,
                        seed=4,
                        chunk_size=size) for size in (64, 600)
    ]
    first, second = (anndata.read_h5ad(p) for p in paths)
    totals = np.asarray(first.X.sum(axis=1)).ravel()
    assert totals.min() >= 1
    assert (first.X != second.X).nnz == 0  # still whatever the chunks


def test_ctrl_c_while_starting_is_one_line(tmp_path):
    command = [
        sys.executable, "-m", "deepchem_actinn", "train", *TRAIN, "-m",
        str(tmp_path / "m"), *QUICK
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a job started in the background of a script ignores Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Ctrl-C once PyTorch's library is mapped, while it is still being
    # imported: a fixed 0.5 s fell before the entry point ran on a loaded
    # machine
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        with open("/proc/%d/maps" % proc.pid) as maps:
            if "libtorch" in maps.read():
                break
        time.sleep(0.001)
    assert proc.poll() is None, "the command ended before PyTorch was loaded"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert "interrupted" in err
    assert not (tmp_path / "m").exists()


def test_voting_without_the_clustering_extra_fails_before_reading(
        model, tmp_path, monkeypatch, capsys):
    import importlib.util
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None
        if name in ("leidenalg", "igraph") else find_spec(name, *a))
    code = main([
        "predict", "-m",
        str(model), "-ts",
        str(PATHS["test"]), "-o",
        str(tmp_path / "out"), "--majority-voting"
    ])
    assert code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        "actinn predict: error: --majority-voting: over-clustering needs "
        "scanpy and leidenalg: install the clustering extra: pip install "
        "\"deepchem-actinn[clustering]\" (from a clone: pip install "
        "\".[clustering]\") (leidenalg and igraph not installed), "
        "or give the query's clusters with --over-clustering FILE")
    assert "read 1000 cells" not in err  # refused before the query is read
    assert not (tmp_path / "out").exists()


def test_format_prefix_may_share_a_directorys_name(tmp_path, monkeypatch):
    # actinn format -i pbmc3k -o pbmc3k: the input folder, the output prefix
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample").mkdir()
    assert [str(p) for p in format_outputs("sample", None)] == ["sample.h5"]
    (tmp_path / "taken.h5").mkdir()
    with pytest.raises(ACTINNInputError,
                       match="taken.h5: a directory, where -o taken would "
                       "write a file"):
        format_outputs("taken", None)


def test_the_working_directory_is_never_an_empty_output(tmp_path, monkeypatch,
                                                        capsys):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert output.empty_directory(tmp_path / "here") is False
    code = main(["train", *TRAIN, "-m", ".", *QUICK])
    assert code == 2
    assert ("%s exists; pass --overwrite to replace it" %
            here) in capsys.readouterr().err


def test_a_dangling_link_is_written_through(tmp_path):
    link = tmp_path / "current"
    link.symlink_to(tmp_path / "v2", target_is_directory=True)
    output.refuse_existing([link], overwrite=False)  # nothing there yet
    with atomic_output_dir(link) as tmp:
        (tmp / "annotator.json").write_text("{}")
    assert link.is_symlink()
    assert os.listdir(tmp_path / "v2") == ["annotator.json"]


def test_an_output_folder_is_probed_for_writing(tmp_path, monkeypatch):
    """refuse_unwritable_folder (the folder an output goes in; not the
    values check of io.predictions.refuse_unwritable) leaves nothing behind
    where it can write, and refuses, naming the output and the folder,
    where it cannot."""
    assert not hasattr(output, "refuse_unwritable")  # one name, one check
    output.refuse_unwritable_folder(tmp_path / "model", tmp_path)
    assert os.listdir(tmp_path) == []

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(output.tempfile, "mkstemp", read_only)
    with pytest.raises(ACTINNInputError) as err:
        output.refuse_unwritable_folder(tmp_path / "model", tmp_path)
    assert str(err.value) == "%s: cannot write in %s (permission denied)" % (
        tmp_path / "model", tmp_path)


def test_an_output_under_a_file_or_a_broken_link_is_refused(tmp_path):
    """The nearest existing folder of an output is a file, or a link to
    nothing: refused before any work, named as given."""
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "current").symlink_to(tmp_path / "gone")
    for name, why in (("notes.txt", "is a file, not a directory"),
                      ("current", "is a link to %s, which does not exist" %
                       (tmp_path / "gone"))):
        given = tmp_path / name / "sub" / "model"
        with pytest.raises(ACTINNInputError) as err:
            output.refuse_existing([given], overwrite=False)
        assert str(err.value) == "%s: %s %s" % (given, tmp_path / name, why)
    assert sorted(os.listdir(tmp_path)) == ["current", "notes.txt"]


def test_a_disk_quota_is_said_as_such(tmp_path):
    with pytest.raises(OSError, match="disk quota exceeded writing it"):
        with atomic_output(tmp_path / "out.txt") as tmp:
            tmp.write_text("partial")
            raise OSError(errno.EDQUOT, "Disk quota exceeded")


def test_an_atlas_table_may_list_other_cells(tmp_path, caplog):
    import logging
    from deepchem_actinn.io import labels_from, match_labels
    table = tmp_path / "annotations_facs.csv"
    table.write_text("cell,tissue,cell_ontology_class\nc1,Lung,B cell\n"
                     "c2,Lung,T cell\nc9,Liver,hepatocyte\n")
    labels, named = labels_from(str(table), column="cell_ontology_class")
    with caplog.at_level(logging.INFO, logger="deepchem_actinn"):
        y = match_labels(["c2", "c1"], labels, named)
    assert list(y) == ["T cell", "B cell"]
    assert ("annotations_facs.csv column 'cell_ontology_class': 1 of its 3 "
            "cells are not in the matrix (left out)") in caplog.text
    with pytest.raises(ACTINNInputError, match="none of its 3 cell ids"):
        match_labels(["x1", "x2"], labels, named)
    with pytest.raises(ValueError, match="already a Series"):
        labels_from(labels, column="cell_ontology_class")
