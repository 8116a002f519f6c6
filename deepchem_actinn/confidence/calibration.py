"""Calibrated confidence: temperature scaling, ECE and thresholds.

Temperature scaling [1]_ fits one number ``T`` on held-out cells so that
``softmax(logits / T)`` is calibrated; the expected calibration error (ECE)
measures the gap between confidence and accuracy before and after.

References
----------
.. [1] Guo, Pleiss, Sun and Weinberger, "On calibration of modern neural
   networks", ICML 2017.
"""
from typing import Any, Dict, Optional, Tuple

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

#: The label given to cells that match no reference type well enough.
UNASSIGNED = "Unassigned"


def calibrated_probabilities(logits: np.ndarray,
                             temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` row by row, float32.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence import calibrated_probabilities
    >>> calibrated_probabilities(np.array([[2., 0.]]), temperature=2.0).round(4)
    array([[0.7311, 0.2689]], dtype=float32)
    """
    return softmax(np.asarray(logits, dtype=np.float64) / temperature,
                   axis=1).astype(np.float32)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood.

    Parameters
    ----------
    logits: np.ndarray
        Held-out logits, cells x types.
    labels: np.ndarray
        Their true class ids.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence import fit_temperature
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 2000)
    >>> logits = rng.normal(size=(2000, 3))
    >>> logits[np.arange(2000), labels] += 1.0
    >>> t = fit_temperature(10 * logits, labels)   # over-confident logits
    >>> 8 < t < 12
    True
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels).ravel().astype(np.int64)
    if len(labels) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        logp = log_softmax(logits / np.exp(log_t), axis=1)
        return -float(np.mean(logp[np.arange(len(labels)), labels]))

    result = minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded")
    return float(np.exp(result.x))


def expected_calibration_error(probabilities: np.ndarray,
                               labels: np.ndarray,
                               n_bins: int = 15) -> float:
    """ECE: the confidence-accuracy gap, averaged over confidence bins.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence import expected_calibration_error
    >>> p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    >>> round(expected_calibration_error(p, np.array([0, 0, 0, 1])), 3)
    0.1
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels).ravel()
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0,
                    n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(confidence[in_bin].mean() -
                                       correct[in_bin].mean())
    return float(ece)


def threshold_for_rejection(scores: np.ndarray, rate: float) -> float:
    """The score below which a share ``rate`` of held-out cells falls.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence import threshold_for_rejection
    >>> threshold_for_rejection(np.linspace(0, 1, 101), 0.1)
    0.1
    """
    if len(scores) == 0:
        return 0.0
    return float(np.quantile(np.asarray(scores, dtype=np.float64), rate))


def assign(type_names: np.ndarray, scores: np.ndarray,
           threshold: Optional[float]) -> np.ndarray:
    """``type_names``, with ``Unassigned`` where ``scores < threshold``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence import assign
    >>> assign(np.array(["B", "T"]), np.array([0.9, 0.4]), 0.5)
    array(['B', 'Unassigned'], dtype=object)
    """
    out = np.asarray(type_names, dtype=object).copy()
    if threshold is not None:
        out[np.asarray(scores) < threshold] = UNASSIGNED
    return out


def calibrate(logits: np.ndarray, labels: np.ndarray,
              rejection_rate: float) -> Tuple[float, Dict[str, Any], float]:
    """Fit the temperature on held-out logits and summarise the result.

    Returns
    -------
    temperature: float
        :func:`fit_temperature` (1.0 without held-out cells).
    summary: dict
        ``ece_before``, ``ece_after`` (None without held-out cells) and
        ``n_cells``.
    threshold: float
        The calibrated top probability below which ``rejection_rate`` of
        the held-out cells fall (:func:`threshold_for_rejection`).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.confidence import calibrate
    >>> t, summary, threshold = calibrate(np.array([[2., 0.], [0., 2.]]),
    ...                                   np.array([0, 1]), 0.5)
    >>> summary["n_cells"]
    2
    """
    labels = np.asarray(labels)
    temperature = fit_temperature(logits, labels) if len(labels) else 1.0
    raw = calibrated_probabilities(logits, 1.0)
    proba = calibrated_probabilities(logits, temperature)
    summary = {
        "ece_before":
            expected_calibration_error(raw, labels) if len(labels) else None,
        "ece_after":
            expected_calibration_error(proba, labels) if len(labels) else None,
        "n_cells":
            int(len(labels)),
    }
    return temperature, summary, threshold_for_rejection(
        proba.max(axis=1), rejection_rate)
