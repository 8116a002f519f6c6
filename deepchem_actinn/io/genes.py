"""Gene names as read from a file: upper-cased and without repeats.

The columns of :func:`~deepchem_actinn.io.read` and of every chunk of
:func:`~deepchem_actinn.io.iter_cell_chunks` follow this one rule. Matching
the names to a model's genes is :mod:`deepchem_actinn.preprocessing.genes`;
the form in which it compares two names, :func:`gene_key`, is defined here,
below it, because the readers need it too (to tell a text file's gene
axis, :mod:`~deepchem_actinn.io.orientation`).
"""

from __future__ import annotations

import logging
import re
from typing import Optional, Tuple

import numpy as np
import pandas as pd

from deepchem_actinn.errors import counted, examples
from deepchem_actinn.io._common import as_str_array
from deepchem_actinn.types import Strings

logger = logging.getLogger(__name__)

#: An Ensembl id with its version suffix (``ENSMUSG00000000001.4``).
_VERSIONED = re.compile(r"^(ENS[A-Z]*\d{4,})\.\d+$")


def gene_key(name) -> str:
    """The form in which gene names are compared: upper case, and an
    Ensembl id without its version suffix. Two names of one key are one
    gene wherever genes meet: a query's matched to a model's, repeats
    dropped by the readers (:func:`~deepchem_actinn.io.clean_gene_names`)
    and refused in a reference
    (:func:`~deepchem_actinn.preprocessing.genes.refuse_repeated_genes`).

    Defined with the readers, the lowest layer that needs it; the gene
    matching of :mod:`deepchem_actinn.preprocessing` imports it from here.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.genes import gene_key
    >>> gene_key("Cd3e"), gene_key("ENSMUSG00000000001.4")
    ('CD3E', 'ENSMUSG00000000001')
    >>> gene_key("ENSG00000002586.20_PAR_Y")  # not a version: kept whole
    'ENSG00000002586.20_PAR_Y'
    """
    text = str(name).upper()
    match = _VERSIONED.match(text)
    return match.group(1) if match else text


def clean_gene_names(
        names: Strings,
        upper_case: bool = True,
        quiet: bool = False,
        source: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Upper-case gene names and drop repeats, as the ACTINN scripts did,
    and genes without a name (which no model gene can match), saying so.

    A repeat is an earlier name spelled again, ignoring case, whether or not
    the names are upper-cased (no model could tell the two columns apart).
    Two versions of one Ensembl id are both kept: matching a query takes
    the column of the model's own version
    (:func:`~deepchem_actinn.preprocessing.genes.gene_positions`), and
    training refuses a reference holding both, naming them.

    Parameters
    ----------
    names: sequence of str
        Gene names in column order.
    upper_case: bool, default True
        Upper-case the names first (so ``Actb`` and ``ACTB`` match across
        species conventions and files).
    quiet: bool, default False
        Say nothing (a second pass over a file whose names were read).
    source: str, optional
        The file the names were read from, named by the warnings: the
        genes dropped change the data, so they are said even under ``-q``.

    Returns
    -------
    names: numpy.ndarray
        The kept names (object array of str), in their original order.
    keep: numpy.ndarray
        Boolean mask over ``names``: True for the first occurrence of each
        gene (not for a blank name). Apply it to the gene columns of the
        matrix.

    Examples
    --------
    >>> from deepchem_actinn.io import clean_gene_names
    >>> kept, keep = clean_gene_names(["Actb", "Gapdh", "ACTB"])
    >>> list(kept), keep.tolist()
    (['ACTB', 'GAPDH'], [True, True, False])
    >>> kept, keep = clean_gene_names(["ENSMUSG00000000001.4", "Actb",
    ...                                "ENSMUSG00000000001.5"])
    >>> list(kept), keep.tolist()
    (['ENSMUSG00000000001.4', 'ACTB', 'ENSMUSG00000000001.5'], [True, True, True])
    """
    index = pd.Index(as_str_array(names), dtype=object)
    spelled = index  # as the file spells them, for the messages
    if upper_case:
        index = index.str.upper()
    where = "" if source is None else "%s: " % source
    blank = np.asarray(index.str.strip() == "", dtype=bool)
    if blank.any() and not quiet:
        logger.warning(
            "%s%s without a name left out (no model gene can match it), at "
            "gene positions %s", where, counted(int(blank.sum()), "gene"),
            examples((np.flatnonzero(blank) + 1).tolist()))
    repeated = np.asarray(index.str.upper().duplicated(keep="first")) & ~blank
    keep = ~(repeated | blank)
    if repeated.any() and not quiet:
        logger.warning("%sdropped %s (kept the first of each), e.g. %s", where,
                       counted(int(repeated.sum()), "duplicated gene name"),
                       examples(pd.unique(spelled[repeated])))
    return index.to_numpy(dtype=object)[keep], keep
