"""What :meth:`~deepchem_actinn.ACTINNAnnotator.fit` and
:meth:`~deepchem_actinn.ACTINNAnnotator.fit_file` hand to the training loop.

:func:`checked_reference` checks a labelled reference in memory and
:func:`in_memory` makes it the networks' input and training set;
:func:`from_file` reads a reference file block by block
(:class:`~deepchem_actinn.annotator.reference_file.ReferenceFile`) into the
same: a source of epochs, the held-out cells and the cells of the
``Unassigned`` rule. They set the annotator's ``genes_`` (and
:func:`from_file` its ``labels_``) as they go. The steps around the loop
are in :mod:`~deepchem_actinn.annotator.fitting`.
"""
import os
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from deepchem_actinn.annotator import fitting, provenance
from deepchem_actinn.annotator.annotation import as_matrix
from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError
from deepchem_actinn.io import labels as io_labels
from deepchem_actinn.io.counts import refuse_log_normalised
from deepchem_actinn.models.batches import host_feed
from deepchem_actinn.preprocessing.augment import Augmentation
from deepchem_actinn.preprocessing.gene_filter import GeneFilter
from deepchem_actinn.preprocessing.genes import refuse_repeated_genes
from deepchem_actinn.preprocessing.normalise import library_size_log
from deepchem_actinn.types import Matrix


class Reference(NamedTuple):
    """A labelled reference in memory, checked (:func:`checked_reference`):
    counts, gene names, each cell's label."""
    X: Matrix
    genes: List[str]
    labels: Any


def checked_reference(X: Matrix, genes: Sequence[str], labels: Sequence[str],
                      cell_ids: Optional[Sequence[str]]) -> Reference:
    """The counts as a matrix, the gene names as str and each cell's label
    (matched to ``cell_ids`` where ``labels`` is indexed by cell), once
    their numbers agree, no gene is named twice and the counts are not
    log-normalised; otherwise an ``ACTINNInputError`` saying which.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.annotator.training_input import checked_reference
    >>> X = np.array([[1, 0], [3, 2], [0, 5]])
    >>> checked_reference(X, ["a", "b"], ["B", "T", "T"], None).genes
    ['a', 'b']
    >>> checked_reference(X, ["a", "b"], ["B", "T"], None)
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: 3 cells but 2 labels
    """
    X = as_matrix(X)
    if cell_ids is not None and len(cell_ids) != X.shape[0]:
        raise ACTINNInputError("%d cells but %d cell ids" %
                               (X.shape[0], len(cell_ids)))
    label_names = io_labels.label_names(labels, cell_ids)
    gene_names = [str(g) for g in genes]
    if X.shape[0] != len(label_names):
        raise ACTINNInputError("%d cells but %d labels" %
                               (X.shape[0], len(label_names)))
    if X.shape[1] != len(gene_names):
        raise ACTINNInputError("%d genes in the matrix but %d gene names" %
                               (X.shape[1], len(gene_names)))
    refuse_repeated_genes(gene_names)
    refuse_log_normalised(X, cell_ids, source="the reference")
    return Reference(X, gene_names, label_names)


def in_memory(hp: Any, X: Matrix, gene_names: List[str], y: np.ndarray,
              weights: np.ndarray, train_idx: np.ndarray,
              cell_ids: Optional[Sequence[str]]) -> tuple:
    """The genes the gene filter keeps, the networks' input ``Xf`` for every
    cell of the checked reference ``X`` (:func:`checked_reference`) and the
    training set the epochs draw from,
    :func:`~deepchem_actinn.annotator.fitting.training_set`'s ``X, y, w,
    rows``: ``(genes, Xf, X, y, w, rows)``; the counts normalised and the
    gene filter fitted here (``hp``: the annotator's checked parameters)."""
    Xn = library_size_log(X, hp.target_sum, hp.log_base, cell_ids)
    gene_filter = GeneFilter(hp.total_percentiles,
                             hp.cv_percentiles).fit(Xn, gene_names)
    kept = [gene_names[i] for i in gene_filter.get_support(indices=True)]
    Xf = fitting.model_input(X, Xn, gene_filter, hp.target_sum, hp.log_base)
    del Xn
    return (kept, Xf, *fitting.training_set(
        X, Xf, y, weights, train_idx, Augmentation.from_value(hp.augment),
        gene_filter.get_support(indices=True), hp.target_sum, hp.log_base,
        hp.seed))


class FileInput(NamedTuple):
    """What :func:`from_file` hands to the annotator and its training
    loop."""
    labels: Any
    genes: List[str]
    epoch: Callable
    X_valid: Matrix
    y_valid: np.ndarray
    y: np.ndarray
    X_ref: Matrix
    y_ref: np.ndarray
    source: Dict[str, Any]


def from_file(hp: Any, path: Any, labels: Any, format: Optional[str],
              upper_case_genes: bool, block_size: int, buffer_cells: int,
              labelled_only: bool, genes: Optional[Sequence[str]],
              allow_non_integer: bool, layer: Optional[str],
              use_raw: Optional[bool], orientation: Optional[str]) -> FileInput:
    """Read the reference file ``path`` for ``ACTINNAnnotator.fit_file``
    (whose parameters these are; ``hp``: the annotator's checked
    parameters): its labels (encoded), the gene filter fitted in one pass
    (the genes it keeps), the held-out cells and
    those of the ``Unassigned`` rule, and a source of shuffled epochs. An
    error in some cells names the file; ``augment`` is refused."""
    if hp.augment is not None:
        raise ValueError("augment is not supported by fit_file yet: "
                         "use fit, or augment=None")
    from deepchem_actinn.annotator.reference_file import ReferenceFile
    try:
        ref = ReferenceFile(os.fspath(path),
                            labels,
                            format,
                            upper_case_genes,
                            hp.target_sum,
                            hp.log_base,
                            block_size,
                            labelled_only,
                            genes,
                            allow_non_integer,
                            layer=layer,
                            use_raw=use_raw,
                            orientation=orientation)
        cells = np.flatnonzero(ref.labelled)  # file row of each cell
        encoded, y, train_idx, valid_idx, weights = fitting.encode_labels(
            hp, ref.labels[cells])
        ref_idx = fitting.reference_sample(y, train_idx, hp.seed)
        gene_filter = GeneFilter(hp.total_percentiles, hp.cv_percentiles)
        X_valid, X_ref = ref.fit_filter(gene_filter, cells[valid_idx],
                                        cells[ref_idx])
    except ACTINNCellError as err:
        raise err.in_file(path) from None
    feed = ref.epochs(gene_filter, cells[train_idx], y[train_idx],
                      weights[train_idx], hp.batch_size, buffer_cells)

    def epoch(rng: np.random.Generator):
        return host_feed(feed(rng))

    return FileInput(
        encoded, [str(g) for g in ref.genes[gene_filter.support_]], epoch,
        X_valid, y[valid_idx], y, X_ref, y[ref_idx],
        provenance.file_source(
            path,
            format=ref.detected_format,
            matrix=ref.matrix,
            layer=layer,
            use_raw=use_raw,
            out_of_core=True,
            buffer_cells=buffer_cells,
            labelled_only=labelled_only,
            allow_non_integer=allow_non_integer,
            genes_given=None if genes is None else len(genes)))
