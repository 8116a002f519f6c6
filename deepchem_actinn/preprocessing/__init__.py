"""ACTINN's preprocessing on arrays (NumPy, SciPy sparse): no DeepChem.

One path for every user of it: :func:`library_size_log` normalises counts
(after :func:`check_counts`), :class:`GeneFilter` fits and applies ACTINN's
gene filter, and :func:`gene_positions` matches gene names with the one rule
(case-insensitive, missing genes logged; :func:`gene_mask`: the query's genes
it matches). The ``dc.trans`` transformers in
:mod:`deepchem_actinn.transformers` and the annotator both call these.
"""
from deepchem_actinn.preprocessing.gene_filter import (GeneFilter, select_genes,
                                                       take_columns)
from deepchem_actinn.preprocessing.gene_stats import (GeneStats,
                                                      gene_statistics)
from deepchem_actinn.preprocessing.gene_overlap import (choose_gene_column,
                                                        gene_candidates)
from deepchem_actinn.preprocessing.genes import gene_mask, gene_positions
from deepchem_actinn.preprocessing.normalise import (check_counts,
                                                     library_size_log)

__all__ = [
    "GeneFilter", "GeneStats", "check_counts", "choose_gene_column",
    "gene_candidates", "gene_mask", "gene_positions", "gene_statistics",
    "library_size_log", "select_genes", "take_columns"
]
