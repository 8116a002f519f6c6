"""Keeping PyTorch's thread count across calls into libraries that change
it: scanpy's graph steps (neighbours, UMAP, through numba and the OpenMP
runtime PyTorch shares) set the process's threads to the machine's cores,
and a prediction after them, or the ``--threads`` a user gave, would run
on those. No global state is left behind by this package's calls.
"""
import functools
import sys
from typing import Any, Callable, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


def keeps_torch_threads(function: _F) -> _F:
    """Wrap ``function`` so that it leaves PyTorch's intra-op thread count
    (``torch.get_num_threads()``) as it found it, when PyTorch is loaded.

    Examples
    --------
    >>> import torch
    >>> from deepchem_actinn.torch_threads import keeps_torch_threads
    >>> before = torch.get_num_threads()
    >>> @keeps_torch_threads
    ... def greedy():
    ...     torch.set_num_threads(before + 1)
    ...     return "done"
    >>> greedy(), torch.get_num_threads() == before
    ('done', True)
    """

    @functools.wraps(function)
    def kept(*args: Any, **kwargs: Any) -> Any:
        torch: Any = sys.modules.get("torch")  # not imported for this
        before = torch.get_num_threads() if torch is not None else None
        try:
            return function(*args, **kwargs)
        finally:
            if before is not None and torch.get_num_threads() != before:
                torch.set_num_threads(before)

    return kept  # type: ignore[return-value]
