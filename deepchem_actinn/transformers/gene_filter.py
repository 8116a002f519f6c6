"""ACTINN's gene filter, fit on training data, and alignment by gene name.

The filter keeps genes whose total expression lies inside the 1st-99th
percentile, whose mean is non-zero, and whose coefficient of variation lies
inside the 1st-99th percentile (computed on the genes left by the first two
rules), all on the normalised training data only. Query data from another
source is aligned to the kept genes by name. The array functions
(:func:`select_genes`, :func:`gene_positions`, :func:`take_columns`) live in
:mod:`deepchem_actinn.preprocessing.gene_filter` and are re-exported here.
"""
import logging
import warnings
from typing import Iterable, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp
from deepchem.data import Dataset
from deepchem.trans import Transformer

from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.preprocessing.gene_filter import (  # noqa: F401
    Genes, Matrix, gene_positions, select_genes, take_columns)
from deepchem_actinn.stats import gene_statistics

logger = logging.getLogger(__name__)


def _iter_blocks(data, chunk_size: int) -> Iterable[Matrix]:
    if isinstance(data, Dataset):
        for X_b, _, _, _ in data.iterbatches(batch_size=chunk_size,
                                             deterministic=True):
            yield X_b
    else:
        rows = data.shape[0]
        matrix = sp.csr_matrix(data) if sp.issparse(data) else data
        for start in range(0, rows, chunk_size):
            yield matrix[start:start + chunk_size]


def _pair(bounds: Tuple[float, float]) -> Tuple[float, float]:
    """(low, high) as floats; anything but two values is a ValueError."""
    low, high = bounds
    return float(low), float(high)


class _ColumnAligner(Transformer):
    """Internal: reorders and zero-fills columns for ``Dataset.transform``."""

    def __init__(self, positions: np.ndarray) -> None:
        self.positions = positions
        super().__init__(transform_X=True)

    def transform_array(self, X, y, w, ids):
        return take_columns(X, self.positions), y, w, ids


class GeneFilterTransformer(Transformer):
    """Keep ACTINN's informative genes, fitted on the training set.

    Fit on normalised training data (see :class:`LibrarySizeLogTransformer`)
    and its gene names, as DeepChem's fitted transformers are: pass the
    dataset at construction. The statistics are computed chunk by chunk, so a
    ``DiskDataset`` or a sparse matrix is never densified as a whole.

    ``transform`` on data in the training gene order applies the mask. Data
    from another source is aligned by gene name with
    ``transform(dataset, genes=its_gene_names)`` (or :meth:`align` for a
    matrix): kept genes missing from it become zero columns, with a warning
    that says how many; fewer than ``min_overlap`` of the kept genes shared is
    an error, since predictions would be meaningless.

    Parameters
    ----------
    dataset: dc.data.Dataset, np.ndarray or scipy.sparse matrix
        Normalised training data, cells x genes.
    genes: sequence of str
        Gene names, one per column of ``dataset``.
    total_percentiles: (float, float), default (1, 99)
        Bounds on total expression.
    cv_percentiles: (float, float), default (1, 99)
        Bounds on the coefficient of variation.
    min_overlap: float, default 0.5
        Smallest share of kept genes a query must have.
    chunk_size: int, default 8192
        Cells per block when computing statistics.

    Attributes
    ----------
    genes: np.ndarray
        All training gene names, in order.
    mask: np.ndarray
        Boolean, True for kept genes.
    kept_genes: np.ndarray
        Names of the kept genes, in training order.

    Examples
    --------
    >>> import numpy as np
    >>> import deepchem as dc
    >>> from deepchem_actinn import GeneFilterTransformer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(1.0, size=(50, 200)).astype(np.float32)
    >>> genes = ["G%d" % i for i in range(200)]
    >>> gf = GeneFilterTransformer(dataset=dc.data.NumpyDataset(X), genes=genes)
    >>> gf.transform(dc.data.NumpyDataset(X)).X.shape == (50, len(gf.kept_genes))
    True

    References
    ----------
    .. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
       types in single cell RNA sequencing. Bioinformatics 36(2):533-538 (2020).
    """

    def __init__(self,
                 dataset: Union[Dataset, Matrix, None] = None,
                 genes: Optional[Genes] = None,
                 total_percentiles: Tuple[float, float] = (1.0, 99.0),
                 cv_percentiles: Tuple[float, float] = (1.0, 99.0),
                 min_overlap: float = 0.5,
                 chunk_size: int = 8192) -> None:
        if dataset is None or genes is None:
            raise ValueError("GeneFilterTransformer is fit on training data: "
                             "pass dataset= and genes=")
        names = np.asarray([str(g) for g in genes], dtype=object)
        n_cols = dataset.get_shape()[0][1] if isinstance(
            dataset, Dataset) else dataset.shape[1]
        if n_cols != len(names):
            raise ACTINNInputError(
                "the training data has %d genes but %d gene names were given" %
                (n_cols, len(names)))
        stats = gene_statistics(_iter_blocks(dataset, chunk_size))
        self.genes = names
        self.total_percentiles = _pair(total_percentiles)
        self.cv_percentiles = _pair(cv_percentiles)
        self.min_overlap = float(min_overlap)
        self.mask = select_genes(stats, self.total_percentiles,
                                 self.cv_percentiles)
        self.kept_genes = names[self.mask]
        logger.info("gene filter keeps %d of %d genes", len(self.kept_genes),
                    len(names))
        super().__init__(transform_X=True)

    def transform_array(self, X, y, w, ids):
        """Apply the mask to data in the training gene order."""
        if X.shape[1] != len(self.mask):
            raise ACTINNInputError(
                "data has %d genes, the filter was fit on %d: pass its gene "
                "names, transform(dataset, genes=...), to align by name" %
                (X.shape[1], len(self.mask)))
        return take_columns(X, np.flatnonzero(self.mask)), y, w, ids

    def positions_in(self, genes: Genes) -> np.ndarray:
        """Index of each kept gene in ``genes`` (-1 where missing).

        Warns with the number of missing genes; raises
        :class:`ACTINNInputError` when fewer than ``min_overlap`` are found.
        """
        positions = gene_positions(self.kept_genes, genes)
        missing = int((positions < 0).sum())
        found = len(positions) - missing
        if found < self.min_overlap * len(positions):
            raise ACTINNInputError(
                "only %d of the %d genes the model uses are in the query "
                "(%.0f%%, need %.0f%%); query genes look like %s, model genes "
                "like %s" %
                (found, len(positions), 100.0 * found / max(len(positions), 1),
                 100 * self.min_overlap, examples(list(genes)[:3], 3),
                 examples(list(self.kept_genes)[:3], 3)))
        if missing:
            warnings.warn(
                "%d of the %d genes the model uses are missing from the query "
                "and are set to zero (e.g. %s)" %
                (missing, len(positions),
                 examples(self.kept_genes[positions < 0], 3)),
                stacklevel=3)
        return positions

    def align(self, X: Matrix, genes: Genes) -> Matrix:
        """Columns of X (with gene names ``genes``) in kept-gene order.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.array([[1., 5., 2.], [2., 4., 9.], [9., 1., 0.]])
        >>> gf = GeneFilterTransformer(X, ["A", "B", "C"], (0, 100), (0, 100))
        >>> gf.align(np.array([[7., 8., 9.]]), ["C", "B", "A"])
        array([[9., 8., 7.]])
        """
        if X.shape[1] != len(genes):
            raise ACTINNInputError(
                "data has %d genes but %d gene names were given" %
                (X.shape[1], len(genes)))
        return take_columns(X, self.positions_in(genes))

    def transform(self,
                  dataset: Dataset,
                  parallel: bool = False,
                  out_dir: Optional[str] = None,
                  genes: Optional[Genes] = None,
                  **kwargs) -> Dataset:
        """Filter a dataset; with ``genes`` given, align it by gene name.

        Parameters
        ----------
        dataset: dc.data.Dataset
            Normalised data, cells x genes.
        genes: sequence of str, optional
            The dataset's gene names, for data from another source. Without
            it the dataset must be in the training gene order.
        """
        if genes is None:
            return super().transform(dataset, parallel, out_dir, **kwargs)
        if dataset.get_shape()[0][1] != len(genes):
            raise ACTINNInputError(
                "the dataset has %d genes but %d gene names were given" %
                (dataset.get_shape()[0][1], len(genes)))
        aligner = _ColumnAligner(self.positions_in(genes))
        return aligner.transform(dataset,
                                 parallel=parallel,
                                 out_dir=out_dir,
                                 **kwargs)

    def untransform(self, transformed: np.ndarray) -> np.ndarray:
        """Not invertible: dropped genes are not kept."""
        raise NotImplementedError("GeneFilterTransformer cannot be undone.")
