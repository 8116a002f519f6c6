"""Minibatches from dense or sparse cells, densified one batch at a time."""
from typing import Any, Iterator, List, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp

Matrix = Union[np.ndarray, sp.spmatrix, sp.sparray]


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


def minibatches(
        X: Matrix,
        y: Optional[np.ndarray] = None,
        w: Optional[np.ndarray] = None,
        batch_size: int = 128,
        rng: Optional[np.random.Generator] = None,
        pad: bool = False,
        sparse: Optional[bool] = None) -> Iterator[Tuple[List, List, List]]:
    """One epoch of ``([X_b], [y_b], [w_b])`` batches for ``fit_generator``.

    Parameters
    ----------
    X: np.ndarray or scipy.sparse matrix
        Cells x genes; a sparse X is densified one batch at a time.
    y, w: np.ndarray, optional
        Class ids and sample weights (default 1).
    batch_size: int
        Cells per batch.
    rng: np.random.Generator, optional
        Shuffles the cells; in order when None.
    pad: bool
        Repeat cells so that the last batch is full.
    sparse: bool, optional
        Yield CSR triples (:func:`csr_triple`) instead of dense rows;
        by default when X is sparse.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.eye(5, dtype=np.float32))
    >>> batches = minibatches(X, np.arange(5), batch_size=2, sparse=False)
    >>> [b[0][0].shape for b in batches]
    [(2, 5), (2, 5), (1, 5)]
    """
    if sparse is None:
        sparse = sp.issparse(X)
    if sp.issparse(X):
        X = sp.csr_matrix(X)
    n = X.shape[0]
    order = np.arange(n) if rng is None else rng.permutation(n)
    if y is None:
        y = np.zeros(n, dtype=np.int64)
    if w is None:
        w = np.ones(n, dtype=np.float32)
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size]
        if pad and len(rows) < batch_size:
            rows = np.resize(rows, batch_size)
        if rng is not None:
            rows = np.sort(rows)
        yield (network_input(X, rows, sparse,
                             transpose=True), [y[rows].reshape(-1, 1)],
               [w[rows].reshape(-1, 1).astype(np.float32)])
