"""The rule that marks a cell ``Unassigned``: it looks like no reference type,
or no type holds most of its probability.

:class:`RejectionRule` scores how typical of the reference a cell is: by
default, by its distance to its nearest reference cells in the network's
last hidden layer, relative to the type it is given (``method="knn"``); the
max calibrated probability rule is kept as ``method="max_probability"``.
The per-type statistics behind the kNN score, and the query's calibration,
are computed in :mod:`~deepchem_actinn.confidence.novelty`.
:meth:`RejectionRule.decide` is the one decision every prediction path
makes from those scores (:mod:`~deepchem_actinn.confidence.decision`).
"""
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from deepchem_actinn.confidence.calibration import (calibrated_probabilities,
                                                    threshold_for_rejection)
from deepchem_actinn.confidence import decision as _decision
from deepchem_actinn.confidence.decision import (QueryCalibration,
                                                 UnassignedDecision)
# NEIGHBOUR_BLOCK: importable from here still, as before knn.py held it
from deepchem_actinn.confidence.knn import (  # noqa: F401
    NEIGHBOUR_BLOCK, kth_neighbour_distance, stratified_sample)
from deepchem_actinn.confidence.novelty import (fit_reference, novelty_scores,
                                                query_shift, type_shifts)

#: With ``unassigned=True``, a cell whose label has a lower calibrated
#: probability is Unassigned too, by default (the rule's
#: ``min_assigned_probability``): no type holds most of its probability
#: (as CellTypist's default threshold). On the droplet-like development queries
#: of ``benchmarks/cross_technology.py`` the novelty rule caught 6-14 % of
#: the wrong calls; this catches most of the rest for 1-3 % of the cells.
MIN_ASSIGNED_PROBABILITY = 0.5


class RejectionRule:
    """The rule that marks a cell ``Unassigned``: it looks like no
    reference type.

    ``method="knn"`` (default) scores a cell by the distance ``d`` from its
    features (the network's last hidden layer) to its ``n_neighbors``-th
    nearest reference cell, relative to the spread of the type the cell is
    given: ``score = -d / s[c]``, where ``c`` is the top class of the
    logits and ``s[c]`` is the ``scale_quantile`` quantile of the same
    leave-one-out distance among reference cells of type ``c``. Dividing by
    ``s[c]`` keeps rare or diffuse types, whose cells sit further from their
    neighbours, from being rejected wholesale. kNN distances in a network's
    feature space detect unseen classes better than its softmax
    confidence [2]_ [3]_; in the leave-one-type-out benchmark
    (``benchmarks/leave_one_type_out.py``: 12 runs x 3 seeds, 3-network
    ensemble, 1 % of held-out cells rejected) it rejected 0.65 of the
    unseen type's cells on average against 0.47 for the max-probability
    rule, while rejecting 1.5 % of known-type cells against 1.8 %.

    ``method="max_probability"`` scores a cell by its top calibrated
    probability ``max softmax(logits / temperature)`` (the classic rule).

    The threshold is the ``rejection_rate`` quantile of the scores of held-out
    reference cells (cells neither the network nor the rule's reference set
    saw), so about that share of cells of known types is rejected; a cell is
    rejected when its score is below it. Higher scores are more typical.
    :meth:`decide` marks a cell ``Unassigned`` when it is rejected so, or
    when its label's probability is under ``min_assigned_probability``;
    :meth:`reject` is the same decision from features and logits.

    **Calibration against the query** (``knn``, ``query_calibration=True``):
    a query from another technology sits further from the reference, so
    its scores are divided by its shift as a whole, ``q / m`` above
    ``min_shift`` (:meth:`query_scale`), and on such a query by each type's
    own shift (:meth:`calibrate`); why and how much:
    :mod:`deepchem_actinn.confidence.novelty`.

    Parameters
    ----------
    method: {"knn", "max_probability"}, default "knn"
    n_neighbors: int, default 3
        ``k`` of the kNN distance.
    scale_quantile: float, default 0.9
        Quantile of each type's leave-one-out distances used as its scale.
    max_reference: int, default 5000
        Cap on the reference cells kept (a stratified sample, rare types
        kept); prediction costs ``O(n_cells * max_reference * n_features)``
        (about 1.4 s per 20,000 cells with 5,000 reference cells of 75
        features on one CPU core) and the rule stores ``max_reference *
        n_features`` numbers. Fewer reference cells detect unseen types
        less well.
    seed: int, default 0
        Seeds the reference sample.
    query_calibration: bool, default True
        Divide a shifted query's distances by its shift (see above);
        ``knn`` only.
    min_shift: float, default 1.1
        Smallest shift ``q / m`` that is divided out.
    min_type_cells: int, default 20
        Fewest cells given a type for it to be calibrated on its own.
    max_type_shift: float, default 1.5
        A type's divisor is at most this times the query's.
    min_assigned_probability: float, default 0.5
        :meth:`decide` (so ``unassigned=True``) also marks a cell whose
        label's calibrated probability is under this (no type holds most of
        its probability); 0 turns that test off. Annotators saved before it
        existed get 0.5.

    Attributes
    ----------
    threshold: float
        Cells with ``score < threshold`` are rejected.
    reference_: np.ndarray
        Reference features (float32), ``knn`` only.
    scales_: np.ndarray
        Per-type distance scale, ``knn`` only.
    median_ratio_: float or None
        Median relative distance ``d / s[c]`` of the held-out cells (``m``
        above), ``knn`` only; None for a rule saved before it existed (no
        query calibration then).
    temperature: float
        Softmax temperature, ``max_probability`` only.

    Examples
    --------
    Two reference types in 2-d; a held-out quarter sets the threshold, a
    far-away cell is rejected:

    >>> import numpy as np
    >>> from deepchem_actinn.confidence import RejectionRule
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 200)
    >>> features = rng.normal(size=(400, 2)) + 6 * labels[:, None]
    >>> logits = np.stack([-features[:, 0], features[:, 0] - 6], axis=1)
    >>> heldout = np.arange(0, 400, 4)
    >>> rule = RejectionRule().fit(features, logits, labels, heldout=heldout,
    ...                            rejection_rate=0.05)
    >>> rule.reject(np.array([[0., 0.], [30., -30.]]),
    ...             np.array([[0., -6.], [-30., 24.]]), scale=1.0)
    array([False,  True])
    >>> same = RejectionRule.from_dict(rule.to_dict())
    >>> same.threshold == rule.threshold
    True

    References
    ----------
    .. [2] Sun, Ming, Zhu and Li, "Out-of-distribution detection with deep
       nearest neighbors", ICML 2022.
    .. [3] Lee, Lee, Lee and Shin, "A simple unified framework for detecting
       out-of-distribution samples and adversarial attacks", NeurIPS 2018.
    """

    METHODS = ("knn", "max_probability")

    def __init__(
            self,
            method: str = "knn",
            n_neighbors: int = 3,
            scale_quantile: float = 0.9,
            max_reference: int = 5000,
            seed: int = 0,
            query_calibration: bool = True,
            min_shift: float = 1.1,
            min_type_cells: int = 20,
            max_type_shift: float = 1.5,
            min_assigned_probability: float = MIN_ASSIGNED_PROBABILITY) -> None:
        if method not in self.METHODS:
            raise ValueError("method must be one of %s, got %r" %
                             (", ".join(self.METHODS), method))
        if n_neighbors < 1:
            raise ValueError("n_neighbors must be at least 1")
        if not 0 < scale_quantile <= 1:
            raise ValueError("scale_quantile must be in (0, 1]")
        if max_reference < 2:
            raise ValueError("max_reference must be at least 2")
        self.method = method
        self.n_neighbors = int(n_neighbors)
        self.scale_quantile = float(scale_quantile)
        self.max_reference = int(max_reference)
        self.seed = int(seed)
        self.query_calibration = bool(query_calibration)
        if min_shift < 1:
            raise ValueError("min_shift must be at least 1")
        self.min_shift = float(min_shift)
        if min_type_cells < 1 or max_type_shift < 1:
            raise ValueError("min_type_cells and max_type_shift must be at "
                             "least 1")
        self.min_type_cells = int(min_type_cells)
        self.max_type_shift = float(max_type_shift)
        if not 0 <= min_assigned_probability <= 1:
            raise ValueError("min_assigned_probability must be in [0, 1]")
        self.min_assigned_probability = float(min_assigned_probability)
        self.median_ratio_: Optional[float] = None
        self.threshold: Optional[float] = None
        self.rejection_rate: Optional[float] = None
        self.temperature = 1.0
        self.reference_: Optional[np.ndarray] = None
        self.scales_: Optional[np.ndarray] = None

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        features: Optional[np.ndarray],
        logits: np.ndarray,
        labels: Union[Sequence[int], np.ndarray],
        rejection_rate: float = 0.01,
        temperature: float = 1.0,
        heldout: Optional[Union[np.ndarray, Sequence[int]]] = None,
    ) -> "RejectionRule":
        """Fit on the reference cells and set the threshold.

        Parameters
        ----------
        features: np.ndarray or None
            Cells x features (the last hidden layer) of all reference cells,
            the held-out ones included; unused (may be None) for
            ``max_probability``.
        logits: np.ndarray
            Cells x types, the network's outputs for the same cells.
        labels: sequence of int
            True class id of each cell (``0 .. n_types - 1``, the columns
            of ``logits``).
        rejection_rate: float, default 0.01
            Share of held-out cells to reject; sets :attr:`threshold`.
        temperature: float, default 1.0
            Softmax temperature (``max_probability``).
        heldout: array of int or bool, optional
            Rows (indices or a mask) held out of training, used only to set
            the threshold; the other rows form the kNN reference. Without
            it, every row is reference and the threshold comes from their
            leave-one-out scores, which are optimistic for cells the network
            was trained on: fewer known cells than ``rejection_rate`` and
            fewer unknown ones are then rejected.

        Returns
        -------
        self
        """
        logits = np.asarray(logits, dtype=np.float64)
        label_ids = np.asarray(labels).ravel().astype(np.int64)
        if len(label_ids) != len(logits):
            raise ValueError("%d rows of logits but %d label_ids" %
                             (len(logits), len(label_ids)))
        if not 0 <= rejection_rate < 1:
            raise ValueError("rejection_rate must be in [0, 1)")
        held = np.zeros(len(label_ids), dtype=bool)
        if heldout is not None:
            heldout = np.asarray(heldout)
            if heldout.dtype == bool:
                if len(heldout) != len(label_ids):
                    raise ValueError("heldout mask has %d rows, expected %d" %
                                     (len(heldout), len(label_ids)))
                held = heldout.copy()
            else:
                held[heldout.astype(np.int64)] = True
        self.rejection_rate = float(rejection_rate)
        self.temperature = float(temperature)
        if self.method == "max_probability":
            rows = held if held.any() else np.ones(len(label_ids), dtype=bool)
            scores = self.score(None, logits[rows])
        else:
            if features is None:
                raise ValueError("method='knn' needs features")
            features = np.asarray(features, dtype=np.float32)
            if len(features) != len(label_ids):
                raise ValueError("%d rows of features but %d label_ids" %
                                 (len(features), len(label_ids)))
            reference = np.flatnonzero(~held)
            if len(reference) < 2:
                raise ValueError("the kNN rule needs at least 2 reference "
                                 "(not held-out) cells")
            keep, self.reference_, loo, self.scales_ = fit_reference(
                features, label_ids, reference, logits.shape[1],
                self.n_neighbors, self.scale_quantile, self.max_reference,
                self.seed)
            if held.any():
                scores = self.score(features[held], logits[held])
            else:
                scores = -loo / self.scales_[logits[keep].argmax(axis=1)]
            self.median_ratio_ = float(np.median(-scores))
        self.threshold = threshold_for_rejection(scores, rejection_rate)
        return self

    # -------------------------------------------------------------- predict
    def score(self,
              features: Optional[np.ndarray],
              logits: np.ndarray,
              probabilities: Optional[np.ndarray] = None) -> np.ndarray:
        """Typicality of each cell (higher = more like the reference).

        ``-d / s[c]`` for ``knn``; the top calibrated probability for
        ``max_probability``. ``c`` and that probability are the networks'
        (from ``logits``), or those of ``probabilities`` when given (an
        annotator that averages the networks with its linear member labels
        cells by the average).
        """
        logits = np.asarray(logits, dtype=np.float64)
        if self.method == "max_probability":
            if probabilities is None:
                probabilities = calibrated_probabilities(
                    logits, self.temperature)
            return np.asarray(probabilities, np.float64).max(axis=1)
        if self.reference_ is None:
            raise RuntimeError("this rule is not fitted: call fit()")
        if features is None:
            raise ValueError("method='knn' needs features")
        features = np.asarray(features, dtype=np.float32)
        assert self.reference_ is not None and self.scales_ is not None
        if features.shape[1] != self.reference_.shape[1]:
            raise ValueError("%d features per cell, the rule was fitted on %d" %
                             (features.shape[1], self.reference_.shape[1]))
        top = logits if probabilities is None else np.asarray(probabilities)
        return novelty_scores(features, self.reference_, self.scales_,
                              self.n_neighbors, top)

    def query_scale(self, scores: np.ndarray) -> float:
        """How far a query as a whole sits beyond the reference:
        :func:`~deepchem_actinn.confidence.novelty.query_shift`, ``q / m``
        when above ``min_shift``, else 1; ``q`` the median of ``-scores``
        over the query's cells, ``m`` that of the held-out reference cells;
        1 when the rule does not calibrate (``max_probability``,
        ``query_calibration=False`` or no cells).
        """
        if (self.method != "knn" or not self.query_calibration or
                self.median_ratio_ is None):
            return 1.0
        return query_shift(scores, self.median_ratio_, self.min_shift)

    def calibrate(self, scores: np.ndarray,
                  predicted: np.ndarray) -> QueryCalibration:
        """The query's calibration: :meth:`query_scale` and, when that is
        above 1, each type's own shift
        (:func:`~deepchem_actinn.confidence.novelty.type_shifts`).

        Parameters
        ----------
        scores: np.ndarray
            :meth:`score` of the query's cells.
        predicted: np.ndarray
            The type id each cell is given (``logits.argmax(axis=1)``).
        """
        scale = self.query_scale(scores)
        if scale <= 1.0 or self.scales_ is None:
            return QueryCalibration(scale, None)
        assert self.median_ratio_ is not None
        return QueryCalibration(
            scale,
            type_shifts(scores, predicted, self.median_ratio_, scale,
                        len(self.scales_), self.min_type_cells, self.min_shift,
                        self.max_type_shift))

    def decide(
        self,
        scores: np.ndarray,
        predicted: np.ndarray,
        confidence: Optional[np.ndarray] = None,
        previous: Optional[QueryCalibration] = None,
        *,
        scale: Union[None, float,
                     QueryCalibration] = None) -> UnassignedDecision:
        """Which cells to mark ``Unassigned``, and why: the decision of
        ``predict(..., unassigned=True)``, ``predict_file``, Dask prediction
        and ``actinn predict --unassigned``, from scores computed anywhere.

        A cell is :data:`~deepchem_actinn.confidence.NOVEL` when
        its score, divided by the query's calibration for the type it is
        given, is below :attr:`threshold`;
        :data:`~deepchem_actinn.confidence.LOW_PROBABILITY` when
        its label's probability is under ``min_assigned_probability``.

        Parameters
        ----------
        scores: np.ndarray
            :meth:`score` of the cells (higher = more typical).
        predicted: np.ndarray
            The type id each cell is given (the argmax of its probabilities).
        confidence: np.ndarray, optional
            Each cell's probability of its label (with a type hierarchy, of
            the parent given); None skips that test.
        previous: QueryCalibration, optional
            The calibration of the previous chunk of a query annotated chunk
            by chunk: used instead of these cells' own when they are fewer
            than :data:`~deepchem_actinn.confidence.MIN_CALIBRATION_CELLS`.
        scale: float or QueryCalibration, optional
            Divide the scores by this, whatever the number of cells (one
            number for every cell, or a :meth:`calibrate` result).

        Returns
        -------
        UnassignedDecision
            ``rejected``, each cell's ``reasons``, and the ``calibration``
            used (:meth:`calibrate` of these cells, ``previous`` or
            ``scale``), to pass on as the next chunk's ``previous``.

        Examples
        --------
        >>> import numpy as np
        >>> from deepchem_actinn.confidence import (QueryCalibration,
        ...                                         RejectionRule)
        >>> rule = RejectionRule()
        >>> rule.threshold, rule.median_ratio_ = -1.0, 0.5
        >>> scores, types = np.array([-1.0, -2.0, -5.0]), np.zeros(3, int)
        >>> decision = rule.decide(scores, types, np.array([0.4, 0.9, 0.9]))
        >>> decision.rejected.tolist(), decision.calibration.scale
        ([True, False, True], 4.0)
        >>> decision.reasons.tolist()
        ['low_probability', '', 'novel']

        A small chunk keeps the previous chunk's calibration:

        >>> rule.decide(scores, types,
        ...             previous=QueryCalibration(1.0)).rejected.tolist()
        [False, True, True]
        """
        if self.threshold is None:
            raise RuntimeError("this rule is not fitted: call fit()")
        scores = np.asarray(scores)
        predicted = np.asarray(predicted, dtype=np.int64)
        if scale is not None:
            calibration = scale if isinstance(scale, QueryCalibration) \
                else QueryCalibration(float(scale))
        elif previous is not None and \
                len(scores) < _decision.MIN_CALIBRATION_CELLS:
            calibration = previous
        else:
            calibration = self.calibrate(scores, predicted)
        novel = scores / calibration.divisors(predicted) < self.threshold
        if confidence is None:
            low = np.zeros(len(scores), dtype=bool)
        else:
            low = np.asarray(confidence) < self.min_assigned_probability
        return UnassignedDecision(novel, low, calibration)

    def reject(self,
               features: Optional[np.ndarray],
               logits: np.ndarray,
               scale: Union[None, float, QueryCalibration] = None,
               probabilities: Optional[np.ndarray] = None,
               confidence: Optional[np.ndarray] = None) -> np.ndarray:
        """True for the cells ``predict(..., unassigned=True)`` marks
        ``Unassigned``: :meth:`decide` on these cells' :meth:`score`.

        Parameters
        ----------
        features, logits, probabilities: np.ndarray
            The cells, as in :meth:`score`: each cell judged by the type
            ``probabilities`` give it when given (an annotator's
            ``probabilities``, the networks averaged with the linear
            member), else by ``softmax(logits / temperature)``.
        scale: float or QueryCalibration, optional
            Divide the scores by this (one number for every cell, or a
            :meth:`calibrate` result); by default the :meth:`calibrate` of
            these cells themselves.
        confidence: np.ndarray, optional
            Each cell's probability of its label, for the
            ``min_assigned_probability`` test; by default the largest of
            those probabilities (with a type hierarchy ``predict`` tests the
            label's: pass ``Annotation.confidence``).

        Examples
        --------
        No type holds half of the second cell's probability:

        >>> import numpy as np
        >>> from deepchem_actinn.confidence import RejectionRule
        >>> logits = np.array([[4., 0., 0.], [1., 1., .9], [0., 0., 3.]])
        >>> rule = RejectionRule(method="max_probability").fit(
        ...     None, logits, [0, 1, 2], rejection_rate=0.0)
        >>> rule.reject(None, logits).tolist()
        [False, True, False]
        """
        scores = self.score(features, logits, probabilities)
        proba = calibrated_probabilities(logits, self.temperature) \
            if probabilities is None else np.asarray(probabilities)
        if confidence is None:
            confidence = proba.max(axis=1)
        return self.decide(scores,
                           proba.argmax(axis=1),
                           confidence,
                           scale=scale).rejected

    # ------------------------------------------------------- save and load
    def to_dict(self) -> Dict[str, Any]:
        """JSON-serialisable parameters and fitted state."""
        if self.threshold is None:
            raise RuntimeError("this rule is not fitted: call fit()")
        state: Dict[str, Any] = {
            "method": self.method,
            "n_neighbors": self.n_neighbors,
            "scale_quantile": self.scale_quantile,
            "max_reference": self.max_reference,
            "seed": self.seed,
            "rejection_rate": self.rejection_rate,
            "threshold": float(self.threshold),
            "temperature": self.temperature,
            "query_calibration": self.query_calibration,
            "median_ratio": self.median_ratio_,
            "min_shift": self.min_shift,
            "min_type_cells": self.min_type_cells,
            "max_type_shift": self.max_type_shift,
            "min_assigned_probability": self.min_assigned_probability,
        }
        if self.method == "knn":
            assert self.reference_ is not None and self.scales_ is not None
            state["scales"] = [float(v) for v in self.scales_]
            # The shortest text that reads back as the same float32.
            state["reference"] = [
                [float(str(v)) for v in row] for row in self.reference_
            ]
        return state

    @classmethod
    def from_dict(cls, state: Dict[str, Any]) -> "RejectionRule":
        """The rule :meth:`to_dict` described (scores are identical)."""
        rule = cls(method=state["method"],
                   n_neighbors=state["n_neighbors"],
                   scale_quantile=state["scale_quantile"],
                   max_reference=state["max_reference"],
                   seed=state["seed"],
                   query_calibration=state.get("query_calibration", True),
                   min_shift=state.get("min_shift", 1.1),
                   min_type_cells=state.get("min_type_cells", 20),
                   max_type_shift=state.get("max_type_shift", 1.5),
                   min_assigned_probability=state.get(
                       "min_assigned_probability", MIN_ASSIGNED_PROBABILITY))
        rule.median_ratio_ = state.get("median_ratio")
        rule.rejection_rate = state.get("rejection_rate")
        rule.threshold = float(state["threshold"])
        rule.temperature = float(state.get("temperature", 1.0))
        if rule.method == "knn":
            rule.scales_ = np.asarray(state["scales"], dtype=np.float64)
            rule.reference_ = np.asarray(state["reference"], dtype=np.float32)
        return rule

    def __repr__(self) -> str:
        return "RejectionRule(method=%r, n_neighbors=%d, threshold=%s)" % (
            self.method, self.n_neighbors, self.threshold)
