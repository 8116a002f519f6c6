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

from deepchem_actinn.annotator.fitting import (digest,
                                               dropped_genes_hold_counts,
                                               model_rows)
from deepchem_actinn.io.prefetch import prefetch
from deepchem_actinn.io import (iter_cell_chunks, labels_from, match_labels,
                                read_cell_ids, read_gene_names)
from deepchem_actinn.io.formats import path_and_format
from deepchem_actinn.io.h5ad import settle_matrix
from deepchem_actinn.models.batches import (Shard, current_shard, network_input,
                                            step_scales)
from deepchem_actinn.preprocessing.gene_stats import GeneStats
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
    detected_format: str
        The file's format, as given or detected (``"h5ad"``, ``"csv"``,
        ...).
    matrix: str or None
        For an h5ad file, the matrix the counts are read from (``"X"``,
        ``".raw.X"`` or ``"layers['counts']"``), in the words a record
        uses, as the first look chose it
        (:func:`~deepchem_actinn.io.h5ad.settle_matrix`); None for the
        other formats, which hold one matrix.

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
        # every pass reads the matrix the first look chose (and says so
        # once); the record names the matrix that look opened
        self.layer, self.use_raw, self.matrix = settle_matrix(
            path,
            format,
            layer=layer,
            use_raw=use_raw,
            allow_non_integer=self.allow_non_integer)
        self.orientation = orientation
        self.format = format
        self.detected_format = path_and_format(path, format)[1]
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

    def _blocks(
            self,
            starts=None,
            check: bool = True,
            tell: Optional[bool] = None) -> Iterator[Tuple[int, sp.csr_matrix]]:
        """``(first row, raw CSR block)`` in the order of ``starts``;
        ``check=False`` skips checking values an earlier pass checked;
        ``tell``: as in :func:`~deepchem_actinn.io.iter_cell_chunks`."""
        chunks = iter_cell_chunks(self.path,
                                  self.block_size,
                                  self.format,
                                  upper_case_genes=self.upper_case_genes,
                                  starts=starts,
                                  allow_non_integer=self.allow_non_integer,
                                  check=check,
                                  layer=self.layer,
                                  use_raw=self.use_raw,
                                  orientation=self.orientation,
                                  tell=tell)
        order = iter(starts) if starts is not None else None
        row = 0
        for ids, X in prefetch(chunks):
            start = int(next(order)) if order is not None else row
            row = start + len(ids)
            yield start, X if self.columns is None else X[:, self.columns]

    def scan(self,
             keep_rows: np.ndarray,
             shard: Optional[Shard] = None) -> Tuple[GeneStats, sp.csr_matrix]:
        """One pass: the gene statistics of the normalised labelled cells,
        and the raw counts of rows ``keep_rows`` (sorted), all genes.

        In a distributed run (``shard``, default: the process group's) the
        processes share the pass: process ``rank`` of N reads the
        ``rank``-th of N near-equal runs of consecutive blocks (so each
        reads its part of the file in order), and the processes then
        exchange their sums and kept rows (all-gathered, added up in rank
        order, so every process holds the same statistics and rows as a
        single process, up to float64 rounding). Before reading, the
        processes compare the file's cell ids, genes and labels, and refuse
        to go on unless they agree (:meth:`refuse_different_files`).
        """
        rank, world = current_shard() if shard is None else shard
        mine = None
        if world > 1:
            self.refuse_different_files()
            mine = np.array_split(np.arange(0, len(self), self.block_size),
                                  world)[rank]
        kept: List[sp.csr_matrix] = []
        stats = GeneStats(0, np.zeros(len(self.genes)),
                          np.zeros(len(self.genes)))
        for start, X in self._blocks(mine, tell=True):
            rows = keep_rows[(keep_rows >= start) &
                             (keep_rows < start + X.shape[0])]
            if len(rows):
                kept.append(X[rows - start])
            labelled = np.flatnonzero(self.labelled[start:start + X.shape[0]])
            if len(labelled) < X.shape[0]:
                X = X[labelled]
            if X.shape[0]:
                stats = stats.add(
                    library_size_log(X, self.target_sum, self.log_base,
                                     self.cell_ids[start + labelled]))
        rows = sp.vstack(kept).tocsr() if kept else sp.csr_matrix(
            (0, len(self.genes)), dtype=np.float32)
        if world > 1:
            stats, rows = _gathered(stats, rows)
        # every process checked its blocks: the whole file has been checked
        self._scanned = True
        if stats.n_cells == 0:
            raise ValueError("no cells to compute gene statistics on")
        return stats, rows

    def refuse_different_files(self) -> None:
        """Refuse, on every process at once, unless every process's file
        has the same cell ids in the same order, genes and labels
        (:func:`~deepchem_actinn.models.distributed.refuse_unequal`): the
        processes of a shared pass each read only their part of the file,
        so their parts must be parts of one file."""
        from deepchem_actinn.models import distributed
        distributed.refuse_unequal(
            {
                "cell ids": digest(len(self), list(self.cell_ids)),
                "genes": digest(list(self.genes)),
                "labels": digest(list(self.labels)),
            }, "reference")

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
        batches; the cells left over (fewer than one batch) stay in the
        buffer for the next fill, so only the epoch's last batch can be
        short, as in memory.

        In a distributed run (``shard``, default: the process group's) the
        processes share the reading, as PyTorch's ``DistributedSampler``
        shares a dataset's indices: every process draws the same random
        order of the blocks (the same ``rng``), and block ``k`` of that
        order is read by process ``k % N`` alone, which shuffles its cells
        in a buffer of its own (a generator seeded from ``rng`` and its
        rank) and cuts them into batches of ``ceil(batch_size / N)``. A
        step is every process's next batch, so it holds about
        ``batch_size`` cells, DDP averages the gradients, and the batch
        weights are scaled so that each step's loss is the mean over its
        cells (:func:`~deepchem_actinn.models.batches.step_scales`; where
        the processes' numbers of batches differ, the last steps have fewer
        processes, and those out of batches join the others' all-reduces).
        Every training cell is seen once per epoch, by one process; each
        process reads about 1/N of the file and holds its own buffer of
        ``buffer_cells``. One process draws exactly its former shuffles.

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
        rank, world = current_shard() if shard is None else shard
        # every process: the same block order, from the same rng
        order = rng.permutation(np.arange(0, len(self), self.block_size))
        local = -(-int(batch_size) // world)  # cells per process and step
        per_block = np.add.reduceat(train.astype(np.int64),
                                    np.arange(0, len(self), self.block_size))
        cells = [
            int(per_block[order[r::world] // self.block_size].sum())
            for r in range(world)
        ]
        scales = iter(step_scales(cells, local, rank))
        # the shuffles of this process's own cells: its own generator
        shuffle = rng if world == 1 else np.random.default_rng(
            [int(rng.integers(2**63)), rank])
        buffer: List[sp.csr_matrix] = []
        rows: List[np.ndarray] = []
        held = 0
        # values the statistics pass (scan) checked are not checked again
        for start, X in self._blocks(order[rank::world],
                                     check=not self._scanned):
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
            if held >= max(buffer_cells, local):
                left, kept = yield from _flush(buffer, rows, y, w, shuffle,
                                               local, scales, True)
                buffer, rows, held = [left], [kept], len(kept)
        if held:
            yield from _flush(buffer, rows, y, w, shuffle, local, scales)


def _gathered(stats: GeneStats,
              rows: sp.csr_matrix) -> Tuple[GeneStats, sp.csr_matrix]:
    """Every process's part of a shared :meth:`ReferenceFile.scan`, put
    together in rank order on every process: the sums added up (in the
    same order everywhere, so every process holds the same statistics) and
    the kept rows stacked (rank order is file order)."""
    from deepchem_actinn.models.distributed import all_gather_object
    parts = all_gather_object((stats, rows))
    total = parts[0][0]
    for part, _ in parts[1:]:
        total = GeneStats(total.n_cells + part.n_cells,
                          total.total + part.total, total.sum_sq + part.sum_sq)
    return total, sp.vstack([kept for _, kept in parts]).tocsr()


def _flush(
    buffer: List[sp.csr_matrix],
    rows: List[np.ndarray],
    y: np.ndarray,
    w: np.ndarray,
    rng: np.random.Generator,
    local: int,
    scales: Iterator[float],
    full_only: bool = False
) -> Generator[Batch, None, Tuple[sp.csr_matrix, np.ndarray]]:
    """Batches of ``local`` cells from a buffer shuffled by ``rng`` (rows
    ``rows`` of the file, whose class ids and weights are ``y`` and
    ``w``), the weights of each scaled by the next of ``scales``; with
    ``full_only``, full batches only, returning the ``(input, file rows)``
    of the cells left over; without, all of the buffer."""
    X = sp.vstack(buffer).tocsr()
    index = np.concatenate(rows)
    order = rng.permutation(len(index))
    cut = len(order) - len(order) % local if full_only else len(order)
    for begin in range(0, cut, local):
        mine = np.sort(order[begin:begin + local])
        weights = w[index[mine]].reshape(-1, 1).astype(np.float32)
        scale = next(scales)
        if scale != 1.0:
            weights *= np.float32(scale)
        yield (network_input(X, mine, True, transpose=True),
               [y[index[mine]].reshape(-1, 1)], [weights])
    rest = np.sort(order[cut:])
    return X[rest], index[rest]
