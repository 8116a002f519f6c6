"""Stratified index splits by largest remainder, without DeepChem.

:func:`stratified_indices` is the one rule every stratified split in the
package follows: the annotator's validation hold-out and
:class:`~deepchem_actinn.splitters.SingletaskStratifiedSplitter` alike. It
needs only NumPy.
"""
from typing import List, Optional, Sequence, Union

import numpy as np


def _allocate(n: int, fractions: Union[Sequence[float],
                                       np.ndarray]) -> np.ndarray:
    """Split n items into len(fractions) counts by largest remainder.

    Every part with a positive fraction gets at least one item while items
    last, the parts in order of their fractions, largest first.
    """
    frac = np.asarray(fractions, dtype=np.float64)
    exact = frac * n
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:n - counts.sum()]] += 1
    for part in np.argsort(-frac, kind="stable"):
        if frac[part] > 0 and counts[part] == 0:
            donor = int(np.argmax(counts))
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[part] += 1
    return counts


def stratified_indices(y: np.ndarray,
                       fractions: Union[Sequence[float], np.ndarray],
                       seed: Optional[int] = None) -> List[np.ndarray]:
    """Sorted index arrays, one per fraction, each stratified by class.

    Each class is shuffled and divided by largest remainder; every index
    lands in exactly one part, and a class too small to divide is placed in
    the largest parts first.

    Parameters
    ----------
    y: array-like, shape (n,)
        Class labels (any sortable values).
    fractions: sequence of float
        Share of each part, each >= 0, summing to 1.
    seed: int, optional
        Seed for the shuffle within each class.

    Returns
    -------
    list of numpy.ndarray
        One sorted int64 index array per fraction.

    Examples
    --------
    >>> from deepchem_actinn.stratify import stratified_indices
    >>> [p.tolist() for p in stratified_indices([0, 0, 0, 1, 1, 1], [2/3, 1/3],
    ...                                         seed=0)]
    [[0, 2, 4, 5], [1, 3]]
    """
    y = np.asarray(y).ravel()
    frac = np.asarray(fractions, dtype=np.float64)
    if (frac < 0).any() or not np.isclose(frac.sum(), 1.0):
        raise ValueError("fractions must be >= 0 and sum to 1, got %s" %
                         frac.tolist())
    rng = np.random.default_rng(seed)
    parts: List[list] = [[] for _ in frac]
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == cls))
        counts = _allocate(len(members), frac)
        for part, chunk in enumerate(np.split(members, np.cumsum(counts)[:-1])):
            parts[part].append(chunk)
    return [
        np.sort(np.concatenate(p)).astype(np.int64)
        if p else np.zeros(0, dtype=np.int64) for p in parts
    ]
