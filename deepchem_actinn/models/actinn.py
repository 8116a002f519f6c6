"""The ACTINN network and its DeepChem ``TorchModel``."""
import logging
from typing import (Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union)

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from deepchem.data import Dataset, DiskDataset
from deepchem.models.losses import Loss, SparseSoftmaxCrossEntropy
from deepchem.models.optimizers import (Adam, ExponentialDecay,
                                        LearningRateSchedule)
from deepchem.models.torch_models import TorchModel

logger = logging.getLogger(__name__)


class FusedAdam(Adam):
    """DeepChem's Adam, run by PyTorch's fused kernel.

    The same algorithm and hyperparameters as ``dc.models.optimizers.Adam``
    (L2 weight decay added to the gradient), but each parameter is updated
    by one multithreaded kernel instead of a dozen tensor operations: six
    times faster on a 20,000-gene first layer on CPU, and the update no
    longer dominates a small network's step. Falls back to the multi-tensor
    (``foreach``) implementation where a fused kernel is not available.
    """

    def _create_pytorch_optimizer(self, params):
        params = list(params)
        if isinstance(self.learning_rate, LearningRateSchedule):
            lr = self.learning_rate.initial_rate
        else:
            lr = self.learning_rate
        options = dict(lr=lr,
                       betas=(self.beta1, self.beta2),
                       eps=self.epsilon,
                       weight_decay=self.weight_decay)
        try:
            return torch.optim.Adam(params, fused=True, **options)
        except RuntimeError:
            return torch.optim.Adam(params, foreach=True, **options)


class _GeneBag(torch.autograd.Function):
    """First layer on a CSR batch, with a sparse weight gradient.

    Forward: ``out[r] = sum_j X[r, j] * weight[j]`` as one ``embedding_bag``
    over the cells' non-zeros. Backward: the weight gradient
    ``grad[j] = sum_r X[r, j] * grad_out[r]`` is the same operation over the
    batch's transpose (genes as bags, cells as members), so it runs on the
    same fast kernel instead of autograd's sort-based one.
    """

    @staticmethod
    def forward(ctx: Any, weight: torch.Tensor, indices: torch.Tensor,
                offsets: torch.Tensor, values: torch.Tensor,
                t_indices: torch.Tensor, t_offsets: torch.Tensor,
                t_values: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(t_indices, t_offsets, t_values)
        return F.embedding_bag(indices,
                               weight,
                               offsets,
                               mode="sum",
                               per_sample_weights=values)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> Tuple[Any, ...]:
        t_indices, t_offsets, t_values = ctx.saved_tensors
        grad = F.embedding_bag(t_indices,
                               grad_out.contiguous(),
                               t_offsets,
                               mode="sum",
                               per_sample_weights=t_values)
        return (grad, None, None, None, None, None, None)


class GeneLayer(nn.Module):
    """The first layer: genes -> hidden units, for dense or sparse cells.

    The weight is stored genes x units, so that a cell's non-zeros select
    contiguous rows of it. Initialised as ``nn.Linear`` is.

    Parameters
    ----------
    n_genes: int
        Number of input genes.
    n_units: int
        Number of hidden units.
    """

    def __init__(self, n_genes: int, n_units: int) -> None:
        super().__init__()
        bound = 1.0 / np.sqrt(n_genes)
        self.weight = nn.Parameter(
            torch.empty(n_genes, n_units).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_units).uniform_(-bound, bound))

    @classmethod
    def from_weights(cls, weight: torch.Tensor,
                     bias: torch.Tensor) -> "GeneLayer":
        """A layer holding copies of ``weight`` (genes x units) and
        ``bias``; draws no random numbers."""
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.weight = nn.Parameter(weight.detach().clone())
        layer.bias = nn.Parameter(bias.detach().clone())
        return layer

    def forward(self, x: Union[torch.Tensor,
                               Sequence[torch.Tensor]]) -> torch.Tensor:
        """Pre-activations for a dense ``(cells, genes)`` tensor, or a CSR
        batch ``(indices, offsets, values)``, optionally followed by its
        transpose's ``(indices, offsets, values)`` for a fast backward."""
        if isinstance(x, torch.Tensor):
            return torch.addmm(self.bias, x, self.weight)
        if len(x) == 6 and torch.is_grad_enabled():
            return _GeneBag.apply(self.weight, *x) + self.bias
        indices, offsets, values = x[:3]
        return F.embedding_bag(indices,
                               self.weight,
                               offsets,
                               mode="sum",
                               per_sample_weights=values) + self.bias


class ACTINNClassifier(nn.Module):
    """ACTINN's feed-forward network: genes -> hidden ReLU layers -> types.

    Input is a dense ``(cells, genes)`` tensor, or a sparse batch given as
    CSR arrays ``(indices, offsets, values)`` (the column of each non-zero,
    where each cell starts among them, their values), optionally followed by
    the same three arrays of the batch's transpose for training. The sparse
    form computes the first layer from the non-zeros alone (``embedding_bag``),
    so a cell costs its detected genes, not all genes.

    Parameters
    ----------
    input_size: int
        Number of genes.
    output_dim: int
        Number of cell types.
    hidden_sizes: sequence of int, default (100, 50, 25)
        Widths of the hidden layers.

    Examples
    --------
    >>> import torch
    >>> net = ACTINNClassifier(input_size=20, output_dim=3)
    >>> proba, logits = net(torch.zeros(4, 20))
    >>> proba.shape, logits.shape
    (torch.Size([4, 3]), torch.Size([4, 3]))
    """

    def __init__(
        self,
        input_size: int,
        output_dim: int,
        hidden_sizes: Sequence[int] = (100, 50, 25)) -> None:
        super().__init__()
        if input_size is None or output_dim is None or input_size < 1 or \
                output_dim < 2 or not hidden_sizes:
            raise ValueError("input_size must be >= 1, output_dim >= 2 and "
                             "hidden_sizes not empty, got %r, %r, %r" %
                             (input_size, output_dim, hidden_sizes))
        sizes = [int(h) for h in hidden_sizes]
        self.first = GeneLayer(int(input_size), sizes[0])
        layers: List[nn.Module] = [nn.ReLU()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(sizes[-1], int(output_dim))

    def features(
            self, x: Union[torch.Tensor,
                           Sequence[torch.Tensor]]) -> torch.Tensor:
        """Activations of the last hidden layer."""
        return self.hidden(self.first(x))

    def forward(
        self, x: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities and logits for a batch of cells."""
        logits = self.head(self.features(x))
        return torch.softmax(logits, dim=-1), logits


def seeded_classifier(input_size: int,
                      output_dim: int,
                      hidden_sizes: Sequence[int] = (100, 50, 25),
                      seed: Optional[int] = None) -> ACTINNClassifier:
    """An :class:`ACTINNClassifier` whose initial weights are drawn under
    ``seed``, leaving PyTorch's global random state untouched (drawn from
    it when ``seed`` is None)."""
    if seed is None:
        return ACTINNClassifier(input_size, output_dim, hidden_sizes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ACTINNClassifier(input_size, output_dim, hidden_sizes)


class ACTINNEnsemble(nn.Module):
    """Several ACTINN networks trained side by side, in one pass.

    The members' first layers are fused into one genes x (members x units)
    layer, so each minibatch's non-zeros are gathered once for all members,
    and each later layer holds the members' weights stacked, so one batched
    matrix product computes it for all of them. The members never share a
    weight: trained with :class:`EnsembleCrossEntropy` (their losses summed)
    and a per-parameter optimiser such as Adam, each member follows the
    updates it would follow alone on the same minibatches.

    Parameters
    ----------
    members: sequence of ACTINNClassifier
        The starting networks (copied), all of one shape.

    Examples
    --------
    >>> import torch
    >>> nets = [seeded_classifier(20, 3, seed=s) for s in (0, 1)]
    >>> ensemble = ACTINNEnsemble(nets)
    >>> proba, logits = ensemble(torch.ones(4, 20))
    >>> proba.shape, logits.shape
    (torch.Size([4, 3]), torch.Size([4, 2, 3]))
    >>> bool(torch.allclose(ensemble.member(1)(torch.ones(4, 20))[1],
    ...                     logits[:, 1], atol=1e-6))
    True
    """

    def __init__(self, members: Sequence[ACTINNClassifier]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one network")
        self.width = int(members[0].first.weight.shape[1])
        self.first = GeneLayer.from_weights(
            torch.cat([m.first.weight for m in members], 1),
            torch.cat([m.first.bias for m in members]))
        # Layer j of every member: weights (members, in, out), biases
        # (members, 1, out); the head last.
        linears = [
            [layer for layer in m.hidden if isinstance(layer, nn.Linear)] +
            [m.head] for m in members
        ]
        self.weights = nn.ParameterList(
            nn.Parameter(
                torch.stack([net[j].weight.detach().t()
                             for net in linears]).contiguous())
            for j in range(len(linears[0])))
        self.biases = nn.ParameterList(
            nn.Parameter(
                torch.stack([net[j].bias.detach()[None]
                             for net in linears]).contiguous())
            for j in range(len(linears[0])))
        self._shape = (int(members[0].first.weight.shape[0]),
                       int(members[0].head.out_features),
                       tuple([self.width] +
                             [int(w.shape[2]) for w in self.weights[:-1]]))

    def __len__(self) -> int:
        return int(self.weights[0].shape[0])

    def forward(
        self, x: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean class probabilities ``(cells, types)`` and each member's
        logits ``(cells, members, types)``."""
        first = torch.relu(self.first(x))
        h = first.view(first.shape[0], len(self), self.width).transpose(0, 1)
        last = len(self.weights) - 1
        for j, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(bias, h, weight)
            if j < last:
                h = torch.relu(h)
        # h is (members, cells, types), contiguous: the softmax and the
        # loss run on it before the view as (cells, members, types)
        return torch.softmax(h, dim=-1).mean(0), h.transpose(0, 1)

    def member_state(self, i: int) -> Dict[str, torch.Tensor]:
        """Member ``i``'s weights as an :class:`ACTINNClassifier` state
        dict (copies)."""
        units = slice(i * self.width, (i + 1) * self.width)
        state = {
            "first.weight": self.first.weight[:, units],
            "first.bias": self.first.bias[units]
        }
        # ACTINNClassifier.hidden is ReLU, Linear, ReLU, Linear, ...
        names = [
            "hidden.%d" % (2 * j + 1) for j in range(len(self.weights) - 1)
        ] + ["head"]
        for name, weight, bias in zip(names, self.weights, self.biases):
            state[name + ".weight"] = weight[i].t()
            state[name + ".bias"] = bias[i, 0]
        return {k: v.detach().clone() for k, v in state.items()}

    def member(self, i: int) -> ACTINNClassifier:
        """Member ``i`` as a standalone network (a copy)."""
        n_genes, n_types, sizes = self._shape
        network = seeded_classifier(n_genes, n_types, sizes, seed=0)
        network.load_state_dict(self.member_state(i))
        return network.to(self.first.weight.device)


class EnsembleCrossEntropy(Loss):
    """Softmax cross-entropy of each member of an ensemble, summed.

    Takes logits ``(batch, members, classes)`` and class ids ``(batch,)``;
    gives one loss per sample. Summing, not averaging, over the members
    keeps each member's gradient what it would be alone, so the L2 weight
    decay keeps its strength relative to the data term.
    """

    def _create_pytorch_loss(self):

        def loss(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            n_cells, n_members, n_types = output.shape
            by_member = output.transpose(0, 1).reshape(-1, n_types)
            labels = labels.long().reshape(-1).repeat(n_members)
            return F.cross_entropy(by_member, labels,
                                   reduction="none").view(n_members,
                                                          n_cells).sum(0)

        return loss


class ACTINNModel(TorchModel):
    """ACTINN cell-type classifier as a DeepChem ``TorchModel``.

    The network of Ma & Pellegrini [1]_: three hidden ReLU layers (100, 50,
    25) on library-size normalised, log-transformed, gene-filtered counts,
    trained with softmax cross-entropy, Adam (learning rate 1e-4, L2 weight
    decay 0.005) and a learning rate decaying by 0.95 every 1,000 steps.

    ``predict`` returns class probabilities, shape ``(n_cells, n_types)``, so
    ``dc.metrics`` accuracy, ROC-AUC and the like work through ``evaluate``
    (pass ``n_classes``). Sample weights in the dataset weight the loss.

    Parameters
    ----------
    output_dim: int
        Number of cell types.
    input_size: int
        Number of genes.
    hidden_sizes: sequence of int, default (100, 50, 25)
        Hidden layer widths.
    learning_rate: float, default 1e-4
        Initial learning rate of Adam.
    weight_decay: float, default 0.005
        L2 penalty.
    decay_rate: float, default 0.95
        Learning-rate decay factor, applied every ``decay_steps`` steps.
    decay_steps: int, default 1000
        Steps between decays.
    batch_size: int, default 128
        Minibatch size.
    seed: int, optional
        Seeds the weight initialisation and the shuffling of training data,
        so that training is reproducible; no global random state is used.
    n_networks: int, default 1
        Train this many networks side by side as one
        :class:`ACTINNEnsemble` (member ``i`` initialised under ``seed + i``,
        all on the same minibatches, in one pass: much cheaper than one
        after another); ``predict`` then gives their mean probabilities.
    **kwargs
        Passed to ``TorchModel`` (``model_dir``, ``device``, ...).

    Examples
    --------
    >>> import numpy as np
    >>> import deepchem as dc
    >>> from deepchem_actinn import ACTINNModel
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((64, 30)).astype(np.float32)
    >>> y = (X[:, 0] > 0.5).astype(np.int64)
    >>> model = ACTINNModel(output_dim=2, input_size=30, seed=0)
    >>> loss = model.fit(dc.data.NumpyDataset(X, y), nb_epoch=2)
    >>> model.predict(dc.data.NumpyDataset(X)).shape
    (64, 2)

    References
    ----------
    .. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
       types in single cell RNA sequencing. Bioinformatics 36(2):533-538 (2020).
    """

    def __init__(self,
                 output_dim: int,
                 input_size: int,
                 hidden_sizes: Sequence[int] = (100, 50, 25),
                 learning_rate: float = 1e-4,
                 weight_decay: float = 0.005,
                 decay_rate: float = 0.95,
                 decay_steps: int = 1000,
                 batch_size: int = 128,
                 seed: Optional[int] = None,
                 n_networks: int = 1,
                 **kwargs) -> None:
        self.output_dim = int(output_dim)
        self.input_size = int(input_size)
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.seed = seed
        self.n_networks = int(n_networks)
        if self.n_networks < 1:
            raise ValueError("n_networks must be at least 1, got %r" %
                             (n_networks,))
        network: nn.Module
        loss: Loss
        if self.n_networks == 1:
            network = seeded_classifier(input_size, output_dim, hidden_sizes,
                                        seed)
            loss = SparseSoftmaxCrossEntropy()
        else:
            network = ACTINNEnsemble([
                seeded_classifier(input_size, output_dim, hidden_sizes,
                                  None if seed is None else seed + i)
                for i in range(self.n_networks)
            ])
            loss = EnsembleCrossEntropy()
        self._shuffle_rng = np.random.default_rng(seed)
        schedule = ExponentialDecay(initial_rate=learning_rate,
                                    decay_rate=decay_rate,
                                    decay_steps=decay_steps)
        optimizer = FusedAdam(learning_rate=schedule, weight_decay=weight_decay)
        super().__init__(network,
                         loss=loss,
                         output_types=["prediction", "loss"],
                         batch_size=batch_size,
                         learning_rate=schedule,
                         optimizer=optimizer,
                         **kwargs)

    def default_generator(
            self,
            dataset: Dataset,
            epochs: int = 1,
            mode: str = "fit",
            deterministic: bool = True,
            pad_batches: bool = True) -> Iterable[Tuple[List, List, List]]:
        """Minibatches of a dataset, shuffled with the model's own seed.

        DeepChem's datasets shuffle with NumPy's global random state; here a
        shuffled epoch visits the samples in an order drawn from the model's
        generator instead, so ``seed`` alone fixes the training run. Prediction
        batches are never padded.
        """
        if mode != "fit":
            pad_batches = False
        for _ in range(epochs):
            if deterministic:
                yield from super().default_generator(dataset, 1, mode, True,
                                                     pad_batches)
            else:
                yield from self._shuffled_epoch(dataset, pad_batches)

    def _shuffled_epoch(self, dataset: Dataset,
                        pad_batches: bool) -> Iterable[Tuple[List, List, List]]:
        """One epoch in random order; a DiskDataset is shuffled shard by shard
        (shard order, then rows within each shard), so only one shard is in
        memory at a time."""
        if isinstance(dataset, DiskDataset):
            shard_order = self._shuffle_rng.permutation(
                dataset.get_number_shards())
            shards: Iterable = (
                dataset.get_shard(int(i))[:3] for i in shard_order)
        else:
            shards = [(dataset.X, dataset.y, dataset.w)]
        for X, y, w in shards:
            order = self._shuffle_rng.permutation(len(X))
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                if pad_batches and len(rows) < self.batch_size:
                    rows = np.resize(rows, self.batch_size)
                yield ([X[rows]], [y[rows]], [w[rows]])

    def _prepare_batch(self, batch: Tuple[Any, Any, Any]):
        """Labels as int64 class ids and weights as one value per sample.

        ``SparseSoftmaxCrossEntropy`` gives one loss per sample, shape
        ``(batch,)``; DeepChem's weights are ``(batch, 1)``, and multiplying
        the two would broadcast to a ``(batch, batch)`` matrix, turning sample
        weights into a batch average. Flattening them keeps each weight on
        its own sample.
        """
        inputs, labels, weights = super()._prepare_batch(batch)
        labels = [label.long().reshape(-1) for label in labels]
        weights = [weight.reshape(-1) for weight in weights]
        return inputs, labels, weights
