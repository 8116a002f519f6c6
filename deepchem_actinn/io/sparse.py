"""The structure of a sparse count matrix, checked before its values.

:func:`refuse_damaged_sparse` refuses a CSR or CSC matrix whose index
arrays point outside it (a file cut short or corrupted).
:func:`refuse_repeated_entries` refuses one that stores two values at the
same cell and gene: SciPy would add them up (2 and 3 read as 5), so the
readers refuse such a file rather than guess what it meant.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNCellError, counted
from deepchem_actinn.types import Strings

#: The end of the messages about a damaged sparse matrix.
WRITE_AGAIN = "a file cut short or corrupted? write it again"


def refuse_damaged_sparse(matrix) -> None:
    """Refuse a CSR/CSC matrix whose structure points outside it (a file
    cut short or corrupted): scipy would read or write past its arrays.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from deepchem_actinn.io.sparse import refuse_damaged_sparse
    >>> m = sp.csr_matrix(np.eye(2))
    >>> refuse_damaged_sparse(m)
    >>> m.indices[1] = 7
    >>> refuse_damaged_sparse(m)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ACTINNCellError: the sparse matrix is damaged: its column indices ...
    """
    if not sp.issparse(matrix) or matrix.format not in ("csr", "csc"):
        return
    n_major, n_minor = (matrix.shape
                        if matrix.format == "csr" else matrix.shape[::-1])
    axis = "column" if matrix.format == "csr" else "row"
    indptr, indices = np.asarray(matrix.indptr), np.asarray(matrix.indices)
    why = None
    if (len(indptr) != n_major + 1 or indptr[0] != 0 or
            indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0)):
        why = ("its index pointers (indptr) do not run from 0 to the %d "
               "stored values" % len(indices))
    elif len(indices) and (indices.min() < 0 or indices.max() >= n_minor):
        why = ("its %s indices reach %d, outside 0 .. %d" %
               (axis, indices.max()
                if indices.max() >= n_minor else indices.min(), n_minor - 1))
    if why:
        raise ACTINNCellError("the sparse matrix is damaged: %s (%s)" %
                              (why, WRITE_AGAIN))


def repeated_entries(matrix) -> Tuple[int, int, int]:
    """How many stored values of a CSR or CSC matrix repeat the row and
    column of another, and the row and column of the first such; ``(0, -1,
    -1)`` when none does (or the matrix is not CSR or CSC).

    One pass in C for a matrix whose indices are sorted (as writers leave
    them); otherwise a copy of the indices is sorted within each row (CSR)
    or column (CSC), a block of about four million at a time. The values
    are not copied. A matrix whose structure
    points outside it is refused first (:func:`refuse_damaged_sparse`).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from deepchem_actinn.io.sparse import repeated_entries
    >>> repeated_entries(sp.csr_matrix(np.eye(2)))
    (0, -1, -1)
    >>> m = sp.csr_matrix(([2.0, 3.0, 1.0], [1, 1, 0], [0, 2, 3]),
    ...                   shape=(2, 2))
    >>> repeated_entries(m)  # row 0 stores column 1 twice
    (1, 0, 1)
    """
    if not sp.issparse(matrix) or matrix.format not in ("csr", "csc"):
        return 0, -1, -1
    refuse_damaged_sparse(matrix)  # before SciPy's C code walks it
    if matrix.nnz < 2 or matrix.has_canonical_format:
        return 0, -1, -1
    indptr = np.asarray(matrix.indptr)
    n_major = len(indptr) - 1
    total, first = 0, (-1, -1)
    start = 0
    while start < n_major:  # blocks of about _BLOCK stored values
        stop = int(np.searchsorted(indptr, indptr[start] + _BLOCK,
                                   side="right"))
        stop = min(max(stop - 1, start + 1), n_major)
        n, major, minor = _repeats_in(matrix, indptr, start, stop)
        if n and not total:
            first = (major, minor) if matrix.format == "csr" else (minor, major)
        total += n
        start = stop
    return total, first[0], first[1]


#: Stored values whose indices are sorted at a time (a copy of them, 32 MB).
_BLOCK = 1 << 22


def _repeats_in(matrix, indptr: np.ndarray, start: int,
                stop: int) -> Tuple[int, int, int]:
    """:func:`repeated_entries` of rows (CSR) or columns (CSC) ``start`` to
    ``stop``: their count, and the major and minor index of the first."""
    lo, hi = int(indptr[start]), int(indptr[stop])
    if hi - lo < 2:
        return 0, -1, -1
    local = indptr[start:stop + 1] - lo
    shape = ((stop - start, matrix.shape[1]) if matrix.format == "csr" else
             (matrix.shape[0], stop - start))
    ordered = type(matrix)((np.zeros(
        hi - lo, dtype=np.int8), np.array(matrix.indices[lo:hi]), local),
                           shape=shape)
    ordered.sort_indices()
    indices = ordered.indices
    same = np.flatnonzero(indices[1:] == indices[:-1])
    if same.size:  # equal neighbours in one row (column), not across two
        left = np.searchsorted(local, same, side="right")
        same = same[left == np.searchsorted(local, same + 1, side="right")]
    if not same.size:
        return 0, -1, -1
    major = start + int(np.searchsorted(local, same[0], side="right") - 1)
    return int(same.size), major, int(indices[same[0]])


def _named(i: int,
           names: Optional[Strings],
           noun: str,
           axis: str,
           shift: int = 0) -> str:
    """``"cell c1 (row 0)"``, or ``"row 0"`` without names."""
    if names is None:
        return "%s %d" % (axis, shift + i)
    return "%s %s (%s %d)" % (noun, np.asarray(
        names, dtype=object)[i], axis, shift + i)


def refuse_repeated_entries(matrix,
                            cell_ids: Optional[Strings] = None,
                            gene_names: Optional[Strings] = None,
                            first_row: int = 0) -> None:
    """Refuse a cells x genes CSR or CSC matrix that stores two values at
    the same cell and gene (:func:`repeated_entries`), which SciPy would
    add up. ``cell_ids`` and ``gene_names`` name them in the message;
    ``first_row``: the file's row of the matrix's first (a chunk's).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from deepchem_actinn.io.sparse import refuse_repeated_entries
    >>> m = sp.csr_matrix(([2.0, 3.0], [1, 1], [0, 2]), shape=(1, 2))
    >>> refuse_repeated_entries(m, ["c1"], ["A", "B"])
    ... # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ACTINNCellError: the sparse matrix is damaged: 1 stored value repeats ...
    """
    n, row, column = repeated_entries(matrix)
    if n:
        raise ACTINNCellError(
            "the sparse matrix is damaged: %s the cell and gene of another, "
            "e.g. %s and %s; SciPy would add them up (a file written "
            "wrongly? write it again)" %
            (counted(n, "stored value", "repeats/repeat"),
             _named(row, cell_ids, "cell", "row",
                    first_row), _named(column, gene_names, "gene", "column")))
