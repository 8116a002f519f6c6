"""The result of annotating cells: :class:`Annotation`."""
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List, Optional

import numpy as np
import pandas as pd

from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.io.labels import LABEL_HEADER

if TYPE_CHECKING:
    from deepchem_actinn.confidence import QueryCalibration


@dataclass(repr=False)
class Annotation:
    """Predicted cell types of one dataset (or one chunk of it).

    Attributes
    ----------
    cell_ids: np.ndarray
        Cell ids, in input order.
    cell_types: np.ndarray
        Predicted type names (``Unassigned`` where the rule rejects a cell).
    confidence: np.ndarray
        Calibrated probability of the label given, float32: of the top
        type, or with a hierarchy of the parent type given (its types'
        sum); for a cell marked ``Unassigned``, of the label it would have
        been given.
    probabilities: np.ndarray
        Calibrated probabilities, cells x ``type_names``, float32.
    type_names: list of str
        Reference cell types, the columns of ``probabilities``.
    genes_missing: int
        Model genes absent from the query (set to zero).
    gene_column: str
        Which query gene identifiers were matched to the model's genes.
    levels: np.ndarray, optional
        With a type hierarchy: ``"type"`` or ``"parent"`` per cell (which
        level ``cell_types`` gives), ``"unassigned"`` for the cells marked
        ``Unassigned``.
    majority_cell_types: np.ndarray, optional
        With majority voting: each cell's cluster's majority label.
    clusters: np.ndarray, optional
        With majority voting: each cell's cluster.
    cluster_table: pandas.DataFrame, optional
        With majority voting: one row per cluster (``cluster``, ``size``,
        ``majority_label``, ``majority_share``, ``unassigned_share``,
        ``possible_new_population``, ``voted``), see
        :func:`deepchem_actinn.voting.majority_vote`.
    query_scale: float
        How far the query as a whole sat beyond the reference (1: not
        shifted, or no rule applied); the ``Unassigned`` rule divides the
        scores by it, or on a shifted query by ``type_scales``.
    type_scales: np.ndarray, optional
        On a shifted query, the divisor of the scores of the cells given
        each type (:meth:`RejectionRule.calibrate
        <deepchem_actinn.confidence.RejectionRule.calibrate>`).
    novelty_score: np.ndarray, optional
        With the ``Unassigned`` rule (``unassigned=True``): each cell's
        score by the rule (:meth:`RejectionRule.score
        <deepchem_actinn.confidence.RejectionRule.score>`), before the
        query's calibration. Higher is more typical of the reference: for
        ``knn``, ``-d / s[c]``, minus the distance to the ``n_neighbors``-th
        nearest reference cell over the spread of the cell's type (at most
        0); for ``max_probability``, the top calibrated probability. A cell
        is ``Unassigned`` where ``novelty_score`` over its type's divisor is
        below the rule's ``threshold``, or its label's probability is
        under the rule's ``min_assigned_probability`` (0.5 by default;
        :meth:`RejectionRule.decide
        <deepchem_actinn.confidence.RejectionRule.decide>`).
    ambient_fraction: np.ndarray, optional
        With ``remove_ambient=True``: each cell's estimated share of
        ambient RNA over its counts in the model's genes, subtracted before
        the final scoring (:mod:`deepchem_actinn.preprocessing.ambient`).
    unassigned_reason: np.ndarray, optional
        With the ``Unassigned`` rule: why each cell is ``Unassigned``,
        ``"low_probability"`` (no type holds the rule's
        ``min_assigned_probability``) or ``"novel"`` (further from every
        type than the threshold allows); ``""`` for a cell given a label
        (:attr:`UnassignedDecision.reasons
        <deepchem_actinn.confidence.UnassignedDecision.reasons>`). With a
        confidence ``threshold`` instead, ``"low_probability"`` for every
        cell it marks (its label's probability is under the threshold, the
        one test that rule makes). ``actinn predict`` writes it as the
        ``unassigned_reason`` column of ``predicted_label.txt`` (empty
        when assigned); :func:`~deepchem_actinn.annotate` as a categorical
        in ``obs``, missing (NaN) when assigned.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn import Annotation
    >>> result = Annotation(np.array(["c1"]), np.array(["B"]),
    ...                     np.array([0.9], np.float32),
    ...                     np.array([[0.9, 0.1]], np.float32), ["B", "T"])
    >>> list(result.to_frame().columns)
    ['cell_type', 'confidence', 'B', 'T']
    >>> result
    Annotation of 1 cell (2 reference types): B 1; 0 of the model's genes missing (var_names)
    """
    cell_ids: np.ndarray
    cell_types: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray
    type_names: List[str]
    genes_missing: int = 0
    gene_column: str = "var_names"
    levels: Optional[np.ndarray] = None
    majority_cell_types: Optional[np.ndarray] = None
    clusters: Optional[np.ndarray] = None
    cluster_table: Optional[pd.DataFrame] = None
    query_scale: float = 1.0
    type_scales: Optional[np.ndarray] = None
    novelty_score: Optional[np.ndarray] = None
    ambient_fraction: Optional[np.ndarray] = None
    unassigned_reason: Optional[np.ndarray] = None

    @property
    def calibration(self) -> "QueryCalibration":
        """``query_scale`` and ``type_scales`` as the rule takes them."""
        from deepchem_actinn.confidence import QueryCalibration
        return QueryCalibration(self.query_scale, self.type_scales)

    def to_frame(self) -> pd.DataFrame:
        """One row per cell: ``cell_type``, ``confidence``, then, when
        present, ``unassigned_reason``, ``over_clustering``,
        ``majority_voting``, ``level`` and ``ambient_fraction`` (the order
        of ``predicted_label.txt``, and CellTypist's), then the
        probabilities (one column per type, named by it; a type named as one
        of the columns before them is refused, since the frame would hold
        two columns of one name).

        Examples
        --------
        >>> import numpy as np
        >>> from deepchem_actinn import Annotation
        >>> result = Annotation(np.array(["c1", "c2"]),
        ...                     np.array(["B", "Unassigned"], object),
        ...                     np.array([0.9, 0.55], np.float32),
        ...                     np.array([[0.9, 0.1], [0.55, 0.45]],
        ...                              np.float32), ["B", "T"],
        ...                     unassigned_reason=np.array(["", "novel"],
        ...                                                object))
        >>> result.to_frame()[["cell_type", "unassigned_reason"]].values
        array([['B', ''],
               ['Unassigned', 'novel']], dtype=object)
        """
        fixed = {
            "cell_type", "confidence", "majority_voting", "level",
            "over_clustering", "ambient_fraction", "unassigned_reason"
        }
        clash = sorted(fixed.intersection(self.type_names))
        if clash:
            raise ACTINNInputError(
                "to_frame: type names that are the names of the frame's own "
                "columns: %s; their probabilities would not be told apart "
                "from those columns: take them from .probabilities (columns "
                "in .type_names order)" % examples(clash))
        frame = pd.DataFrame(self.probabilities,
                             index=pd.Index(self.cell_ids,
                                            name=LABEL_HEADER[0]),
                             columns=self.type_names)
        if self.ambient_fraction is not None:
            frame.insert(0, "ambient_fraction", self.ambient_fraction)
        optional = [("level", self.levels),
                    ("majority_voting", self.majority_cell_types),
                    ("over_clustering", self.clusters),
                    ("unassigned_reason", self.unassigned_reason)]
        for name, values in optional:  # each put first: in reverse order
            if values is not None:
                frame.insert(0, name, np.asarray(values, dtype=str))
        frame.insert(0, "confidence", self.confidence)
        frame.insert(0, "cell_type", self.cell_types)
        return frame

    def __len__(self) -> int:
        return len(self.cell_ids)

    def __repr__(self) -> str:
        """A summary (the arrays would fill a notebook): the cells, the
        commonest labels, the genes missing and what else it holds."""
        labels, counts = np.unique(np.asarray(self.cell_types, dtype=str),
                                   return_counts=True)
        order = np.argsort(-counts, kind="stable")
        shown = ", ".join("%s %d" % (labels[i], counts[i]) for i in order[:5])
        if len(order) > 5:
            shown += ", ... (%d labels)" % len(order)
        extra = [
            name for name in ("majority_cell_types", "levels", "novelty_score",
                              "ambient_fraction")
            if getattr(self, name) is not None
        ]
        n = len(self)
        return ("Annotation of %d cell%s (%d reference types): %s; %d of the "
                "model's genes missing (%s)%s" %
                (n, "" if n == 1 else "s", len(self.type_names), shown,
                 self.genes_missing, self.gene_column,
                 "; also " + ", ".join(extra) if extra else ""))


def as_matrix(X: Any, what: str = "X") -> Any:
    """A cells x genes matrix as predict and fit take it: a SciPy sparse
    matrix or a NumPy array (from a pandas DataFrame or nested lists too);
    refuses what is not one (an AnnData, one cell's 1-d vector). Half
    precision (float16) becomes float32: a cell's total would overflow it.

    Examples
    --------
    >>> from deepchem_actinn.annotator.annotation import as_matrix
    >>> as_matrix([[1, 0], [0, 2]]).shape
    (2, 2)
    >>> as_matrix([1, 0, 2])
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: X must be cells x genes (2-d), got shape (3,); one cell's counts are X.reshape(1, -1)
    """
    import scipy.sparse as sp
    if sp.issparse(X):
        return X
    if getattr(X, "dtype", None) == np.float16:
        from deepchem_actinn.io.counts import widen_half
        return widen_half(X)
    if hasattr(X, "obs") and hasattr(X, "var"):
        raise ACTINNInputError(
            "%s is an AnnData: pass its counts matrix, gene and cell names "
            "(adata.X, adata.var_names, adata.obs_names), or use "
            "deepchem_actinn.annotate(adata, annotator)" % what)
    if hasattr(X, "to_numpy"):  # a pandas DataFrame
        X = X.to_numpy()
    X = np.asarray(X)
    if X.ndim != 2:
        raise ACTINNInputError(
            "%s must be cells x genes (2-d), got shape %s; one cell's counts "
            "are X.reshape(1, -1)" % (what, X.shape))
    return X
