"""What ``actinn`` refuses before any training, in one line naming the
file: a CSV/TSV query of values that are no counts (``run`` read it only
after training), ``-m`` naming a file or an input, reference labels of one
type or naming ``Unassigned`` (said without their file), a reference whose
gene names cannot be read (read after training); and what ``format``
refuses before writing: an input without cells."""
import shutil
from pathlib import Path

import anndata
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.cli import main

pytestmark = pytest.mark.torch

QUICK = ["-ne", "1", "--networks", "1", "--device", "cpu", "-q"]


@pytest.fixture
def no_training(monkeypatch):
    """Fail a test that trains: what it checks comes before."""

    def trained(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(ACTINNAnnotator, "fit", trained)
    monkeypatch.setattr(ACTINNAnnotator, "fit_file", trained)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(scope="module")
def reference(small_reference):
    """The small reference's counts (cells x genes) with its cell ids and
    genes, for queries made from it."""
    adata = anndata.read_h5ad(small_reference[1])
    return adata


def text_query(reference, path: Path, change=None) -> Path:
    """The first 20 cells of the reference as a genes x cells CSV file,
    changed by ``change`` (a function of the dense counts)."""
    X = reference.X[:20].toarray().astype(float)
    if change is not None:
        change(X)
    values = pd.DataFrame(X.T,
                          index=reference.var_names,
                          columns=reference.obs_names[:20])
    values.to_csv(path, float_format="%g")
    return path


def _fraction(X):
    X[3, 5] = 2.5


def _negative(X):
    X[4, 1] = -1


def _empty_cells(X):
    X[[2, 7]] = 0


#: Each query change and what the refusal says.
NO_COUNTS = {
    "fraction": (_fraction, "X holds non-integer values (e.g. 2.5 in cell"),
    "negative": (_negative, "X holds 1 negative value, e.g."),
    "empty cells": (_empty_cells, "2 cells have zero total counts and cannot "
                    "be library-size normalised"),
}


@pytest.mark.parametrize("case", sorted(NO_COUNTS))
def test_run_refuses_a_text_query_of_no_counts_before_training(
        small_reference, reference, tmp_path, capsys, no_training, case):
    query = text_query(reference, tmp_path / "query.csv", NO_COUNTS[case][0])
    out = tmp_path / "out"
    assert main(
        ["run", *small_reference, "-ts",
         str(query), "-o",
         str(out), *QUICK]) == 2
    line = one_line_error(capsys)
    assert line.startswith("actinn run: error: %s: " % query), line
    assert NO_COUNTS[case][1] in line, line
    assert not out.exists()


def test_run_refuses_a_text_query_with_a_cell_without_id_before_training(
        small_reference, reference, tmp_path, capsys, no_training):
    query = text_query(reference, tmp_path / "query.csv")
    lines = query.read_text().split("\n")
    header = lines[0].split(",")
    header[3] = ""
    query.write_text("\n".join([",".join(header)] + lines[1:]))
    assert main([
        "run", *small_reference, "-ts",
        str(query), "-o",
        str(tmp_path / "out"), *QUICK
    ]) == 2
    assert one_line_error(capsys) == (
        "actinn run: error: %s: 1 cell has no id (an empty name): the 3rd; "
        "outputs and labels name cells by id, so give every cell one" % query)


def test_run_refuses_an_h5ad_query_with_empty_cells_before_training(
        small_reference, reference, tmp_path, capsys, no_training):
    query = reference[:20].copy()
    X = query.X.toarray()
    X[[1, 4]] = 0
    query.X = sp.csr_matrix(X)
    path = tmp_path / "query.h5ad"
    query.write_h5ad(path)
    assert main([
        "run", *small_reference, "-ts",
        str(path), "-o",
        str(tmp_path / "out"), *QUICK
    ]) == 2
    line = one_line_error(capsys)
    assert line.startswith("actinn run: error: %s: 2 cells have zero total "
                           "counts" % path), line


def test_run_still_annotates_a_sound_text_query(small_reference, reference,
                                                tmp_path):
    query = text_query(reference, tmp_path / "query.csv")
    out = tmp_path / "out"
    assert main(
        ["run", *small_reference, "-ts",
         str(query), "-o",
         str(out), *QUICK]) == 0
    lines = (out / "predicted_label.txt").read_text().splitlines()
    assert len(lines) == 21  # a header, and the 20 cells


@pytest.mark.parametrize("text, why", [
    ('""\nG1\nG2\nG3\n', "the input holds no cells"),
    (";c1;c2\nG1;1;2\nG2;3;4\n",
     "its lines hold no comma but semicolons: the separator looks like ';' "
     "(as Excel and R's write.csv2 write where a comma is the decimal mark), "
     "which is not read; write it with commas (R: write.csv; pandas: "
     "to_csv)"),
])
def test_format_refuses_an_input_without_cells(tmp_path, capsys, text, why):
    """A CSV file holding genes and no cell (or another separator, which
    would read as such) is refused before anything is written."""
    path = tmp_path / "input.csv"
    path.write_text(text)
    out = tmp_path / "out"
    assert main(["format", "-i", str(path), "-o", str(out), "-q"]) == 2
    assert one_line_error(capsys) == ("actinn format: error: %s: %s" %
                                      (path, why))
    assert list(tmp_path.iterdir()) == [path]


def test_format_says_it_cannot_tell_the_layout_of_a_text_file(tmp_path, capsys):
    """``format`` has no model's genes to tell which axis of a CSV file
    holds them: it says, even with -q, how it read the file and what to
    do when that is wrong."""
    path = tmp_path / "cells_by_genes.csv"
    path.write_text(",G1,G2,G3\n" +
                    "".join("c%d,1,0,%d\n" % (i, i) for i in range(5)))
    assert main(["format", "-i",
                 str(path), "-o",
                 str(tmp_path / "out"), "-q"]) == 0
    assert one_line_error(capsys) == (
        "actinn: %s: read as genes by cells (ACTINN's layout), 3 cells x 5 "
        "genes: format has no model's genes to tell the layout by; this "
        "command reads no other layout: transpose a file whose rows are "
        "cells first" % path)
    assert (tmp_path / "out.h5").exists()
    # other formats have one layout: nothing to say
    assert main([
        "format", "-i",
        str(tmp_path / "out.h5"), "-o",
        str(tmp_path / "again"), "-q"
    ]) == 0
    assert capsys.readouterr().err == ""


def _train(small_reference, model, *extra):
    return ["train", *small_reference, "-m", str(model), *QUICK, *extra]


def _run(small_reference, model, tmp_path, *extra):
    return [
        "run", *small_reference, "-ts", small_reference[1], "-o",
        str(tmp_path / "out"), "-m",
        str(model), *QUICK, *extra
    ]


@pytest.mark.parametrize("command", ["train", "run"])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_model_path_that_names_a_file_is_refused(small_reference, tmp_path,
                                                   capsys, no_training, command,
                                                   overwrite):
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    given = (_train(small_reference, target, *overwrite) if command == "train"
             else _run(small_reference, target, tmp_path, *overwrite))
    assert main(given) == 2
    assert one_line_error(capsys) == (
        "actinn %s: error: -m %s names a file, not an annotator's "
        "directory (an annotator is saved as a directory, which would take "
        "the file's place); save it under another name" % (command, target))
    assert target.read_text() == "mine\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["train", "run"])
def test_a_model_path_that_is_the_training_input_is_refused(
        small_reference, tmp_path, capsys, no_training, command):
    reference = tmp_path / "ref.h5ad"
    shutil.copy(small_reference[1], reference)
    before = reference.read_bytes()
    given = ["-trs", str(reference), "-trl", small_reference[3]]
    args = (_train(given, reference, "--overwrite") if command == "train" else
            _run(given, reference, tmp_path, "--overwrite"))
    assert main(args) == 2
    assert one_line_error(capsys) == (
        "actinn %s: error: -m %s names a file, not an annotator's "
        "directory (an annotator is saved as a directory, which would take "
        "the file's place); save it under another name" % (command, reference))
    assert reference.read_bytes() == before


def tenx_directory(reference, root: Path) -> Path:
    root.mkdir()
    scipy.io.mmwrite(str(root / "matrix.mtx"),
                     sp.csr_matrix(reference.X).T.tocoo().astype(int))
    (root / "barcodes.tsv").write_text("\n".join(reference.obs_names) + "\n")
    (root / "genes.tsv").write_text("".join(
        "ENSG%d\t%s\n" % (i, g) for i, g in enumerate(reference.var_names)))
    return root


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_model_directory_that_is_an_input_is_refused(small_reference,
                                                       reference, tmp_path,
                                                       capsys, no_training,
                                                       overwrite):
    """A 10x matrix directory given as the reference and as ``-m``: said
    as such (not "exists; pass --overwrite"), and left as it is."""
    counts = tenx_directory(reference, tmp_path / "counts")
    before = sorted(p.name for p in counts.iterdir())
    assert main([
        "train", "-trs",
        str(counts), "-trl", small_reference[3], "-m",
        str(counts), *QUICK, *overwrite
    ]) == 2
    assert one_line_error(capsys) == (
        "actinn train: error: -m %s is the reference counts (-trs): save the "
        "annotator in a directory of its own" % counts)
    assert sorted(p.name for p in counts.iterdir()) == before


def _labels(small_reference, tmp_path, change) -> Path:
    lines = Path(small_reference[3]).read_text().splitlines()
    path = tmp_path / "labels.txt"
    path.write_text("".join(change(line) + "\n" for line in lines))
    return path


def _one_type(line):
    return line.split("\t")[0] + "\tT cell"


def _unassigned(line):
    return line.replace("\tType 02", "\tUnassigned")


@pytest.mark.parametrize("out_of_core", [[], ["--out-of-core"]])
@pytest.mark.parametrize("edit, why", [
    (_one_type, "the reference needs at least 2 cell types, found T cell"),
    (_unassigned, "the reference labels name a type 'Unassigned', the label "
     "given to cells no type fits; rename that type so that the two cannot "
     "be confused"),
])
def test_labels_that_cannot_train_are_said_with_their_file(
        small_reference, tmp_path, capsys, out_of_core, edit, why):
    labels = _labels(small_reference, tmp_path, edit)
    assert main([
        "train", "-trs", small_reference[1], "-trl",
        str(labels), "-m",
        str(tmp_path / "model"), *QUICK, *out_of_core
    ]) == 2
    assert one_line_error(capsys) == ("actinn train: error: %s: %s" %
                                      (labels, why))


def test_the_reference_gene_names_are_read_before_training(
        small_reference, tmp_path, capsys, monkeypatch):
    """The names kept as the reference spells them are read before the
    networks are trained: a file they cannot be read from fails first."""
    import deepchem_actinn.io as io
    from deepchem_actinn.errors import ACTINNInputError
    fitted = []

    def unreadable(path, *args, **kwargs):
        raise ACTINNInputError("%s: names unreadable" % path)

    monkeypatch.setattr(io, "read_var", unreadable)
    monkeypatch.setattr(ACTINNAnnotator, "fit",
                        lambda *a, **k: fitted.append(1))
    assert main(_train(small_reference, tmp_path / "model")) == 2
    assert one_line_error(capsys) == ("actinn train: error: %s: names "
                                      "unreadable" % small_reference[1])
    assert fitted == []


def test_a_device_pytorch_cannot_use_is_refused_before_reading(
        small_reference, tmp_path, capsys, monkeypatch, no_training):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    given = _train(small_reference, tmp_path / "model")
    given[given.index("cpu")] = "cuda"
    assert main(given) == 2
    assert one_line_error(capsys) == ("actinn train: error: --device cuda: "
                                      "PyTorch sees no CUDA GPU here")
    given[given.index("cuda")] = "cuda:x"
    assert main(given) == 2
    assert one_line_error(capsys).startswith(
        "actinn train: error: --device cuda:x: not a device PyTorch knows (")


def _line_break_reference(reference, path: Path) -> Path:
    """The small reference with an obs column ``ct2``: its types, ``Type 01``
    spelled with a line break."""
    adata = reference.copy()
    adata.obs["ct2"] = adata.obs["cell_type"].astype(str).str.replace(
        "Type 01", "Type\n01")
    adata.write_h5ad(path)
    return path


@pytest.mark.parametrize("command, flags", [("train", []),
                                            ("train", ["--out-of-core"]),
                                            ("run", [])])
def test_types_a_prediction_file_cannot_hold_are_refused_before_training(
        reference, tmp_path, capsys, no_training, command, flags):
    """A type named with a line break was taken, and refused only when the
    predictions were written (after training), naming a hidden temporary
    file and counting each cell of the type ('rename the cells')."""
    ref = _line_break_reference(reference, tmp_path / "ref.h5ad")
    given = ["-trs", str(ref), "-trl", "ct2"]
    out = tmp_path / "out"
    args = (["train", *given, "-m",
             str(tmp_path / "model")] if command == "train" else
            ["run", *given, "-ts",
             str(ref), "-o", str(out)])
    assert main([*args, *QUICK, *flags]) == 2
    assert one_line_error(capsys) == (
        "actinn %s: error: %s obs['ct2']: 1 cell type holds a line break, "
        "which the prediction files cannot hold (one line per cell): "
        "'Type\\n01'; rename the types" % (command, ref))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.h5ad"]


@pytest.fixture(scope="module")
def line_break_annotator(reference, tmp_path_factory):
    """An annotator fitted in Python (which takes any text as a type) on
    the small reference, every type named with a line break."""
    root = tmp_path_factory.mktemp("line_break_types")
    labels = reference.obs["cell_type"].astype(str).str.replace(" ", "\n")
    annotator = ACTINNAnnotator(n_networks=1, max_epochs=1, device="cpu")
    annotator.fit(reference.X, reference.var_names, labels.to_numpy(),
                  reference.obs_names)
    annotator.save(root / "model")
    return root / "model"


def test_predict_refuses_an_annotator_of_such_types_before_reading(
        line_break_annotator, reference, tmp_path, capsys):
    query = tmp_path / "query.h5ad"
    reference[:1].write_h5ad(query)
    out = tmp_path / "out"
    assert main([
        "predict", "-m",
        str(line_break_annotator), "-ts",
        str(query), "-o",
        str(out), "-q"
    ]) == 2
    assert one_line_error(capsys) == (
        "actinn predict: error: -m %s: 3 cell types hold a line break, "
        "which the prediction files cannot hold (one line per cell): "
        "'Type\\n00', 'Type\\n01', 'Type\\n02'; rename the types" %
        line_break_annotator)
    assert not out.exists()


def test_the_writer_names_the_output_as_given_and_counts_types(
        line_break_annotator, reference, tmp_path, capsys, monkeypatch):
    """Without the check before reading, the writer's own refusal: the
    file as -o names it (not the hidden folder it is written in), its
    types counted once each, and the types to rename (not the cells)."""
    import deepchem_actinn.cli.predict as predict
    monkeypatch.setattr(predict, "refuse_unwritable_types", lambda *a: None)
    query = tmp_path / "query.h5ad"
    reference[:1].write_h5ad(query)  # one cell: one type given
    out = tmp_path / "out"
    assert main([
        "predict", "-m",
        str(line_break_annotator), "-ts",
        str(query), "-o",
        str(out), "-q"
    ]) == 2
    line = one_line_error(capsys)
    assert line.startswith(
        "actinn predict: error: cannot write %s: 1 cell type holds a line "
        "break, which the prediction files cannot hold (one line per cell): "
        "'Type\\n0" % (out / "predicted_label.txt")), line
    assert line.endswith("; rename the types"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["query.h5ad"]


def test_an_obs_column_named_as_the_model_directory_is_no_input(
        small_reference, tmp_path, capsys, monkeypatch):
    """``-trl cell_type`` names a column of -trs, not the directory
    ``cell_type`` that -m names: refused as the reference labels, even
    with --overwrite."""
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "cell_type"
    model.mkdir()
    (model / "annotator.json").write_text("{}")
    args = [
        "train", "-trs", small_reference[1], "-trl", "cell_type", "-m",
        "cell_type", *QUICK
    ]
    assert main(args) == 2
    assert one_line_error(capsys) == ("actinn train: error: cell_type exists; "
                                      "pass --overwrite to replace it")
    assert main([*args, "--overwrite"]) == 0
    assert ACTINNAnnotator.load(model, device="cpu").n_reference_cells_ == 600


@pytest.mark.parametrize("output", [".", "sub", "../model/sub"])
@pytest.mark.parametrize("command", ["predict", "run"])
def test_an_output_in_the_model_directory_is_refused_before_any_work(
        small_reference, tmp_path, capsys, no_training, output, command):
    """Predictions written into the annotator's directory were taken, and
    then kept a later train or run from replacing it."""
    model = tmp_path / "model"
    out = model / output
    if command == "predict":
        model.mkdir()
        (model / "annotator.json").write_text("{}")
        args = ["predict", "-m", str(model), "-ts", small_reference[1], "-q"]
    else:
        args = [
            "run", *small_reference, "-ts", small_reference[1], "-m",
            str(model), *QUICK
        ]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main([*args, "-o", str(out)]) == 2
    assert one_line_error(capsys) == (
        "actinn %s: error: -o %s %s the annotator's directory (-m %s): write "
        "the predictions in a directory of their own" %
        (command, out, "is" if output == "." else "is inside", model))
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_model_directory_of_predictions_says_what_it_holds(
        small_reference, tmp_path, capsys, no_training, overwrite):
    """Without --overwrite it said 'exists; pass --overwrite', which then
    refused it for holding files that are not an annotator's."""
    out = tmp_path / "predictions"
    out.mkdir()
    (out / "predicted_label.txt").write_text("cellname\tcelltype\n")
    (out / "prediction.json").write_text("{}")
    assert main(_train(small_reference, out, *overwrite)) == 2
    assert one_line_error(capsys) == (
        "actinn train: error: -m %s holds files that are not an annotator's "
        "(predicted_label.txt, prediction.json); overwriting replaces the "
        "whole directory, so it replaces only an earlier annotator: save "
        "elsewhere, or move those files" % out)


def test_run_with_all_reference_genes_refuses_a_poor_overlap_first(
        small_reference, reference, tmp_path, capsys, no_training):
    """The query's share of the reference's genes was found too small only
    after training on all of them."""
    query = reference[:20, :100].copy()
    path = tmp_path / "few.h5ad"
    query.write_h5ad(path)
    assert main([
        "run", *small_reference, "-ts",
        str(path), "-o",
        str(tmp_path / "out"), "--all-reference-genes", *QUICK
    ]) == 2
    line = one_line_error(capsys)
    assert line.startswith(
        "actinn run: error: %s: the query's genes do not match the "
        "reference's: 100 of the reference's 300 genes found (33.3 %%; at "
        "least 50 %% needed)" % path), line
    assert not (tmp_path / "out").exists()


def test_labels_given_as_a_directory_are_said_to_be_one(small_reference,
                                                        tmp_path, capsys):
    labels = tmp_path / "labels"
    labels.mkdir()
    assert main([
        "train", "-trs", small_reference[1], "-trl",
        str(labels), "-m",
        str(tmp_path / "model"), *QUICK
    ]) == 2
    assert one_line_error(capsys) == (
        "actinn train: error: %s: a directory, not a labels file, nor a "
        "column of %s's obs (its columns: cell_type)" %
        (labels, small_reference[1]))


@pytest.mark.parametrize("command", ["train", "run", "simulate"])
def test_an_output_under_a_file_is_refused_before_any_work(
        small_reference, tmp_path, capsys, no_training, command):
    # a file where a folder of the output should be was let through the
    # early checks: train said "notes.txt: file exists" after training,
    # and simulate wrote its .h5ad before refusing its --labels
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    under = notes / "sub" / "out"
    if command == "train":
        given = _train(small_reference, under)
    elif command == "run":
        given = _run(small_reference, tmp_path / "model", under.parent)
        under = under.parent / "out"
    else:
        given = [
            "simulate", "-o",
            str(tmp_path / "sim.h5ad"), "--cells", "20", "--genes", "10",
            "--labels",
            str(under), "-q"
        ]
    assert main(given) == 2
    named = under / "predicted_label.txt" if command == "run" else under
    assert one_line_error(capsys) == (
        "actinn %s: error: %s: %s is a file, not a directory" %
        (command, named, notes))
    assert notes.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
