"""Distances in the networks' feature space: each query cell's distance to
its ``k``-th nearest reference cell (:func:`kth_neighbour_distance`), and
the stratified sample of reference cells the kNN rule keeps
(:func:`stratified_sample`); :class:`~deepchem_actinn.confidence.RejectionRule`
scores cells by them.
"""
import numpy as np

#: Rows of queries per block in :func:`kth_neighbour_distance`.
NEIGHBOUR_BLOCK = 1024


def kth_neighbour_distance(queries: np.ndarray,
                           reference: np.ndarray,
                           k: int,
                           exclude_self: bool = False,
                           block: int = NEIGHBOUR_BLOCK) -> np.ndarray:
    """Euclidean distance of each query to its ``k``-th nearest reference row.

    Brute force in blocks of ``block`` queries, in float32 after centring on
    the reference mean: time ``O(n m d)`` and memory ``O(block m)`` for
    ``n`` queries, ``m`` reference rows of ``d`` features.

    Parameters
    ----------
    queries: np.ndarray
        n x d.
    reference: np.ndarray
        m x d.
    k: int
        Which neighbour (1 = nearest); clipped to the rows available.
    exclude_self: bool, default False
        ``queries`` *is* ``reference``: skip each row's distance to itself
        (leave-one-out).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence import kth_neighbour_distance
    >>> ref = np.array([[0.], [1.], [3.]])
    >>> kth_neighbour_distance(np.array([[0.], [10.]]), ref, 2)
    array([1., 9.])
    >>> kth_neighbour_distance(ref, ref, 1, exclude_self=True)
    array([1., 1., 2.])
    """
    reference = np.asarray(reference, dtype=np.float32)
    available = len(reference) - int(exclude_self)
    if available < 1:
        raise ValueError("no reference rows to measure distances to")
    k = int(min(max(k, 1), available))
    # Centred on the reference mean so that float32 products lose little
    # to cancellation; |q|^2 is added after the partition (same per row).
    centre = reference.mean(axis=0, dtype=np.float64)
    reference = (reference - centre).astype(np.float32)
    ref_sq = (reference.astype(np.float64)**2).sum(axis=1).astype(np.float32)
    minus_2ref_t = np.ascontiguousarray(-2.0 * reference.T)
    out = np.empty(len(queries), dtype=np.float64)
    for start in range(0, len(queries), block):
        q = (np.asarray(queries[start:start + block], dtype=np.float64) -
             centre).astype(np.float32)
        partial = q @ minus_2ref_t
        partial += ref_sq
        if exclude_self:
            rows = np.arange(len(q))
            partial[rows, start + rows] = np.inf
        kth = np.partition(partial, k - 1, axis=1)[:, k - 1]
        out[start:start + len(q)] = kth + (q.astype(np.float64)**2).sum(axis=1)
    return np.sqrt(np.clip(out, 0.0, None))


def stratified_sample(labels: np.ndarray, size: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices: at most about ``size`` rows, each label's share
    kept, and each label keeping at least ``min(its count, floor)`` rows
    where ``floor = min(50, size // n_labels)``, so that rare types stay."""
    if size >= len(labels):
        return np.arange(len(labels))
    classes = np.unique(labels)
    floor = max(1, min(50, size // len(classes)))
    parts = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        want = max(floor, int(round(size * len(members) / len(labels))))
        parts.append(rng.choice(members, min(len(members), want),
                                replace=False))
    return np.sort(np.concatenate(parts))
