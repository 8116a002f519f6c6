"""Gene names as read from a file: upper-cased and without repeats.

The columns of :func:`~deepchem_actinn.io.read` and of every chunk of
:func:`~deepchem_actinn.io.iter_cell_chunks` follow this one rule. Matching
the names to a model's genes is :mod:`deepchem_actinn.preprocessing.genes`.
"""

from __future__ import annotations

import logging
from typing import Tuple

import numpy as np
import pandas as pd

from deepchem_actinn.errors import examples
from deepchem_actinn.io._common import as_str_array
from deepchem_actinn.types import Strings

logger = logging.getLogger(__name__)


def clean_gene_names(names: Strings,
                     upper_case: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Upper-case gene names and drop repeats, as the ACTINN scripts did.

    Parameters
    ----------
    names: sequence of str
        Gene names in column order.
    upper_case: bool, default True
        Upper-case the names first (so ``Actb`` and ``ACTB`` match across
        species conventions and files).

    Returns
    -------
    names: numpy.ndarray
        The kept names (object array of str), in their original order.
    keep: numpy.ndarray
        Boolean mask over ``names``: True for the first occurrence of each
        name. Apply it to the gene columns of the matrix.

    Examples
    --------
    >>> from deepchem_actinn.io import clean_gene_names
    >>> kept, keep = clean_gene_names(["Actb", "Gapdh", "ACTB"])
    >>> list(kept), keep.tolist()
    (['ACTB', 'GAPDH'], [True, True, False])
    """
    index = pd.Index(as_str_array(names), dtype=object)
    if upper_case:
        index = index.str.upper()
    keep = ~np.asarray(index.duplicated(keep="first"))
    n_dropped = int((~keep).sum())
    if n_dropped:
        logger.info(
            "dropped %d duplicated gene names (kept the first of each), "
            "e.g. %s", n_dropped, examples(pd.unique(index[~keep])))
    return index.to_numpy(dtype=object)[keep], keep
