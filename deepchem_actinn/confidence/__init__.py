"""Calibrated confidence and the rule that marks a cell ``Unassigned``.

``calibration``: temperature scaling, the expected calibration error and
thresholds. ``rejection``: :class:`RejectionRule`, which compares a cell
with its nearest reference cells in the networks' hidden layers.
"""
from deepchem_actinn.confidence.calibration import (  # noqa: F401
    UNASSIGNED, assign, calibrate, calibrated_probabilities,
    expected_calibration_error, fit_temperature, threshold_for_rejection)
from deepchem_actinn.confidence.rejection import (  # noqa: F401
    NEIGHBOUR_BLOCK, QueryCalibration, RejectionRule, kth_neighbour_distance)

__all__ = [
    "UNASSIGNED", "QueryCalibration", "RejectionRule", "assign", "calibrate",
    "calibrated_probabilities", "expected_calibration_error", "fit_temperature",
    "kth_neighbour_distance", "threshold_for_rejection"
]
