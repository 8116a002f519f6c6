"""Running deepchem_actinn on existing distributed engines.

Prediction on a ``dask.distributed`` cluster lives in
:mod:`deepchem_actinn.distributed.dask_predict`. The names are imported on
first use and Dask itself only when a function runs, so this package imports
without the optional ``distributed`` extra.
"""
import importlib
from typing import Any, List

_EXPORTS = {
    "predict_dask": "deepchem_actinn.distributed.dask_predict",
    "predict_file_dask": "deepchem_actinn.distributed.dask_predict",
    "is_dask_array": "deepchem_actinn.distributed.dask_predict",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError("module 'deepchem_actinn.distributed' has no "
                         "attribute %r" % name)


def __dir__() -> List[str]:
    return sorted(list(globals()) + list(_EXPORTS))
