"""The ACTINN network (plain PyTorch) and its DeepChem model.

Imported on first use: the network and prediction need no DeepChem.
"""
from deepchem_actinn._lazy import lazy_exports

_EXPORTS = {
    "ACTINNClassifier": "deepchem_actinn.models.network",
    "ACTINNEnsemble": "deepchem_actinn.models.network",
    "ACTINNModel": "deepchem_actinn.models.actinn",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
