"""ACTINN's gene filter as a ``dc.trans.Transformer``.

A thin wrapper: the filter itself (fitting, the tie rule, alignment by gene
name) is :class:`~deepchem_actinn.preprocessing.gene_filter.GeneFilter`,
the class the annotator fits too. What the two paths share is the rule:
the same selection from the same statistics, and query genes matched to
the kept ones by the same names
(:mod:`deepchem_actinn.preprocessing.genes`).

What they do not share, so that the same counts need not give the same
columns or values:

- the percentiles: this transformer's default is ACTINN's ``(1, 99)``;
  :class:`~deepchem_actinn.annotator.ACTINNAnnotator`'s is ``(0, 100)``,
  which keeps every expressed gene;
- the normalisation: here, as in the original ACTINN, each cell is
  normalised over all its genes
  (:class:`~deepchem_actinn.transformers.normalise.LibrarySizeLogTransformer`)
  and the kept columns are then taken; the annotator normalises each cell
  over the model's genes only
  (:func:`~deepchem_actinn.models.inference.model_gene_log`), so a query's
  genes outside the model (and model genes it lacks) do not change its
  library size.

To feed an annotator's own networks
(:attr:`ACTINNAnnotator.models_ <deepchem_actinn.ACTINNAnnotator.models_>`),
build their input with :meth:`ACTINNAnnotator.to_dataset
<deepchem_actinn.ACTINNAnnotator.to_dataset>`, not with these
transformers.
"""
from typing import TYPE_CHECKING, Any, Iterator, Optional, Tuple, Union

import numpy as np

from deepchem_actinn._deepchem import require_deepchem
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io.counts import refuse_raw_counts
from deepchem_actinn.preprocessing.gene_filter import GeneFilter, take_columns
from deepchem_actinn.preprocessing.gene_stats import row_blocks
from deepchem_actinn.transformers._flags import check_flags
from deepchem_actinn.types import Matrix, Strings

dc = require_deepchem("GeneFilterTransformer")
#: DeepChem's base class (typed Any: DeepChem ships no type hints).
Transformer: Any = dc.trans.Transformer

if TYPE_CHECKING:
    from deepchem.data import Dataset

__all__ = ["GeneFilterTransformer"]


def _blocks(data: Union["Dataset", Matrix],
            chunk_size: int) -> Iterator[Matrix]:
    """Row blocks of X from a DeepChem dataset or a matrix."""
    if isinstance(data, dc.data.Dataset):
        for X_b, _, _, _ in data.iterbatches(batch_size=chunk_size,
                                             deterministic=True):
            yield X_b
    else:
        yield from row_blocks(data, chunk_size)


def _normalised(blocks: Iterator[Matrix]) -> Iterator[Matrix]:
    """The blocks, refusing raw counts in the first (the filter's
    statistics are those of normalised, log-transformed values)."""
    for i, block in enumerate(blocks):
        if i == 0:
            refuse_raw_counts(block, "GeneFilterTransformer")
        yield block


def _width(data: Union["Dataset", Matrix]) -> int:
    if isinstance(data, dc.data.Dataset):
        return int(data.get_shape()[0][1])
    return int(data.shape[1])


class _ColumnAligner(Transformer):
    """Internal: takes columns ``positions`` (-1: zeros) of each shard."""

    def __init__(self, positions: np.ndarray) -> None:
        self.positions = positions
        super().__init__(transform_X=True)

    def transform_array(self, X, y, w, ids):
        return take_columns(X, self.positions), y, w, ids


class GeneFilterTransformer(Transformer):
    """Keep ACTINN's informative genes [1]_, fitted on the training set.

    As DeepChem's fitted transformers are, it is fit at construction on
    ``dataset``: normalised training data (see
    :class:`~deepchem_actinn.transformers.normalise.LibrarySizeLogTransformer`)
    with its gene names. The statistics are computed chunk by chunk, so a
    ``DiskDataset`` or a sparse matrix is never densified as a whole.
    Two gene names that are one gene by the matching rule (``Actb`` and
    ``ACTB``, two versions of one Ensembl id) are refused.

    The selection rule is the annotator's
    (:class:`~deepchem_actinn.preprocessing.gene_filter.GeneFilter`); its
    default percentiles and its normalisation are not (this module's
    description says how they differ): for the input of an annotator's
    networks use :meth:`ACTINNAnnotator.to_dataset
    <deepchem_actinn.ACTINNAnnotator.to_dataset>`.

    ``transform(dataset)`` on data in the training gene order keeps the
    filter's columns. Data from another source is aligned by gene name with
    ``transform(dataset, genes=its_gene_names)`` (or :meth:`align` for a
    matrix), by the package's one rule: names compared case-insensitively
    (Ensembl ids without their version suffix), kept genes it lacks become
    zero columns and their number is logged, and fewer than ``min_overlap`` of the kept genes shared is an
    :class:`~deepchem_actinn.errors.ACTINNInputError`.

    Parameters
    ----------
    transform_X: bool, default True
        The filter acts on X; False is refused.
    transform_y: bool, default False
        Must be False: labels have no genes.
    transform_w: bool, default False
        Must be False: weights have no genes.
    transform_ids: bool, default False
        Must be False: cell ids have no genes.
    dataset: dc.data.Dataset, np.ndarray or scipy.sparse matrix
        Normalised training data, cells x genes, to fit on.
    genes: sequence of str
        Gene names, one per column of ``dataset``.
    total_percentiles: (float, float), default (1, 99)
        Bounds on total expression.
    cv_percentiles: (float, float), default (1, 99)
        Bounds on the coefficient of variation.
    min_overlap: float, default 0.5
        Smallest share of the kept genes a query must have.
    chunk_size: int, default 8192
        Cells per block when computing the statistics.
    gene_filter: GeneFilter, optional
        An already fitted filter to wrap, instead of ``dataset`` and
        ``genes``.

    Attributes
    ----------
    gene_filter: GeneFilter
        The fitted filter.
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
    >>> X = np.log1p(rng.poisson(1.0, size=(50, 200))).astype(np.float32)
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
                 transform_X: bool = True,
                 transform_y: bool = False,
                 transform_w: bool = False,
                 transform_ids: bool = False,
                 dataset: Union["Dataset", Matrix, None] = None,
                 genes: Optional[Strings] = None,
                 total_percentiles: Tuple[float, float] = (1.0, 99.0),
                 cv_percentiles: Tuple[float, float] = (1.0, 99.0),
                 min_overlap: float = 0.5,
                 chunk_size: int = 8192,
                 gene_filter: Optional[GeneFilter] = None) -> None:
        check_flags("GeneFilterTransformer", "keeps columns (genes) of X",
                    transform_X, transform_y, transform_w, transform_ids)
        if gene_filter is None:
            if dataset is None or genes is None:
                raise ValueError(
                    "GeneFilterTransformer is fit on training data: pass "
                    "dataset= and genes= (or a fitted gene_filter=)")
            gene_filter = GeneFilter(total_percentiles, cv_percentiles,
                                     min_overlap, chunk_size)
            gene_filter.fit(_normalised(_blocks(dataset, chunk_size)), genes)
        elif getattr(gene_filter, "genes_", None) is None:
            raise ValueError("gene_filter= must be fitted with gene names: "
                             "GeneFilter().fit(X, genes)")
        self.gene_filter = gene_filter
        super().__init__(transform_X=True, dataset=None)

    @property
    def genes(self) -> Optional[np.ndarray]:
        """All training gene names, in order."""
        return self.gene_filter.genes_in_

    @property
    def mask(self) -> np.ndarray:
        """Boolean, True for kept genes."""
        return self.gene_filter.get_support()

    @property
    def kept_genes(self) -> Optional[np.ndarray]:
        """Names of the kept genes, in training order."""
        return self.gene_filter.genes_

    def transform_array(self, X, y, w, ids):
        """Keep the filter's columns of X (training gene order).

        Parameters
        ----------
        X: np.ndarray or scipy.sparse matrix
            Features, cells x genes.
        y: np.ndarray
            Labels, passed through.
        w: np.ndarray
            Weights, passed through.
        ids: np.ndarray
            Identifiers, passed through.

        Returns
        -------
        (Xtrans, ytrans, wtrans, idstrans): tuple
            X with the kept genes' columns only, in training order; y, w
            and ids unchanged.
        """
        return self.gene_filter.transform(X), y, w, ids

    def align(self, X: Matrix, genes: Strings) -> Matrix:
        """Columns of X (with gene names ``genes``) in kept-gene order.

        Parameters
        ----------
        X: np.ndarray or scipy.sparse matrix
            Normalised data, cells x genes.
        genes: sequence of str
            Gene names, one per column of X, in any order; kept genes X
            lacks become zero columns.

        Returns
        -------
        np.ndarray or scipy.sparse matrix
            Cells x kept genes, in the filter's order.

        Raises
        ------
        ACTINNInputError
            Fewer than ``min_overlap`` of the kept genes among ``genes``.

        Examples
        --------
        >>> import numpy as np
        >>> from deepchem_actinn import GeneFilterTransformer
        >>> X = np.array([[1., 5., 2.], [2., 4., 9.], [9., 1., 0.]])
        >>> gf = GeneFilterTransformer(dataset=X, genes=["A", "B", "C"],
        ...                            total_percentiles=(0, 100),
        ...                            cv_percentiles=(0, 100))
        >>> gf.align(np.array([[7., 8., 9.]]), ["c", "B", "a"])
        array([[9., 8., 7.]])
        """
        return self.gene_filter.transform(X, genes=genes)

    def transform(self,
                  dataset: "Dataset",
                  parallel: bool = False,
                  out_dir: Optional[str] = None,
                  genes: Optional[Strings] = None,
                  **kwargs) -> "Dataset":
        """Filter a dataset; with ``genes`` given, align it by gene name.

        Parameters
        ----------
        dataset: dc.data.Dataset
            Normalised data, cells x genes.
        parallel: bool, default False
            As in ``dc.trans.Transformer.transform``.
        out_dir: str, optional
            As in ``dc.trans.Transformer.transform``.
        genes: sequence of str, optional
            The dataset's gene names, for data from another source. Without
            them the dataset must be in the training gene order: a query of
            as many genes in another order would be filtered by position,
            silently wrong, so pass ``genes`` for any data that was not the
            training data.
        **kwargs
            As in ``dc.trans.Transformer.transform``.

        Returns
        -------
        dc.data.Dataset
            The dataset with the kept genes' columns only, in training
            order (zeros for kept genes it lacks); y, w and ids unchanged.

        Raises
        ------
        ACTINNInputError
            ``genes`` and the dataset differ in length, or the dataset
            holds fewer than ``min_overlap`` of the kept genes.
        """
        if genes is None:
            return super().transform(dataset, parallel, out_dir, **kwargs)
        width = _width(dataset)
        if width != len(genes):
            raise ACTINNInputError(
                "the dataset has %d genes but %d gene names were given" %
                (width, len(genes)))
        aligner = _ColumnAligner(self.gene_filter.gene_positions(genes))
        return aligner.transform(dataset,
                                 parallel=parallel,
                                 out_dir=out_dir,
                                 **kwargs)

    def untransform(self, transformed: np.ndarray) -> np.ndarray:
        """Not invertible: dropped genes are not kept.

        Parameters
        ----------
        transformed: np.ndarray
            Transformed data.

        Raises
        ------
        NotImplementedError
            Always.
        """
        raise NotImplementedError("GeneFilterTransformer cannot be undone.")
