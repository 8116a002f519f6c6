"""The one prediction path: cells in, hidden features and logits out.

Everything that predicts goes through here, on the ensemble's device, block
by block, through :meth:`ACTINNEnsemble.embed_first
<deepchem_actinn.models.network.ACTINNEnsemble.embed_first>`:

* :func:`embed` takes cells already normalised and aligned to the model's
  genes (dense, or sparse through the sparse first layer);
* :class:`EnsembleScorer` takes a query's raw counts in its own gene order.
  For sparse counts the first layers of all members are gathered into one
  weight table indexed by the *query's* columns (row ``j`` holds the weights
  of the model gene that query column ``j`` matches, zeros for a gene the
  model does not use); one ``embedding_bag`` over the raw CSR non-zeros then
  gives every member's first layer at once, with the library-size
  normalisation and log applied to the non-zeros on the fly, on the device
  (the raw non-zeros are copied there, from pinned memory on CUDA): no
  column remapping, no normalised copy, nothing densified. Dense counts are
  aligned and normalised (:func:`model_gene_log`), then go through
  :func:`embed`. An annotator's linear member
  (:class:`~deepchem_actinn.models.linear.LinearMember`) is scored in the
  same pass, by a second ``embedding_bag`` over the same normalised
  non-zeros, each scaled and clipped.

The library size of a cell is its counts in the *model's* genes (those of
them the query measures), not in all the genes of the query file: a query's
extra genes, which the reference never saw, change nothing, so the values
the networks see mean the same whatever gene panel the query carries
(:func:`model_gene_log`). The original ACTINN intersects the gene sets
before normalising, to the same effect [1]_.

References
----------
.. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
   types in single cell RNA sequencing. Bioinformatics 36(2):533-538 (2020).
"""
import copy
import math
from typing import Any, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError, counted
from deepchem_actinn.models.batches import network_input
from deepchem_actinn.models.linear import CLIP, LinearMember
from deepchem_actinn.models.network import ACTINNEnsemble
from deepchem_actinn.preprocessing.normalise import (cell_names,
                                                     check_normalisation,
                                                     library_size_log,
                                                     refuse_bad_values,
                                                     refuse_empty_cells)
from deepchem_actinn.types import Matrix

#: Cells per block for normalised input (bounds memory for wide matrices).
PREDICT_BLOCK = 4096

#: What to do about cells whose counts are all in genes the model does not
#: use (they have counts, so ``sc.pp.filter_cells(min_counts=1)`` keeps
#: them): a line that keeps the cells with counts in the model's genes.
BLIND_CELLS_HINT = (
    "leave them out first, keeping the cells with counts in the model's "
    "genes (the \"genes\" of annotator.json, annotator.genes_, matched "
    "ignoring case and Ensembl versions; scanpy: adata = adata[np.ravel("
    "adata[:, annotator.gene_mask(adata.var)].X.sum(axis=1)) > 0].copy())")

#: Cells whose linear-member logits are computed at a time on the CPU
#: (:meth:`EnsembleScorer._linear_logits`): their scaled values, about 5 MB
#: at 1,300 non-zeros a cell, stay in cache for the sum.
LINEAR_ROWS = 1024


def input_blocks(X: Matrix,
                 device: torch.device,
                 block: int = PREDICT_BLOCK) -> Iterator[Tuple[int, Any]]:
    """``(first row, network input)`` for blocks of ``block`` cells: a
    dense tensor, or for sparse X a CSR triple of tensors, on ``device``."""
    sparse = sp.issparse(X)
    for start in range(0, X.shape[0], block):
        arrays = network_input(X, slice(start, start + block), sparse)
        tensors = [torch.from_numpy(a).to(device) for a in arrays]
        yield start, (tensors if sparse else tensors[0])


def model_gene_log(X: Matrix,
                   positions: np.ndarray,
                   target_sum: float,
                   log_base: float,
                   cell_ids: Optional[Sequence[str]] = None,
                   check: bool = True) -> Matrix:
    """Raw counts -> the networks' input: the model's genes, each cell
    scaled by its counts in those genes, then ``log(1 + x)``
    (:func:`~deepchem_actinn.preprocessing.normalise.library_size_log` over
    the columns ``positions``).

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Raw counts, cells x the query's genes.
    positions: np.ndarray
        For each model gene, its column in X (-1 when the query lacks it).
    target_sum, log_base: float
        Each cell's model-gene counts are scaled to ``target_sum``; the log
        is to ``log_base``.
    cell_ids: sequence of str, optional
        Names for the cells in error messages.
    check: bool, default True
        Refuse negative, NaN and infinite values and cells with zero total
        counts (over all of X's genes); pass False for checked counts.

    Returns
    -------
    np.ndarray or scipy.sparse.csr_matrix
        float32, cells x ``len(positions)`` (sparse stays sparse). A cell
        with counts but none in the model's genes is a row of zeros (the
        scorer refuses such cells at prediction).

    Examples
    --------
    The third query gene is unknown to the model: its counts do not change
    the other two.

    >>> import numpy as np
    >>> from deepchem_actinn.models.inference import model_gene_log
    >>> model_gene_log(np.array([[1., 3., 96.], [1., 3., 0.]]),
    ...                np.array([0, 1]), 4.0, 2.0)
    array([[1., 2.],
           [1., 2.]], dtype=float32)
    """
    check_normalisation(target_sum, log_base, "log_base")
    return library_size_log(X, target_sum, log_base, cell_ids, check,
                            np.asarray(positions))


def embed(ensemble: ACTINNEnsemble,
          X: Matrix,
          block: int = PREDICT_BLOCK) -> Tuple[np.ndarray, np.ndarray]:
    """Hidden features and ensemble logits of normalised, aligned cells.

    Parameters
    ----------
    ensemble: ACTINNEnsemble
        The trained networks.
    X: np.ndarray or scipy.sparse matrix
        Normalised cells x the model's genes; a sparse X goes through the
        sparse first layer, never densified.
    block: int
        Cells computed at a time.

    Returns
    -------
    hidden: np.ndarray
        The members' last hidden layers side by side, float32.
    logits: np.ndarray
        Log of the members' mean probabilities, float32.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.models.network import seeded_ensemble
    >>> from deepchem_actinn.models.inference import embed
    >>> ensemble = seeded_ensemble(5, 3, n_networks=2, seed=0)
    >>> hidden, logits = embed(ensemble, np.ones((4, 5), np.float32))
    >>> hidden.shape, logits.shape
    ((4, 50), (4, 3))
    """
    hidden = np.zeros((X.shape[0], ensemble.feature_width), dtype=np.float32)
    logits = np.zeros((X.shape[0], ensemble.n_types), dtype=np.float32)
    ensemble.eval()
    with torch.inference_mode():
        for start, batch in input_blocks(X, ensemble.device, block):
            h, lg = ensemble.embed(batch)
            stop = start + h.shape[0]
            hidden[start:stop] = h.cpu().numpy()
            logits[start:stop] = lg.cpu().numpy()
    return hidden, logits


def member_logits(ensemble: ACTINNEnsemble,
                  X: Matrix,
                  block: int = PREDICT_BLOCK) -> np.ndarray:
    """Each member's log-probabilities ``(cells, members, types)`` for
    normalised, aligned cells (the validation scores of training)."""
    parts = []
    was_training = ensemble.training
    ensemble.eval()
    with torch.inference_mode():
        for _, batch in input_blocks(X, ensemble.device, block):
            parts.append(torch.log_softmax(ensemble(batch)[1], -1).cpu())
    ensemble.train(was_training)
    return torch.cat(parts).numpy()


class EnsembleScorer:
    """Hidden features and ensemble logits from raw counts, chunk by chunk.

    Parameters
    ----------
    ensemble: ACTINNEnsemble
        Trained networks over the model's genes.
    positions: np.ndarray
        For each model gene, its column in the query (-1 when missing), as
        given by :meth:`ACTINNAnnotator.gene_positions`.
    n_query_genes: int
        Number of columns of the query matrix.
    target_sum, log_base: float
        The library-size normalisation the networks were trained with; a
        cell's library size is its counts in the model's genes (the query
        columns ``positions`` names), as in :func:`model_gene_log`.
    device: torch.device, optional
        Where to compute.
    block: int, default 16,384
        Cells computed at a time; bounds the temporaries of a large chunk.
    linear: LinearMember, optional
        A logistic regression over the same input
        (:mod:`~deepchem_actinn.models.linear`), scored in the same pass
        over the non-zeros; its logits are the third item :meth:`score`
        returns.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, torch
    >>> from deepchem_actinn.models.network import seeded_ensemble
    >>> from deepchem_actinn.models.inference import EnsembleScorer
    >>> ensemble = seeded_ensemble(3, 2, seed=0)
    >>> scorer = EnsembleScorer(ensemble, np.array([2, 0, -1]), 4, 1e4, 2.0)
    >>> hidden, logits = scorer(sp.csr_matrix([[1., 0., 3., 5.]]))
    >>> hidden.shape, logits.shape
    ((1, 25), (1, 2))
    """

    def __init__(self,
                 ensemble: ACTINNEnsemble,
                 positions: np.ndarray,
                 n_query_genes: int,
                 target_sum: float,
                 log_base: float,
                 device=None,
                 block: int = 16384,
                 linear: Optional[LinearMember] = None) -> None:
        check_normalisation(target_sum, log_base, "log_base")
        self.ensemble = ensemble.eval()
        self.linear = linear
        self.positions = np.asarray(positions)
        self.block = int(block)
        self.target_sum = float(target_sum)
        self.log_base = float(log_base)
        self.device = torch.device(device) if device is not None \
            else ensemble.device
        if self.device != ensemble.device:  # a copy; the caller's stays
            self.ensemble = copy.deepcopy(ensemble).to(self.device)
        self.n_query_genes = int(n_query_genes)
        present = self.positions[self.positions >= 0]
        if present.size and int(present.max()) >= self.n_query_genes:
            raise ACTINNInputError(
                "the query matrix has %d genes (columns), but its gene names "
                "place a model gene at column %d: the values and the gene "
                "names do not fit (read differently from the file?)" %
                (self.n_query_genes, int(present.max()) + 1))
        # how many model genes each query column feeds: its weight in the
        # library size (0 for a gene the model does not use)
        self.multiplicity = np.bincount(
            present, minlength=self.n_query_genes).astype(np.float32)
        self.bias = self.ensemble.first.bias.detach()
        self._table: Optional[torch.Tensor] = None  # made on first use
        self._linear: Optional[Tuple[torch.Tensor, ...]] = None

    @property
    def table(self) -> torch.Tensor:
        """The members' first-layer weights gathered into the query's gene
        order (query genes x members x units), divided by ``ln(log_base)``."""
        if self._table is None:
            with torch.no_grad():
                weights = self.ensemble.first.weight
                table = torch.zeros(self.n_query_genes,
                                    weights.shape[1],
                                    dtype=weights.dtype,
                                    device=self.device)
                present = np.flatnonzero(self.positions >= 0)
                table[torch.as_tensor(self.positions[present],
                                      device=self.device)] = \
                    weights[torch.as_tensor(present, device=self.device)]
                # log_base(1 + y) = log1p(y) / ln(base): the division is
                # folded into the weights, so the non-zeros need a log1p.
                self._table = table.mul_(1.0 /
                                         math.log(self.log_base)).contiguous()
        return self._table

    def _linear_tables(self) -> Tuple[torch.Tensor, ...]:
        """The regression in the query's gene order: its weights (query
        genes x types), each query gene's scale (1 / standard deviation /
        ``ln(log_base)``, 0 for a gene the model does not use) and its
        intercept."""
        if self._linear is None:
            assert self.linear is not None
            present = np.flatnonzero(self.positions >= 0)
            columns = self.positions[present]
            n_types = self.linear.coef.shape[0]
            weights = np.zeros((self.n_query_genes, n_types), np.float32)
            weights[columns] = self.linear.coef.T[present]
            scale = np.zeros(self.n_query_genes, np.float32)
            scale[columns] = self.linear.inv_scale[present] / math.log(
                self.log_base)
            self._linear = tuple(
                torch.from_numpy(a).to(self.device)
                for a in (weights, scale, self.linear.intercept))
        return self._linear

    def __call__(self,
                 X: Matrix,
                 cell_ids: Union[Sequence[str], np.ndarray] = (),
                 check: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """``(hidden, logits)`` of a chunk of raw counts (:meth:`score`
        without the linear member's logits)."""
        hidden, logits, _ = self.score(X, cell_ids, check)
        return hidden, logits

    def score(
        self,
        X: Matrix,
        cell_ids: Union[Sequence[str], np.ndarray] = (),
        check: bool = True
    ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """``(hidden, logits, linear_logits)`` of a chunk of raw counts,
        cells x query genes (``linear_logits`` None without a linear
        member).

        Parameters
        ----------
        X: np.ndarray or scipy.sparse matrix
            Raw counts, cells x query genes (dense counts are normalised,
            aligned and computed by :func:`embed`).
        cell_ids: sequence of str, optional
            Names for the cells in error messages.
        check: bool, default True
            Look for negative, NaN and infinite values; pass False only for
            chunks already checked (as :func:`iter_cell_chunks` does). Cells
            with zero total counts are refused either way.

        Raises
        ------
        ACTINNCellError
            A cell sums to zero, or has no counts in the model's genes, or
            the chunk holds negative, NaN or infinite values; the message
            names the cells (by ``cell_ids`` if given).
        """
        if not sp.issparse(X):
            return self._dense(X, cell_ids, check)
        X = sp.csr_matrix(X)
        if X.dtype != np.float32:
            X = X.astype(np.float32)
        if check:
            refuse_bad_values(X, cell_ids)
        hidden = np.empty((X.shape[0], self.ensemble.feature_width), np.float32)
        logits = np.empty((X.shape[0], self.ensemble.n_types), np.float32)
        linear = None if self.linear is None else np.empty_like(logits)
        if X.shape[1] != self.n_query_genes:
            raise ACTINNInputError(
                "the query matrix has %d genes, its gene names %d" %
                (X.shape[1], self.n_query_genes))
        refuse_empty_cells(_row_sums(X.indptr, X.data), cell_ids)
        # library size: counts in the model's genes only, each query gene
        # weighted by how many model genes it feeds
        totals = X @ self.multiplicity  # one pass over the non-zeros
        self._refuse_blind(np.flatnonzero(totals <= 0), cell_ids)
        for start in range(0, X.shape[0], self.block):
            stop = min(start + self.block, X.shape[0])
            parts = self._block(X.indptr[start:stop + 1], X.indices, X.data,
                                totals[start:stop])
            hidden[start:stop], logits[start:stop] = parts[:2]
            if linear is not None:
                linear[start:stop] = parts[2]
        return hidden, logits, linear

    def _block(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
               totals: np.ndarray) -> Tuple[np.ndarray, ...]:
        """Rows ``indptr`` of a CSR matrix; temporaries stay block-sized.

        The raw non-zeros, their columns and the rows' offsets go to the
        device as they are (from pinned memory, without waiting, on CUDA);
        the normalisation ``log(1 + x * target / total)`` is computed there
        (:meth:`_normalise`), so the CPU only slices the matrix.
        """
        lo, hi = int(indptr[0]), int(indptr[-1])
        if indices.dtype not in (np.int32, np.int64):
            indices = indices.astype(np.int64)
        with torch.inference_mode():
            rows = self._to_device((indptr - lo).astype(indices.dtype))
            columns = self._to_device(indices[lo:hi])
            weights = self._normalise(self._to_device(data[lo:hi]), rows,
                                      self._to_device(totals))
            first = F.embedding_bag(columns,
                                    self.table,
                                    rows[:-1],
                                    mode="sum",
                                    per_sample_weights=weights).add_(self.bias)
            hidden, logits = self.ensemble.embed_first(first)
            out = (hidden.cpu().numpy(), logits.cpu().numpy())
            if self.linear is None:
                return out
            linear = self._linear_logits(indptr - lo, columns, rows, weights)
            return out + (linear.cpu().numpy(),)

    def _linear_logits(self, offsets: np.ndarray, columns: torch.Tensor,
                       rows: torch.Tensor,
                       weights: torch.Tensor) -> torch.Tensor:
        """The linear member's logits of a block (``offsets``: its CSR row
        offsets from 0 on the host, ``rows`` the same on the device): each
        normalised value over its gene's standard deviation, clipped, then
        a second sum over the same non-zeros. On the CPU
        :data:`LINEAR_ROWS` cells at a time, so that the scaled values are
        still in cache when summed (a third less time than the whole
        block's at once; the same sums, row by row)."""
        table, scale, intercept = self._linear_tables()
        n = len(offsets) - 1
        step = LINEAR_ROWS if columns.device.type == "cpu" else max(n, 1)
        out = torch.empty(n,
                          table.shape[1],
                          dtype=table.dtype,
                          device=table.device)
        for start in range(0, n, step):
            stop = min(start + step, n)
            lo, hi = int(offsets[start]), int(offsets[stop])
            part = columns[lo:hi]
            # index_select, not scale[columns]: 3x faster on the CPU
            scaled = torch.index_select(scale, 0, part).mul_(
                weights[lo:hi]).clamp_(max=CLIP)
            out[start:stop] = F.embedding_bag(part,
                                              table,
                                              rows[start:stop] - lo,
                                              mode="sum",
                                              per_sample_weights=scaled)
        return out.add_(intercept)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        """A NumPy array on the device: shared, not copied, on the CPU;
        copied from pinned memory without waiting on CUDA."""
        array = np.ascontiguousarray(array)
        if not array.flags.writeable:  # from_numpy warns on read-only memory
            array = array.copy()
        tensor = torch.from_numpy(array)
        if self.device.type == "cpu":
            return tensor
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    def _normalise(self,
                   values: torch.Tensor,
                   rows: torch.Tensor,
                   totals: torch.Tensor,
                   host_repeat: Optional[bool] = None) -> torch.Tensor:
        """``log1p(x * target_sum / total)`` of a block's raw non-zeros, on
        their device (``1 / ln(log_base)`` is folded into the weight table):
        :func:`~deepchem_actinn.preprocessing.normalise.library_size_log`
        over the model's genes, in PyTorch where the networks run, so that
        the normalised values are made there and no copy of them is.

        ``rows`` holds the block's CSR row offsets from 0 (one more than its
        rows), ``totals`` each row's library size. Float32 throughout: a
        row's scale ``target_sum / total`` (0 for a zero total), times each
        of its values, then ``log1p``, bit for bit the same on every path.
        The row scales are spread over the values by ``np.repeat`` on the
        CPU (``host_repeat``, the default there: 8 ms against 81 ms for
        ``torch.repeat_interleave`` on 16,384 cells of ~1,300 non-zeros, one
        thread) and by ``repeat_interleave`` on other devices.
        """
        totals = totals.to(torch.float32)
        scale = torch.where(
            totals > 0,
            torch.full_like(totals, self.target_sum).div_(totals),
            torch.zeros_like(totals))
        counts = rows.diff()
        if host_repeat is None:
            host_repeat = values.device.type == "cpu"
        if host_repeat:
            per_value = torch.from_numpy(
                np.repeat(scale.cpu().numpy(),
                          counts.cpu().numpy())).to(values.device)
        else:
            per_value = torch.repeat_interleave(scale,
                                                counts,
                                                output_size=values.shape[0])
        return per_value.mul_(values).log1p_()

    def _dense(
            self, X: np.ndarray, cell_ids: Union[Sequence[str], np.ndarray],
            check: bool) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """Dense raw counts: align to the model's genes, normalise, embed
        (always checked: a dense check costs little beside the copy)."""
        del check
        ids = list(cell_ids) if len(cell_ids) else None
        if X.shape[1] != self.n_query_genes:
            raise ACTINNInputError(
                "the query matrix has %d genes, its gene names %d" %
                (X.shape[1], self.n_query_genes))
        values = model_gene_log(X, self.positions, self.target_sum,
                                self.log_base, ids)
        self._refuse_blind(np.flatnonzero(~values.any(axis=1)), cell_ids)
        hidden, logits = embed(self.ensemble, values)
        linear = None if self.linear is None else self.linear.logits(values)
        return hidden, logits, linear

    def _refuse_blind(self, rows: np.ndarray,
                      cell_ids: Union[Sequence[str], np.ndarray]) -> None:
        """Refuse cells with counts but none in the model's genes: their
        input is all zeros, and any label would be the networks' guess for
        an empty cell."""
        if len(rows):
            raise ACTINNCellError(
                "%s no counts in the model's %d genes (all their "
                "counts are in genes the model does not use), so nothing can "
                "tell their type: %s; %s" %
                (counted(len(rows), "cell", "has/have"), len(self.positions),
                 cell_names(cell_ids, rows), BLIND_CELLS_HINT))


def _row_sums(indptr: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Sum of each CSR row's stored values (0 for an empty row)."""
    counts = np.diff(indptr)
    sums = np.zeros(len(counts), np.float64)
    filled = counts > 0
    if filled.any():
        lo, hi = int(indptr[0]), int(indptr[-1])
        # each filled row's segment runs to the next filled row's start
        sums[filled] = np.add.reduceat(data[lo:hi], (indptr[:-1] - lo)[filled])
    return sums
