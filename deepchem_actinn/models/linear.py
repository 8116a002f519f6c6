"""A logistic regression beside the networks, averaged with them.

The networks see each cell's log-normalised values in the model's genes.
:class:`LinearMember` sees the same values, each gene divided by its
standard deviation over the reference and clipped at :data:`CLIP` (the input
CellTypist's models take [1]_), and gives a multinomial logistic regression's
probabilities. :meth:`ACTINNAnnotator.predict
<deepchem_actinn.annotator.ACTINNAnnotator.predict>` averages them with the
networks' calibrated probabilities, ``linear_weight`` of the one and the rest
of the other, over the types the regression was fitted on (the networks keep
their probability of any other). Its errors are not the networks' errors, so
the average was right more often on the README's droplet-like queries. It
weighs the types as the networks do (``class_weight``).

References
----------
.. [1] Dominguez Conde, C. et al. Cross-tissue immune cell analysis reveals
   tissue-specific features in humans. Science 376(6594):eabl5197 (2022).
"""
import dataclasses
from typing import Dict, Optional

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.types import Matrix

#: The regression's share of the averaged probabilities, by default
#: (``ACTINNAnnotator(linear_weight=...)``, ``--linear-weight``).
LINEAR_WEIGHT = 0.5

#: Scaled values above this are clipped, as CellTypist clips them.
CLIP = 10.0
#: Inverse L2 strength of the regression (scikit-learn's ``C``).
C = 1.0


@dataclasses.dataclass
class LinearMember:
    """A fitted multinomial logistic regression over the model's genes.

    Attributes
    ----------
    coef: np.ndarray
        float32, types x genes: weights of the scaled, clipped values.
    intercept: np.ndarray
        float32, one per type.
    inv_scale: np.ndarray
        float32, one per gene: 1 / the gene's standard deviation over the
        reference (0 for a gene that does not vary).
    known: np.ndarray
        bool, one per type: the types the regression was fitted on.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.models.linear import fit_linear
    >>> X = np.array([[0.0, 3.0], [0.2, 2.5], [3.0, 0.0], [2.4, 0.1]])
    >>> member = fit_linear(X, np.array([0, 0, 1, 1]), 2, seed=0)
    >>> member.logits(np.array([[0.1, 2.8]])).argmax(axis=1)
    array([0])
    """
    coef: np.ndarray
    intercept: np.ndarray
    inv_scale: np.ndarray
    known: np.ndarray

    def scaled(self, X: Matrix) -> Matrix:
        """The regression's input: ``X`` (the networks' input) times
        ``inv_scale``, clipped at :data:`CLIP`."""
        if sp.issparse(X):
            Z = sp.csr_matrix(X, dtype=np.float32, copy=True)
            Z.data *= self.inv_scale[Z.indices]
            np.minimum(Z.data, CLIP, out=Z.data)
            return Z
        return np.minimum(np.asarray(X, np.float32) * self.inv_scale, CLIP)

    def logits(self, X: Matrix) -> np.ndarray:
        """Logits of the networks' input ``X`` (cells x model genes)."""
        out = self.scaled(X) @ self.coef.T
        return np.asarray(out, np.float32) + self.intercept

    def to_dict(self) -> Dict[str, np.ndarray]:
        """The arrays, by name, for saving."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, arrays: Dict[str, np.ndarray]) -> "LinearMember":
        """The member saved by :meth:`to_dict`."""
        return cls(**{
            name: np.asarray(arrays[name], np.float32)
            for name in ("coef", "intercept", "inv_scale")
        },
                   known=np.asarray(arrays["known"], bool))


def fit_linear(X: Matrix,
               y: np.ndarray,
               n_types: int,
               seed: int,
               class_weight: Optional[str] = None) -> LinearMember:
    """Fit the regression on the networks' input ``X`` of reference cells
    with class ids ``y`` (0 to ``n_types - 1``). A type absent from ``y`` is
    not ``known``: the average leaves its probability to the networks; with
    fewer than two types in ``y`` nothing is known and the average is the
    networks' alone. ``class_weight`` is scikit-learn's (``"balanced"``:
    each type weighs the same)."""
    from sklearn.linear_model import LogisticRegression
    X = sp.csr_matrix(X, dtype=np.float64)
    mean = np.asarray(X.mean(axis=0)).ravel()
    square = np.asarray(X.multiply(X).mean(axis=0)).ravel()
    sd = np.sqrt(np.maximum(square - mean**2, 0.0))
    inv_scale = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 0.0)
    present = np.unique(y)
    member = LinearMember(np.zeros((n_types, X.shape[1]), np.float32),
                          np.zeros(n_types, np.float32),
                          inv_scale.astype(np.float32),
                          np.isin(np.arange(n_types), present))
    if len(present) < 2:
        member.known[:] = False
        return member
    model = LogisticRegression(C=C,
                               max_iter=1000,
                               random_state=seed,
                               class_weight=class_weight)
    model.fit(member.scaled(X), y)
    member.coef[present] = model.coef_ if len(present) > 2 else np.vstack(
        [-model.coef_, model.coef_]) / 2
    member.intercept[present] = model.intercept_ if len(present) > 2 else \
        np.array([-model.intercept_[0], model.intercept_[0]]) / 2
    return member


def averaged_probabilities(proba: np.ndarray,
                           linear_logits: np.ndarray,
                           weight: float,
                           known: Optional[np.ndarray] = None) -> np.ndarray:
    """``(1 - weight)`` of the networks' probabilities ``proba`` plus
    ``weight`` of the regression's softmax over the ``known`` types (all by
    default), scaled to the networks' probability of those types; the other
    types keep the networks' probabilities. Rows still sum to 1 (each
    value within [0, 1] despite rounding), in ``proba``'s dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.models.linear import averaged_probabilities
    >>> averaged_probabilities(np.array([[0.8, 0.2]]),
    ...                        np.array([[0.0, 0.0]]), 0.5)
    array([[0.65, 0.35]])
    >>> averaged_probabilities(np.array([[0.6, 0.2, 0.2]]),
    ...                        np.array([[0.0, 0.0, 0.0]]), 0.5,
    ...                        np.array([True, True, False]))
    array([[0.5, 0.3, 0.2]])
    """
    if known is None:
        known = np.ones(proba.shape[1], bool)
    out = np.array(proba, dtype=np.float64)
    if not known.any():
        return np.asarray(proba)
    z = linear_logits[:, known] - linear_logits[:, known].max(axis=1,
                                                              keepdims=True)
    soft = np.exp(z)
    soft /= soft.sum(axis=1, keepdims=True)
    mass = out[:, known].sum(axis=1, keepdims=True)
    out[:, known] = (1.0 - weight) * out[:, known] + weight * soft * mass
    return np.clip(out, 0.0, 1.0).astype(np.asarray(proba).dtype, copy=False)
