"""From the networks' outputs to each cell's label.

The steps after scoring, in order: the top type; the parent type where the
fine type is uncertain between relatives (a
:class:`~deepchem_actinn.hierarchy.TypeHierarchy`); ``Unassigned`` by a confidence threshold or by
the novelty rule, calibrated against the query; and majority voting over
clusters of the query (:mod:`deepchem_actinn.voting`).

Which cells are ``Unassigned``, and why, is decided by
:meth:`RejectionRule.decide <deepchem_actinn.confidence.RejectionRule.decide>`
alone. The novelty rule's calibration
(:meth:`~deepchem_actinn.confidence.RejectionRule.query_scale`) needs many of the query's cells. :func:`predict`
calibrates on the whole query; a query annotated chunk by chunk
(``iter_predict``, ``predict_file``, 50,000 cells a chunk by default) is
calibrated per chunk, and a chunk of fewer than
:data:`~deepchem_actinn.confidence.MIN_CALIBRATION_CELLS` cells (the tail of a file) takes the previous
chunk's calibration.
"""
from typing import TYPE_CHECKING, Any, Optional, Sequence, Tuple

import numpy as np

from deepchem_actinn import confidence as conf
from deepchem_actinn.errors import ACTINNInputError, counted, examples
# the rule's margin lives with the hierarchy (the report states it too);
# it is read from here as well
from deepchem_actinn.hierarchy import HIERARCHY_MARGIN
from deepchem_actinn.io.labels import as_cell_ids
from deepchem_actinn.types import Matrix

if TYPE_CHECKING:
    import pandas as pd

    from deepchem_actinn.annotator.annotation import Annotation
    from deepchem_actinn.models.inference import EnsembleScorer

#: The ``level`` of a cell marked ``Unassigned`` (with a hierarchy; the
#: others are ``"type"`` or ``"parent"``).
UNASSIGNED_LEVEL = "unassigned"


def check_rules(unassigned: bool, threshold: Optional[float]) -> None:
    """Refuse a ``threshold`` outside [0, 1], and both rules at once.

    Examples
    --------
    >>> from deepchem_actinn.annotator.labelling import check_rules
    >>> check_rules(True, None)
    >>> check_rules(False, 1.5)
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: threshold must be a probability between 0 and 1, got 1.5
    """
    if threshold is None:
        return
    number = isinstance(threshold, (int, float, np.number)) and \
        not isinstance(threshold, bool)
    if not number or not 0.0 <= float(threshold) <= 1.0:
        raise ACTINNInputError(
            "threshold must be a probability between 0 and 1, got %r" %
            (threshold,))
    if unassigned:
        raise ACTINNInputError(
            "unassigned=True and threshold= are two rules for Unassigned; "
            "pass one of them")


def as_hierarchy(hierarchy: Any):
    """None, a :class:`~deepchem_actinn.hierarchy.TypeHierarchy`, a mapping
    of child type to parent, or a path to a ``child<TAB>parent`` file."""
    import os
    from collections.abc import Mapping
    if hierarchy is None:
        return None
    from deepchem_actinn.hierarchy import TypeHierarchy
    if isinstance(hierarchy, TypeHierarchy):
        return hierarchy
    if isinstance(hierarchy, Mapping):
        return TypeHierarchy(hierarchy)
    if isinstance(hierarchy, (str, os.PathLike)):
        return TypeHierarchy.from_file(hierarchy)
    raise ACTINNInputError(
        "hierarchy must be a TypeHierarchy, a mapping of child type to "
        "parent, or the path of a child<TAB>parent file; got %s" %
        type(hierarchy).__name__)


def type_labels(
        proba: np.ndarray, type_names,
        hierarchy: Any) -> Tuple[np.ndarray, Optional[np.ndarray], np.ndarray]:
    """Each cell's label, its level (None without a hierarchy) and the
    probability of that label (a parent's is its types' summed)."""
    if hierarchy is None:
        names = np.asarray(type_names, dtype=object)[proba.argmax(axis=1)]
        return names, None, proba.max(axis=1)
    resolved = hierarchy.resolve(proba, type_names, margin=HIERARCHY_MARGIN)
    return (resolved["label"].to_numpy(dtype=object),
            resolved["level"].to_numpy(dtype=object),
            resolved["probability"].to_numpy())


def vote(result: "Annotation",
         X: Matrix,
         over_clustering: Any,
         seed: int,
         hierarchy: Any = None,
         min_probability: float = 0.0) -> None:
    """Majority voting: fills ``result``'s ``majority_cell_types``,
    ``clusters`` and ``cluster_table``, over the given clusters or Leiden
    clusters of the query's counts ``X``. A cell takes its cluster's label
    only where its probability of it reaches ``min_probability`` (a parent
    type's probability is its types' sum)."""
    from deepchem_actinn.voting import majority_vote, over_cluster
    labels = result.cell_types
    if over_clustering is None:
        clusters = over_cluster(X, seed=seed)
    else:
        import pandas as pd
        given = np.asarray(over_clustering, dtype=object)
        if given.ndim != 1:
            raise ACTINNInputError(
                "over_clustering must give one cluster per cell (a 1-d "
                "array), got shape %s" % (given.shape,))
        if len(given) != len(labels):
            raise ACTINNInputError(
                "over_clustering gives %d cluster names for %d cells (one "
                "per cell)" % (len(given), len(labels)))
        unclustered = np.flatnonzero(pd.isna(given))
        if len(unclustered):
            raise ACTINNInputError(
                "over_clustering has no cluster (None or NaN) for %s: "
                "%s" % (counted(len(unclustered), "cell"),
                        examples([result.cell_ids[i] for i in unclustered])))
        clusters = np.asarray([str(c) for c in given], dtype=object)
    voted, table = majority_vote(list(labels),
                                 list(clusters),
                                 conf.UNASSIGNED,
                                 probabilities=label_probabilities(
                                     result.probabilities, result.type_names,
                                     hierarchy),
                                 min_probability=min_probability)
    result.majority_cell_types = np.asarray(voted, dtype=object)
    result.clusters = np.asarray(clusters, dtype=object)
    result.cluster_table = table


def label_probabilities(proba: np.ndarray, type_names: Sequence[str],
                        hierarchy: Any) -> "pd.DataFrame":
    """Each cell's probability of every label it can be given: its types',
    and with a hierarchy each parent's: the sum over the types below it, and
    its own when the parent is itself a reference type (as
    :meth:`~deepchem_actinn.hierarchy.TypeHierarchy.resolve` counts it).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.hierarchy import TypeHierarchy
    >>> from deepchem_actinn.annotator.labelling import label_probabilities
    >>> h = TypeHierarchy({"T": "lymphocyte", "NK": "lymphocyte"})
    >>> label_probabilities(np.array([[0.5, 0.3, 0.2]]), ["T", "NK", "B"],
    ...                     h).round(2).to_dict("records")
    [{'T': 0.5, 'NK': 0.3, 'B': 0.2, 'lymphocyte': 0.8}]
    >>> h = TypeHierarchy({"CD4 T": "T", "CD8 T": "T"})
    >>> label_probabilities(np.array([[0.6, 0.1, 0.1, 0.2]]),
    ...                     ["T", "CD4 T", "CD8 T", "B"],
    ...                     h).round(2).to_dict("records")
    [{'T': 0.8, 'CD4 T': 0.1, 'CD8 T': 0.1, 'B': 0.2}]
    """
    import pandas as pd
    names = [str(t) for t in type_names]
    frame = pd.DataFrame(proba, columns=names)
    if hierarchy is None:
        return frame
    members: dict = {}
    for column, name in enumerate(names):
        for ancestor in hierarchy.ancestors(name):
            members.setdefault(ancestor, [names.index(ancestor)]
                               if ancestor in names else []).append(column)
    for parent, columns in members.items():
        frame[parent] = proba[:, columns].sum(axis=1)
    return frame


def annotate_matrix(annotator: Any,
                    X: Matrix,
                    positions: np.ndarray,
                    cell_ids: Optional[Sequence[str]],
                    unassigned: bool,
                    threshold: Optional[float],
                    gene_column: str,
                    scorer: "EnsembleScorer",
                    checked: bool = False,
                    previous: Optional[conf.QueryCalibration] = None,
                    hierarchy: Any = None) -> "Annotation":
    """Annotate one matrix of raw counts with ``scorer`` (the novelty
    rule's calibration from these cells, or ``previous``: see
    :meth:`RejectionRule.decide
    <deepchem_actinn.confidence.RejectionRule.decide>`)."""
    if positions.max(initial=-1) >= X.shape[1]:
        raise ACTINNInputError(
            "the query matrix has %d genes, fewer than its gene names "
            "say" % X.shape[1])
    ids = as_cell_ids(cell_ids, X.shape[0])
    hidden, logits, linear = scorer.score(X, ids, check=not checked)
    proba = annotator.probabilities(logits, linear)
    names, levels, label_proba = type_labels(proba,
                                             annotator.labels_.type_names,
                                             hierarchy)
    calibration = conf.QueryCalibration(1.0)
    scores = reasons = None
    if threshold is not None:
        names = np.asarray(conf.assign(names, label_proba, threshold),
                           dtype=object)
        # the one reason a confidence threshold has: the label's probability
        reasons = np.where(
            np.asarray(label_proba) < threshold, conf.LOW_PROBABILITY,
            "").astype(object)
    elif unassigned:
        scores = annotator.rule_.score(hidden, logits,
                                       None if linear is None else proba)
        decision = annotator.rule_.decide(scores, proba.argmax(axis=1),
                                          label_proba, previous)
        names[decision.rejected] = conf.UNASSIGNED
        calibration, reasons = decision.calibration, decision.reasons
    if levels is not None:
        levels = np.where(names == conf.UNASSIGNED, UNASSIGNED_LEVEL,
                          levels).astype(object)
    from deepchem_actinn.annotator.annotation import Annotation
    return Annotation(cell_ids=ids,
                      cell_types=names,
                      confidence=np.asarray(label_proba, proba.dtype),
                      probabilities=proba,
                      type_names=list(annotator.labels_.type_names),
                      genes_missing=int((positions < 0).sum()),
                      gene_column=gene_column,
                      levels=levels,
                      query_scale=calibration.scale,
                      type_scales=calibration.type_scales,
                      novelty_score=scores,
                      unassigned_reason=reasons)
