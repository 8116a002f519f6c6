"""Ambient RNA: the counts a droplet cell holds from its run's free RNA.

In a droplet experiment each droplet also captures some of the RNA floating
in the suspension (the *soup*, from cells that broke): a cell's counts are a
mix, a share ``1 - rho`` from its own type's profile and ``rho`` from the
soup's. The networks were trained on a reference without that mix, and soup
counts in genes a type does not express look to them like expression.

The rule here follows SoupX's [1]_ model, with the reference standing in
for hand-picked marker genes:

* the soup's profile ``s`` is the pooled profile of the query's cells (each
  gene's share of all their counts), over the model's genes the query
  measures;
* a type's profile ``p_t`` is its reference cells' mean share of each of
  those genes (:func:`type_profiles`); the genes ``A_t`` where the type's
  own share is under ``max_ratio`` (5 %) of the soup's hold almost only
  soup in a cell of that type;
* a cell first labelled ``t`` with ``n`` counts over the model's genes, of
  which ``x`` fall in ``A_t``, expects ``n * ((1 - rho) p_t(A_t) + rho
  s(A_t))`` there, so ``rho = (x / n - p_t(A_t)) / (s(A_t) - p_t(A_t))``,
  clipped to ``[0, max_fraction]``;
* each count of the cell then loses its expected soup share,
  ``rho * n * s[gene]``, and stays >= 0 (zeros stay zeros, so a sparse
  matrix stays sparse).

A query with no soup (a Smart-seq2 run, a cleaned droplet run) gives
``rho`` near 0 and is left nearly as it was.

A type profiled from few reference cells shows no counts, by chance alone,
in many genes it expresses at a low level; read as not expressed, they hold
its query cells' own counts, which pass for soup (with 25 reference cells a
type, a query without soup looked 50 % soup). Given ``profile_cells`` (each
type's reference cells), :func:`ambient_fractions` takes a gene as one the
type does not express only where those cells, as deep as the query's cells
of that type, would have held at least :data:`MIN_EXPECTED` counts of it at
``max_ratio`` of the soup's share, and leaves unjudged (NaN) the cells of a
type without such genes. The annotator's warning and
:func:`remove_ambient` both judge so; ``remove_ambient`` gives a cell not
judged the median ``rho`` of the query's judged cells (as SoupX, which
estimates one fraction a channel), or 0 where under 50 are judged.

Pure functions on raw counts; :meth:`ACTINNAnnotator.predict(...,
remove_ambient=True) <deepchem_actinn.annotator.ACTINNAnnotator.predict>`
runs them between a first and the final scoring.

Examples
--------
Two genes of the model (columns 0 and 1; column 2 is unknown to it). Type 0
does not express gene 1, so the second cell's counts there are soup:

>>> import numpy as np
>>> from deepchem_actinn.preprocessing.ambient import remove_ambient
>>> profiles = np.array([[1.0, 0.0]])        # type x model gene
>>> X = np.array([[16., 0., 5.], [12., 4., 5.]])
>>> clean, rho = remove_ambient(X, np.array([0, 1]), np.array([0, 0]),
...                             profiles)
>>> rho.tolist()
[0.0, 0.5]
>>> clean.toarray().tolist()
[[16.0, 0.0, 5.0], [5.0, 3.0, 5.0]]

The soup is 28 / 32 gene 0 and 4 / 32 gene 1; the second cell's 4 of 16
counts in gene 1 are twice the whole soup's share there: ``rho`` is clipped
to ``max_fraction``.

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

#: A gene whose share in a type is under this ratio of its share in the soup
#: holds (almost) only soup in a cell of that type.
MAX_RATIO = 0.05
#: The largest share of a cell's counts taken as soup.
MAX_FRACTION = 0.5
#: The annotator warns when a typical query cell's share exceeds this.
WARN_FRACTION = 0.05
#: A first label held with at least this probability is trusted to judge a
#: cell's soup by (the others get the trusted cells' median).
TRUSTED_PROBABILITY = 0.5
#: With ``profile_cells``, a type's soup genes are only those where its
#: reference cells, as deep as the query's cells of that type, would have held
#: at least this many counts at ``max_ratio`` of the soup's share. Measured on
#: the Tabula Muris sample (types cut to 14-60 reference cells, counts thinned
#: to 200-40,000 a cell) with no soup and 5-20 % soup: 10 left up to 4 % of
#: soup where there was none, 30 and 50 none (0.1 % at most), and 50 gave
#: each soup share within 1 point (100 lost it with 14 cells of 800 counts).
#: On simulations (no gene ever off in a type) it left no soup at 10-240
#: cells a type, where the bare ratio test had up to the cap.
MIN_EXPECTED = 50
#: The fewest query cells whose pooled counts make a soup profile
#: (``predict(remove_ambient=True)`` refuses fewer): in fewer, each cell's
#: own counts weigh too much in the pool to tell soup from it.
MIN_SOUP_CELLS = 50


def type_profiles(X: Matrix, y: np.ndarray, n_types: int) -> np.ndarray:
    """Each type's mean profile: its cells' share of each gene, averaged.

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Counts (or values proportional to counts within each cell), cells x
        genes.
    y: np.ndarray
        Type index of each cell, ``0 .. n_types - 1``.
    n_types: int
        Number of types (a type without cells gets a row of zeros).

    Returns
    -------
    np.ndarray
        float32, ``n_types x genes``; each row of a type with cells sums to
        1 (a cell without counts adds zeros).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing.ambient import type_profiles
    >>> type_profiles(np.array([[1, 3], [2, 2], [0, 5]]), np.array([0, 0, 1]),
    ...               2).tolist()
    [[0.375, 0.625], [0.0, 1.0]]
    """
    y = np.asarray(y)
    if X.shape[0] != len(y):
        raise ValueError("%d cells but %d types" % (X.shape[0], len(y)))
    shares = sp.csr_matrix(X, dtype=np.float64)
    totals = np.asarray(shares.sum(axis=1)).ravel()
    shares = sp.diags(
        np.divide(1.0, totals, out=np.zeros_like(totals),
                  where=totals > 0)) @ shares
    sizes = np.bincount(y, minlength=n_types).astype(np.float64)
    onehot = sp.csr_matrix((1.0 / sizes[y], (y, np.arange(len(y)))),
                           shape=(n_types, len(y)))
    return np.asarray((onehot @ shares).todense(), dtype=np.float32)


def _measured(
        X: Matrix,
        positions: np.ndarray) -> Tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """One pass over the query: its counts in the model genes it measures
    (CSR, float64, in the order of ``positions[positions >= 0]``), the soup
    profile over them and each cell's total there."""
    positions = np.asarray(positions)
    counts = sp.csr_matrix(X, dtype=np.float64)[:, positions[positions >= 0]]
    pooled = np.asarray(counts.sum(axis=0)).ravel()
    total = pooled.sum()
    soup = pooled / total if total > 0 else np.zeros_like(pooled)
    return counts, soup, np.asarray(counts.sum(axis=1)).ravel()


def soup_profile(X: Matrix, positions: np.ndarray) -> np.ndarray:
    """Each measured model gene's share of the query's pooled counts (the
    ambient RNA's profile), in the order of ``positions[positions >= 0]``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing.ambient import soup_profile
    >>> soup_profile(np.array([[1., 3., 9.], [1., 3., 9.]]),
    ...              np.array([1, -1, 0])).tolist()
    [0.75, 0.25]
    """
    return _measured(X, positions)[1]


def ambient_fractions(X: Matrix,
                      positions: np.ndarray,
                      types: np.ndarray,
                      profiles: np.ndarray,
                      max_ratio: float = MAX_RATIO,
                      max_fraction: float = MAX_FRACTION,
                      profile_cells: Optional[np.ndarray] = None) -> np.ndarray:
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
    profiles: np.ndarray
        :func:`type_profiles` of the reference, types x model genes.
    max_ratio, max_fraction: float
        A type's soup genes are those where its share (over the genes the
        query measures) is under ``max_ratio`` of the soup's; ``rho`` is
        clipped to ``max_fraction``.
    profile_cells: np.ndarray, optional
        How many reference cells each type's profile rests on. Given, a
        type's soup genes are only those where its reference cells would
        have shown it at ``max_ratio`` of the soup's share (at least
        :data:`MIN_EXPECTED` counts, each cell as deep as the median query
        cell of that type): a gene unseen in a few cells is not taken as
        one the type does not express.

    Returns
    -------
    np.ndarray
        float64, one value per cell in ``[0, max_fraction]``; 0 for a cell
        without counts in the model's genes or whose type has no soup genes
        (NaN for the latter when ``profile_cells`` is given: not judged).

    Examples
    --------
    Type 0's two reference cells showed no gene 1, which its query cell holds
    a tenth of its counts in: too few cells to tell that from soup, unless
    they had been 100 (type 1 expresses both genes: no soup genes):

    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing.ambient import ambient_fractions
    >>> X = np.array([[27., 3.], [3., 27.]])
    >>> profiles = np.array([[1.0, 0.0], [0.2, 0.8]])
    >>> ambient_fractions(X, np.array([0, 1]), np.array([0, 1]), profiles,
    ...                   profile_cells=np.array([2, 2])).tolist()
    [nan, nan]
    >>> ambient_fractions(X, np.array([0, 1]), np.array([0, 1]), profiles,
    ...                   profile_cells=np.array([100, 2])).tolist()
    [0.2, nan]
    """
    return _fractions(_measured(X, positions), positions, types, profiles,
                      max_ratio, max_fraction, profile_cells)


def _fractions(measured: Tuple[sp.csr_matrix, np.ndarray, np.ndarray],
               positions: np.ndarray,
               types: np.ndarray,
               profiles: np.ndarray,
               max_ratio: float,
               max_fraction: float,
               profile_cells: Optional[np.ndarray] = None) -> np.ndarray:
    """:func:`ambient_fractions` from :func:`_measured`'s pass."""
    counts, soup, totals = measured
    positions = np.asarray(positions)
    types = np.asarray(types)
    if len(types) != counts.shape[0]:
        raise ValueError("%d cells but %d types" %
                         (counts.shape[0], len(types)))
    if max_ratio < 0 or not 0 <= max_fraction <= 1:
        raise ValueError("max_ratio must be >= 0 and max_fraction in [0, 1]")
    if profile_cells is not None and np.shape(profile_cells) != (
            len(profiles),):
        raise ValueError("%s profile cell counts for %d types" %
                         (np.shape(profile_cells), len(profiles)))
    own = np.asarray(profiles, dtype=np.float64)[:, positions >= 0]
    own_totals = own.sum(axis=1, keepdims=True)
    own = np.divide(own,
                    own_totals,
                    out=np.zeros_like(own),
                    where=own_totals > 0)
    in_soup = own < max_ratio * soup[None, :]  # types x measured genes
    if profile_cells is not None:
        seen = _type_depths(totals, types, len(own)) * np.asarray(
            profile_cells, dtype=np.float64)  # each type's reference counts
        in_soup &= seen[:, None] * (max_ratio * soup[None, :]) >= MIN_EXPECTED
    soup_share = (in_soup * soup[None, :]).sum(axis=1)[types]
    own_share = (in_soup * own).sum(axis=1)[types]
    # each cell's counts in its type's soup genes, one look per non-zero
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    observed = np.bincount(rows,
                           weights=counts.data *
                           in_soup[types[rows], counts.indices],
                           minlength=counts.shape[0])
    observed = np.divide(observed,
                         totals,
                         out=np.zeros_like(observed),
                         where=totals > 0)
    gap = soup_share - own_share
    rho = np.divide(observed - own_share,
                    gap,
                    out=np.zeros_like(observed),
                    where=(gap > 0) & (totals > 0))
    rho = np.clip(rho, 0.0, max_fraction)
    if profile_cells is not None:
        rho[gap <= 0] = np.nan
    return rho


def _type_depths(totals: np.ndarray, types: np.ndarray,
                 n_types: int) -> np.ndarray:
    """The median of ``totals`` over the cells of each type (0 for a type
    without cells)."""
    depths = np.zeros(n_types)
    order = np.lexsort((totals, types))
    present, starts, sizes = np.unique(types[order],
                                       return_index=True,
                                       return_counts=True)
    ranked = totals[order]
    depths[present] = (ranked[starts + (sizes - 1) // 2] +
                       ranked[starts + sizes // 2]) / 2
    return depths


def subtract_ambient(X: Matrix, positions: np.ndarray,
                     fractions: np.ndarray) -> sp.csr_matrix:
    """X with each cell's expected soup share taken from its counts in the
    model's genes: ``max(x - rho * n * soup[gene], 0)``; the other columns
    as they were. Returns float64 CSR."""
    return _subtract(X, positions, _measured(X, positions), fractions)


def _subtract(X: Matrix, positions: np.ndarray,
              measured: Tuple[sp.csr_matrix, np.ndarray, np.ndarray],
              fractions: np.ndarray) -> sp.csr_matrix:
    """:func:`subtract_ambient` from :func:`_measured`'s pass."""
    _, measured_soup, totals = measured
    positions = np.asarray(positions)
    soup = np.zeros(X.shape[1])
    soup[positions[positions >= 0]] = measured_soup
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
    soup. Cells whose ``rho`` is NaN (not judged) are left out.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing.ambient import typical_fraction
    >>> typical_fraction(np.array([0.1, 0.2, 0.9]),
    ...                  np.array([True, True, False]), min_cells=2)
    0.15000000000000002
    """
    fractions = np.asarray(fractions)
    trusted = np.asarray(trusted, dtype=bool) & ~np.isnan(fractions)
    if trusted.sum() < max(int(min_cells), 1):
        return None
    return float(np.median(fractions[trusted]))


def remove_ambient(
    X: Matrix,
    positions: np.ndarray,
    types: np.ndarray,
    profiles: np.ndarray,
    trusted: Optional[np.ndarray] = None,
    max_ratio: float = MAX_RATIO,
    max_fraction: float = MAX_FRACTION,
    profile_cells: Optional[np.ndarray] = None
) -> Tuple[sp.csr_matrix, np.ndarray]:
    """:func:`ambient_fractions`, then :func:`subtract_ambient`: the
    cleaned counts and each cell's ``rho``.

    A cell whose first label is not ``trusted``, or whose type's reference
    cells are too few to judge a gene by (``profile_cells``), is given the
    :func:`typical_fraction` of the others (0 when under 50 are left): the
    soup is one per query, so the query's typical share stands for it.

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Raw counts, cells x the query's genes.
    positions: np.ndarray
        For each model gene, its column in X (-1 when the query lacks it).
    types: np.ndarray
        Each cell's type index from a first scoring.
    profiles: np.ndarray
        :func:`type_profiles` of the reference, types x model genes.
    trusted: np.ndarray, optional
        One bool per cell (default all): the cells whose first label is
        sure enough to judge their soup by.
    max_ratio, max_fraction: float
        As in :func:`ambient_fractions`.
    profile_cells: np.ndarray, optional
        How many reference cells each type's profile rests on (as in
        :func:`ambient_fractions`); without it every type is judged (by the
        bare ratio test), as by annotators saved before it was kept.

    Returns
    -------
    (scipy.sparse.csr_matrix, np.ndarray)
        The cleaned counts (float64) and each cell's ``rho`` (float64, in
        ``[0, max_fraction]``, never NaN).

    Examples
    --------
    Type 1's two reference cells showed none of genes 0 and 1, which its
    query cells hold a fifth of their counts in: judged by them, its cells
    look 36 % soup. Told how few they were, its cells get the median of type
    0's, judged on gene 2 (which 1,000 reference cells never showed):

    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing.ambient import remove_ambient
    >>> X = np.array([[45., 45., 10.]] * 50 + [[10., 10., 80.]] * 50)
    >>> profiles = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    >>> types = np.repeat([0, 1], 50)
    >>> _, rho = remove_ambient(X, np.arange(3), types, profiles)
    >>> rho[[0, -1]].round(3).tolist()
    [0.222, 0.364]
    >>> clean, rho = remove_ambient(X,
    ...                             np.arange(3),
    ...                             types,
    ...                             profiles,
    ...                             profile_cells=np.array([1000, 2]))
    >>> rho[[0, -1]].round(3).tolist()
    [0.222, 0.222]
    >>> clean.toarray()[[0, -1]].round(1).tolist()
    [[38.9, 38.9, 0.0], [3.9, 3.9, 70.0]]
    """
    measured = _measured(X, positions)
    fractions = _fractions(measured, positions, types, profiles, max_ratio,
                           max_fraction, profile_cells)
    keep = ~np.isnan(fractions)
    if trusted is not None:
        keep &= np.asarray(trusted, dtype=bool)
    if not keep.all():
        typical = typical_fraction(fractions, keep)
        fractions = np.where(keep, fractions,
                             0.0 if typical is None else typical)
    return _subtract(X, positions, measured, fractions), fractions
