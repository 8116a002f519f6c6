"""The training loop, in plain PyTorch: an ensemble trained side by side,
each member stopped early on its own validation loss.

It performs exactly the operations of DeepChem's ``TorchModel.fit_generator``
with :class:`~deepchem_actinn.models.actinn.ACTINNModel`'s loss, optimiser
and schedule (:mod:`deepchem_actinn.models.optim`), so it gives the same
weights, but needs no DeepChem. :class:`EnsembleTrainer` owns the optimiser
state; :meth:`EnsembleTrainer.step` is where gradients are computed and the
optimiser steps. When a ``torch.distributed`` process group of several
processes is initialised (:mod:`deepchem_actinn.models.distributed`),
:func:`train_ensemble` trains through ``DistributedDataParallel``: the
gradients are all-reduced inside ``loss.backward()``.
"""
from typing import (Any, Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple)

import numpy as np
import torch

from deepchem_actinn.models import distributed
from deepchem_actinn.models.batches import prefetch_to_device
from deepchem_actinn.models.inference import member_logits
from deepchem_actinn.models.network import ACTINNEnsemble
from deepchem_actinn.models.optim import adam, staircase_decay, weighted_loss
from deepchem_actinn.types import Matrix

#: One minibatch as :func:`~deepchem_actinn.models.batches.minibatches`
#: yields it: ``([inputs...], [labels], [weights])`` of NumPy arrays.
Batch = Tuple[Sequence[np.ndarray], Sequence[np.ndarray], Sequence[np.ndarray]]


class EnsembleTrainer:
    """Adam with L2 weight decay and a staircase learning-rate decay, one
    minibatch at a time.

    Parameters
    ----------
    network: torch.nn.Module
        An :class:`ACTINNEnsemble` (or one :class:`ACTINNClassifier`) whose
        ``forward`` returns ``(probabilities, logits)``; trained in place on
        the device its parameters are on.
    learning_rate, weight_decay, decay_rate, decay_steps:
        As in :class:`~deepchem_actinn.models.actinn.ACTINNModel`.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.models.training import EnsembleTrainer
    >>> from deepchem_actinn.models.network import seeded_ensemble
    >>> ensemble = seeded_ensemble(4, 2, n_networks=2, seed=0)
    >>> trainer = EnsembleTrainer(ensemble, learning_rate=1e-2)
    >>> batch = ([np.ones((3, 4), np.float32)], [np.array([0, 1, 1])],
    ...          [np.ones(3, np.float32)])
    >>> loss = trainer.step(batch)
    >>> trainer.global_step
    1
    """

    def __init__(self,
                 network: torch.nn.Module,
                 learning_rate: float = 1e-4,
                 weight_decay: float = 0.005,
                 decay_rate: float = 0.95,
                 decay_steps: int = 1000) -> None:
        self.network = network
        self.device = next(network.parameters()).device
        self.optimizer = adam(network.parameters(), learning_rate, weight_decay)
        self.schedule = staircase_decay(self.optimizer, decay_rate, decay_steps)
        self.global_step = 0

    def tensors(self, batch: Batch) -> Tuple[Any, torch.Tensor, torch.Tensor]:
        """A batch's arrays as tensors on the network's device: the input
        (one tensor, or the list of a sparse batch), labels and weights."""
        inputs, labels, weights = batch
        x = [torch.as_tensor(_float32(a), device=self.device) for a in inputs]
        y = torch.as_tensor(labels[0], device=self.device).long().reshape(-1)
        w = torch.as_tensor(_float32(weights[0]),
                            device=self.device).reshape(-1)
        return (x[0] if len(x) == 1 else x), y, w

    def step(self, batch: Batch) -> float:
        """One optimiser step on one minibatch; returns its loss.

        The gradients are computed by ``loss.backward()`` here and applied
        by the optimiser right after, then the schedule advances.
        """
        x, y, w = self.tensors(batch)
        self.optimizer.zero_grad()
        loss = weighted_loss(self.network(x)[1], y, w)
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        self.global_step += 1
        return loss.item()

    def epoch(self, batches: Iterable[Batch]) -> List[float]:
        """Train on every batch of ``batches``; the loss of each."""
        self.network.train()
        return [self.step(batch) for batch in batches]

    def broadcast_(self, src: int) -> None:
        """Give every process process ``src``'s weights, optimiser state,
        step count and learning rate (after a ``join``, the processes that
        ran out of batches missed the last steps)."""
        if not distributed.is_distributed():
            return
        distributed.broadcast_module_(self.network, src)
        # The optimiser's state as a whole (its learning rates with it), not
        # tensor by tensor: a process that has made no step yet (no batch in
        # its first epoch) has none.
        if distributed.world_info().rank == src:
            distributed.broadcast_object((_cpu_state(
                self.optimizer), self.global_step, self.schedule.last_epoch),
                                         src)
        else:
            state, self.global_step, self.schedule.last_epoch = \
                distributed.broadcast_object(None, src)
            self.optimizer.load_state_dict(state)


def _cpu_state(optimizer: torch.optim.Optimizer) -> Dict[str, Any]:
    """The optimiser's ``state_dict`` with its tensors copied to the CPU
    (to be sent to processes whose GPU is another)."""
    state = optimizer.state_dict()
    state["state"] = {
        index: {
            key: value.detach().cpu() if torch.is_tensor(value) else value
            for key, value in per_param.items()
        } for index, per_param in state["state"].items()
    }
    return state


def _float32(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) if a.dtype == np.float64 else a


def member_scores(ensemble: ACTINNEnsemble, X: Matrix,
                  y: np.ndarray) -> List[Tuple[float, float]]:
    """Each member's mean cross-entropy and accuracy on normalised, aligned
    cells ``X`` (empty when there are none)."""
    if len(y) == 0:
        return []
    logp = member_logits(ensemble, X)
    rows = np.arange(len(y))
    return [(float(-logp[rows, i, y].mean()),
             float((logp[:, i].argmax(1) == y).mean()))
            for i in range(logp.shape[1])]


def train_ensemble(ensemble: ACTINNEnsemble,
                   epoch_batches: Callable[[np.random.Generator],
                                           Iterable[Batch]],
                   X_valid: Matrix,
                   y_valid: np.ndarray,
                   max_epochs: int = 200,
                   early_stopping: bool = True,
                   patience: int = 10,
                   seed: int = 0,
                   progress: Optional[Callable[[Dict[str, Any]], None]] = None,
                   trainer: Optional[EnsembleTrainer] = None,
                   **optimiser: Any) -> List[Dict[str, list]]:
    """Train the members side by side, each with its own early stopping.

    Training stops when every member has gone ``patience`` epochs without
    a validation loss better by 1e-4 (or at ``max_epochs``); each member is
    then given back the weights of its best epoch, in place.

    Parameters
    ----------
    ensemble: ACTINNEnsemble
        Trained in place, on its device.
    epoch_batches: callable
        ``epoch_batches(rng)`` yields one epoch of minibatches; ``rng`` is
        one generator seeded with ``seed``, shared by all epochs.
    X_valid, y_valid:
        Held-out cells (normalised, aligned) and class ids; with none, no
        early stopping.
    max_epochs, early_stopping, patience, seed:
        As in :class:`~deepchem_actinn.annotator.ACTINNAnnotator`.
    progress: callable, optional
        Called after each epoch with ``epoch``, ``max_epochs``,
        ``n_networks`` and the members' mean ``train_loss`` (and
        ``valid_loss``, ``valid_accuracy``).
    trainer: EnsembleTrainer, optional
        The optimiser to use (default: a new one, with ``**optimiser``:
        ``learning_rate``, ``weight_decay``, ``decay_rate``,
        ``decay_steps``, around ``DistributedDataParallel(ensemble)`` when
        a process group of several processes is initialised).

    Notes
    -----
    In a distributed run ``epoch_batches`` must yield this process's share
    of the epoch (:func:`~deepchem_actinn.models.batches.minibatches` does
    by itself); processes with fewer batches join the others' all-reduces
    (DDP's ``join``). The epoch's training loss is averaged over all
    processes; the validation scores that decide early stopping are process
    0's, broadcast, and so are the final weights, so every process ends
    with the same ensemble. On CUDA, batches of NumPy arrays are copied
    through pinned memory by a reader thread ahead of the step.

    Returns
    -------
    list of dict
        Each member's history: ``train_loss``, ``valid_loss``,
        ``valid_accuracy`` per epoch and ``best_epoch``.
    """
    session = distributed.DistributedTraining(ensemble) \
        if trainer is None else None
    if trainer is None:
        assert session is not None
        trainer = EnsembleTrainer(session.model, **optimiser)
    try:
        histories = _epochs(ensemble, trainer, epoch_batches, X_valid, y_valid,
                            max_epochs, early_stopping and len(y_valid) > 0,
                            patience, seed, progress)
    except BaseException:
        # no barrier: the other processes may be waiting in a collective
        # this one will never join; they fail when it leaves
        if session is not None:
            session.close(wait=False)
        raise
    if session is not None:
        session.close()
    ensemble.eval()
    return histories


def _epochs(ensemble: ACTINNEnsemble, trainer: EnsembleTrainer,
            epoch_batches: Callable, X_valid: Matrix, y_valid: np.ndarray,
            max_epochs: int, stopping: bool, patience: int, seed: int,
            progress: Optional[Callable]) -> List[Dict[str, list]]:
    """The epochs of :func:`train_ensemble`."""
    n = len(ensemble)
    rng = np.random.default_rng(seed)
    histories: List[Dict[str, list]] = [{
        "train_loss": [],
        "valid_loss": [],
        "valid_accuracy": []
    } for _ in range(n)]
    best_loss = [np.inf] * n
    best_epoch = [0] * n
    best_state: List[Optional[Dict[str, torch.Tensor]]] = [None] * n
    for epoch in range(1, max_epochs + 1):
        # the loss is summed over the members: report their mean
        train_loss = _train_epoch(trainer, epoch_batches(rng)) / n
        valid = _agreed(member_scores(ensemble, X_valid, y_valid))
        ensemble.train()
        for i, history in enumerate(histories):
            history["train_loss"].append(train_loss)
            if valid:
                history["valid_loss"].append(valid[i][0])
                history["valid_accuracy"].append(valid[i][1])
        if progress is not None:
            state: Dict[str, Any] = {
                "n_networks": n,
                "epoch": epoch,
                "max_epochs": max_epochs,
                "train_loss": train_loss
            }
            if valid:
                state["valid_loss"] = float(np.mean([v[0] for v in valid]))
                state["valid_accuracy"] = float(np.mean([v[1] for v in valid]))
            progress(state)
        if not stopping:
            continue
        for i in range(n):
            if valid[i][0] < best_loss[i] - 1e-4:
                best_loss[i], best_epoch[i] = valid[i][0], epoch
                best_state[i] = ensemble.member_state(i)
        if all(epoch - b >= patience for b in best_epoch):
            break
    for i, best in enumerate(best_state):
        if best is not None:
            ensemble.load_member_state(i, best)
    distributed.broadcast_module_(ensemble)
    for i, history in enumerate(histories):
        history["best_epoch"] = [best_epoch[i] or len(history["train_loss"])]
    return histories


def _train_epoch(trainer: EnsembleTrainer, batches: Iterable[Batch]) -> float:
    """One epoch's steps; the mean batch loss over all processes."""
    if trainer.device.type == "cuda":
        batches = prefetch_to_device(batches, trainer.device)
    if not distributed.is_distributed():
        return float(np.mean(trainer.epoch(batches)))
    with distributed.join(trainer.network):
        losses = trainer.epoch(batches)
    trainer.broadcast_(distributed.longest_rank(len(losses)))
    return distributed.all_reduce_sum(float(np.sum(losses))) / \
        distributed.all_reduce_sum(float(len(losses)))


def _agreed(valid: List[Tuple[float, float]]) -> List[Tuple[float, float]]:
    """Process 0's validation scores on every process (as they are in a
    single-process run), so that early stopping cannot diverge."""
    if not valid or not distributed.is_distributed():
        return valid
    scores = distributed.broadcast_(torch.tensor(valid, dtype=torch.float64))
    return [(float(a), float(b)) for a, b in scores.tolist()]
