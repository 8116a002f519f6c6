"""The one pass over a matrix's values that every check of them reads.

:func:`scan_values` looks, block by block, for NaN and infinite values,
negative ones, values float32 cannot hold and values that are not whole
numbers (within :data:`ROUND_TOLERANCE`), and notes a few cells holding
each; :func:`rows_where` names every cell holding such a value. What the
values must be, and the messages that say why they are not, are
:mod:`~deepchem_actinn.io.counts`'s.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Sequence

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io.sparse import refuse_damaged_sparse

#: Largest distance from a whole number that still counts as whole.
ROUND_TOLERANCE = 1e-6
# Units in the last place also tolerated (large float32 counts).
_ROUND_ULPS = 4
# Values scanned at a time (bounds the temporaries).
_SCAN_BLOCK = 1 << 22
#: Largest value float32 holds (about 3.4e38): counts are stored as float32,
#: so a larger value would become infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)


class ValueReport(NamedTuple):
    """What :func:`scan_values` found among a matrix's stored values."""
    n_nonfinite: int
    nonfinite_rows: np.ndarray
    n_negative: int
    negative_rows: np.ndarray
    nonint_row: int  # -1 when all values are (near) whole numbers
    nonint_value: float
    max_value: float
    n_rounded: int  # values within the tolerance of, not equal to, a whole
    n_huge: int = 0  # finite values above FLOAT32_MAX
    huge_rows: Sequence[int] = ()
    dtype: str = "float64"  # of the values, to show nonint_value as stored

    @property
    def counts_like(self) -> bool:
        """Whether the values are raw counts (after rounding)."""
        return (self.n_nonfinite == 0 and self.n_negative == 0 and
                self.n_huge == 0 and self.nonint_row < 0)

    def acceptable(self, allow_non_integer: bool) -> bool:
        """Counts, or non-negative finite values float32 holds when those
        are allowed."""
        return self.counts_like or (allow_non_integer and
                                    self.n_nonfinite == 0 and
                                    self.n_negative == 0 and self.n_huge == 0)

    @property
    def nonint_shown(self) -> str:
        """The non-integer value found, with as many digits as tell it
        from the whole number next to it: the shortest text that reads back
        as the value stored (``1971.000002``, ``0.6931472`` for a float32).

        Examples
        --------
        >>> import numpy as np
        >>> from deepchem_actinn.io.value_scan import scan_values
        >>> scan_values(np.array([[1971.000002]])).nonint_shown
        '1971.000002'
        >>> scan_values(np.log1p(np.ones((1, 1), np.float32))).nonint_shown
        '0.6931472'
        """
        try:
            kind = np.dtype(self.dtype).type
        except TypeError:
            kind = np.float64
        return str(kind(self.nonint_value))


def _stored_values(matrix):
    """The stored values of a matrix and a map from position to row."""
    refuse_damaged_sparse(matrix)
    if sp.issparse(matrix):
        if matrix.format == "csr":
            indptr = matrix.indptr

            def rows(pos):
                return np.searchsorted(indptr, pos, side="right") - 1

            return matrix.data, rows
        if matrix.format == "csc":
            indices = matrix.indices
            return matrix.data, lambda pos: indices[pos]
        coo = matrix.tocoo()
        return coo.data, lambda pos: coo.row[pos]
    arr = np.asarray(matrix)
    if arr.ndim != 2:
        raise ACTINNInputError(
            "expected a 2-d matrix, got %d-d%s" %
            (arr.ndim, ": a sparse matrix inside a NumPy array (as "
             "dc.data.NumpyDataset(sparse) holds it)? Give X.toarray()"
             if arr.ndim == 0 and sp.issparse(arr.item()) else ""))
    n_cols = max(arr.shape[1], 1)
    if not arr.flags.c_contiguous:  # reshape would copy the whole matrix
        arr = sp.csr_matrix(arr)
        return _stored_values(arr)
    return arr.reshape(-1), lambda pos: pos // n_cols


def _near_whole(values: np.ndarray) -> np.ndarray:
    """Which of these non-whole values are within the rounding tolerance."""
    ulp = _ROUND_ULPS * np.finfo(values.dtype).eps * np.abs(values)
    return np.abs(values - np.rint(values)) <= np.maximum(ROUND_TOLERANCE, ulp)


class _Rows:
    """The first ``limit`` distinct rows holding values of one kind, in the
    order the values are stored (a dense row holds many such values: the
    rows are kept, not the values' positions)."""

    def __init__(self, limit: int, rows: Callable[[np.ndarray], np.ndarray]):
        self.limit = limit
        self._rows = rows
        self.found: Any = np.empty(0, dtype=np.int64)

    def add(self, positions: np.ndarray) -> None:
        if len(self.found) >= self.limit or not positions.size:
            return
        rows = np.asarray(self._rows(positions), dtype=np.int64)
        self.found = _in_order(np.concatenate([self.found, rows]))[:self.limit]


def scan_values(matrix, limit: int = 5, whole: bool = True) -> ValueReport:
    """Look for NaN/inf, negative and non-integer values, block by block:
    the one pass over a matrix's values that every check of them reads.

    Parameters
    ----------
    matrix: array-like or scipy.sparse matrix
        Cells x genes.
    limit: int, default 5
        How many offending rows to note of each kind (distinct rows, the
        first in the order the values are stored).
    whole: bool, default True
        Look for values that are not whole numbers; False skips that (the
        report's ``nonint_row`` is then -1), for checks that take any
        finite value that is not negative.

    Returns
    -------
    ValueReport

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io.value_scan import scan_values
    >>> report = scan_values(-np.ones((4, 3)), limit=3)
    >>> report.n_negative, report.negative_rows.tolist()
    (12, [0, 1, 2])
    """
    values, rows = _stored_values(matrix)
    if values.dtype.kind not in "biuf":
        raise ACTINNInputError("the matrix holds %s values, not numbers" %
                               values.dtype)
    n_nonfinite = n_negative = n_rounded = n_huge = 0
    nonfinite, negative, huge = (_Rows(limit, rows) for _ in range(3))
    nonint_pos, nonint_value, max_value = -1, 0.0, 0.0
    is_float = values.dtype.kind == "f"
    for start in range(0, values.size, _SCAN_BLOCK):
        block = values[start:start + _SCAN_BLOCK]
        if not block.size:
            continue
        low, high = float(block.min()), float(block.max())
        if not is_float:
            max_value = max(max_value, high)
        else:
            finite: Optional[np.ndarray] = None
            # A NaN makes min NaN, an infinity makes min or max infinite.
            if np.isfinite(low) and np.isfinite(high):
                max_value = max(max_value, high)
            else:
                finite = np.isfinite(block)
                bad = np.flatnonzero(~finite)
                n_nonfinite += bad.size
                nonfinite.add(bad + start)
                high = (float(block[finite].max())
                        if bad.size < block.size else 0.0)
                max_value = max(max_value, high)
            if high > FLOAT32_MAX:  # float64: infinite once stored as float32
                over = block > FLOAT32_MAX
                big = np.flatnonzero(over if finite is None else over & finite)
                n_huge += big.size
                huge.add(big + start)
            if whole and nonint_pos < 0:
                off = block != np.rint(block)
                if finite is not None:
                    off &= finite
                frac = np.flatnonzero(off)
                if frac.size:
                    near = _near_whole(block[frac])
                    n_rounded += int(near.sum())
                    far = frac[~near]
                    if far.size:
                        nonint_pos = start + int(far[0])
                        nonint_value = float(block[far[0]])
        if low >= 0:  # False for NaN: those blocks are searched
            continue
        neg = np.flatnonzero(block < 0)
        if neg.size:
            n_negative += neg.size
            negative.add(neg + start)

    return ValueReport(
        n_nonfinite, nonfinite.found, n_negative, negative.found,
        int(rows(np.array([nonint_pos]))[0]) if nonint_pos >= 0 else -1,
        nonint_value, max_value, n_rounded if nonint_pos < 0 else 0, n_huge,
        huge.found, str(values.dtype))


def _in_order(rows) -> np.ndarray:
    """The distinct rows, each where it first appears."""
    return rows[np.sort(np.unique(rows, return_index=True)[1])]


def rows_where(matrix, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Every row holding a value ``test`` finds, ascending: the cells to name
    once :func:`scan_values` found such values.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io.counts import rows_where
    >>> rows_where(np.array([[1.0, -2.0], [3.0, 0.0], [-1.0, -1.0]]),
    ...            lambda v: v < 0)
    array([0, 2])
    """
    values, rows = _stored_values(matrix)
    hits = [
        rows(np.flatnonzero(test(values[i:i + _SCAN_BLOCK])) + i)
        for i in range(0, values.size, _SCAN_BLOCK)
    ]
    return np.unique(np.concatenate([np.empty(0, np.int64)] + hits))
