"""The trained annotator: fit once, save, annotate many datasets.

:class:`ACTINNAnnotator` (:mod:`~deepchem_actinn.annotator.annotator`), its
result :class:`Annotation`, saving and loading
(:mod:`~deepchem_actinn.annotator.persistence`), and :func:`train` and
:func:`annotate` for AnnData objects
(:mod:`~deepchem_actinn.annotator.anndata`).
"""
from deepchem_actinn.annotator.anndata import annotate, train
from deepchem_actinn.annotator.annotation import Annotation
from deepchem_actinn.annotator.annotator import ACTINNAnnotator
from deepchem_actinn.annotator.persistence import FORMAT_VERSION

__all__ = [
    "ACTINNAnnotator", "Annotation", "FORMAT_VERSION", "annotate", "train"
]
