"""Library-size normalisation and log transform as a ``dc.trans.Transformer``.

A thin wrapper over
:func:`~deepchem_actinn.preprocessing.normalise.library_size_log`, the same
function the annotator uses: every cell scaled to the same total count
(10,000 by default), then ``log2(x + 1)``, with the counts checked first.
"""
from typing import TYPE_CHECKING, Any, Optional, Tuple

import numpy as np

from deepchem_actinn._deepchem import require_deepchem
from deepchem_actinn.io.counts import refuse_log_normalised
from deepchem_actinn.preprocessing.normalise import (check_normalisation,
                                                     library_size_log,
                                                     refuse_bad_values)
from deepchem_actinn.transformers._flags import check_flags

dc = require_deepchem("LibrarySizeLogTransformer")
#: DeepChem's base class (typed Any: DeepChem ships no type hints).
Transformer: Any = dc.trans.Transformer

if TYPE_CHECKING:
    from deepchem.data import Dataset

__all__ = ["LibrarySizeLogTransformer"]

#: The advice when the input looks log-normalised already.
TWICE = ("normalised already? Apply the transformer once, to the counts (an "
         "AnnData's .raw or layers['counts'] when X is log-normalised)")


class LibrarySizeLogTransformer(Transformer):
    """Library-size normalise and log-transform counts in a DeepChem dataset.

    Each cell (row of X) is scaled to ``target_sum`` total counts and
    transformed with ``log_base(x + 1)``: the preprocessing of ACTINN [1]_.
    The transform is per cell, so it needs no fitting and is applied the same
    way to training and query data. Output is float32; sparse X stays
    sparse. Cells with zero, negative, NaN or infinite counts are refused
    with an :class:`~deepchem_actinn.errors.ACTINNInputError` naming them by
    id, and so is X that already looks log-normalised (non-integer values,
    none over 50), such as this transformer's own output; counts on another
    scale (TPM) pass.

    Parameters
    ----------
    transform_X: bool, default True
        The transform acts on X (the counts); False is refused.
    transform_y: bool, default False
        Must be False: labels are not counts.
    transform_w: bool, default False
        Must be False: weights are not counts.
    transform_ids: bool, default False
        Must be False: cell ids are not counts.
    dataset: dc.data.Dataset, optional
        Accepted for symmetry with DeepChem's transformers; unused, since
        nothing is fitted.
    target_sum: float, default 10,000
        Total count every cell is scaled to.
    base: float, default 2
        Base of the logarithm.

    Examples
    --------
    >>> import numpy as np
    >>> import deepchem as dc
    >>> from deepchem_actinn import LibrarySizeLogTransformer
    >>> ds = dc.data.NumpyDataset(np.array([[1., 3.], [5., 5.]]), ids=["a", "b"])
    >>> ds = ds.transform(LibrarySizeLogTransformer(transform_X=True,
    ...                                             target_sum=4))
    >>> ds.X
    array([[1.       , 2.       ],
           [1.5849625, 1.5849625]], dtype=float32)

    References
    ----------
    .. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
       types in single cell RNA sequencing. Bioinformatics 36(2):533-538 (2020).
    """

    def __init__(self,
                 transform_X: bool = True,
                 transform_y: bool = False,
                 transform_w: bool = False,
                 transform_ids: bool = False,
                 dataset: Optional["Dataset"] = None,
                 target_sum: float = 1e4,
                 base: float = 2.0) -> None:
        check_flags("LibrarySizeLogTransformer", "normalises the counts in X",
                    transform_X, transform_y, transform_w, transform_ids)
        check_normalisation(target_sum, base)
        self.target_sum = float(target_sum)
        self.base = float(base)
        super().__init__(transform_X=True, dataset=dataset)

    def transform_array(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray, ids: np.ndarray
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Normalise the rows of X; y, w and ids pass through. X that
        already looks log-normalised (non-integer values, none over 50:
        this transformer's own output, for one) is refused.

        Parameters
        ----------
        X: np.ndarray or scipy.sparse matrix
            Features, cells x genes.
        y: np.ndarray
            Labels, passed through.
        w: np.ndarray
            Weights, passed through.
        ids: np.ndarray
            Identifiers, passed through.

        Returns
        -------
        (Xtrans, ytrans, wtrans, idstrans): tuple
            X library-size normalised and log-transformed (float32, sparse
            stays sparse); y, w and ids unchanged.

        Raises
        ------
        ACTINNInputError
            X looks log-normalised already; an ACTINNCellError (a subclass)
            when a cell sums to zero or holds negative or non-finite values.
        """
        # one pass over the values: a log scale, then NaN, infinite and
        # negative values are refused from it (cells without counts, from
        # the totals the scaling needs)
        scanned = refuse_log_normalised(X,
                                        ids,
                                        source="LibrarySizeLogTransformer",
                                        hint=TWICE)
        refuse_bad_values(X, ids, scanned)
        return library_size_log(X, self.target_sum, self.base, ids,
                                check=False), y, w, ids

    def untransform(self, transformed: np.ndarray) -> np.ndarray:
        """Not invertible: the library sizes are not kept.

        Parameters
        ----------
        transformed: np.ndarray
            Transformed data.

        Raises
        ------
        NotImplementedError
            Always.
        """
        raise NotImplementedError(
            "LibrarySizeLogTransformer cannot be undone: library sizes "
            "are discarded.")
