"""Minibatches from dense or sparse cells: built on the CPU one batch at a
time, or on the training device from a reference kept there.

:func:`minibatches` densifies (or cuts CSR triples from) the rows of one
batch at a time in NumPy/SciPy; :class:`DeviceBatches` keeps the whole
reference on the device and builds each batch there with gathers, so a GPU
never waits for the CPU to slice rows and transpose them. Both give the
same batches from the same generator, and both give each process of a
data-parallel run its share (:func:`batch_rows`).
"""
from typing import (Any, Callable, Iterable, Iterator, List, Optional, Sequence,
                    Tuple, Union)

import numpy as np
import scipy.sparse as sp
import torch

from deepchem_actinn.io.prefetch import prefetch

Matrix = Union[np.ndarray, sp.spmatrix, sp.sparray]
#: ``(rank, world_size)``: which share of each epoch this process trains on.
Shard = Tuple[int, int]


def dense_rows(X: Matrix, rows: Union[slice, np.ndarray]) -> np.ndarray:
    """Rows of X as a C-contiguous float32 array (sparse rows densified)."""
    part: Any = X[rows]
    if sp.issparse(part):
        part = part.toarray()
    return np.ascontiguousarray(part, dtype=np.float32)


def csr_triple(X: sp.csr_matrix) -> List[np.ndarray]:
    """A CSR matrix as ``[indices, offsets, values]`` for the sparse input of
    :class:`ACTINNClassifier`: int32 indices and offsets (int64 for a
    matrix beyond 2**31 - 1 non-zeros or columns), float32 values.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from deepchem_actinn.models.batches import csr_triple
    >>> triple = csr_triple(sp.csr_matrix([[0., 2.], [3., 0.]]))
    >>> [a.tolist() for a in triple], triple[0].dtype
    ([[1, 0], [0, 1], [2.0, 3.0]], dtype('int32'))
    """
    X = sp.csr_matrix(X)
    small = max(X.nnz, X.shape[1]) < np.iinfo(np.int32).max
    index = np.int32 if small else np.int64
    return [
        X.indices.astype(index, copy=False), X.indptr[:-1].astype(index,
                                                                  copy=False),
        X.data.astype(np.float32, copy=False)
    ]


def network_input(X: Matrix,
                  rows: Union[slice, np.ndarray],
                  sparse: bool,
                  transpose: bool = False) -> List[np.ndarray]:
    """Rows of X as the network's input list: dense, or a CSR triple
    (followed, with ``transpose``, by the triple of the rows' transpose,
    which the sparse first layer's backward pass uses)."""
    if not sparse:
        return [dense_rows(X, rows)]
    part = sp.csr_matrix(X)[rows]
    if not transpose:
        return csr_triple(part)
    return csr_triple(part) + csr_triple(part.T.tocsr())


def current_shard() -> Shard:
    """``(rank, world_size)`` of the initialised process group, ``(0, 1)``
    without one (:func:`~deepchem_actinn.models.distributed.world_info`)."""
    from deepchem_actinn.models.distributed import world_info
    info = world_info()
    return info.rank, info.world_size


def batch_rows(
        n: int,
        batch_size: int,
        rng: Optional[np.random.Generator] = None,
        pad: bool = False,
        shard: Optional[Shard] = None) -> Iterator[Tuple[np.ndarray, float]]:
    """This process's batches of one epoch: ``(rows, weight scale)``.

    The cells are shuffled by ``rng`` (in order when None) and cut into
    global batches of ``batch_size``; with ``shard = (rank, N)`` each
    global batch is cut into N per-process batches of ``ceil(batch_size /
    N)`` cells and process ``rank`` takes the ``rank``-th of each (per-process
    batch ``i`` goes to process ``i % N``), so every cell is trained on
    exactly once per epoch across the processes. The weight scale (1 but
    for a short last batch) makes DDP's average of the per-process mean
    losses equal to the mean over the global batch. Rows are sorted within
    a shuffled batch.

    Parameters
    ----------
    n: int
        Number of cells.
    batch_size: int
        Cells per global batch (rounded up to a multiple of N).
    rng: np.random.Generator, optional
        Draws the epoch's shuffle (one permutation of ``n``).
    pad: bool
        Repeat cells so that the last global batch is full.
    shard: (int, int), optional
        ``(rank, world_size)``; default :func:`current_shard`.

    Examples
    --------
    >>> from deepchem_actinn.models.batches import batch_rows
    >>> [r.tolist() for r, _ in batch_rows(5, 2, shard=(0, 1))]
    [[0, 1], [2, 3], [4]]
    >>> [(r.tolist(), s) for r, s in batch_rows(5, 2, shard=(1, 2))]
    [([1], 1.0), ([3], 1.0)]
    """
    rank, world = current_shard() if shard is None else shard
    local = -(-int(batch_size) // world)
    width = local * world
    order = np.arange(n) if rng is None else rng.permutation(n)
    for start in range(0, n, width):
        rows = order[start:start + width]
        if pad and len(rows) < width:
            rows = np.resize(rows, width)
        mine = rows[rank * local:(rank + 1) * local]
        if len(mine) == 0:
            continue
        if rng is not None:
            mine = np.sort(mine)
        yield mine, world * len(mine) / len(rows)


def step_scales(cells: Sequence[int], local: int, rank: int) -> np.ndarray:
    """The weight scale of each of process ``rank``'s batches in an epoch
    where each process cuts its own cells into batches of ``local`` (the
    last short): process ``q`` has ``cells[q]`` cells, and step ``i`` is
    every process's ``i``-th batch (a process out of batches joins the
    others' all-reduces, DDP's ``join``). DDP averages the N processes'
    mean losses, so a batch of ``n_p`` cells in a step of ``n`` cells in
    all is scaled by ``N n_p / n``: each step's loss is the mean over its
    cells, as one process's. 1 but in the steps where some process's batch
    is short or missing.

    Examples
    --------
    >>> from deepchem_actinn.models.batches import step_scales
    >>> step_scales([5, 3], 2, 0).tolist()  # steps of 2 + 2, 2 + 1, 1 + 0
    [1.0, 1.3333333333333333, 2.0]
    >>> step_scales([5, 3], 2, 1).tolist()
    [1.0, 0.6666666666666666]
    """
    counts = np.asarray(cells, dtype=np.int64)
    begins = np.arange(-(-int(counts[rank]) // local), dtype=np.int64) * local
    sizes = np.clip(counts[:, None] - begins[None, :], 0, local)
    return len(counts) * sizes[rank] / sizes.sum(axis=0)


def _labels_weights(y: np.ndarray, w: np.ndarray, rows: np.ndarray,
                    scale: float) -> Tuple[List, List]:
    weights = w[rows].reshape(-1, 1).astype(np.float32)
    if scale != 1.0:
        weights *= np.float32(scale)
    return [y[rows].reshape(-1, 1)], [weights]


def minibatches(
        X: Matrix,
        y: Optional[np.ndarray] = None,
        w: Optional[np.ndarray] = None,
        batch_size: int = 128,
        rng: Optional[np.random.Generator] = None,
        pad: bool = False,
        sparse: Optional[bool] = None,
        shard: Optional[Shard] = None,
        rows: Optional[np.ndarray] = None) -> Iterator[Tuple[List, List, List]]:
    """One epoch of ``([X_b], [y_b], [w_b])`` training batches.

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Cells x genes; a sparse X is densified one batch at a time.
    y, w: np.ndarray, optional
        Class ids and sample weights (default 1).
    batch_size: int
        Cells per batch (per step, over all processes of a distributed run).
    rng: np.random.Generator, optional
        Shuffles the cells; in order when None.
    pad: bool
        Repeat cells so that the last batch is full.
    sparse: bool, optional
        Yield CSR triples (:func:`csr_triple`) instead of dense rows;
        by default when X is sparse.
    shard: (int, int), optional
        ``(rank, world_size)``: yield only this process's share
        (:func:`batch_rows`); default: that of the initialised process group,
        the whole epoch without one.
    rows: np.ndarray, optional
        Train on these rows of X, y and w only (sorted, no repeats). The
        same batches as ``minibatches(X[rows], y[rows], w[rows], ...)``
        without copying X's rows: each batch's rows are sliced from X.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from deepchem_actinn.models.batches import minibatches
    >>> X = sp.csr_matrix(np.eye(5, dtype=np.float32))
    >>> batches = minibatches(X, np.arange(5), batch_size=2, sparse=False)
    >>> [b[0][0].shape for b in batches]
    [(2, 5), (2, 5), (1, 5)]
    """
    if sparse is None:
        sparse = sp.issparse(X)
    if sp.issparse(X):
        X = sp.csr_matrix(X)
    if y is None:
        y = np.zeros(X.shape[0], dtype=np.int64)
    if w is None:
        w = np.ones(X.shape[0], dtype=np.float32)
    n = X.shape[0] if rows is None else len(rows)
    for batch, scale in batch_rows(n, batch_size, rng, pad, shard):
        if rows is not None:
            batch = rows[batch]
        yield (network_input(X, batch, sparse, transpose=True),
               *_labels_weights(y, w, batch, scale))


def to_device(batch: Tuple[List, List, List],
              device: Union[str, torch.device]) -> Tuple[List, List, List]:
    """A batch's arrays as tensors on ``device``: through pinned memory and
    non-blocking copies for CUDA (so the copy overlaps the step), plain
    tensors on the CPU. Labels become int64, weights float32."""
    device = torch.device(device)
    cuda = device.type == "cuda"

    def move(a: Any, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        t = torch.as_tensor(a)
        if dtype is not None:
            t = t.to(dtype)
        if cuda and t.device.type == "cpu":
            t = t.pin_memory()
        return t.to(device, non_blocking=cuda)

    inputs, labels, weights = batch
    return ([move(a) for a in inputs], [move(labels[0], torch.int64)],
            [move(weights[0], torch.float32)])


def prefetch_to_device(batches: Iterable[Any],
                       device: Union[str, torch.device],
                       depth: int = 2) -> Iterator[Tuple[List, List, List]]:
    """``batches`` copied to ``device`` (:func:`to_device`) in a reader
    thread, up to ``depth`` ahead: the host-to-device copy of the next
    batch overlaps the current step."""
    return prefetch((to_device(b, device) for b in batches), depth)


class DeviceBatches:
    """A training reference kept on the device; batches gathered there.

    The CSR arrays (or the dense matrix), labels and weights are copied to
    ``device`` once; each batch's rows, their CSR triple and its transpose
    (for the sparse first layer's backward) are then built by gathers and a
    stable sort on the device: no per-batch row slicing, transposing or
    copying on the CPU. Same batches as :func:`minibatches` from the same
    generator.

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Normalised cells x genes.
    y, w: np.ndarray
        Class ids and sample weights.
    batch_size: int
        Cells per (global) batch.
    device: str or torch.device
        Where to keep the reference.
    rows: np.ndarray, optional
        Train on these rows of X, y and w only, as :func:`minibatches`
        does (the whole X goes to the device; no copy of the rows on the
        host).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from deepchem_actinn.models.batches import DeviceBatches
    >>> X = sp.csr_matrix(np.eye(5, dtype=np.float32))
    >>> source = DeviceBatches(X, np.arange(5), np.ones(5), 2, "cpu")
    >>> [b[1][0].ravel().tolist() for b in source.epoch(None)]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self,
                 X: Matrix,
                 y: np.ndarray,
                 w: np.ndarray,
                 batch_size: int,
                 device: Union[str, torch.device] = "cpu",
                 rows: Optional[np.ndarray] = None) -> None:
        self.device = torch.device(device)
        self.rows = None if rows is None else np.asarray(rows, np.int64)
        self.batch_size = int(batch_size)
        self.sparse = sp.issparse(X)
        self.shape = X.shape
        dev = self.device
        if self.sparse:
            X = sp.csr_matrix(X)
            index = torch.int32 if X.shape[1] < 2**31 - 1 else torch.int64
            self.indptr = torch.as_tensor(X.indptr.astype(np.int64), device=dev)
            self.indices = torch.as_tensor(X.indices, device=dev).to(index)
            self.data = torch.as_tensor(X.data, device=dev).float()
        else:
            self.X = torch.as_tensor(np.asarray(X, dtype=np.float32),
                                     device=dev)
        self.y = torch.as_tensor(np.asarray(y), device=dev).long()
        self.w = torch.as_tensor(np.asarray(w, dtype=np.float32), device=dev)

    @staticmethod
    def nbytes(X: Matrix) -> int:
        """Bytes the reference ``X`` takes on the device."""
        if sp.issparse(X):
            return int(X.nnz) * 8 + (X.shape[0] + 1) * 8  # type: ignore
        return int(np.prod(X.shape)) * 4

    @classmethod
    def fits(cls,
             X: Matrix,
             device: Union[str, torch.device],
             share: float = 0.5) -> bool:
        """Whether ``X`` takes at most ``share`` of the device's free memory
        (always True on the CPU)."""
        device = torch.device(device)
        if device.type != "cuda":
            return True
        free, _ = torch.cuda.mem_get_info(device)
        return cls.nbytes(X) <= share * free

    def epoch(
            self,
            rng: Optional[np.random.Generator],
            shard: Optional[Shard] = None) -> Iterator[Tuple[List, List, List]]:
        """This process's batches of one epoch (see :func:`batch_rows`)."""
        n = self.shape[0] if self.rows is None else len(self.rows)
        for rows, scale in batch_rows(n, self.batch_size, rng, False, shard):
            if self.rows is not None:
                rows = self.rows[rows]
            yield self.batch(rows, scale)

    def batch(self,
              rows: np.ndarray,
              scale: float = 1.0) -> Tuple[List, List, List]:
        """Rows ``rows`` as a training batch of tensors on the device."""
        r = torch.as_tensor(rows, device=self.device).long()
        w = self.w[r].reshape(-1, 1)
        if scale != 1.0:
            w = w * scale
        labels, weights = [self.y[r].reshape(-1, 1)], [w]
        if not self.sparse:
            return [self.X[r]], labels, weights
        starts = self.indptr[r]
        lengths = self.indptr[r + 1] - starts
        ends = torch.cumsum(lengths, 0)
        total = int(ends[-1]) if len(rows) else 0
        offsets = ends - lengths
        # position of each of the batch's non-zeros in the reference's arrays
        shift = torch.repeat_interleave(starts - offsets,
                                        lengths,
                                        output_size=total)
        pos = torch.arange(total, device=self.device) + shift
        idx, val = self.indices[pos], self.data[pos]
        kind = self.indices.dtype
        cell = torch.repeat_interleave(torch.arange(len(rows),
                                                    device=self.device),
                                       lengths,
                                       output_size=total)
        # the transpose: non-zeros grouped by gene, cells in order within
        order = torch.sort(idx, stable=True)[1]
        counts = torch.bincount(idx, minlength=self.shape[1])
        t_offsets = torch.cumsum(counts, 0) - counts
        inputs = [
            idx,
            offsets.to(kind), val, cell[order].to(kind),
            t_offsets.to(kind), val[order]
        ]
        return inputs, labels, weights


def epoch_source(
    X: Matrix,
    y: np.ndarray,
    w: np.ndarray,
    batch_size: int,
    device: Union[str, torch.device],
    rows: Optional[np.ndarray] = None,
    on_device: Optional[bool] = None
) -> Callable[[Optional[np.random.Generator]], Iterator[Tuple[List, List,
                                                              List]]]:
    """Where training draws its batches from, one epoch per call.

    On a GPU whose free memory holds the reference
    (:meth:`DeviceBatches.fits`), the reference goes there once and each batch is gathered there
    (:class:`DeviceBatches`); otherwise batches are cut on the CPU
    (:func:`minibatches`) in a reader thread, a few ahead (:func:`host_feed`;
    for a GPU the training loop copies them through pinned memory without
    waiting, :func:`prefetch_to_device`). Both give the same batches from
    the same generator.

    Parameters
    ----------
    X, y, w, batch_size, rows:
        As in :func:`minibatches`.
    device: str or torch.device
        The training device.
    on_device: bool, optional
        Force the choice (True: :class:`DeviceBatches`, also on the CPU);
        by default the rule above.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from deepchem_actinn.models.batches import epoch_source
    >>> X = sp.csr_matrix(np.eye(4, dtype=np.float32))
    >>> epoch = epoch_source(X, np.arange(4), np.ones(4), 2, "cpu")
    >>> [b[1][0].ravel().tolist() for b in epoch(None)]
    [[0, 1], [2, 3]]
    """
    device = torch.device(device)
    if on_device is None:
        on_device = device.type == "cuda" and DeviceBatches.fits(X, device)
    if on_device:
        return DeviceBatches(X, y, w, batch_size, device, rows).epoch

    def host(rng: Optional[np.random.Generator]) -> Iterator:
        return host_feed(
            minibatches(X,
                        y,
                        w,
                        batch_size,
                        rng,
                        sparse=sp.issparse(X),
                        rows=rows))

    return host


def host_feed(batches: Iterable[Any], depth: int = 4) -> Iterator:
    """Batches cut on the CPU, made ``depth`` ahead in a reader thread (for
    a GPU the training loop then copies them through pinned memory,
    :func:`prefetch_to_device`)."""
    return prefetch(batches, depth)
