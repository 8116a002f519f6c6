"""Data-parallel training on PyTorch's own engine, ``torch.distributed``.

``torchrun --standalone --nproc-per-node N -m deepchem_actinn train ...``
starts N processes; :func:`init_from_env` joins them into one process group
(gloo on the CPU, NCCL on CUDA, one GPU per local rank) from the variables
torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``). Nothing else needs to be told: the training loop
(:func:`~deepchem_actinn.models.training.train_ensemble`) wraps the ensemble
in :class:`~torch.nn.parallel.DistributedDataParallel` when a group of more
than one process is initialised, and the minibatches
(:func:`~deepchem_actinn.models.batches.minibatches`,
:meth:`~deepchem_actinn.annotator.reference_file.ReferenceFile.epoch`)
give each process its share of every epoch.

Semantics. In memory, every process draws the same shuffle (same seed).
The epoch is cut into per-process batches of ``ceil(batch_size / N)`` cells
and batch ``i`` goes to process ``i % N``, so the N batches of one step are
exactly the cells of one single-process batch of ``batch_size``: gradients
are all-reduced (averaged) by DDP, and the sample weights of a short last
batch are rescaled so the step's loss is the mean over the whole global
batch. With ``batch_size`` divisible by N, N processes follow the
single-process updates up to float rounding: ``batch_size`` keeps its
meaning (the global batch), and so do the learning rate and its schedule.
From disk (``fit_file``) the processes share the reading instead: every
process draws the same order of the file's blocks, reads only its own
blocks (block ``k`` of the order goes to process ``k % N``) and shuffles
and cuts its own cells into batches of ``ceil(batch_size / N)``; a step is
again about ``batch_size`` cells, one per process's share, with the
weights rescaled so its loss is the mean over its cells, but the steps are
no longer one process's
(:meth:`~deepchem_actinn.annotator.reference_file.ReferenceFile.epoch`).
The statistics pass is shared too: each process reads a run of blocks and
the sums and held-out cells are gathered. Early stopping,
calibration and the ``Unassigned`` rule are computed on the same held-out
cells on every process; the validation scores and the final weights are
broadcast from process 0 so the processes can never decide differently.
"""
import contextlib
import logging
import os
from typing import Any, ContextManager, Dict, List, NamedTuple, Optional

import torch
import torch.distributed as dist

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.models.torchrun import launched_by_torchrun

logger = logging.getLogger("deepchem_actinn")


class WorldInfo(NamedTuple):
    """This process's place among the training processes."""

    rank: int
    world_size: int
    local_rank: int
    backend: Optional[str]


def world_info() -> WorldInfo:
    """Rank, number of processes, local rank and backend of the current
    process group (``(0, 1, 0, None)`` when none is initialised).

    Examples
    --------
    >>> from deepchem_actinn.models.distributed import world_info
    >>> world_info()
    WorldInfo(rank=0, world_size=1, local_rank=0, backend=None)
    """
    if not (dist.is_available() and dist.is_initialized()):
        return WorldInfo(0, 1, 0, None)
    return WorldInfo(dist.get_rank(), dist.get_world_size(),
                     int(os.environ.get("LOCAL_RANK", 0)),
                     str(dist.get_backend()))


def is_distributed() -> bool:
    """Whether this process trains together with others (a process group
    of two or more is initialised)."""
    return world_info().world_size > 1


def is_main_process() -> bool:
    """True on process 0 (and in a plain, single-process run): the one
    process that writes the annotator and other outputs.

    Examples
    --------
    >>> from deepchem_actinn.models.distributed import is_main_process
    >>> is_main_process()
    True
    """
    return world_info().rank == 0


def choose_backend(device: Optional[str] = None) -> str:
    """``nccl`` when training on CUDA, ``gloo`` otherwise.

    Examples
    --------
    >>> from deepchem_actinn.models.distributed import choose_backend
    >>> choose_backend("cpu")
    'gloo'
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_from_env(device: Optional[str] = None,
                  backend: Optional[str] = None) -> WorldInfo:
    """Join the process group torchrun describes in the environment.

    Reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (and torchrun's
    rendezvous address); with CUDA, selects GPU ``LOCAL_RANK`` for this
    process, so ``device=None`` elsewhere in the package means that GPU.
    Does nothing (and returns the single-process info) without torchrun's
    variables or when a group is already initialised.

    Parameters
    ----------
    device: str, optional
        ``"cpu"`` or ``"cuda"``; None: CUDA when available.
    backend: str, optional
        Force the backend (default: :func:`choose_backend`).

    Returns
    -------
    WorldInfo
    """
    if not launched_by_torchrun() or dist.is_initialized():
        return world_info()
    backend = backend or choose_backend(device)
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return world_info()


def teardown(wait: bool = True) -> None:
    """Leave the process group: a barrier (so no process tears down
    gloo's connections while another still uses them) then
    ``destroy_process_group``. Delete any DDP wrapper first.

    ``wait=False`` after a failure leaves without the barrier: the other
    processes may be waiting in a collective this one will never join, and
    a barrier would hang them all. Under torchrun, this process's exit
    makes torchrun stop the others (with gloo they also fail by themselves
    once its connections close; with NCCL they would wait for the
    watchdog's timeout)."""
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` in :class:`DistributedDataParallel` (on its device; one
    GPU per process)."""
    from torch.nn.parallel import DistributedDataParallel
    device = next(module.parameters()).device
    ids = [
        device.index
        if device.index is not None else torch.cuda.current_device()
    ] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def broadcast_(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Overwrite ``tensor`` (in place, on every process) with process
    ``src``'s; a no-op in a single-process run."""
    if is_distributed():
        device = _comm_device()
        moved = tensor.to(device)
        dist.broadcast(moved, src)
        if moved is not tensor:
            tensor.copy_(moved)
    return tensor


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Process ``src``'s ``obj`` (any picklable object) on every process;
    ``obj`` itself in a single-process run.

    Examples
    --------
    >>> from deepchem_actinn.models.distributed import broadcast_object
    >>> broadcast_object({"step": 3})
    {'step': 3}
    """
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src)
    return box[0]


def all_gather_object(obj: Any) -> List[Any]:
    """Every process's ``obj`` (any picklable object), in rank order, on
    every process; ``[obj]`` in a single-process run.

    Examples
    --------
    >>> from deepchem_actinn.models.distributed import all_gather_object
    >>> all_gather_object({"cells": 3})
    [{'cells': 3}]
    """
    if not is_distributed():
        return [obj]
    gathered: List[Any] = [None] * world_info().world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def refuse_unequal(fingerprint: Dict[str, str], what: str) -> None:
    """Refuse, on every process at once, unless every process's
    ``fingerprint`` equals process 0's: processes that train one model
    on copies of a reference that differ (one copy stale, shuffled or cut
    short) would otherwise train silently on a mixture, or fail deep in
    DDP. A no-op in a single-process run.

    Parameters
    ----------
    fingerprint: dict of str to str
        What must agree (e.g. digests of the genes, labels, held-out
        cells), by name.
    what: str
        What the fingerprint describes, for the message (``"reference"``).

    Raises
    ------
    ACTINNInputError
        Some process's fingerprint differs; the message names the
        processes and the entries that differ.
    """
    if not is_distributed():
        return
    prints: List[Dict[str, str]] = all_gather_object(fingerprint)
    first = prints[0]
    differ = {
        rank: [k for k in first if first[k] != p.get(k)
              ] for rank, p in enumerate(prints) if p != first
    }
    if differ:
        raise ACTINNInputError(
            "the %s differs between the processes (%s); every process must "
            "read the same %s: give each one the same file" %
            (what, "; ".join("process %d's %s" % (rank, ", ".join(keys))
                             for rank, keys in sorted(differ.items())), what))


def synchronise() -> None:
    """Wait until every process gets here (a barrier; a no-op alone).
    After the last collective of a job: from here each process may leave
    the group without waiting for the others (:func:`teardown` with
    ``wait=False``), so process 0 can write and predict for as long as it
    takes while the others have already left."""
    if is_distributed():
        dist.barrier()


def all_reduce_sum(value: float) -> float:
    """The sum of ``value`` over the processes (itself when alone)."""
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return float(t.item())


def longest_rank(n_steps: int) -> int:
    """The (first) process that made the most steps this epoch: the one
    whose weights and optimiser state the others take after a ``join``."""
    if not is_distributed():
        return 0
    counts = torch.zeros(world_info().world_size,
                         dtype=torch.int64,
                         device=_comm_device())
    counts[world_info().rank] = n_steps
    dist.all_reduce(counts)
    return int(torch.argmax(counts).item())


def broadcast_module_(module: torch.nn.Module, src: int = 0) -> None:
    """Give every process process ``src``'s parameters and buffers."""
    if not is_distributed():
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            broadcast_(tensor.data, src)


def _comm_device() -> torch.device:
    if world_info().backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def join(model: torch.nn.Module) -> ContextManager:
    """Context for one epoch's steps through ``model``: with a DDP wrapper,
    DDP's ``join`` (processes that run out of batches shadow the others'
    all-reduces, each gradient still divided by the number of processes);
    otherwise nothing."""
    from torch.distributed.algorithms.join import Join
    from torch.nn.parallel import DistributedDataParallel
    if isinstance(model, DistributedDataParallel):
        return Join([model])
    return contextlib.nullcontext()


class DistributedTraining:
    """One training run's DDP wrapper, made when distributed, dropped
    cleanly.

    Parameters
    ----------
    network: torch.nn.Module
        The network to train (wrapped only when distributed).

    Attributes
    ----------
    model: torch.nn.Module
        The network to train through (the DDP wrapper, or ``network``).

    Examples
    --------
    >>> import torch
    >>> from deepchem_actinn.models.distributed import DistributedTraining
    >>> session = DistributedTraining(torch.nn.Linear(2, 1))
    >>> session.model is session.network    # a single process: no wrapper
    True
    >>> session.close()
    """

    def __init__(self, network: torch.nn.Module) -> None:
        self.network = network
        self.model: torch.nn.Module = network
        info = world_info()
        if info.world_size > 1:
            self.model = wrap(network)
            if info.rank == 0:
                logger.info("distributed: %d processes, %s", info.world_size,
                            info.backend)

    def close(self, wait: bool = True) -> None:
        """Drop the DDP wrapper and wait for every process (gloo may abort
        at exit if a wrapper outlives the process group); ``wait=False``
        after a failure, as in :func:`teardown`."""
        if self.model is not self.network:
            del self.model
            self.model = self.network
            if wait:
                dist.barrier()
