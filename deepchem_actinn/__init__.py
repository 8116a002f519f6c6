"""ACTINN automated cell-type identification for DeepChem.

The public names are imported on first use, so ``import deepchem_actinn``
(and the ``actinn`` command's ``--help``) stays fast and does not pull in
DeepChem or PyTorch until they are needed. The DeepChem integration
(``ACTINNModel``, the two transformers, the splitter) loads DeepChem quietly
on first use, or says in one line how to install it.
"""
from deepchem_actinn._lazy import lazy_exports
from deepchem_actinn._version import __version__  # noqa: F401

_EXPORTS = {
    "LibrarySizeLogTransformer": "deepchem_actinn.transformers.normalise",
    "library_size_log": "deepchem_actinn.preprocessing.normalise",
    "GeneFilterTransformer": "deepchem_actinn.transformers.gene_filter",
    "ACTINNModel": "deepchem_actinn.models.actinn",
    "ACTINNClassifier": "deepchem_actinn.models.network",
    "ACTINNEnsemble": "deepchem_actinn.models.network",
    "SingletaskStratifiedSplitter": "deepchem_actinn.splitters",
    "CellTypeLabels": "deepchem_actinn.labels",
    "ACTINNAnnotator": "deepchem_actinn.annotator",
    "Annotation": "deepchem_actinn.annotator",
    "annotate": "deepchem_actinn.annotator",
    "train": "deepchem_actinn.annotator",
    "load_tabula_muris_sample": "deepchem_actinn.datasets",
    "ACTINNInputError": "deepchem_actinn.errors",
    "read": "deepchem_actinn.io",
    "read_labels": "deepchem_actinn.io",
    "write_report": "deepchem_actinn.report",
    "simulate_counts": "deepchem_actinn.simulate",
}

#: Names of the DeepChem integration, with the DeepChem modules each loads.
_NEEDS_DEEPCHEM = {
    "LibrarySizeLogTransformer": (),
    "GeneFilterTransformer": (),
    "ACTINNModel": ("deepchem.models.torch_models",),
    "SingletaskStratifiedSplitter": (),
}

__all__ = ["__version__"] + sorted(_EXPORTS)


def _before(name: str) -> None:
    if name in _NEEDS_DEEPCHEM:
        # Quietly, or with a one-line message saying what to install.
        from deepchem_actinn._deepchem import require_deepchem
        require_deepchem(name, *_NEEDS_DEEPCHEM[name])


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, _before)
