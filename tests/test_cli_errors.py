"""Every error a user can reach from ``actinn``: one line naming the file,
exit code 2, nothing left behind; SIGTERM and Ctrl-C clean up too."""
import gzip
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from deepchem_actinn.cli import main


@pytest.fixture
def actinn(actinn_process):
    """``actinn ARGS`` in a process of its own: its exit code, stdout and
    stderr (the process forked from one that has imported PyTorch: see
    ``actinn_process`` in conftest.py)."""
    return actinn_process


def listing(directory):
    """Every path under ``directory``, hidden ones included."""
    return sorted(
        os.path.relpath(os.path.join(root, name), directory)
        for root, dirs, files in os.walk(directory)
        for name in dirs + files)


@pytest.fixture(scope="module")
def model(tmp_path_factory, small_reference):
    """A folder holding a small simulated reference (``ref.h5ad``, with
    ``ref_labels.txt``) and a one-network annotator trained on it
    (``model``)."""
    root = tmp_path_factory.mktemp("errors")
    shutil.copy(small_reference[1], root / "ref.h5ad")
    shutil.copy(small_reference[3], root / "ref_labels.txt")
    assert main([
        "train", *small_reference, "-m",
        str(root / "model"), "-ne", "1", "--networks", "1", "-q", "--device",
        "cpu"
    ]) == 0
    return root


def assert_one_line_error(proc, *names):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("actinn "), lines[0]
    assert "Traceback" not in proc.stderr
    for name in names:
        assert str(name) in lines[0], lines[0]


def test_output_that_is_a_file_is_refused(model, tmp_path, actinn):
    target = tmp_path / "out.txt"
    target.write_text("mine\n")
    before = listing(tmp_path)
    proc = actinn("predict", "-m", str(model / "model"), "-ts",
                  str(model / "ref.h5ad"), "-o", str(target), "-q")
    assert_one_line_error(proc, target, "not a directory")
    assert listing(tmp_path) == before
    assert target.read_text() == "mine\n"


def test_run_output_that_is_a_file_is_refused_before_training(tmp_path, actinn):
    from deepchem_actinn.datasets import tabula_muris_sample_paths
    paths = tabula_muris_sample_paths()
    target = tmp_path / "out"
    target.write_text("")
    proc = actinn("run", "-trs", str(paths["train"]), "-trl",
                  str(paths["train_labels"]), "-ts", str(paths["test"]), "-o",
                  str(target), "-q")
    assert_one_line_error(proc, target)
    assert listing(tmp_path) == ["out"]


@pytest.mark.parametrize("name, content, words", [
    ("gzipped.csv", gzip.compress(b"gene,c1\nG1,1\n", mtime=0), "gzip"),
    ("plain.csv.gz", b"gene,c1\nG1,1\n",
     "neither the rows nor the columns match the expected genes"),
    ("empty.h5ad", b"", "empty"),
    ("truncated.csv.gz", gzip.compress(b"gene,c1,c2\n" * 200, mtime=0)[:40],
     "cannot read it as a CSV matrix, it looks damaged or truncated"),
])
def test_failed_predict_leaves_no_output_directory(model, tmp_path, name,
                                                   content, words, actinn):
    query = tmp_path / name
    query.write_bytes(content)
    out = tmp_path / "new" / "predictions"
    proc = actinn("predict", "-m", str(model / "model"), "-ts", str(query),
                  "-o", str(out), "-q")
    assert_one_line_error(proc, query)
    assert words in proc.stderr
    if "neither the rows" in words:  # the query's own option
        assert proc.stderr.strip().endswith(
            "pass --test-orientation genes_by_cells (genes as rows) or "
            "cells_by_genes (cells as rows)")
    assert listing(tmp_path) == [name]


def test_missing_model_names_it(model, tmp_path, actinn):
    proc = actinn("predict", "-m", str(tmp_path / "nomodel"), "-ts",
                  str(model / "ref.h5ad"), "-o", str(tmp_path / "out"), "-q")
    assert_one_line_error(proc, tmp_path / "nomodel")
    assert listing(tmp_path) == []


def test_bad_device_is_one_line(model, tmp_path, actinn):
    proc = actinn("predict", "-m", str(model / "model"), "-ts",
                  str(model / "ref.h5ad"), "-o", str(tmp_path / "out"),
                  "--device", "tpu9", "-q")
    assert_one_line_error(proc, "--device tpu9")
    assert listing(tmp_path) == []


def test_over_clustering_without_voting_is_refused(model, tmp_path, actinn):
    clusters = tmp_path / "clusters.tsv"
    clusters.write_text("c\t1\n")
    proc = actinn("predict", "-m", str(model / "model"), "-ts",
                  str(model / "ref.h5ad"), "-o", str(tmp_path / "out"),
                  "--over-clustering", str(clusters), "-q")
    assert_one_line_error(proc, clusters, "--majority-voting")
    assert listing(tmp_path) == ["clusters.tsv"]
    proc = actinn("predict", "-m", str(model / "model"), "-ts",
                  str(model / "ref.h5ad"), "-o", str(tmp_path / "out"),
                  "--vote-min-probability", "0.3", "-q")
    assert_one_line_error(proc, "--vote-min-probability", "--majority-voting")
    assert listing(tmp_path) == ["clusters.tsv"]


def _default_sigint():
    """In the child: Ctrl-C's default action, which Python turns into
    KeyboardInterrupt. A test run started in the background by a
    non-interactive shell (``nohup ... &``) passes SIGINT on as ignored, and
    Python then leaves it ignored, as a user's ``nohup`` intends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143),
                                          (signal.SIGINT, 130)])
def test_stopped_predict_leaves_nothing(model, tmp_path, signum, code):
    query = model / "big_query.h5ad"
    if not query.exists():
        assert main([
            "simulate", "-o",
            str(query), "--cells", "200000", "--genes", "300", "--types", "3",
            "--seed", "1", "-q"
        ]) == 0
    work = tmp_path / "work"
    work.mkdir()
    # a crash prints its stack into the assertion message
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONFAULTHANDLER="1")
    proc = subprocess.Popen([
        sys.executable, "-m", "deepchem_actinn", "predict", "-m",
        str(model / "model"), "-ts",
        str(query), "-o",
        str(work / "out"), "--chunk-size", "500", "--threads", "1", "-q"
    ],
                            stderr=subprocess.PIPE,
                            text=True,
                            env=env,
                            preexec_fn=_default_sigint)
    deadline = time.time() + 300
    started = False
    # Stop it as soon as its (hidden) label file exists: the 400 chunks
    # still to come leave seconds to spare even on a loaded machine, where
    # waiting for the file to grow (writes are buffered) could let the run
    # finish before the signal.
    while time.time() < deadline and proc.poll() is None:
        if any(p.endswith(".txt") for p in listing(work)):
            started = True
            break
        time.sleep(0.01)
    assert started, "predict ended before it wrote anything"
    assert proc.poll() is None, "predict finished before it was stopped"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "no partial outputs were kept" in err
    assert listing(work) == []


@pytest.mark.parametrize("code, after", [(143, ""), (130, ""), (2, ""),
                                         (0, "at exit")])
def test_leave_skips_teardown_unless_the_command_succeeded(code, after):
    """A stopped or failed command leaves without the interpreter's
    teardown (exit handlers do not run; h5py's after a full disk crashed
    it); success exits normally."""
    proc = subprocess.run([
        sys.executable, "-c",
        "import atexit\n"
        "from deepchem_actinn.cli import leave\n"
        "atexit.register(print, 'at exit')\n"
        "print('before', flush=False)\n"
        "leave(%d)" % code
    ],
                          capture_output=True,
                          text=True)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["before", after]


def _with_bad_cell(source, path, value):
    """The first 5 cells of ``source``, the third's counts set to ``value``
    (0: an empty cell; NaN)."""
    import anndata
    import numpy as np
    adata = anndata.read_h5ad(source)[:5].copy()
    X = np.asarray(
        adata.X.todense() if hasattr(adata.X, "todense") else adata.X,
        dtype=np.float32)
    X[2] = value
    adata.X = X
    adata.write_h5ad(path)
    return adata.obs_names[2]


@pytest.mark.parametrize("value, words", [(0.0, "zero total counts"),
                                          (float("nan"), "NaN")])
def test_bad_query_cells_name_the_file_and_cells(model, tmp_path, value, words,
                                                 actinn):
    query = tmp_path / "query.h5ad"
    cell = _with_bad_cell(model / "ref.h5ad", query, value)
    for extra in ([], ["--majority-voting"]):
        proc = actinn("predict", "-m", str(model / "model"), "-ts", str(query),
                      "-o", str(tmp_path / "out"), "-q", *extra)
        assert_one_line_error(proc, "%s: " % query, words, cell)
    assert listing(tmp_path) == ["query.h5ad"]


def test_bad_reference_cells_name_the_file(model, tmp_path, actinn):
    ref = tmp_path / "ref.h5ad"
    cell = _with_bad_cell(model / "ref.h5ad", ref, 0.0)
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(
        "%s\tt%d\n" % (c, i % 2)
        for i, c in enumerate(__import__("anndata").read_h5ad(ref).obs_names)))
    proc = actinn("train", "-trs", str(ref), "-trl", str(labels), "-m",
                  str(tmp_path / "m"), "-ne", "1", "--networks", "1", "-q")
    assert_one_line_error(proc, "%s: " % ref, "zero total counts", cell)


@pytest.mark.parametrize("suffix", [".h5ad", ".csv"])
def test_a_cell_with_counts_only_outside_the_models_genes(
        model, tmp_path, suffix, actinn):
    """Refused with advice that would leave it out, not filter_cells (which
    keeps a cell that has counts)."""
    import anndata
    import numpy as np
    import pandas as pd
    ref = anndata.read_h5ad(model / "ref.h5ad")[:5]
    X = np.asarray(ref.X.todense() if hasattr(ref.X, "todense") else ref.X,
                   dtype=np.float32)
    X[2] = 0
    X = np.hstack([X, np.array([[0], [0], [5], [0], [0]], np.float32)])
    genes = list(ref.var_names) + ["NotAModelGene"]
    query = tmp_path / ("query" + suffix)
    if suffix == ".h5ad":
        anndata.AnnData(X,
                        obs=pd.DataFrame(index=ref.obs_names),
                        var=pd.DataFrame(index=genes)).write_h5ad(query)
    else:
        pd.DataFrame(X.T, index=genes, columns=ref.obs_names).to_csv(query)
    proc = actinn("predict", "-m", str(model / "model"), "-ts", str(query),
                  "-o", str(tmp_path / "out"), "-q")
    assert_one_line_error(
        proc, "%s: 1 cell has no counts in the model's " % query,
        "so nothing can tell their type: %s; leave them out first, keeping "
        "the cells with counts in the model's genes (the \"genes\" of "
        "annotator.json, annotator.genes_, matched ignoring case and Ensembl "
        "versions; scanpy: adata = adata[np.ravel(adata[:, "
        "annotator.gene_mask(adata.var)].X.sum(axis=1)) > 0].copy())" %
        ref.obs_names[2])
    assert "filter_cells" not in proc.stderr


def test_too_few_cells_to_cluster_names_the_query(model, tmp_path, actinn):
    query = tmp_path / "one.h5ad"
    import anndata
    anndata.read_h5ad(model / "ref.h5ad")[:1].copy().write_h5ad(query)
    proc = actinn("predict", "-m", str(model / "model"), "-ts", str(query),
                  "-o", str(tmp_path / "out"), "-q", "--majority-voting")
    assert_one_line_error(proc, "%s: " % query, "at least 3 cells, got 1")


@pytest.mark.parametrize("flags", [[], ["--remove-ambient"]])
def test_a_damaged_sparse_query_is_refused_not_a_crash(model, tmp_path, flags,
                                                       actinn):
    # an index past the matrix made scipy read out of bounds (a crash
    # without a word, a hidden temporary directory left behind)
    import h5py
    query = tmp_path / "damaged.h5ad"
    query.write_bytes((model / "ref.h5ad").read_bytes())
    with h5py.File(query, "r+") as f:
        assert f["X"].attrs["encoding-type"] == "csr_matrix"
        f["X/indices"][5] = 10_000_000
    proc = actinn("predict", "-m", str(model / "model"), "-ts", str(query),
                  "-o", str(tmp_path / "out"), "-q", *flags)
    assert_one_line_error(
        proc, "%s: X: the sparse matrix is damaged: its column indices reach "
        "10000000, outside 0 .. 299 (a file cut short or corrupted?" % query)
    assert listing(tmp_path) == ["damaged.h5ad"]


@pytest.mark.parametrize("flags", [[], ["-op"], ["--majority-voting"]])
def test_a_query_without_cells_is_refused(model, tmp_path, flags, actinn):
    query = tmp_path / "none.h5ad"
    import anndata
    anndata.read_h5ad(model / "ref.h5ad")[:0].copy().write_h5ad(query)
    proc = actinn("predict", "-m", str(model / "model"), "-ts", str(query),
                  "-o", str(tmp_path / "out"), "-q", *flags)
    assert_one_line_error(proc, "%s: the query holds no cells" % query)
    assert listing(tmp_path) == ["none.h5ad"]


def _with_repeated_ids(source, path):
    """``source``'s first 60 cells, with .raw, as ``path``: the 4th cell's
    id given to the 6th and 8th cells too, the 9th's to the 10th; the two
    ids that repeat."""
    import warnings

    import anndata
    adata = anndata.read_h5ad(source)[:60].copy()
    names = list(adata.obs_names)
    names[5] = names[7] = names[3]
    names[9] = names[8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata's, on making the file
        adata.obs_names = names
        adata.raw = adata.copy()
        adata.write_h5ad(path)
    return names[3], names[8]


@pytest.mark.parametrize(
    "command, flags",
    [("predict", []), ("predict", ["--majority-voting"]),
     ("predict", ["--majority-voting", "--test-layer", ".raw"]),
     ("run", ["--majority-voting"])])
def test_repeated_query_ids_are_said_in_our_words_only(model, tmp_path, actinn,
                                                       command, flags):
    """A query whose cell ids repeat is annotated with one warning of ours
    naming the ids, with or without the vote (which reads the query whole);
    anndata's own warning about names that are not unique is not shown."""
    query = tmp_path / "twice.h5ad"
    first, second = _with_repeated_ids(model / "ref.h5ad", query)
    source = (["-m", str(model / "model")] if command == "predict" else [
        "-trs",
        str(model / "ref.h5ad"), "-trl",
        str(model / "ref_labels.txt"), "-ne", "1", "--networks", "1"
    ])
    proc = actinn(command, *source, "-ts", str(query), "-o",
                  str(tmp_path / "out"), "-q", *flags)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "actinn: %s: 2 cell ids appear more than once, e.g. %s, %s; outputs "
        "name cells by id, so make them unique first (anndata: "
        "obs_names_make_unique)" % (query, first, second)
    ]
    written = (tmp_path / "out" / "predicted_label.txt").read_text()
    assert written.count("\n%s\t" % first) == 3


def test_a_warning_is_said_once(model, tmp_path, actinn):
    """The query is opened several times (genes, cells, rows); what is true
    of the file is said once."""
    query = tmp_path / "query.csv"  # an h5ad file under a CSV name
    query.write_bytes((model / "ref.h5ad").read_bytes())
    proc = actinn("predict", "-m", str(model / "model"), "-ts", str(query),
                  "-o", str(tmp_path / "out"), "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("named like a CSV file but holds") == 1, \
        proc.stderr


def test_a_fact_of_the_file_is_said_once_as_the_file_spells_it(
        model, tmp_path, actinn):
    # a 10x directory is read for its genes, its cells, its rows and the
    # names' case: each fact about it once, in its own spelling
    import anndata
    import scipy.io
    import scipy.sparse
    ref = anndata.read_h5ad(model / "ref.h5ad")[:40]
    query = tmp_path / "filtered_feature_bc_matrix"
    query.mkdir()
    genes = ["Gene_Twice"] + list(ref.var_names) + ["GENE_TWICE"]
    counts = scipy.sparse.hstack([ref.X[:, :1], ref.X, ref.X[:, :1]])
    scipy.io.mmwrite(str(query / "matrix.mtx"), counts.T.tocoo())
    (query / "features.tsv").write_text("".join(
        "ENSG%d\t%s\tGene Expression\n" % (i, g) for i, g in enumerate(genes)))
    (query / "barcodes.tsv").write_text("\n".join(ref.obs_names) + "\n")
    proc = actinn("predict", "-m", str(model / "model"), "-ts", str(query),
                  "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    said = proc.stderr.splitlines()
    assert sum("read 40 cells x" in line for line in said) == 1, said
    twice = [line for line in said if "duplicated gene name" in line]
    assert twice == [
        "actinn: %s: dropped 1 duplicated gene name (kept the first of each), "
        "e.g. GENE_TWICE" % query
    ], said


@pytest.mark.parametrize("flags, words", [
    (["-lr", "-1"], "argument -lr/--learning_rate/--learning-rate: expected "
     "a number above 0, got '-1'"),
    (["-lr", "nan"], "expected a number above 0, got 'nan'"),
    (["--seed", "-1"], "argument --seed: expected a whole number from 0 to "
     "4294967295, got '-1'"),
    (["--seed", "1.5"
     ], "expected a whole number from 0 to 4294967295, got '1.5'"),
    (["--seed", "4294967296"
     ], "expected a whole number from 0 to 4294967295, got '4294967296'"),
])
def test_numbers_out_of_range_are_usage_errors(tmp_path, capsys, flags, words):
    # refused by the parser, before the reference is read
    with pytest.raises(SystemExit) as stop:
        main([
            "train", "-trs", "missing.h5", "-trl", "missing.txt", "-m",
            str(tmp_path / "m"), *flags
        ])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_an_unwritable_output_is_refused_before_training(
        model, tmp_path, capsys, monkeypatch):
    # a read-only directory (or file system) was found only when the
    # trained annotator was saved, naming a temporary path
    import deepchem_actinn.cli.train as train
    from deepchem_actinn.io import output

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the output was checked")

    monkeypatch.setattr(output.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(train, "train_annotator", no_training)
    for command in (["train", "-m", str(tmp_path / "sub" / "m")], [
            "run", "-ts",
            str(model / "ref.h5ad"), "-o",
            str(tmp_path / "out")
    ]):
        assert main([
            *command, "-trs",
            str(model / "ref.h5ad"), "-trl",
            str(model / "ref_labels.txt"), "-q"
        ]) == 2
        err = capsys.readouterr().err
        assert ": cannot write in %s (permission denied)" % tmp_path in err
    assert listing(tmp_path) == []
    # overwriting a directory that holds more than an annotator: refused
    # before the training, not after it
    monkeypatch.undo()
    monkeypatch.setattr(train, "train_annotator", no_training)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "notes.txt").write_text("mine")
    assert main([
        "train", "-m",
        str(tmp_path / "notes"), "--overwrite", "-trs",
        str(model / "ref.h5ad"), "-trl",
        str(model / "ref_labels.txt"), "-q"
    ]) == 2
    assert "holds files that are not an annotator's (notes.txt)" in (
        capsys.readouterr().err)


def test_train_makes_the_model_directory_s_parents(model, tmp_path):
    # as -o does for predict; the check before training allowed it
    target = tmp_path / "models" / "v1" / "annotator"
    assert main([
        "train", "-trs",
        str(model / "ref.h5ad"), "-trl",
        str(model / "ref_labels.txt"), "-m",
        str(target), "-ne", "1", "--networks", "1", "-q"
    ]) == 0
    assert (target / "annotator.json").is_file()


def test_a_query_read_in_chunks_says_what_was_read(model, tmp_path, actinn):
    # an h5ad or 10x HDF5 query streams: said as a CSV or mtx query's is,
    # with the matrix taken and the features a 10x file's types left out
    proc = actinn("predict", "-m", str(model / "model"), "-ts",
                  str(model / "ref.h5ad"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert ("actinn: %s: read 600 cells x 300 genes (h5ad, X, in chunks)" %
            (model / "ref.h5ad")) in proc.stderr.splitlines()


def test_values_rounded_are_said_once_for_the_whole_query(
        model, tmp_path, actinn):
    # the first look at a query's counts (before its genes) is no pass of
    # its own: one 'rounded' line, with the whole query's count
    import anndata
    import numpy as np
    ref = anndata.read_h5ad(model / "ref.h5ad")
    ref.X = ref.X.astype(np.float64)
    ref.X.data += 1e-9
    ref.write_h5ad(tmp_path / "near.h5ad")
    proc = actinn("predict", "-m", str(model / "model"), "-ts",
                  str(tmp_path / "near.h5ad"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if ": rounded " in line]
    assert said == [
        "actinn: %s: rounded %d values within 1e-06 of a whole number "
        "(counts written as floats)" % (tmp_path / "near.h5ad", ref.X.nnz)
    ], said
