"""Gene overlap: which of a query's identifier columns matches a model's
genes, and the refusal of a query sharing too few of them.

A query may name its genes several ways (``var_names``, 10x ``gene_ids``,
an h5ad file's symbol or id columns: :func:`gene_candidates`). The column
holding most of the wanted genes, compared as
:func:`~deepchem_actinn.io.genes.gene_key` compares them, is chosen
(:func:`choose_gene_column`); one holding under ``min_overlap`` of them is
refused with the overlap figures, the likeliest cause and the
``min_overlap`` that would accept it (:func:`lower_min_overlap`,
:func:`accepting_share`). The matching of genes by name is
:mod:`deepchem_actinn.preprocessing.genes`, which uses this module and
re-exports its names.
"""
import math
from typing import (Dict, Iterable, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import pandas as pd

from deepchem_actinn.errors import ACTINNInputError, Advice, Message, examples
from deepchem_actinn.io.genes import gene_key
from deepchem_actinn.preprocessing.gene_names import (names_unmatched,
                                                      renamed_by_r)


def _keys(names: Iterable) -> List[str]:
    return [gene_key(n) for n in names]


def choose_gene_column(model_genes: Sequence[str],
                       candidates: Mapping[str, Sequence[str]],
                       min_overlap: float = 0.5,
                       what: str = "the model's",
                       *,
                       overlap_argument: bool = False) -> Tuple[str, int]:
    """Pick the query identifier column that best matches the model's genes.

    Query files often carry several identifiers per gene (Ensembl ids and
    symbols); names are compared case-insensitively, as ACTINN does.

    Parameters
    ----------
    model_genes: sequence of str
        The genes wanted (a model's or a gene filter's).
    candidates: mapping of str to sequence of str
        Each identifier column of the query, by name
        (:func:`gene_candidates`).
    min_overlap: float, default 0.5
        Smallest share of ``model_genes`` the best column must hold.
    what: str, default "the model's"
        Whose genes ``model_genes`` are, for the message.
    overlap_argument: bool, default False
        ``min_overlap`` is an argument of the call refused, which the
        refusal then names (``lower_min_overlap``).

    Returns
    -------
    (name, n_matched): tuple of (str, int)
        The best column's name (a key of ``candidates``) and how many of
        ``model_genes`` it holds.

    Raises
    ------
    ACTINNInputError
        No column shares ``min_overlap`` of the model's genes; the message
        gives the overlap of each column, since predicting with unmatched
        genes gives one constant label for every cell.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing import choose_gene_column
    >>> choose_gene_column(["CD3E", "MS4A1"],
    ...                    {"var_names": ["ENSG1", "ENSG2"],
    ...                     "gene_symbols": ["Cd3e", "Ms4a1"]})
    ('gene_symbols', 2)
    """
    wanted = set(_keys(model_genes))
    overlaps = {
        name: len(wanted.intersection(_keys(ids)))
        for name, ids in candidates.items()
    }
    best = max(overlaps, key=lambda k: overlaps[k])
    if overlaps[best] < min_overlap * len(wanted):
        raise ACTINNInputError(
            _overlap_message(model_genes, candidates, overlaps, best,
                             min_overlap, what, overlap_argument))
    return best, overlaps[best]


#: When under this share of the query's genes (or of the wanted ones, if
#: fewer) match, the names themselves look wrong (another species, another
#: kind of identifier).
FEW_FOUND = 0.1

#: Python's words for lowering ``min_overlap`` where it is no argument of
#: the call refused: an annotator's is its attribute (a refused
#: :func:`~deepchem_actinn.preprocessing.genes.measured_genes` is passed
#: it).
_SET_MIN_OVERLAP = {"the model's": "set annotator.%s"}


def lower_min_overlap(value: float,
                      what: str = "the model's",
                      argument: bool = False) -> Advice:
    """How to accept a query that holds fewer of ``what`` genes (the end
    of the refusal), in the words of whoever shows it: ``set
    annotator.min_overlap=0.4`` in Python, ``pass --min-overlap 0.4`` on
    the command line; ``pass min_overlap=0.4`` where it is an
    ``argument`` of the call refused (``annotate``'s).

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.gene_overlap import lower_min_overlap
    >>> print(lower_min_overlap(0.4))
    set annotator.min_overlap=0.4
    >>> print(lower_min_overlap(0.4, "the reference's"))
    pass min_overlap=0.4
    >>> print(lower_min_overlap(0.4, argument=True))
    pass min_overlap=0.4
    """
    return Advice(dict(min_overlap=value),
                  python=None if argument else _SET_MIN_OVERLAP.get(what))


def accepting_share(found: int, wanted: int) -> float:
    """The share found, rounded down to one significant figure: a
    ``min_overlap`` that accepts the query (0 when nothing was found).

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.gene_overlap import accepting_share
    >>> accepting_share(149, 1000), accepting_share(1, 3), accepting_share(4, 10)
    (0.1, 0.3, 0.4)
    >>> accepting_share(5, 1000)
    0.005
    """
    share = found / max(wanted, 1)
    if share <= 0:
        return 0.0
    step = 10.0**math.floor(math.log10(share))
    return float("%.3g" % (math.floor(share / step + 1e-9) * step))


def _overlap_message(model_genes: Sequence[str],
                     candidates: Mapping[str, Sequence[str]],
                     overlaps: Mapping[str, int], best: str, min_overlap: float,
                     what: str, argument: bool) -> Union[str, Message]:
    """Why a query's genes were refused, and what to do: the figures, then
    the likeliest cause (a query cut to a few genes; names of another
    kind; some genes missing) and how to accept the query anyway."""
    wanted = set(_keys(model_genes))
    n_wanted = len(wanted)
    query = list(candidates[best])
    found = overlaps[best]
    share = math.floor(1000.0 * found / max(n_wanted, 1)) / 10  # not 50 %
    message = ("the query's genes do not match %s: %d of %s %d genes found "
               "(%g %%; at least %g %% needed)" %
               (what, found, what, n_wanted, share, 100.0 * min_overlap))
    if len(overlaps) > 1:
        message += ", by identifier column: %s" % ", ".join(
            "%s %d" % item for item in overlaps.items())
    have = set(_keys(query))
    lacking = [g for g in model_genes if gene_key(g) not in have]
    if found < FEW_FOUND * min(len(query), n_wanted):
        return message + names_unmatched(query, wanted, lacking, what)
    if len(query) < min_overlap * n_wanted:
        message += (". The query holds only %d genes: give the counts of "
                    "every gene the experiment measured, not a selection "
                    "such as the highly variable genes" % len(query))
    else:
        message += ". Among %s genes the query lacks: %s%s" % (
            what, examples(lacking, 3), renamed_by_r(lacking, query))
    if not found:  # no share of the genes accepts a query sharing none
        return message
    value = accepting_share(found, n_wanted)
    if what == "the gene filter's":
        return message + (". To transform it anyway, lower the filter's "
                          "min_overlap (%g) to %g" % (min_overlap, value))
    return Message("%s. To annotate it anyway, %s", message,
                   lower_min_overlap(value, what, argument))


def gene_candidates(var_names: Sequence[str],
                    var: Optional[pd.DataFrame] = None) -> Dict[str, List[str]]:
    """The gene identifier columns of a query, for :func:`choose_gene_column`.

    ``var_names`` first, then every string column of ``var`` (10x
    ``gene_ids``, an h5ad file's symbol or id columns).

    Parameters
    ----------
    var_names: sequence of str
        The query's gene names, one per column of its counts.
    var: pandas.DataFrame, optional
        Per-gene annotations, one row per gene; ignored when its length
        differs from ``var_names``. Only text columns are taken.

    Returns
    -------
    dict of str to list of str
        ``"var_names"``, then ``"var['<column>']"`` for each text column.

    Examples
    --------
    >>> import pandas as pd
    >>> from deepchem_actinn.preprocessing import gene_candidates
    >>> var = pd.DataFrame({"gene_ids": ["ENSG1"], "n_cells": [3]},
    ...                    index=["CD3E"])
    >>> gene_candidates(var.index, var)
    {'var_names': ['CD3E'], "var['gene_ids']": ['ENSG1']}
    """
    candidates = {"var_names": [str(g) for g in var_names]}
    if var is not None and len(var) == len(candidates["var_names"]):
        for column in var.columns:
            values = var[column]
            # text: object (pandas 2), str or string (pandas 3), category
            if (pd.api.types.is_string_dtype(values.dtype) or
                    isinstance(values.dtype, pd.CategoricalDtype)):
                candidates["var['%s']" % column] = [str(v) for v in values]
    return candidates
