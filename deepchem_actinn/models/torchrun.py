"""Whether torchrun started this process, read from its environment
variables alone, without importing PyTorch: the ``actinn`` command asks
before it imports anything heavy, so its ``--help`` stays fast, and
:mod:`deepchem_actinn.models.distributed` asks the same rule.
"""
import os


def launched_by_torchrun() -> bool:
    """Whether torchrun's variables (``RANK``, ``WORLD_SIZE`` > 1) say this
    process is one of several.

    Examples
    --------
    >>> from deepchem_actinn.models.torchrun import launched_by_torchrun
    >>> launched_by_torchrun()
    False
    """
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and \
        "RANK" in os.environ
