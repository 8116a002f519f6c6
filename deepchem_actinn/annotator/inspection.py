"""Looking inside a fitted :class:`~deepchem_actinn.ACTINNAnnotator`.

:class:`AnnotatorInspection` holds what a user asks of a trained model
before or after annotating with it, as CellTypist's ``Model`` answers it:
what it is (its ``repr``), and which genes speak for a type
(:meth:`~AnnotatorInspection.top_markers`). ``ACTINNAnnotator`` inherits
it through :class:`~deepchem_actinn.annotator.prediction.AnnotatorPrediction`.
"""
from typing import Any, List, Optional

import numpy as np
import pandas as pd

from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.labels import CellTypeLabels
from deepchem_actinn.models.linear import LinearMember

#: Added to each type's mean gene share, over the number of genes, before
#: the ratio of :meth:`AnnotatorInspection.top_markers` without a linear
#: member: the share every gene would hold if all held the same, so that
#: a rare gene's ratio does not outrank a marker's.
PROFILE_PSEUDOCOUNT = 1.0


def model_words(annotator: Any) -> str:
    """What a fitted annotator averages, in words (logs, reports, repr).

    Examples
    --------
    >>> import types
    >>> from deepchem_actinn.annotator.inspection import model_words
    >>> model_words(types.SimpleNamespace(n_networks=3, linear_=object(),
    ...                                   linear_weight=0.5))
    '3 networks and a logistic regression (weight 0.5)'
    >>> model_words(types.SimpleNamespace(n_networks=1, linear_=None,
    ...                                   linear_weight=0.0))
    '1 network'
    """
    words = "%d network%s" % (annotator.n_networks,
                              "" if annotator.n_networks == 1 else "s")
    if annotator.linear_ is not None:
        words += (" and a logistic regression (weight %g)" %
                  annotator.linear_weight)
    return words


class AnnotatorInspection:
    """What a fitted annotator is and what it looks at (inherited by
    :class:`~deepchem_actinn.ACTINNAnnotator`; see its Examples)."""
    n_networks: int
    linear_weight: float
    # Set by fit and load:
    genes_: List[str]
    labels_: CellTypeLabels
    linear_: Optional[LinearMember]
    type_profiles_: Optional[np.ndarray] = None
    profile_cells_: Optional[np.ndarray] = None

    def _check_fitted(self) -> None:
        if not hasattr(self, "ensemble_"):
            raise RuntimeError("this annotator is not fitted: call fit() or "
                               "ACTINNAnnotator.load()")

    def _fitted_attribute(self, name: str) -> None:
        """An unfitted annotator lacks scikit-learn's fitted attributes
        (AttributeError, so ``hasattr`` is False, as for an estimator)."""
        if not hasattr(self, "ensemble_"):
            raise AttributeError(
                "this annotator is not fitted, so it has no %s: call fit() or "
                "ACTINNAnnotator.load()" % name)

    @property
    def classes_(self) -> np.ndarray:
        """The reference cell types in class-id order, the columns of the
        probabilities (scikit-learn's name; ``type_names`` as a list;
        CellTypist's ``model.cell_types``)."""
        self._fitted_attribute("classes_")
        return np.asarray(self.labels_.type_names, dtype=object)

    @property
    def feature_names_in_(self) -> np.ndarray:
        """The model's genes in the networks' input order (scikit-learn's
        name; ``genes_`` as a list; CellTypist's ``model.features``)."""
        self._fitted_attribute("feature_names_in_")
        return np.asarray(self.genes_, dtype=object)

    @property
    def n_features_in_(self) -> int:
        """How many genes the model reads (scikit-learn's name)."""
        self._fitted_attribute("n_features_in_")
        return len(self.genes_)

    def __repr__(self) -> str:
        if not hasattr(self, "ensemble_"):
            return "<ACTINNAnnotator: not fitted>"
        return "<ACTINNAnnotator: %d cell types, %d genes, %s>" % (len(
            self.labels_.type_names), len(self.genes_), model_words(self))

    def top_markers(self, cell_type: str, top_n: int = 10) -> pd.Series:
        """The genes that speak most for ``cell_type``, as CellTypist's
        ``Model.extract_top_markers`` lists them.

        The weights follow what prediction averages. With the logistic
        regression averaged in (``linear_weight > 0``, the default), a
        gene's weight is its coefficient for the type: how much one
        standard deviation of the gene's normalised expression raises the
        type's logit. When prediction uses the networks alone, whose
        weights are not read one gene at a time (fitted with
        ``linear_weight=0``, set to 0 after fitting with
        :meth:`set_params`, or a type the regression did not learn), the
        weight is the log2 ratio of the gene's share of the type's counts
        to its mean share in the other types (each plus 1 over the number
        of genes, ``PROFILE_PSEUDOCOUNT``), from the reference's mean
        profiles.

        Parameters
        ----------
        cell_type: str
            One of :attr:`type_names`.
        top_n: int, default 10
            How many genes.

        Returns
        -------
        pandas.Series
            The weights of the ``top_n`` genes, largest first, indexed by
            gene and named by ``cell_type``.

        Raises
        ------
        ACTINNInputError
            An unknown type (the message lists the types), or an annotator
            saved without the reference's profiles when prediction uses
            the networks alone (retrain it).

        Examples
        --------
        >>> from deepchem_actinn import (ACTINNAnnotator,
        ...                              load_tabula_muris_sample)
        >>> train, _ = load_tabula_muris_sample()
        >>> model = ACTINNAnnotator(max_epochs=2, n_networks=1, seed=0).fit(
        ...     train.X, train.var_names, train.obs["cell_type"])
        >>> markers = model.top_markers("B cell", top_n=3)
        >>> markers.name, len(markers)
        ('B cell', 3)
        """
        self._check_fitted()
        if not isinstance(top_n, (int, np.integer)) or top_n < 1:
            raise ValueError("top_n must be a positive integer, got %r" %
                             (top_n,))
        types = list(self.labels_.type_names)
        if cell_type not in types:
            raise ACTINNInputError("no cell type %r in this annotator; its "
                                   "types: %s" %
                                   (cell_type, examples(types, 20)))
        row = types.index(cell_type)
        # What prediction averages decides: a regression kept but weighted
        # 0 (set_params(linear_weight=0)) is not used, nor is it for a type
        # it did not learn (prediction leaves that type to the networks).
        if self.linear_ is not None and self.linear_weight > 0 and bool(
                self.linear_.known[row]):
            weights = np.asarray(self.linear_.coef[row], np.float64)
        elif self.type_profiles_ is not None:
            weights = _enrichment(np.asarray(self.type_profiles_, np.float64),
                                  row)
        elif self.linear_ is not None and self.linear_weight == 0:
            raise ACTINNInputError(
                "with linear_weight 0 this annotator predicts with its "
                "networks alone, and it was saved without the reference's "
                "per-type profiles, which then name a type's markers: set "
                "linear_weight back above 0 to list the regression's "
                "coefficients, or retrain it with this version")
        else:
            raise ACTINNInputError(
                "this annotator was saved without the reference's per-type "
                "profiles or a logistic regression, which name a type's "
                "markers: retrain it with this version")
        order = np.argsort(-weights, kind="stable")[:int(top_n)]
        return pd.Series(weights[order],
                         index=pd.Index([self.genes_[i] for i in order],
                                        name="gene"),
                         name=cell_type)


def _enrichment(profiles: np.ndarray, row: int) -> np.ndarray:
    """log2 of type ``row``'s mean gene shares over the other types' mean
    (types without cells, whose rows are zeros, left out)."""
    pseudo = PROFILE_PSEUDOCOUNT / profiles.shape[1]
    others = np.delete(profiles, row, axis=0)
    others = others[others.sum(axis=1) > 0]
    rest = others.mean(axis=0) if len(others) else np.zeros(profiles.shape[1])
    return np.log2((profiles[row] + pseudo) / (rest + pseudo))
