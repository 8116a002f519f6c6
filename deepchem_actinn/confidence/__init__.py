"""Calibrated confidence and the rule that marks a cell ``Unassigned``.

``calibration``: temperature scaling, the expected calibration error and
thresholds. ``knn``: distances to the nearest reference cells in the
networks' hidden layers. ``rejection``: :class:`RejectionRule`, which
compares a cell with those cells.
"""
from deepchem_actinn.confidence.calibration import (  # noqa: F401
    UNASSIGNED, assign, calibrate, calibrated_probabilities,
    expected_calibration_error, fit_temperature, threshold_for_rejection)
from deepchem_actinn.confidence.knn import (  # noqa: F401
    NEIGHBOUR_BLOCK, kth_neighbour_distance)
from deepchem_actinn.confidence.rejection import (  # noqa: F401
    QueryCalibration, RejectionRule)

__all__ = [
    "UNASSIGNED", "QueryCalibration", "RejectionRule", "assign", "calibrate",
    "calibrated_probabilities", "expected_calibration_error", "fit_temperature",
    "kth_neighbour_distance", "threshold_for_rejection"
]
