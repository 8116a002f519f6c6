"""``actinn train``'s training flags: a flag left out leaves the
annotator's own default (one source for both), the help states those
defaults, and the log names every network's epochs."""
import inspect
import re

import pytest

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.cli import build_parser, main
from deepchem_actinn.cli.train import TRAINING_FLAGS, training_params
from deepchem_actinn.datasets import tabula_muris_sample_paths

PATHS = tabula_muris_sample_paths()
TRAIN = ["-trs", str(PATHS["train"]), "-trl", str(PATHS["train_labels"])]
DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(ACTINNAnnotator).parameters.items()
}


def _subcommand(name: str):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    return commands[name]


@pytest.mark.parametrize("command", ["train", "run", "demo"])
def test_flags_left_out_leave_the_annotators_defaults(command):
    flags = {
        "train": TRAIN + ["-m", "model"],
        "run": TRAIN + ["-ts", "query.h5", "-o", "out"],
        "demo": []
    }[command]
    args = build_parser().parse_args([command, *flags])
    made = ACTINNAnnotator(**training_params(args)).get_params()
    assert made == ACTINNAnnotator().get_params()


def test_flags_given_set_the_annotators_parameters():
    args = build_parser().parse_args([
        "train", *TRAIN, "-m", "model", "-lr", "0.001", "-ms", "64",
        "--networks", "2", "--linear-weight", "0", "--seed", "7", "-ne", "9"
    ])
    made = ACTINNAnnotator(**training_params(args)).get_params()
    assert made == dict(ACTINNAnnotator().get_params(),
                        learning_rate=0.001,
                        batch_size=64,
                        n_networks=2,
                        linear_weight=0.0,
                        seed=7,
                        max_epochs=9,
                        early_stopping=False)


def test_help_states_the_annotators_defaults():
    stated = {}
    for action in _subcommand("train")._actions:
        if action.dest in TRAINING_FLAGS:
            found = re.search(r"default: the annotator's, ([0-9.e-]+)",
                              action.help)
            if found:
                stated[TRAINING_FLAGS[action.dest]] = float(found.group(1))
    assert stated == {
        name: float(DEFAULTS[name])
        for name in ("n_networks", "learning_rate", "batch_size",
                     "linear_weight", "seed")
    }


@pytest.mark.torch
def test_the_log_names_every_networks_epochs(tmp_path, capsys, small_reference):
    # a small simulated reference: the log, not the model, is the subject
    capsys.readouterr()
    assert main([
        "train", *small_reference, "-m",
        str(tmp_path / "model"), "-ne", "2", "--networks", "2", "--device",
        "cpu"
    ]) == 0
    log = " ".join(capsys.readouterr().err.split())
    assert re.search(r"epochs \(best\) per network: 2 \(\d\), 2 \(\d\)",
                     log), log


def test_label_mistakes_say_what_the_file_or_name_is(tmp_path, capsys):
    """A headerless labels file given --labels-column is said to have no
    header (not "its columns: Monocyte"); an obs column's name given as -trl
    with a reference that is no h5ad is said to be neither a file nor an obs
    column. Both before anything is trained."""
    model = str(tmp_path / "model")
    assert main(
        ["train", *TRAIN, "--labels-column", "cell_type", "-m", model,
         "-q"]) == 2
    first = PATHS["train_labels"].read_text().splitlines()[0].split("\t")
    assert capsys.readouterr().err == (
        "actinn train: error: %s: no column 'cell_type'; the file seems to "
        "have no header row: its first row (%s, %s) looks like data, a cell "
        "id and a cell type. A file of cell id<TAB>cell type lines needs no "
        "column named: drop --labels-column\n" %
        (PATHS["train_labels"], *first))
    assert main([
        "train", "-trs",
        str(PATHS["train"]), "-trl", "cell_type", "-m", model, "-q"
    ]) == 2
    assert capsys.readouterr().err == (
        "actinn train: error: cell_type: no such labels file, nor an obs "
        "column: only an h5ad file has obs columns to name, and %s is an "
        "ACTINN (pandas) HDF5 file\n" % PATHS["train"])


@pytest.mark.parametrize("command", ["train", "run", "report"])
def test_a_labels_table_without_its_column_names_the_option(
        tmp_path, capsys, command):
    """A metadata table given as labels, no column named: the one line
    names --labels-column NAME (Python's read_labels(path, column=NAME)
    is not said), in each command that reads labels."""
    table = tmp_path / "meta.csv"
    table.write_text("cell,mouse.id,cell_ontology_class\nc1,M1,B cell\n")
    argv = {
        "train": [
            "train", *TRAIN[:2], "-trl",
            str(table), "-m",
            str(tmp_path / "model")
        ],
        "run": [
            "run", *TRAIN[:2], "-trl",
            str(table), "-ts",
            str(PATHS["test"]), "-o",
            str(tmp_path / "out")
        ],
        "report": [
            "report", "-p",
            str(tmp_path / "predicted_label.txt"), "-l",
            str(table), "-o",
            str(tmp_path / "report")
        ],
    }[command]
    (tmp_path / "predicted_label.txt"
    ).write_text("cellname\tcelltype\tconfidence\nc1\tB cell\t0.9\n")
    assert main(argv + ["-q"]) == 2
    assert capsys.readouterr().err == (
        "actinn %s: error: %s: line 1 holds 3 fields (cell, mouse.id, "
        "cell_ontology_class), not cell id<TAB>cell type: if it is a table "
        "under a header, name the column of cell types (--labels-column "
        "NAME)\n" % (command, table))


@pytest.mark.parametrize("command", ["predict", "run"])
def test_hierarchy_help_states_the_margin(command):
    """--hierarchy's help says what an uncertain fine type is, with the
    margin the annotator uses (the parser states it, importing nothing
    heavy; this test keeps the two together)."""
    from deepchem_actinn.hierarchy import HIERARCHY_MARGIN
    action, = [
        a for a in _subcommand(command)._actions if a.dest == "hierarchy"
    ]
    assert ("a cell whose fine type is uncertain, its top two probabilities "
            "less than %g apart (hierarchy.HIERARCHY_MARGIN), is given the "
            "two types' nearest common ancestor" %
            HIERARCHY_MARGIN) in action.help


@pytest.mark.parametrize("command", ["train", "predict", "run", "demo"])
def test_threads_help_ends_its_sentences(command):
    action, = [a for a in _subcommand(command)._actions if a.dest == "threads"]
    assert ". On a busy machine 1" in action.help
    assert action.help.endswith(" faster.")


@pytest.mark.filterwarnings("ignore:Observation names are not unique")
@pytest.mark.parametrize("reading", [[], ["--out-of-core"]],
                         ids=["in_memory", "from_disk"])
def test_an_obs_column_is_taken_in_row_order_whatever_the_ids(
        tmp_path, capsys, small_reference, reading):
    """-trl naming an obs column of the reference takes its cells in row
    order, as train(adata, "cell_type") does: cell ids repeated by two
    samples concatenated without index_unique need no matching by id."""
    import anndata
    import numpy as np
    import pandas as pd
    adata = anndata.read_h5ad(small_reference[1])
    labels = pd.read_csv(small_reference[3], sep="\t", header=None,
                         index_col=0).iloc[:, 0]
    adata.obs["cell_type"] = labels.reindex(adata.obs_names).to_numpy()
    adata.write_h5ad(tmp_path / "unique.h5ad")
    half = adata.n_obs // 2
    adata.obs_names = list(adata.obs_names[:half]) * 2
    adata.write_h5ad(tmp_path / "twice.h5ad")
    flags = [
        "-ne", "1", "--networks", "1", "--seed", "0", "--device", "cpu", "-q",
        *reading
    ]
    for name in ("unique", "twice"):
        assert main([
            "train", "-trs",
            str(tmp_path / (name + ".h5ad")), "-trl", "cell_type", "-m",
            str(tmp_path / name), *flags
        ]) == 0, capsys.readouterr().err
    twice = ACTINNAnnotator.load(tmp_path / "twice", device="cpu")
    unique = ACTINNAnnotator.load(tmp_path / "unique", device="cpu")
    assert twice.n_reference_cells_ == adata.n_obs
    X = adata.X[:50]
    np.testing.assert_array_equal(
        twice.predict(X, adata.var_names).probabilities,
        unique.predict(X, adata.var_names).probabilities)
