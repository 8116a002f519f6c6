"""Reading the prediction files (``deepchem_actinn.io.predictions`` writes
them), and the one rule for what they hold, which the writers apply too: a
value without a line break (``unwritable``). Each name here is also one of
``deepchem_actinn.io.predictions``, whose notes give the format.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, List, Optional, Sequence

import numpy as np
import pandas as pd

from deepchem_actinn.errors import ACTINNInputError, counted, examples, repeated
from deepchem_actinn.io._common import existing
from deepchem_actinn.io.labels import LABEL_HEADER
from deepchem_actinn.types import PathLike, Strings

#: Probabilities this far outside [0, 1] are rounding, not wrong values.
PROBABILITY_SLACK = 1e-6

#: Where a value that a prediction file cannot hold comes from, by the
#: words :func:`refuse_unwritable` names it with: what to rename.
RENAME = {
    "cell id": "the cells",
    "cell type": "the types",
    "cluster": "the clusters",
    "level": "the hierarchy's levels",
}


def unwritable(values: Strings) -> List[str]:
    """The values, each once and in order, that a prediction file cannot
    hold: those holding a line break (``\\n`` or ``\\r``; see the
    notes of ``deepchem_actinn.io.predictions``). A tab or a ``"`` is
    quoted, and held.

    This is the one rule for what a value of ``predicted_label.txt`` and
    ``predicted_probabilities.txt`` may be: the writers, the reader and the
    command line's checks before any work all apply it.

    Examples
    --------
    >>> from deepchem_actinn.io.predictions import unwritable
    >>> unwritable(["B cell", "T\\tcell", "NK\\ncell", "NK\\ncell", "x\\ry"])
    ['NK\\ncell', 'x\\ry']
    """
    bad = (str(v) for v in values)
    return list(dict.fromkeys(v for v in bad if "\n" in v or "\r" in v))


def refuse_unwritable(values: Strings,
                      source: Any,
                      what: str = "cell id") -> None:
    """Refuse ``values`` of which some hold a line break (``unwritable``,
    the one rule): a prediction file holds one line per cell. ``source``
    names where they came from (the query file, the labels), for the
    message; ``what`` names the values (``"cell id"``, ``"cell type"``,
    which also says what to rename: the cells, the types). Each value is
    counted once.

    Raises
    ------
    ACTINNInputError
        Naming ``source`` and the values (their line breaks shown as
        ``\\n``).

    Examples
    --------
    >>> from deepchem_actinn.io.predictions import refuse_unwritable
    >>> refuse_unwritable(["c1", "c2"], "query.h5ad")
    >>> refuse_unwritable(["c1", "cell\\ntwo"], "query.h5ad")
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: query.h5ad: 1 cell id holds a line break, which the prediction files cannot hold (one line per cell): 'cell\\ntwo'; rename the cells
    >>> refuse_unwritable(["B", "T\\ncell", "T\\ncell"], "labels.txt",
    ...                   "cell type")
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: labels.txt: 1 cell type holds a line break, which the prediction files cannot hold (one line per cell): 'T\\ncell'; rename the types
    """
    bad = unwritable(values)
    if bad:
        raise ACTINNInputError(
            "%s: %s a line break, which the prediction files cannot hold "
            "(one line per cell): %s; rename %s" %
            (source, counted(len(bad), what, "holds/hold"), examples(bad),
             RENAME.get(what, "them")))


def read_predictions(path: PathLike) -> pd.DataFrame:
    """A ``predicted_label.txt`` as a DataFrame (all columns as str, an
    empty field missing), as ``actinn report`` reads it.

    Type names (``celltype`` and ``majority_voting``) are read as a labels
    file's are (:func:`~deepchem_actinn.labels.type_name`); a type may be
    named ``NA`` or ``None``.

    Raises
    ------
    ACTINNInputError
        If the file cannot be read or is empty, does not start with the
        ``cellname<TAB>celltype`` header, has a line of more fields than
        the header, holds no cells, names a cell twice, holds a cell id
        with a line break or an empty one (which no writer writes), or a
        cell without a label.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.predictions import read_predictions
    >>> path = os.path.join(tempfile.mkdtemp(), "predicted_label.txt")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("cellname\\tcelltype\\nc1\\tNA\\nc2\\tB cell\\n")
    >>> read_predictions(path)["celltype"].tolist()
    ['NA', 'B cell']
    """
    existing(path)
    try:
        # a type may be named "NA" or "None": only an empty field is missing
        frame = pd.read_csv(path,
                            sep="\t",
                            dtype=str,
                            keep_default_na=False,
                            na_values=[""])
    except pd.errors.EmptyDataError:
        raise ACTINNInputError("%s: the file is empty, not a "
                               "predicted_label.txt" % path) from None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise (_longer_line(path) or _fields_error(path, str(err)) or
               ACTINNInputError("%s: cannot read predictions (%s)" %
                                (path, err))) from None
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas took the first cell's extra fields as an index
        raise _longer_line(path) or ACTINNInputError(
            "%s: the first cell's line has more fields than the header" % path)
    if tuple(frame.columns[:2]) != LABEL_HEADER:
        raise ACTINNInputError(
            "%s is not a predicted_label.txt: its header is %s, expected "
            "%s" %
            (path, "\t".join(frame.columns[:3]), "\t".join(LABEL_HEADER)))
    if not len(frame):
        raise ACTINNInputError("%s: no cells, only the header" % path)
    cells = frame[LABEL_HEADER[0]].fillna("")
    refuse_unwritable(cells, path)
    nameless = np.flatnonzero(cells.str.strip().to_numpy() == "")
    if len(nameless):  # the header is line 1
        raise ACTINNInputError(
            "%s: %s no id (an empty cellname): %s %s; the report matches "
            "cells by id" % (path, counted(len(nameless), "cell", "has/have"),
                             "line" if len(nameless) == 1 else "lines",
                             examples([str(i + 2) for i in nameless])))
    twice = repeated(cells)
    if twice:
        raise ACTINNInputError(
            "%s: %s more than once (%s); the report matches "
            "cells by id, so give the query unique cell ids (anndata: "
            "obs_names_make_unique) and predict again" %
            (path, counted(len(twice), "cell",
                           "appears/appear"), examples(twice)))
    blank = frame[LABEL_HEADER[1]].isna().to_numpy()
    if blank.any():
        raise ACTINNInputError(
            "%s: %s no predicted label: %s" %
            (path, counted(int(blank.sum()), "cell",
                           "has/have"), examples(cells.to_numpy()[blank])))
    from deepchem_actinn.labels import type_names
    for column in (LABEL_HEADER[1], "majority_voting"):  # as -l's are read
        if column in frame.columns:
            given = frame[column].notna().to_numpy()
            frame.loc[given, column] = type_names(frame.loc[given, column],
                                                  "%s %s" % (path, column))
    return frame


#: pandas' words for a line of more fields than the first line's.
_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _fields_error(path: PathLike, said: str) -> Optional[ACTINNInputError]:
    """pandas' message ``said`` on a line of more fields than the header
    as ours, naming ``path``, the line and both counts (None for any other
    message)."""
    found = _FIELDS.search(said)
    if found is None:
        return None
    header, line, fields = (int(n) for n in found.groups())
    return ACTINNInputError(
        "%s: line %d has %d fields, the header %d: a predicted_label.txt has "
        "one field per column on every line (a field holding a tab is "
        "quoted)" % (path, line, fields, header))


def _longer_line(path: PathLike) -> Optional[ACTINNInputError]:
    """The error for a first cell's line of more fields than the header
    (which pandas reads as the cell's index, or counts as the fields every
    line should have), or None where it has no more."""
    try:
        pd.read_csv(path, sep="\t", header=None, nrows=2, dtype=str)
    except ValueError as err:
        return _fields_error(path, str(err))
    except (OSError, UnicodeDecodeError):
        pass
    return None


def read_probabilities(path: PathLike, what: Optional[str] = None):
    """A ``predicted_probabilities.txt``: a DataFrame of floats, types (as
    text, :func:`~deepchem_actinn.labels.type_name`) x cells, each value
    checked to be a probability.

    Parameters
    ----------
    path: str or os.PathLike
        The file.
    what: str, optional
        How messages name it (default: its path).

    Raises
    ------
    ACTINNInputError
        If the file cannot be read, names a type twice, or a cell's column
        holds a value that is not a number or lies outside [0, 1].

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.predictions import read_probabilities
    >>> path = os.path.join(tempfile.mkdtemp(), "p.txt")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("\\tc1\\tc2\\n01\\t0.75\\t0.5\\n1\\t0.25\\t0.5\\n")
    >>> read_probabilities(path)
          c1   c2
    01  0.75  0.5
    1   0.25  0.5
    """
    from deepchem_actinn.labels import type_name
    what = str(path) if what is None else what
    existing(path)
    try:
        # the type names as text: "01" and "1" stay two types, "NA" a name
        # (dtype={0: str} does not reach a column read as the index); a
        # wide file is parsed in pieces, and pandas warns of a cell's column
        # holding text in one of them: check_probabilities names it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            proba = pd.read_csv(path,
                                sep="\t",
                                dtype={0: str},
                                keep_default_na=False,
                                na_values=[""])
        proba = proba.set_index(proba.columns[0])
        proba.index = [type_name(t) for t in proba.index]
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise ACTINNInputError("%s: cannot read probabilities (%s)" %
                               (what, err)) from None
    if not proba.index.is_unique:
        raise ACTINNInputError(
            "%s names a type twice: %s" %
            (what, examples(proba.index[proba.index.duplicated()])))
    text = [c for c in proba.columns if proba[c].dtype.kind not in "iuf"]
    if text:  # only those columns: converting all of them is slow
        proba[text] = proba[text].apply(pd.to_numeric, errors="coerce")
    return pd.DataFrame(check_probabilities(proba.to_numpy(dtype=float),
                                            proba.columns, what),
                        index=proba.index,
                        columns=proba.columns)


def check_probabilities(values: np.ndarray,
                        cells: Sequence[str],
                        what: str,
                        noun: str = "a value") -> np.ndarray:
    """Refuse a table of probabilities (rows x cells) where a cell's column
    holds NaN, infinity or text (read as NaN), or a value outside [0, 1]
    (beyond 1e-6, which is rounding), naming ``what`` and the
    cells; the values, those within the slack put back into [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io.predictions import check_probabilities
    >>> check_probabilities(np.array([[0.5, 1.0000001]]), ["c1", "c2"], "p")
    array([[0.5, 1. ]])
    >>> check_probabilities(np.array([[0.5, -0.5]]), ["c1", "c2"], "p.txt")
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: p.txt: 1 cell has a value outside [0, 1], which no probability is: c2 (-0.5)
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    names = np.asarray(cells, dtype=object)
    bad = ~np.isfinite(values).all(axis=0)
    if bad.any():
        raise ACTINNInputError(
            "%s: %s %s that is not a number (NaN, empty, text), e.g. %s" %
            (what, counted(int(bad.sum()), "cell",
                           "has/have"), noun, examples(names[bad])))
    low, high = -PROBABILITY_SLACK, 1 + PROBABILITY_SLACK
    outside = ((values < low) | (values > high)).any(axis=0)
    if outside.any():
        shown = [
            "%s (%g)" % (names[c], values[:, c][(values[:, c] < low) |
                                                (values[:, c] > high)][0])
            for c in np.flatnonzero(outside)
        ]
        raise ACTINNInputError(
            "%s: %s %s outside [0, 1], which no probability is: %s" %
            (what, counted(int(outside.sum()), "cell",
                           "has/have"), noun, examples(shown)))
    return np.clip(values, 0.0, 1.0)
