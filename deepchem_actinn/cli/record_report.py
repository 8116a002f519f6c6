"""``prediction.json`` read back for ``actinn report`` (and the page of
``actinn demo``): checked to be a prediction record of the labels beside
it, and said in a few lines for the page's information table.

Every field the page shows is read through :class:`RecordFields`, which
checks it has the shape the record's writer
(:mod:`~deepchem_actinn.cli.record`) gives it: a record edited by hand or
damaged (a list where an object belongs, a number written as text, a
missing key) is left out of the report with one warning naming the file
and the field, never shown with a value of another shape in its place.
"""
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from deepchem_actinn.cli.outputs import LABEL_FILE, RECORD_FILE
from deepchem_actinn.cli.record import (RECORD_FORMAT, RECORD_VERSION,
                                        file_digest)
from deepchem_actinn.errors import ACTINNInputError, counted

logger = logging.getLogger("deepchem_actinn")

#: How a record says its query was read (``reading.mode``).
READING_MODES = ("whole", "chunks", "dask")

#: The ``Unassigned`` rules a record names (``unassigned.mode``).
UNASSIGNED_MODES = ("rule", "threshold", "none")

#: What a count's field holds.
COUNT = "a whole number (0 or more)"


class RecordFieldError(ValueError):
    """A field of a record that is missing, or holds a value of another
    shape than the record's writer gives it; the message names the field
    (``model.directory``) and what it holds."""


def _shown(value: Any) -> str:
    """A JSON value, briefly, for a warning."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return "the number %s" % value
    if isinstance(value, str):
        return "the text %s" % json.dumps(
            value if len(value) <= 40 else value[:37] + "...")
    return "a list" if isinstance(value, list) else "an object"


def _is_count(value: Any) -> bool:
    """A whole number, 0 or more (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    """A finite number (not a boolean)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and
            math.isfinite(value))


class RecordFields:
    """One object of a record, whose values are read checked: each reader
    gives the value of a key with the shape the record's writer gives it,
    or raises :class:`RecordFieldError` naming the field; the
    ``optional_`` readers give None for a key missing or ``null``.

    Examples
    --------
    >>> from deepchem_actinn.cli.record_report import RecordFields
    >>> record = RecordFields({"cells": 100, "model": [],
    ...                        "query": {"file": "q.h5ad", "format": 5}})
    >>> record.count("cells"), record.optional_text("device")
    (100, None)
    >>> record.part("query").text("format")
    Traceback (most recent call last):
    ...
    deepchem_actinn.cli.record_report.RecordFieldError: query.format: the number 5, where a text is expected
    >>> record.part("model")
    Traceback (most recent call last):
    ...
    deepchem_actinn.cli.record_report.RecordFieldError: model: a list, where an object is expected
    """

    def __init__(self, values: Dict[str, Any], name: str = "") -> None:
        self.values = values
        self.name = name  # the path to this object, "" or "model."

    def _value(self, key: str, expected: str, optional: bool,
               fits: Callable[[Any], bool]) -> Any:
        value = self.values.get(key)
        if value is None and optional:
            return None
        if key not in self.values:
            problem = "missing"
        elif fits(value):
            return value
        else:
            problem = "%s, where %s is expected" % (_shown(value), expected)
        raise RecordFieldError("%s%s: %s" % (self.name, key, problem))

    def text(self, key: str) -> str:
        """A text."""
        return self._value(key, "a text", False, lambda v: isinstance(v, str))

    def optional_text(self, key: str) -> Optional[str]:
        """A text, or None."""
        return self._value(key, "a text", True, lambda v: isinstance(v, str))

    def texts(self, key: str) -> List[str]:
        """A list of texts (empty where missing or ``null``)."""
        return self._value(
            key, "a list of texts", True, lambda v: isinstance(v, list) and all(
                isinstance(t, str) for t in v)) or []

    def count(self, key: str) -> int:
        """A whole number, 0 or more."""
        return self._value(key, COUNT, False, _is_count)

    def optional_count(self, key: str) -> Optional[int]:
        """A whole number, 0 or more, or None."""
        return self._value(key, COUNT, True, _is_count)

    def number(self,
               key: str,
               low: float = -math.inf,
               high: float = math.inf) -> float:
        """A finite number, from ``low`` to ``high``."""
        expected = "a number" if math.isinf(
            high) else "a number in [%g, %g]" % (low, high)
        return float(
            self._value(key, expected, False,
                        lambda v: _is_number(v) and low <= v <= high))

    def flag(self, key: str) -> bool:
        """``true`` or ``false`` (false where missing or ``null``)."""
        return bool(
            self._value(key, "true or false", True,
                        lambda v: isinstance(v, bool)))

    def choice(self,
               key: str,
               options: Sequence[str],
               default: Optional[str] = None) -> str:
        """One of ``options`` (``default`` where missing or ``null``, or
        required without one)."""
        found = self._value(key, "one of %s" % ", ".join(options), default
                            is not None,
                            lambda v: isinstance(v, str) and v in options)
        return found if found is not None else str(default)

    def part(self, key: str) -> "RecordFields":
        """An object, itself read checked."""
        return RecordFields(
            self._value(key, "an object", False, lambda v: isinstance(v, dict)),
            "%s%s." % (self.name, key))

    def optional_part(self, key: str) -> Optional["RecordFields"]:
        """An object, itself read checked, or None."""
        value = self._value(key, "an object", True,
                            lambda v: isinstance(v, dict))
        return None if value is None else RecordFields(
            value, "%s%s." % (self.name, key))


def _no_constant(name: str) -> None:
    """Refuse NaN and infinities, which a record never holds."""
    raise ValueError("%s is not a number a record holds" % name)


def read_record(path: Any) -> Dict[str, Any]:
    """The record at ``path``, checked to be a prediction record of this
    layout (:data:`~deepchem_actinn.cli.record.RECORD_VERSION`) that names its labels file's digest.

    Raises
    ------
    ACTINNInputError
        If the file cannot be read, is not JSON, or is not such a record.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle, parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ACTINNInputError("%s: cannot read this prediction record (%s)" %
                               (path, err)) from None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise ACTINNInputError("%s is not a prediction record (its format "
                               "is not %r)" % (path, RECORD_FORMAT))
    version = record.get("format_version")
    if not _is_count(version) or version != RECORD_VERSION:
        raise ACTINNInputError(
            "%s: a prediction record of format version %r; this "
            "deepchem-actinn reads version %d" %
            (path, version, RECORD_VERSION))
    outputs = record.get("outputs")
    stated = outputs.get(LABEL_FILE) if isinstance(outputs, dict) else None
    if not (isinstance(stated, dict) and isinstance(stated.get("sha256"), str)):
        raise ACTINNInputError("%s is damaged: it names no digest of its %s" %
                               (path, LABEL_FILE))
    return record


def record_info(
    predictions: Any,
    n_cells: int,
    model: Optional[str] = None,
    fingerprint: Optional[str] = None
) -> Tuple[Dict[str, str], Optional[float], Optional[List[str]]]:
    """What ``actinn report`` shows of the record beside ``predictions``:
    the lines for the page's information table, the confidence
    threshold that marked the ``Unassigned`` cells (None unless
    ``--threshold`` did), and the reference types of the model that made
    them (for a report given no ``-m``; None where the record names none).

    A predictions file without a record beside it (the original ACTINN's)
    gives none, without a word; a record that cannot be read, is of
    another layout, is not of these predictions (its labels file's
    SHA-256 differs) or is damaged (a field the page shows is missing or
    of another shape) gives none, with one warning naming it.

    Parameters
    ----------
    predictions: str or os.PathLike
        The ``predicted_label.txt`` the report is given.
    n_cells: int
        The cells it holds (for the warning).
    model: str, optional
        The model the report is given (``-m``): the record's model is then
        shown only where it is another one (with a warning).
    fingerprint: str, optional
        That model's :func:`~deepchem_actinn.cli.record.model_fingerprint`,
        which tells it from the record's (a record without one is compared
        by directory).

    Returns
    -------
    tuple of (dict, float or None, list of str or None)
    """
    from deepchem_actinn.annotator.provenance import check_record
    path = Path(predictions).parent / RECORD_FILE
    if not os.path.lexists(path):
        return {}, None, None
    try:
        record = read_record(path)
        digest = file_digest(predictions)
        if record["outputs"][LABEL_FILE]["sha256"] != digest["sha256"]:
            cells = record.get("cells")
            logger.warning(
                "%s is not the record of %s (%s); the report leaves it out",
                path, predictions, "it records %s cells, the file holds %d" %
                (cells, n_cells) if _is_count(cells) and cells != n_cells else
                "that file is not the one it records: changed since, or "
                "written by another run")
            return {}, None, None
        fields = RecordFields(record)
        training = fields.part("model").optional_part("training")
        if training is not None and training.values:  # as a saved one's
            check_record(str(path), training.values)
        lines = describe_record(record, model, fingerprint)
        if "model of the prediction" in lines:
            logger.warning(
                "%s: the labels were made by another model than -m %s (%s); "
                "the page names both", path, model,
                lines["model of the prediction"])
        threshold = _threshold(fields.part("unassigned"))
        type_names = fields.part("model").texts("type_names") or None
    except ACTINNInputError as err:
        logger.warning("%s; the report leaves it out", err)
        return {}, None, None
    except RecordFieldError as err:
        logger.warning("%s is damaged (%s); the report leaves it out", path,
                       err)
        return {}, None, None
    except (KeyError, TypeError, ValueError, AttributeError,
            OverflowError) as err:  # what the checks above did not foresee
        logger.warning("%s is damaged (%s: %s); the report leaves it out", path,
                       type(err).__name__, err)
        return {}, None, None
    return lines, threshold, type_names


def _threshold(rule: RecordFields) -> Optional[float]:
    """The confidence threshold a record names (``--threshold``), or None."""
    if rule.choice("mode", UNASSIGNED_MODES) != "threshold":
        return None
    return rule.number("threshold", 0.0, 1.0)


def _where(entry: RecordFields, key: str = "file") -> str:
    """A path as given, and as made absolute where that differs."""
    given, absolute = entry.text(key), entry.optional_text("absolute")
    return given if absolute in (None, given) else "%s (%s)" % (given, absolute)


def _unassigned_words(rule: RecordFields, command: str) -> str:
    """The ``Unassigned`` rule and what it marked, in words."""
    mode = rule.choice("mode", UNASSIGNED_MODES)
    marked = counted(rule.optional_count("cells") or 0, "cell")
    if mode == "rule":
        least = rule.number("min_assigned_probability", 0.0, 1.0)
        novel, low = (
            rule.optional_count(k) or 0 for k in ("novel", "low_probability"))
        return ("the novelty rule (--unassigned; a label under %g "
                "probability too): %s Unassigned, %d novel, %d low "
                "probability" % (least, marked, novel, low))
    if mode == "threshold":
        return "a confidence threshold of %g (--threshold): %s Unassigned" % (
            rule.number("threshold", 0.0, 1.0), marked)
    if command == "demo":  # it takes neither flag
        return "none (actinn demo marks no cell Unassigned)"
    return "none (neither --unassigned nor --threshold)"


def _voting_words(vote: RecordFields) -> str:
    """The majority vote's clusters and least probability, in words."""
    clusters = vote.part("over_clustering")
    if clusters.optional_text("method") == "leiden":
        over = "Leiden clusters of the query (resolution %g, seed %d)" % (
            clusters.number("resolution", 0.0), clusters.count("seed"))
    else:
        over = "the clusters of %s" % _where(clusters)
    return ("over %s; a cell takes its cluster's type at a probability of "
            "at least %g" %
            (over, vote.number("vote_min_probability", 0.0, 1.0)))


def _reading_words(reading: RecordFields) -> str:
    """How the query was read, in words."""
    mode = reading.choice("mode", READING_MODES, "whole")
    if mode == "whole":
        return "read whole"
    chunks = "read in chunks of up to %s cells" % format(
        reading.count("chunk_size"), ",")
    if mode == "chunks":
        return chunks
    return "%s, annotated by the Dask scheduler %s" % (
        chunks, reading.text("scheduler"))


def _model_words(given: RecordFields, command: str, model: Optional[str],
                 fingerprint: Optional[str]) -> Tuple[str, bool]:
    """The record's model in words, and whether it is ``model`` (``-m``,
    of ``fingerprint``), by fingerprint, or by directory for a record
    without one."""
    where = given.optional_text("directory")
    if given.flag("trained_in_this_run"):
        shown = "trained by this actinn %s%s" % (
            command, ", saved to %s" % where if where else " (not saved)")
    else:
        shown = _where(given, "directory")
    words = given.optional_text("model")
    if words:
        shown += ": %s" % words
    stated = given.optional_text("fingerprint")
    absolute = given.optional_text("absolute")
    if model is not None and fingerprint and stated:
        same = fingerprint == stated
        if not same:
            shown += " (not the model -m names: their weights differ)"
    else:  # a record without a fingerprint: by directory
        same = (model is not None and where is not None and
                os.path.abspath(model) == (absolute or os.path.abspath(where)))
    return shown, same


def describe_record(record: Dict[str, Any],
                    model: Optional[str] = None,
                    fingerprint: Optional[str] = None) -> Dict[str, str]:
    """A prediction record in a few lines for a report (``model``: the
    directory the report was given, whose own lines the report adds, and
    ``fingerprint`` its :func:`~deepchem_actinn.cli.record.model_fingerprint`;
    the record's model is shown where it is another).

    Raises
    ------
    RecordFieldError
        If a field it shows is missing or of another shape than the
        record's writer gives it.

    Examples
    --------
    >>> from deepchem_actinn.cli.record_report import describe_record
    >>> record = {
    ...     "argv": ["predict"], "package_version": "0.1.0",
    ...     "time": "2025-01-02T03:04:05+00:00", "device": "cpu",
    ...     "command": "actinn predict -m m -ts q.h5ad --threshold 0.9",
    ...     "query": {"file": "q.h5ad", "format": "h5ad", "layer": None},
    ...     "reading": {"mode": "chunks", "chunk_size": 50000},
    ...     "model": {"directory": "m", "trained_in_this_run": False},
    ...     "genes": {"model": 20, "matched": 18, "gene_column": "var_names"},
    ...     "unassigned": {"mode": "threshold", "threshold": 0.9,
    ...                    "cells": 3}, "cells": 100}
    >>> lines = describe_record(record)
    >>> lines["Unassigned rule"]
    'a confidence threshold of 0.9 (--threshold): 3 cells Unassigned'
    >>> lines["query"]
    'q.h5ad: 100 cells (h5ad)'
    >>> print(lines["prediction"])  # doctest: +NORMALIZE_WHITESPACE
    actinn predict, deepchem-actinn 0.1.0, 2025-01-02T03:04:05+00:00;
    on cpu; read in chunks of up to 50,000 cells

    A count written as text is not shown as one:

    >>> describe_record(dict(record, cells="100"))
    Traceback (most recent call last):
    ...
    deepchem_actinn.cli.record_report.RecordFieldError: cells: the text "100", where a whole number (0 or more) is expected
    """
    from deepchem_actinn.annotator.provenance import describe
    fields = RecordFields(record)
    command = (fields.texts("argv") or ["predict"])[0]
    reading = _reading_words(
        fields.optional_part("reading") or RecordFields({}, "reading."))
    lines = {
        "prediction":
            "actinn %s, deepchem-actinn %s, %s; on %s; %s" %
            (command, fields.text("package_version"), fields.text("time"),
             fields.optional_text("device") or "?", reading),
        "prediction command":
            fields.text("command"),
    }
    directory = fields.optional_text("directory")
    if directory:  # where its relative paths start
        lines["prediction command"] += " (in %s)" % directory
    query = fields.part("query")
    layer = query.optional_text("layer")
    matrix = query.optional_text("matrix") or layer
    lines["query"] = "%s: %s cells (%s%s)" % (
        _where(query), format(fields.count("cells"), ","), query.text("format"),
        ", %s" % matrix if matrix else "")
    given = fields.part("model")
    shown, same = _model_words(given, command, model, fingerprint)
    if model is None:
        lines["model"] = shown
        training = given.optional_part("training")
        if training is not None and training.values:
            source = training.optional_part("reference")
            if source is not None:  # shown by describe: as a text only
                source.optional_text("file")
            lines.update(describe(training.values))
            if lines.get("training command") == lines["prediction command"]:
                lines["training command"] = ("the prediction command (%s)" %
                                             command)
    elif not same:
        lines["model of the prediction"] = shown
    genes = fields.part("genes")
    matched, of = (format(genes.count(k), ",") for k in ("matched", "model"))
    from deepchem_actinn.cli.summary import matched_by
    lines["genes"] = "%s of the model's %s matched by %s" % (
        matched, of,
        matched_by(genes.text("gene_column"),
                   query.text("format") == "h5ad"))
    lines["Unassigned rule"] = _unassigned_words(fields.part("unassigned"),
                                                 command)
    hierarchy = fields.optional_part("hierarchy")
    if hierarchy is not None:
        lines["hierarchy"] = (
            "%s: a parent type where the top two types differ by under %g" %
            (_where(hierarchy), hierarchy.number("margin", 0.0, 1.0)))
    vote = fields.optional_part("majority_voting")
    if vote is not None:
        lines["majority voting"] = _voting_words(vote)
    if fields.flag("remove_ambient"):
        lines["ambient RNA"] = ("each cell's estimated ambient RNA removed "
                                "before the final scoring (--remove-ambient)")
    return lines
