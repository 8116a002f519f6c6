"""Running deepchem_actinn on existing distributed engines.

Prediction on a ``dask.distributed`` cluster lives in
:mod:`deepchem_actinn.distributed.dask_predict`. The names are imported on
first use and Dask itself only when a function runs, so this package imports
without the optional ``distributed`` extra.
"""
from deepchem_actinn._lazy import lazy_exports

_EXPORTS = {
    "predict_dask": "deepchem_actinn.distributed.dask_predict",
    "predict_file_dask": "deepchem_actinn.distributed.dask_predict",
    "is_dask_array": "deepchem_actinn.distributed.dask_predict",
    "require_distributed": "deepchem_actinn.distributed.dask_predict",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
