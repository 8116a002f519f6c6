"""Cell ids and labels as the package takes them: ids one per cell
(:func:`as_cell_ids`), which cells have a label (:func:`has_label`) and
which fields of a two-column file are missing values
(:func:`missing_value`), labels in the cells' row order (:func:`label_names`), and where each cell's label
is in labels indexed by cell id (:func:`cell_positions`), which
:func:`~deepchem_actinn.io.labels.match_labels` and ``train(adata,
labels)`` match by."""

from __future__ import annotations

import warnings
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from deepchem_actinn.errors import ACTINNInputError, counted, examples, repeated
from deepchem_actinn.io._common import as_str_array
from deepchem_actinn.labels import MISSING_LABELS

#: Missing values beside :data:`~deepchem_actinn.labels.MISSING_LABELS`
#: (in a table, or as a labels file's cell type): R's ``NA`` and the other
#: spellings pandas reads as missing.
TABLE_MISSING = frozenset(("NA", "N/A", "n/a", "#N/A", "NaN", "NULL", "null"))


def missing_value(field: str) -> bool:
    """Whether a field of a two-column file (a labels file's cell type, a
    clusters file's cluster) is a missing value, not a name: empty, or one
    of :data:`TABLE_MISSING` and
    :data:`~deepchem_actinn.labels.MISSING_LABELS` (R's ``NA``).

    Examples
    --------
    >>> from deepchem_actinn.io.cell_labels import missing_value
    >>> [missing_value(f) for f in ("NA", " nan", "", "B cell", "N")]
    [True, True, True, False, False]
    """
    text = field.strip()
    return text in TABLE_MISSING or text in MISSING_LABELS


def has_label(values: pd.Series) -> np.ndarray:
    """Which cells of a labels column have one: no value, an empty one
    (which a labels file refuses) or the text of a missing one
    (:data:`MISSING_LABELS`) is none.

    Examples
    --------
    >>> import pandas as pd
    >>> from deepchem_actinn.io.labels import has_label
    >>> has_label(pd.Series(["B cell", None, " ", "nan", "T cell"])).tolist()
    [True, False, False, False, True]
    """
    text = values.astype(str).str.strip()
    return (values.notna() & ~text.isin(MISSING_LABELS)).to_numpy(dtype=bool)


def as_cell_ids(cell_ids: Optional[Sequence],
                n_cells: int,
                start: int = 0) -> np.ndarray:
    """Cell ids as an object array of str (``"0"``, ``"1"``, ... when
    None, numbered from ``start``), refusing a count that is not the
    matrix's.

    Examples
    --------
    >>> from deepchem_actinn.io.labels import as_cell_ids
    >>> as_cell_ids(None, 2).tolist(), as_cell_ids(None, 2, start=5).tolist()
    (['0', '1'], ['5', '6'])
    """
    ids = np.asarray([str(i) for i in range(start, start + n_cells)]
                     if cell_ids is None else [str(c) for c in cell_ids],
                     dtype=object)
    if len(ids) != n_cells:
        raise ACTINNInputError("%d cells but %d cell ids" % (n_cells, len(ids)))
    return ids


def label_names(labels: Any,
                cell_ids: Optional[Any] = None,
                cells: str = "cell") -> np.ndarray:
    """The cells' labels as an object array of str, one per cell, in row
    order. A pandas Series with an index of its own (not pandas' 0 .. n-1)
    is matched to ``cell_ids`` by id (:func:`cell_positions`): a cell whose
    id it lacks is refused, naming it; without ``cell_ids`` it is taken in
    row order, as scikit-learn takes ``y`` (with a warning where its index
    is row numbers out of order, as ``Series.sample`` leaves them). Missing labels (None, NaN, empty, or the
    text of one: :func:`has_label`) are refused, naming the cells (called
    ``cells`` in the message); names are stripped of surrounding spaces,
    as a labels file's are.

    Examples
    --------
    >>> import pandas as pd
    >>> from deepchem_actinn.io.labels import label_names
    >>> label_names(pd.Series({"c2": "T", "c1": "B"}), ["c1", "c2"]).tolist()
    ['B', 'T']
    >>> label_names(["B", None], ["c1", "c2"])
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: 1 cell has no label (None, NaN, empty or 'nan'): c2; label every cell, or leave the unlabelled ones out
    """
    if isinstance(labels, pd.Series):
        labels = _in_row_order(labels, cell_ids)
    values = pd.Series(list(labels), dtype=object)
    missing = np.flatnonzero(~has_label(values))
    if len(missing):
        names = ([str(cell_ids[i]) for i in missing]
                 if cell_ids is not None else ["row %d" % i for i in missing])
        raise ACTINNInputError(
            "%s no label (None, NaN, empty or 'nan'): %s; label every cell, "
            "or leave the unlabelled ones out" %
            (counted(len(missing), cells, "has/have"), examples(names)))
    return np.asarray([str(t).strip() for t in values], dtype=object)


def _in_row_order(labels: pd.Series, cell_ids: Optional[Any]) -> np.ndarray:
    """A labels Series' values in the cells' row order: by id where its
    index holds cell ids and ``cell_ids`` are given, else as it is."""
    values = labels.to_numpy(dtype=object)
    index = labels.index
    text = [str(i) for i in index]
    ids = None if cell_ids is None else as_str_array(cell_ids)
    # pandas' own index, or row numbers in order (a RangeIndex may run
    # backwards: pandas 3.1's Series.sample leaves one); written as text
    # (AnnData's default obs_names), ids unless the cell ids are others
    as_text = text == [str(i) for i in range(len(index))]
    other_ids = ids is None or not pd.Index(ids).isin(pd.Index(text)).all()
    if index.equals(pd.RangeIndex(len(index))) or (as_text and other_ids):
        return values
    numbers = pd.api.types.is_integer_dtype(index.dtype)
    if ids is not None and not (numbers and not all(i.isdigit() for i in ids)):
        where = cell_positions(index, ids, "labels", "cell_ids")
        absent = where < 0
        if absent.any():
            extra = pd.Index(text).difference(pd.Index(ids), sort=False)
            raise ACTINNInputError(
                "labels: %d of %d cells have no label: their ids are not in "
                "the Series' index (labels are matched to cell_ids by id), "
                "e.g. %s%s" %
                (int(absent.sum()), len(ids), examples(ids[absent]),
                 "; its index names %s that no cell has, e.g. %s" %
                 (counted(len(extra), "id"), examples(extra))
                 if len(extra) else ""))
        return values[where]
    some = examples(text[:3]) + (", ..." if len(text) > 3 else "")
    if numbers and not index.is_monotonic_increasing:  # reordered
        warnings.warn(
            "labels: a pandas Series whose index (%s) is out of order: it is "
            "taken in row order, its index unused; pass the cell ids it "
            "holds as cell_ids to match it by id" % some,
            UserWarning,
            stacklevel=4)
    return values


def cell_positions(index: Any,
                   cell_ids: Any,
                   named: str = "labels",
                   cells_of: str = "the matrix",
                   hint: str = "") -> np.ndarray:
    """Where each cell's label is in labels indexed by cell id (``index``),
    -1 for a cell without one: by position where the index is the cell
    ids as they are (repeats included), else by id.

    Raises
    ------
    ACTINNInputError
        Cell ids or the index name some cells more than once, which
        matching by id cannot tell apart (the message ends with ``hint``).

    Examples
    --------
    >>> from deepchem_actinn.io.labels import cell_positions
    >>> cell_positions(["c2", "c1", "x"], ["c1", "c2", "c3"]).tolist()
    [1, 0, -1]
    """
    known = pd.Index(as_str_array(index), dtype=object)
    ids = pd.Index(as_str_array(cell_ids), dtype=object)
    if len(known) == len(ids) and (known == ids).all():
        return np.arange(len(ids))
    if not ids.is_unique:
        twice = repeated(ids)
        raise ACTINNInputError(
            "%s: %s more than once in %s, so labels matched by cell id "
            "cannot tell those cells apart: %s; make the cell ids unique "
            "(e.g. AnnData.obs_names_make_unique(), then label the new ids)%s" %
            (named, counted(len(twice), "cell id",
                            "appears/appear"), cells_of, examples(twice), hint))
    if not known.is_unique:
        twice = repeated(known)
        raise ACTINNInputError(
            "%s: %s more than once in the Series' index, so it cannot be "
            "matched to the cells by id: %s%s" %
            (named, counted(len(twice), "cell id",
                            "appears/appear"), examples(twice), hint))
    return known.get_indexer(ids)
