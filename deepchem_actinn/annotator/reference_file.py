"""A labelled reference too large for memory, read from disk block by block.

Used by :meth:`ACTINNAnnotator.fit_file`. One pass computes the per-gene
statistics of the normalised labelled cells (for the gene filter) and
collects the raw counts of the held-out and kNN-reference cells; each
training epoch then reads the file in blocks of cells in a random order and
shuffles them through a buffer, so a file sorted by cell type still gives
mixed minibatches while only the buffer is in memory. Every row becomes the
networks' input by the rule of the in-memory ``fit``
(:func:`~deepchem_actinn.annotator.fitting.model_input`), so training from
disk and from memory see the same values.
"""
import logging
from pathlib import Path
from typing import (Callable, Generator, Iterator, List, Optional, Sequence,
                    Tuple, Union)

import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.annotator.fitting import (dropped_genes_hold_counts,
                                               model_rows)
from deepchem_actinn.io.prefetch import prefetch
from deepchem_actinn.io import (iter_cell_chunks, labels_from, match_labels,
                                read_cell_ids, read_gene_names)
from deepchem_actinn.io.stream import settle_counts_matrix
from deepchem_actinn.models.batches import (Shard, batch_rows, current_shard,
                                            network_input)
from deepchem_actinn.preprocessing.gene_stats import GeneStats, gene_statistics
from deepchem_actinn.preprocessing.gene_filter import GeneFilter
from deepchem_actinn.preprocessing.genes import columns_of
from deepchem_actinn.preprocessing.normalise import (check_counts,
                                                     library_size_log)

logger = logging.getLogger(__name__)

#: ``([inputs...], [labels], [weights])``: one training batch.
Batch = Tuple[list, list, list]


class ReferenceFile:
    """Cells, genes and labels of a reference file, read in blocks.

    Parameters
    ----------
    path: str or Path
        Counts in any readable format; h5ad, ACTINN HDF5 and 10x HDF5 are
        read block by block, other formats are read whole per pass.
    labels: pandas.Series, path or str
        Cell type by cell id (:func:`read_labels`), matched by id; or, for
        an h5ad file, the name of an ``obs`` column
        (:func:`~deepchem_actinn.io.labels_from`).
    format: str, optional
        Force the file format.
    upper_case_genes: bool, default True
        As in :func:`read`.
    target_sum, log_base: float
        Normalisation (see :func:`library_size_log`).
    block_size: int, default 4096
        Cells per block read from the file.
    labelled_only: bool, default False
        Allow cells without a label: they are left out of everything
        (``labelled`` is False for them; a warning says how many). By
        default they are refused, by name.
    genes: sequence of str, optional
        Read only these of the file's genes (matched case-insensitively):
        every block, and so the library sizes, the gene statistics and the
        networks' input, as if the file held no others.
    allow_non_integer: bool, default False
        Take non-integer values as counts on another scale (TPM); values
        that look log-normalised are still refused
        (:func:`~deepchem_actinn.io.iter_cell_chunks`).
    layer, use_raw:
        h5ad only: which matrix holds the counts, as in
        :func:`~deepchem_actinn.io.read` (by default ``X``, or ``.raw.X`` /
        ``layers['counts']`` when ``X`` is not raw counts).
    orientation: str, optional
        CSV/TSV only: ``"genes_by_cells"`` or ``"cells_by_genes"``, as in
        :func:`~deepchem_actinn.io.read` (by default ACTINN's genes as
        rows).

    Attributes
    ----------
    labels: np.ndarray
        Cell type of each cell, in file order (None where unlabelled).
    labelled: np.ndarray
        Boolean, True for the cells that have a label.

    Examples
    --------
    >>> import numpy as np, anndata, scipy.sparse as sp, pandas as pd
    >>> import os, tempfile
    >>> from deepchem_actinn.annotator.reference_file import ReferenceFile
    >>> path = os.path.join(tempfile.mkdtemp(), "ref.h5ad")
    >>> X = sp.csr_matrix(np.arange(1, 13, dtype=np.float32).reshape(4, 3))
    >>> anndata.AnnData(X, obs=pd.DataFrame(index=list("abcd")),
    ...                 var=pd.DataFrame(index=["G1", "G2", "G3"])
    ...                 ).write_h5ad(path)
    >>> ref = ReferenceFile(path, pd.Series(["T", "B", "T", "B"],
    ...                                     index=list("dcba")), block_size=3)
    >>> list(ref.labels), list(ref.genes)
    (['B', 'T', 'B', 'T'], ['G1', 'G2', 'G3'])
    """

    def __init__(self,
                 path: Union[str, Path],
                 labels: Union[pd.Series, str, Path],
                 format: Optional[str] = None,
                 upper_case_genes: bool = True,
                 target_sum: float = 1e4,
                 log_base: float = 2.0,
                 block_size: int = 4096,
                 labelled_only: bool = False,
                 genes: Optional[Sequence[str]] = None,
                 allow_non_integer: bool = False,
                 *,
                 layer: Optional[str] = None,
                 use_raw: Optional[bool] = None,
                 orientation: Optional[str] = None) -> None:
        self.path = str(path)
        self.allow_non_integer = bool(allow_non_integer)
        # every pass reads the matrix the first look chose (and says so once)
        self.layer, self.use_raw = settle_counts_matrix(
            path,
            format,
            layer=layer,
            use_raw=use_raw,
            allow_non_integer=self.allow_non_integer)
        self.orientation = orientation
        self.format = format
        self.upper_case_genes = upper_case_genes
        self.target_sum = float(target_sum)
        self.log_base = float(log_base)
        self.block_size = int(block_size)
        labels, labels_path = labels_from(labels, path, format)
        self.cell_ids = read_cell_ids(path, format, orientation=orientation)
        self.genes = np.asarray(read_gene_names(
            path,
            format,
            upper_case_genes,
            layer=self.layer,
            use_raw=self.use_raw,
            allow_non_integer=self.allow_non_integer,
            orientation=orientation),
                                dtype=object)
        self.columns: Optional[np.ndarray] = None  # all of them
        if genes is not None:
            self.columns = columns_of(self.genes, genes)
            self.genes = self.genes[self.columns]
        self.labels = match_labels(self.cell_ids,
                                   labels,
                                   labels_path,
                                   "drop" if labelled_only else "error",
                                   cells_of=self.path)
        self.labelled = np.asarray(pd.notna(self.labels), dtype=bool)
        if not self.labelled.all():
            logger.warning(
                "%s: %d of %d cells have no label and were left out "
                "(--labelled-only); training on %d", labels_path,
                int((~self.labelled).sum()), len(self.labelled),
                int(self.labelled.sum()))
        self._scanned = False  # whether scan() has checked every value

    def __len__(self) -> int:
        return len(self.cell_ids)

    def _blocks(self,
                starts=None,
                check: bool = True) -> Iterator[Tuple[int, sp.csr_matrix]]:
        """``(first row, raw CSR block)`` in the order of ``starts``;
        ``check=False`` skips checking values an earlier pass checked."""
        chunks = iter_cell_chunks(self.path,
                                  self.block_size,
                                  self.format,
                                  upper_case_genes=self.upper_case_genes,
                                  starts=starts,
                                  allow_non_integer=self.allow_non_integer,
                                  check=check,
                                  layer=self.layer,
                                  use_raw=self.use_raw,
                                  orientation=self.orientation)
        order = iter(starts) if starts is not None else None
        row = 0
        for ids, X in prefetch(chunks):
            start = int(next(order)) if order is not None else row
            row = start + len(ids)
            yield start, X if self.columns is None else X[:, self.columns]

    def scan(self, keep_rows: np.ndarray) -> Tuple[GeneStats, sp.csr_matrix]:
        """One pass: the gene statistics of the normalised labelled cells,
        and the raw counts of rows ``keep_rows`` (sorted), all genes."""
        kept: List[sp.csr_matrix] = []

        def blocks():
            for start, X in self._blocks():
                rows = keep_rows[(keep_rows >= start) &
                                 (keep_rows < start + X.shape[0])]
                if len(rows):
                    kept.append(X[rows - start])
                labelled = np.flatnonzero(self.labelled[start:start +
                                                        X.shape[0]])
                if len(labelled) < X.shape[0]:
                    X = X[labelled]
                if X.shape[0]:
                    yield library_size_log(X, self.target_sum, self.log_base,
                                           self.cell_ids[start + labelled])

        stats = gene_statistics(blocks())
        self._scanned = True
        rows = sp.vstack(kept).tocsr() if kept else sp.csr_matrix(
            (0, len(self.genes)), dtype=np.float32)
        return stats, rows

    def model_input(self,
                    X: sp.csr_matrix,
                    columns: np.ndarray,
                    over_columns: bool = False) -> sp.csr_matrix:
        """Raw rows -> the networks' input: columns ``columns``, each cell
        normalised over all its genes, or with ``over_columns`` over its
        counts in ``columns`` (:func:`model_gene_log`, the rule of
        prediction)."""
        return model_rows(X, columns, over_columns, self.target_sum,
                          self.log_base)

    def fit_filter(self, gene_filter: GeneFilter,
                   *row_sets: np.ndarray) -> List[sp.csr_matrix]:
        """Fit ``gene_filter`` in one pass over the file (:meth:`scan`) and
        return the networks' input for each array of file rows in
        ``row_sets``, as
        :func:`~deepchem_actinn.annotator.fitting.model_input` gives it for
        the same cells in memory."""
        both = np.unique(np.concatenate(row_sets))
        stats, raw = self.scan(both)
        gene_filter.fit_stats(stats, list(self.genes))
        columns = gene_filter.get_support(indices=True)
        over = dropped_genes_hold_counts(gene_filter)
        return [
            self.model_input(raw[np.searchsorted(both, rows)], columns, over)
            for rows in row_sets
        ]

    def epochs(
        self,
        gene_filter: GeneFilter,
        train_rows: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        batch_size: int,
        buffer_cells: int = 65536
    ) -> Callable[[np.random.Generator], Iterator[Tuple[list, list, list]]]:
        """``rng -> minibatches of one epoch`` (:meth:`epoch`) over file
        rows ``train_rows`` with class ids ``y`` and weights ``w`` (one per
        training row), the input as the fitted ``gene_filter`` decides."""
        train = np.zeros(len(self), dtype=bool)
        train[train_rows] = True
        y_file = np.zeros(len(self), dtype=np.asarray(y).dtype)
        w_file = np.zeros(len(self), dtype=np.asarray(w).dtype)
        y_file[train_rows], w_file[train_rows] = y, w
        columns = gene_filter.get_support(indices=True)
        over = dropped_genes_hold_counts(gene_filter)
        return lambda rng: self.epoch(rng,
                                      columns,
                                      y_file,
                                      w_file,
                                      train,
                                      batch_size,
                                      buffer_cells,
                                      over_columns=over)

    def epoch(self,
              rng: np.random.Generator,
              columns: np.ndarray,
              y: np.ndarray,
              w: np.ndarray,
              train: np.ndarray,
              batch_size: int,
              buffer_cells: int = 65536,
              shard: Optional[Shard] = None,
              over_columns: bool = False) -> Iterator[Tuple[list, list, list]]:
        """Minibatches of one shuffled epoch over the training rows.

        Blocks are read in a random order into a buffer of about
        ``buffer_cells`` cells, which is shuffled and cut into full
        batches of ``batch_size``; the cells left over (fewer than one
        batch) stay in the buffer for the next fill, so only the epoch's
        last batch can be short, as in memory.

        In a distributed run (``shard``, default: the process group's) every
        process reads every block in the same order and draws the same
        shuffles, so all processes hold the same buffer; each global batch
        is then cut into N per-process batches of ``ceil(batch_size / N)``
        cells, of which process ``rank`` takes the ``rank``-th
        (:func:`~deepchem_actinn.models.batches.batch_rows`). The N batches
        of one step are thus exactly the cells of one single-process batch
        (with ``batch_size`` divisible by N), and N processes follow the
        single-process updates up to float rounding. The processes share
        the training steps, not the reading: each reads and normalises the
        whole file every epoch, and holds a buffer of ``buffer_cells``.

        Parameters
        ----------
        columns: np.ndarray
            File columns of the model's genes, in model order.
        y, w: np.ndarray
            Class ids and sample weights of every cell of the file.
        train: np.ndarray
            Boolean, True for cells to train on.
        shard: (int, int), optional
            ``(rank, world_size)``.
        over_columns: bool, default False
            Normalise each cell over its counts in ``columns`` rather than
            over all genes (:meth:`model_input`).
        """
        shard = current_shard() if shard is None else shard
        # every process: the same blocks, in the same order, the same rng
        starts = rng.permutation(np.arange(0, len(self), self.block_size))
        width = -(-batch_size // shard[1]) * shard[1]  # one global batch
        buffer: List[sp.csr_matrix] = []
        rows: List[np.ndarray] = []
        held = 0
        # values the statistics pass (scan) checked are not checked again
        for start, X in self._blocks(starts, check=not self._scanned):
            index = np.arange(start, start + X.shape[0])
            use = train[index]
            if not use.any():
                continue
            X = X if use.all() else X[np.flatnonzero(use)]
            if not self._scanned:
                check_counts(X, self.cell_ids[index[use]])
            buffer.append(self.model_input(X, columns, over_columns))
            rows.append(index[use])
            held += int(use.sum())
            if held >= max(buffer_cells, width):
                left, kept = yield from _flush(buffer, rows, y, w, rng,
                                               batch_size, shard, width)
                buffer, rows, held = [left], [kept], len(kept)
        if held:
            yield from _flush(buffer, rows, y, w, rng, batch_size, shard)


def _flush(
        buffer: List[sp.csr_matrix],
        rows: List[np.ndarray],
        y: np.ndarray,
        w: np.ndarray,
        rng: np.random.Generator,
        batch_size: int,
        shard: Shard,
        width: int = 0
) -> Generator[Batch, None, Tuple[sp.csr_matrix, np.ndarray]]:
    """This process's batches from a shuffled buffer (rows ``rows`` of
    the file, whose class ids and weights are ``y`` and ``w``): with
    ``width`` (cells per global batch), full global batches only, and
    returns the ``(input, file rows)`` of the cells left over; without,
    all of the buffer."""
    X = sp.vstack(buffer).tocsr()
    index = np.concatenate(rows)
    order = rng.permutation(len(index))
    cut = len(order) - len(order) % width if width else len(order)
    for batch, scale in batch_rows(cut, batch_size, shard=shard):
        mine = np.sort(order[batch])
        weights = w[index[mine]].reshape(-1, 1).astype(np.float32)
        if scale != 1.0:
            weights *= np.float32(scale)
        yield (network_input(X, mine, True, transpose=True),
               [y[index[mine]].reshape(-1, 1)], [weights])
    rest = np.sort(order[cut:])
    return X[rest], index[rest]
