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
cell. Choosing the identifier column and that refusal are
:mod:`deepchem_actinn.preprocessing.gene_overlap`, whose names
(:func:`choose_gene_column`, :func:`gene_candidates`,
:func:`lower_min_overlap`, :func:`accepting_share`) are imported from here
too. Matching ignores case, so a human query (``CD3E``) matches a mouse
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
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple, Union)

import numpy as np
import pandas as pd

from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.io.genes import gene_key
from deepchem_actinn.preprocessing.gene_names import (  # noqa: F401
    gene_case_style, names_unmatched, r_name, refuse_repeated_genes,
    renamed_by_r, repeated_genes, species_warning)
from deepchem_actinn.preprocessing.gene_overlap import (  # noqa: F401
    FEW_FOUND, accepting_share, choose_gene_column, gene_candidates,
    lower_min_overlap)

logger = logging.getLogger(__name__)


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
    names = set(map(gene_key, wanted))
    return np.array(
        [i for i, g in enumerate(map(gene_key, genes)) if g in names],
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
