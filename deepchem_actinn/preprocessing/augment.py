"""Count-level augmentation: the reference as other technologies would see it.

A reference measured with one technology (say Smart-seq2, deep) trains
networks that have only seen its depth and its capture of each gene. A
droplet query is shallower, and each gene is captured more or less well
than in the reference. Training on extra copies of the reference cells,
thinned and re-captured at random, shows the networks that spread.

Pure functions on raw count matrices (dense or SciPy sparse, cells x genes),
every draw from an explicit :class:`numpy.random.Generator`:

* :func:`capture_factors` - a per-gene capture efficiency, log-normal with
  mean 1 (one technology's bias);
* :func:`thin` - binomial thinning [1]_: each count kept with probability
  ``cell_p[i] * gene_p[j]`` (clipped to 1), so that count noise stays that of
  real counts at the lower depth;
* :func:`drop_genes` - a random share of the genes set to zero (genes the
  query does not measure);
* :func:`augment_counts` - the three together: each cell thinned towards a
  depth drawn log-uniformly from a range, through one draw of capture
  factors, with a share of the genes dropped.

Examples
--------
>>> import numpy as np
>>> from deepchem_actinn.preprocessing.augment import augment_counts
>>> rng = np.random.default_rng(0)
>>> X = np.full((3, 4), 100.0)
>>> out = augment_counts(X, rng, depth=(40, 40), capture_sigma=0.0,
...                      dropout=0.0)
>>> out.shape, bool((out <= X).all())
((3, 4), True)

References
----------
.. [1] Gerard, D. "Data-based RNA-seq simulations by binomial thinning",
   BMC Bioinformatics 21, 206 (2020).
"""
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.types import Matrix


def capture_factors(n_genes: int, sigma: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Per-gene capture factors: log-normal, mean 1, ``sigma`` on the log
    scale (all ones when ``sigma`` is 0).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing.augment import capture_factors
    >>> capture_factors(3, 0.0, np.random.default_rng(0)).tolist()
    [1.0, 1.0, 1.0]
    """
    if sigma < 0:
        raise ValueError("sigma must be >= 0")
    if sigma == 0:
        return np.ones(n_genes)
    return np.exp(sigma * rng.standard_normal(n_genes) - sigma**2 / 2)


def thin(X: Matrix, cell_p: np.ndarray, gene_p: Optional[np.ndarray],
         rng: np.random.Generator) -> Matrix:
    """Binomial thinning: keep each count of cell ``i``, gene ``j`` with
    probability ``min(cell_p[i] * gene_p[j], 1)``.

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Raw counts (non-negative; rounded to integers).
    cell_p: np.ndarray
        Per-cell keep probability (n_cells,).
    gene_p: np.ndarray, optional
        Per-gene factor (n_genes,); None for all ones.
    rng: numpy.random.Generator

    Returns
    -------
    np.ndarray or scipy.sparse.csr_matrix
        float32 counts, same shape; sparse stays sparse.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing.augment import thin
    >>> rng = np.random.default_rng(0)
    >>> thin(np.array([[10., 0.], [4., 6.]]), np.array([1.0, 0.0]), None, rng)
    array([[10.,  0.],
           [ 0.,  0.]], dtype=float32)
    """
    cell_p = np.asarray(cell_p, dtype=np.float64)
    if len(cell_p) != X.shape[0]:
        raise ValueError("%d cell probabilities for %d cells" %
                         (len(cell_p), X.shape[0]))
    if gene_p is not None and len(gene_p) != X.shape[1]:
        raise ValueError("%d gene factors for %d genes" %
                         (len(gene_p), X.shape[1]))
    if sp.issparse(X):
        csr = sp.csr_matrix(X)
        rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        p = cell_p[rows]
        if gene_p is not None:
            p = p * np.asarray(gene_p, dtype=np.float64)[csr.indices]
        data = rng.binomial(
            np.rint(csr.data).astype(np.int64), np.clip(p, 0.0,
                                                        1.0)).astype(np.float32)
        out = sp.csr_matrix((data, csr.indices.copy(), csr.indptr.copy()),
                            shape=csr.shape)
        out.eliminate_zeros()
        return out
    p = np.broadcast_to(cell_p[:, None], X.shape)
    if gene_p is not None:
        p = p * np.asarray(gene_p, dtype=np.float64)[None, :]
    counts = np.rint(np.asarray(X, dtype=np.float64)).astype(np.int64)
    return rng.binomial(counts, np.clip(p, 0.0, 1.0)).astype(np.float32)


def drop_genes(X: Matrix, fraction: float, rng: np.random.Generator) -> Matrix:
    """Set a random ``fraction`` of the genes (columns) to zero.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing.augment import drop_genes
    >>> out = drop_genes(np.ones((2, 4)), 0.5, np.random.default_rng(0))
    >>> out.sum(axis=0).tolist().count(0.0)
    2
    """
    if not 0 <= fraction < 1:
        raise ValueError("fraction must be in [0, 1)")
    n_drop = int(round(fraction * X.shape[1]))
    keep = np.ones(X.shape[1])
    keep[rng.choice(X.shape[1], n_drop, replace=False)] = 0.0
    if sp.issparse(X):
        out = sp.csr_matrix(X) @ sp.diags(keep.astype(np.float32))
        out = sp.csr_matrix(out, dtype=np.float32)
        out.eliminate_zeros()
        return out
    return (np.asarray(X) * keep[None, :]).astype(np.float32)


def augment_counts(X: Matrix,
                   rng: np.random.Generator,
                   depth: Tuple[float, float] = (1000.0, 10000.0),
                   capture_sigma: float = 0.5,
                   dropout: float = 0.1) -> Matrix:
    """The cells of X as one other technology would measure them.

    One draw of per-gene capture factors (:func:`capture_factors`), then
    each cell thinned (:func:`thin`) so that its expected total is a depth
    drawn log-uniformly from ``depth`` (a cell shallower than that keeps
    its counts, up to the capture factors), then ``dropout`` of the genes
    dropped (:func:`drop_genes`).

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Raw counts, cells x genes.
    rng: numpy.random.Generator
    depth: (float, float)
        Range of target counts per cell.
    capture_sigma: float
        Log-scale spread of the per-gene capture factors.
    dropout: float
        Share of genes set to zero.

    Returns
    -------
    np.ndarray or scipy.sparse.csr_matrix
        float32 counts, same shape.
    """
    low, high = float(depth[0]), float(depth[1])
    if not 0 < low <= high:
        raise ValueError("depth must be (low, high) with 0 < low <= high")
    gene_p = capture_factors(X.shape[1], capture_sigma, rng)
    totals = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    target = np.exp(rng.uniform(np.log(low), np.log(high), X.shape[0]))
    cell_p = np.minimum(
        np.divide(target, totals, out=np.ones_like(totals), where=totals > 0),
        1.0)
    out = thin(X, cell_p, gene_p, rng)
    return drop_genes(out, dropout, rng) if dropout > 0 else out


@dataclass(frozen=True)
class Augmentation:
    """How :class:`~deepchem_actinn.annotator.ACTINNAnnotator` augments its
    training cells: ``copies`` thinned copies of each (:func:`augment_counts`
    with ``depth``, ``capture_sigma`` and ``dropout``), added to the
    originals; the held-out cells stay as they are.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.augment import Augmentation
    >>> Augmentation.from_value(True) == Augmentation()
    True
    >>> Augmentation.from_value({"copies": 2}).copies
    2
    >>> Augmentation.from_value(None) is None
    True
    """
    copies: int = 1
    depth: Tuple[float, float] = (1000.0, 10000.0)
    capture_sigma: float = 0.5
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise ValueError("copies must be at least 1")
        object.__setattr__(self, "depth",
                           (float(self.depth[0]), float(self.depth[1])))

    @classmethod
    def from_value(
        cls, value: Union[None, bool, Dict[str, Any], "Augmentation"]
    ) -> Optional["Augmentation"]:
        """None or False: no augmentation; True: the defaults; a dict: those
        fields; an Augmentation as it is."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls(**value)
        raise ValueError("augment must be None, True, a dict or an "
                         "Augmentation, got %r" % (value,))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-serialisable fields (as saved with the annotator)."""
        state = asdict(self)
        state["depth"] = list(self.depth)
        return state

    def apply(self, X: Matrix, rng: np.random.Generator) -> Matrix:
        """``copies`` augmented copies of X, stacked (copy 0's cells
        first)."""
        parts = [
            augment_counts(X, rng, self.depth, self.capture_sigma, self.dropout)
            for _ in range(self.copies)
        ]
        if sp.issparse(X):
            return sp.vstack(parts, format="csr")
        return np.vstack(parts)
