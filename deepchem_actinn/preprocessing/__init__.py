"""ACTINN's preprocessing on arrays (NumPy, SciPy sparse): no DeepChem.

The ``dc.trans`` transformers in :mod:`deepchem_actinn.transformers` wrap
these functions for DeepChem datasets.
"""
