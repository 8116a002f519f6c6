"""Library-size normalisation and log transform of raw counts.

ACTINN's first preprocessing step: scale every cell to the same total count
(10,000 by default) and take ``log2(x + 1)``. The plain function
:func:`library_size_log` (from :mod:`deepchem_actinn.preprocessing.normalise`,
re-exported here) works on dense arrays and SciPy sparse matrices (touching
only the non-zeros); :class:`LibrarySizeLogTransformer` wraps it as a
``dc.trans.Transformer`` for DeepChem datasets.
"""
import logging
from typing import Tuple

import numpy as np
from deepchem.trans import Transformer

from deepchem_actinn.preprocessing.normalise import (  # noqa: F401
    Ids, Matrix, check_counts, library_size_log)

logger = logging.getLogger(__name__)


class LibrarySizeLogTransformer(Transformer):
    """Library-size normalise and log-transform counts in a DeepChem dataset.

    Each cell (row of X) is scaled to ``target_sum`` total counts and
    transformed with ``log_base(x + 1)``: the preprocessing of ACTINN [1]_.
    The transform is per cell, so it needs no fitting and is applied the same
    way to training and query data. Output is float32.

    Parameters
    ----------
    target_sum: float, default 10,000
        Total count every cell is scaled to.
    base: float, default 2
        Base of the logarithm.
    dataset: dc.data.Dataset, optional
        Accepted for symmetry with other DeepChem transformers; unused.

    Examples
    --------
    >>> import numpy as np
    >>> import deepchem as dc
    >>> from deepchem_actinn import LibrarySizeLogTransformer
    >>> ds = dc.data.NumpyDataset(np.array([[1., 3.], [5., 5.]]), ids=["a", "b"])
    >>> ds = ds.transform(LibrarySizeLogTransformer(target_sum=4))
    >>> ds.X
    array([[1.       , 2.       ],
           [1.5849625, 1.5849625]], dtype=float32)

    References
    ----------
    .. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
       types in single cell RNA sequencing. Bioinformatics 36(2):533-538 (2020).
    """

    def __init__(self,
                 target_sum: float = 1e4,
                 base: float = 2.0,
                 dataset=None) -> None:
        if target_sum <= 0 or base <= 1:
            raise ValueError("target_sum must be > 0 and base > 1")
        self.target_sum = float(target_sum)
        self.base = float(base)
        super().__init__(transform_X=True, dataset=dataset)

    def transform_array(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray, ids: np.ndarray
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Normalise the rows of X; y, w and ids pass through."""
        return library_size_log(X, self.target_sum, self.base, ids), y, w, ids

    def untransform(self, transformed: np.ndarray) -> np.ndarray:
        """Not invertible: the library sizes are not kept."""
        raise NotImplementedError(
            "LibrarySizeLogTransformer cannot be undone: library sizes "
            "are discarded.")
