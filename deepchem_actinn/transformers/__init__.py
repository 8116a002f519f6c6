"""DeepChem transformers for ACTINN's preprocessing."""
from deepchem_actinn.transformers.gene_filter import GeneFilterTransformer
from deepchem_actinn.transformers.normalise import (LibrarySizeLogTransformer,
                                                    library_size_log)

__all__ = [
    "GeneFilterTransformer", "LibrarySizeLogTransformer", "library_size_log"
]
