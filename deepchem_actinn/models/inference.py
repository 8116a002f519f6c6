"""Fast prediction on raw sparse counts with an ensemble of ACTINN networks.

For a query in its own gene order, the first layers of all networks are
fused into one weight table indexed by the *query's* columns: row ``j`` holds
the weights of the model gene that query column ``j`` matches (zeros for a
query gene the model does not use). One ``embedding_bag`` over the raw CSR
non-zeros then gives every network's first hidden layer at once, with the
library-size normalisation and log applied to the non-zeros on the fly: no
column remapping, no normalised copy of the matrix, nothing densified.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.models.network import ACTINNClassifier


class EnsembleScorer:
    """Hidden features and ensemble logits from raw counts, chunk by chunk.

    Parameters
    ----------
    networks: list of ACTINNClassifier
        Trained networks over the model's genes.
    positions: np.ndarray
        For each model gene, its column in the query (-1 when missing), as
        given by :meth:`ACTINNAnnotator.gene_positions`.
    n_query_genes: int
        Number of columns of the query matrix.
    target_sum, log_base: float
        The library-size normalisation the networks were trained with.
    device: torch.device, optional
        Where to compute.
    block: int, default 16,384
        Cells computed at a time; bounds the temporaries of a large chunk.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, torch
    >>> from deepchem_actinn.models.network import ACTINNClassifier
    >>> net = ACTINNClassifier(input_size=3, output_dim=2)
    >>> scorer = EnsembleScorer([net], np.array([2, 0, -1]), 4, 1e4, 2.0)
    >>> hidden, logits = scorer(sp.csr_matrix([[1., 0., 3., 5.]]))
    >>> hidden.shape, logits.shape
    ((1, 25), (1, 2))
    """

    def __init__(self,
                 networks: Sequence[ACTINNClassifier],
                 positions: np.ndarray,
                 n_query_genes: int,
                 target_sum: float,
                 log_base: float,
                 device=None,
                 block: int = 16384) -> None:
        self.networks = [net.eval() for net in networks]
        self.block = int(block)
        self.target_sum = float(target_sum)
        self.device = device or next(networks[0].parameters()).device
        with torch.no_grad():
            first = [net.first for net in networks]
            weights = torch.cat([layer.weight for layer in first], 1)
            table = torch.zeros(n_query_genes,
                                weights.shape[1],
                                dtype=weights.dtype,
                                device=self.device)
            present = np.flatnonzero(positions >= 0)
            table[torch.as_tensor(positions[present], device=self.device)] = \
                weights[torch.as_tensor(present, device=self.device)].to(
                    self.device)
            # log_base(1 + y) = log1p(y) / ln(base): the division is folded
            # into the weights, so the non-zeros only need a log1p.
            self.table = table.mul_(1.0 / math.log(log_base)).contiguous()
            self.bias = torch.cat([layer.bias for layer in first
                                  ]).to(self.device)
        self.widths = [layer.weight.shape[1] for layer in first]

    def __call__(self,
                 X: sp.csr_matrix,
                 cell_ids: Union[Sequence[str], np.ndarray] = (),
                 check: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """``(hidden, logits)`` of a chunk of raw counts, cells x query genes.

        Parameters
        ----------
        X: scipy.sparse.csr_matrix
            Raw counts, cells x query genes.
        cell_ids: sequence of str, optional
            Names for the cells in error messages.
        check: bool, default True
            Look for negative, NaN and infinite values; pass False only for
            chunks already checked (as :func:`iter_cell_chunks` does). Cells
            with zero total counts are refused either way.

        Raises
        ------
        ACTINNInputError
            A cell sums to zero, or the chunk holds negative, NaN or infinite
            values; the message names the cells (by ``cell_ids`` if given).
        """
        X = sp.csr_matrix(X)
        if X.dtype != np.float32:
            X = X.astype(np.float32)
        if check:
            self._check_values(X, cell_ids)
        hidden = np.empty(
            (X.shape[0], sum(net.head.in_features for net in self.networks)),
            np.float32)
        logits = np.empty((X.shape[0], self.networks[0].head.out_features),
                          np.float32)
        totals = _row_sums(X.indptr, X.data)
        zero = np.flatnonzero(totals <= 0)
        if len(zero):
            raise ACTINNInputError(
                "%d cells have zero total counts and cannot be library-size "
                "normalised: %s" % (len(zero), _names(zero, cell_ids)))
        for start in range(0, X.shape[0], self.block):
            stop = min(start + self.block, X.shape[0])
            hidden[start:stop], logits[start:stop] = self._block(
                X.indptr[start:stop + 1], X.indices, X.data, totals[start:stop])
        return hidden, logits

    def _block(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
               totals: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Rows ``indptr`` of a CSR matrix; temporaries stay block-sized."""
        lo, hi = int(indptr[0]), int(indptr[-1])
        # log(1 + x * target / total) on the non-zeros, in place in one
        # buffer; 1 / ln(base) is folded into the weight table.
        values = np.repeat((self.target_sum / totals).astype(np.float32),
                           np.diff(indptr))
        np.multiply(values, data[lo:hi], out=values)
        if indices.dtype not in (np.int32, np.int64):
            indices = indices.astype(np.int64)
        offsets = (indptr[:-1] - lo).astype(indices.dtype)
        with torch.inference_mode():
            weights = torch.from_numpy(values).log1p_()
            first = F.embedding_bag(
                torch.from_numpy(indices[lo:hi]).to(self.device),
                self.table,
                torch.from_numpy(offsets).to(self.device),
                mode="sum",
                per_sample_weights=weights.to(self.device)).add_(self.bias)
            hidden: List[torch.Tensor] = []
            proba: Optional[torch.Tensor] = None
            for net, part in zip(self.networks,
                                 torch.split(first, self.widths, dim=1)):
                h = net.hidden(part)
                hidden.append(h)
                p = torch.softmax(net.head(h), dim=-1)
                proba = p if proba is None else proba + p
            assert proba is not None, "an ensemble has at least one network"
            logits = torch.log(
                torch.clamp(proba / len(self.networks), min=1e-30))
            return (torch.cat(hidden, 1).cpu().numpy(), logits.cpu().numpy())

    @staticmethod
    def _check_values(X: sp.csr_matrix, cell_ids: Union[Sequence[str],
                                                        np.ndarray]) -> None:
        data = X.data
        bad = ~np.isfinite(data) | (data < 0)
        if bool(bad.any()):
            row_of = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
            rows = np.unique(row_of[bad])
            raise ACTINNInputError(
                "%d cells hold negative, NaN or infinite values, which are "
                "not counts: %s" % (len(rows), _names(rows, cell_ids)))


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


def _names(rows: np.ndarray, cell_ids: Union[Sequence[str], np.ndarray]) -> str:
    if len(cell_ids):
        return examples([cell_ids[r] for r in rows])
    return examples(["row %d" % r for r in rows])
