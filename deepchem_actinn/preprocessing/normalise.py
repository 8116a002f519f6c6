"""Library-size normalisation and log transform of raw counts, on arrays.

ACTINN's first preprocessing step [1]_: scale every cell to the same total
count (10,000 by default) and take ``log2(x + 1)``. :func:`library_size_log`
works on dense arrays and SciPy sparse matrices (touching only the non-zeros)
and needs neither DeepChem nor PyTorch; it is the one implementation of the
arithmetic, also over a subset of the columns (the prediction path's model
genes, :func:`~deepchem_actinn.models.inference.model_gene_log`).
:class:`~deepchem_actinn.transformers.normalise.LibrarySizeLogTransformer`
wraps it as a ``dc.trans.Transformer`` for DeepChem datasets.
:func:`check_counts` is the one check that a matrix can be normalised: no
NaN, infinite or negative values (:func:`refuse_bad_values`, reading
:func:`~deepchem_actinn.io.counts.scan_values`, the one pass over the values
that the readers' stricter check reads too) and no cell without counts
(:func:`refuse_empty_cells`). :func:`check_normalisation` is the one check
of ``target_sum`` and the log's base.

References
----------
.. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
   types in single cell RNA sequencing. Bioinformatics 36(2):533-538 (2020).
"""
import logging
import math
from typing import Optional

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNCellError, counted, examples
from deepchem_actinn.io.counts import ValueReport, rows_where, scan_values
from deepchem_actinn.preprocessing.gene_filter import take_columns
from deepchem_actinn.types import Matrix, Strings

logger = logging.getLogger(__name__)


def cell_names(ids: Optional[Strings], rows: np.ndarray) -> str:
    """Some of the cells at ``rows`` for a message: by id, or by row when
    there are no ids (None or empty)."""
    if ids is None or len(ids) == 0:
        return examples(["row %d" % r for r in rows])
    names = np.asarray(ids)
    return examples([str(names[r]) for r in rows])


def check_normalisation(target_sum: float,
                        base: float,
                        base_name: str = "base") -> None:
    """Raise ValueError unless ``target_sum`` is a number above 0 and the
    log's ``base`` one above 1 (``base_name`` names it in the message).

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.normalise import check_normalisation
    >>> check_normalisation(1e4, 2.0)
    >>> check_normalisation(1e4, 1.0, "log_base")
    Traceback (most recent call last):
    ...
    ValueError: log_base must be a number above 1, got 1.0
    """
    for name, value, low in (("target_sum", target_sum, 0), (base_name, base,
                                                             1)):
        if not (math.isfinite(value) and value > low):
            raise ValueError("%s must be a number above %g, got %r" %
                             (name, low, value))


def refuse_bad_values(X: Matrix,
                      ids: Optional[Strings] = None,
                      report: Optional[ValueReport] = None) -> ValueReport:
    """Raise :class:`~deepchem_actinn.errors.ACTINNCellError` naming the
    cells that hold NaN, infinite or negative values.

    ``report`` is what :func:`~deepchem_actinn.io.counts.scan_values` found
    in X, when the caller scanned it already (it is not scanned again);
    the report is returned.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing.normalise import refuse_bad_values
    >>> refuse_bad_values(np.array([[1.0, -2.0], [3.0, np.inf]]), ["a", "b"])
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNCellError: 1 cell holds NaN or infinite \
values: b
    """
    if report is None:
        report = scan_values(X, whole=False)
    if report.n_nonfinite:
        rows = rows_where(X, lambda v: ~np.isfinite(v))
        raise ACTINNCellError(
            "%s NaN or infinite values: %s" %
            (counted(len(rows), "cell", "holds/hold"), cell_names(ids, rows)))
    if report.n_negative:
        rows = rows_where(X, lambda v: v < 0)
        raise ACTINNCellError(
            "%s negative values, which are not counts: %s" %
            (counted(len(rows), "cell", "holds/hold"), cell_names(ids, rows)))
    return report


#: What to do about cells without counts (every path refuses them).
EMPTY_CELLS_HINT = ("leave cells without counts out first (scanpy: "
                    "sc.pp.filter_cells(adata, min_counts=1))")


def refuse_empty_cells(totals: np.ndarray,
                       ids: Optional[Strings] = None) -> None:
    """Raise :class:`~deepchem_actinn.errors.ACTINNCellError` naming the
    cells whose ``totals`` (their counts summed) are not above zero: they
    cannot be library-size normalised.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing.normalise import refuse_empty_cells
    >>> refuse_empty_cells(np.array([4.0, 0.0, 1.0]))
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNCellError: 1 cell has zero total counts and \
cannot be library-size normalised: row 1; leave cells without counts out \
first (scanpy: sc.pp.filter_cells(adata, min_counts=1))
    """
    zero = np.flatnonzero(totals <= 0)
    if len(zero):
        raise ACTINNCellError("%s zero total counts and cannot be library-size "
                              "normalised: %s; %s" %
                              (counted(len(zero), "cell", "has/have"),
                               cell_names(ids, zero), EMPTY_CELLS_HINT))


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
cannot be library-size normalised: c2; leave cells without counts out first \
(scanpy: sc.pp.filter_cells(adata, min_counts=1))
    """
    refuse_bad_values(X, ids)
    refuse_empty_cells(np.asarray(X.sum(axis=1)).ravel(), ids)


def library_size_log(X: Matrix,
                     target_sum: float = 1e4,
                     base: float = 2.0,
                     ids: Optional[Strings] = None,
                     check: bool = True,
                     columns: Optional[np.ndarray] = None) -> Matrix:
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
        False only for values already checked. Without ``columns``, cells
        with zero total counts are refused either way (from the totals the
        scaling needs).
    columns: np.ndarray of int, optional
        Normalise over these columns of X only, in this order (-1: a
        column of zeros, as
        :func:`~deepchem_actinn.preprocessing.take_columns` takes them):
        each cell scaled by its counts in them, and a cell with counts but
        none in them a row of zeros.

    Returns
    -------
    np.ndarray or scipy.sparse.csr_matrix
        float32, cells x genes (``len(columns)`` of them with ``columns``);
        sparse input stays sparse (zeros stay zero).

    Raises
    ------
    ACTINNCellError
        A cell sums to zero, or X holds negative, NaN or infinite values.
    ValueError
        ``target_sum`` is not above 0 or ``base`` not above 1.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn import library_size_log
    >>> library_size_log(np.array([[1, 3], [2, 2]]), target_sum=4)
    array([[1.       , 2.       ],
           [1.5849625, 1.5849625]], dtype=float32)

    Over the first two columns (the third's counts change nothing):

    >>> library_size_log(np.array([[1, 3, 96], [2, 2, 0]]), target_sum=4,
    ...                  columns=np.array([0, 1]))
    array([[1.       , 2.       ],
           [1.5849625, 1.5849625]], dtype=float32)

    References
    ----------
    .. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
       types in single cell RNA sequencing. Bioinformatics 36(2):533-538
       (2020).
    """
    check_normalisation(target_sum, base)
    if check and columns is not None:
        check_counts(X, ids)
    elif check:
        refuse_bad_values(X, ids)
    if columns is not None:
        X = take_columns(X, np.asarray(columns))
    totals = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    if columns is None:
        refuse_empty_cells(totals, ids)
    scale = np.divide(target_sum,
                      totals,
                      out=np.zeros_like(totals),
                      where=totals > 0)
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
        indices, indptr = csr.indices, csr.indptr
        if columns is None:  # the caller's arrays: the result has its own
            indices, indptr = indices.copy(), indptr.copy()
        return sp.csr_matrix((out, indices, indptr), shape=csr.shape)
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
