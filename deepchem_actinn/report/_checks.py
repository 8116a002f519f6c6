"""Checks on the report's inputs, shared by its tables, figures and page.

Each check returns the input in the form the rest of the package works on
(labels as an array of ``str``, confidences as floats) or raises
:class:`~deepchem_actinn.errors.ACTINNInputError` naming what is wrong.
"""
import math
from typing import Iterable, Optional, Tuple

import numpy as np
import pandas as pd

from deepchem_actinn.confidence import UNASSIGNED
from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.types import Floats, Strings


def as_labels(labels: Optional[Strings], name: str) -> np.ndarray:
    """``labels`` as a 1-D object array of ``str``; refuse missing values."""
    if labels is None:
        raise ACTINNInputError("%s: no labels given" % name)
    if isinstance(labels, str):
        raise ACTINNInputError("%s: expected a sequence of cell-type names, "
                               "got one string" % name)
    values = pd.Series(np.asarray(labels, dtype=object).ravel())
    missing = np.flatnonzero(values.isna().to_numpy())
    if missing.size:
        raise ACTINNInputError("%s: %d missing label(s), at positions %s" %
                               (name, missing.size, examples(missing.tolist())))
    return values.astype(str).to_numpy(dtype=object)


def check_same_length(**arrays: Optional[np.ndarray]) -> None:
    """Refuse arrays of different lengths, naming each length."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        detail = ", ".join("%s has %d" % kv for kv in lengths.items())
        raise ACTINNInputError("lengths differ: %s" % detail)


def as_confidence(confidence: Floats) -> np.ndarray:
    """``confidence`` as a float array; refuse NaN, inf or values outside
    [0, 1]."""
    try:
        values = np.asarray(confidence, dtype=float).ravel()
    except (TypeError, ValueError) as err:
        raise ACTINNInputError("confidence: not numbers (%s)" % err) from None
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ACTINNInputError(
            "confidence: %d value(s) are NaN or infinite, at positions %s" %
            (bad.size, examples(bad.tolist())))
    bad = np.flatnonzero((values < 0) | (values > 1))
    if bad.size:
        raise ACTINNInputError(
            "confidence: %d value(s) outside [0, 1], e.g. %s at positions %s" %
            (bad.size, examples(["%g" % v for v in values[bad]],
                                3), examples(bad.tolist())))
    return values


def check_threshold(threshold: Optional[float]) -> Optional[float]:
    """``threshold`` as a float; refuse one that is not a finite number in
    [0, 1]."""
    if threshold is None:
        return None
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ACTINNInputError("threshold: not a number: %r" %
                               (threshold,)) from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise ACTINNInputError("threshold: %r is not in [0, 1]" % (threshold,))
    return value


def sorted_names(names: Iterable[str]) -> list:
    """Names sorted as a reader looks for them: case aside (``immune
    cell`` between ``B cell`` and ``T cell``), ``Unassigned`` last.

    Examples
    --------
    >>> from deepchem_actinn.report._checks import sorted_names
    >>> sorted_names(["T cell", "Unassigned", "immune cell", "B cell"])
    ['B cell', 'immune cell', 'T cell', 'Unassigned']
    """
    return sorted(set(names), key=lambda t: (t == UNASSIGNED, t.casefold(), t))


def ordered(type_names: Optional[Strings],
            *label_arrays: Iterable[str]) -> list:
    """``type_names`` first (deduplicated), then the other labels, sorted
    (:func:`sorted_names`)."""
    names = () if type_names is None else type_names
    order = list(dict.fromkeys(str(t) for t in names))
    known = set(order)
    extra: set = set()
    for labels in label_arrays:
        extra.update(labels)
    return order + sorted_names(extra - known)


def pair(true_labels: Optional[Strings],
         predicted_labels: Strings) -> Tuple[np.ndarray, np.ndarray]:
    """Check a truth/prediction pair; return both as arrays of ``str``."""
    truth = as_labels(true_labels, "true_labels")
    pred = as_labels(predicted_labels, "predicted_labels")
    check_same_length(true_labels=truth, predicted_labels=pred)
    if not len(truth):
        raise ACTINNInputError("true_labels: no cells")
    return truth, pred
