"""The package's one device rule.

``device=None`` means CUDA when PyTorch sees a GPU, otherwise the CPU, for
training and prediction alike; anything else is taken as given, once
:func:`usable_device` has checked that PyTorch can use it here.
"""
from typing import Optional, Union

import torch

from deepchem_actinn.errors import ACTINNInputError

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
    >>> resolve_device(None).type in ("cpu", "cuda")
    True
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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


def usable_device(device: DeviceLike = None) -> torch.device:
    """:func:`resolve_device`, refusing a device PyTorch cannot use here
    with one clear message (rather than PyTorch's ``Torch not compiled with
    CUDA enabled``, which comes later): the check ``ACTINNModel`` and
    ``ACTINNAnnotator.fit`` make.

    Parameters
    ----------
    device: str or torch.device, optional
        ``None`` picks ``cuda`` when available, else ``cpu``.

    Raises
    ------
    ACTINNInputError
        PyTorch does not know the name, or it names a CUDA GPU PyTorch does
        not see (:func:`missing_gpu`).

    Examples
    --------
    >>> from deepchem_actinn.models.device import usable_device
    >>> usable_device("cpu")
    device(type='cpu')
    >>> usable_device("tpu9")
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: device tpu9: not a device PyTorch knows (...)
    """
    try:
        chosen = resolve_device(device)
    except (RuntimeError, ValueError, TypeError) as err:
        raise ACTINNInputError(
            "device %s: not a device PyTorch knows (%s)" %
            (device, str(err).splitlines()[0] if str(err) else err)) from None
    why = missing_gpu(chosen)
    if why:
        raise ACTINNInputError("device %s: %s" % (device, why))
    return chosen
