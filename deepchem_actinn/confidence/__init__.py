"""Calibrated confidence and the rule that marks a cell ``Unassigned``.

``calibration``: temperature scaling, the expected calibration error and
thresholds. ``knn``: distances to the nearest reference cells in the
networks' hidden layers. ``novelty``: those distances relative to each
type's spread on the reference, and a query's shift from it. ``rejection``:
:class:`RejectionRule`, which scores cells by them and decides which are
``Unassigned`` (:meth:`RejectionRule.decide`, the one decision).
``decision``: what it returns, which cells and why
(:class:`UnassignedDecision`).
"""
from deepchem_actinn.confidence.calibration import (  # noqa: F401
    UNASSIGNED, assign, calibrate, calibrated_probabilities,
    expected_calibration_error, fit_temperature, threshold_for_rejection)
from deepchem_actinn.confidence.decision import (  # noqa: F401
    LOW_PROBABILITY, MIN_CALIBRATION_CELLS, NOVEL, QueryCalibration,
    UnassignedDecision)
from deepchem_actinn.confidence.knn import (  # noqa: F401
    NEIGHBOUR_BLOCK, kth_neighbour_distance)
from deepchem_actinn.confidence.rejection import (  # noqa: F401
    MIN_ASSIGNED_PROBABILITY, RejectionRule)

__all__ = [
    "LOW_PROBABILITY", "MIN_ASSIGNED_PROBABILITY", "MIN_CALIBRATION_CELLS",
    "NOVEL", "UNASSIGNED", "QueryCalibration", "RejectionRule",
    "UnassignedDecision", "assign", "calibrate", "calibrated_probabilities",
    "expected_calibration_error", "fit_temperature", "kth_neighbour_distance",
    "threshold_for_rejection"
]
