"""Per-gene statistics, accumulated block by block over the cells.

ACTINN's gene filter (:class:`~deepchem_actinn.preprocessing.gene_filter.GeneFilter`)
needs each gene's total expression, mean and coefficient of variation on the
normalised training data. They follow from three sums (cells, values,
squared values), which add up over row blocks: a reference too large for
memory is summarised in one pass, dense or sparse, and the result does not
depend on how the cells were split into blocks (sums are kept in float64).
"""
from dataclasses import dataclass
from typing import Iterable, Iterator, Union

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.types import Matrix


@dataclass
class GeneStats:
    """Sums over cells of each gene's values and squared values.

    Parameters
    ----------
    n_cells: int
        Number of cells summed.
    total: np.ndarray
        Per-gene sum of the values (float64).
    sum_sq: np.ndarray
        Per-gene sum of the squared values (float64).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing import GeneStats
    >>> s = GeneStats.of(np.array([[0., 2.], [2., 2.]]))
    >>> s.mean, s.var, s.cv
    (array([1., 2.]), array([1., 0.]), array([1., 0.]))
    >>> s.add(np.array([[4., 2.]])).n_cells
    3
    """
    n_cells: int
    total: np.ndarray
    sum_sq: np.ndarray

    @classmethod
    def of(cls, block: Matrix) -> "GeneStats":
        """The sums of one block of cells (dense or sparse)."""
        if sp.issparse(block):
            # a copy: squaring in place must not touch the caller's block
            csr = sp.csr_matrix(block, dtype=np.float64, copy=True)
            total = np.asarray(csr.sum(axis=0)).ravel()
            csr.data **= 2
            sum_sq = np.asarray(csr.sum(axis=0)).ravel()
        else:
            dense = np.asarray(block, dtype=np.float64)
            if dense.ndim != 2:
                raise ValueError("expected cells x genes, got an array of "
                                 "shape %s" % (dense.shape,))
            total = dense.sum(axis=0)
            sum_sq = np.einsum("ij,ij->j", dense, dense)
        return cls(n_cells=int(block.shape[0]), total=total, sum_sq=sum_sq)

    def add(self, block: Matrix) -> "GeneStats":
        """The sums of these cells and the cells of ``block``, a new object."""
        other = GeneStats.of(block)
        if len(other.total) != len(self.total):
            raise ACTINNInputError(
                "a block of cells holds %d genes, the sums so far %d: every "
                "block must hold the same genes (the file's values and its "
                "gene names read differently?)" %
                (len(other.total), len(self.total)))
        return GeneStats(n_cells=self.n_cells + other.n_cells,
                         total=self.total + other.total,
                         sum_sq=self.sum_sq + other.sum_sq)

    @property
    def n_genes(self) -> int:
        """Number of genes."""
        return len(self.total)

    @property
    def mean(self) -> np.ndarray:
        """Mean of each gene over the cells."""
        return self.total / max(self.n_cells, 1)

    @property
    def var(self) -> np.ndarray:
        """Variance of each gene (ddof=0), never negative."""
        mean = self.mean
        return np.maximum(self.sum_sq / max(self.n_cells, 1) - mean * mean, 0.0)

    @property
    def std(self) -> np.ndarray:
        """Standard deviation of each gene (ddof=0)."""
        return np.sqrt(self.var)

    @property
    def cv(self) -> np.ndarray:
        """Coefficient of variation std / mean (NaN where the mean is 0)."""
        mean = self.mean
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mean > 0, self.std / mean, np.nan)


def row_blocks(X: Matrix, chunk_size: int = 8192) -> Iterator[Matrix]:
    """Row blocks of ``chunk_size`` cells of a dense or sparse matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing.gene_stats import row_blocks
    >>> [b.shape for b in row_blocks(np.zeros((5, 2)), chunk_size=2)]
    [(2, 2), (2, 2), (1, 2)]
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1, got %r" % chunk_size)
    matrix = sp.csr_matrix(X) if sp.issparse(X) else np.asarray(X)
    for start in range(0, matrix.shape[0], chunk_size):
        yield matrix[start:start + chunk_size]


def is_matrix(X) -> bool:
    """True for a NumPy array or a SciPy sparse matrix (not row blocks)."""
    return sp.issparse(X) or isinstance(X, np.ndarray)


def gene_statistics(chunks: Union[Matrix, Iterable[Matrix]],
                    chunk_size: int = 8192) -> GeneStats:
    """Per-gene statistics of a matrix or of row blocks, one block at a time.

    Parameters
    ----------
    chunks: np.ndarray, scipy.sparse matrix or iterable
        Cells x genes, dense or sparse; an iterable of row blocks (all with
        the same number of columns) is consumed one block at a time, so the
        whole matrix never needs to be in memory.
    chunk_size: int, default 8192
        Rows per block when a single matrix is given.

    Returns
    -------
    GeneStats
        The sums over every cell of every block.

    Raises
    ------
    ValueError
        No cells were given, or blocks differ in their number of genes.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing import gene_statistics
    >>> s = gene_statistics(np.array([[0., 2.], [2., 2.]]), chunk_size=1)
    >>> s.total, s.mean, s.std
    (array([2., 4.]), array([1., 2.]), array([1., 0.]))
    """
    blocks = row_blocks(chunks, chunk_size) if is_matrix(chunks) else chunks
    stats = None
    for block in blocks:
        stats = GeneStats.of(block) if stats is None else stats.add(block)
    if stats is None:
        raise ValueError("no cells to compute gene statistics on")
    return stats
