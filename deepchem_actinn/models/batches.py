"""Minibatches from dense or sparse cells, densified one batch at a time."""
from typing import Iterator, List, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp

Matrix = Union[np.ndarray, sp.spmatrix, sp.sparray]


def dense_rows(X: Matrix, rows: Union[slice, np.ndarray]) -> np.ndarray:
    """Rows of X as a C-contiguous float32 array (sparse rows densified)."""
    part = X[rows]
    if sp.issparse(part):
        part = part.toarray()
    return np.ascontiguousarray(part, dtype=np.float32)


def minibatches(X: Matrix,
                y: Optional[np.ndarray] = None,
                w: Optional[np.ndarray] = None,
                batch_size: int = 128,
                rng: Optional[np.random.Generator] = None,
                pad: bool = False) -> Iterator[Tuple[List, List, List]]:
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

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.eye(5, dtype=np.float32))
    >>> [b[0][0].shape for b in minibatches(X, np.arange(5), batch_size=2)]
    [(2, 5), (2, 5), (1, 5)]
    """
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
        yield ([dense_rows(X, rows)], [y[rows].reshape(-1, 1)],
               [w[rows].reshape(-1, 1).astype(np.float32)])
