"""A labelled reference too large for memory, read from disk block by block.

Used by :meth:`ACTINNAnnotator.fit_file`. One pass computes the per-gene
statistics of the normalised data (for the gene filter) and collects the
held-out validation cells; each training epoch then reads the file in
blocks of cells in a random order and shuffles them through a buffer, so a
file sorted by cell type still gives mixed minibatches while only the
buffer is in memory.
"""
import logging
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.io.prefetch import prefetch
from deepchem_actinn.io import (iter_cell_chunks, match_labels, read_cell_ids,
                                read_gene_names, read_labels)
from deepchem_actinn.models.batches import Shard, current_shard, minibatches
from deepchem_actinn.preprocessing.gene_stats import GeneStats, gene_statistics
from deepchem_actinn.preprocessing.gene_filter import take_columns
from deepchem_actinn.preprocessing.normalise import library_size_log

logger = logging.getLogger(__name__)


class ReferenceFile:
    """Cells, genes and labels of a reference file, read in blocks.

    Parameters
    ----------
    path: str or Path
        Counts in any readable format; h5ad, ACTINN HDF5 and 10x HDF5 are
        read block by block, other formats are read whole per pass.
    labels: pandas.Series or path
        Cell type by cell id (:func:`read_labels`), matched by id.
    format: str, optional
        Force the file format.
    upper_case_genes: bool, default True
        As in :func:`read`.
    target_sum, log_base: float
        Normalisation (see :func:`library_size_log`).
    block_size: int, default 4096
        Cells per block read from the file.

    Examples
    --------
    >>> import numpy as np, anndata, scipy.sparse as sp, pandas as pd
    >>> import os, tempfile
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
                 block_size: int = 4096) -> None:
        self.path = str(path)
        self.format = format
        self.upper_case_genes = upper_case_genes
        self.target_sum = float(target_sum)
        self.log_base = float(log_base)
        self.block_size = int(block_size)
        labels_path = "labels"
        if not isinstance(labels, pd.Series):
            labels_path = str(labels)
            labels = read_labels(labels)
        self.cell_ids = read_cell_ids(path, format)
        self.genes = np.asarray(read_gene_names(path, format, upper_case_genes),
                                dtype=object)
        self.labels = match_labels(self.cell_ids, labels, labels_path)
        self._scanned = False  # whether scan() has checked every value

    def __len__(self) -> int:
        return len(self.cell_ids)

    def _blocks(self,
                starts=None,
                check: bool = True) -> Iterator[Tuple[int, sp.csr_matrix]]:
        """``(first row, normalised CSR block)`` in the order of ``starts``;
        ``check=False`` skips checking values an earlier pass checked."""
        chunks = iter_cell_chunks(self.path,
                                  self.block_size,
                                  self.format,
                                  upper_case_genes=self.upper_case_genes,
                                  starts=starts,
                                  check=check)
        order = iter(starts) if starts is not None else None
        row = 0
        for ids, X in prefetch(chunks):
            start = int(next(order)) if order is not None else row
            row = start + len(ids)
            yield start, library_size_log(X,
                                          self.target_sum,
                                          self.log_base,
                                          ids,
                                          check=check)

    def scan(self, keep_rows: np.ndarray) -> Tuple[GeneStats, sp.csr_matrix]:
        """One pass: gene statistics of all cells, and rows ``keep_rows``
        (sorted) normalised, all genes."""
        kept: List[sp.csr_matrix] = []

        def blocks():
            for start, X in self._blocks():
                rows = keep_rows[(keep_rows >= start) &
                                 (keep_rows < start + X.shape[0])]
                if len(rows):
                    kept.append(X[rows - start])
                yield X

        stats = gene_statistics(blocks())
        self._scanned = True
        rows = sp.vstack(kept).tocsr() if kept else sp.csr_matrix(
            (0, len(self.genes)), dtype=np.float32)
        return stats, rows

    def epoch(
            self,
            rng: np.random.Generator,
            columns: np.ndarray,
            y: np.ndarray,
            w: np.ndarray,
            train: np.ndarray,
            batch_size: int,
            buffer_cells: int = 65536,
            shard: Optional[Shard] = None) -> Iterator[Tuple[list, list, list]]:
        """Minibatches of one shuffled epoch over the training rows.

        Blocks are read in a random order into a buffer of about
        ``buffer_cells`` cells, which is shuffled and cut into batches.
        In a distributed run (``shard``, default: the process group's) every
        process draws the same block order and reads only its own blocks
        (block ``i`` to process ``i % N``), into a buffer of
        ``buffer_cells / N`` cells cut into batches of ``ceil(batch_size /
        N)``: each training cell is seen once per epoch across the
        processes, which may end with different numbers of batches (the
        training loop joins them).

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
        """
        rank, world = current_shard() if shard is None else shard
        starts = rng.permutation(np.arange(0, len(self),
                                           self.block_size))[rank::world]
        local_batch = -(-batch_size // world)
        if world > 1:  # the processes' buffers differ: keep ``rng`` in step
            rng = np.random.default_rng([int(rng.integers(2**32)), rank])
        buffer_cells = -(-buffer_cells // world)
        buffer: List[sp.csr_matrix] = []
        rows: List[np.ndarray] = []
        held = 0
        # values the statistics pass (scan) checked are not checked again
        for start, X in self._blocks(starts, check=not self._scanned):
            index = np.arange(start, start + X.shape[0])
            use = train[index]
            if not use.any():
                continue
            buffer.append(
                take_columns(X if use.all() else X[np.flatnonzero(use)],
                             columns))
            rows.append(index[use])
            held += int(use.sum())
            if held >= buffer_cells:
                yield from self._flush(buffer, rows, y, w, rng, local_batch)
                buffer, rows, held = [], [], 0
        if buffer:
            yield from self._flush(buffer, rows, y, w, rng, local_batch)

    @staticmethod
    def _flush(buffer, rows, y, w, rng, batch_size):
        X = sp.vstack(buffer).tocsr()
        index = np.concatenate(rows)
        yield from minibatches(X,
                               y[index],
                               w[index],
                               batch_size,
                               rng,
                               shard=(0, 1))
