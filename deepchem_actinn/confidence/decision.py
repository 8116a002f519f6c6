"""What the ``Unassigned`` rule decides: which cells, why, and the
calibration carried to the next chunk.

:meth:`RejectionRule.decide <deepchem_actinn.confidence.RejectionRule.decide>`
is the one place the decision is made (``predict``, ``predict_file``,
``iter_predict``, Dask prediction and ``actinn predict --unassigned`` all
call it); this module holds what it returns. A cell is ``Unassigned`` for
one of two reasons: :data:`NOVEL`, it sits further from every reference
type than the rule's threshold allows, after the query's calibration; or
:data:`LOW_PROBABILITY`, no type holds ``min_assigned_probability`` of its
calibrated probability.
"""
from typing import NamedTuple, Optional

import numpy as np

#: Fewest cells a chunk needs to calibrate the novelty rule on itself; a
#: smaller chunk (the tail of a file) takes the previous chunk's calibration.
MIN_CALIBRATION_CELLS = 1000

#: The reason of a cell far from every reference type (the novelty score
#: test).
NOVEL = "novel"

#: The reason of a cell whose label holds under the rule's
#: ``min_assigned_probability`` (the networks hesitate between types); also
#: that of every cell a confidence ``threshold`` marks.
LOW_PROBABILITY = "low_probability"


class QueryCalibration(NamedTuple):
    """How a query's novelty scores are scaled before the threshold
    (:meth:`RejectionRule.calibrate
    <deepchem_actinn.confidence.RejectionRule.calibrate>`); the part of a
    decision carried to the next chunk of a query.

    Attributes
    ----------
    scale: float
        The query's shift as a whole (1: like the reference).
    type_scales: np.ndarray or None
        The divisor for the cells given each type, on a shifted query; None
        when ``scale`` applies to every cell.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence import QueryCalibration
    >>> QueryCalibration(2.0, np.array([1.5, 3.0])).divisors(
    ...     np.array([1, 0, 1])).tolist()
    [3.0, 1.5, 3.0]
    >>> QueryCalibration(1.0, None).divisors(np.array([1, 0])).tolist()
    [1.0, 1.0]
    """
    scale: float
    type_scales: Optional[np.ndarray] = None

    def divisors(self, predicted: np.ndarray) -> np.ndarray:
        """The divisor of each cell's score, by the type it is given."""
        predicted = np.asarray(predicted, dtype=np.int64)
        if self.type_scales is None:
            return np.full(len(predicted), float(self.scale))
        return np.asarray(self.type_scales, dtype=np.float64)[predicted]


class UnassignedDecision(NamedTuple):
    """Which cells the ``Unassigned`` rule marks and why, as
    :meth:`RejectionRule.decide
    <deepchem_actinn.confidence.RejectionRule.decide>` returns it.

    Attributes
    ----------
    novel: np.ndarray
        True where the cell's score, divided by the calibration's divisor
        for its type, is below the rule's threshold.
    low_probability: np.ndarray
        True where the cell's label has under the rule's
        ``min_assigned_probability`` (all False when no probabilities were
        given).
    calibration: QueryCalibration
        What the scores were divided by; the ``previous`` of the query's
        next chunk.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence import (QueryCalibration,
    ...                                         UnassignedDecision)
    >>> decision = UnassignedDecision(np.array([True, False, True, False]),
    ...                               np.array([False, True, True, False]),
    ...                               QueryCalibration(1.0))
    >>> decision.rejected.tolist()
    [True, True, True, False]
    >>> decision.reasons.tolist()
    ['novel', 'low_probability', 'low_probability', '']
    """
    novel: np.ndarray
    low_probability: np.ndarray
    calibration: QueryCalibration

    @property
    def rejected(self) -> np.ndarray:
        """True for the cells to mark ``Unassigned``: either test."""
        return self.novel | self.low_probability

    @property
    def reasons(self) -> np.ndarray:
        """Each cell's reason (object array): :data:`LOW_PROBABILITY` where
        its label's probability is low, whether or not it is also novel (its
        distance is judged against a type the networks barely favour), else
        :data:`NOVEL` where novel, else ``""``."""
        reasons = np.full(len(self.novel), "", dtype=object)
        reasons[self.novel] = NOVEL
        reasons[self.low_probability] = LOW_PROBABILITY
        return reasons
