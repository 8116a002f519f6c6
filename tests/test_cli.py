"""The ``actinn`` command, run as a user runs it."""
import gzip
import re
import subprocess
import sys

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.cli import main
from deepchem_actinn.datasets import tabula_muris_sample_paths
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import read

PATHS = tabula_muris_sample_paths()
TRAIN = ["-trs", str(PATHS["train"]), "-trl", str(PATHS["train_labels"])]
QUICK = ["-ne", "3", "--seed", "0", "-q"]


def actinn(*args, check=True):
    """Run the installed command line in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "deepchem_actinn", *args],
                          capture_output=True,
                          text=True,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


def read_predictions(directory):
    labels = pd.read_csv(directory / "predicted_label.txt", sep="\t")
    proba = None
    if (directory / "predicted_probabilities.txt").exists():
        proba = pd.read_csv(directory / "predicted_probabilities.txt",
                            sep="\t",
                            index_col=0)
    return labels, proba


@pytest.fixture(scope="module")
def trained(tmp_path_factory, actinn_process):
    """``actinn train`` then ``actinn predict -op`` on the bundled data,
    each in a process of its own (forked: see conftest.py)."""
    root = tmp_path_factory.mktemp("cli")
    for args in (["train", *TRAIN, "-m",
                  str(root / "model"), *QUICK], [
                      "predict", "-m",
                      str(root / "model"), "-ts",
                      str(PATHS["test"]), "-o",
                      str(root / "out"), "-op", "-q"
                  ]):
        proc = actinn_process(*args)
        assert proc.returncode == 0, proc.stderr
    return root


def test_train_then_predict_equals_in_process_annotator(trained):
    labels, proba = read_predictions(trained / "out")
    # ACTINN's two columns, then each label's calibrated probability
    assert list(labels.columns) == ["cellname", "celltype", "confidence"]
    test = read(PATHS["test"])
    reference = read(PATHS["train"])
    truth = pd.read_csv(PATHS["train_labels"],
                        sep="\t",
                        header=None,
                        index_col=0)[1]
    in_process = ACTINNAnnotator(max_epochs=3,
                                 early_stopping=False,
                                 seed=0,
                                 n_networks=3).fit(
                                     reference.X, reference.var_names,
                                     truth.loc[reference.obs_names])
    expected = in_process.predict(test.X, test.var_names, test.obs_names)
    np.testing.assert_array_equal(labels["cellname"], test.obs_names)
    np.testing.assert_array_equal(labels["celltype"],
                                  expected.cell_types.astype(str))
    np.testing.assert_allclose(labels["confidence"],
                               expected.confidence,
                               atol=1e-5)
    # Types as rows, cells as columns, as the original script wrote them.
    assert list(proba.index) == in_process.type_names
    assert list(proba.columns) == list(test.obs_names)
    np.testing.assert_allclose(proba.to_numpy().T,
                               expected.probabilities,
                               atol=1e-5)
    loaded = ACTINNAnnotator.load(trained / "model")
    np.testing.assert_array_equal(
        loaded.predict(test.X, test.var_names).probabilities,
        expected.probabilities)


def test_run_equals_train_plus_predict(trained, tmp_path, capsys):
    # -m also saves run's annotator, for predict on more queries
    model = tmp_path / "run_model"
    assert main([
        "run", *TRAIN, "-ts",
        str(PATHS["test"]), "-o",
        str(tmp_path / "run"), "-op", "True", "-m",
        str(model), *QUICK
    ]) == 0
    run_labels, run_proba = read_predictions(tmp_path / "run")
    labels, proba = read_predictions(trained / "out")
    pd.testing.assert_frame_equal(run_labels, labels)
    pd.testing.assert_frame_equal(run_proba, proba)
    assert main([
        "predict", "-m",
        str(model), "-ts",
        str(PATHS["test"]), "-o",
        str(tmp_path / "again"), "-q"
    ]) == 0
    pd.testing.assert_frame_equal(
        read_predictions(tmp_path / "again")[0], labels)
    # an existing model directory is refused before any training
    _fails([
        "run", *TRAIN, "-ts",
        str(PATHS["test"]), "-o",
        str(tmp_path / "third"), "-m",
        str(model)
    ], capsys, "%s exists; pass --overwrite" % model, [tmp_path / "third"])


def test_original_long_flags_are_accepted(tmp_path):
    assert main([
        "run", "--train_set",
        str(PATHS["train"]), "--train_label",
        str(PATHS["train_labels"]), "--test_set",
        str(PATHS["test"]), "--num_epochs", "1", "--minibatch_size", "256",
        "--learning_rate", "0.0002", "--print_cost", "False", "-o",
        str(tmp_path)
    ]) == 0
    labels, _ = read_predictions(tmp_path)
    assert len(labels) == 1000


def _mtx_dir(adata, directory, v3):
    directory.mkdir()
    opener = gzip.open if v3 else open
    suffix = ".gz" if v3 else ""
    with opener(directory / ("matrix.mtx" + suffix), "wb") as handle:
        scipy.io.mmwrite(handle, sp.csr_matrix(adata.X).T.tocoo())
    name = "features.tsv" if v3 else "genes.tsv"
    with opener(directory / (name + suffix), "wt") as handle:
        for i, gene in enumerate(adata.var_names):
            extra = "\tGene Expression" if v3 else ""
            handle.write("ENSMUSG%05d\t%s%s\n" % (i, gene, extra))
    with opener(directory / ("barcodes.tsv" + suffix), "wt") as handle:
        handle.write("\n".join(adata.obs_names) + "\n")


def test_predict_reads_any_format(trained, tmp_path):
    test = read(PATHS["test"], upper_case_genes=False)
    _mtx_dir(test, tmp_path / "v3", v3=True)
    anndata.AnnData(X=sp.csr_matrix(test.X), obs=test.obs[[]],
                    var=test.var[[]]).write_h5ad(tmp_path / "q.h5ad")
    expected, _ = read_predictions(trained / "out")
    for query in (tmp_path / "v3", tmp_path / "q.h5ad"):
        out = tmp_path / ("out_" + query.name.replace(".", "_"))
        assert main([
            "predict", "-m",
            str(trained / "model"), "-ts",
            str(query), "-o",
            str(out), "-q"
        ]) == 0
        labels, _ = read_predictions(out)
        pd.testing.assert_frame_equal(labels, expected)


def test_format_converts_10x_to_actinn_h5_and_h5ad(tmp_path):
    test = read(PATHS["test"], upper_case_genes=False)
    _mtx_dir(test, tmp_path / "v2", v3=False)
    assert main([
        "format", "-i",
        str(tmp_path / "v2"), "-o",
        str(tmp_path / "conv"), "-f", "10X_V2", "--to", "both", "-q"
    ]) == 0
    frame = pd.read_hdf(tmp_path / "conv.h5", key="dge")
    original = pd.read_hdf(PATHS["test"], key="dge")
    np.testing.assert_array_equal(frame.to_numpy(), original.to_numpy())
    np.testing.assert_array_equal(frame.columns, original.columns)
    np.testing.assert_array_equal(frame.index,
                                  [g.upper() for g in original.index])
    h5ad = anndata.read_h5ad(tmp_path / "conv.h5ad")
    assert h5ad.shape == (1000, 2000)


def test_format_converts_tpm_when_allowed_never_a_log_scale(tmp_path, capsys):
    tpm = tmp_path / "tpm.csv"
    tpm.write_text("gene,c1,c2\nActb,120.5,0\nCd3e,3.25,80\n")
    logged = tmp_path / "logged.csv"
    logged.write_text("gene,c1,c2\nActb,1.5,0\nCd3e,3.25,2.5\n")
    assert main(["format", "-i",
                 str(tpm), "-o",
                 str(tmp_path / "a"), "-q"]) == 2
    assert "pass --allow-non-integer" in capsys.readouterr().err
    assert main([
        "format", "-i",
        str(tpm), "-o",
        str(tmp_path / "a"), "--to", "h5ad", "--allow-non-integer", "-q"
    ]) == 0
    np.testing.assert_allclose(
        anndata.read_h5ad(tmp_path / "a.h5ad").X.toarray(),
        [[120.5, 3.25], [0, 80]])
    assert main([
        "format", "-i",
        str(logged), "-o",
        str(tmp_path / "b"), "--allow-non-integer", "-q"
    ]) == 2
    assert "looks log-normalised" in capsys.readouterr().err
    assert not (tmp_path / "b.h5").exists()


def test_report_from_predictions(trained, tmp_path):
    out = tmp_path / "report"
    assert main([
        "report", "-p",
        str(trained / "out" / "predicted_label.txt"), "-pr",
        str(trained / "out" / "predicted_probabilities.txt"), "-l",
        str(PATHS["test_labels"]), "-m",
        str(trained / "model"), "-o",
        str(out), "-q"
    ]) == 0
    page = (out / "report.html").read_text()
    assert "data:image/png;base64" in page
    # the run information says what the model averages
    assert "%s: 3 networks and a logistic regression (weight 0.5)" % (
        trained / "model") in page
    for figure in ("confusion_matrix.png", "training_curves.png",
                   "confidence.png"):
        assert (out / figure).stat().st_size > 1000


def test_report_takes_the_directory_predict_wrote_into(trained, tmp_path,
                                                       capsys):
    # -p DIR means DIR/predicted_label.txt (and the probabilities beside
    # it); a directory without one is named with what to pass
    by_file, by_dir = tmp_path / "by_file", tmp_path / "by_dir"
    assert main([
        "report", "-p",
        str(trained / "out" / "predicted_label.txt"), "-o",
        str(by_file), "-q"
    ]) == 0
    assert main(["report", "-p", str(trained / "out"), "-o", str(by_dir)]) == 0
    assert "confidence from" not in capsys.readouterr().err
    assert ((by_dir /
             "confidence.png").read_bytes() == (by_file /
                                                "confidence.png").read_bytes())
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", "-p", str(empty), "-o", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == (
        "actinn report: error: %s is a directory without a "
        "predicted_label.txt; "
        "pass the predictions file (predict and run write "
        "predicted_label.txt in their -o directory)" % empty)
    assert not (tmp_path / "x").exists()


def test_report_scores_against_a_metadata_tables_column(trained, tmp_path):
    predictions = trained / "out" / "predicted_label.txt"
    truth = pd.read_csv(PATHS["test_labels"], sep="\t", header=None)
    table = tmp_path / "meta.csv"  # as R's write.csv(obj@meta.data)
    pd.DataFrame({
        "nCount_RNA": 1000,
        "cell_type": truth[1].to_numpy()
    },
                 index=truth[0].to_numpy()).to_csv(table)
    by_file = tmp_path / "by_file"
    by_table = tmp_path / "by_table"
    assert main([
        "report", "-p",
        str(predictions), "-l",
        str(PATHS["test_labels"]), "-o",
        str(by_file), "-q"
    ]) == 0
    assert main([
        "report", "-p",
        str(predictions), "-l",
        str(table), "--labels-column", "cell_type", "-o",
        str(by_table), "-q"
    ]) == 0

    # the same page, scores and all, as from the two-column labels file
    # (but the minute it was made, which may differ)
    def page(folder):
        return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "",
                      (folder / "report.html").read_text())

    assert page(by_table) == page(by_file)


def test_report_reads_a_type_named_na_and_refuses_blank_labels(tmp_path):
    """A type may be called "NA" or "None" (training keeps such labels); an
    empty label is missing, and the error names the file and the cells."""
    from deepchem_actinn.cli.report import read_predictions
    good = tmp_path / "predicted_label.txt"
    good.write_text("cellname\tcelltype\nc1\tNA\nc2\tNone\nc3\tB cell\n")
    assert read_predictions(
        str(good))["celltype"].tolist() == ["NA", "None", "B cell"]
    blank = tmp_path / "blank.txt"
    blank.write_text("cellname\tcelltype\nc1\tNA\nc2\t\n")
    with pytest.raises(ACTINNInputError,
                       match="blank.txt: 1 cell has no predicted label: c2"):
        read_predictions(str(blank))
    twice = tmp_path / "twice.txt"
    twice.write_text("cellname\tcelltype\nc1\tB\nc2\tT\nc1\tT\n")
    with pytest.raises(ACTINNInputError,
                       match="twice.txt: 1 cell appears more than once "
                       "\\(c1\\)"):
        read_predictions(str(twice))


def test_report_says_what_is_wrong_with_the_true_labels(trained, tmp_path,
                                                        capsys):
    predictions = trained / "out" / "predicted_label.txt"
    truth = pd.read_csv(PATHS["test_labels"],
                        sep="\t",
                        header=None,
                        names=["cell", "type"])
    partial = tmp_path / "partial.txt"
    truth.iloc[10:].to_csv(partial, sep="\t", header=False, index=False)

    def report(out, *flags):
        code = main([
            "report", "-p",
            str(predictions), "-o",
            str(tmp_path / out), *flags
        ])
        return code, capsys.readouterr().err

    code, err = report("r1", "-l", str(partial), "-q")
    assert code == 2
    assert "10 of 1000 cells have no label" in err
    assert ("label them all, pass --labelled-only to report on the labelled "
            "ones, or leave out -l" in err)
    # a Seurat user's subset: scored on the labelled cells, said so
    code, err = report("r1", "-l", str(partial), "--labelled-only")
    assert code == 0
    assert ("%s: 10 of the 1000 predicted cells have no label and are left "
            "out of the report (--labelled-only); reporting on 990" %
            partial) in err
    page = (tmp_path / "r1" / "report.html").read_text(encoding="utf-8")
    assert ">990<" in page
    assert ("<th>cells reported</th><td>the 990 of 1000 predicted cells that "
            "%s labels (--labelled-only)</td>" % partial) in page
    code, err = report("r3", "--labelled-only")
    assert code == 2
    assert "--labelled-only is about the true labels -l gives: pass -l too" in err
    lower = tmp_path / "lower.txt"
    truth.assign(type=truth["type"].str.lower()).to_csv(lower,
                                                        sep="\t",
                                                        header=False,
                                                        index=False)
    code, err = report("r2", "-l", str(lower))
    assert code == 0
    assert ("%s: none of its 12 types is among the predicted ones" %
            lower) in err


def test_report_finds_the_probabilities_beside_the_predictions(
        trained, tmp_path, capsys):
    # predicted_label.txt's confidence column is the top probability that
    # -op gives; without it (the original ACTINN's two columns), the
    # report reads the predicted_probabilities.txt that run -op /
    # predict -op wrote beside it
    with_op, without = tmp_path / "with_op", tmp_path / "without"
    with_column = tmp_path / "with_column"
    labels, proba = read_predictions(trained / "out")
    np.testing.assert_allclose(labels["confidence"],
                               proba.max(axis=0).to_numpy(),
                               atol=1e-6)
    assert main([
        "report", "-p",
        str(trained / "out" / "predicted_label.txt"), "-o",
        str(with_column), "-q"
    ]) == 0
    actinn_style = tmp_path / "actinn_style"
    actinn_style.mkdir()
    predictions = actinn_style / "predicted_label.txt"
    labels[["cellname", "celltype"]].to_csv(predictions, sep="\t", index=False)
    (actinn_style / "predicted_probabilities.txt").write_bytes(
        (trained / "out" / "predicted_probabilities.txt").read_bytes())
    assert main([
        "report", "-p",
        str(predictions), "-op",
        str(trained / "out" / "predicted_probabilities.txt"), "-o",
        str(with_op), "-q"
    ]) == 0
    assert main(["report", "-p", str(predictions), "-o", str(without)]) == 0
    err = capsys.readouterr().err
    # without -m, the reference types are the record's (prediction.json
    # beside the predictions), as -m gives them; none without a record
    reference = ('<div class="card"><div class="value">12</div><div '
                 'class="label">Reference types</div></div>')
    assert reference in (with_column / "report.html").read_text()
    assert "Reference types" not in (without / "report.html").read_text()
    assert "confidence from %s" % (actinn_style /
                                   "predicted_probabilities.txt") in err
    # report's -op, the old spelling of -pr (predict's -op is yes or no),
    # still works, with a warning even under -q
    assert ("actinn: report -op is deprecated (predict and run take -op for "
            "yes or no): use -pr FILE (--probabilities FILE); -op will be "
            "removed\n") in err
    assert err.count("wrote ") == 1 and "report: wrote " in err
    # no -m: why there are no training curves, in the command's terms, once
    assert ("actinn: report: no model was given with -m, so there are no "
            "training curves\n") in err
    assert err.count("training curves") == 1
    assert ((without /
             "confidence.png").read_bytes() == (with_op /
                                                "confidence.png").read_bytes())
    assert ((with_column /
             "confidence.png").read_bytes() == (with_op /
                                                "confidence.png").read_bytes())
    # a probabilities file left from another run (labels re-written
    # beside it) is refused, not read as this run's confidence
    stale = tmp_path / "stale"
    stale.mkdir()
    proba = pd.read_csv(trained / "out" / "predicted_probabilities.txt",
                        sep="\t",
                        index_col=0)
    proba.iloc[::-1].set_axis(proba.index).to_csv(stale /
                                                  "predicted_probabilities.txt",
                                                  sep="\t")
    (stale / "predicted_label.txt").write_bytes(predictions.read_bytes())
    _fails([
        "report", "-p",
        str(stale / "predicted_label.txt"), "-o",
        str(tmp_path / "s")
    ], capsys, "does not go with %s: " % (stale / "predicted_label.txt"),
           [tmp_path / "s"])
    # cells as rows instead of columns; a type named twice
    proba.T.to_csv(stale / "predicted_probabilities.txt", sep="\t")
    _fails([
        "report", "-p",
        str(stale / "predicted_label.txt"), "-o",
        str(tmp_path / "s")
    ], capsys,
           "predicted_probabilities.txt (found beside %s) lacks 1000 of the "
           "1000 predicted cells, e.g. tma_facs_2413, tma_facs_6516, " %
           (stale / "predicted_label.txt"), [tmp_path / "s"])
    twice = proba.copy()
    twice.index = [proba.index[0]] + list(proba.index[:-1])
    twice.to_csv(stale / "predicted_probabilities.txt", sep="\t")
    _fails([
        "report", "-p",
        str(stale / "predicted_label.txt"), "-o",
        str(tmp_path / "s")
    ], capsys, "names a type twice: %s" % proba.index[0], [tmp_path / "s"])
    holed = proba.copy()
    holed.iloc[2, 5] = np.nan
    holed.to_csv(stale / "predicted_probabilities.txt", sep="\t")
    _fails([
        "report", "-p",
        str(stale / "predicted_label.txt"), "-o",
        str(tmp_path / "s")
    ], capsys, "(found beside %s): 1 cell has a value that is not a number "
           "(NaN, empty, text), e.g. %s" %
           (stale / "predicted_label.txt", proba.columns[5]), [tmp_path / "s"])
    # predictions alone: the error says what is missing and where
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "predicted_label.txt").write_bytes(
        (actinn_style / "predicted_label.txt").read_bytes())
    _fails([
        "report", "-p",
        str(alone / "predicted_label.txt"), "-o",
        str(tmp_path / "r")
    ], capsys, "no confidence for the report: no confidence column and no "
           "predicted_probabilities.txt beside it; pass -pr FILE",
           [tmp_path / "r"])
    # predict's confidence column, damaged, is refused alike
    labels.loc[3, "confidence"] = "abc"
    labels.to_csv(alone / "predicted_label.txt", sep="\t", index=False)
    _fails([
        "report", "-p",
        str(alone / "predicted_label.txt"), "-o",
        str(tmp_path / "r")
    ], capsys, "%s's confidence column: 1 cell has a value that is not a "
           "number (NaN, empty, text), e.g. %s" %
           (alone / "predicted_label.txt", labels["cellname"][3]),
           [tmp_path / "r"])


def test_unassigned_flags(trained, tmp_path):
    out = tmp_path / "strict"
    assert main([
        "predict", "-m",
        str(trained / "model"), "-ts",
        str(PATHS["test"]), "-o",
        str(out), "--threshold", "0.99", "-q"
    ]) == 0
    labels, _ = read_predictions(out)
    # the threshold rule, as the annotator applies it, not the default rule
    test = read(PATHS["test"])
    model = ACTINNAnnotator.load(trained / "model")
    strict = model.predict(test.X, test.var_names, threshold=0.99)
    default = model.predict(test.X, test.var_names, unassigned=True)
    assert labels["celltype"].tolist() == strict.cell_types.tolist()
    assert (strict.cell_types == "Unassigned").sum() > (default.cell_types
                                                        == "Unassigned").sum()


# ----------------------------------------------------------------- errors
def _fails(args, capsys, message, outputs=()):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    assert "Traceback" not in err
    for path in outputs:
        assert not path.exists(), path
    return err


def test_user_errors_are_one_line_and_leave_nothing(trained, tmp_path, capsys):
    out = tmp_path / "out"
    model = str(trained / "model")
    _fails([
        "predict", "-m",
        str(tmp_path), "-ts",
        str(PATHS["test"]), "-o",
        str(out)
    ], capsys, "not an ACTINN annotator", [out / "predicted_label.txt"])
    _fails([
        "predict", "-m", model, "-ts",
        str(tmp_path / "missing.h5"), "-o",
        str(out)
    ], capsys, "missing.h5", [out / "predicted_label.txt"])
    # Labels that do not cover the matrix's cells.
    partial = tmp_path / "partial.txt"
    lines = PATHS["train_labels"].read_text().splitlines()
    partial.write_text("\n".join(lines[:-3]) + "\n")
    _fails([
        "train", "-trs",
        str(PATHS["train"]), "-trl",
        str(partial), "-m",
        str(tmp_path / "m"), "-q"
    ], capsys, "3", [tmp_path / "m"])
    # A query whose genes match nothing the model knows.
    test = read(PATHS["test"])
    alien = anndata.AnnData(
        X=sp.csr_matrix(test.X),
        obs=test.obs[[]],
        var=pd.DataFrame(index=["ENSMUSG%011d" % i for i in range(2000)]))
    alien.write_h5ad(tmp_path / "alien.h5ad")
    _fails([
        "predict", "-m", model, "-ts",
        str(tmp_path / "alien.h5ad"), "-o",
        str(out)
    ], capsys, "do not match", [out / "predicted_label.txt"])
    # Log-normalised values where counts are expected.
    lognorm = alien.copy()
    lognorm.var_names = test.var_names
    lognorm.X = sp.csr_matrix(np.log1p(test.X.toarray()))
    lognorm.write_h5ad(tmp_path / "lognorm.h5ad")
    _fails([
        "predict", "-m", model, "-ts",
        str(tmp_path / "lognorm.h5ad"), "-o",
        str(out)
    ], capsys, "non-integer", [out / "predicted_label.txt"])


def test_query_cut_to_a_few_genes(trained, tmp_path, capsys):
    """A query holding a third of the model's genes (as one cut to its
    highly variable genes) is refused saying so; --min-overlap accepts it,
    and the summary then warns."""
    model = ACTINNAnnotator.load(trained / "model")
    test = read(PATHS["test"], upper_case_genes=False)
    kept = [
        g for g in test.var_names if g.upper() in
        {m.upper() for m in model.genes_[:len(model.genes_) // 3]}
    ]
    few = test[:, kept].copy()
    few.write_h5ad(tmp_path / "few.h5ad")
    out = tmp_path / "out"
    args = [
        "predict", "-m",
        str(trained / "model"), "-ts",
        str(tmp_path / "few.h5ad"), "-o",
        str(out), "-q"
    ]
    err = _fails(
        args, capsys, "few.h5ad: the query's genes do not match the "
        "model's: %d of the model's %d genes found (33.3 %%; at least 50 %% "
        "needed). The query holds only %d genes: give the counts of every "
        "gene" % (len(kept), len(model.genes_), len(kept)),
        [out / "predicted_label.txt"])
    assert err.strip().endswith(  # in the command line's words
        "such as the highly variable genes. To annotate it anyway, pass "
        "--min-overlap 0.3")
    with pytest.raises(SystemExit):  # 0 would let any query through
        main(args + ["--min-overlap", "0"])
    assert "above 0 and at most 1" in capsys.readouterr().err
    assert main(args + ["--min-overlap", "0.3"]) == 0
    assert len(read_predictions(out)[0]) == test.n_obs
    assert "(it shares only %d of them, under half: expect poor labels)" % len(
        kept) in capsys.readouterr().err


def test_run_takes_min_overlap_before_training(tmp_path, capsys):
    """actinn run refuses a query cut to a third of the reference's genes
    before training, naming --min-overlap, which lets it train on those
    genes."""
    from deepchem_actinn.cli.parser import build_parser
    from deepchem_actinn.cli.predict import _genes_to_train_on
    test = read(PATHS["test"], upper_case_genes=False)
    few = test[:, :600].copy()
    few.write_h5ad(tmp_path / "few.h5ad")
    reference = list(read(PATHS["train"], upper_case_genes=False).var_names)
    args = ["run"] + TRAIN + ["-ts", str(tmp_path / "few.h5ad")]
    with pytest.raises(ACTINNInputError,
                       match="few.h5ad: the query's genes do not match the "
                       "reference's: 600 of the reference's 2000 genes found "
                       r"\(30 %; at least 50 % needed\)"):
        _genes_to_train_on(build_parser().parse_args(args), reference)
    assert main(args + ["-o", str(tmp_path / "out"), "-q"]) == 2
    line, = capsys.readouterr().err.splitlines()
    assert line.startswith("actinn run: error: %s: the query's genes do not "
                           "match the reference's" % (tmp_path / "few.h5ad"))
    assert line.endswith("To annotate it anyway, pass --min-overlap 0.3")
    assert not (tmp_path / "out").exists()
    genes = _genes_to_train_on(
        build_parser().parse_args(args + ["--min-overlap", "0.25"]), reference)
    assert [g.upper() for g in genes] == [g.upper() for g in few.var_names]


def test_existing_outputs_are_not_clobbered(trained, capsys):
    target = trained / "out" / "predicted_label.txt"
    before = target.read_bytes()
    _fails([
        "predict", "-m",
        str(trained / "model"), "-ts",
        str(PATHS["test"]), "-o",
        str(trained / "out")
    ], capsys, "exists; pass --overwrite")
    assert target.read_bytes() == before
    _fails(
        ["train", *TRAIN, "-m", str(trained / "model")], capsys,
        "exists; pass --overwrite")


def test_overwrite_removes_outputs_this_run_does_not_write(
        trained, tmp_path, capsys):
    """In a directory holding an earlier prediction, its probabilities file
    and clusters table would pass for the new labels' own: they are refused
    like the labels, and --overwrite takes them away. A directory without
    an earlier prediction keeps a clusters.txt of the user's."""
    predict = [
        "predict", "-m",
        str(trained / "model"), "-ts",
        str(PATHS["test"]), "-q"
    ]
    out = tmp_path / "out"
    out.mkdir()
    (out / "predicted_label.txt").write_text("stale\n")
    for name in ("predicted_probabilities.txt", "clusters.txt"):
        (out / name).write_text("stale\n")
        # the refusal names the file the user knows this run writes
        err = _fails(
            predict + ["-o", str(out)], capsys,
            "%s exists; pass --overwrite" % (out / "predicted_label.txt"))
        assert name not in err
        (out / name).unlink()
    (out / "predicted_probabilities.txt").write_text("stale\n")
    (out / "clusters.txt").write_text("stale\n")
    (out / "notes.txt").write_text("mine\n")
    assert main(predict + ["-o", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "notes.txt", "predicted_label.txt", "prediction.json"
    ]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "clusters.txt").write_text("my clusters\n")
    assert main(predict + ["-o", str(mine)]) == 0
    assert (mine / "clusters.txt").read_text() == "my clusters\n"


def test_errors_in_a_subprocess_have_no_traceback(tmp_path):
    proc = actinn("predict",
                  "-m",
                  str(tmp_path / "none"),
                  "-ts",
                  str(PATHS["test"]),
                  "-o",
                  str(tmp_path),
                  check=False)
    assert proc.returncode == 2
    assert "no such annotator directory" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_simulate_writes_labels(tmp_path):
    assert main([
        "simulate", "-o",
        str(tmp_path / "sim.h5ad"), "--cells", "300", "--genes", "200",
        "--types", "3", "--labels",
        str(tmp_path / "sim_labels.txt"), "-q"
    ]) == 0
    adata = anndata.read_h5ad(tmp_path / "sim.h5ad")
    labels = pd.read_csv(tmp_path / "sim_labels.txt", sep="\t", header=None)
    assert adata.shape == (300, 200)
    np.testing.assert_array_equal(labels[0], adata.obs_names)


def test_train_out_of_core_from_h5ad(tmp_path):
    """``--out-of-core`` trains from disk; the saved model predicts."""
    reference = read(PATHS["train"])
    reference.write_h5ad(tmp_path / "ref.h5ad")
    assert main([
        "train", "-trs",
        str(tmp_path / "ref.h5ad"), "-trl",
        str(PATHS["train_labels"]), "-m",
        str(tmp_path / "model"), "--out-of-core", "--networks", "1", "-ne", "2",
        "-q"
    ]) == 0
    loaded = ACTINNAnnotator.load(tmp_path / "model")
    assert loaded.n_reference_cells_ == 4000
    assert len(loaded.history_["train_loss"]) == 2


def test_threads_option_is_applied_then_restored(trained, tmp_path, capsys):
    import torch
    before = torch.get_num_threads()
    seen = []
    real = ACTINNAnnotator.load

    def load(path, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ACTINNAnnotator, "load", load)
        assert main([
            "predict", "-m",
            str(trained / "model"), "-ts",
            str(PATHS["test"]), "-o",
            str(tmp_path / "out"), "--threads", "2", "-q"
        ]) == 0
    assert seen == [2] and before != 2  # one thread in tests (conftest.py)
    assert torch.get_num_threads() == before
    labels, _ = read_predictions(tmp_path / "out")
    expected, _ = read_predictions(trained / "out")
    assert list(labels["celltype"]) == list(expected["celltype"])
    assert main([
        "predict", "-m",
        str(trained / "model"), "-ts",
        str(PATHS["test"]), "-o",
        str(tmp_path / "out2"), "--threads", "0", "-q"
    ]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()


def test_predict_matches_genes_through_ensembl_ids(tmp_path, capsys):
    """A model trained on Ensembl ids annotates a 10x query whose names are
    symbols, matching through the features file's id column."""
    # every fourth reference cell (each type kept): the genes are the subject
    train = read(PATHS["train"], upper_case_genes=False)[::4]
    ids = ["ENSMUSG%05d" % i for i in range(train.n_vars)]
    by_id = anndata.AnnData(train.X,
                            obs=train.obs[[]],
                            var=pd.DataFrame(index=ids))
    by_id.write_h5ad(tmp_path / "ref.h5ad")
    truth = pd.read_csv(PATHS["train_labels"],
                        sep="\t",
                        header=None,
                        index_col=0)[1]
    truth.loc[train.obs_names].to_csv(tmp_path / "ref_labels.txt",
                                      sep="\t",
                                      header=False)
    assert main([
        "train", "-trs",
        str(tmp_path / "ref.h5ad"), "-trl",
        str(tmp_path / "ref_labels.txt"), "-m",
        str(tmp_path / "m"), "--networks", "1", "-ne", "2", "-q"
    ]) == 0
    test = read(PATHS["test"], upper_case_genes=False)
    _mtx_dir(test, tmp_path / "v3", v3=True)  # ids ENSMUSG%05d, symbols
    assert main([
        "predict", "-m",
        str(tmp_path / "m"), "-ts",
        str(tmp_path / "v3"), "-o",
        str(tmp_path / "out")
    ]) == 0
    # a 10x directory has no var: its gene ids are named as they are
    assert ("genes matched by the query's gene_ids: all of the model's"
            in capsys.readouterr().err)
    labels, _ = read_predictions(tmp_path / "out")
    assert len(labels) == 1000


@pytest.fixture(scope="module")
def partial_query(tmp_path_factory):
    """The bundled test cells with every third reference gene missing,
    genes in lower case, and 40 genes the reference never measured."""
    test = read(PATHS["test"])
    kept = [g for i, g in enumerate(test.var_names) if i % 3]
    extra = np.random.default_rng(0).poisson(2.0, (test.n_obs, 40)).astype(
        np.float32)
    X = sp.hstack([sp.csr_matrix(test[:, kept].X), extra]).tocsr()
    genes = [g.lower() for g in kept] + ["UNSEEN%02d" % i for i in range(40)]
    query = anndata.AnnData(X,
                            obs=pd.DataFrame(index=test.obs_names),
                            var=pd.DataFrame(index=genes))
    path = tmp_path_factory.mktemp("partial") / "query.h5ad"
    query.write_h5ad(path)
    return path, kept, query


def _in_process(genes, query):
    """A 3-epoch one-network annotator on the bundled reference's
    ``genes``, and its labels for ``query``."""
    reference = read(PATHS["train"])
    truth = pd.read_csv(PATHS["train_labels"],
                        sep="\t",
                        header=None,
                        index_col=0)[1]
    sub = reference[:, genes]
    annotator = ACTINNAnnotator(max_epochs=3,
                                early_stopping=False,
                                seed=0,
                                n_networks=1).fit(sub.X, sub.var_names,
                                                  truth.loc[sub.obs_names])
    return annotator.predict(query.X, query.var_names).cell_types.astype(str)


@pytest.mark.parametrize("all_genes", [False, True],
                         ids=["shared", "all-reference-genes"])
def test_run_trains_on_the_genes_the_query_measures(partial_query, tmp_path,
                                                    capsys, all_genes):
    # in this process: the command's messages and labels are the subject
    # (test_errors_in_a_subprocess_have_no_traceback and the `trained`
    # fixture run the command in a process of its own)
    path, kept, query = partial_query
    flags = ["--all-reference-genes"] if all_genes else []
    assert main([
        "run", *TRAIN, "-ts",
        str(path), "-o",
        str(tmp_path / "o"), "-ne", "3", "--networks", "1", "--seed", "0",
        "--print-cost", "False", *flags
    ]) == 0
    err = capsys.readouterr().err
    labels, _ = read_predictions(tmp_path / "o")
    reference_genes = list(read(PATHS["train"]).var_names)
    if all_genes:
        assert "training on the" not in err
        assert ("638 of the model's 1921 genes are missing from the query"
                in err)
        expected = _in_process(reference_genes, query)
    else:
        assert ("training on the 1333 of the reference's 2000 genes that "
                "the query measures") in err
        assert "genes matched by the query's gene names: all of the model's" in err
        expected = _in_process(kept, query)
    np.testing.assert_array_equal(labels["celltype"], expected)


def test_run_refuses_a_query_with_too_few_reference_genes_before_training(
        tmp_path, actinn_process):
    test = read(PATHS["test"])
    few = test[:, list(test.var_names[:100])].copy()
    few.write_h5ad(tmp_path / "few.h5ad")
    proc = actinn_process("run", *TRAIN, "-ts", str(tmp_path / "few.h5ad"),
                          "-o", str(tmp_path / "o"), "-ne", "3", "--print-cost",
                          "False")
    assert proc.returncode == 2
    assert str(tmp_path / "few.h5ad") in proc.stderr
    assert "reference's" in proc.stderr
    assert "training" not in proc.stderr
    assert "trained" not in proc.stderr  # refused before training
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flags, content, words", [
    (["--hierarchy"], "B cell\tlymphocyte\nNK cells\tlymphocyte\n",
     "1 type the model does not know: NK cells"),
    (["--hierarchy"], "a\tb\nb\ta\n", "a -> b -> a"),
    (["--majority-voting", "--over-clustering"
     ], "cell0\t1\n", "1000 query cells have no cluster"),
])
def test_run_reads_the_hierarchy_and_clusters_before_training(
        tmp_path, monkeypatch, capsys, flags, content, words):
    """A bad --hierarchy or --over-clustering file fails before the
    networks are trained, its name in the error."""
    import deepchem_actinn.cli.train as train

    def no_training(*args, **kwargs):
        raise AssertionError("trained before reading the files")

    monkeypatch.setattr(train, "train_annotator", no_training)
    given = tmp_path / "given.txt"
    given.write_text(content)
    assert main([
        "run", *TRAIN, "-ts",
        str(PATHS["test"]), "-o",
        str(tmp_path / "o"), *flags,
        str(given), "-q"
    ]) == 2
    err = capsys.readouterr().err
    assert "%s" % given in err and words in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flags, content, words", [
    (["--hierarchy"], "B cell\tlymphocyte\nNK cells\tlymphocyte\n",
     "1 type the model does not know: NK cells"),
])
def test_predict_hierarchy_errors_name_the_file(trained, tmp_path, capsys,
                                                flags, content, words):
    given = tmp_path / "given.txt"
    given.write_text(content)
    assert main([
        "predict", "-m",
        str(trained / "model"), "-ts",
        str(PATHS["test"]), "-o",
        str(tmp_path / "o"), *flags,
        str(given), "-q"
    ]) == 2
    err = capsys.readouterr().err
    assert "%s: " % given in err and words in err, err


def test_run_out_of_core_trains_on_the_genes_the_query_measures(
        partial_query, tmp_path, capsys):
    path, kept, _ = partial_query
    assert main([
        "run", *TRAIN, "-ts",
        str(path), "-o",
        str(tmp_path / "o"), "-ne", "1", "--networks", "1", "--print-cost",
        "False", "--out-of-core"
    ]) == 0
    err = capsys.readouterr().err
    assert "training from disk" in err
    assert ("training on the 1333 of the reference's 2000 genes that the "
            "query measures") in err
    assert "genes matched by the query's gene names: all of the model's" in err
    labels, _ = read_predictions(tmp_path / "o")
    assert len(labels) == 1000


def test_help_says_where_to_start(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "New here? `actinn demo` trains" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    out = capsys.readouterr().out
    assert "\nAnnotate a query with a saved annotator.\n" in out
    assert "(off by default; this is the rule to choose first)" in " ".join(
        out.split())


@pytest.mark.parametrize("command,option", [("train", "--train-format"),
                                            ("predict", "--test-format"),
                                            ("run", "--test-format"),
                                            ("report", "--query-format"),
                                            ("format", "--format")])
def test_format_options_list_every_format_they_take(capsys, command, option):
    from deepchem_actinn.cli.values import FORMAT_ALIASES
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split()).lower()
    said = text[text.rindex(option + " format"):][:400]
    for name in FORMAT_ALIASES:
        if name != "auto":
            assert name in said, (option, name)


def test_demo_takes_the_ensemble_and_epochs_options(monkeypatch, tmp_path):
    """``actinn demo --networks 1 -ne 2`` trains as ``actinn train`` would
    with them (a quicker first look); without them, the defaults."""
    from deepchem_actinn import ACTINNAnnotator
    seen = []

    class Stop(Exception):
        pass

    def fit(self, *args, **kwargs):
        seen.append((self.n_networks, self.max_epochs, self.early_stopping))
        raise Stop

    monkeypatch.setattr(ACTINNAnnotator, "fit", fit)
    for flags, settings in ((["--networks", "1", "-ne",
                              "2"], (1, 2, False)), ([], (3, 200, True))):
        with pytest.raises(Stop):
            main(["demo", "-o", str(tmp_path / "demo"), "-q", *flags])
        assert seen.pop() == settings
