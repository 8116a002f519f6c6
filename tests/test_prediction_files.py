"""The prediction files' one format (``deepchem_actinn.io.predictions``):
one writer for every path, with any extra columns, writing what the
whole-query writer (pandas) wrote byte for byte; one rule for cell ids a
line cannot hold; the reader ``actinn report`` uses, and what the report
refuses of a probabilities file that does not go with the predictions."""
import csv
import io
import logging
import shutil

import numpy as np
import pandas as pd
import pytest

from deepchem_actinn import Annotation
from deepchem_actinn.cli import main
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import read_labels
from deepchem_actinn.io.predictions import (
    EXTRA_COLUMNS, PredictedLabelWriter, read_predictions, read_probabilities,
    refuse_unwritable, unwritable, write_predicted_labels, write_probabilities)


def _pandas_whole_file(result) -> bytes:
    """``predicted_label.txt`` as the whole-query path wrote it before the
    one writer (pandas' ``to_csv``), for comparing byte for byte."""
    frame = pd.DataFrame({
        "cellname": result.cell_ids,
        "celltype": result.cell_types,
        "confidence": ["%.6f" % c for c in result.confidence]
    })
    if result.unassigned_reason is not None:
        frame["unassigned_reason"] = np.asarray(result.unassigned_reason,
                                                dtype=object)
    for name, values in (("over_clustering", result.clusters),
                         ("majority_voting", result.majority_cell_types),
                         ("level", result.levels)):
        if values is not None:
            frame[name] = np.asarray(values)
    if result.ambient_fraction is not None:
        frame["ambient_fraction"] = np.round(
            np.asarray(result.ambient_fraction), 4)
    out = io.StringIO()
    frame.to_csv(out, sep="\t", index=False, lineterminator="\n")
    return out.getvalue().encode("utf-8")


def _annotation(n=200, seed=0, clusters_as=str, fraction_dtype=np.float64):
    rng = np.random.default_rng(seed)
    types = np.array(["B cell", 'Macrophage "M2"', "T\tcell", "Unassigned"],
                     dtype=object)
    labels = types[rng.integers(0, 4, n)]
    proba = rng.dirichlet(np.ones(3), n)
    fractions = rng.choice([0.0, 1e-5, 0.00012, 0.5, 0.123456, 1 / 3], n)
    clusters = rng.integers(0, 30, n)
    return Annotation(np.array(["c%d" % i for i in range(n)], dtype=object),
                      labels,
                      proba.max(axis=1),
                      proba, ["B cell", 'Macrophage "M2"', "T\tcell"],
                      unassigned_reason=np.where(labels == "Unassigned",
                                                 "novel", "").astype(object),
                      majority_cell_types=labels[::-1].copy(),
                      clusters=np.asarray(clusters).astype(clusters_as),
                      levels=np.where(labels == "Unassigned", "unassigned",
                                      "type").astype(object),
                      ambient_fraction=fractions.astype(fraction_dtype))


@pytest.mark.parametrize("clusters_as,fraction_dtype", [(str, np.float64),
                                                        (int, np.float32)])
def test_one_writer_writes_what_the_whole_query_writer_wrote(
        tmp_path, clusters_as, fraction_dtype):
    result = _annotation(clusters_as=clusters_as, fraction_dtype=fraction_dtype)
    path = tmp_path / "predicted_label.txt"
    with PredictedLabelWriter(path) as writer:
        writer.write_annotation(result)
    assert path.read_bytes() == _pandas_whole_file(result)
    header = path.read_text().splitlines()[0].split("\t")
    assert header == [
        "cellname", "celltype", "confidence", "unassigned_reason",
        *[name for name, _ in EXTRA_COLUMNS]
    ]
    # and the package's own labels reader reads it back
    assert read_labels(path).to_dict() == dict(
        zip(result.cell_ids, result.cell_types))
    # chunk by chunk, the same bytes
    chunked = tmp_path / "chunked.txt"
    with PredictedLabelWriter(chunked) as writer:
        for start in range(0, len(result), 64):
            part = slice(start, start + 64)
            writer.write(result.cell_ids[part],
                         result.cell_types[part],
                         result.confidence[part],
                         result.unassigned_reason[part],
                         extra={
                             "over_clustering":
                                 result.clusters[part],
                             "majority_voting":
                                 result.majority_cell_types[part],
                             "level":
                                 result.levels[part],
                             "ambient_fraction":
                                 np.round(result.ambient_fraction[part], 4)
                         })
    assert chunked.read_bytes() == path.read_bytes()


def test_extra_columns_stay_the_same_for_every_chunk(tmp_path):
    with pytest.raises(ValueError, match="the same extra columns"):
        with PredictedLabelWriter(tmp_path / "p.txt") as writer:
            writer.write(["c1"], ["B"], [0.5], extra={"level": ["type"]})
            writer.write(["c2"], ["B"], [0.5])
    assert not (tmp_path / "p.txt").exists()


def test_an_id_holding_a_line_break_is_refused_naming_the_source():
    refuse_unwritable(["c1", "c\t2", 'c"3'], "q.h5ad")  # quoted, not refused
    with pytest.raises(ACTINNInputError) as err:
        refuse_unwritable(["c1", "cell\ntwo", "c\r3"], "q.h5ad")
    assert str(err.value) == (
        "q.h5ad: 2 cell ids hold a line break, which the prediction files "
        "cannot hold (one line per cell): 'cell\\ntwo', 'c\\r3'; rename the "
        "cells")


@pytest.mark.parametrize("name", ["predicted_label.txt", "labels.txt.gz"])
def test_the_writer_refuses_a_line_break_before_writing(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(ACTINNInputError,
                       match="cannot write %s: 1 cell id holds a line break" %
                       path):
        write_predicted_labels(path, ["c1", "cell\ntwo"], ["B", "T"])
    assert list(tmp_path.iterdir()) == []


def test_one_rule_says_what_a_prediction_file_holds():
    # a tab or a quote is quoted; a line break no quoting mends
    assert unwritable(["B", "T\tcell", 'M "2"', "NK\ncell", "x\ry",
                       "NK\ncell"]) == ["NK\ncell", "x\ry"]
    with pytest.raises(ACTINNInputError) as err:
        refuse_unwritable(["B", "NK\ncell", "B", "NK\ncell"], "labels.txt",
                          "cell type")
    assert str(err.value) == (
        "labels.txt: 1 cell type holds a line break, which the prediction "
        "files cannot hold (one line per cell): 'NK\\ncell'; rename the "
        "types")


def test_the_writers_name_the_file_as_given_and_count_types(tmp_path):
    """Written in a hidden folder, the files are named as the user named
    them; a type is counted once however many cells were given it, and
    the types are what to rename."""
    hidden = tmp_path / ".out.tmp-5f57bca5"
    hidden.mkdir()
    named = tmp_path / "out" / "predicted_label.txt"
    with pytest.raises(ACTINNInputError) as err:
        with PredictedLabelWriter(hidden / "predicted_label.txt",
                                  name=named) as writer:
            writer.write(["c1", "c2", "c3"], ["NK\ncell", "B", "NK\ncell"],
                         [0.5, 0.5, 0.5])
    assert str(err.value) == (
        "cannot write %s: 1 cell type holds a line break, which the "
        "prediction files cannot hold (one line per cell): 'NK\\ncell'; "
        "rename the types" % named)
    proba = tmp_path / "out" / "predicted_probabilities.txt"
    with pytest.raises(ACTINNInputError,
                       match="^cannot write %s: 1 cell type holds" % proba):
        write_probabilities(hidden / "p.txt", ["c1"], ["B", "NK\ncell"],
                            [[0.5, 0.5]],
                            name=proba)
    with pytest.raises(ACTINNInputError,
                       match="^cannot write %s: 1 cluster holds a line break.*"
                       "; rename the clusters$" % named):
        with PredictedLabelWriter(hidden / "predicted_label.txt",
                                  name=named) as writer:
            writer.write(["c1", "c2"], ["B", "B"], [0.5, 0.5],
                         extra={"over_clustering": ["a\nb", "a\nb"]})
    assert list(hidden.iterdir()) == []


@pytest.mark.parametrize("lines, line, fields", [
    (["c1\tA\t0.5\tX\tY", "c2\tB\t0.6", "c3\tB\t0.7"], 2, 5),
    (["c1\tA\t0.5", "", "c2\tB\t0.6\tX"], 4, 4),
    (["c1\tA\t0.5\tX", "c2\tB\t0.6\tY"], 2, 4),
],
                         ids=["first", "later", "every"])
def test_a_line_of_more_fields_than_the_header_is_refused(
        tmp_path, capsys, lines, line, fields):
    """pandas took the first cell's extra fields as an index: the report
    said its confidences were cells without labels."""
    path = tmp_path / "predicted_label.txt"
    _write(path, ["cellname\tcelltype\tconfidence"] + lines)
    message = ("%s: line %d has %d fields, the header 3: a "
               "predicted_label.txt has one field per column on every line "
               "(a field holding a tab is quoted)" % (path, line, fields))
    with pytest.raises(ACTINNInputError) as err:
        read_predictions(path)
    assert str(err.value) == message
    assert main(
        ["report", "-p",
         str(path), "-o",
         str(tmp_path / "report"), "-q"]) == 2
    assert capsys.readouterr().err == "actinn report: error: %s\n" % message


def test_the_reader_refuses_what_the_writers_never_write(tmp_path):
    spread = tmp_path / "spread.txt"
    with open(spread, "w", newline="") as fh:  # pandas' quoted field
        csv.writer(fh, delimiter="\t",
                   lineterminator="\n").writerows([["cellname", "celltype"],
                                                   ["c1", "B"],
                                                   ["cell\ntwo", "T"]])
    with pytest.raises(ACTINNInputError,
                       match="spread.txt: 1 cell id holds a line break"):
        read_predictions(spread)
    header = tmp_path / "header.txt"
    header.write_text("cellname\tcelltype\tconfidence\n")
    with pytest.raises(ACTINNInputError,
                       match="header.txt: no cells, only the header"):
        read_predictions(header)
    # a cell without an id was read as one named "nan" (the report's
    # labels then lacked "nan"), an empty file said pandas' words
    blank = tmp_path / "blank.txt"
    blank.write_text("cellname\tcelltype\nc1\tB\n\tT\nc3\tT\n")
    with pytest.raises(ACTINNInputError) as err:
        read_predictions(blank)
    assert str(err.value) == (
        "%s: 1 cell has no id (an empty cellname): line 3; the report "
        "matches cells by id" % blank)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ACTINNInputError) as err:
        read_predictions(empty)
    assert str(
        err.value) == ("%s: the file is empty, not a predicted_label.txt" %
                       empty)


def test_probabilities_are_checked_to_be_probabilities(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("\tc1\tc2\tc3\nB\t0.5\t1.0000001\t-0.5\n"
                    "T\t0.5\t0\t1.5\n")
    with pytest.raises(ACTINNInputError) as err:
        read_probabilities(path)
    assert str(err.value) == (
        "%s: 1 cell has a value outside [0, 1], which no probability is: "
        "c3 (-0.5)" % path)
    path.write_text("\tc1\tc2\nB\t0.5\t1.0000001\nT\t0.5\t0\n")
    np.testing.assert_array_equal(
        read_probabilities(path).to_numpy(), [[0.5, 1.0], [0.5, 0.0]])


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def prediction(tmp_path):
    """A predict -op run's two files, three types, four cells."""
    folder = tmp_path / "pred"
    folder.mkdir()
    _write(folder / "predicted_label.txt", [
        "cellname\tcelltype\tconfidence", "c1\tB\t0.700000", "c2\tT\t0.600000",
        "c3\tNK\t0.500000", "c4\tUnassigned\t0.400000"
    ])
    _write(folder / "predicted_probabilities.txt", [
        "\tc1\tc2\tc3\tc4", "B\t0.7\t0.2\t0.25\t0.4", "T\t0.2\t0.6\t0.25\t0.3",
        "NK\t0.1\t0.2\t0.5\t0.3"
    ])
    return folder


def _report(folder, tmp_path, capsys, *flags):
    code = main([
        "report", "-p",
        str(folder / "predicted_label.txt"), "-pr",
        str(folder / "predicted_probabilities.txt"), "-o",
        str(tmp_path / "report"), "-q", "--threads", "1", *flags
    ])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("edit,message", [
    (lambda s: "\n".join(line for line in s.splitlines()
                         if not line.startswith("NK")) + "\n",
     "does not go with {labels}: it has no row for NK, which 1 cell was "
     "given; were both written by the same run? Pass -pr with that run's "
     "file"),
    (lambda s: s.replace("T\t0.2", "Tcell\t0.2"),
     "does not go with {labels}: it has no row for T, which 1 cell was "
     "given"),
    (lambda s: s.replace("0.25\t0.3", "0.25\t-0.3"),
     "{proba}: 1 cell has a value outside [0, 1], which no probability is: "
     "c4 (-0.3)"),
],
                         ids=["row_dropped", "type_renamed", "negative"])
def test_report_refuses_probabilities_that_do_not_go_with_the_predictions(
        prediction, tmp_path, capsys, edit, message):
    assert _report(prediction, tmp_path, capsys)[0] == 0
    proba = prediction / "predicted_probabilities.txt"
    proba.write_text(edit(proba.read_text()))
    code, err = _report(prediction, tmp_path, capsys, "--overwrite")
    assert code == 2
    assert err.count("\n") == 1
    assert message.format(labels=prediction / "predicted_label.txt",
                          proba=proba) in err


def test_report_names_the_predictions_file_of_bad_confidences(
        prediction, tmp_path, capsys):
    labels = prediction / "predicted_label.txt"
    labels.write_text(labels.read_text().replace("0.600000", "7.5"))
    code, err = _report(prediction, tmp_path, capsys)
    assert code == 2
    assert err == ("actinn report: error: %s's confidence column: 1 cell has "
                   "a value outside [0, 1], which no probability is: c2 "
                   "(7.5)\n" % labels)
    labels.write_text("cellname\tcelltype\tconfidence\n")
    code, err = _report(prediction, tmp_path, capsys)
    assert code == 2
    assert err == ("actinn report: error: %s: no cells, only the header\n" %
                   labels)


@pytest.mark.parametrize("flag, name", [("-l", "summary.txt"),
                                        ("-p", "report.html")])
def test_report_refuses_an_input_among_its_outputs(prediction, tmp_path, capsys,
                                                   flag, name):
    """An input named as a file the report writes into -o: --overwrite
    replaced it (true labels kept as summary.txt, say); refused before
    any work, the file kept."""
    out = tmp_path / "report"
    out.mkdir()
    inside = out / name
    if flag == "-l":
        inside.write_text("c1\tB\nc2\tT\nc3\tNK\nc4\tB\n")
        given = ["-p", str(prediction / "predicted_label.txt"), "-l"]
    else:
        shutil.copy(prediction / "predicted_label.txt", inside)
        given = ["-p"]
    before = inside.read_bytes()
    assert main([
        "report", *given,
        str(inside), "-pr",
        str(prediction / "predicted_probabilities.txt"), "-o",
        str(out), "-q", "--overwrite"
    ]) == 2
    assert capsys.readouterr().err == (
        "actinn report: error: %s: %s names a file the report writes into "
        "%s; move it out of the output directory, or write elsewhere (-o)\n" %
        (inside, flag, out))
    assert inside.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_query_genes_is_said_alike_by_every_path(quick, tm_test, tmp_path,
                                                 caplog):
    """predict_file, annotate and predict_file_dask choose the query's gene
    column with one function and say it the same way: the column at INFO,
    the species at WARNING, once each (predict_file said the column as a
    warning, and never the species)."""
    import anndata

    from deepchem_actinn import annotate
    genes = [g.upper() for g in tm_test["genes"]]  # human-style symbols
    query = anndata.AnnData(
        tm_test["X"][:300].astype(np.float32),
        obs=pd.DataFrame(index=tm_test["ids"][:300]),
        var=pd.DataFrame({"symbol": genes},
                         index=["ENSG%05d" % i for i in range(len(genes))]))
    path = tmp_path / "query.h5ad"
    query.write_h5ad(path)

    def said(run):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="deepchem_actinn"):
            run()
        return [(r.levelname, r.getMessage().replace("%s: " % path, ""))
                for r in caplog.records
                if "matched genes through" in r.getMessage() or
                "species" in r.getMessage()]

    by_file = said(lambda: list(quick.predict_file(path)))
    assert by_file == [
        ("INFO", "matched genes through var['symbol'] (%d of the model's %d "
         "genes)" % (len(quick.genes_), len(quick.genes_))),
        ("WARNING", "the model's genes are written like Cd3e (mouse, rat), "
         "the query's like CD3E (human): is the query from another species? "
         "Genes were matched by ignoring case"),
    ]
    assert said(lambda: annotate(query.copy(), quick)) == by_file


def test_text_in_a_wide_probabilities_file_is_named_without_pandas_words(
        tmp_path):
    """pandas parses a wide file in pieces and warns (DtypeWarning) of a
    cell's column holding text in one of them; the reader's own message
    names the cell, and no pandas warning comes out."""
    import warnings
    n_cells, n_types = 50000, 20
    lines = ["\t" + "\t".join("c%d" % i for i in range(n_cells))]
    for t in range(n_types):
        values = ["0.05"] * n_cells
        if t == n_types - 1:
            values[5] = "abc"
        lines.append("t%d\t" % t + "\t".join(values))
    path = tmp_path / "probabilities.txt"
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ACTINNInputError) as err:
            read_probabilities(path)
    assert str(err.value) == (
        "%s: 1 cell has a value that is not a number (NaN, empty, text), "
        "e.g. c5" % path)
