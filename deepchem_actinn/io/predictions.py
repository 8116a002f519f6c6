"""The prediction files, written and read by one set of rules.

``predicted_label.txt`` follows the original ACTINN scripts: tab-separated,
the header ``cellname<TAB>celltype``, one line per cell; this package adds
``confidence`` (six decimals), ``unassigned_reason`` when a rule marked
cells, and the columns voting, a hierarchy and ambient RNA removal add
(:data:`EXTRA_COLUMNS`, in that order). ``predicted_probabilities.txt`` is
a cell types x cells table. Fields are quoted as the csv module (and
pandas) quote them: one holding a tab or a ``"`` is put in quotes.

A line per cell is the one rule no quoting mends: a cell id (or any field)
holding a line break would spread over two lines, which line-based readers
(:func:`~deepchem_actinn.io.read_labels`, R's ``read.table``, ``cut``)
read as two cells. Such values are refused (:func:`refuse_unwritable`, one
rule): by the command line before any work, naming the query file and the
cells, or the labels and the types; by the writers, naming the file they
were writing; by :func:`read_predictions`, naming the file that holds them.
The readers and the rule live in ``deepchem_actinn.io.prediction_reading``
and are this module's names too.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import logging
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import pandas as pd

from deepchem_actinn.io.labels import (CONFIDENCE_HEADER, LABEL_HEADER,
                                       REASON_HEADER)
from deepchem_actinn.io.output import atomic_output, check_target
from deepchem_actinn.io.prediction_reading import (  # noqa: F401 (ours too)
    PROBABILITY_SLACK, RENAME, check_probabilities, read_predictions,
    read_probabilities, refuse_unwritable, unwritable)
from deepchem_actinn.types import Floats, PathLike, Strings

if TYPE_CHECKING:
    from _csv import Writer as _CsvWriter

#: The writers' logger, as before this module was split from
#: :mod:`~deepchem_actinn.io.writers` (the command line quiets it: its
#: summary names the files it publishes).
logger = logging.getLogger("deepchem_actinn.io.writers")

#: The columns of ``predicted_label.txt`` after ``unassigned_reason``, in
#: the order they are written, each with the
#: :class:`~deepchem_actinn.Annotation` attribute that fills it: the
#: clusters voted over and the vote (``--majority-voting``), each label's
#: level (``--hierarchy``), each cell's share of ambient RNA
#: (``--remove-ambient``, four decimals).
EXTRA_COLUMNS = (("over_clustering", "clusters"), ("majority_voting",
                                                   "majority_cell_types"),
                 ("level", "levels"), ("ambient_fraction", "ambient_fraction"))

#: The words naming the values of an extra column (:data:`EXTRA_COLUMNS`)
#: in messages.
COLUMN_WORDS = {
    "over_clustering": "cluster",
    "majority_voting": "cell type",
    "level": "level",
}


def _strings(values: Strings, what: str, target: Any) -> List[str]:
    """``values`` as text, refused (naming ``target``, the file as its
    writer's messages name it) where one holds a line break."""
    out = [str(v) for v in values]
    refuse_unwritable(out, "cannot write %s" % target, what)
    return out


def _column_text(values: Any, target: Any, column: str) -> List[str]:
    """An extra column's values as pandas' ``to_csv`` writes them: numbers
    in their shortest form, a missing value as an empty field."""
    array = np.asarray(values)
    if array.dtype.kind == "f":
        text = array.astype(str).astype(object)
        text[np.isnan(array)] = ""
        return list(text.ravel())
    if array.dtype.kind in "iub":
        return list(array.astype(str).ravel())
    return _strings(
        [
            "" if v is None or v is pd.NA or v != v else v  # NaN != NaN
            for v in array.ravel()
        ],
        COLUMN_WORDS.get(column, column),
        target)


def annotation_columns(result: Any) -> Dict[str, Any]:
    """The :data:`EXTRA_COLUMNS` an annotation fills (with voting, a
    hierarchy, ambient RNA removal), by name, in file order.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn import Annotation
    >>> from deepchem_actinn.io.predictions import annotation_columns
    >>> result = Annotation(np.array(["c1"]), np.array(["B"], object),
    ...                     np.array([0.9]), np.array([[0.9, 0.1]]),
    ...                     ["B", "T"], levels=np.array(["type"], object))
    >>> annotation_columns(result)
    {'level': array(['type'], dtype=object)}
    """
    columns = {}
    for name, attribute in EXTRA_COLUMNS:
        values = getattr(result, attribute, None)
        if values is not None:
            columns[name] = np.asarray(values)
    if "ambient_fraction" in columns:
        columns["ambient_fraction"] = np.round(columns["ambient_fraction"], 4)
    return columns


def _open_text_out(path: Path) -> IO[str]:
    """Open a text file for writing, gzipped when the name says so."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "wt", encoding="utf-8", newline="")
    return open(path, "w", encoding="utf-8", newline="")


class PredictedLabelWriter:
    """Stream predicted labels to a file, chunk by chunk.

    Writes ACTINN's ``predicted_label.txt`` layout: a header
    ``cellname<TAB>celltype`` then one line per cell. If
    :meth:`write` is given confidences, a third column ``confidence``
    (six decimals) follows; if it is given reasons, a column
    ``unassigned_reason`` after it (:data:`~deepchem_actinn.io.REASON_HEADER`:
    why each cell is ``Unassigned``, empty for a cell given a type); then
    the ``extra`` columns, in the order given (:meth:`write_annotation`
    gives :data:`~deepchem_actinn.io.predictions.EXTRA_COLUMNS`). The file
    appears under its name only when
    the ``with`` block ends without an exception. A value holding a line
    break is refused
    (:func:`~deepchem_actinn.io.predictions.refuse_unwritable`).

    Parameters
    ----------
    path: str or os.PathLike
        The output file (gzipped if it ends with ``.gz``).
    overwrite: bool, default False
        Replace ``path`` if it exists; checked at construction.
    name: str or os.PathLike, optional
        How messages name the file (default: ``path``): the file as the
        user named it where ``path`` is a temporary one that takes its
        place at the end.

    Attributes
    ----------
    n_written: int
        Cells written so far.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.writers import PredictedLabelWriter
    >>> path = os.path.join(tempfile.mkdtemp(), "predicted_label.txt")
    >>> with PredictedLabelWriter(path) as writer:
    ...     writer.write(["c1", "c2"], ["B cell", "T cell"], [0.9, 0.75])
    ...     writer.write(["c3"], ["B cell"], [0.5])
    >>> open(path).read().splitlines()  # doctest: +NORMALIZE_WHITESPACE
    ['cellname\\tcelltype\\tconfidence', 'c1\\tB cell\\t0.900000',
     'c2\\tT cell\\t0.750000', 'c3\\tB cell\\t0.500000']

    With the reasons of an ``Unassigned`` rule:

    >>> with PredictedLabelWriter(path, overwrite=True) as writer:
    ...     writer.write(["c1", "c2"], ["B cell", "Unassigned"], [0.9, 0.99],
    ...                  reasons=["", "novel"])
    >>> open(path).read().splitlines()  # doctest: +NORMALIZE_WHITESPACE
    ['cellname\\tcelltype\\tconfidence\\tunassigned_reason',
     'c1\\tB cell\\t0.900000\\t', 'c2\\tUnassigned\\t0.990000\\tnovel']
    """

    def __init__(self,
                 path: PathLike,
                 overwrite: bool = False,
                 name: Optional[PathLike] = None):
        self.path = check_target(path, overwrite, directory=False)
        self.name = self.path if name is None else name
        self.overwrite = overwrite
        self.n_written = 0
        self._columns: Optional[Tuple[bool, bool, Tuple[str, ...]]] = None
        self._stack: Optional[contextlib.ExitStack] = None
        self._writer: Optional[_CsvWriter] = None

    def __enter__(self) -> "PredictedLabelWriter":
        if self._stack is not None:
            raise RuntimeError("PredictedLabelWriter is already open")
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_output(self.path, self.overwrite))
            handle = stack.enter_context(_open_text_out(tmp))
            self._writer = csv.writer(handle,
                                      delimiter="\t",
                                      lineterminator="\n")
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack, self._stack = self._stack, None
        writer, self._writer = self._writer, None
        if stack is None or writer is None:
            raise RuntimeError("PredictedLabelWriter is not open")
        if exc_type is None and self._columns is None:
            try:  # nothing was written: still leave a header
                writer.writerow(LABEL_HEADER)
            except BaseException as err:
                if not stack.__exit__(type(err), err, err.__traceback__):
                    raise
                return False
        suppressed = stack.__exit__(exc_type, exc, tb)
        if exc_type is None:
            logger.info("wrote %d predicted labels to %s", self.n_written,
                        self.path)
        return bool(suppressed)

    def write(self,
              cell_ids: Strings,
              cell_types: Strings,
              confidence: Optional[Floats] = None,
              reasons: Optional[Strings] = None,
              extra: Optional[Mapping[str, Any]] = None) -> None:
        """Append one chunk of predictions.

        Parameters
        ----------
        cell_ids: sequence of str
            The chunk's cells.
        cell_types: sequence of str
            The predicted cell type of each.
        confidence: sequence of float, optional
            The probability of each prediction. Give it for every chunk or
            for none.
        reasons: sequence of str, optional
            Why each cell is ``Unassigned`` (``""`` for a cell given a
            type), as :attr:`Annotation.unassigned_reason
            <deepchem_actinn.Annotation.unassigned_reason>` gives
            it: the column ``unassigned_reason``. Give it for every chunk
            or for none.
        extra: mapping of str to sequence, optional
            Further columns by name, one value per cell, written after
            the others in the mapping's order (numbers as pandas writes
            them, a missing value empty). The same names for every chunk.
        """
        if self._writer is None:
            raise RuntimeError(
                "use PredictedLabelWriter in a with block before write()")
        ids = _strings(cell_ids, "cell id", self.name)
        columns = [ids, _strings(cell_types, "cell type", self.name)]
        extra = dict(extra or {})
        given = (confidence is not None, reasons is not None, tuple(extra))
        if self._columns is None:
            self._columns = given
            header = LABEL_HEADER + ((CONFIDENCE_HEADER,) if given[0] else
                                     ()) + ((REASON_HEADER,) if given[1] else
                                            ()) + given[2]
            self._writer.writerow(header)
        elif self._columns[0] != given[0]:
            raise ValueError("give confidence for every chunk or for none")
        elif self._columns[1] != given[1]:
            raise ValueError("give reasons for every chunk or for none")
        elif self._columns[2] != given[2]:
            raise ValueError("give the same extra columns for every chunk: "
                             "%s, then %s" % (self._columns[2], given[2]))
        if confidence is not None:
            columns.append(format_confidence(confidence))
        if reasons is not None:
            columns.append(_strings(reasons, "unassigned reason", self.name))
        for name, values in extra.items():
            columns.append(_column_text(values, self.name, name))
        names = ("cell types", "confidences", "unassigned reasons") + given[2]
        for name, column in zip(names, columns[1:]):
            if len(column) != len(ids):
                raise ValueError("%d cell ids but %d %s" %
                                 (len(ids), len(column), name))
        self._writer.writerows(zip(*columns))
        self.n_written += len(ids)

    def write_annotation(self, result: Any) -> None:
        """Append an :class:`~deepchem_actinn.Annotation`: its cells, labels,
        confidences, reasons (when a rule marked cells) and the
        :data:`~deepchem_actinn.io.predictions.EXTRA_COLUMNS` it fills."""
        self.write(result.cell_ids,
                   result.cell_types,
                   result.confidence,
                   result.unassigned_reason,
                   extra=annotation_columns(result))


def format_confidence(confidence: Floats) -> List[str]:
    """Confidences as ``predicted_label.txt`` spells them: six decimals.

    Examples
    --------
    >>> from deepchem_actinn.io.writers import format_confidence
    >>> format_confidence([0.99998653, 1.0, 0.25])
    ['0.999987', '1.000000', '0.250000']
    """
    return ["%.6f" % c for c in np.asarray(confidence, dtype=float).ravel()]


def write_predicted_labels(path: PathLike,
                           cell_ids: Strings,
                           cell_types: Strings,
                           overwrite: bool = False,
                           confidence: Optional[Floats] = None,
                           reasons: Optional[Strings] = None,
                           extra: Optional[Mapping[str, Any]] = None) -> None:
    """Write predicted labels as ACTINN's ``predicted_label.txt``.

    Tab-separated, header ``cellname<TAB>celltype``, one line per cell;
    with ``confidence``, a third column ``confidence``; with ``reasons``, a
    column ``unassigned_reason`` after it; then the ``extra`` columns
    (:class:`PredictedLabelWriter`).

    Parameters
    ----------
    path: str or os.PathLike
        The output file.
    cell_ids: sequence of str
        The cells.
    cell_types: sequence of str
        The predicted cell type of each.
    overwrite: bool, default False
        Replace ``path`` if it exists.
    confidence: sequence of float, optional
        The probability of each label.
    reasons: sequence of str, optional
        Why each cell is ``Unassigned`` (``""`` for a cell given a type).
    extra: mapping of str to sequence, optional
        Further columns by name, one value per cell.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.writers import write_predicted_labels
    >>> path = os.path.join(tempfile.mkdtemp(), "predicted_label.txt")
    >>> write_predicted_labels(path, ["c1", "c2"], ["B cell", "T cell"])
    >>> open(path).read().splitlines()
    ['cellname\\tcelltype', 'c1\\tB cell', 'c2\\tT cell']
    """
    with PredictedLabelWriter(path, overwrite) as writer:
        writer.write(cell_ids, cell_types, confidence, reasons, extra)


def write_probabilities(path: PathLike,
                        cell_ids: Strings,
                        type_names: Strings,
                        proba,
                        overwrite: bool = False,
                        name: Optional[PathLike] = None) -> None:
    """Write class probabilities as ACTINN's ``predicted_probabilities.txt``.

    Tab-separated, cell types as rows and cells as columns: the header is
    an empty field followed by the cell ids, each row a cell type followed
    by its probability in every cell.

    Parameters
    ----------
    path: str or os.PathLike
        The output file (gzipped if it ends with ``.gz``).
    cell_ids: sequence of str
        The cells, ``n_cells`` of them.
    type_names: sequence of str
        The cell types, in the order of ``proba``'s columns.
    proba: array-like, cells x types
        Probabilities, one row per cell (as ``predict_proba`` returns).
    overwrite: bool, default False
        Replace ``path`` if it exists.
    name: str or os.PathLike, optional
        How messages name the file (default: ``path``), as for
        :class:`~deepchem_actinn.io.PredictedLabelWriter`.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.writers import write_probabilities
    >>> path = os.path.join(tempfile.mkdtemp(), "predicted_probabilities.txt")
    >>> write_probabilities(path, ["c1", "c2"], ["B cell", "T cell"],
    ...                     [[0.75, 0.25], [0.5, 0.5]])
    >>> open(path).read().splitlines()
    ['\\tc1\\tc2', 'B cell\\t0.75\\t0.5', 'T cell\\t0.25\\t0.5']
    """
    named = Path(path) if name is None else name
    ids = _strings(cell_ids, "cell id", named)
    types = _strings(type_names, "cell type", named)
    proba = np.asarray(proba)
    if proba.shape != (len(ids), len(types)):
        raise ValueError("proba has shape %s; expected (n_cells, n_types) = "
                         "(%d, %d)" % (proba.shape, len(ids), len(types)))
    frame = pd.DataFrame(proba.T,
                         index=pd.Index(types, dtype=object),
                         columns=pd.Index(ids, dtype=object))
    with atomic_output(path, overwrite) as tmp:
        frame.to_csv(tmp, sep="\t")
