"""A device PyTorch cannot use here is refused with one message naming it
where the package takes one (``ACTINNModel``, ``ACTINNAnnotator.fit`` and
``fit_file``), as the command line and ``ACTINNAnnotator.load`` do, rather
than PyTorch's ``Torch not compiled with CUDA enabled`` later: any device
PyTorch names (MPS, ``meta``, XPU), ``cpu:0`` as ``cpu``."""
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
    # cpu:0 as cpu (DeepChem's torch.load of a checkpoint cannot map to it)
    assert ACTINNModel(n_features=10, n_classes=3,
                       device="cpu:0").device == "cpu"


def test_the_annotator_refuses_a_device_before_fitting(no_gpu, tmp_path):
    annotator = ACTINNAnnotator(device="cuda", n_networks=1)
    with pytest.raises(ACTINNInputError,
                       match="^device cuda: PyTorch sees no CUDA GPU here$"):
        annotator.fit(np.ones((4, 3)), ["a", "b", "c"], ["x", "x", "y", "y"])
    with pytest.raises(ACTINNInputError,
                       match="^device cuda: PyTorch sees no CUDA GPU here$"):
        annotator.fit_file(tmp_path / "absent.h5ad", tmp_path / "labels.csv")
    assert not hasattr(annotator, "ensemble_")


def test_a_cpu_index_is_the_cpu():
    """PyTorch takes ``cpu:0`` (its CPU has no other): so does the package,
    as ``cpu``."""
    assert usable_device("cpu:0") == torch.device("cpu")
    assert usable_device(torch.device("cpu", 0)) == torch.device("cpu")


@pytest.fixture
def no_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_every_device_pytorch_knows_is_checked(no_mps):
    """Not only CUDA: any device PyTorch names is refused before any work,
    in one line saying why, when PyTorch cannot compute on it here."""
    if not torch.backends.mps.is_available():
        with pytest.raises(ACTINNInputError,
                           match="^device mps: (this PyTorch is built "
                           "without MPS|MPS is not available on this "
                           "machine)"):
            usable_device("mps")
    with pytest.raises(ACTINNInputError,
                       match="^device meta: 'meta' cannot compute: it holds "
                       "tensors' shapes, not their values$"):
        usable_device("meta")
    if not torch.xpu.is_available():
        with pytest.raises(ACTINNInputError,
                           match="^device xpu: PyTorch sees no XPU device "
                           "here$"):
            usable_device("xpu")
    with pytest.raises(ACTINNInputError,
                       match="^device vulkan: PyTorch cannot compute on it "
                       "here \\(NotImplementedError: Could not run "):
        usable_device("vulkan")


def test_mps_in_a_pytorch_built_without_it(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: False)
    with pytest.raises(ACTINNInputError,
                       match="^device mps: this PyTorch is built without "
                       "MPS \\(Apple GPUs, on macOS\\)$"):
        usable_device("mps")


def test_the_commands_check_any_device(no_mps, quick, tmp_path, capsys):
    """``--device cpu:0`` predicts as ``cpu``; ``mps`` without MPS is one
    line, before any work (no annotator, no output)."""
    from deepchem_actinn.cli import main
    from deepchem_actinn.datasets import tabula_muris_sample_paths
    paths = tabula_muris_sample_paths()
    quick.save(tmp_path / "model")
    for device, out in (("cpu", "by_cpu"), ("cpu:0", "by_cpu0")):
        assert main([
            "predict", "-m",
            str(tmp_path / "model"), "-ts",
            str(paths["test"]), "-o",
            str(tmp_path / out), "--device", device, "-q"
        ]) == 0
    assert (tmp_path / "by_cpu0" / "predicted_label.txt").read_text() == \
        (tmp_path / "by_cpu" / "predicted_label.txt").read_text()
    capsys.readouterr()
    for command in ([
            "predict", "-m",
            str(tmp_path / "model"), "-ts",
            str(paths["test"]), "-o",
            str(tmp_path / "out")
    ], [
            "train", "-trs",
            str(paths["train"]), "-trl",
            str(paths["train_labels"]), "-m",
            str(tmp_path / "trained"), "-ne", "1"
    ]):
        for device, why in (("mps", "MPS is not available on this machine"),
                            ("meta", "'meta' cannot compute")):
            assert main(command + ["--device", device, "-q"]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and ("--device %s: %s" %
                                      (device, why)) in err[0], err
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "trained").exists()
