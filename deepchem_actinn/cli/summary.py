"""What ``actinn predict`` tells the user at the end, and when to worry.

The summary names the cells annotated, the share marked ``Unassigned`` when
a rule was asked for (``--unassigned`` or ``--threshold``; and, with
``--unassigned``, why: unsure between types, or far from every type
after the query's calibration, whose divisor it names), the cells
``--hierarchy`` gave a parent type and what ``--majority-voting`` changed,
the gene identifiers used and how many of the model's genes they found
(the genes
missing are said once, by the warning of
:func:`~deepchem_actinn.preprocessing.gene_positions`, with examples, and
with "expect poor labels" when the query shares under half of them). One
warning of its own: the query's gene names are
written the way another species writes them (``Cd3e``, first letter upper,
is how mouse and rat symbols are written; ``CD3E``, all upper, how human
ones are). Genes are matched case-insensitively, so a human query matches
a mouse model through upper-casing without an error; the case of the names
as the files spell them is what gives it away.
"""
import logging
from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from deepchem_actinn.confidence import LOW_PROBABILITY, NOVEL, UNASSIGNED
from deepchem_actinn.errors import counted
from deepchem_actinn.preprocessing.genes import species_warning

logger = logging.getLogger("deepchem_actinn")


class PredictionSummary:
    """Counts gathered while predicting, reported at the end.

    Examples
    --------
    >>> from deepchem_actinn.cli.summary import PredictionSummary
    >>> s = PredictionSummary(n_model_genes=4, rule=True)
    >>> s.add(["B", "Unassigned", "B", "T"], genes_missing=1)
    >>> s.lines(gene_column="var_names")[0]
    'annotated 4 cells: B 2, T 1, Unassigned 1; 25.0 % Unassigned'

    Past six labels (types, parent types and Unassigned alike), the count:

    >>> s.add(list("CDEFG"), genes_missing=1)
    >>> s.lines(gene_column="var_names")[0].split(": ")[1]
    'B 2, C 1, D 1, E 1, F 1, G 1, ... (8 labels); 11.1 % Unassigned'

    Without a rule, no word of ``Unassigned``:

    >>> s = PredictionSummary(n_model_genes=4)
    >>> s.add(["B", "T", "B"], genes_missing=0)
    >>> s.lines(gene_column="var_names")[0]
    'annotated 3 cells: B 2, T 1'

    With ``--unassigned``, why cells were left ``Unassigned``:

    >>> s = PredictionSummary(n_model_genes=4, rule=True)
    >>> s.add(["B", "Unassigned", "Unassigned"], 0,
    ...       ["", "low_probability", "novel"], 2.0)
    >>> s.rule_line()[:65]
    'Unassigned: 1 cell whose likeliest type has under 0.5 probability'

    A shifted query's distances are divided by each type's own shift:

    >>> s.add(["B", "T"], 0, ["", ""], 3.36, [3.67, 3.13])
    >>> s.rule_line().split("divided by ")[1][:21]
    '2.00-3.67, by type fo'
    """

    def __init__(self,
                 n_model_genes: int,
                 device: str = "",
                 min_probability: float = 0.5,
                 rule: bool = False) -> None:
        self.n_model_genes = int(n_model_genes)
        #: Whether an Unassigned rule was asked for (its share is said).
        self.rule = bool(rule)
        self.device = str(device)
        self.min_probability = float(min_probability)
        self.type_counts: Counter = Counter()
        #: The majority vote's labels, counted (``--majority-voting``).
        self.vote_counts: Counter = Counter()
        #: The vote's clusters, and the cells it gave another label.
        self.vote_clusters = 0
        self.vote_moved = 0
        #: The parent types a hierarchy gave, counted (``--hierarchy``),
        #: and the cells it judged.
        self.parent_counts: Counter = Counter()
        self.level_cells = 0
        self.genes_missing = 0
        self.uncertain = 0
        self.novel = 0
        self.scales: List[float] = []
        self.by_type = False

    def add(self,
            cell_types: Iterable[str],
            genes_missing: int,
            reasons: Optional[Sequence[str]] = None,
            query_scale: Optional[float] = None,
            type_scales: Optional[Sequence[float]] = None) -> None:
        """Count one chunk's labels; with ``--unassigned``, why the rule
        marked its cells (``Annotation.unassigned_reason``, as
        :meth:`RejectionRule.decide
        <deepchem_actinn.confidence.RejectionRule.decide>` gave it) and its
        divisors for this chunk (``query_scale``, or each type's,
        ``type_scales``, when the query is shifted)."""
        names = np.asarray([str(t) for t in cell_types], dtype=object)
        self.type_counts.update(names.tolist())
        self.genes_missing = int(genes_missing)
        if reasons is not None:
            why = np.asarray(reasons, dtype=object)
            self.uncertain += int(np.sum(why == LOW_PROBABILITY))
            self.novel += int(np.sum(why == NOVEL))
        if type_scales is not None:
            self.by_type = True
            self.scales.extend(float(v) for v in type_scales)
        elif query_scale is not None:
            self.scales.append(float(query_scale))

    def add_vote(self, cell_types: Sequence[str], voted: Sequence[str],
                 n_clusters: int) -> None:
        """Count a majority vote over ``n_clusters`` clusters: each cell's
        own label and its ``voted`` one.

        Examples
        --------
        >>> from deepchem_actinn.cli.summary import PredictionSummary
        >>> s = PredictionSummary(n_model_genes=4)
        >>> s.add_vote(["B", "T", "T"], ["B", "B", "T"], 2)
        >>> s.vote_line()
        'majority voting over 2 clusters: 1 of 3 cells took another label; B 2, T 1'
        """
        own = np.asarray([str(t) for t in cell_types], dtype=object)
        after = np.asarray([str(t) for t in voted], dtype=object)
        self.vote_counts.update(after.tolist())
        self.vote_moved += int(np.sum(own != after))
        self.vote_clusters += int(n_clusters)

    def add_levels(self, cell_types: Sequence[str],
                   levels: Sequence[str]) -> None:
        """Count the cells a type hierarchy labelled with a parent type
        (``levels``: ``"parent"`` for them, as
        ``Annotation.levels`` gives it).

        Examples
        --------
        >>> from deepchem_actinn.cli.summary import PredictionSummary
        >>> s = PredictionSummary(n_model_genes=4)
        >>> s.add_levels(["lymphocyte", "B", "lymphocyte"],
        ...              ["parent", "type", "parent"])
        >>> s.level_line()
        'hierarchy: 2 of 3 cells got a parent type; lymphocyte 2'
        """
        names = np.asarray([str(t) for t in cell_types], dtype=object)
        parent = np.asarray(levels, dtype=object) == "parent"
        self.parent_counts.update(names[parent].tolist())
        self.level_cells += len(names)

    def level_line(self) -> Optional[str]:
        """How many cells ``--hierarchy`` gave a parent type, and which, or
        None without it."""
        if not self.level_cells:
            return None
        given = sum(self.parent_counts.values())
        line = "hierarchy: %d of %d cells got a parent type" % (
            given, self.level_cells)
        return line + "; " + _top(self.parent_counts) if given else line

    def vote_line(self) -> Optional[str]:
        """What ``--majority-voting`` changed, or None without it."""
        if not self.vote_counts:
            return None
        return ("majority voting over %s: %d of %d cells took another "
                "label; %s" %
                (counted(self.vote_clusters, "cluster"), self.vote_moved,
                 sum(self.vote_counts.values()), _top(self.vote_counts)))

    def rule_line(self) -> Optional[str]:
        """Why cells are ``Unassigned`` under ``--unassigned``: unsure
        between types, or further from every type than the reference's
        own cells (after the query's calibration), or None without it."""
        if not self.scales:
            return None
        low, high = min(self.scales), max(self.scales)
        scale = ("%.2f" % low if high - low < 0.005 else "%.2f-%.2f, %s" %
                 (low, high, "by type" if self.by_type else "chunk by chunk"))
        return ("Unassigned: %s likeliest type has under %g probability, "
                "%d further from every type than the reference's own cells; "
                "the rule's distances were divided by %s for this query (1: "
                "as close to the reference as its own held-out cells)" %
                (counted(self.uncertain, "cell", "whose/whose"),
                 self.min_probability, self.novel, scale))

    @property
    def n_cells(self) -> int:
        """Cells annotated so far."""
        return sum(self.type_counts.values())

    def lines(self, gene_column: str, outputs: Sequence[str] = ()) -> List[str]:
        """The summary, one line per fact."""
        n = self.n_cells
        shown = _top(self.type_counts)
        if self.rule:
            shown += "; %.1f %% Unassigned" % (
                100.0 * self.type_counts.get(UNASSIGNED, 0) / max(n, 1))
        lines = [
            "annotated %d cells%s: %s" %
            (n, " on " + self.device if self.device else "", shown),
            "genes matched by %s: %s of the model's %d found" %
            (gene_column, "all" if not self.genes_missing else "%d" %
             (self.n_model_genes - self.genes_missing), self.n_model_genes),
        ]
        for line in (self.rule_line(), self.level_line(), self.vote_line()):
            if line:
                lines.append(line)
        if outputs:
            lines.append("wrote %s" % ", ".join(outputs))
        return lines

    def warnings(self, model_genes: Sequence[str],
                 query_genes: Sequence[str]) -> List[str]:
        """Reasons to distrust the labels the matching did not give:
        another species (few shared genes were said as they were
        matched)."""
        species = species_warning(model_genes, query_genes)
        return [species] if species else []

    def log(self, model_genes: Sequence[str], query_genes: Sequence[str],
            gene_column: str, outputs: Sequence[str]) -> Dict[str, object]:
        """Log the summary (INFO) and the warnings (WARNING);
        ``gene_column`` is what the genes were matched by, in words
        (:func:`matched_by`)."""
        for line in self.lines(gene_column, outputs):
            logger.info("%s", line)
        for line in self.warnings(model_genes, query_genes):
            logger.warning("%s", line)
        return {"n_cells": self.n_cells, "genes_missing": self.genes_missing}


def _top(counts: Counter) -> str:
    """The six commonest labels and their cells, and past six the count of
    labels."""
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join("%s %d" % kv for kv in top[:6])
    if len(top) > 6:
        shown += ", ... (%d labels)" % len(top)
    return shown


def matched_by(column: str, h5ad: bool) -> str:
    """The query's gene identifiers a model's genes were matched by, in
    words: ``var_names`` is the file's gene names (an h5ad file's
    ``var_names``, a 10x file's or a table's genes); another column is an
    h5ad file's ``var`` column, or a 10x file's gene ids.

    Examples
    --------
    >>> from deepchem_actinn.cli.summary import matched_by
    >>> matched_by("var_names", h5ad=False)
    "the query's gene names"
    >>> matched_by("var['gene_ids']", h5ad=True)
    "the query's var column 'gene_ids'"
    >>> matched_by("var['gene_ids']", h5ad=False)
    "the query's gene_ids"
    """
    if column == "var_names":
        return "the query's gene names"
    if not (column.startswith("var['") and column.endswith("']")):
        return "the query's %s" % column  # as a (hand-edited) record says
    name = column[len("var['"):-len("']")]
    return "the query's var column %r" % name if h5ad else "the query's %s" % (
        name)
