"""A device PyTorch cannot use here is refused with one message naming it
where the package takes one (``ACTINNModel``, ``ACTINNAnnotator.fit`` and
``fit_file``), as the command line and ``ACTINNAnnotator.load`` do, rather
than PyTorch's ``Torch not compiled with CUDA enabled`` later."""
import numpy as np
import pytest
import torch

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.models.device import usable_device

pytestmark = pytest.mark.torch


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_usable_device_names_what_is_wrong(no_gpu):
    assert usable_device("cpu") == torch.device("cpu")
    assert usable_device(None) == torch.device("cpu")
    with pytest.raises(ACTINNInputError,
                       match="^device cuda: PyTorch sees no CUDA GPU here$"):
        usable_device("cuda")
    with pytest.raises(ACTINNInputError,
                       match="^device cuda:1: PyTorch sees no CUDA GPU here$"):
        usable_device(torch.device("cuda", 1))
    with pytest.raises(ACTINNInputError,
                       match="^device tpu9: not a device PyTorch knows \\("):
        usable_device("tpu9")


@pytest.mark.requires_deepchem
def test_the_model_refuses_a_device_it_cannot_use(no_gpu):
    from deepchem_actinn import ACTINNModel
    with pytest.raises(ACTINNInputError,
                       match="^device cuda: PyTorch sees no CUDA GPU here$"):
        ACTINNModel(n_features=10, n_classes=3, device="cuda")
    model = ACTINNModel(n_features=10, n_classes=3, device="cpu")
    assert model.device == "cpu"


def test_the_annotator_refuses_a_device_before_fitting(no_gpu, tmp_path):
    annotator = ACTINNAnnotator(device="cuda", n_networks=1)
    with pytest.raises(ACTINNInputError,
                       match="^device cuda: PyTorch sees no CUDA GPU here$"):
        annotator.fit(np.ones((4, 3)), ["a", "b", "c"], ["x", "x", "y", "y"])
    with pytest.raises(ACTINNInputError,
                       match="^device cuda: PyTorch sees no CUDA GPU here$"):
        annotator.fit_file(tmp_path / "absent.h5ad", tmp_path / "labels.csv")
    assert not hasattr(annotator, "ensemble_")
