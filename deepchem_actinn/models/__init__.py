"""The ACTINN network (plain PyTorch) and its DeepChem model.

Imported on first use: the network and prediction need no DeepChem.
"""
import importlib
from typing import Any

_EXPORTS = {
    "ACTINNClassifier": "deepchem_actinn.models.network",
    "ACTINNEnsemble": "deepchem_actinn.models.network",
    "ACTINNModel": "deepchem_actinn.models.actinn",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
