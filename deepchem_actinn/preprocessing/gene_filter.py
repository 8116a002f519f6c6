"""ACTINN's gene filter and alignment by gene name, on arrays.

The filter keeps genes whose total expression lies inside the 1st-99th
percentile, whose mean is non-zero, and whose coefficient of variation lies
inside the 1st-99th percentile (computed on the genes left by the first two
rules), all on the normalised training data only (:func:`select_genes`).
Query data from another source is aligned to the kept genes by name
(:func:`gene_positions`, :func:`take_columns`). These functions need neither
DeepChem nor PyTorch;
:class:`~deepchem_actinn.transformers.gene_filter.GeneFilterTransformer`
is the ``dc.trans.Transformer``.
"""
from typing import Dict, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.stats import GeneStats

Matrix = Union[np.ndarray, sp.spmatrix, sp.sparray]
#: Gene names: a list or a NumPy array (e.g. an AnnData's ``var_names``).
Genes = Union[Sequence[str], np.ndarray]


def select_genes(
    stats: GeneStats,
    total_percentiles: Tuple[float, float] = (1.0, 99.0),
    cv_percentiles: Tuple[float, float] = (1.0, 99.0)
) -> np.ndarray:
    """Boolean mask of the genes ACTINN keeps, from per-gene statistics.

    Parameters
    ----------
    stats: GeneStats
        Statistics of the normalised training data
        (:func:`deepchem_actinn.stats.gene_statistics`).
    total_percentiles: (low, high)
        Keep genes whose total expression is within these percentiles.
    cv_percentiles: (low, high)
        Then keep genes whose coefficient of variation is within these
        percentiles of the genes still kept.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.stats import gene_statistics
    >>> X = np.array([[0., 1., 2., 0.], [0., 3., 2., 1.]])
    >>> select_genes(gene_statistics(X), (0, 100), (0, 100))
    array([False,  True,  True,  True])
    """
    total = stats.total
    keep = _inside(total, np.percentile(total, total_percentiles))
    keep &= stats.mean > 0
    cv = stats.cv
    if keep.any():
        keep &= _inside(cv, np.percentile(cv[keep], cv_percentiles))
    return keep


def _inside(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """values within [low, high]; values tied with a bound count as inside.

    Many genes can share one value (a gene seen in a single cell has
    CV = sqrt(n - 1) exactly), and a percentile bound can fall inside such a
    tie; rounding then decides which tied genes pass. Comparing with a small
    relative tolerance keeps the whole tie, whatever the float precision or
    chunking of the statistics.
    """
    low, high = bounds
    slack = _TIE_RTOL * np.maximum(np.abs(bounds), 1e-300)
    with np.errstate(invalid="ignore"):
        return (values >= low - slack[0]) & (values <= high + slack[1])


#: Relative tolerance under which a value equals a percentile bound.
_TIE_RTOL = 1e-5


def gene_positions(reference: Genes, query: Genes) -> np.ndarray:
    """Index of each reference gene in ``query`` (-1 where it is missing).

    Examples
    --------
    >>> gene_positions(["A", "B", "C"], ["C", "A", "X"])
    array([ 1, -1,  0])
    """
    lookup: Dict[str, int] = {}
    for i, name in enumerate(query):
        lookup.setdefault(str(name), i)
    return np.array([lookup.get(str(g), -1) for g in reference], dtype=np.int64)


def take_columns(X: Matrix, positions: np.ndarray) -> Matrix:
    """Columns ``positions`` of X; a position of -1 gives a column of zeros.

    Sparse input stays sparse; nothing is densified.

    Examples
    --------
    >>> import numpy as np
    >>> take_columns(np.array([[1., 2.], [3., 4.]]), np.array([1, -1, 0]))
    array([[2., 0., 1.],
           [4., 0., 3.]])
    """
    present = positions >= 0
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        wanted = positions[present]
        if len(np.unique(wanted)) == len(wanted):
            # each query column feeds at most one output column: renumber
            # the non-zeros' columns with one gather, dropping the others
            col_map = np.full(X.shape[1], -1, dtype=np.int64)
            col_map[wanted] = np.flatnonzero(present)
            new = col_map[X.indices]
            keep = new >= 0
            if keep.all():
                return sp.csr_matrix((X.data.copy(), new, X.indptr.copy()),
                                     shape=(X.shape[0], len(positions)))
            kept_before = np.concatenate([[0], np.cumsum(keep)])
            return sp.csr_matrix(
                (X.data[keep], new[keep], kept_before[X.indptr]),
                shape=(X.shape[0], len(positions)))
        picker = sp.csr_matrix((np.ones(int(present.sum()), dtype=X.dtype),
                                (positions[present], np.flatnonzero(present))),
                               shape=(X.shape[1], len(positions)))
        return sp.csr_matrix(X @ picker)
    X = np.asarray(X)
    out = np.zeros((X.shape[0], len(positions)), dtype=X.dtype)
    out[:, present] = X[:, positions[present]]
    return out
