"""The kNN novelty score: each type's spread on the reference, and how far
a query sits beyond it.

A cell's novelty score is ``-d / s[c]``: ``d`` the distance from its
features (the networks' last hidden layer) to its ``k``-th nearest
reference cell (:func:`~deepchem_actinn.confidence.kth_neighbour_distance`),
``s[c]`` the spread of the type ``c`` it is given, a quantile of the same
leave-one-out distance among the reference cells of that type
(:func:`type_scales`); higher is more typical. This module fits those
per-type statistics on the reference (:func:`fit_reference`), scores cells
by them (:func:`novelty_scores`) and measures a query's shift from them
(:func:`query_shift`, :func:`type_shifts`);
:class:`~deepchem_actinn.confidence.RejectionRule` holds the statistics and
decides from the scores.

**Calibration against the query** (``knn``, ``query_calibration=True``):
a query from another technology sits further from the reference as a
whole, and every one of its cells looks novel. So the distances of a
query are divided by ``q / m`` when ``q``, the median relative distance
``d / s[c]`` of the query's cells, exceeds ``min_shift * m``, ``m`` that
of the held-out reference cells
(:meth:`~deepchem_actinn.confidence.RejectionRule.query_scale`): a shift of
the whole query is taken for a change of technology, while cells further
out than the query's own typical cell are still rejected. The median is
robust while novel cells are under half of the query. A query like the
reference (``q <= min_shift * m``) is scored as without calibration, so
that a same-technology query gives the same calls whole or in blocks (the
bundled test cells: ``q / m`` = 1.01; their droplet-like versions in
``benchmarks/technologies.py``, development seeds: 1.3 to 1.6).

**Per type, on a shifted query**
(:meth:`~deepchem_actinn.confidence.RejectionRule.calibrate`): a technology
does not shift every type alike (depth and capture differ by gene, so by
type), and one divisor leaves the most shifted types looking novel. So
once the query as a whole is shifted, the cells given each type with at
least ``min_type_cells`` of them are divided by that type's own shift
(1 when under ``min_shift``), at most ``max_type_shift`` times the
query's, so that a new population called a known type still stands out
from it. A query like the reference is never calibrated per type, so
leave-one-type-out on the reference's own technology is unchanged. On
the droplet-like development queries this took the known cells marked
``Unassigned`` from 3.8-5.9 % to 1.6-2.0 %.
"""
from typing import Tuple

import numpy as np

from deepchem_actinn.confidence.knn import (kth_neighbour_distance,
                                            stratified_sample)


def type_scales(distances: np.ndarray, labels: np.ndarray, n_types: int,
                quantile: float) -> np.ndarray:
    """Each type's spread: the ``quantile`` quantile of ``distances`` among
    the cells of that type; the pooled quantile for types without cells,
    never zero.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence.novelty import type_scales
    >>> type_scales(np.array([1., 2., 4., 0.]), np.array([0, 0, 1, 1]), 3,
    ...             1.0).tolist()
    [2.0, 4.0, 4.0]
    """
    pooled = float(np.quantile(distances, quantile))
    scales = np.full(n_types, pooled, dtype=np.float64)
    for c in range(n_types):
        mine = distances[labels == c]
        if len(mine):
            scales[c] = float(np.quantile(mine, quantile))
    tiny = max(pooled, 1.0) * 1e-12
    return np.where(scales > tiny, scales, max(pooled, tiny))


def fit_reference(
        features: np.ndarray, labels: np.ndarray, rows: np.ndarray,
        n_types: int, n_neighbors: int, scale_quantile: float,
        max_reference: int,
        seed: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The reference cells the kNN rule keeps, and each type's spread.

    Parameters
    ----------
    features: np.ndarray
        Cells x features (float32).
    labels: np.ndarray
        Each cell's class id (``0 .. n_types - 1``).
    rows: np.ndarray
        The rows that may be reference (those not held out); a stratified
        sample of at most about ``max_reference`` of them is kept, seeded
        by ``seed``.
    n_types: int
        Number of classes.
    n_neighbors, scale_quantile: int, float
        ``k`` of the distance, and the quantile taken as a type's spread.

    Returns
    -------
    keep: np.ndarray
        The rows kept (indices into ``features``).
    reference: np.ndarray
        ``features[keep]``.
    distances: np.ndarray
        Each kept cell's leave-one-out distance to its ``k``-th neighbour
        among the others.
    scales: np.ndarray
        :func:`type_scales` of those distances.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence.novelty import fit_reference
    >>> features = np.array([[0.], [1.], [3.], [10.], [12.]], np.float32)
    >>> keep, reference, distances, scales = fit_reference(
    ...     features, np.array([0, 0, 0, 1, 1]), np.arange(4), 2, 1, 1.0,
    ...     100, 0)
    >>> keep.tolist(), distances.tolist(), scales.tolist()
    ([0, 1, 2, 3], [1.0, 1.0, 2.0, 7.0], [2.0, 7.0])
    """
    keep = rows[stratified_sample(labels[rows], max_reference,
                                  np.random.default_rng(seed))]
    reference = features[keep]
    distances = kth_neighbour_distance(reference,
                                       reference,
                                       n_neighbors,
                                       exclude_self=True)
    scales = type_scales(distances, labels[keep], n_types, scale_quantile)
    return keep, reference, distances, scales


def novelty_scores(features: np.ndarray, reference: np.ndarray,
                   scales: np.ndarray, n_neighbors: int,
                   given: np.ndarray) -> np.ndarray:
    """``-d / s[c]`` of each cell: ``d`` its distance to its
    ``n_neighbors``-th nearest ``reference`` row, ``c`` the type it is
    given (the argmax of its row of ``given``, logits or probabilities).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence.novelty import novelty_scores
    >>> novelty_scores(np.array([[1.], [9.]]), np.array([[0.], [10.]]),
    ...                np.array([1.0, 0.5]), 1,
    ...                np.array([[1., 0.], [0., 1.]])).tolist()
    [-1.0, -2.0]
    """
    distance = kth_neighbour_distance(features, reference, n_neighbors)
    return -distance / scales[np.asarray(given).argmax(axis=1)]


def query_shift(scores: np.ndarray, median_ratio: float,
                min_shift: float) -> float:
    """``q / m`` when above ``min_shift``, else 1: ``q`` the median of
    ``-scores`` over the query's cells, ``m`` (``median_ratio``) that of
    the held-out reference cells; 1 for no cells.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence.novelty import query_shift
    >>> query_shift(np.array([-1.0, -2.0, -0.5]), 0.5, 1.1)
    2.0
    >>> query_shift(np.array([-0.52, -0.54]), 0.5, 1.1)
    1.0
    """
    if not len(scores):
        return 1.0
    shift = float(np.median(-np.asarray(scores))) / median_ratio
    return shift if shift > min_shift else 1.0


def type_shifts(scores: np.ndarray, predicted: np.ndarray, median_ratio: float,
                scale: float, n_types: int, min_type_cells: int,
                min_shift: float, max_type_shift: float) -> np.ndarray:
    """The divisor of the cells given each type, on a query shifted by
    ``scale`` (its :func:`query_shift`): the type's own shift, the median
    of ``-scores / median_ratio`` over its cells, where it has at least
    ``min_type_cells`` of them (1 when that is under ``min_shift``, at most
    ``max_type_shift * scale``); ``scale`` for the other types.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence.novelty import type_shifts
    >>> scores = np.array([-1.0, -1.0, -1.2, -1.2, -0.3])
    >>> type_shifts(scores, np.array([0, 0, 1, 1, 2]), 0.5, 2.0, 3, 2, 1.1,
    ...             1.5).round(2).tolist()
    [2.0, 2.4, 2.0]
    """
    ratios = -np.asarray(scores, dtype=np.float64) / median_ratio
    predicted = np.asarray(predicted, dtype=np.int64)
    shifts = np.full(n_types, scale)
    for c in range(n_types):
        mine = ratios[predicted == c]
        if len(mine) >= min_type_cells:
            shift = float(np.median(mine))
            shifts[c] = min(shift, max_type_shift * scale) \
                if shift > min_shift else 1.0
    return shifts
