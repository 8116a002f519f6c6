"""Library-size normalisation and log transform of raw counts, on arrays.

ACTINN's first preprocessing step [1]_: scale every cell to the same total
count (10,000 by default) and take ``log2(x + 1)``. :func:`library_size_log`
works on dense arrays and SciPy sparse matrices (touching only the non-zeros)
and needs neither DeepChem nor PyTorch;
:class:`~deepchem_actinn.transformers.normalise.LibrarySizeLogTransformer`
wraps it as a ``dc.trans.Transformer`` for DeepChem datasets.
:func:`check_counts` is the check that a matrix can be normalised: finite,
nothing negative, no cell without counts (the readers' stricter check of
count values, whole numbers included, is :mod:`deepchem_actinn.io.counts`).

References
----------
.. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
   types in single cell RNA sequencing. Bioinformatics 36(2):533-538 (2020).
"""
import logging
from typing import Optional

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNCellError, counted, examples
from deepchem_actinn.types import Matrix, Strings

logger = logging.getLogger(__name__)


def _cell_names(ids: Optional[Strings], rows: np.ndarray) -> list:
    if ids is None:
        return ["row %d" % r for r in rows]
    names = np.asarray(ids)
    return [str(names[r]) for r in rows]


def check_counts(X: Matrix, ids: Optional[Strings] = None) -> None:
    """Raise :class:`~deepchem_actinn.errors.ACTINNCellError` unless X holds
    usable raw counts.

    Checks for NaN or infinite values, negative values and cells whose counts
    sum to zero, and names the offending cells (by id when ``ids`` is given).

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Counts, cells x genes.
    ids: sequence, optional
        Cell ids, one per row of X, used in the error message.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing import check_counts
    >>> check_counts(np.array([[1., 0.], [0., 0.]]), ids=["c1", "c2"])
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNCellError: 1 cell has zero total counts and \
cannot be library-size normalised: c2
    """
    if sp.issparse(X):
        csr = sp.csr_matrix(X)
        data = csr.data
        row_of = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    else:
        data = np.asarray(X)
        row_of = None
    bad = ~np.isfinite(data)
    if bad.any():
        rows = _bad_rows(bad, row_of)
        raise ACTINNCellError("%s NaN or infinite values: %s" % (counted(
            len(rows), "cell", "holds/hold"), examples(_cell_names(ids, rows))))
    neg = data < 0
    if neg.any():
        rows = _bad_rows(neg, row_of)
        raise ACTINNCellError("%s negative values, which are not counts: %s" %
                              (counted(len(rows), "cell", "holds/hold"),
                               examples(_cell_names(ids, rows))))
    totals = np.asarray(X.sum(axis=1)).ravel()
    zero = np.flatnonzero(totals <= 0)
    if len(zero):
        raise ACTINNCellError("%s zero total counts and cannot be library-size "
                              "normalised: %s" %
                              (counted(len(zero), "cell", "has/have"),
                               examples(_cell_names(ids, zero))))


def _bad_rows(mask: np.ndarray, row_of: Optional[np.ndarray]) -> np.ndarray:
    if row_of is None:
        return np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))
    return np.unique(row_of[mask])


def library_size_log(X: Matrix,
                     target_sum: float = 1e4,
                     base: float = 2.0,
                     ids: Optional[Strings] = None,
                     check: bool = True) -> Matrix:
    """Scale each cell to ``target_sum`` counts, then take ``log(x + 1)``,
    as ACTINN does [1]_.

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Raw counts, cells x genes.
    target_sum: float, default 10,000
        Total every cell is scaled to.
    base: float, default 2
        Base of the logarithm (ACTINN uses 2; scanpy's ``log1p`` is ``e``).
    ids: sequence, optional
        Cell ids, used to name offending cells in errors.
    check: bool, default True
        Refuse NaN, infinite and negative values and cells with zero total
        counts (:func:`~deepchem_actinn.preprocessing.check_counts`); pass
        False only for cells already checked.

    Returns
    -------
    np.ndarray or scipy.sparse.csr_matrix
        float32, same shape; sparse input stays sparse (zeros stay zero).

    Raises
    ------
    ACTINNCellError
        A cell sums to zero, or X holds negative, NaN or infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn import library_size_log
    >>> library_size_log(np.array([[1, 3], [2, 2]]), target_sum=4)
    array([[1.       , 2.       ],
           [1.5849625, 1.5849625]], dtype=float32)

    References
    ----------
    .. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
       types in single cell RNA sequencing. Bioinformatics 36(2):533-538
       (2020).
    """
    if target_sum <= 0 or base <= 1:
        raise ValueError("target_sum must be > 0 and base > 1")
    if check:
        check_counts(X, ids)
    totals = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    scale = (target_sum / totals).astype(np.float64)
    if sp.issparse(X):
        csr = sp.csr_matrix(X)
        out = np.empty(len(csr.data), np.float32)
        # float64 arithmetic in row blocks: temporaries stay block-sized
        for start in range(0, csr.shape[0], _ROW_BLOCK):
            stop = min(start + _ROW_BLOCK, csr.shape[0])
            lo, hi = int(csr.indptr[start]), int(csr.indptr[stop])
            values = csr.data[lo:hi].astype(np.float64)
            values *= np.repeat(scale[start:stop],
                                np.diff(csr.indptr[start:stop + 1]))
            out[lo:hi] = _log1p(values, base)
        return sp.csr_matrix((out, csr.indices.copy(), csr.indptr.copy()),
                             shape=csr.shape)
    dense = np.asarray(X, dtype=np.float64) * scale[:, None]
    return _log1p(dense, base).astype(np.float32)


#: Cells normalised at a time in a sparse matrix (bounds the temporaries).
_ROW_BLOCK = 16384


def _log1p(values: np.ndarray, base: float) -> np.ndarray:
    """``log_base(values + 1)``, overwriting ``values`` (float64)."""
    if base == 2:
        np.add(values, 1.0, out=values)
        return np.log2(values, out=values)
    np.log1p(values, out=values)
    values /= np.log(base)
    return values
