"""Gene-name matching: the one rule every path uses.

A query's genes are matched to a model's (or a fitted gene filter's) by
name, case-insensitively, as ACTINN does (``Cd3e`` matches ``CD3E``), and
Ensembl ids regardless of their version suffix (``ENSMUSG00000000001.4``
matches ``ENSMUSG00000000001`` and ``.3``: one gene in two annotation
releases). When a
query carries several identifiers per gene (10x ``gene_ids`` and symbols,
h5ad ``var`` columns), the column that matches best is used. Genes the query
lacks get position -1 (their values are set to zero) and are reported once,
through the package's logger; a query sharing fewer than ``min_overlap`` of
the model's genes is refused with the overlap figures, since predicting with
unmatched genes gives one constant label for every cell.

Matching ignores case, so a human query (``CD3E``) matches a mouse model
(``Cd3e``) without an error; :func:`species_warning` tells it from how the
names are capitalised.

The form in which two names are compared is
:func:`~deepchem_actinn.io.genes.gene_key` (upper case, an Ensembl id without
its version). It is defined in :mod:`deepchem_actinn.io.genes`, the lowest
layer that needs it (the readers drop repeated genes by it, and tell a file's
layout from its gene names), and used from there by everything here. Genes
that are one gene by it cannot be told apart by any model:
:func:`refuse_repeated_genes` refuses them in a reference (fitting an
annotator or a gene filter) and in a saved annotator.
"""
import logging
import math
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from deepchem_actinn.errors import ACTINNInputError, counted, examples
from deepchem_actinn.io.genes import gene_key

logger = logging.getLogger(__name__)


def _keys(names: Iterable) -> List[str]:
    return [gene_key(n) for n in names]


def repeated_genes(genes: Iterable) -> List[str]:
    """The gene names that are one gene by the matching rule
    (:func:`~deepchem_actinn.preprocessing.genes.gene_key`: ignoring case
    and an Ensembl version), each group as its spellings joined by ``/``, in the order of
    their first appearance.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.genes import repeated_genes
    >>> repeated_genes(["Actb", "ENSMUSG00000000001.4", "ACTB", "Cd3e",
    ...                 "ENSMUSG00000000001.5"])
    ['Actb/ACTB', 'ENSMUSG00000000001.4/ENSMUSG00000000001.5']
    >>> repeated_genes(["Cd3e", "Cd3e"]), repeated_genes(["Cd3e", "Cd3d"])
    (['Cd3e'], [])
    """
    spellings: Dict[str, List[str]] = {}
    for name in genes:
        spellings.setdefault(gene_key(name), []).append(str(name))
    return [
        "/".join(dict.fromkeys(names))
        for names in spellings.values()
        if len(names) > 1
    ]


def refuse_repeated_genes(genes: Iterable,
                          damaged: Optional[str] = None) -> None:
    """Refuse gene names of which two are one gene by the matching rule
    (:func:`~deepchem_actinn.preprocessing.genes.repeated_genes`): a model
    gene must name one column of a query,
    and one column must not feed two model genes.

    Parameters
    ----------
    genes: sequence of str
        A reference's (or a gene filter's, or a saved annotator's) genes.
    damaged: str, optional
        The saved file the names were read from: the message then says the
        file is damaged (training never writes such names) rather than how
        to mend a reference.

    Raises
    ------
    ACTINNInputError
        Naming the genes that collide, each group as its spellings.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.genes import refuse_repeated_genes
    >>> refuse_repeated_genes(["Actb", "Cd3e"])
    >>> refuse_repeated_genes(["ENSMUSG00000000001.4", "Cd3e",
    ...                        "ENSMUSG00000000001.5"])
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: 1 gene is named more than once (names are compared ignoring case and an Ensembl version): ENSMUSG00000000001.4/ENSMUSG00000000001.5; keep one of each (the version your queries use) or make them unique
    """
    twice = repeated_genes(genes)
    if not twice:
        return
    found = (
        "%s more than once (names are compared ignoring case and an "
        "Ensembl version): %s" %
        (counted(len(twice), "gene", "is named/are named"), examples(twice)))
    versions_only = len({str(g).upper() for g in genes}) == len(list(genes))
    if damaged is not None and versions_only:
        # trained before versions were compared: not damaged, but unsafe
        raise ACTINNInputError(
            "%s: trained on two Ensembl versions of %s (%s), which this "
            "version refuses: one query column would feed both; retrain it "
            "on a reference holding one version of each" %
            (damaged, counted(len(twice), "gene"), examples(twice)))
    if damaged is not None:
        raise ACTINNInputError(
            "%s is damaged: %s; a model gene names one column" %
            (damaged, found))
    raise ACTINNInputError(
        "%s; keep one of each (the version your queries use) or make them "
        "unique" % found)


def choose_gene_column(model_genes: Sequence[str],
                       candidates: Mapping[str, Sequence[str]],
                       min_overlap: float = 0.5,
                       what: str = "the model's") -> Tuple[str, int]:
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
                             min_overlap, what))
    return best, overlaps[best]


#: When under this share of the query's genes (or of the wanted ones, if
#: fewer) match, the names themselves look wrong (another species, another
#: kind of identifier).
FEW_FOUND = 0.1

#: How to accept a query that holds fewer of the model's genes (the end of
#: the refusal; the command line says it in its own words).
LOWER_MIN_OVERLAP = ("lower min_overlap to {value} (annotator.min_overlap = "
                     "{value}; actinn: --min-overlap {value})")


def accepting_share(found: int, wanted: int) -> float:
    """The share found, rounded down to one significant figure: a
    ``min_overlap`` that accepts the query (0 when nothing was found).

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.genes import accepting_share
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
                     candidates: Mapping[str,
                                         Sequence[str]], overlaps: Mapping[str,
                                                                           int],
                     best: str, min_overlap: float, what: str) -> str:
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
        return message + _names_unmatched(query, wanted, lacking, what)
    if len(query) < min_overlap * n_wanted:
        message += (". The query holds only %d genes: give the counts of "
                    "every gene the experiment measured, not a selection "
                    "such as the highly variable genes" % len(query))
    else:
        message += ". Among %s genes the query lacks: %s%s" % (
            what, examples(lacking, 3), renamed_by_r(lacking, query))
    if not found:  # no share of the genes accepts a query sharing none
        return message
    value = "%g" % accepting_share(found, n_wanted)
    if what == "the gene filter's":
        return message + (". To transform it anyway, lower the filter's "
                          "min_overlap (%g) to %s" % (min_overlap, value))
    return message + ". To annotate it anyway, " + LOWER_MIN_OVERLAP.format(
        value=value)


#: What the query's genes outside a selection of genes may be, besides
#: names of another species or kind: genes that the selection's reference
#: measured but that were not selected (no saved annotator or gene filter
#: keeps its reference's whole gene list, so they cannot be told apart).
_NOT_SELECTED = {
    "the model's": "genes the model's reference measured but its gene "
                   "filter left out",
    "the gene filter's": "genes the filter's reference measured but it did "
                         "not select",
}


def _names_unmatched(query: Sequence[str], wanted: set, lacking: Sequence[str],
                     what: str) -> str:
    """The end of the refusal of a query that shares almost no genes:
    examples of the unmatched names on both sides, as they are spelled,
    and that they are compared ignoring case. The query's genes outside a
    selection are not all foreign: some may be genes the selection left
    out (:data:`_NOT_SELECTED`)."""
    unknown = examples([g for g in query if gene_key(g) not in wanted], 3)
    text = (". %s%s genes the query lacks look like %s; the query's genes "
            "not among %s" %
            (what[:1].upper(), what[1:], examples(lacking, 3), what))
    if what in _NOT_SELECTED:
        text += ", like %s, may include %s" % (unknown, _NOT_SELECTED[what])
    else:
        text += " look like %s" % unknown
    return text + (". Names are compared ignoring case: check the species "
                   "and the kind of gene identifier")


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


def gene_positions(reference: Sequence[str],
                   query: Sequence[str],
                   min_overlap: float = 0.0,
                   what: str = "the model's") -> np.ndarray:
    """Index of each reference gene in ``query`` (-1 where it is missing).

    Names are compared case-insensitively, and an Ensembl id the query
    lacks is found under another version; the first of
    duplicated query names wins. Missing genes are logged as a warning with
    their count.

    Parameters
    ----------
    reference: sequence of str
        The genes wanted, in order (a model's or a gene filter's genes).
    query: sequence of str
        The genes the data has, one per column.
    min_overlap: float, default 0.0
        Refuse (:class:`~deepchem_actinn.ACTINNInputError`) a query holding
        fewer than this share of the reference genes.
    what: str, default "the model's"
        Whose genes ``reference`` are, for the messages.

    Returns
    -------
    np.ndarray of int64
        One entry per reference gene: its column in ``query``, or -1 when
        the query lacks it (``take_columns`` fills such columns with zeros).

    Raises
    ------
    ACTINNInputError
        The query holds under ``min_overlap`` of the reference genes.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing import gene_positions
    >>> gene_positions(["A", "B", "C"], ["c", "A", "X"])
    array([ 1, -1,  0])
    """
    if min_overlap > 0:
        choose_gene_column(reference, {"query genes": query}, min_overlap, what)
    exact: Dict[str, int] = {}  # the name as written (ignoring case) first
    by_key: Dict[str, int] = {}  # then another Ensembl version of it
    spellings: Dict[str, List[str]] = {}
    for i, name in enumerate(query):
        text = str(name)
        key = gene_key(text)
        exact.setdefault(text.upper(), i)
        by_key.setdefault(key, i)
        spellings.setdefault(key, []).append(text)
    twice = []
    for gene in reference:
        names = spellings.get(gene_key(gene), [])
        if len(names) > 1 and sum(n.upper() == str(gene).upper()
                                  for n in names) != 1:
            twice.append("/".join(dict.fromkeys(names)))
    if twice:
        logger.warning(
            "%d of %s genes are named more than once in the query, e.g. %s; "
            "the first column of each is used", len(twice), what,
            examples(twice))
    positions = np.array([
        exact.get(str(g).upper(), by_key.get(gene_key(g), -1))
        for g in reference
    ],
                         dtype=np.int64)
    missing = [g for g, p in zip(reference, positions) if p < 0]
    if missing:
        shared = len(positions) - len(missing)
        logger.warning(
            "%d of %s %d genes are missing from the query and set to zero%s, "
            "e.g. %s%s", len(missing), what, len(positions),
            " (it shares only %d of them, under half: expect poor labels)" %
            shared
            if 2 * shared < len(positions) and what == "the model's" else "",
            examples(missing, 3), renamed_by_r(missing, query))
    _note_versions(reference, query, positions, what)
    return positions


def _note_versions(reference: Sequence[str], query: Sequence[str],
                   positions: np.ndarray, what: str) -> None:
    """Log how many genes were matched under another Ensembl version."""
    other = [(str(query[p]), str(g))
             for g, p in zip(reference, positions)
             if p >= 0 and str(query[p]).upper() != str(g).upper()]
    if other:
        logger.info(
            "%d of %s genes matched under another Ensembl version, e.g. %s "
            "for %s", len(other), what, other[0][0], other[0][1])


def r_name(name: str) -> str:
    """``name`` as R's ``make.names`` writes it (``H2-K1`` -> ``H2.K1``,
    ``1700001C19Rik`` -> ``X1700001C19Rik``), as a data frame's row or
    column names become when read or written with ``check.names = TRUE``.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.genes import r_name
    >>> r_name("H2-K1"), r_name("1700001C19Rik"), r_name("Cd3e")
    ('H2.K1', 'X1700001C19Rik', 'Cd3e')
    """
    text = re.sub(r"[^A-Za-z0-9._]", ".", str(name))
    if not text or not (text[0].isalpha() or
                        (text[0] == "." and not text[1:2].isdigit())):
        text = "X" + text
    return text


def renamed_by_r(missing: Sequence[str], query: Sequence[str]) -> str:
    """A note when genes a query lacks are in it as R's ``make.names``
    rewrote them (:func:`r_name`), else ``""``: the counts went through an
    R data frame that changed their names.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.genes import renamed_by_r
    >>> renamed_by_r(["H2-K1", "Cd3e"], ["H2.K1", "Actb"])[:44]
    '; 1 of them is in the query as R renamed it '
    """
    have = set(_keys(query))
    found = [(r_name(g), str(g))
             for g in missing
             if r_name(g) != str(g) and gene_key(r_name(g)) in have]
    if not found:
        return ""
    return ("; %d of them %s in the query as R renamed it (e.g. %s for %s): "
            "its names went through an R data frame (make.names); write them "
            "as they were (check.names = FALSE, or the matrix's own "
            "rownames)" % (len(found), "is" if len(found) == 1 else "are",
                           found[0][0], found[0][1]))


def columns_of(genes: Iterable[str], wanted: Iterable[str]) -> np.ndarray:
    """Indices, in order, of the entries of ``genes`` that ``wanted`` names
    (case-insensitively).

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.genes import columns_of
    >>> columns_of(["A", "b", "C"], ["B", "c", "D"])
    array([1, 2])
    """
    names = set(_keys(wanted))
    return np.array([i for i, g in enumerate(_keys(genes)) if g in names],
                    dtype=np.int64)


def measured_genes(reference: Sequence[str],
                   candidates: Mapping[str, Sequence[str]],
                   min_overlap: float = 0.5) -> List[str]:
    """The reference genes a query measures, in the reference's order.

    The query's identifier column is chosen as for prediction
    (:func:`choose_gene_column`, here against the reference's genes), so a
    model trained on these genes finds every one of them in the query.
    Training on them, when the query is known before training (``actinn
    run``), keeps the networks from leaning on genes the query lacks, as
    the original ACTINN does by intersecting the two gene lists.

    Parameters
    ----------
    reference: sequence of str
        The reference's genes.
    candidates: mapping of str to sequence of str
        The query's identifier columns (:func:`gene_candidates`).
    min_overlap: float, default 0.5
        Refuse (:class:`~deepchem_actinn.ACTINNInputError`) a query that
        measures fewer than this share of the reference's genes.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.genes import measured_genes
    >>> measured_genes(["A", "B", "C"],
    ...                {"var_names": ["c", "a", "X", "Y"]})
    ['A', 'C']
    """
    column, _ = choose_gene_column(reference, candidates, min_overlap,
                                   "the reference's")
    return [
        str(reference[i]) for i in columns_of(reference, candidates[column])
    ]


#: Share of the names that must follow one pattern for it to count.
CASE_MAJORITY = 0.8
#: Names looked at when telling the pattern (the first ones).
CASE_SAMPLE = 2000
_STYLE_NAMES = {
    "title": "like Cd3e (mouse, rat)",
    "upper": "like CD3E (human)",
}


def gene_case_style(names: Iterable[str]) -> Optional[str]:
    """How a list of gene symbols is capitalised.

    Looks at the letters of each name with at least two of them, skipping
    Ensembl ids (``ENS...``): ``"title"`` when at least
    :data:`CASE_MAJORITY` of them are first-upper-rest-lower (``Cd3e``),
    ``"upper"`` when that many are all upper-case (``CD3E``), else None.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.genes import gene_case_style
    >>> gene_case_style(["Cd3e", "Actb", "Gapdh", "Ptprc", "mt-Co1"])
    'title'
    >>> gene_case_style(["CD3E", "ACTB", "GAPDH"])
    'upper'
    >>> gene_case_style(["ENSMUSG00000002", "ENSMUSG00000003"]) is None
    True
    """
    title = upper = seen = 0
    for name in names:
        if seen >= CASE_SAMPLE:
            break
        text = str(name)
        if text.upper().startswith("ENS"):
            continue
        letters = [c for c in text if c.isalpha()]
        if len(letters) < 2:
            continue
        seen += 1
        if all(c.isupper() for c in letters):
            upper += 1
        elif letters[0].isupper() and all(c.islower() for c in letters[1:]):
            title += 1
    if not seen:
        return None
    if title >= CASE_MAJORITY * seen:
        return "title"
    if upper >= CASE_MAJORITY * seen:
        return "upper"
    return None


def species_warning(model_genes: Sequence[str],
                    query_genes: Sequence[str]) -> Optional[str]:
    """A warning when the two gene lists are capitalised as two different
    species write gene symbols, else None.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.genes import species_warning
    >>> species_warning(["Cd3e", "Actb"], ["CD3E", "ACTB"])[:40]
    "the model's genes are written like Cd3e "
    >>> species_warning(["Cd3e"], ["Cd3e"]) is None
    True
    """
    model, query = gene_case_style(model_genes), gene_case_style(query_genes)
    if model is None or query is None or model == query:
        return None
    return ("the model's genes are written %s, the query's %s: is the query "
            "from another species? Genes were matched by ignoring case" %
            (_STYLE_NAMES[model], _STYLE_NAMES[query]))
