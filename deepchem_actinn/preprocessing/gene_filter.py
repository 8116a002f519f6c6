"""ACTINN's gene filter, fitted on training data, scikit-learn style.

ACTINN [1]_ trains on the genes whose total expression lies inside the
1st-99th percentile, whose mean is non-zero, and whose coefficient of
variation lies inside the 1st-99th percentile of the genes left by the first
two rules, all measured on the normalised training data
(:func:`~deepchem_actinn.preprocessing.normalise.library_size_log`).
:class:`GeneFilter` fits that selection (in one chunked pass, so a reference
larger than memory can be filtered) and applies it; data from another source
is aligned to the kept genes by name, with the package's one gene-matching
rule (:mod:`deepchem_actinn.preprocessing.genes`). :func:`select_genes` is the
selection on precomputed statistics, :func:`take_columns` the column
gather both paths share. Nothing here needs DeepChem or PyTorch;
:class:`~deepchem_actinn.transformers.gene_filter.GeneFilterTransformer`
wraps :class:`GeneFilter` as a ``dc.trans.Transformer``.

References
----------
.. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
   types in single cell RNA sequencing. Bioinformatics 36(2):533-538 (2020).
"""
import logging
from typing import Iterable, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.preprocessing.gene_stats import (GeneStats, is_matrix,
                                                      row_blocks)
from deepchem_actinn.preprocessing.genes import (gene_positions,
                                                 refuse_repeated_genes)
from deepchem_actinn.types import Matrix, Strings

logger = logging.getLogger(__name__)


class GeneFilter:
    """ACTINN's gene filter [1]_: fit on normalised training cells, then
    transform.

    Parameters
    ----------
    total_percentiles: (float, float), default (1, 99)
        Keep genes whose total expression lies within these percentiles.
    cv_percentiles: (float, float), default (1, 99)
        Then keep genes whose coefficient of variation lies within these
        percentiles of the genes still kept.
    min_overlap: float, default 0.5
        Smallest share of the kept genes that data aligned by name
        (``transform(X, genes=...)``) must hold; below it the data is
        refused, since every cell would get the same prediction.
    chunk_size: int, default 8192
        Cells per block when :meth:`fit` walks a whole matrix.

    Attributes
    ----------
    stats_: GeneStats
        Per-gene sums of the training cells (``mean``, ``var``, ``std``,
        ``cv``, ``total``, ``n_cells``).
    support_: np.ndarray of bool
        True for each kept input gene.
    genes_: np.ndarray of str or None
        Names of the kept genes in input order; None when fit without names.
    genes_in_: np.ndarray of str or None
        Names of all input genes; None when fit without names.
    n_genes_in_: int
        Number of input genes.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing import GeneFilter
    >>> X = np.array([[0., 1., 4., 2.], [0., 3., 0., 2.], [0., 2., 2., 1.]])
    >>> gf = GeneFilter((0, 100), (0, 100)).fit(X, ["A", "B", "C", "D"])
    >>> gf.genes_
    array(['B', 'C', 'D'], dtype=object)
    >>> gf.get_support(indices=True)
    array([1, 2, 3])
    >>> gf.transform(np.array([[9., 8., 7.]]), genes=["d", "b", "c"])
    array([[8., 7., 9.]])

    Row blocks of a reference too large for memory, one at a time:

    >>> blocks = GeneFilter((0, 100), (0, 100))
    >>> for start in range(3):
    ...     _ = blocks.partial_fit(X[start:start + 1], ["A", "B", "C", "D"])
    >>> np.array_equal(blocks.support_, gf.support_)
    True

    References
    ----------
    .. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
       types in single cell RNA sequencing. Bioinformatics 36(2):533-538
       (2020).
    """

    def __init__(self,
                 total_percentiles: Tuple[float, float] = (1.0, 99.0),
                 cv_percentiles: Tuple[float, float] = (1.0, 99.0),
                 min_overlap: float = 0.5,
                 chunk_size: int = 8192) -> None:
        self.total_percentiles = total_percentiles
        self.cv_percentiles = cv_percentiles
        self.min_overlap = min_overlap
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return ("GeneFilter(total_percentiles=%r, cv_percentiles=%r, "
                "min_overlap=%r, chunk_size=%r)" %
                (self.total_percentiles, self.cv_percentiles, self.min_overlap,
                 self.chunk_size))

    # -- fitting ------------------------------------------------------------

    def fit(self,
            X: Union[Matrix, Iterable[Matrix]],
            genes: Optional[Strings] = None) -> "GeneFilter":
        """Choose the genes to keep from normalised training cells.

        Parameters
        ----------
        X: np.ndarray, scipy.sparse matrix or iterable
            Normalised expression, cells x genes; an iterable of row blocks
            (either kind) is read one block at a time, so it may be larger
            than memory.
        genes: sequence of str, optional
            Gene names, one per column; needed to align other data by name.
            Two that are one gene by the matching rule (``Actb`` and
            ``ACTB``; two versions of one Ensembl id) are refused
            (:func:`~deepchem_actinn.preprocessing.genes.refuse_repeated_genes`).

        Returns
        -------
        self
        """
        self._reset()
        blocks = row_blocks(X, self.chunk_size) if is_matrix(X) else X
        for block in blocks:
            self._accumulate(block, genes)
        if not hasattr(self, "stats_"):
            raise ACTINNInputError("no cells to fit the gene filter on")
        self._select()
        self._say_kept()
        return self

    def partial_fit(self,
                    X: Matrix,
                    genes: Optional[Strings] = None) -> "GeneFilter":
        """Add one block of cells to the statistics and select again.

        Calling it on every row block of a matrix selects the same genes as
        :meth:`fit` on the whole matrix; the filter is usable after each
        call.

        Parameters
        ----------
        X: np.ndarray or scipy.sparse matrix
            A block of normalised cells, cells x genes, with the same genes
            as the earlier blocks.
        genes: sequence of str, optional
            Gene names, one per column (checked against earlier blocks').

        Returns
        -------
        self
        """
        self._accumulate(X, genes)
        self._select()
        return self

    def fit_stats(self,
                  stats: GeneStats,
                  genes: Optional[Strings] = None) -> "GeneFilter":
        """Choose the genes from statistics already computed elsewhere.

        For a pass over the cells that computes
        :func:`~deepchem_actinn.preprocessing.gene_stats.gene_statistics`
        for other reasons too.

        Returns
        -------
        self
        """
        self._reset()
        self.n_genes_in_ = stats.n_genes
        self.genes_in_ = self._check_genes(genes, stats.n_genes)
        self.stats_ = stats
        self._select()
        self._say_kept()
        return self

    def _say_kept(self) -> None:
        logger.info("gene filter keeps %d of %d genes",
                    int(self.support_.sum()), self.n_genes_in_)

    def _reset(self) -> None:
        for name in ("stats_", "support_", "genes_", "genes_in_",
                     "n_genes_in_"):
            self.__dict__.pop(name, None)

    def _accumulate(self, X: Matrix, genes: Optional[Strings]) -> None:
        if not is_matrix(X):
            raise TypeError("expected a NumPy array or a SciPy sparse matrix "
                            "of cells x genes, got %s" % type(X).__name__)
        if X.ndim != 2:
            raise ACTINNInputError("expected cells x genes, got an array of "
                                   "shape %s" % (X.shape,))
        if not hasattr(self, "stats_"):
            self.n_genes_in_ = int(X.shape[1])
            self.genes_in_ = self._check_genes(genes, self.n_genes_in_)
            self.stats_ = GeneStats.of(X)
            return
        if X.shape[1] != self.n_genes_in_:
            raise ACTINNInputError(
                "a block of cells has %d genes, the earlier blocks %d" %
                (X.shape[1], self.n_genes_in_))
        names = self._check_genes(genes, self.n_genes_in_, first=False)
        if names is not None:
            if self.genes_in_ is None:
                refuse_repeated_genes(names)
                self.genes_in_ = names
            elif not np.array_equal(names, self.genes_in_):
                raise ACTINNInputError(
                    "a block of cells names its genes differently from the "
                    "earlier blocks")
        self.stats_ = self.stats_.add(X)

    @staticmethod
    def _check_genes(genes: Optional[Strings],
                     n_genes: int,
                     first: bool = True) -> Optional[np.ndarray]:
        """The names as an array, one per column; the first time (not for
        each later block, which must repeat them), refusing two that are
        one gene by the matching rule."""
        if genes is None:
            return None
        names = np.asarray([str(g) for g in genes], dtype=object)
        if len(names) != n_genes:
            raise ACTINNInputError(
                "the training data has %d genes but %d gene names were given" %
                (n_genes, len(names)))
        if first:
            refuse_repeated_genes(names)
        return names

    def _select(self) -> None:
        self.support_ = select_genes(self.stats_, _pair(self.total_percentiles),
                                     _pair(self.cv_percentiles))
        self.genes_ = (None if self.genes_in_ is None else
                       self.genes_in_[self.support_])

    # -- using the fitted filter ---------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "support_"):
            raise ValueError("this GeneFilter is not fitted yet: call "
                             "fit(X, genes) first")

    def get_support(self, indices: bool = False) -> np.ndarray:
        """The kept genes: a boolean mask over the input genes, or their
        column indices when ``indices`` is True."""
        self._check_fitted()
        return np.flatnonzero(self.support_) if indices else self.support_

    def gene_positions(self, genes: Strings) -> np.ndarray:
        """Column of each kept gene in data with gene names ``genes``.

        -1 where a kept gene is missing (those become zero columns in
        :meth:`transform`). The package's one matching rule applies
        (:func:`deepchem_actinn.preprocessing.genes.gene_positions`): names
        compared case-insensitively, missing genes logged once, fewer than
        ``min_overlap`` of the kept genes found is an
        :class:`~deepchem_actinn.errors.ACTINNInputError`.
        """
        self._check_fitted()
        if self.genes_ is None:
            raise ACTINNInputError(
                "the gene filter was fit without gene names, so it cannot "
                "align data by name: pass genes= to fit")
        return gene_positions(list(self.genes_), [str(g) for g in genes],
                              float(self.min_overlap), "the gene filter's")

    def transform(self, X: Matrix, genes: Optional[Strings] = None) -> Matrix:
        """The kept genes' columns of X.

        Parameters
        ----------
        X: np.ndarray or scipy.sparse matrix
            Normalised cells x genes; sparse stays sparse.
        genes: sequence of str, optional
            X's gene names. Without them X must have the training genes in
            the training order; with them X's columns are matched to the kept
            genes by name (:meth:`gene_positions`) and kept genes X lacks
            become columns of zeros.

        Returns
        -------
        np.ndarray or scipy.sparse.csr_matrix
            Cells x kept genes, in the order of :attr:`genes_`.
        """
        self._check_fitted()
        if genes is None:
            if X.shape[1] != self.n_genes_in_:
                raise ACTINNInputError(
                    "data has %d genes, the filter was fit on %d: pass its "
                    "gene names, genes=..., to align it by name" %
                    (X.shape[1], self.n_genes_in_))
            return take_columns(X, self.get_support(indices=True))
        if X.shape[1] != len(genes):
            raise ACTINNInputError(
                "data has %d genes but %d gene names were given" %
                (X.shape[1], len(genes)))
        return take_columns(X, self.gene_positions(genes))

    def fit_transform(self,
                      X: Matrix,
                      genes: Optional[Strings] = None) -> Matrix:
        """:meth:`fit`, then :meth:`transform` of the same cells."""
        if not is_matrix(X):
            raise TypeError("fit_transform needs the whole matrix; for row "
                            "blocks call fit, then transform each block")
        return self.fit(X, genes).transform(X)


def _pair(bounds: Tuple[float, float]) -> Tuple[float, float]:
    """(low, high) as floats within [0, 100]."""
    low, high = (float(b) for b in bounds)
    if not 0.0 <= low <= high <= 100.0:
        raise ValueError("percentile bounds must satisfy 0 <= low <= high "
                         "<= 100, got %r" % (bounds,))
    return low, high


def select_genes(
    stats: GeneStats,
    total_percentiles: Tuple[float, float] = (1.0, 99.0),
    cv_percentiles: Tuple[float, float] = (1.0, 99.0)
) -> np.ndarray:
    """Boolean mask of the genes ACTINN keeps, from per-gene statistics.

    Parameters
    ----------
    stats: GeneStats
        Statistics of the normalised training data
        (:func:`~deepchem_actinn.preprocessing.gene_stats.gene_statistics`).
    total_percentiles: (low, high)
        Keep genes whose total expression is within these percentiles.
    cv_percentiles: (low, high)
        Then keep genes whose coefficient of variation is within these
        percentiles of the genes still kept.

    Returns
    -------
    np.ndarray of bool
        One entry per gene of ``stats``: True for a kept gene. A gene never
        expressed (mean 0) is dropped whatever the bounds.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing import gene_statistics, select_genes
    >>> X = np.array([[0., 1., 2., 0.], [0., 3., 2., 1.]])
    >>> select_genes(gene_statistics(X), (0, 100), (0, 100))
    array([False,  True,  True,  True])
    """
    total = stats.total
    keep = _inside(total, np.percentile(total, total_percentiles))
    keep &= stats.mean > 0
    cv = stats.cv
    if keep.any():
        keep &= _inside(cv, np.percentile(cv[keep], cv_percentiles))
    return keep


def _inside(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """values within [low, high]; values tied with a bound count as inside.

    Many genes can share one value (a gene seen in a single cell has
    CV = sqrt(n - 1) exactly), and a percentile bound can fall inside such a
    tie; rounding then decides which tied genes pass. Comparing with a small
    relative tolerance keeps the whole tie, whatever the float precision or
    chunking of the statistics.
    """
    low, high = bounds
    slack = _TIE_RTOL * np.maximum(np.abs(bounds), 1e-300)
    with np.errstate(invalid="ignore"):
        return (values >= low - slack[0]) & (values <= high + slack[1])


#: Relative tolerance under which a value equals a percentile bound.
_TIE_RTOL = 1e-5


def take_columns(X: Matrix, positions: np.ndarray) -> Matrix:
    """Columns ``positions`` of X; a position of -1 gives a column of zeros.

    Sparse input stays sparse; nothing is densified.

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Cells x genes.
    positions: np.ndarray of int
        For each output column, the column of X to take, or -1 for zeros
        (as :func:`~deepchem_actinn.preprocessing.genes.gene_positions`
        gives them).

    Returns
    -------
    np.ndarray or scipy.sparse.csr_matrix
        Cells x ``len(positions)``, in X's dtype; CSR when X is sparse.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.preprocessing import take_columns
    >>> take_columns(np.array([[1., 2.], [3., 4.]]), np.array([1, -1, 0]))
    array([[2., 0., 1.],
           [4., 0., 3.]])
    """
    present = positions >= 0
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        wanted = positions[present]
        if len(np.unique(wanted)) == len(wanted):
            # each query column feeds at most one output column: renumber
            # the non-zeros' columns with one gather, dropping the others
            # in the indices' own dtype: the renumbered copy is as small
            col_map = np.full(X.shape[1], -1, dtype=X.indices.dtype)
            col_map[wanted] = np.flatnonzero(present)
            new = col_map[X.indices]
            keep = new >= 0
            if keep.all():
                return sp.csr_matrix((X.data.copy(), new, X.indptr.copy()),
                                     shape=(X.shape[0], len(positions)))
            # each row's start moves back by the non-zeros dropped before
            # it (found by position, not by a cumulative sum over all)
            dropped = np.flatnonzero(~keep)
            indptr = X.indptr - np.searchsorted(dropped, X.indptr)
            return sp.csr_matrix((X.data[keep], new[keep], indptr),
                                 shape=(X.shape[0], len(positions)))
        picker = sp.csr_matrix((np.ones(int(present.sum()), dtype=X.dtype),
                                (positions[present], np.flatnonzero(present))),
                               shape=(X.shape[1], len(positions)))
        return sp.csr_matrix(X @ picker)
    X = np.asarray(X)
    out = np.zeros((X.shape[0], len(positions)), dtype=X.dtype)
    out[:, present] = X[:, positions[present]]
    return out
