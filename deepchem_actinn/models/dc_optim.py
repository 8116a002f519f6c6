"""The DeepChem loss and optimiser of
:class:`~deepchem_actinn.models.actinn.ACTINNModel`: the summed
cross-entropy of an ensemble's members, and DeepChem's Adam on PyTorch's
fused kernel. Both wrap the plain-PyTorch functions of
:mod:`deepchem_actinn.models.optim`, which the training loop without
DeepChem uses, so the two train alike."""
from deepchem_actinn._deepchem import require_deepchem
from deepchem_actinn.models import optim

require_deepchem("ACTINNModel")

from deepchem.models.losses import Loss  # noqa: E402
from deepchem.models.optimizers import Adam, LearningRateSchedule  # noqa: E402


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
