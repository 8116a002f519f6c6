"""Ambient RNA: the counts a droplet cell holds from its run's free RNA.

In a droplet experiment each droplet also captures some of the RNA floating
in the suspension (the *soup*, from cells that broke): every cell's counts
are a mix of its own transcripts and a share ``rho`` drawn from the soup's
profile. The networks were trained on a reference without that mix, and
soup counts in genes a type never expresses look to them like expression.

The rule here follows SoupX's [1]_ model with the reference standing in for
hand-picked marker genes:

* the soup profile is the pooled profile of the query's cells (each gene's
  share of all their counts), over the model's genes the query measures;
* for a cell first labelled type ``t``, the genes that type (almost) never
  expresses in the reference, detected in under ``max_detection`` of its
  reference cells, can only hold soup; their counts, divided by what the
  soup puts there, estimate the cell's ``rho``:
  ``rho = counts(absent genes) / (n * soup(absent genes))``, with ``n`` the
  cell's counts over the model's genes, clipped to ``[0, max_fraction]``;
* each count of the cell then loses its expected soup share,
  ``rho * n * soup[gene]``, and stays >= 0 (zeros stay zeros, so a sparse
  matrix stays sparse).

A query with no soup (a Smart-seq2 run, a cleaned droplet run) gives
``rho`` near 0 and is left nearly as it was. Pure functions on raw counts;
:meth:`ACTINNAnnotator.predict(..., remove_ambient=True)
<deepchem_actinn.annotator.ACTINNAnnotator.predict>` runs them between a
first and the final scoring.

Examples
--------
Two genes of the model (columns 0 and 1; column 2 is unknown to it). Type 0
never expresses gene 1, so the second cell's count there is soup:

>>> import numpy as np
>>> detection = np.array([[1.0, 0.0]])        # type x model gene
>>> X = np.array([[8., 0., 5.], [6., 2., 5.]])
>>> clean, rho = remove_ambient(X, np.array([0, 1]), np.array([0, 0]),
...                             detection)
>>> rho.tolist()
[0.0, 0.5]
>>> clean.toarray().tolist()
[[8.0, 0.0, 5.0], [2.5, 1.5, 5.0]]

The second cell's 2 counts in gene 1 are twice what the whole soup would put
there (``n * soup = 8 * 2 / 16``): ``rho`` is clipped to ``max_fraction``.

References
----------
.. [1] Young, M. D. and Behjati, S. "SoupX removes ambient RNA contamination
   from droplet-based single-cell RNA sequencing data", GigaScience 9(12),
   giaa151 (2020).
"""
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.types import Matrix

#: A gene detected in under this share of a type's reference cells counts as
#: not expressed by that type.
MAX_DETECTION = 0.01
#: The largest share of a cell's counts taken as soup.
MAX_FRACTION = 0.5
#: The annotator warns when a typical query cell's share exceeds this.
WARN_FRACTION = 0.05
#: A first label held with at least this probability is trusted to judge a
#: cell's soup by (the others get the trusted cells' median).
TRUSTED_PROBABILITY = 0.5


def type_detection(X: Matrix, y: np.ndarray, n_types: int) -> np.ndarray:
    """Share of each type's cells with a non-zero value in each gene.

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Cells x genes (counts or normalised values: only non-zeros matter).
    y: np.ndarray
        Type index of each cell, ``0 .. n_types - 1``.
    n_types: int
        Number of types (a type without cells gets a row of zeros).

    Returns
    -------
    np.ndarray
        float32, ``n_types x genes``.

    Examples
    --------
    >>> type_detection(np.array([[1, 0], [0, 0], [3, 4]]), np.array([0, 0, 1]),
    ...                2).tolist()
    [[0.5, 0.0], [1.0, 1.0]]
    """
    y = np.asarray(y)
    if X.shape[0] != len(y):
        raise ValueError("%d cells but %d types" % (X.shape[0], len(y)))
    onehot = sp.csr_matrix((np.ones(len(y)), (y, np.arange(len(y)))),
                           shape=(n_types, len(y)))
    detected = sp.csr_matrix(X, copy=True)
    detected.eliminate_zeros()
    detected.data = np.ones_like(detected.data, dtype=np.float64)
    counts = np.asarray((onehot @ detected).todense())
    sizes = np.bincount(y, minlength=n_types).astype(np.float64)
    return (counts / np.maximum(sizes, 1)[:, None]).astype(np.float32)


def _model_columns(X: Matrix, positions: np.ndarray) -> sp.csr_matrix:
    """The query's counts in the model genes it measures (CSR, float64)."""
    columns = np.asarray(positions)[np.asarray(positions) >= 0]
    return sp.csr_matrix(X, dtype=np.float64)[:, columns]


def soup_profile(X: Matrix, positions: np.ndarray) -> np.ndarray:
    """Each measured model gene's share of the query's pooled counts (the
    ambient RNA's profile), in the order of ``positions[positions >= 0]``.

    Examples
    --------
    >>> soup_profile(np.array([[1., 3., 9.], [1., 3., 9.]]),
    ...              np.array([1, -1, 0])).tolist()
    [0.75, 0.25]
    """
    pooled = np.asarray(_model_columns(X, positions).sum(axis=0)).ravel()
    total = pooled.sum()
    if total <= 0:
        return np.zeros_like(pooled)
    return pooled / total


def ambient_fractions(X: Matrix,
                      positions: np.ndarray,
                      types: np.ndarray,
                      detection: np.ndarray,
                      max_detection: float = MAX_DETECTION,
                      max_fraction: float = MAX_FRACTION) -> np.ndarray:
    """Each cell's estimated share of ambient RNA (``rho``, see the module
    notes) over its counts in the model's genes.

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Raw counts, cells x the query's genes.
    positions: np.ndarray
        For each model gene, its column in X (-1 when the query lacks it).
    types: np.ndarray
        Each cell's type index from a first scoring.
    detection: np.ndarray
        :func:`type_detection` of the reference, types x model genes.
    max_detection, max_fraction: float
        A type's absent genes are those detected in under ``max_detection``
        of its reference cells; ``rho`` is clipped to ``max_fraction``.

    Returns
    -------
    np.ndarray
        float64, one value per cell in ``[0, max_fraction]``; 0 for a cell
        without counts in the model's genes or whose type's absent genes
        hold no soup.
    """
    positions = np.asarray(positions)
    types = np.asarray(types)
    if len(types) != X.shape[0]:
        raise ValueError("%d cells but %d types" % (X.shape[0], len(types)))
    if not 0 <= max_detection <= 1 or not 0 <= max_fraction <= 1:
        raise ValueError("max_detection and max_fraction must be in [0, 1]")
    counts = _model_columns(X, positions)
    soup = soup_profile(X, positions)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    absent = np.asarray(detection)[:, positions >= 0] < max_detection
    soup_absent = absent.astype(np.float64) @ soup  # per type
    in_absent = np.asarray((counts.multiply(absent[types].astype(
        np.float64))).sum(axis=1)).ravel()
    expected = totals * soup_absent[types]
    rho = np.divide(in_absent,
                    expected,
                    out=np.zeros_like(in_absent),
                    where=expected > 0)
    return np.clip(rho, 0.0, max_fraction)


def subtract_ambient(X: Matrix, positions: np.ndarray,
                     fractions: np.ndarray) -> sp.csr_matrix:
    """X with each cell's expected soup share taken from its counts in the
    model's genes: ``max(x - rho * n * soup[gene], 0)``; the other columns
    as they were. Returns float64 CSR."""
    positions = np.asarray(positions)
    columns = positions[positions >= 0]
    soup = np.zeros(X.shape[1])
    soup[columns] = soup_profile(X, positions)
    totals = np.asarray(_model_columns(X, positions).sum(axis=1)).ravel()
    out = sp.csr_matrix(X, dtype=np.float64, copy=True)
    rows = np.repeat(np.arange(out.shape[0]), np.diff(out.indptr))
    out.data = np.maximum(
        out.data - (np.asarray(fractions) * totals)[rows] * soup[out.indices],
        0.0)
    out.eliminate_zeros()
    return out


def typical_fraction(fractions: np.ndarray,
                     trusted: np.ndarray,
                     min_cells: int = 50) -> Optional[float]:
    """The median ``rho`` of the cells whose first label is ``trusted``
    (None when fewer than ``min_cells`` are): a cell labelled wrongly holds
    counts in genes its wrong type never expresses, which would pass for
    soup.

    Examples
    --------
    >>> typical_fraction(np.array([0.1, 0.2, 0.9]),
    ...                  np.array([True, True, False]), min_cells=2)
    0.15000000000000002
    """
    trusted = np.asarray(trusted, dtype=bool)
    if trusted.sum() < max(int(min_cells), 1):
        return None
    return float(np.median(np.asarray(fractions)[trusted]))


def remove_ambient(
        X: Matrix,
        positions: np.ndarray,
        types: np.ndarray,
        detection: np.ndarray,
        trusted: Optional[np.ndarray] = None,
        max_detection: float = MAX_DETECTION,
        max_fraction: float = MAX_FRACTION) -> Tuple[sp.csr_matrix, np.ndarray]:
    """:func:`ambient_fractions`, then :func:`subtract_ambient`: the
    cleaned counts (float64 CSR) and each cell's ``rho``.

    ``trusted`` (one bool per cell, default all): the cells whose first
    label is sure enough to judge their soup by; the others are given the
    :func:`typical_fraction` of the trusted ones (0 when too few are).
    """
    fractions = ambient_fractions(X, positions, types, detection, max_detection,
                                  max_fraction)
    if trusted is not None:
        trusted = np.asarray(trusted, dtype=bool)
        typical = typical_fraction(fractions, trusted)
        fractions = np.where(trusted, fractions,
                             0.0 if typical is None else typical)
    return subtract_ambient(X, positions, fractions), fractions
