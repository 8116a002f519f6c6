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
from deepchem_actinn.models.actinn import ACTINNClassifier


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
    >>> from deepchem_actinn.models.actinn import ACTINNClassifier
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
        self.log_scale = 1.0 / math.log2(log_base)
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
            self.table = table.contiguous()
            self.bias = torch.cat([layer.bias for layer in first
                                  ]).to(self.device)
        self.widths = [layer.weight.shape[1] for layer in first]

    def __call__(
        self, X: sp.csr_matrix, cell_ids: Union[Sequence[str], np.ndarray] = ()
    ) -> Tuple[np.ndarray, np.ndarray]:
        """``(hidden, logits)`` of a chunk of raw counts, cells x query genes.

        Raises
        ------
        ACTINNInputError
            A cell sums to zero, or the chunk holds negative, NaN or infinite
            values; the message names the cells (by ``cell_ids`` if given).
        """
        X = sp.csr_matrix(X)
        self._check(X, np.diff(X.indptr), cell_ids)
        hidden = np.empty(
            (X.shape[0], sum(net.head.in_features for net in self.networks)),
            np.float32)
        logits = np.empty((X.shape[0], self.networks[0].head.out_features),
                          np.float32)
        for start in range(0, X.shape[0], self.block):
            stop = min(start + self.block, X.shape[0])
            hidden[start:stop], logits[start:stop] = self._block(
                X.indptr[start:stop + 1], X.indices, X.data)
        return hidden, logits

    def _block(self, indptr: np.ndarray, indices: np.ndarray,
               data: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Rows ``indptr`` of a CSR matrix; temporaries stay block-sized."""
        lo, hi = int(indptr[0]), int(indptr[-1])
        values = torch.from_numpy(np.asarray(data[lo:hi], dtype=np.float32))
        counts = torch.from_numpy(np.diff(indptr))
        totals = torch.from_numpy(
            np.add.reduceat(data[lo:hi], indptr[:-1] -
                            lo, dtype=np.float64) if hi >
            lo else np.zeros(len(counts))).float()
        with torch.inference_mode():
            scale = torch.repeat_interleave(self.target_sum / totals, counts)
            values = torch.log2(
                torch.addcmul(torch.ones_like(values), values, scale))
            if self.log_scale != 1.0:
                values *= self.log_scale
            first = F.embedding_bag(
                torch.from_numpy(indices[lo:hi].astype(np.int64)).to(
                    self.device),
                self.table,
                torch.from_numpy(
                    (indptr[:-1] - lo).astype(np.int64)).to(self.device),
                mode="sum",
                per_sample_weights=values.to(self.device)) + self.bias
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
    def _check(X: sp.csr_matrix, counts: np.ndarray,
               cell_ids: Union[Sequence[str], np.ndarray]) -> None:

        def names(rows: np.ndarray) -> str:
            if len(cell_ids):
                return examples([cell_ids[r] for r in rows])
            return examples(["row %d" % r for r in rows])

        data = X.data
        bad = ~np.isfinite(data) | (data < 0)
        if bool(bad.any()):
            row_of = np.repeat(np.arange(X.shape[0]), counts)
            rows = np.unique(row_of[bad])
            raise ACTINNInputError(
                "%d cells hold negative, NaN or infinite values, which are "
                "not counts: %s" % (len(rows), names(rows)))
        zero = np.flatnonzero(counts == 0)
        if len(zero) == 0:
            totals = (np.add.reduceat(X.data, X.indptr[:-1])
                      if X.nnz else np.zeros(0))
            zero = np.flatnonzero(np.asarray(totals) <= 0)
        if len(zero):
            raise ACTINNInputError(
                "%d cells have zero total counts and cannot be library-size "
                "normalised: %s" % (len(zero), names(zero)))
