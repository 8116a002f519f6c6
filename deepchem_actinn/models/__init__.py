"""The ACTINN network and model."""
from deepchem_actinn.models.actinn import ACTINNClassifier, ACTINNModel

__all__ = ["ACTINNClassifier", "ACTINNModel"]
