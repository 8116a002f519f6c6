"""ACTINN's loss, optimiser and learning-rate schedule in plain PyTorch.

The same operations as DeepChem's ``Adam`` (with L2 weight decay added to
the gradient), ``ExponentialDecay`` (``staircase=True``: the rate drops by
``decay_rate`` every ``decay_steps`` steps) and the weighted softmax
cross-entropy of :class:`~deepchem_actinn.models.actinn.ACTINNModel`, so
that :mod:`deepchem_actinn.models.training` trains without DeepChem and
gives the same weights.
"""
from typing import Any, Dict, Iterable

import torch
import torch.nn.functional as F


def adam(params: Iterable[torch.nn.Parameter],
         learning_rate: float = 1e-4,
         weight_decay: float = 0.005,
         beta1: float = 0.9,
         beta2: float = 0.999,
         epsilon: float = 1e-8) -> torch.optim.Adam:
    """Adam with L2 weight decay, on PyTorch's fused kernel where there is
    one (the multi-tensor ``foreach`` implementation otherwise).

    Examples
    --------
    >>> import torch
    >>> from deepchem_actinn.models.optim import adam
    >>> layer = torch.nn.Linear(3, 2)
    >>> adam(layer.parameters()).defaults["weight_decay"]
    0.005
    """
    params = list(params)
    settings: Dict[str, Any] = dict(lr=learning_rate,
                                    betas=(beta1, beta2),
                                    eps=epsilon,
                                    weight_decay=weight_decay)
    try:
        return torch.optim.Adam(params, fused=True, **settings)
    except RuntimeError:
        return torch.optim.Adam(params, foreach=True, **settings)


def staircase_decay(optimizer: torch.optim.Optimizer, decay_rate: float,
                    decay_steps: int) -> torch.optim.lr_scheduler.StepLR:
    """Multiply the learning rate by ``decay_rate`` every ``decay_steps``
    optimiser steps (call its ``step()`` after each optimiser step).

    Examples
    --------
    >>> import torch
    >>> from deepchem_actinn.models.optim import adam, staircase_decay
    >>> opt = adam(torch.nn.Linear(3, 2).parameters(), learning_rate=1.0)
    >>> schedule = staircase_decay(opt, 0.5, 2)
    >>> rates = []
    >>> for _ in range(4):
    ...     rates.append(opt.param_groups[0]["lr"])
    ...     opt.step()
    ...     schedule.step()
    >>> rates
    [1.0, 1.0, 0.5, 0.5]
    """
    return torch.optim.lr_scheduler.StepLR(optimizer, decay_steps, decay_rate)


def cross_entropy_per_cell(logits: torch.Tensor,
                           labels: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of each cell, summed over ensemble members.

    ``logits`` is ``(cells, types)`` for one network or ``(cells, members,
    types)`` for an ensemble; ``labels`` holds class ids ``(cells,)``.
    Summing over members keeps each member's gradient what it would be
    alone.

    Examples
    --------
    >>> import torch
    >>> from deepchem_actinn.models.optim import cross_entropy_per_cell
    >>> logits = torch.zeros(2, 3, 4)   # 2 cells, 3 members, 4 types
    >>> cross_entropy_per_cell(logits, torch.tensor([0, 3]))
    tensor([4.1589, 4.1589])
    """
    labels = labels.long().reshape(-1)
    if logits.dim() == 2:
        return F.cross_entropy(logits, labels, reduction="none")
    n_cells, n_members, n_types = logits.shape
    by_member = logits.transpose(0, 1).reshape(-1, n_types)
    return F.cross_entropy(by_member,
                           labels.repeat(n_members),
                           reduction="none").view(n_members, n_cells).sum(0)


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor,
                  weights: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of each cell's loss times its sample weight.

    Examples
    --------
    >>> import torch
    >>> from deepchem_actinn.models.optim import weighted_loss
    >>> weighted_loss(torch.zeros(2, 2), torch.tensor([0, 1]),
    ...               torch.tensor([1., 0.]))
    tensor(0.3466)
    """
    return (cross_entropy_per_cell(logits, labels) * weights.reshape(-1)).mean()
