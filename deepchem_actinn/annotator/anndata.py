"""Annotating an AnnData object in place, the way scanpy tools do."""
import logging
from typing import Any, Optional

import pandas as pd

from deepchem_actinn._version import __version__
from deepchem_actinn.annotator.annotation import Annotation
from deepchem_actinn.annotator.annotator import ACTINNAnnotator
from deepchem_actinn.io import counts_source
from deepchem_actinn.preprocessing.genes import (choose_gene_column,
                                                 gene_candidates)

logger = logging.getLogger(__name__)


def annotate(adata,
             annotator: ACTINNAnnotator,
             layer: Optional[str] = None,
             use_raw: Optional[bool] = None,
             unassigned: bool = False,
             threshold: Optional[float] = None,
             key_added: str = "actinn") -> Annotation:
    """Annotate an AnnData in place, the way scanpy tools do.

    Writes ``obs[key_added + "_cell_type"]`` (categorical),
    ``obs[key_added + "_confidence"]``, ``obsm[key_added + "_probabilities"]``
    (cells x types) and ``uns[key_added]`` (type names, genes matched, model
    version), so predictions can be plotted on a UMAP straight away.

    The counts are chosen by the package's one rule
    (:func:`~deepchem_actinn.io.counts_source`, as ``actinn
    predict`` does): ``layer=`` or ``use_raw=`` when given; otherwise ``X``
    when it holds counts, else ``.raw``, else a counts layer
    (``layers['counts']``), else an :class:`ACTINNInputError` saying what
    was found. Gene identifiers come from ``var_names`` or whichever string
    column of ``var`` matches the model's genes best.

    Parameters
    ----------
    adata: anndata.AnnData
        Cells x genes.
    annotator: ACTINNAnnotator
        A fitted annotator.
    layer: str, optional
        Read the counts from ``adata.layers[layer]``.
    use_raw: bool, optional
        True reads ``adata.raw``; False insists on ``X``; None follows the
        rule above.
    unassigned, threshold:
        As in :meth:`ACTINNAnnotator.predict`.
    key_added: str, default "actinn"
        Prefix of the keys written.

    Returns
    -------
    Annotation

    Examples
    --------
    >>> import anndata
    >>> from deepchem_actinn import ACTINNAnnotator, load_tabula_muris_sample
    >>> train, test = load_tabula_muris_sample()
    >>> model = ACTINNAnnotator(max_epochs=2, n_networks=1).fit(
    ...     train.X, train.var_names, train.obs["cell_type"])
    >>> result = annotate(test, model)
    >>> test.obs["actinn_cell_type"].shape
    (1000,)
    """
    chosen = counts_source(adata, layer, use_raw)
    var = chosen.var
    candidates = gene_candidates(var.index, var)
    column, matched = choose_gene_column(annotator.genes_, candidates,
                                         annotator.min_overlap)
    if column != "var_names":
        logger.warning("matched genes through %s (%d of the model's %d genes)",
                       column, matched, len(annotator.genes_))
    counts: Any = chosen.matrix
    result = annotator.predict(counts,
                               candidates[column],
                               adata.obs_names,
                               unassigned,
                               threshold,
                               gene_column=column)
    adata.obs[key_added + "_cell_type"] = pd.Categorical(result.cell_types)
    adata.obs[key_added + "_confidence"] = result.confidence
    adata.obsm[key_added + "_probabilities"] = result.probabilities
    adata.uns[key_added] = {
        "type_names": result.type_names,
        "genes_missing": result.genes_missing,
        "gene_column": column,
        "package_version": __version__,
    }
    return result
