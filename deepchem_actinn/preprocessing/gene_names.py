"""How gene names are spelled: their capitalisation, by which the
species of gene symbols shows (:func:`species_warning`); R's
``make.names``, which renames genes that pass through an R data frame
(:func:`renamed_by_r`); and names that spell one gene twice
(:func:`repeated_genes`), which no model can tell apart; and, for a query
refused, how its unmatched names and the model's look
(:func:`names_unmatched`).

Matching ignores case and Ensembl versions
(:mod:`~deepchem_actinn.preprocessing.genes`, by
:func:`~deepchem_actinn.io.genes.gene_key`); these say what the names'
spelling suggests, in warnings and refusals.
"""
import re
from typing import Dict, Iterable, List, Optional, Sequence

from deepchem_actinn.errors import ACTINNInputError, counted, examples
from deepchem_actinn.io.genes import gene_key


def repeated_genes(genes: Iterable) -> List[str]:
    """The gene names that are one gene by the matching rule
    (:func:`~deepchem_actinn.preprocessing.genes.gene_key`: ignoring case
    and an Ensembl version), each group as its spellings joined by ``/``, in the order of
    their first appearance.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.gene_names import repeated_genes
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
    >>> from deepchem_actinn.preprocessing.gene_names import refuse_repeated_genes
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


def r_name(name: str) -> str:
    """``name`` as R's ``make.names`` writes it (``H2-K1`` -> ``H2.K1``,
    ``1700001C19Rik`` -> ``X1700001C19Rik``), as a data frame's row or
    column names become when read or written with ``check.names = TRUE``.

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.gene_names import r_name
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
    >>> from deepchem_actinn.preprocessing.gene_names import renamed_by_r
    >>> renamed_by_r(["H2-K1", "Cd3e"], ["H2.K1", "Actb"])[:44]
    '; 1 of them is in the query as R renamed it '
    """
    have = {gene_key(g) for g in query}
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
    >>> from deepchem_actinn.preprocessing.gene_names import gene_case_style
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
    >>> from deepchem_actinn.preprocessing.gene_names import species_warning
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


def names_unmatched(query: Sequence[str], wanted: set, lacking: Sequence[str],
                    what: str) -> str:
    """The end of the refusal of a query that shares almost no genes:
    examples of the unmatched names on both sides, as they are spelled,
    and that they are compared ignoring case. The query's genes outside a
    selection are not all foreign: some may be genes the selection left
    out (:data:`_NOT_SELECTED`).

    Examples
    --------
    >>> from deepchem_actinn.preprocessing.gene_names import names_unmatched
    >>> text = names_unmatched(["ENSG1"], {"CD3E"}, ["Cd3e"], "the model's")
    >>> text.split("; ")[0]
    ". The model's genes the query lacks look like Cd3e"
    """
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
