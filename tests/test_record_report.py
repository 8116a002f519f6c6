"""A ``prediction.json`` edited by hand or damaged: ``actinn report`` leaves
it out with one warning naming the file and the field whose value is not
of the shape the record's writer gives it, never with a traceback, never
showing the value in its place (deepchem_actinn/cli/record_report.py)."""
import copy
import json
import logging

import pytest

from deepchem_actinn.cli import main
from deepchem_actinn.cli.record_report import record_info

pytestmark = pytest.mark.torch

RECORD = "prediction.json"

#: A field's value that is a key removed.
MISSING = object()


@pytest.fixture(scope="module")
def predicted(tmp_path_factory, small_reference):
    """A prediction's directory (with ``--threshold``, in chunks) and its
    record as written."""
    root = tmp_path_factory.mktemp("record_report")
    model, out = root / "model", root / "out"
    assert main([
        "train", *small_reference, "-m",
        str(model), "-ne", "1", "--networks", "1", "--device", "cpu", "-q"
    ]) == 0
    assert main([
        "predict", "-m",
        str(model), "-ts", small_reference[1], "-o",
        str(out), "--threshold", "0.9", "--chunk-size", "250", "--device",
        "cpu", "-q"
    ]) == 0
    return out, json.loads((out / RECORD).read_text())


def _set(record, field, value):
    """``record`` with ``field`` (``a.b.c``) set to ``value``, or removed
    (``value`` is :data:`MISSING`)."""
    changed = copy.deepcopy(record)
    *above, key = field.split(".")
    part = changed
    for name in above:
        part = part[name]
    if value is MISSING:
        del part[key]
    else:
        part[key] = value
    return changed


def _info(out, caplog):
    """What the report takes of the record in ``out``, and its warnings."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn"):
        found = record_info(out / "predicted_label.txt", 600)
    return found, [r.getMessage() for r in caplog.records]


# field changed -> what it holds, as the warning says it
DAMAGED = [
    ("model", [], "a list, where an object is expected"),
    ("cells", "600", 'the text "600", where a whole number (0 or more) is '
     "expected"),
    ("cells", True, "true, where a whole number (0 or more) is expected"),
    ("cells", -1, "the number -1, where a whole number (0 or more) is "
     "expected"),
    ("package_version", [0, 1], "a list, where a text is expected"),
    ("time", None, "null, where a text is expected"),
    ("argv", "predict", 'the text "predict", where a list of texts is '
     "expected"),
    ("query", "q.h5ad", 'the text "q.h5ad", where an object is expected'),
    ("query.file", {
        "name": "q.h5ad"
    }, "an object, where a text is expected"),
    ("query.format", MISSING, "missing"),
    ("reading.mode", "stream", 'the text "stream", where one of whole, '
     "chunks, dask is expected"),
    ("reading.chunk_size", "250", 'the text "250", where a whole number '
     "(0 or more) is expected"),
    ("model.trained_in_this_run", "no", 'the text "no", where true or false '
     "is expected"),
    ("model.training", [], "a list, where an object is expected"),
    ("model.training.reference.file", ["ref.h5ad"],
     "a list, where a text is expected"),
    ("genes.matched", MISSING, "missing"),
    ("genes.model", 300.5, "the number 300.5, where a whole number (0 or "
     "more) is expected"),
    ("unassigned", MISSING, "missing"),
    ("unassigned.threshold", "0.9", 'the text "0.9", where a number in '
     "[0, 1] is expected"),
    ("unassigned.threshold", 7, "the number 7, where a number in [0, 1] is "
     "expected"),
    ("unassigned.mode", "Threshold", 'the text "Threshold", where one of '
     "rule, threshold, none is expected"),
    ("hierarchy", {
        "file": 3,
        "margin": 0.2
    }, "the number 3, where a text is expected"),
    ("majority_voting", [1], "a list, where an object is expected"),
    ("remove_ambient", "false", 'the text "false", where true or false is '
     "expected"),
]


@pytest.mark.parametrize("field, value, problem", DAMAGED)
def test_a_field_of_another_shape_leaves_the_record_out(predicted, caplog,
                                                        field, value, problem):
    out, record = predicted
    (out / RECORD).write_text(json.dumps(record))  # as written: read
    (lines, threshold, types), warnings = _info(out, caplog)
    assert warnings == [] and threshold == 0.9
    assert types == record["model"]["type_names"] and types
    assert lines["Unassigned rule"].startswith("a confidence threshold of 0.9")
    assert lines["query"].endswith(": 600 cells (h5ad, X)")
    (out / RECORD).write_text(json.dumps(_set(record, field, value)))
    found, warnings = _info(out, caplog)
    assert found == ({}, None, None)
    where = field if field != "hierarchy" else "hierarchy.file"
    assert warnings == [
        "%s is damaged (%s: %s); the report leaves it out" %
        (out / RECORD, where, problem)
    ]


def test_a_number_past_any_float_is_a_damaged_field(predicted, caplog):
    # JSON reads 1e400 as infinity: no traceback (OverflowError) for it
    out, record = predicted
    text = json.dumps(record).replace('"cells": 600', '"cells": 1e400')
    assert "1e400" in text
    (out / RECORD).write_text(text)
    found, warnings = _info(out, caplog)
    assert found == ({}, None, None)
    assert warnings == [
        "%s is damaged (cells: the number inf, where a whole number (0 or "
        "more) is expected); the report leaves it out" % (out / RECORD)
    ]


def test_a_version_written_as_true_is_another_version(predicted, caplog):
    out, record = predicted
    (out / RECORD).write_text(json.dumps(dict(record, format_version=True)))
    found, warnings = _info(out, caplog)
    assert found == ({}, None, None)
    assert warnings == [
        "%s: a prediction record of format version True; this "
        "deepchem-actinn reads version 1; the report leaves it out" %
        (out / RECORD)
    ]


def test_the_report_of_a_damaged_record_warns_once_and_shows_none_of_it(
        predicted, tmp_path, capsys):
    import html
    out, record = predicted
    (out / RECORD).write_text(json.dumps(_set(record, "cells", "600")))
    assert main([
        "report", "-p",
        str(out / "predicted_label.txt"), "-o",
        str(tmp_path / "r"), "-q", "--threads", "1"
    ]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "%s is damaged (cells: " % (out / RECORD) in err
    page = html.unescape((tmp_path / "r" / "report.html").read_text())
    assert "prediction command" not in page
    assert "Unassigned rule" not in page
