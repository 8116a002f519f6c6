"""Stratified index splits by largest remainder, without DeepChem.

Two rules, both needing only NumPy:

* :func:`stratified_indices` divides each class on its own. It is the
  annotator's validation hold-out and reference sample, and stays as it is:
  every published benchmark figure rests on the cells it holds out.
* :func:`apportioned_indices` divides the whole dataset in the requested
  proportions (each part's size within one cell of its share) while still
  dividing every class as evenly as it can be:
  :class:`~deepchem_actinn.splitters.SingletaskStratifiedSplitter` applies
  it.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

Fractions = Union[Sequence[float], np.ndarray]


def _fractions(fractions: Fractions) -> np.ndarray:
    """The fractions as floats, refused unless each is >= 0 and they sum
    to 1."""
    frac = np.asarray(fractions, dtype=np.float64)
    if (frac < 0).any() or not np.isclose(frac.sum(), 1.0):
        raise ValueError("fractions must be >= 0 and sum to 1, got %s" %
                         frac.tolist())
    return frac


def _allocate(n: int, fractions: Fractions) -> np.ndarray:
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


def _classes(y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The cells grouped by class: their indices, class after class (in
    the order of ``np.unique``), each class's in ascending order, and the
    size of each class. One sort, not a pass over all cells per class."""
    inverse = np.unique(y, return_inverse=True)[1].ravel()
    sizes = np.bincount(inverse).astype(np.int64)
    return np.argsort(inverse, kind="stable").astype(np.int64), sizes


def _parts(members: np.ndarray, sizes: np.ndarray, counts: np.ndarray,
           rng: np.random.Generator) -> List[np.ndarray]:
    """Each class (``sizes[c]`` cells of ``members``, class after class)
    shuffled and cut into ``counts[c, p]`` cells per part ``p``; one sorted
    int64 index array per part. The classes are shuffled in order, each by
    ``rng.permutation`` (a class of one cell draws nothing), so that the
    parts are the same as shuffling and cutting them one by one."""
    n_parts = counts.shape[1]
    starts = np.cumsum(sizes) - sizes
    shuffled = members.copy()
    for cls in np.flatnonzero(sizes > 1):
        cells = slice(starts[cls], starts[cls] + sizes[cls])
        shuffled[cells] = rng.permutation(members[cells])
    owner = np.repeat(np.arange(len(sizes)), sizes)
    place = np.arange(len(members)) - starts[owner]  # within its class
    part = (place[:, None] >= np.cumsum(counts, axis=1)[owner]).sum(axis=1)
    return [np.sort(shuffled[part == p]) for p in range(n_parts)]


def stratified_indices(y: np.ndarray,
                       fractions: Fractions,
                       seed: Optional[int] = None) -> List[np.ndarray]:
    """Sorted index arrays, one per fraction, each stratified by class.

    Each class is shuffled and divided on its own by largest remainder
    (ties to the earlier part); every index lands in exactly one part, and
    each part with a positive fraction gets at least one cell of a class
    that has as many cells as there are such parts, taken from the largest
    part. Summed over many small classes, the parts' sizes can therefore
    stray far from the fractions; :func:`apportioned_indices` keeps them.
    This is the annotator's hold-out rule, kept unchanged so that its
    held-out cells stay the same.

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
    frac = _fractions(fractions)
    rng = np.random.default_rng(seed)
    members, sizes = _classes(y)
    # classes of one size are divided alike: once per size
    kinds, which = np.unique(sizes, return_inverse=True)
    counts = np.array([_allocate(int(size), frac) for size in kinds],
                      dtype=np.int64).reshape(len(kinds), len(frac))
    return _parts(members, sizes, counts[which.ravel()], rng)


def _snapped(exact: np.ndarray) -> np.ndarray:
    """``exact`` with values within 1e-9 of an integer set to it (0.1 * 30
    is 3.0000000000000004, which must not count as a remainder)."""
    whole = np.round(exact)
    return np.where(np.abs(exact - whole) < 1e-9, whole, exact)


def _largest_remainder(exact: np.ndarray, n: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Whole numbers summing to ``n`` (``exact.sum()``), each the floor or
    the ceiling of its entry: the largest remainders are rounded up, ties
    in random order."""
    counts = np.floor(exact).astype(np.int64)
    order = np.lexsort((rng.random(len(exact)), counts - exact))
    counts[order[:n - int(counts.sum())]] += 1
    return counts


def _rounded_up(exact: np.ndarray, floor: np.ndarray, sizes: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Which entries of each row of ``exact`` :func:`_largest_remainder`
    rounds up, row by row (with the random numbers it draws for them, in
    that order), computed for all rows at once."""
    n_parts = exact.shape[1]
    ties = rng.random(exact.shape)  # row after row, as one call per row
    order = np.lexsort((ties, floor - exact), axis=-1)  # each row's
    rank = np.empty(exact.shape, dtype=np.int64)
    np.put_along_axis(rank, order, np.arange(n_parts)[None, :], axis=-1)
    # how many of a row's ranks the slice order[:take] keeps
    take = sizes - floor.sum(axis=1)
    kept = np.clip(np.where(take < 0, n_parts + take, take), 0, n_parts)
    return rank < kept[:, None]


def _direct_moves(up: np.ndarray, remainder: np.ndarray, need: np.ndarray,
                  priority: np.ndarray) -> None:
    """Move rounded-up cells straight from the parts over their totals to
    those under them, as many as classes allow, in place (as
    :func:`_move`, the classes that lose the least remainder first)."""
    for source in np.flatnonzero(need < 0):
        for target in np.flatnonzero(need > 0):
            able = np.flatnonzero(up[:, source] & ~up[:, target] &
                                  (remainder[:, target] > 0))
            loss = remainder[able, source] - remainder[able, target]
            take = min(-need[source], need[target], len(able))
            chosen = able[np.lexsort((-priority[able], loss))[:take]]
            up[chosen, source], up[chosen, target] = False, True
            need[source] += take
            need[target] -= take


def _move(up: np.ndarray, remainder: np.ndarray, need: np.ndarray,
          priority: np.ndarray) -> Optional[List[Tuple[int, int, int]]]:
    """The shortest chain of moves ``(class, from, to)`` that takes one
    rounded-up cell from a part over its total (``need < 0``) to a part
    under it (``need > 0``), each move a class whose cell rounded up in
    ``from`` is rounded up in ``to`` instead (where its ``remainder`` is
    above 0); None when there is none. Of the classes that could make a
    move, the one that loses the least remainder by it makes it, ties to
    the highest ``priority``."""
    n_parts = len(need)
    came_from: dict = {int(p): None for p in np.flatnonzero(need < 0)}
    frontier = list(came_from)
    while frontier:
        reached = []
        for source in frontier:
            for target in range(n_parts):
                if target in came_from:
                    continue
                able = np.flatnonzero(up[:, source] & ~up[:, target] &
                                      (remainder[:, target] > 0))
                if not len(able):
                    continue
                loss = remainder[able, source] - remainder[able, target]
                best = able[np.lexsort((-priority[able], loss))[0]]
                came_from[target] = (int(best), source)
                if need[target] > 0:
                    chain = []
                    while came_from[target] is not None:
                        cls, source = came_from[target]
                        chain.append((cls, source, target))
                        target = source
                    return chain[::-1]
                reached.append(target)
        frontier = reached
    return None


def apportioned_indices(y: np.ndarray,
                        fractions: Fractions,
                        seed: Optional[int] = None) -> List[np.ndarray]:
    """Sorted index arrays, one per fraction, each stratified by class, with
    the parts' sizes in the requested proportions.

    The parts' sizes are the dataset's size apportioned by largest
    remainder: each within one cell of its exact share. Each class is
    shuffled and divided as evenly as it can be, each part getting the
    floor or the ceiling of its share of the class; which parts get the
    ceilings is settled across the classes, so that the sizes add up, and
    is otherwise the classes' largest remainders, ties broken at random
    (by ``seed``). Every index lands in exactly one part. A class with
    fewer cells than there are parts cannot be in every part (a class of
    one cell is in one part only, not necessarily the largest).

    Parameters
    ----------
    y: array-like, shape (n,)
        Class labels (any sortable values).
    fractions: sequence of float
        Share of each part, each >= 0, summing to 1.
    seed: int, optional
        Seed for the ties and the shuffle within each class.

    Returns
    -------
    list of numpy.ndarray
        One sorted int64 index array per fraction.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.stratify import apportioned_indices
    >>> y = np.repeat(np.arange(20), 5)  # 20 classes of 5 cells
    >>> [len(p) for p in apportioned_indices(y, [0.8, 0.1, 0.1], seed=0)]
    [80, 10, 10]
    """
    y = np.asarray(y).ravel()
    frac = _fractions(fractions)
    rng = np.random.default_rng(seed)
    members, sizes = _classes(y)
    exact = _snapped(np.outer(sizes, frac))
    floor = np.floor(exact).astype(np.int64)
    remainder = exact - floor
    totals = _largest_remainder(_snapped(frac * len(y)), len(y), rng)
    # each class rounds up where its remainders are largest (ties at
    # random); then chains of moves bring the parts to their totals
    up = _rounded_up(exact, floor, sizes, rng)
    need = totals - floor.sum(axis=0) - up.sum(axis=0)
    priority = rng.random(len(sizes))
    _direct_moves(up, remainder, need, priority)
    while (need < 0).any():
        chain = _move(up, remainder, need, priority)
        if chain is None:  # no part can give a cell to one that lacks it
            break
        for cls, source, target in chain:
            up[cls, source], up[cls, target] = False, True
        need[chain[0][1]] += 1
        need[chain[-1][2]] -= 1
    return _parts(members, sizes, floor + up, rng)
