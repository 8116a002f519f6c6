"""DeepChem transformers for ACTINN's preprocessing: thin ``dc.trans``
wrappers over :mod:`deepchem_actinn.preprocessing`."""
from deepchem_actinn.transformers.gene_filter import GeneFilterTransformer
from deepchem_actinn.transformers.normalise import LibrarySizeLogTransformer

__all__ = ["GeneFilterTransformer", "LibrarySizeLogTransformer"]
