"""The DeepChem loss and optimiser of
:class:`~deepchem_actinn.models.actinn.ACTINNModel`: the summed
cross-entropy of an ensemble's members, and DeepChem's Adam on PyTorch's
fused kernel. Both wrap the plain-PyTorch functions of
:mod:`deepchem_actinn.models.optim`, which the training loop without
DeepChem uses, so the two train alike. :func:`optimizer_for` turns the
model's arguments into its learning-rate schedule and optimiser."""
from typing import Optional, Tuple, Union

from deepchem_actinn._deepchem import require_deepchem
from deepchem_actinn.models import optim

require_deepchem("ACTINNModel")

from deepchem.models.losses import Loss  # noqa: E402
from deepchem.models.optimizers import (  # noqa: E402
    Adam, ExponentialDecay, LearningRateSchedule, Optimizer)


class FusedAdam(Adam):
    """DeepChem's Adam, run by PyTorch's fused kernel
    (:func:`~deepchem_actinn.models.optim.adam`).

    The same algorithm and hyperparameters as ``dc.models.optimizers.Adam``
    (L2 weight decay added to the gradient), but each parameter is updated
    by one multithreaded kernel instead of a dozen tensor operations: six
    times faster on a 20,000-gene first layer on CPU, and the update no
    longer dominates a small network's step. Falls back to the multi-tensor
    (``foreach``) implementation where a fused kernel is not available.
    """

    def _create_pytorch_optimizer(self, params):
        if isinstance(self.learning_rate, LearningRateSchedule):
            lr = self.learning_rate.initial_rate
        else:
            lr = self.learning_rate
        return optim.adam(params,
                          learning_rate=lr,
                          weight_decay=self.weight_decay,
                          beta1=self.beta1,
                          beta2=self.beta2,
                          epsilon=self.epsilon)


class EnsembleCrossEntropy(Loss):
    """Softmax cross-entropy of each member of an ensemble, summed
    (:func:`~deepchem_actinn.models.optim.cross_entropy_per_cell`).

    Takes logits ``(batch, members, classes)`` and class ids ``(batch,)``;
    gives one loss per sample. Summing, not averaging, over the members
    keeps each member's gradient what it would be alone, so the L2 weight
    decay keeps its strength relative to the data term.
    """

    def _create_pytorch_loss(self):
        return optim.cross_entropy_per_cell


def optimizer_for(
    learning_rate: Union[None, float, LearningRateSchedule] = None,
    weight_decay_penalty: Optional[float] = None,
    decay_rate: Optional[float] = None,
    decay_steps: Optional[int] = None,
    optimizer: Optional[Optimizer] = None
) -> Tuple[LearningRateSchedule, Optimizer]:
    """The learning-rate schedule and optimiser of an ``ACTINNModel`` made
    with these arguments (None: the documented default).

    Parameters
    ----------
    learning_rate: float or LearningRateSchedule, optional
        Adam's initial rate (1e-4), decayed by ``decay_rate`` every
        ``decay_steps`` steps; a schedule is used as it is.
    weight_decay_penalty: float, optional
        Adam's L2 weight decay (0.005).
    decay_rate: float, optional
        Learning-rate decay factor (0.95).
    decay_steps: int, optional
        Steps between decays (1000).
    optimizer: dc.models.optimizers.Optimizer, optional
        Replaces :class:`FusedAdam`.

    Returns
    -------
    tuple
        ``(schedule, optimizer)``: the schedule ``TorchModel`` is given as
        its ``learning_rate``, and ``optimizer`` or a :class:`FusedAdam` on
        that schedule.

    Raises
    ------
    TypeError
        A setting the optimizer (or the schedule, for the decay) replaces
        was given, so it would be ignored.

    Examples
    --------
    >>> from deepchem_actinn.models.dc_optim import optimizer_for
    >>> schedule, adam = optimizer_for(learning_rate=1e-3)
    >>> schedule.initial_rate, schedule.decay_rate, adam.weight_decay
    (0.001, 0.95, 0.005)
    """
    adam = dict(learning_rate=learning_rate,
                decay_rate=decay_rate,
                weight_decay_penalty=weight_decay_penalty,
                decay_steps=decay_steps)  # None: the documented default
    is_schedule = isinstance(learning_rate, LearningRateSchedule)
    unused = [
        k for k, v in adam.items() if v is not None and
        (optimizer is not None or is_schedule and k.startswith("decay"))
    ]
    if unused:
        raise TypeError(
            "ACTINNModel got %s, which %s replaces, so it would be "
            "ignored: set it there, or leave it out" %
            (" and ".join(unused), "the optimizer" if optimizer is not None else
             "the schedule given as learning_rate"))
    schedule = learning_rate if is_schedule else ExponentialDecay(
        1e-4 if learning_rate is None else learning_rate,
        0.95 if decay_rate is None else decay_rate,
        1000 if decay_steps is None else decay_steps)
    if optimizer is None:
        optimizer = FusedAdam(learning_rate=schedule,
                              weight_decay=0.005 if weight_decay_penalty is None
                              else weight_decay_penalty)
    return schedule, optimizer
