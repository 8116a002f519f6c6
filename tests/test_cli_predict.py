"""``actinn predict`` / ``run`` / ``train`` flags: the summary and its
warnings, --labelled-only, --device, --scheduler, the voting flags, only
the main process writing; ``sample-data`` and ``report --query``."""
import re
import shlex
import sys

import anndata
import numpy as np
import pandas as pd
import pytest

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.cli import build_parser, main
from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.hierarchy import BUNDLED_HIERARCHY
from deepchem_actinn.datasets import (load_tabula_muris_sample,
                                      tabula_muris_sample_paths)

pytestmark = pytest.mark.torch

PATHS = tabula_muris_sample_paths()
TRAIN = ["-trs", str(PATHS["train"]), "-trl", str(PATHS["train_labels"])]
QUICK = ["-ne", "2", "--networks", "1", "--seed", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    assert main(["train", *TRAIN, "-m", str(root / "model"), *QUICK, "-q"]) == 0
    return root / "model"


def predict(model, query, out, *flags):
    return main([
        "predict", "-m",
        str(model), "-ts",
        str(query), "-o",
        str(out), "--device", "cpu", *flags
    ])


def test_model_keeps_the_references_spelling(model):
    from deepchem_actinn.io import read_var
    genes = ACTINNAnnotator.load(model, device="cpu").genes_
    spelled = set(read_var(PATHS["train"], upper_case_genes=False).index)
    assert set(genes) <= spelled
    assert "Cd24a" in spelled and "CD24A" not in spelled
    assert any(g != g.upper() for g in genes)


def test_summary_names_cells_unassigned_genes_and_outputs(
        model, tmp_path, capsys):
    assert predict(model, PATHS["test"], tmp_path / "out", "--unassigned") == 0
    err = capsys.readouterr().err
    labels = pd.read_csv(tmp_path / "out" / "predicted_label.txt", sep="\t")
    share = 100 * (labels["celltype"] == "Unassigned").mean()
    n_genes = len(ACTINNAnnotator.load(model, device="cpu").genes_)
    assert "annotated 1000 cells on cpu: " in err
    assert "; %.1f %% Unassigned" % share in err
    assert ("genes matched by the query's gene names: all of the model's %d "
            "found" % n_genes) in err
    assert "var_names" not in err and "missing" not in err
    assert "wrote %s" % (tmp_path / "out" / "predicted_label.txt") in err
    assert "another species" not in err
    # Why cells are Unassigned: unsure between types, or far from all
    unassigned = labels["celltype"] == "Unassigned"
    unsure = int((unassigned & (labels["confidence"] < 0.5)).sum())
    assert (
        "Unassigned: %d cell%s whose likeliest type has under 0.5 "
        "probability, %d further from every type than the reference's "
        "own cells; the rule's distances were divided by 1.00 for this "
        "query" %
        (unsure, "" if unsure == 1 else "s", unassigned.sum() - unsure)) in err
    # -q: no summary at all
    assert predict(model, PATHS["test"], tmp_path / "q", "-q") == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("rule",
                         [[], ["--majority-voting"],
                          ["--hierarchy", str(BUNDLED_HIERARCHY)]])
def test_summary_says_nothing_of_unassigned_without_a_rule(
        model, tmp_path, capsys, rule):
    assert predict(model, PATHS["test"], tmp_path / "out", *rule) == 0
    err = capsys.readouterr().err
    labels = pd.read_csv(tmp_path / "out" / "predicted_label.txt", sep="\t")
    assert "Unassigned" not in set(labels["celltype"])
    line = next(x for x in err.splitlines() if "annotated 1000 cells" in x)
    assert "Unassigned" not in err, line
    counts = labels["celltype"].value_counts()
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:6]
    assert line.endswith("annotated 1000 cells on cpu: " +
                         ", ".join("%s %d" % kv for kv in top) +
                         ("" if len(counts) <= 6 else ", ... (%d labels)" %
                          len(counts)))


def test_summary_gives_the_share_under_a_threshold(model, tmp_path, capsys):
    assert predict(model, PATHS["test"], tmp_path / "out", "--threshold",
                   "0.9") == 0
    err = capsys.readouterr().err
    labels = pd.read_csv(tmp_path / "out" / "predicted_label.txt", sep="\t")
    share = 100 * (labels["celltype"] == "Unassigned").mean()
    assert share > 0
    assert "; %.1f %% Unassigned\n" % share in err


def test_human_style_query_on_mouse_model_warns(model, tmp_path, capsys):
    _, test = load_tabula_muris_sample(upper_case_genes=False)
    human = anndata.AnnData(
        test.X.copy(),
        obs=pd.DataFrame(index=test.obs_names),
        var=pd.DataFrame(index=[g.upper() for g in test.var_names]))
    human.write_h5ad(tmp_path / "human.h5ad")
    assert predict(model, tmp_path / "human.h5ad", tmp_path / "out", "-q") == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # a warning survives -q
    assert ("the model's genes are written like Cd3e (mouse, rat), the "
            "query's like CD3E (human): is the query from another species?"
            in err)


def test_actinn_format_output_raises_no_species_alarm(model, tmp_path, capsys):
    # actinn format upper-cases every gene (as the original ACTINN's
    # actinn_format.py): the query's case then says nothing of its species
    _, test = load_tabula_muris_sample(upper_case_genes=False)
    test[:200].copy().write_h5ad(tmp_path / "mouse.h5ad")
    assert main([
        "format", "-i",
        str(tmp_path / "mouse.h5ad"), "-o",
        str(tmp_path / "formatted"), "-q"
    ]) == 0
    assert predict(model, tmp_path / "formatted.h5", tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "annotated 200 cells" in err
    assert "another species" not in err


def test_under_half_of_the_genes_warns(tmp_path, capsys):
    train, test = load_tabula_muris_sample()
    annotator = ACTINNAnnotator(max_epochs=1,
                                n_networks=1,
                                min_overlap=0.2,
                                device="cpu").fit(train.X, train.var_names,
                                                  train.obs["cell_type"])
    annotator.save(tmp_path / "model")
    keep = set(annotator.genes_[:int(0.4 * len(annotator.genes_))])
    columns = [i for i, g in enumerate(test.var_names) if g in keep]
    test[:, columns].copy().write_h5ad(tmp_path / "few.h5ad")
    assert predict(tmp_path / "model", tmp_path / "few.h5ad", tmp_path / "out",
                   "-q") == 0
    err = capsys.readouterr().err
    # said once, with the genes missing (not again in the summary's words)
    n = len(annotator.genes_)
    assert err.splitlines() == [
        "actinn: %d of the model's %d genes are missing from the query and "
        "set to zero (it shares only %d of them, under half: expect poor "
        "labels), e.g. %s" % (n - len(columns), n, len(columns),
                              examples(annotator.genes_[len(keep):], 3))
    ]


def test_few_shared_genes_are_shown_as_spelled(model, tmp_path, capsys):
    """A query of made-up genes and a few of the model's: the refusal shows
    both sides' names as the files spell them (not the query's upper-cased,
    which reads as another species), and does not call the query's other
    genes foreign: some may be genes the model's filter left out."""
    genes = list(ACTINNAnnotator.load(model, device="cpu").genes_)
    fake = ["Fake%d" % i for i in range(300)]
    rng = np.random.default_rng(0)
    query = anndata.AnnData(
        rng.integers(0, 5, (30, 320)).astype(np.float32),
        obs=pd.DataFrame(index=["c%d" % i for i in range(30)]),
        var=pd.DataFrame(index=fake + genes[:20]))
    query.write_h5ad(tmp_path / "few.h5ad")
    assert predict(model, tmp_path / "few.h5ad", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert ("needed). The model's genes "
            "the query lacks look like %s, %s, %s, ... (%d in all); the "
            "query's genes not among the model's, like Fake0, Fake1, Fake2, "
            "... (300 in all), may include genes the model's reference "
            "measured but its gene filter left out. Names are compared "
            "ignoring case: check the species and the kind of gene "
            "identifier\n" % (*genes[20:23], len(genes) - 20)) in err


@pytest.mark.parametrize("source", [[], ["--out-of-core"]],
                         ids=["in_memory", "from_disk"])
def test_labelled_only(tmp_path, capsys, source):
    labels = pd.read_csv(PATHS["train_labels"], sep="\t", header=None)
    partial = tmp_path / "partial.txt"
    labels.iloc[:3000].to_csv(partial, sep="\t", header=False, index=False)
    args = [
        "train", "-trs",
        str(PATHS["train"]), "-trl",
        str(partial), *QUICK, *source
    ]
    assert main(args + ["-m", str(tmp_path / "refused"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "%s: 1000 of 4000 cells have no label" % partial in err
    assert err.strip().endswith(
        "(pass --labelled-only to train on the labelled cells alone)")
    assert "CLI:" not in err  # the command line's words
    assert not (tmp_path / "refused").exists()
    assert main(args + ["-m", str(tmp_path / "model"), "--labelled-only"]) == 0
    err = capsys.readouterr().err
    assert ("%s: 1000 of 4000 cells have no label and were left out "
            "(--labelled-only); training on 3000" % partial) in err
    fitted = ACTINNAnnotator.load(tmp_path / "model", device="cpu")
    assert fitted.n_reference_cells_ == 3000


@pytest.mark.parametrize("source", [[], ["--out-of-core"]],
                         ids=["in_memory", "from_disk"])
def test_labels_from_a_metadata_tables_column(tmp_path, capsys, source):
    labels = pd.read_csv(PATHS["train_labels"], sep="\t", header=None)
    table = tmp_path / "annotations_facs.csv"
    pd.DataFrame({
        "cell": labels[0],
        "mouse.id": "3_8_M",
        "cell_ontology_class": [""] * 10 + list(labels[1][10:])
    }).to_csv(table, index=False)
    args = ["train", "-trs", str(PATHS["train"]), "-trl", str(table), *QUICK]
    assert main(args + ["-m", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert ("name the column of cell types (--labels-column NAME)" in err and
            "CLI:" not in err)
    args += ["--labels-column", "cell_ontology_class", *source]
    assert main(args + ["-m", str(tmp_path / "refused")]) == 2
    assert ("%s column 'cell_ontology_class': 10 of 4000 cells have no label" %
            table) in capsys.readouterr().err
    assert main(args + ["-m", str(tmp_path / "model"), "--labelled-only"]) == 0
    assert ("%s column 'cell_ontology_class': 10 of 4000 cells have no label "
            "and were left out" % table) in capsys.readouterr().err
    fitted = ACTINNAnnotator.load(tmp_path / "model", device="cpu")
    assert fitted.n_reference_cells_ == 3990


def test_device_flag_reaches_the_annotator(model, monkeypatch, tmp_path):
    import torch

    seen = []
    load = ACTINNAnnotator.load.__func__

    def spy(cls, path, device=None):
        seen.append(device)
        return load(cls, path, device)

    monkeypatch.setattr(ACTINNAnnotator, "load", classmethod(spy))
    assert predict(model, PATHS["test"], tmp_path / "out", "-q") == 0
    assert seen == ["cpu"]
    if not torch.cuda.is_available():
        assert main([
            "predict", "-m",
            str(model), "-ts",
            str(PATHS["test"]), "-o",
            str(tmp_path / "gpu"), "--device", "cuda", "-q"
        ]) == 2


def test_only_the_main_process_writes(monkeypatch, tmp_path):
    import deepchem_actinn.cli.predict as predict_module
    import deepchem_actinn.cli.train as train_module
    monkeypatch.setattr(train_module, "is_main_process", lambda: False)
    monkeypatch.setattr(predict_module, "is_main_process", lambda: False)
    assert main(["train", *TRAIN, "-m",
                 str(tmp_path / "model"), *QUICK, "-q"]) == 0
    assert main([
        "run", *TRAIN, "-ts",
        str(PATHS["test"]), "-o",
        str(tmp_path / "out"), *QUICK, "-q"
    ]) == 0
    assert list(tmp_path.iterdir()) == []


def test_scheduler_writes_the_same_files_as_a_plain_run(model, tmp_path):
    distributed = pytest.importorskip("distributed")
    # with --unassigned too: the same labels and unassigned_reason column
    runs = {"": [], "rule": ["--unassigned"]}
    for key, flags in runs.items():
        assert predict(model, PATHS["test"], tmp_path / ("plain" + key), "-op",
                       "--chunk-size", "300", "-q", *flags) == 0
    with distributed.LocalCluster(n_workers=2,
                                  processes=True,
                                  threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        for key, flags in runs.items():
            assert predict(model, PATHS["test"], tmp_path / ("dask" + key),
                           "-op", "--chunk-size", "300", "--scheduler",
                           cluster.scheduler_address, "-q", *flags) == 0
    for key in runs:
        for name in ("predicted_label.txt", "predicted_probabilities.txt"):
            assert ((tmp_path / ("dask" + key) /
                     name).read_bytes() == (tmp_path / ("plain" + key) /
                                            name).read_bytes())
    header = (tmp_path / "daskrule" / "predicted_label.txt").read_text().split(
        "\n", 1)[0]
    assert header.endswith("\tunassigned_reason")


def test_scheduler_errors_name_the_scheduler_or_the_options(
        model, tmp_path, capsys):
    pytest.importorskip("distributed")
    assert predict(model, PATHS["test"], tmp_path / "out", "--scheduler",
                   "foo://127.0.0.1:1", "-q") == 2
    err = capsys.readouterr().err
    assert err.startswith("actinn predict: error: --scheduler "
                          "foo://127.0.0.1:1: not a Dask scheduler address "
                          "(unknown address scheme 'foo'")
    assert predict(model, PATHS["test"], tmp_path / "out", "--scheduler",
                   "tcp://127.0.0.1:1", "--remove-ambient", "-q") == 2
    assert ("--scheduler annotates chunks on a cluster, and --majority-voting,"
            " --hierarchy and --remove-ambient need the whole query in one "
            "process: leave out --scheduler, or those"
            in capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_scheduler_without_dask_names_the_extra(model, tmp_path, capsys,
                                                monkeypatch):
    """Without dask.distributed installed, --scheduler says which extra
    brings it, as the library's own functions do."""
    monkeypatch.setitem(sys.modules, "distributed", None)  # not installed
    assert predict(model, PATHS["test"], tmp_path / "out", "--scheduler",
                   "tcp://127.0.0.1:8786", "-q") == 2
    err = capsys.readouterr().err
    assert err == ("actinn predict: error: --scheduler tcp://127.0.0.1:8786: "
                   "Dask prediction needs dask.distributed: install the "
                   "distributed extra: pip install "
                   "\"deepchem-actinn[distributed]\" (from a clone: pip "
                   "install \".[distributed]\")\n")
    assert not (tmp_path / "out").exists()


def test_a_cluster_that_stops_answering_is_one_line(model, tmp_path, capsys,
                                                    monkeypatch):
    distributed = pytest.importorskip("distributed")
    from distributed.client import FutureCancelledError

    import deepchem_actinn.distributed as dask_part

    class Client:  # a scheduler that answers at first

        def __init__(self, address, timeout):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def stopped(*args, **kwargs):
        raise FutureCancelledError("predict-chunk-1",
                                   "scheduler-connection-lost")
        yield

    monkeypatch.setattr(distributed, "Client", Client)
    monkeypatch.setattr(dask_part, "predict_file_dask", stopped)
    assert predict(model, PATHS["test"], tmp_path / "out", "--scheduler",
                   "tcp://127.0.0.1:8786", "-q") == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "actinn predict: error: --scheduler tcp://127.0.0.1:8786: the Dask "
        "cluster stopped answering during the prediction "
        "(FutureCancelledError: ")
    assert err.rstrip().endswith("; nothing was written")
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_voting_and_hierarchy_columns(model, tmp_path, clusters_and_hierarchy):
    clusters, hierarchy = clusters_and_hierarchy(model)
    _, test = load_tabula_muris_sample()
    types = ACTINNAnnotator.load(model, device="cpu").type_names
    assert predict(model, PATHS["test"], tmp_path / "out", "-q",
                   "--majority-voting", "--over-clustering", str(clusters),
                   "--hierarchy", str(hierarchy)) == 0
    labels = pd.read_csv(tmp_path / "out" / "predicted_label.txt", sep="\t")
    assert list(labels.columns) == [
        "cellname", "celltype", "confidence", "over_clustering",
        "majority_voting", "level"
    ]
    # the label's probability: a parent's is its types' sum
    everything = tmp_path / "everything.tsv"
    everything.write_text("".join("%s\tcell\n" % t for t in types))
    assert predict(model, PATHS["test"], tmp_path / "tree", "-q", "--hierarchy",
                   str(everything)) == 0
    tree = pd.read_csv(tmp_path / "tree" / "predicted_label.txt", sep="\t")
    own = ACTINNAnnotator.load(model,
                               device="cpu").predict(test.X,
                                                     test.var_names,
                                                     hierarchy=str(everything))
    parent = tree["level"].to_numpy() == "parent"
    assert parent.any()
    np.testing.assert_allclose(tree["confidence"][parent], 1.0, atol=1e-5)
    np.testing.assert_allclose(tree["confidence"], own.confidence, atol=1e-6)
    assert labels["over_clustering"].astype(str).tolist() == [
        str(i % 4) for i in range(test.n_obs)
    ]
    # the default vote (least probability 0.2), as the annotator votes
    expected = ACTINNAnnotator.load(model, device="cpu").predict(
        test.X,
        test.var_names,
        majority_voting=True,
        over_clustering=np.arange(test.n_obs) % 4,
        hierarchy=str(hierarchy))
    assert labels["majority_voting"].tolist() == list(
        expected.majority_cell_types)
    table = pd.read_csv(tmp_path / "out" / "clusters.txt", sep="\t")
    assert len(table) == 4
    assert "kept_own" in table.columns
    # --vote-min-probability 0: every cell takes its cluster's majority
    assert predict(model, PATHS["test"], tmp_path / "plain_vote", "-q",
                   "--majority-voting", "--over-clustering", str(clusters),
                   "--vote-min-probability", "0") == 0
    voted = pd.read_csv(tmp_path / "plain_vote" / "predicted_label.txt",
                        sep="\t")
    assert (voted.groupby("over_clustering")["majority_voting"].nunique() == 1
           ).all()
    assert (voted["majority_voting"] != labels["majority_voting"]).any()


def test_report_use_as_prediction_reports_the_voted_labels(
        model, tmp_path, capsys):
    _, test = load_tabula_muris_sample()
    clusters = tmp_path / "clusters.tsv"
    pd.Series(np.arange(test.n_obs) % 4,
              index=test.obs_names).to_csv(clusters, sep="\t", header=False)
    assert predict(model, PATHS["test"], tmp_path / "out",
                   "-q", "-op", "--majority-voting", "--over-clustering",
                   str(clusters), "--vote-min-probability", "0") == 0
    labels = pd.read_csv(tmp_path / "out" / "predicted_label.txt", sep="\t")
    predictions = str(tmp_path / "out" / "predicted_label.txt")

    def card(page, name):
        value = page.split('<div class="label">%s</div>' % name)[0]
        return value.rsplit('<div class="value">', 1)[1].split("<")[0]

    for column, out in (("celltype", "own"), ("majority_voting", "voted")):
        assert main([
            "report", "-p", predictions, "-l",
            str(PATHS["test_labels"]), "--use-as-prediction", column, "-o",
            str(tmp_path / out), "-q"
        ]) == 0
        page = (tmp_path / out / "report.html").read_text()
        assert card(page, "Predicted types") == str(labels[column].nunique())
        truth = pd.read_csv(PATHS["test_labels"],
                            sep="\t",
                            header=None,
                            index_col=0)[1].reindex(labels["cellname"])
        accuracy = (labels[column].to_numpy() == truth.to_numpy()).mean()
        assert card(page, "Accuracy") == "%.1f%%" % (100 * accuracy)
        assert (("the majority_voting column of %s" % predictions)
                in page) == (column == "majority_voting")
    # four clusters, every cell voted: at most four types
    assert labels["majority_voting"].nunique(
    ) <= 4 < labels["celltype"].nunique()
    # no vote in the file: the error says how to get one
    assert predict(model, PATHS["test"], tmp_path / "plain", "-q", "-op") == 0
    capsys.readouterr()
    assert main([
        "report", "-p",
        str(tmp_path / "plain" / "predicted_label.txt"), "--use-as-prediction",
        "majority_voting", "-o",
        str(tmp_path / "r"), "-q"
    ]) == 2
    err = capsys.readouterr().err
    assert (
        "has no majority_voting column (its columns: cellname, "
        "celltype, confidence): predict and run write it with --majority-voting"
    ) in err
    assert not (tmp_path / "r").exists()


def test_report_takes_a_parent_that_is_itself_a_reference_type(model, tmp_path):
    # T cell is a reference type and, here, the parent of B and NK cells:
    # a cell given it as a parent holds its children's summed probability,
    # not T cell's own as the most probable; the report must accept that
    hierarchy = tmp_path / "hierarchy.tsv"
    hierarchy.write_text("B cell\tT cell\nNK cell\tT cell\n")
    assert predict(model, PATHS["test"], tmp_path / "out", "-q", "-op",
                   "--hierarchy", str(hierarchy)) == 0
    labels = pd.read_csv(tmp_path / "out" / "predicted_label.txt", sep="\t")
    proba = pd.read_csv(tmp_path / "out" / "predicted_probabilities.txt",
                        sep="\t",
                        index_col=0)[labels["cellname"]]
    as_parent = (labels["level"] == "parent") & (labels["celltype"] == "T cell")
    top = proba.idxmax(axis=0).to_numpy()
    assert (as_parent & (top != "T cell")).any()
    assert main([
        "report", "-p",
        str(tmp_path / "out" / "predicted_label.txt"), "-o",
        str(tmp_path / "report"), "-q"
    ]) == 0


def test_sample_data_copies_the_files_and_prints_runnable_commands(
        tmp_path, capsys):
    target = tmp_path / "my sample"  # printed paths are quoted
    assert main(["sample-data", str(target)]) == 0
    out = capsys.readouterr().out
    names = sorted(p.name for p in target.iterdir())
    copied = list(PATHS.values()) + [BUNDLED_HIERARCHY]
    assert names == sorted(p.name for p in copied)
    for path in copied:
        assert (target / path.name).read_bytes() == path.read_bytes()
    commands = [
        shlex.split(line.strip())[1:]
        for line in out.splitlines()
        if line.startswith("  actinn ")
    ]
    assert [c[0] for c in commands] == ["train", "predict", "report", "predict"]
    assert commands[-1][-4:] == [
        "--unassigned", "--hierarchy",
        str(target / "hierarchy.txt"), "--majority-voting"
    ]
    for command in commands:
        build_parser().parse_args(command)  # exits on a bad flag
    assert commands[0][1:3] == ["-trs", str(target / "train_sample.h5")]
    assert main(["sample-data", str(target), "-q"]) == 2


def _readme_quick_start_commands():
    """The ``actinn`` commands of README's Quick start shell block, each
    as its words (continuation lines joined, comments dropped)."""
    from pathlib import Path
    text = (Path(__file__).parents[1] / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```bash\n", 1)[1]
    block = block.split("```", 1)[0].replace("\\\n", " ")
    return [
        shlex.split(line, comments=True)[1:]
        for line in block.splitlines()
        if line.startswith("actinn ")
    ]


def test_sample_data_prints_the_commands_of_readmes_quick_start(
        tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["sample-data", "actinn_sample"]) == 0
    printed = [
        shlex.split(line.strip())[1:]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("  actinn ")
    ]
    readme = [
        c for c in _readme_quick_start_commands() if c[0] != "sample-data"
    ]
    assert printed == readme


def test_report_query_draws_the_umap(model, tmp_path, capsys):
    pytest.importorskip("scanpy")
    assert predict(model, PATHS["test"], tmp_path / "out", "-op", "-q") == 0
    _, test = load_tabula_muris_sample()
    few = tmp_path / "few.h5ad"
    test[:10].copy().write_h5ad(few)
    base = [
        "report", "-p",
        str(tmp_path / "out" / "predicted_label.txt"), "-pr",
        str(tmp_path / "out" / "predicted_probabilities.txt"), "-q"
    ]
    assert main(base + ["--query", str(few), "-o", str(tmp_path / "r0")]) == 2
    assert ("%s: 990 of the 1000 predicted cells are not in it" % few
            in capsys.readouterr().err)
    assert not (tmp_path / "r0").exists()
    assert main(base +
                ["--query",
                 str(PATHS["test"]), "-o",
                 str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "umap.png").exists()


def layouts_said(capsys):
    """The lines of the captured stderr that say a text file's layout."""
    return [
        line for line in capsys.readouterr().err.splitlines()
        if "reading it as" in line
    ]


def test_csv_with_cells_as_rows(model, tmp_path, capsys):
    """CellTypist's layout: detected from the model's genes (predict) or the
    labels' cell ids (train), or forced."""
    _, test = load_tabula_muris_sample()
    frame = pd.DataFrame(
        test.X.toarray() if hasattr(test.X, "toarray") else test.X,
        index=test.obs_names,
        columns=test.var_names)
    frame.to_csv(tmp_path / "cells_by_genes.csv")
    frame.T.to_csv(tmp_path / "genes_by_cells.csv")
    assert predict(model, PATHS["test"], tmp_path / "h5", "-q") == 0
    expected = (tmp_path / "h5" / "predicted_label.txt").read_bytes()
    for name, flags in [("cells_by_genes.csv", []),
                        ("cells_by_genes.csv",
                         ["--test-orientation", "cells_by_genes"]),
                        ("genes_by_cells.csv", [])]:
        out = tmp_path / ("out_%s_%d" % (name, len(flags)))
        assert predict(model, tmp_path / name, out, "-q", *flags) == 0
        assert (out / "predicted_label.txt").read_bytes() == expected
    # the layout is decided, and said, once (not once per reading pass)
    capsys.readouterr()
    assert predict(model, tmp_path / "cells_by_genes.csv", tmp_path / "once",
                   "--chunk-size", "300") == 0
    assert layouts_said(capsys) == [
        "actinn: %s: 0 of the expected genes in the rows, %d in the "
        "columns; reading it as cells by genes" %
        (tmp_path / "cells_by_genes.csv",
         len(ACTINNAnnotator.load(model, device="cpu").genes_))
    ]
    assert predict(model, tmp_path / "cells_by_genes.csv", tmp_path / "bad",
                   "-q", "--test-orientation", "genes_by_cells") == 2
    assert "cells_by_genes.csv" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    labels = tmp_path / "labels.txt"
    test.obs["cell_type"].to_csv(labels, sep="\t", header=False)
    capsys.readouterr()
    assert main([
        "train", "-trs",
        str(tmp_path / "cells_by_genes.csv"), "-trl",
        str(labels), "-m",
        str(tmp_path / "model"), *QUICK
    ]) == 0
    assert layouts_said(capsys) == [
        "actinn: %s: %d of the expected cell ids in the rows, 0 in the "
        "columns; reading it as cells by genes" %
        (tmp_path / "cells_by_genes.csv", test.n_obs)
    ]
    trained = ACTINNAnnotator.load(tmp_path / "model", device="cpu")
    assert trained.n_reference_cells_ == test.n_obs
    assert set(trained.genes_) <= set(test.var_names)
    # from disk, block by block: the same layout, said once, read once
    assert main([
        "train", "-trs",
        str(tmp_path / "cells_by_genes.csv"), "-trl",
        str(labels), "-m",
        str(tmp_path / "from_disk"), *QUICK, "--out-of-core"
    ]) == 0
    err = capsys.readouterr().err
    assert err.count("reading it as cells by genes") == 1, err
    assert err.count("read %d cells x" % test.n_obs) == 1, err
    from_disk = ACTINNAnnotator.load(tmp_path / "from_disk", device="cpu")
    assert from_disk.n_reference_cells_ == test.n_obs
    assert from_disk.genes_ == trained.genes_


def _rescaled(adata, path, log=False):
    """``adata``'s cells as TPM (each cell scaled to a million, each gene by
    its own length-like factor), or log-normalised (log2: the natural
    log1p of these, provably so, is read through its expm1); written to
    ``path``."""
    import scipy.sparse as sp
    X = sp.csr_matrix(adata.X, dtype=np.float64)
    factor = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[1])
    X = X @ sp.diags(factor)
    X = sp.diags(1e6 / np.asarray(X.sum(axis=1)).ravel()) @ X
    if log:
        X.data = np.log2(1 + X.data / 100)
    out = anndata.AnnData(sp.csr_matrix(X, dtype=np.float32),
                          obs=pd.DataFrame(index=adata.obs_names),
                          var=pd.DataFrame(index=adata.var_names))
    out.write_h5ad(path)
    return out


def test_allow_non_integer_annotates_tpm_files(model, tmp_path, capsys):
    """TPM files are refused, pointing at --allow-non-integer; with it,
    each path annotates them as the Python API annotates the same matrix."""
    train, test = load_tabula_muris_sample()
    tpm = _rescaled(test, tmp_path / "tpm.h5ad")
    assert predict(model, tmp_path / "tpm.h5ad", tmp_path / "no", "-q") == 2
    err = capsys.readouterr().err
    assert "tpm.h5ad: X holds non-integer values" in err
    assert "pass --allow-non-integer" in err
    assert not (tmp_path / "no").exists()
    expected = ACTINNAnnotator.load(model, device="cpu").predict(
        tpm.X, tpm.var_names, tpm.obs_names)
    hierarchy = str(PATHS["train"].parent / "hierarchy.txt")
    for name, flags in (("chunks", ["--chunk-size", "300"]),
                        ("whole", ["--hierarchy", hierarchy])):
        out = tmp_path / name
        assert predict(model, tmp_path / "tpm.h5ad", out, "-q", "-op",
                       "--allow-non-integer", *flags) == 0
        proba = pd.read_csv(out / "predicted_probabilities.txt",
                            sep="\t",
                            index_col=0)
        np.testing.assert_allclose(proba.T.to_numpy(),
                                   expected.probabilities,
                                   rtol=1e-5,
                                   atol=1e-6)
    # a TPM reference trains as the same cells' counts do, in memory and
    # from disk
    _rescaled(train, tmp_path / "ref_tpm.h5ad")
    for flags in ([], ["--out-of-core"]):
        folder = tmp_path / ("model_tpm%d" % len(flags))
        assert main([
            "train", "-trs",
            str(tmp_path / "ref_tpm.h5ad"), "-trl",
            str(PATHS["train_labels"]), "-m",
            str(folder), *QUICK, "-q", "--allow-non-integer", *flags
        ]) == 0
        assert len(ACTINNAnnotator.load(folder, device="cpu").genes_) > 1000


@pytest.mark.parametrize(
    "what", ["query", "query whole", "reference", "reference out-of-core"])
def test_allow_non_integer_still_refuses_a_log_scale(model, tmp_path, capsys,
                                                     what):
    train, test = load_tabula_muris_sample()
    path = tmp_path / "logged.h5ad"
    _rescaled(train if what.startswith("reference") else test, path, log=True)
    out = tmp_path / "out"
    if what.startswith("query"):
        flags = ["--hierarchy",
                 str(PATHS["train"].parent /
                     "hierarchy.txt")] if what.endswith("whole") else []
        code = predict(model, path, out, "-q", "--allow-non-integer", *flags)
    else:
        code = main([
            "train", "-trs",
            str(path), "-trl",
            str(PATHS["train_labels"]), "-m",
            str(out), *QUICK, "-q", "--allow-non-integer",
            *(["--out-of-core"] if what.endswith("core") else [])
        ])
    assert code == 2
    err = capsys.readouterr().err
    assert "%s: X holds non-integer values" % path in err
    assert "looks log-normalised" in err
    # not offered for the log values themselves; only, for a whole h5ad,
    # for their expm1 written into a counts layer
    offered = re.search(
        r"; if X is the natural log1p of normalised counts \(an h5ad file "
        r"read whole, by actinn or by anndata.read_h5ad then "
        r"deepchem_actinn.annotate, is taken so where every cell's expm1 "
        r"sums to one total\), its expm1 can stand for them in a file: .*, "
        r"then pass "
        r"--(train|test)-layer counts --allow-non-integer$", err.strip())
    assert "--allow-non-integer" not in (err if offered is None else
                                         err.strip()[:offered.start()])
    assert not out.exists()


def test_report_query_refuses_a_log_scale_with_the_flag(model, tmp_path,
                                                        capsys):
    assert predict(model, PATHS["test"], tmp_path / "out", "-q", "-op") == 0
    _, test = load_tabula_muris_sample()
    _rescaled(test, tmp_path / "logged.h5ad", log=True)
    assert main([
        "report", "-p",
        str(tmp_path / "out" / "predicted_label.txt"), "--query",
        str(tmp_path / "logged.h5ad"), "--allow-non-integer", "-o",
        str(tmp_path / "report"), "-q"
    ]) == 2
    err = capsys.readouterr().err
    assert "%s: X holds non-integer values" % (tmp_path / "logged.h5ad") in err
    assert "looks log-normalised" in err
    assert not (tmp_path / "report").exists()


def test_report_query_draws_the_files_own_umap(model, tmp_path, capsys):
    # a scanpy user's file: X scaled (no counts anywhere) beside a UMAP;
    # the UMAP is what the report needs, taken in the predictions' order
    assert predict(model, PATHS["test"], tmp_path / "out", "-q") == 0
    _, test = load_tabula_muris_sample()
    scaled = anndata.AnnData(np.asarray(test.X.todense()) - 1.0,
                             obs=pd.DataFrame(index=test.obs_names),
                             var=pd.DataFrame(index=test.var_names))
    line = np.arange(test.n_obs, dtype=float)
    scaled.obsm["X_umap"] = np.stack([line, -line], axis=1)
    scaled = scaled[::-1].copy()  # another order than the predictions'
    scaled.write_h5ad(tmp_path / "scaled.h5ad")
    base = [
        "report", "-p",
        str(tmp_path / "out" / "predicted_label.txt"), "--query",
        str(tmp_path / "scaled.h5ad")
    ]
    assert main(base + ["-o", str(tmp_path / "report")]) == 0
    assert "drawing the UMAP of its obsm['X_umap']" in capsys.readouterr().err
    assert (tmp_path / "report" / "umap.png").exists()
    from deepchem_actinn.cli.report import read_query
    ids = list(test.obs_names[:5])
    got = read_query(str(tmp_path / "scaled.h5ad"), None, ids)
    np.testing.assert_array_equal(got.obsm["X_umap"][:, 0], np.arange(5.0))
    # a query lacking predicted cells is said as such, labels asked or not
    scaled[:-3].copy().write_h5ad(tmp_path / "fewer.h5ad")
    scaled.obs["cell_type"] = "T cell"
    assert main(base[:-1] + [
        str(tmp_path / "fewer.h5ad"), "-l", "cell_type", "-o",
        str(tmp_path / "r2")
    ]) == 2
    assert ("fewer.h5ad: 3 of the %d predicted cells are not in it" %
            test.n_obs) in capsys.readouterr().err


@pytest.mark.parametrize("flags,missing", [
    (["--hierarchy", "{d}/hier.txt"], "hier.txt"),
    (["--majority-voting", "--over-clustering", "{d}/cl.txt"], "cl.txt"),
])
def test_a_missing_side_file_fails_before_the_query_is_read(
        model, tmp_path, capsys, monkeypatch, flags, missing):
    """A typo in --hierarchy or --over-clustering is caught before the
    query is read, and worded as every missing input is."""
    flags = [f.format(d=tmp_path) for f in flags]
    assert predict(model, PATHS["test"], tmp_path / "out", *flags) == 2
    err = capsys.readouterr().err
    assert err == "actinn predict: error: %s: no such file or directory\n" % (
        tmp_path / missing)
    # a CSV query's names are not read first either
    import deepchem_actinn.io.text as text

    def unread(*args, **kwargs):
        raise AssertionError("the query was read")

    monkeypatch.setattr(text, "text_orientation", unread)
    csv = tmp_path / "q.csv"
    csv.write_text("gene,c1\nActb,1\n")
    assert predict(model, csv, tmp_path / "out", *flags) == 2
    err = capsys.readouterr().err
    assert err == "actinn predict: error: %s: no such file or directory\n" % (
        tmp_path / missing)
    assert not (tmp_path / "out").exists()


def test_report_names_missing_inputs_as_every_command_does(
        model, tmp_path, capsys):
    assert main(
        ["report", "-p",
         str(tmp_path / "nope.txt"), "-o",
         str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == (
        "actinn report: error: %s: no such file or directory\n" %
        (tmp_path / "nope.txt"))
    assert predict(model, PATHS["test"], tmp_path / "out", "-q") == 0
    assert main([
        "report", "-p",
        str(tmp_path / "out" / "predicted_label.txt"), "-pr",
        str(tmp_path / "proba.txt"), "-o",
        str(tmp_path / "r"), "-q"
    ]) == 2
    assert capsys.readouterr().err == (
        "actinn report: error: %s: no such file or directory\n" %
        (tmp_path / "proba.txt"))


@pytest.mark.parametrize("reading", [[], ["--out-of-core"]],
                         ids=["in_memory", "from_disk"])
def test_train_labels_from_an_obs_column(tmp_path, capsys, reading):
    """-trl names an obs column of an h5ad reference (as CellTypist's
    labels=): the same annotator as from the labels file."""
    train, _ = load_tabula_muris_sample()
    train.write_h5ad(tmp_path / "train.h5ad")
    labels = tmp_path / "labels.txt"
    train.obs["cell_type"].to_csv(labels, sep="\t", header=False)
    base = ["train", "-trs", str(tmp_path / "train.h5ad"), *QUICK, "-q"]
    assert main(base +
                ["-trl", "cell_type", "-m",
                 str(tmp_path / "obs"), *reading]) == 0
    assert main(
        base +
        ["-trl", str(labels), "-m",
         str(tmp_path / "file"), *reading]) == 0
    by_obs = ACTINNAnnotator.load(tmp_path / "obs", device="cpu")
    by_file = ACTINNAnnotator.load(tmp_path / "file", device="cpu")
    assert by_obs.type_names == by_file.type_names
    X = train.X[:200]
    np.testing.assert_array_equal(
        by_obs.predict(X, train.var_names).probabilities,
        by_file.predict(X, train.var_names).probabilities)
    assert main(base + ["-trl", "celltype", "-m", str(tmp_path / "no")]) == 2
    assert ("celltype: no such file or directory, nor a column of %s's obs "
            "(its columns: cell_type)" %
            (tmp_path / "train.h5ad")) in capsys.readouterr().err


def test_report_labels_from_the_query_obs(model, tmp_path, capsys):
    _, test = load_tabula_muris_sample()
    test.write_h5ad(tmp_path / "q.h5ad")
    assert predict(model, tmp_path / "q.h5ad", tmp_path / "out", "-op",
                   "-q") == 0
    report = [
        "report", "-p",
        str(tmp_path / "out" / "predicted_label.txt"), "--query",
        str(tmp_path / "q.h5ad"), "-q"
    ]
    assert main(report + ["-l", "cell_type", "-o", str(tmp_path / "r")]) == 0
    assert main(
        report +
        ["-l", str(PATHS["test_labels"]), "-o",
         str(tmp_path / "f")]) == 0

    def scored(name):  # the page without its figures and time
        return re.sub(r"data:image[^\"]+|Generated [^<]+", "",
                      (tmp_path / name / "report.html").read_text())

    assert "Macro F1" in scored("r")
    assert scored("r") == scored("f")
    # labels of other cells: the message speaks of the predictions
    assert main([
        "report", "-p",
        str(tmp_path / "out" / "predicted_label.txt"), "-l",
        str(PATHS["train_labels"]), "-o",
        str(tmp_path / "x"), "-q"
    ]) == 2
    assert "is a cell of the predictions" in capsys.readouterr().err


def _label_table(path):
    """A predicted_label.txt as str columns, an empty field kept as ""."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def test_unassigned_reason_column_says_why_each_cell_is_unassigned(
        model, tmp_path):
    annotator = ACTINNAnnotator.load(model, device="cpu")
    # streaming, chunks smaller than the query: the reasons of predict_file
    # with the same chunks, cell by cell
    assert predict(model, PATHS["test"], tmp_path / "chunks", "-q",
                   "--unassigned", "--chunk-size", "300") == 0
    labels = _label_table(tmp_path / "chunks" / "predicted_label.txt")
    assert list(labels.columns) == [
        "cellname", "celltype", "confidence", "unassigned_reason"
    ]
    parts = list(
        annotator.predict_file(PATHS["test"], chunk_size=300, unassigned=True))
    assert len(parts) == 4
    expected = np.concatenate([p.unassigned_reason for p in parts])
    assert labels["unassigned_reason"].tolist() == expected.tolist()
    assert labels["celltype"].tolist() == np.concatenate(
        [p.cell_types for p in parts]).tolist()
    marked = labels["celltype"] == "Unassigned"
    assert marked.any()
    assert set(
        labels["unassigned_reason"][marked]) <= {"novel", "low_probability"}
    assert set(labels["unassigned_reason"][~marked]) == {""}
    # the whole query at once (voting reads it whole): predict's reasons
    _, test = load_tabula_muris_sample()
    clusters = tmp_path / "clusters.tsv"
    pd.Series(np.arange(test.n_obs) % 4,
              index=test.obs_names).to_csv(clusters, sep="\t", header=False)
    assert predict(model, PATHS["test"], tmp_path / "whole", "-q",
                   "--unassigned", "--majority-voting", "--over-clustering",
                   str(clusters)) == 0
    whole = _label_table(tmp_path / "whole" / "predicted_label.txt")
    assert list(whole.columns) == [
        "cellname", "celltype", "confidence", "unassigned_reason",
        "over_clustering", "majority_voting"
    ]
    result = annotator.predict(test.X,
                               test.var_names,
                               unassigned=True,
                               majority_voting=True,
                               over_clustering=np.arange(test.n_obs) % 4)
    assert whole["unassigned_reason"].tolist() == list(result.unassigned_reason)
    assert whole["celltype"].tolist() == list(result.cell_types)
    # --threshold rejects by the label's probability alone: low_probability
    assert predict(model, PATHS["test"], tmp_path / "threshold", "-q",
                   "--threshold", "0.9", "--chunk-size", "300") == 0
    cut = _label_table(tmp_path / "threshold" / "predicted_label.txt")
    low = (cut["celltype"] == "Unassigned").to_numpy()
    assert low.any()
    assert cut["unassigned_reason"].tolist() == np.where(
        low, "low_probability", "").tolist()
    assert (cut["confidence"].astype(float)[low] < 0.9).all()
    # without a rule, ACTINN's columns and the confidence only
    assert predict(model, PATHS["test"], tmp_path / "plain", "-q",
                   "--chunk-size", "300") == 0
    assert list(
        _label_table(tmp_path / "plain" / "predicted_label.txt").columns) == [
            "cellname", "celltype", "confidence"
        ]


def test_whole_and_chunked_writers_write_the_same_reasons(model, tmp_path):
    import argparse

    from deepchem_actinn.cli.predict import _Outputs
    from deepchem_actinn.io import PredictedLabelWriter
    _, test = load_tabula_muris_sample()
    annotator = ACTINNAnnotator.load(model, device="cpu")
    for flags in ({"unassigned": True}, {"threshold": 0.9}, {}):
        result = annotator.predict(test.X, test.var_names, test.obs_names,
                                   **flags)
        whole, chunks = tmp_path / "whole", tmp_path / "chunks"
        whole.mkdir()
        chunks.mkdir()
        args = argparse.Namespace(output_probability=False,
                                  majority_voting=False)
        _Outputs(args, whole, list(annotator.type_names)).write_whole(result)
        with PredictedLabelWriter(chunks / "predicted_label.txt") as writer:
            for start in range(0, len(result), 300):
                part = slice(start, start + 300)
                writer.write(
                    result.cell_ids[part], result.cell_types[part],
                    result.confidence[part],
                    None if result.unassigned_reason is None else
                    result.unassigned_reason[part])
        written = (whole / "predicted_label.txt").read_bytes()
        assert written == (chunks / "predicted_label.txt").read_bytes()
        header = written.split(b"\n", 1)[0]
        assert header.endswith(b"\tunassigned_reason") == bool(flags)
        for directory in (whole, chunks):
            (directory / "predicted_label.txt").unlink()
            directory.rmdir()


@pytest.mark.parametrize("command", ["stream", "whole", "run"])
def test_a_cell_id_no_line_can_hold_is_refused_before_any_work(
        model, tmp_path, capsys, command):
    """A cell id holding a line break: refused at the start, naming the
    query file and the cell, on every path (it was refused only as the
    streaming writer met it, naming neither; the whole-query writer wrote a
    quoted field over two lines, which read_labels then refused)."""
    _, test = load_tabula_muris_sample(upper_case_genes=False)
    query = test[:60].copy()
    query.obs_names = ["cell\ntwo"] + list(query.obs_names[1:])
    path = tmp_path / "odd.h5ad"
    query.write_h5ad(path)
    out = tmp_path / "out"
    if command == "run":
        code = main(["run", *TRAIN, "-ts", str(path), "-o", str(out), *QUICK])
    else:
        code = predict(model, path, out,
                       *(["--remove-ambient"] if command == "whole" else []))
    assert code == 2
    assert capsys.readouterr().err.endswith(
        "error: %s: 1 cell id holds a line break, which the prediction files "
        "cannot hold (one line per cell): 'cell\\ntwo'; rename the cells\n" %
        path)
    assert not out.exists()


def test_predict_file_reads_cells_as_rows_as_predict_does(
        model, tmp_path, caplog):
    """predict_file, as read and fit_file, takes orientation=; by default
    the axis holding the model's genes holds the genes, as actinn predict
    finds them. A layout forced the wrong way is refused naming the file."""
    _, test = load_tabula_muris_sample(upper_case_genes=False)
    path = tmp_path / "cells_by_genes.csv"
    test[:120].to_df().to_csv(path)
    annotator = ACTINNAnnotator.load(model, device="cpu")
    expected = annotator.predict(test.X[:120], test.var_names,
                                 test.obs_names[:120])
    for orientation in (None, "cells_by_genes"):
        caplog.clear()
        with caplog.at_level("INFO", logger="deepchem_actinn"):
            parts = list(
                annotator.predict_file(path,
                                       chunk_size=50,
                                       orientation=orientation))
        assert [len(p) for p in parts] == [50, 50, 20]
        # decided (and said) once, not by each reading pass
        assert caplog.text.count("reading it as cells by genes") == (orientation
                                                                     is None)
        np.testing.assert_array_equal(
            np.concatenate([p.cell_types for p in parts]), expected.cell_types)
    with pytest.raises(ACTINNInputError) as err:
        list(annotator.predict_file(path, orientation="genes_by_cells"))
    assert str(err.value).startswith("%s: the query's genes do not match the "
                                     "model's: 0 of the model's" % path)
    # the command line takes the same path, and writes what it gives
    assert predict(model, path, tmp_path / "out", "-q") == 0
    table = pd.read_csv(tmp_path / "out" / "predicted_label.txt", sep="\t")
    assert table["celltype"].tolist() == list(expected.cell_types)


def test_summary_says_what_the_vote_changed(model, tmp_path, capsys,
                                            clusters_and_hierarchy):
    """With --majority-voting the summary said nothing of the vote: it
    now gives the clusters, the cells relabelled and the voted counts."""
    clusters, _ = clusters_and_hierarchy(model)
    assert predict(model, PATHS["test"], tmp_path / "out", "--majority-voting",
                   "--over-clustering", str(clusters)) == 0
    err = capsys.readouterr().err
    labels = pd.read_csv(tmp_path / "out" / "predicted_label.txt", sep="\t")
    moved = int((labels["celltype"] != labels["majority_voting"]).sum())
    counts = labels["majority_voting"].value_counts()
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:6]
    line = ("actinn: majority voting over 4 clusters: %d of 1000 cells took "
            "another label; %s" %
            (moved, ", ".join("%s %d" % kv for kv in top)))
    if len(counts) > 6:
        line += ", ... (%d labels)" % len(counts)
    assert line in err.splitlines(), err


def test_summary_says_how_many_cells_got_a_parent_type(model, tmp_path, capsys):
    """With --hierarchy the summary said nothing of the parent types: it
    now gives the cells labelled with one, and which."""
    assert predict(model, PATHS["test"], tmp_path / "out", "--hierarchy",
                   str(BUNDLED_HIERARCHY)) == 0
    err = capsys.readouterr().err
    labels = pd.read_csv(tmp_path / "out" / "predicted_label.txt", sep="\t")
    parents = labels.loc[labels["level"] == "parent", "celltype"]
    assert len(parents)  # the quick model leaves some cells between types
    top = sorted(parents.value_counts().items(), key=lambda kv: (-kv[1], kv[0]))
    line = ("actinn: hierarchy: %d of 1000 cells got a parent type; %s" %
            (len(parents), ", ".join("%s %d" % kv for kv in top[:6])))
    assert line in err.splitlines(), err


def _celltypist_file(counts, path, scale=True, hvg=None):
    """``counts`` as a CellTypist user's h5ad file: X the natural log1p of
    normalize_total's counts (scaled by sc.pp.scale with ``scale``), .raw
    that log1p of all genes (of the first ``hvg`` genes only, where given:
    an HVG subset, whose expm1 sums differ between cells), no counts."""
    import scanpy as sc
    adata = counts.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    if hvg is not None:
        adata = adata[:, :hvg].copy()
    adata.raw = adata
    if scale:
        sc.pp.scale(adata)
    adata.write_h5ad(path)


def _labels(out):
    return pd.read_csv(out / "predicted_label.txt", sep="\t")


@pytest.mark.parametrize("whole", [False, True])
def test_predict_reads_a_celltypist_file_through_expm1(model, tmp_path, capsys,
                                                       whole):
    """X scaled or log1p, .raw log1p(normalize_total(counts)), no counts:
    predict (in chunks, or whole) labels the file's cells as those of the
    counts file, records and says expm1(.raw.X) (expm1(X) when X is the
    log1p itself)."""
    import json
    flags = (["--hierarchy",
              str(PATHS["train"].parent / "hierarchy.txt")] if whole else [])
    assert predict(model, PATHS["test"], tmp_path / "counts", "-q", *flags) == 0
    expected = _labels(tmp_path / "counts")
    _, test = load_tabula_muris_sample()
    for scale, matrix in ((True, ".raw.X"), (False, "X")):
        query = tmp_path / ("q%d.h5ad" % scale)
        _celltypist_file(test, query, scale=scale)
        out = tmp_path / ("out%d" % scale)
        capsys.readouterr()
        assert predict(model, query, out, *flags) == 0
        err = capsys.readouterr().err
        pd.testing.assert_frame_equal(_labels(out), expected)
        record = json.loads((out / "prediction.json").read_text())
        assert record["query"]["matrix"] == "expm1(%s)" % matrix
        assert ("%s: no raw counts found; %s holds the natural log1p of "
                "counts normalised to 10000 per cell (expm1 sums agree): "
                "reading expm1(%s) as the counts" %
                (query, matrix, matrix)) in err, err


def test_predict_refuses_remove_ambient_and_scheduler_with_expm1(
        model, tmp_path, capsys):
    """--remove-ambient needs each cell's depth, which the expm1 of
    normalised values lost; --scheduler streams what is read whole:
    refused by name, before any output."""
    _, test = load_tabula_muris_sample()
    query = tmp_path / "q.h5ad"
    _celltypist_file(test, query)
    out = tmp_path / "out"
    for flags, words in (
        (["--remove-ambient"],
         "%s: --remove-ambient needs raw counts, each cell's own depth; "
         "expm1(.raw.X) holds counts normalised to one total per cell" % query),
        (["--scheduler", "tcp://127.0.0.1:1"],
         "%s: --scheduler annotates chunks on a cluster, and the query's "
         "expm1(.raw.X) is taken of the whole file in one process: leave "
         "out --scheduler" % query)):
        assert predict(model, query, out, "-q", *flags) == 2
        assert words in capsys.readouterr().err
        assert not out.exists()


@pytest.mark.parametrize("case", ["hvg", "log2"])
def test_log_values_not_provably_log1p_are_still_refused(
        model, tmp_path, capsys, case):
    """An HVG subset of log1p values, or log2 values, are refused by
    predict (in chunks and whole) and train as before, with the advice."""
    import scanpy as sc
    train_counts, test = load_tabula_muris_sample()
    path = tmp_path / "q.h5ad"
    if case == "hvg":
        _celltypist_file(test, path, scale=False, hvg=1000)
    else:
        adata = test.copy()
        sc.pp.normalize_total(adata, target_sum=1e4)
        adata.X = adata.X.log1p() / np.log(2)
        adata.write_h5ad(path)
    out = tmp_path / "out"
    hierarchy = str(PATHS["train"].parent / "hierarchy.txt")
    for flags in ([], ["--hierarchy", hierarchy]):
        assert predict(model, path, out, "-q", *flags) == 2
        err = capsys.readouterr().err
        assert "%s: X holds non-integer values" % path in err, err
        assert err.strip().endswith(
            "; if X is the natural log1p of normalised counts (an h5ad file "
            "read whole, by actinn or by anndata.read_h5ad then "
            "deepchem_actinn.annotate, is taken so where every cell's expm1 "
            "sums to one total), its expm1 can stand for them in a file: "
            "adata.layers['counts'] = np.expm1(adata.X), "
            "adata.write_h5ad(...), then pass --test-layer counts "
            "--allow-non-integer"), err
        assert not out.exists()
    assert main([
        "train", "-trs",
        str(path), "-trl",
        str(PATHS["test_labels"]), "-m",
        str(out), *QUICK, "-q"
    ]) == 2
    assert "%s: X holds non-integer values" % path in capsys.readouterr().err
    assert not out.exists()


def test_log_values_are_refused_without_reading_the_file_whole(
        model, tmp_path, capsys, monkeypatch):
    """A file whose first cells are not provably log1p (log2 here) is
    refused on those cells: the whole file is read to prove the expm1 only
    where its first rows are (a file of log values may be large)."""
    import scanpy as sc

    import deepchem_actinn.io.readers as readers
    _, test = load_tabula_muris_sample()
    adata = test.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    adata.X = adata.X.log1p() / np.log(2)
    adata.write_h5ad(tmp_path / "log2.h5ad")
    _celltypist_file(test, tmp_path / "log1p.h5ad")
    whole = []
    read_with_matrix = readers.read_with_matrix

    def counted(path, *args, **kwargs):
        whole.append(str(path).rsplit("/", 1)[-1])
        return read_with_matrix(path, *args, **kwargs)

    monkeypatch.setattr(readers, "read_with_matrix", counted)
    assert predict(model, tmp_path / "log2.h5ad", tmp_path / "o2", "-q") == 2
    assert "log2.h5ad: X holds non-integer values" in capsys.readouterr().err
    assert whole == []
    assert predict(model, tmp_path / "log1p.h5ad", tmp_path / "o1", "-q") == 0
    assert whole == ["log1p.h5ad"]  # read once, and kept for the annotation


def test_train_on_a_celltypist_file_trains_as_its_counts(model, tmp_path):
    """actinn train on X scaled, .raw log1p(normalize_total(counts)): the
    genes and labels of the model trained on the counts; the record names
    expm1(.raw.X)."""
    train_counts, _ = load_tabula_muris_sample()
    ref = tmp_path / "ref.h5ad"
    _celltypist_file(train_counts, ref)
    folder = tmp_path / "model"
    assert main([
        "train", "-trs",
        str(ref), "-trl",
        str(PATHS["train_labels"]), "-m",
        str(folder), *QUICK, "-q"
    ]) == 0
    logged = ACTINNAnnotator.load(folder, device="cpu")
    by_counts = ACTINNAnnotator.load(model, device="cpu")
    assert logged.genes_ == by_counts.genes_
    assert logged.training_["reference"]["matrix"] == "expm1(.raw.X)"
    for annotator, out in ((model, "a"), (folder, "b")):
        assert predict(annotator, PATHS["test"], tmp_path / out, "-q") == 0
    pd.testing.assert_frame_equal(
        _labels(tmp_path / "a").iloc[:, :2],
        _labels(tmp_path / "b").iloc[:, :2])
