"""The package's one device rule.

``device=None`` means CUDA when PyTorch sees a GPU, otherwise the CPU, for
training and prediction alike; anything else is taken as given (``cpu:0``
as ``cpu``), once :func:`usable_device` has checked that PyTorch can
compute on it here: CUDA, MPS, ``meta`` and any other device PyTorch
names.
"""
from typing import Optional, Union

import torch

from deepchem_actinn.errors import ACTINNInputError, first_line

#: What may be passed as a device: a name, a torch.device, or None (auto).
DeviceLike = Optional[Union[str, torch.device]]


def resolve_device(device: DeviceLike = None) -> torch.device:
    """The device to train or predict on.

    Parameters
    ----------
    device: str or torch.device, optional
        ``None`` picks ``cuda`` when available, else ``cpu``.

    Examples
    --------
    >>> from deepchem_actinn.models.device import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("cpu:0")  # PyTorch's CPU has no other index
    device(type='cpu')
    >>> resolve_device(None).type in ("cpu", "cuda")
    True
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    chosen = torch.device(device)
    # torch.load cannot map tensors to "cpu:0", where tensors land on "cpu"
    return torch.device("cpu") if chosen.type == "cpu" else chosen


def missing_gpu(device: torch.device) -> Optional[str]:
    """Why PyTorch cannot use ``device`` here (None when it can): a CUDA
    device without a GPU, or with an index beyond the GPUs seen.

    Examples
    --------
    >>> import torch
    >>> from deepchem_actinn.models.device import missing_gpu
    >>> missing_gpu(torch.device("cpu")) is None
    True
    """
    if device.type != "cuda":
        return None
    if not torch.cuda.is_available():
        return "PyTorch sees no CUDA GPU here"
    if device.index is not None and device.index >= torch.cuda.device_count():
        return "PyTorch sees %d CUDA GPU(s) here" % torch.cuda.device_count()
    return None


def unusable(device: torch.device) -> Optional[str]:
    """Why PyTorch cannot compute on ``device`` here (None when it can):
    :func:`missing_gpu` for CUDA; MPS not built or not available; ``meta``,
    which holds no values; another device PyTorch names when its backend
    says it is not available, or a small sum on it fails.

    Examples
    --------
    >>> import torch
    >>> from deepchem_actinn.models.device import unusable
    >>> unusable(torch.device("cpu")) is None
    True
    >>> unusable(torch.device("meta"))
    "'meta' cannot compute: it holds tensors' shapes, not their values"
    """
    if device.type == "cpu":
        return None
    if device.type == "cuda":
        return missing_gpu(device)
    if device.type == "meta":
        return "'meta' cannot compute: it holds tensors' shapes, not their " \
            "values"
    if device.type == "mps":
        if not torch.backends.mps.is_built():
            return "this PyTorch is built without MPS (Apple GPUs, on macOS)"
        if not torch.backends.mps.is_available():
            return ("MPS is not available on this machine (PyTorch uses it "
                    "on macOS 12.3 or later with an Apple silicon or AMD "
                    "GPU)")
    backend = getattr(torch, device.type, None)  # torch.xpu, torch.mtia
    available = getattr(backend, "is_available", None)
    if callable(available) and not available():
        return "PyTorch sees no %s device here" % device.type.upper()
    try:
        (torch.ones(2, device=device) * 2).sum().item()
    except Exception as err:  # whatever the backend raises: said in words
        return "PyTorch cannot compute on it here (%s: %s)" % (
            type(err).__name__, _first_sentence(err))
    return None


def _first_sentence(err: BaseException) -> str:
    """The first line of an error, up to its first full stop."""
    return first_line(err).split(". ")[0].rstrip(".")


def usable_device(device: DeviceLike = None) -> torch.device:
    """:func:`resolve_device`, refusing a device PyTorch cannot compute on
    here with one clear message (rather than PyTorch's ``Torch not compiled
    with CUDA enabled``, which comes later): the check ``ACTINNModel``,
    ``ACTINNAnnotator.fit`` and ``ACTINNAnnotator.load`` make.

    Parameters
    ----------
    device: str or torch.device, optional
        ``None`` picks ``cuda`` when available, else ``cpu``.

    Raises
    ------
    ACTINNInputError
        PyTorch does not know the name, or cannot compute on the device here
        (:func:`unusable`: a CUDA GPU it does not see, MPS off a Mac,
        ``meta``).

    Examples
    --------
    >>> from deepchem_actinn.models.device import usable_device
    >>> usable_device("cpu:0")
    device(type='cpu')
    >>> usable_device("tpu9")
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: device tpu9: not a device PyTorch knows (...)
    """
    try:
        chosen = resolve_device(device)
    except (RuntimeError, ValueError, TypeError) as err:
        raise ACTINNInputError("device %s: not a device PyTorch knows (%s)" %
                               (device, first_line(err) or err)) from None
    why = unusable(chosen)
    if why:
        raise ACTINNInputError("device %s: %s" % (device, why))
    return chosen
