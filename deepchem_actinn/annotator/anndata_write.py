"""Writing an :class:`~deepchem_actinn.annotator.annotation.Annotation`
into an AnnData's ``obs``, ``obsm`` and ``uns``, under one ``key_added``
prefix, replacing what an earlier run wrote there (what
:func:`~deepchem_actinn.annotator.anndata.annotate` writes)."""
from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd

from deepchem_actinn._version import __version__
from deepchem_actinn.annotator.annotation import Annotation
from deepchem_actinn.errors import ACTINNInputError

#: ``obs`` columns ``key_added + suffix`` that only some runs write.
OPTIONAL_COLUMNS = ("_ambient_fraction", "_level", "_majority_voting",
                    "_over_clustering", "_novelty_score", "_unassigned_reason")
#: categorical ``obs`` columns ``key_added + suffix`` that every run writes.
WRITTEN_CATEGORICALS = ("_cell_type",)
#: ``obs`` columns ``key_added + PROBABILITY_COLUMN + type`` of
#: ``probability_columns=True``: one type's probability each.
PROBABILITY_COLUMN = "_probability_"


def probability_column_names(type_names: List[str],
                             key_added: str) -> List[str]:
    """The ``obs`` columns of ``probability_columns=True``, one per type:
    ``key_added + "_probability_" + type``, a ``/`` (which anndata refuses
    in a key it writes) written ``_``; two types that would share a column
    are refused, naming them.

    Examples
    --------
    >>> from deepchem_actinn.annotator.anndata import probability_column_names
    >>> probability_column_names(["B cell", "Tem/Trm cell"], "actinn")
    ['actinn_probability_B cell', 'actinn_probability_Tem_Trm cell']
    """
    names = [
        key_added + PROBABILITY_COLUMN + name.replace("/", "_")
        for name in type_names
    ]
    seen: Dict[str, str] = {}
    for name, column in zip(type_names, names):
        if column in seen:
            raise ACTINNInputError(
                "probability_columns: types %r and %r would share the obs "
                "column %r ('/', which anndata refuses in a key, is written "
                "'_'): their probabilities are in obsm['%s_probabilities'], "
                "columns in uns['%s']['type_names'] order" %
                (seen[column], name, column, key_added, key_added))
        seen[column] = name
    return names


def write_annotation(adata,
                     result: Annotation,
                     key_added: str,
                     counts: str,
                     cluster_order: Optional[List[str]] = None,
                     per_type: bool = False) -> None:
    """The per-cell labels, confidences and probabilities (with
    ``per_type``, one ``obs`` column per type too), what the run's options
    added, and ``uns`` (``counts``: the matrix the counts came from),
    replacing an earlier run's under ``key_added``, its optional columns
    too, as scanpy replaces a ``key_added``."""
    per_type_prefix = key_added + PROBABILITY_COLUMN
    stale = [
        key_added + suffix
        for suffix in OPTIONAL_COLUMNS
        if key_added + suffix in adata.obs
    ] + [
        c for c in adata.obs.columns
        if isinstance(c, str) and c.startswith(per_type_prefix)
    ]
    if stale:
        adata.obs = adata.obs.drop(columns=stale)
    for column in WRITTEN_CATEGORICALS + OPTIONAL_COLUMNS:
        # scanpy keeps a categorical's colours in uns[column + "_colors"]
        # and reuses them while their number suffices: the new categories
        # would take the old ones' colours
        adata.uns.pop(key_added + column + "_colors", None)
    adata.obs[key_added + "_cell_type"] = pd.Categorical(result.cell_types)
    adata.obs[key_added + "_confidence"] = result.confidence
    adata.obsm[key_added + "_probabilities"] = result.probabilities
    adata.uns[key_added] = {
        "type_names": result.type_names,
        "genes_missing": result.genes_missing,
        "gene_column": result.gene_column,
        "counts": counts,
        "package_version": __version__,
    }
    if result.ambient_fraction is not None:
        adata.obs[key_added + "_ambient_fraction"] = result.ambient_fraction
    if result.unassigned_reason is not None:
        # an assigned cell's reason ('' in the Annotation) is missing: no
        # unnamed category (scanpy draws it in na_color, named NA)
        reasons = np.asarray(result.unassigned_reason, dtype=str)
        adata.obs[key_added + "_unassigned_reason"] = pd.Categorical(
            reasons, categories=sorted(set(reasons) - {""}))
    if result.novelty_score is not None:
        adata.obs[key_added + "_novelty_score"] = result.novelty_score
        adata.uns[key_added]["query_scale"] = float(result.query_scale)
        if result.type_scales is not None:
            adata.uns[key_added]["type_scales"] = np.asarray(result.type_scales,
                                                             dtype=float)
    if result.levels is not None:
        adata.obs[key_added + "_level"] = pd.Categorical(result.levels)
    if result.majority_cell_types is not None:
        adata.obs[key_added + "_majority_voting"] = pd.Categorical(
            result.majority_cell_types)
        adata.obs[key_added + "_over_clustering"] = pd.Categorical(
            result.clusters,
            categories=cluster_order_of(result.clusters, cluster_order))
        adata.uns[key_added]["clusters"] = result.cluster_table
    if per_type:  # one frame joined: no column-by-column fragmentation
        adata.obs = pd.concat([
            adata.obs,
            pd.DataFrame(np.asarray(result.probabilities, dtype=np.float32),
                         index=adata.obs.index,
                         columns=probability_column_names(
                             result.type_names, key_added))
        ],
                              axis=1)


def cluster_order_of(clusters: Any, given: Optional[List[str]]) -> List[str]:
    """The clusters' names in the order ``given`` puts them, else in
    natural order ("2" before "10", as Leiden numbers them)."""
    from deepchem_actinn.voting import natural_key
    present = set(str(c) for c in clusters)
    if given is not None and present <= set(given):
        return [c for c in given if c in present]
    return sorted(present, key=natural_key)
