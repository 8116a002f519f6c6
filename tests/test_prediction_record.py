"""``prediction.json``: ``actinn predict``, ``actinn run`` and ``actinn
demo`` say how the labels beside it were made, on every writing path
(whole, chunk by chunk, on Dask, ``run``, ``demo``), replaced with the
labels or not at all; ``actinn report`` shows it, and warns about a record
it cannot use (deepchem_actinn/cli/record.py, record_report.py)."""
import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from deepchem_actinn import ACTINNAnnotator, __version__
from deepchem_actinn.cli import main
from deepchem_actinn.cli.record import model_fingerprint
from deepchem_actinn.datasets import tabula_muris_sample_paths

pytestmark = pytest.mark.torch

PATHS = tabula_muris_sample_paths()
TRAIN = ["-trs", str(PATHS["train"]), "-trl", str(PATHS["train_labels"])]
QUICK = ["-ne", "2", "--networks", "1", "--seed", "0", "--device", "cpu"]
RECORD = "prediction.json"

#: The record of the bundled test set as the query, read as it is.
BUNDLED_QUERY = {
    "file": str(PATHS["test"]),
    "absolute": os.path.abspath(PATHS["test"]),
    "format": "actinn_h5",
    "layer": None,
    "matrix": None,
    "orientation": None,
    "upper_case_genes": True,
    "allow_non_integer": False
}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("record")
    assert main(["train", *TRAIN, "-m", str(root / "model"), *QUICK, "-q"]) == 0
    return root / "model"


def predict_args(model, out, *flags):
    return [
        "predict", "-m",
        str(model), "-ts",
        str(PATHS["test"]), "-o",
        str(out), "--device", "cpu", "-q", *flags
    ]


def predict(model, out, *flags):
    return main(predict_args(model, out, *flags))


def _refuse(name):
    raise ValueError("the record holds %s" % name)


def record_of(directory):
    """The record in ``directory``, NaN and infinities refused."""
    text = (directory / RECORD).read_text(encoding="utf-8")
    return json.loads(text, parse_constant=_refuse)


def labels_of(directory):
    return pd.read_csv(directory / "predicted_label.txt",
                       sep="\t",
                       dtype=str,
                       keep_default_na=False)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_labels(record, directory):
    """The record's cells, labels and digest are those of the labels file
    beside it."""
    labels = labels_of(directory)
    assert record["cells"] == len(labels)
    assert record["labels"] == labels["celltype"].value_counts().to_dict()
    stated = record["outputs"]["predicted_label.txt"]
    assert stated["sha256"] == sha256(directory / "predicted_label.txt")
    assert stated["bytes"] == (directory / "predicted_label.txt").stat().st_size
    return labels


def assert_plain_run(record, n_genes):
    """A record of labels made with no rule, hierarchy, vote or ambient
    correction, every one of the model's genes found by name."""
    assert record["genes"] == {
        "model": n_genes,
        "matched": n_genes,
        "missing": 0,
        "gene_column": "var_names",
        "min_overlap": 0.5
    }
    assert record["unassigned"] == {"mode": "none", "cells": 0}
    assert record["hierarchy"] is None
    assert record["majority_voting"] is None
    assert record["remove_ambient"] is False
    assert record["outputs"]["files"] == [
        "predicted_probabilities.txt", "predicted_label.txt"
    ]


def test_a_chunked_prediction_records_how_its_labels_were_made(model, tmp_path):
    out = tmp_path / "out"
    before = datetime.datetime.now(datetime.timezone.utc)
    args = predict_args(model, out, "-op", "--chunk-size", "300")
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "predicted_label.txt", "predicted_probabilities.txt", RECORD
    ]
    record = record_of(out)
    assert record["format"] == "deepchem-actinn prediction record"
    assert record["format_version"] == 1
    assert record["argv"] == args
    assert record["command"] == shlex.join(["actinn"] + args)
    when = datetime.datetime.fromisoformat(record["time"])
    assert when.utcoffset() == datetime.timedelta(0)
    assert before - datetime.timedelta(seconds=1) <= when
    assert when <= datetime.datetime.now(datetime.timezone.utc)
    assert record["package_version"] == __version__
    assert record["python"] == platform.python_version()
    assert record["torch"] == torch.__version__
    assert record["device"] == "cpu"
    assert record["query"] == BUNDLED_QUERY
    assert record["reading"] == {
        "mode": "chunks",
        "chunk_size": 300,
        "scheduler": None
    }
    annotator = ACTINNAnnotator.load(model, device="cpu")
    assert record["model"]["directory"] == str(model)
    assert record["model"]["absolute"] == os.path.abspath(model)
    assert record["model"]["trained_in_this_run"] is False
    assert record["model"]["type_names"] == list(annotator.type_names)
    assert record["model"]["training"] == annotator.training_
    assert record["model"]["params"] == json.loads(
        json.dumps(annotator.get_params()))
    assert record["model"]["model"] == "1 network and a logistic " \
        "regression (weight 0.5)"
    assert record["model"]["fingerprint"] == model_fingerprint(annotator)
    assert record["directory"] == os.getcwd()  # where relative paths start
    assert_plain_run(record, len(annotator.genes_))
    check_labels(record, out)


def test_the_unassigned_rule_and_its_counts_are_recorded(model, tmp_path):
    assert predict(model, tmp_path / "rule", "--unassigned", "--chunk-size",
                   "300") == 0
    record = record_of(tmp_path / "rule")
    labels = check_labels(record, tmp_path / "rule")
    reasons = labels["unassigned_reason"].value_counts()
    rule = record["unassigned"]
    assert rule["mode"] == "rule"
    assert rule["min_assigned_probability"] == 0.5
    assert rule["cells"] == int((labels["celltype"] == "Unassigned").sum()) > 0
    assert rule["novel"] == reasons.get("novel", 0)
    assert rule["low_probability"] == reasons.get("low_probability", 0)
    assert rule["novel"] + rule["low_probability"] == rule["cells"]
    assert set(rule["query_scale"]) == {"min", "max", "by_type"}
    assert predict(model, tmp_path / "cut", "--threshold", "0.9") == 0
    record = record_of(tmp_path / "cut")
    labels = check_labels(record, tmp_path / "cut")
    marked = int((labels["celltype"] == "Unassigned").sum())
    assert marked > 0
    assert record["unassigned"] == {
        "mode": "threshold",
        "threshold": 0.9,
        "cells": marked,
        "low_probability": marked
    }
    assert record["reading"]["chunk_size"] == 50_000


def test_a_whole_query_records_its_hierarchy_vote_and_ambient_rna(
        model, tmp_path, clusters_and_hierarchy):
    clusters, hierarchy = clusters_and_hierarchy(model)
    out = tmp_path / "out"
    assert predict(model, out,
                   "--unassigned", "--majority-voting", "--over-clustering",
                   str(clusters), "--vote-min-probability", "0.3",
                   "--hierarchy", str(hierarchy), "--remove-ambient",
                   "--chunk-size", "300") == 0
    record = record_of(out)
    labels = check_labels(record, out)
    assert record["reading"] == {
        "mode": "whole",
        "chunk_size": None,
        "scheduler": None
    }
    assert record["hierarchy"] == {
        "file": str(hierarchy),
        "absolute": str(hierarchy),
        "margin": 0.2
    }
    voted = labels["majority_voting"].value_counts()
    assert record["majority_voting"] == {
        "vote_min_probability": 0.3,
        "labels": {
            str(name): int(n)
            for name, n in sorted(voted.items(), key=lambda kv: (-kv[1], kv[0]))
        },
        "over_clustering": {
            "file": str(clusters),
            "absolute": str(clusters)
        }
    }
    counts = list(record["majority_voting"]["labels"].values())
    assert counts == sorted(counts, reverse=True)  # most cells first
    assert record["remove_ambient"] is True
    assert record["outputs"]["files"] == ["clusters.txt", "predicted_label.txt"]
    reasons = labels["unassigned_reason"].value_counts()
    assert record["unassigned"]["novel"] == reasons.get("novel", 0)
    assert record["unassigned"]["low_probability"] == reasons.get(
        "low_probability", 0)


def test_leiden_voting_records_its_resolution_and_seed(model, tmp_path,
                                                       monkeypatch,
                                                       small_reference):
    """Without --over-clustering the record names Leiden, with the
    resolution and seed the over-clustering was given (here a stand-in,
    which scanpy's numba compilation would make slow)."""
    from deepchem_actinn import voting
    from deepchem_actinn.clustering import default_resolution
    calls = []

    def over_cluster(X, seed=0, resolution=None):
        calls.append((X.shape[0], seed, resolution))
        return (np.arange(X.shape[0]) % 3).astype(str)

    monkeypatch.setattr(voting, "over_cluster", over_cluster)
    monkeypatch.setattr(voting, "missing_clustering", lambda: [])
    assert predict(model, tmp_path / "out", "--majority-voting") == 0
    assert calls == [(1000, 0, None)]  # the resolution: over_cluster's own
    vote = record_of(tmp_path / "out")["majority_voting"]
    voted = pd.read_csv(tmp_path / "out" / "predicted_label.txt",
                        sep="\t",
                        index_col=0)["majority_voting"].value_counts()
    assert sum(vote["labels"].values()) == 1000
    assert vote["labels"] == {str(k): int(n) for k, n in voted.items()}
    assert vote == {
        "vote_min_probability": 0.2,
        "labels": vote["labels"],
        "over_clustering": {
            "method": "leiden",
            "resolution": default_resolution(1000),
            "seed": 0
        }
    }
    # the seed is the annotator's: run --seed 3 clusters and records 3
    assert main([
        "run", *small_reference, "-ts", small_reference[1], "-o",
        str(tmp_path / "run"), "--seed", "3", "-ne", "1", "--networks", "1",
        "--majority-voting", "--device", "cpu", "-q"
    ]) == 0
    assert calls[1:] == [(600, 3, None)]
    clusters = record_of(tmp_path / "run")["majority_voting"]["over_clustering"]
    assert clusters["seed"] == 3


def test_a_dask_prediction_records_the_scheduler_and_the_same_labels(
        model, tmp_path):
    distributed = pytest.importorskip("distributed")
    flags = ["--unassigned", "--chunk-size", "300"]
    assert predict(model, tmp_path / "plain", *flags) == 0
    with distributed.LocalCluster(n_workers=1,
                                  processes=False,
                                  threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        assert predict(model, tmp_path / "dask", "--scheduler",
                       cluster.scheduler_address, *flags) == 0
        address = cluster.scheduler_address
    plain, dask = record_of(tmp_path / "plain"), record_of(tmp_path / "dask")
    check_labels(dask, tmp_path / "dask")
    assert dask["reading"] == {
        "mode": "dask",
        "chunk_size": 300,
        "scheduler": address
    }
    assert dask["device"] == "a dask cluster"
    for key in ("cells", "labels", "unassigned", "genes", "outputs"):
        assert dask[key] == plain[key], key


def test_run_records_the_model_it_trained(tmp_path):
    out, saved = tmp_path / "out", tmp_path / "saved"
    args = [
        "run", *TRAIN, "-ts",
        str(PATHS["test"]), "-o",
        str(out), "-m",
        str(saved), *QUICK, "-q"
    ]
    assert main(args) == 0
    record = record_of(out)
    check_labels(record, out)
    assert record["argv"] == args
    model = record["model"]
    assert model["trained_in_this_run"] is True
    assert model["directory"] == str(saved)
    assert model["training"] == ACTINNAnnotator.load(saved,
                                                     device="cpu").training_
    assert model["training"]["command"].startswith("actinn run ")
    # the report says the training command once, as the prediction's
    assert _report(out / "predicted_label.txt", tmp_path / "r") == 0
    page = _page(tmp_path / "r")
    assert ("<th>training command</th><td>the prediction command (run)"
            "</td>") in page
    assert page.count(model["training"]["command"]) == 1


def test_a_stale_record_is_refused_then_replaced(model, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / RECORD).write_text('{"stale": true}\n')
    assert predict(model, out) == 2
    assert ("%s exists; pass --overwrite" %
            (out / RECORD)) in capsys.readouterr().err
    assert predict(model, out, "--overwrite") == 0
    assert "--overwrite" in record_of(out)["argv"]
    check_labels(record_of(out), out)
    # an earlier run's probabilities and record go with its labels
    assert predict(model, out, "-op", "--threshold", "0.9", "--overwrite") == 0
    assert record_of(out)["outputs"]["files"][0] == (
        "predicted_probabilities.txt")
    assert predict(model, out, "--overwrite") == 0
    assert sorted(
        p.name for p in out.iterdir()) == ["predicted_label.txt", RECORD]
    record = record_of(out)
    check_labels(record, out)
    assert record["unassigned"]["mode"] == "none"
    # a record marks an earlier prediction: its clusters table goes too
    (out / "predicted_label.txt").unlink()
    (out / "clusters.txt").write_text("stale\n")
    assert predict(model, out, "--overwrite") == 0
    assert not (out / "clusters.txt").exists()


def test_a_failed_prediction_leaves_no_record(model, tmp_path, monkeypatch):
    from deepchem_actinn.errors import ACTINNInputError
    out = tmp_path / "out"
    assert predict(model, out, "--threshold", "0.9") == 0
    kept = {p.name: p.read_bytes() for p in out.iterdir()}
    real = ACTINNAnnotator.iter_predict

    def fails_after_one_chunk(self, *args, **kwargs):
        for n, result in enumerate(real(self, *args, **kwargs)):
            if n:
                raise ACTINNInputError("the disk went away")
            yield result

    monkeypatch.setattr(ACTINNAnnotator, "iter_predict", fails_after_one_chunk)
    for target in (tmp_path / "new", out):
        assert predict(model, target, "--chunk-size", "300", "--overwrite") == 2
    assert not (tmp_path / "new").exists()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == kept
    check_labels(record_of(out), out)


def _report(predictions, out, *flags):
    return main([
        "report", "-p",
        str(predictions), "-o",
        str(out), "-q", "--threads", "1", *flags
    ])


def _page(directory):
    import html
    return html.unescape((directory / "report.html").read_text("utf-8"))


def test_report_shows_the_records_settings(model, tmp_path, capsys,
                                           clusters_and_hierarchy):
    out = tmp_path / "cut"
    assert predict(model, out, "--threshold", "0.9") == 0
    marked = record_of(out)["unassigned"]["cells"]
    assert _report(out / "predicted_label.txt", tmp_path / "r1") == 0
    page = _page(tmp_path / "r1")
    assert ("<th>prediction</th><td>actinn predict, deepchem-actinn %s, " %
            __version__) in page
    assert "<th>prediction command</th><td>%s (in %s)</td>" % (
        record_of(out)["command"], os.getcwd()) in page
    assert ("<th>query</th><td>%s: 1,000 cells (actinn_h5)</td>" %
            PATHS["test"]) in page
    assert ("<th>model</th><td>%s: 1 network and a logistic regression "
            "(weight 0.5)</td>" % model) in page
    assert "<th>training command</th><td>actinn train " in page
    assert ("<th>Unassigned rule</th><td>a confidence threshold of 0.9 "
            "(--threshold): %d cells Unassigned</td>" % marked) in page
    # the threshold reaches the page: its card and its note
    assert "Confidence threshold" in page
    assert "below the threshold (0.90)" in page
    # the vote and the hierarchy, and -m's own model lines instead
    clusters, hierarchy = clusters_and_hierarchy(model)
    assert predict(model, tmp_path / "vote",
                   "--unassigned", "--majority-voting", "--over-clustering",
                   str(clusters), "--hierarchy", str(hierarchy)) == 0
    assert _report(tmp_path / "vote" / "predicted_label.txt", tmp_path / "r2",
                   "-m", str(model)) == 0
    page = _page(tmp_path / "r2")
    assert ("<th>majority voting</th><td>over the clusters of %s; a cell "
            "takes its cluster's type at a probability of at least 0.2"
            "</td>" % clusters) in page
    assert ("<th>hierarchy</th><td>%s: a parent type where the top two "
            "types differ by under 0.2</td>" % hierarchy) in page
    assert "<th>Unassigned rule</th><td>the novelty rule (--unassigned" in page
    assert "model of the prediction" not in page  # -m is the same model
    assert "Confidence threshold" not in page
    assert "prediction.json" not in capsys.readouterr().err


def test_report_warns_about_a_record_it_cannot_use(model, tmp_path, capsys):
    out = tmp_path / "out"
    assert predict(model, out) == 0
    labels = out / "predicted_label.txt"
    good = (out / RECORD).read_text()
    other = tmp_path / "other"
    assert predict(model, other, "--threshold", "0.9") == 0
    broken = {
        "not json": ("{not json", "cannot read this prediction record"),
        "another version": (good.replace('"format_version": 1',
                                         '"format_version": 99'),
                            "format version 99; this deepchem-actinn reads "
                            "version 1"),
        "another run's": (
            (other / RECORD).read_text(), "is not the record of %s" % labels),
    }
    for n, (text, words) in enumerate(broken.values()):
        (out / RECORD).write_text(text)
        report = tmp_path / ("r%d" % n)
        assert _report(labels, report) == 0
        err = capsys.readouterr().err
        assert str(out / RECORD) in err and words in err, err
        assert err.rstrip().endswith("the report leaves it out")
        assert "prediction command" not in _page(report)
    # a threshold no prediction takes: the record is damaged
    cut = json.loads((other / RECORD).read_text())
    cut["unassigned"]["threshold"] = 7
    (other / RECORD).write_text(json.dumps(cut))
    assert _report(other / "predicted_label.txt", tmp_path / "seven") == 0
    assert ("%s is damaged (unassigned.threshold: the number 7, where a "
            "number in [0, 1] is expected); the report leaves it out" %
            (other / RECORD)) in capsys.readouterr().err
    # a record that is valid JSON but not usable: still a warning
    record = json.loads(good)
    del record["unassigned"]
    (out / RECORD).write_text(json.dumps(record))
    assert _report(labels, tmp_path / "missing_key") == 0
    err = capsys.readouterr().err
    assert "%s is damaged (unassigned: missing)" % (out / RECORD) in err
    # predictions without a record (the original ACTINN's): no word of it
    (out / RECORD).unlink()
    assert _report(labels, tmp_path / "none") == 0
    assert capsys.readouterr().err == ""


def test_report_names_the_model_that_made_the_labels(model, tmp_path, capsys,
                                                     small_reference):
    """-m naming the directory the record names, but a model trained
    there since (other weights): the page names both, with a warning."""
    import shutil
    again = tmp_path / "model"
    shutil.copytree(model, again)
    out = tmp_path / "out"
    assert predict(again, out) == 0
    assert main([
        "train", *small_reference, "-m",
        str(again), "--overwrite", "-ne", "1", "--networks", "1", "-q",
        "--device", "cpu"
    ]) == 0
    capsys.readouterr()
    assert _report(out / "predicted_label.txt", tmp_path / "r", "-m",
                   str(again)) == 0
    page = _page(tmp_path / "r")
    assert ("<th>model of the prediction</th><td>%s: 1 network and a "
            "logistic regression (weight 0.5) (not the model -m names: their "
            "weights differ)</td>" % again) in page
    err = capsys.readouterr().err
    assert "the labels were made by another model than -m %s" % again in err


def test_an_input_among_the_outputs_is_refused(model, tmp_path, capsys,
                                               clusters_and_hierarchy):
    """--over-clustering inside -o, where the vote writes its clusters.txt:
    refused before any work, the file kept."""
    clusters, _ = clusters_and_hierarchy(model)
    out = tmp_path / "out"
    out.mkdir()
    inside = out / "clusters.txt"
    inside.write_bytes(clusters.read_bytes())
    assert predict(model, out, "--majority-voting", "--over-clustering",
                   str(inside), "--overwrite") == 2
    assert ("--over-clustering names a file this prediction writes into %s" %
            out) in capsys.readouterr().err
    assert inside.read_bytes() == clusters.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["clusters.txt"]


@pytest.mark.parametrize("command", ["predict", "run"])
def test_a_query_among_the_outputs_is_refused(model, tmp_path, capsys, command):
    """The query (-ts) saved in -o as predicted_label.txt: --overwrite
    replaced it with the labels, the counts lost; refused before any
    work, the file kept."""
    out = tmp_path / "out"
    out.mkdir()
    inside = out / "predicted_label.txt"
    shutil.copy(PATHS["test"], inside)
    given = ["predict", "-m", str(model)
            ] if command == "predict" else ["run", *TRAIN, *QUICK]
    assert main([
        *given, "-ts",
        str(inside), "-o",
        str(out), "--overwrite", "--device", "cpu", "-q"
    ]) == 2
    assert capsys.readouterr().err == (
        "actinn %s: error: %s: -ts names a file this prediction writes into "
        "%s; move it out of the output directory, or write elsewhere (-o)\n" %
        (command, inside, out))
    assert sha256(inside) == sha256(PATHS["test"])
    assert sorted(p.name for p in out.iterdir()) == ["predicted_label.txt"]


@pytest.fixture(scope="module")
def scanpy_query(tmp_path_factory):
    """The bundled test set as scanpy leaves it: X log-normalised, the
    counts in ``layers['counts']``."""
    import scipy.sparse as sp

    from deepchem_actinn.io import read
    query = read(PATHS["test"], upper_case_genes=False)
    counts = sp.csr_matrix(query.X)
    query.X = counts.log1p()
    query.layers["counts"] = counts
    path = tmp_path_factory.mktemp("scanpy_query") / "q.h5ad"
    query.write_h5ad(path)
    return path


@pytest.mark.parametrize("mode", ["chunks", "whole", "dask", "named"])
def test_an_h5ad_query_records_the_matrix_read(model, tmp_path, scanpy_query,
                                               clusters_and_hierarchy,
                                               matrix_looks, capsys, mode):
    """Left to choose, the reader takes an h5ad query's counts from
    layers['counts'] where X holds log-normalised values: the record and
    the report say which matrix was read, on every reading path, from the
    read itself (the choice said once; no look at the file for the record,
    no logger's level touched); ``--test-layer`` names it."""
    flags = {
        "chunks": [],
        "named": ["--test-layer", "counts"],
        "whole": [
            "--majority-voting", "--over-clustering",
            str(clusters_and_hierarchy(model)[0])
        ],
    }.get(mode, [])
    out = tmp_path / "out"
    argv = [
        "predict", "-m",
        str(model), "-ts",
        str(scanpy_query), "-o",
        str(out), "--device", "cpu", *flags
    ]
    if mode == "dask":
        distributed = pytest.importorskip("distributed")
        with distributed.LocalCluster(n_workers=1,
                                      processes=False,
                                      threads_per_worker=1,
                                      dashboard_address=None) as cluster:
            assert main(argv + ["--scheduler", cluster.scheduler_address]) == 0
    else:
        assert main(argv) == 0
    record = record_of(out)
    assert record["query"]["layer"] == ("counts" if mode == "named" else None)
    assert record["query"]["matrix"] == "layers['counts']"
    assert matrix_looks["levels"] == []
    # the query's check before any work looks once (check_query_counts),
    # the read once more (in chunks: to settle the matrix every chunk
    # reads; whole: for the genes as the file spells them); the record
    # itself takes no look (it once took one more)
    looks = {"chunks": 2, "dask": 2, "whole": 2, "named": 0}
    assert matrix_looks["choices"] == looks[mode]
    said = "reading the raw counts from layers['counts'] instead"
    assert capsys.readouterr().err.count(said) == (mode != "named")
    assert _report(out / "predicted_label.txt", tmp_path / "r") == 0
    assert ("1,000 cells (h5ad, layers['counts'])" in _page(tmp_path / "r"))


def test_a_query_stored_by_columns_records_the_matrix_read(
        model, tmp_path, scanpy_query, capsys):
    """An h5ad query stored by columns (CSC), read whole on each pass: the
    matrix is chosen once all the same, said once, and recorded."""
    import anndata
    import scipy.sparse as sp
    query = anndata.read_h5ad(scanpy_query)
    query.X = sp.csc_matrix(query.X)
    query.layers["counts"] = sp.csc_matrix(query.layers["counts"])
    query.write_h5ad(tmp_path / "csc.h5ad")
    out = tmp_path / "out"
    assert main([
        "predict", "-m",
        str(model), "-ts",
        str(tmp_path / "csc.h5ad"), "-o",
        str(out), "--device", "cpu"
    ]) == 0
    assert record_of(out)["query"]["matrix"] == "layers['counts']"
    assert capsys.readouterr().err.count(
        "reading the raw counts from layers['counts'] instead") == 1


def test_demo_records_its_prediction_and_report_reads_it(tmp_path, capsys):
    """``actinn demo`` writes the record of what it did (the bundled test
    set, read whole; the annotator it trained, saved nowhere; no
    Unassigned rule), shows it on its page as ``actinn report`` does, said
    once; ``actinn report`` on its directory reads it without a warning."""
    import html
    out = tmp_path / "demo"
    argv = [
        "demo", "-o",
        str(out), "--networks", "1", "-ne", "1", "--threads", "1", "--device",
        "cpu", "-q"
    ]
    assert main(argv) == 0
    assert {
        "predicted_label.txt", "predicted_probabilities.txt", RECORD,
        "report.html"
    } <= {p.name for p in out.iterdir()}
    record = record_of(out)
    check_labels(record, out)
    assert record["argv"] == argv
    assert record["command"] == shlex.join(["actinn"] + argv)
    assert record["device"] == "cpu"
    assert record["query"] == BUNDLED_QUERY
    assert record["reading"] == {
        "mode": "whole",
        "chunk_size": None,
        "scheduler": None
    }
    model = record["model"]
    assert model["directory"] is None and model["absolute"] is None
    assert model["trained_in_this_run"] is True
    assert model["model"] == "1 network and a logistic regression (weight 0.5)"
    assert len(model["fingerprint"]) == 64
    assert model["training"]["command"] == record["command"]
    assert model["training"]["reference"]["file"] == str(PATHS["train"])
    n_genes = 1921  # the bundled training set's, past the gene filter
    assert_plain_run(record, n_genes)
    shown = [
        "<th>prediction command</th><td>%s (in %s)</td>" %
        (record["command"], os.getcwd()),
        "<th>query</th><td>%s: 1,000 cells (actinn_h5)</td>" % PATHS["test"],
        "<th>model</th><td>trained by this actinn demo (not saved): 1 "
        "network and a logistic regression (weight 0.5)</td>",
        "<th>training command</th><td>the prediction command (demo)</td>",
        "<th>genes</th><td>{0:,} of the model's {0:,} matched by the "
        "query's gene names</td>".format(n_genes),
        "<th>Unassigned rule</th><td>none (actinn demo marks no cell "
        "Unassigned)</td>",
    ]
    page = html.unescape((out / "report.html").read_text("utf-8"))
    for line in shown:
        assert line in page, line
    assert page.count(record["command"]) == 1  # not again as the training's
    assert "genes used" not in page  # the genes line says it
    assert "<th>epochs (best), per network</th><td>1 (1)</td>" in page
    capsys.readouterr()
    assert _report(out / "predicted_label.txt", tmp_path / "r") == 0
    assert capsys.readouterr().err == ""
    page = _page(tmp_path / "r")
    for line in shown:
        assert line in page, line
