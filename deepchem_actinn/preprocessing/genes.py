"""Gene-name matching: the one rule every path uses.

A query's genes are matched to a model's (or a fitted gene filter's) by
name, case-insensitively, as ACTINN does (``Cd3e`` matches ``CD3E``), and
Ensembl ids regardless of their version suffix (``ENSMUSG00000000001.4``
matches ``ENSMUSG00000000001`` and ``.3``: one gene in two annotation
releases). When a query carries several identifiers per gene (10x
``gene_ids`` and symbols, h5ad ``var`` columns), the column that matches
best is used (:func:`query_genes`, which every prediction path calls).
Genes the query lacks get position -1 (their values are set to zero) and
are reported once, through the package's logger; a query sharing fewer than
``min_overlap`` of the model's genes is refused with the overlap figures,
since predicting with unmatched genes gives one constant label for every
cell. Matching ignores case, so a human query (``CD3E``) matches a mouse
model (``Cd3e``) without an error;
:func:`~deepchem_actinn.preprocessing.gene_names.species_warning` tells it
from how the names are capitalised.

The form in which two names are compared is
:func:`~deepchem_actinn.io.genes.gene_key` (upper case, an Ensembl id without
its version). It is defined in :mod:`deepchem_actinn.io.genes`, the lowest
layer that needs it (the readers drop repeated genes by it, and tell a file's
layout from its gene names), and used from there by everything here. Genes
that are one gene by it cannot be told apart by any model:
:func:`~deepchem_actinn.preprocessing.gene_names.refuse_repeated_genes`
refuses them in a reference (fitting an annotator or a gene filter) and in a
saved annotator.
"""
import functools
import logging
import math
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple, Union)

import numpy as np
import pandas as pd

from deepchem_actinn.errors import ACTINNInputError, Advice, Message, examples
from deepchem_actinn.io.genes import gene_key
from deepchem_actinn.preprocessing.gene_names import (  # noqa: F401
    gene_case_style, names_unmatched, r_name, refuse_repeated_genes,
    renamed_by_r, repeated_genes, species_warning)

logger = logging.getLogger(__name__)


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
#: :func:`measured_genes` is passed it).
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
    >>> from deepchem_actinn.preprocessing.genes import lower_min_overlap
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


def query_genes(model_genes: Sequence[str],
                var: pd.DataFrame,
                min_overlap: float = 0.5,
                *,
                source: Optional[str] = None,
                spelled: Optional[Callable[[], Optional[pd.DataFrame]]] = None,
                overlap_argument: bool = False) -> Tuple[str, List[str]]:
    """The query's gene identifiers to match a model's genes by, chosen
    and said alike by every prediction path (``predict_file``,
    ``annotate``, ``predict_file_dask``, ``actinn predict``): the column
    (:func:`gene_candidates`) that holds most of them
    (:func:`choose_gene_column`), logged (INFO) when not ``var_names``; a
    warning for names capitalised as another species writes gene symbols
    (:func:`~deepchem_actinn.preprocessing.gene_names.species_warning`).

    Parameters
    ----------
    model_genes: sequence of str
        The model's genes.
    var: pandas.DataFrame
        The query's genes: indexed by their names, its text columns other
        identifiers (an AnnData's ``var``, or
        :func:`~deepchem_actinn.io.read_var`'s).
    min_overlap: float, default 0.5
        Smallest share of the model's genes the chosen column must hold.
    source: str, optional
        The query's file, which the messages then start with.
    spelled: callable, optional
        Where ``var``'s names were upper-cased, a function giving them as
        the file spells them (a ``var`` as well), or None where their case
        tells nothing; called only when needed: for the species warning
        and for a refusal, which shows the names as spelled. By default
        ``var``'s names are taken as spelled.
    overlap_argument: bool, default False
        As in :func:`choose_gene_column`.

    Returns
    -------
    (column, names): tuple of (str, list of str)
        The column's name (``"var_names"`` or ``"var['<column>']"``) and
        its identifiers, one per gene of ``var``; an
        :class:`~deepchem_actinn.ACTINNInputError` (naming ``source``) if
        none holds ``min_overlap`` of the model's genes.

    Examples
    --------
    >>> import pandas as pd
    >>> from deepchem_actinn.preprocessing.genes import query_genes
    >>> var = pd.DataFrame({"symbol": ["CD3E", "MS4A1"]},
    ...                    index=["ENSG1", "ENSG2"])
    >>> query_genes(["CD3E", "MS4A1"], var)
    ("var['symbol']", ['CD3E', 'MS4A1'])
    """
    candidates = gene_candidates(var.index, var)
    prefix = "" if source is None else "%s: " % source
    choose = functools.partial(choose_gene_column,
                               model_genes,
                               min_overlap=min_overlap,
                               overlap_argument=overlap_argument)
    try:
        column, matched = choose(candidates)
    except ACTINNInputError as err:
        as_spelled = None if spelled is None else spelled()
        shown: Any = err
        if as_spelled is not None:
            try:  # the names as the file spells them, not upper-cased
                choose(gene_candidates(as_spelled.index, as_spelled))
            except ACTINNInputError as spelled_err:
                shown = spelled_err
        raise ACTINNInputError("%s%s", prefix, shown) from None
    if column != "var_names":
        logger.info("%smatched genes through %s (%d of the model's %d genes)",
                    prefix, column, matched, len(model_genes))
    names: Optional[Sequence[str]] = candidates[column]
    if spelled is not None and gene_case_style(model_genes) is not None:
        as_spelled = spelled()
        names = None if as_spelled is None else gene_candidates(
            as_spelled.index, as_spelled).get(column)
    species = species_warning(model_genes, names) if names else None
    if species:
        logger.warning("%s%s", prefix, species)
    return column, candidates[column]


def query_file_genes(model_genes: Sequence[str],
                     path: Any,
                     format: Optional[str] = None,
                     min_overlap: float = 0.5,
                     *,
                     upper_case_genes: bool = True,
                     var: Optional[pd.DataFrame] = None,
                     **read_options: Any) -> Tuple[str, List[str]]:
    """:func:`query_genes` for a query file: its ``var`` read
    (:func:`~deepchem_actinn.io.read_var`, unless given, as read with
    ``upper_case_genes``), its names as the file spells them read again
    when needed. An ACTINN HDF5 file whose names are all upper case, as
    ``actinn format`` writes them, says nothing of its species.

    ``read_options`` are :func:`~deepchem_actinn.io.read_var`'s
    (``layer``, ``use_raw``, ``allow_non_integer``, ``orientation``,
    ``expected_genes``).

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.preprocessing.genes import query_file_genes
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2\\nCd3e,3,0\\nMs4a1,0,1\\n")
    >>> query_file_genes(["Cd3e", "Ms4a1"], path)
    ('var_names', ['CD3E', 'MS4A1'])
    """
    from deepchem_actinn.io import read_var
    from deepchem_actinn.io.formats import path_and_format
    if var is None:
        var = read_var(path, format, upper_case_genes, **read_options)

    def spelled() -> Optional[pd.DataFrame]:
        try:
            names = var if not upper_case_genes else read_var(
                path, format, False, **read_options)
        except ACTINNInputError:
            return None
        if (path_and_format(path, format)[1] == "actinn_h5" and
                gene_case_style(names.index) == "upper"):
            logger.info(
                "%s: its gene names are all upper case, as actinn format "
                "writes them, so their case cannot tell the query's species: "
                "make sure it is the model's", path)
            return None
        return names

    return query_genes(model_genes,
                       var,
                       min_overlap,
                       source=str(path),
                       spelled=spelled)


def query_orientation(path: Any, format: Optional[str],
                      orientation: Optional[str],
                      model_genes: Sequence[str]) -> Optional[str]:
    """The layout of a CSV/TSV query, decided once (when not given) by the
    axis that holds more of the model's genes, so that the readers after it
    take it as given and the choice is said once; ``orientation`` as it is
    for other formats (whose readers refuse one).

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.preprocessing.genes import query_orientation
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("cell,Cd3e,Ms4a1\\nc1,3,0\\n")
    >>> query_orientation(path, None, None, ["CD3E", "MS4A1"])
    'cells_by_genes'
    """
    from deepchem_actinn.io.content import reading
    from deepchem_actinn.io.formats import FORMAT_WORDS, path_and_format
    from deepchem_actinn.io.text import SEPARATORS, text_orientation
    p, fmt = path_and_format(path, format)
    if fmt not in SEPARATORS:
        return orientation
    with reading(p, FORMAT_WORDS[fmt]):
        return text_orientation(p,
                                fmt,
                                orientation,
                                expected_genes=[str(g) for g in model_genes])


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
    positions, spellings = _matched(reference, query)
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


def _matched(reference: Sequence[str],
             query: Sequence[str]) -> Tuple[np.ndarray, Dict[str, List[str]]]:
    """:func:`gene_positions`' positions, said nothing of, and the query's
    spellings of each gene (by :func:`~deepchem_actinn.io.genes.gene_key`)."""
    exact: Dict[str, int] = {}  # the name as written (ignoring case) first
    by_key: Dict[str, int] = {}  # then another Ensembl version of it
    spellings: Dict[str, List[str]] = {}
    for i, name in enumerate(query):
        text = str(name)
        key = gene_key(text)
        exact.setdefault(text.upper(), i)
        by_key.setdefault(key, i)
        spellings.setdefault(key, []).append(text)
    positions = [
        exact.get(str(g).upper(), by_key.get(gene_key(g), -1))
        for g in reference
    ]
    return np.array(positions, dtype=np.int64), spellings


def gene_mask(reference: Sequence[str],
              query: Union[Sequence[str], pd.DataFrame]) -> np.ndarray:
    """Which of the query's genes a model uses: its genes matched as
    prediction matches them (ignoring case, an Ensembl id under another
    version, the first of a name repeated, through the identifier column
    of ``var`` that holds most of them), said nothing of. To keep the cells
    with counts in them: ``adata[np.ravel(adata[:, mask].X.sum(axis=1)) >
    0]``.

    Parameters
    ----------
    reference: sequence of str
        The model's genes (``annotator.genes_``) or a gene filter's.
    query: sequence of str or pandas.DataFrame
        The query's genes, one per column: their names, or an AnnData's
        ``var`` (its index and text columns, as :func:`gene_candidates`).

    Returns
    -------
    np.ndarray of bool
        One entry per query gene: True where a reference gene is matched
        to it.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing import gene_mask
    >>> gene_mask(["Cts7", "ENSMUSG00000000001"],
    ...           ["CTS7", "X", "ENSMUSG00000000001.4", "cts7"])
    array([ True, False,  True, False])
    """
    if isinstance(query, pd.DataFrame):
        candidates = gene_candidates(query.index, query)
        query = candidates[choose_gene_column(reference, candidates, 0.0)[0]]
    positions = _matched(reference, query)[0]
    mask = np.zeros(len(query), dtype=bool)
    mask[positions[positions >= 0]] = True
    return mask


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
