"""Per-gene statistics in one chunked pass over dense or sparse cells."""
from dataclasses import dataclass
from typing import Iterable, Optional, Union

import numpy as np
import scipy.sparse as sp

Matrix = Union[np.ndarray, sp.spmatrix, sp.sparray]


@dataclass
class GeneStats:
    """Totals, means and standard deviations (ddof=0) of each gene.

    Accumulated in float64 so the result does not depend on the chunking.
    """
    n_cells: int
    total: np.ndarray
    sum_sq: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.total / max(self.n_cells, 1)

    @property
    def std(self) -> np.ndarray:
        mean = self.mean
        var = self.sum_sq / max(self.n_cells, 1) - mean * mean
        return np.sqrt(np.maximum(var, 0.0))

    @property
    def cv(self) -> np.ndarray:
        """Coefficient of variation std / mean (NaN where the mean is 0)."""
        mean = self.mean
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mean > 0, self.std / mean, np.nan)


def gene_statistics(chunks: Union[Matrix, Iterable[Matrix]],
                    chunk_size: int = 8192) -> GeneStats:
    """Compute per-gene statistics chunk by chunk.

    Parameters
    ----------
    chunks: matrix or iterable of matrices
        Cells x genes, dense or sparse; an iterable of row blocks (all with
        the same number of columns) is consumed one block at a time, so the
        whole matrix never needs to be in memory.
    chunk_size: int
        Rows per block when a single matrix is given.

    Examples
    --------
    >>> import numpy as np
    >>> s = gene_statistics(np.array([[0., 2.], [2., 2.]]), chunk_size=1)
    >>> s.total, s.mean, s.std
    (array([2., 4.]), array([1., 2.]), array([1., 0.]))
    """
    blocks: Iterable[Matrix]
    if sp.issparse(chunks) or isinstance(chunks, np.ndarray):
        matrix: Matrix = (sp.csr_matrix(chunks)
                          if sp.issparse(chunks) else chunks)
        blocks = (matrix[i:i + chunk_size]
                  for i in range(0, matrix.shape[0], chunk_size))
    else:
        blocks = chunks
    n_cells = 0
    total: Optional[np.ndarray] = None
    sum_sq: Optional[np.ndarray] = None
    for block in blocks:
        if sp.issparse(block):
            block = sp.csr_matrix(block, dtype=np.float64)
            part = np.asarray(block.sum(axis=0)).ravel()
            block.data **= 2
            part_sq = np.asarray(block.sum(axis=0)).ravel()
        else:
            block = np.asarray(block, dtype=np.float64)
            part = block.sum(axis=0)
            part_sq = np.einsum("ij,ij->j", block, block)
        if total is None or sum_sq is None:
            total, sum_sq = part, part_sq
        else:
            total = total + part
            sum_sq = sum_sq + part_sq
        n_cells += block.shape[0]
    if total is None or sum_sq is None:
        raise ValueError("no cells to compute gene statistics on")
    return GeneStats(n_cells=n_cells, total=total, sum_sq=sum_sq)
