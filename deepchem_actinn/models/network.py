"""The ACTINN network in plain PyTorch: no DeepChem.

:class:`ACTINNClassifier` is one network (genes -> 100 -> 50 -> 25 -> types,
ReLU), :class:`ACTINNEnsemble` several trained side by side; both take dense
cells or sparse CSR batches. :class:`~deepchem_actinn.models.actinn.ACTINNModel`
trains them through DeepChem; prediction needs only this module.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from deepchem_actinn.models.checks import former_names


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
    """ACTINN's feed-forward network: genes -> hidden ReLU layers -> types
    (Ma and Pellegrini, Bioinformatics 2020; cited in full under
    :class:`~deepchem_actinn.ACTINNModel`).

    Input is a dense ``(cells, genes)`` tensor, or a sparse batch given as
    CSR arrays ``(indices, offsets, values)`` (the column of each non-zero,
    where each cell starts among them, their values), optionally followed by
    the same three arrays of the batch's transpose for training. The sparse
    form computes the first layer from the non-zeros alone (``embedding_bag``),
    so a cell costs its detected genes, not all genes.

    The arguments have DeepChem's names (as ``MultitaskClassifier``'s and
    :class:`~deepchem_actinn.ACTINNModel`'s, in the same order); the former
    names ``input_size``, ``output_dim`` and ``hidden_sizes`` are still
    taken by keyword, with a ``FutureWarning``.

    Parameters
    ----------
    n_features: int
        Number of genes.
    n_classes: int
        Number of cell types.
    layer_sizes: sequence of int, default (100, 50, 25)
        Widths of the hidden layers.

    Examples
    --------
    >>> import torch
    >>> from deepchem_actinn import ACTINNClassifier
    >>> net = ACTINNClassifier(n_features=20, n_classes=3)
    >>> proba, logits = net(torch.zeros(4, 20))
    >>> proba.shape, logits.shape
    (torch.Size([4, 3]), torch.Size([4, 3]))
    """

    @former_names("ACTINNClassifier")
    def __init__(
        self,
        n_features: int,
        n_classes: int,
        layer_sizes: Sequence[int] = (100, 50, 25)) -> None:
        super().__init__()
        if n_features is None or n_classes is None or n_features < 1 or \
                n_classes < 2 or not layer_sizes:
            raise ValueError("n_features must be >= 1, n_classes >= 2 and "
                             "layer_sizes not empty, got %r, %r, %r" %
                             (n_features, n_classes, layer_sizes))
        sizes = [int(h) for h in layer_sizes]
        self.first = GeneLayer(int(n_features), sizes[0])
        layers: List[nn.Module] = [nn.ReLU()]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(sizes[-1], int(n_classes))

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


@former_names("seeded_classifier")
def seeded_classifier(n_features: int,
                      n_classes: int,
                      layer_sizes: Sequence[int] = (100, 50, 25),
                      seed: Optional[int] = None) -> ACTINNClassifier:
    """An :class:`ACTINNClassifier` whose initial weights are drawn under
    ``seed``, leaving PyTorch's global random state untouched (drawn from
    it when ``seed`` is None)."""
    if seed is None:
        return ACTINNClassifier(n_features, n_classes, layer_sizes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ACTINNClassifier(n_features, n_classes, layer_sizes)


class ACTINNEnsemble(nn.Module):
    """Several ACTINN networks trained side by side, in one pass.

    The members' first layers are fused into one genes x (members x units)
    layer, so each minibatch's non-zeros are gathered once for all members,
    and each later layer holds the members' weights stacked, so one batched
    matrix product computes it for all of them. The members never share a
    weight: trained with the loss of
    :class:`~deepchem_actinn.ACTINNModel` (the members' losses summed,
    ``EnsembleCrossEntropy``) and a per-parameter optimiser such as Adam,
    each member follows the updates it would follow alone on the same
    minibatches.

    Parameters
    ----------
    members: sequence of ACTINNClassifier
        The starting networks (copied), all of one shape.

    Examples
    --------
    >>> import torch
    >>> from deepchem_actinn import ACTINNEnsemble
    >>> from deepchem_actinn.models.network import seeded_classifier
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

    def layers_after_first(
            self, first: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The rest of every member's network, from the fused first layer's
        pre-activations ``(cells, members x units)``.

        Returns the last hidden layer ``(members, cells, units)`` and the
        logits ``(members, cells, types)``. This is the one forward pass of
        the package: :meth:`forward` and the prediction path
        (:mod:`deepchem_actinn.models.inference`, which computes the first
        layer its own way from raw sparse counts) both end here.
        """
        first = torch.relu(first)
        h = first.view(first.shape[0], len(self), self.width).transpose(0, 1)
        last = len(self.weights) - 1
        hidden = h
        for j, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            if j == last:
                hidden = h
            h = torch.baddbmm(bias, h, weight)
            if j < last:
                h = torch.relu(h)
        return hidden, h

    def forward(
        self, x: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean class probabilities ``(cells, types)`` and each member's
        logits ``(cells, members, types)``."""
        _, h = self.layers_after_first(self.first(x))
        # h is (members, cells, types), contiguous: the softmax and the
        # loss run on it before the view as (cells, members, types)
        return torch.softmax(h, dim=-1).mean(0), h.transpose(0, 1)

    def embed(
        self, x: Union[torch.Tensor, Sequence[torch.Tensor]]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Hidden features and ensemble logits of a batch of cells.

        The features are the members' last hidden layers side by side
        ``(cells, members x units)``; the logits ``(cells, types)`` are the
        log of the members' mean probabilities (``mean_log_proba``).
        """
        return self.embed_first(self.first(x))

    def embed_first(self,
                    first: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`embed`, from the first layer's pre-activations."""
        hidden, logits = self.layers_after_first(first)
        features = hidden.transpose(0, 1).reshape(hidden.shape[1], -1)
        return features, mean_log_proba(logits)

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

    def member_states(self) -> List[Dict[str, torch.Tensor]]:
        """Every member's :meth:`member_state`, in order."""
        return [self.member_state(i) for i in range(len(self))]

    @torch.no_grad()
    def load_member_state(self, i: int, state: Dict[str, torch.Tensor]) -> None:
        """Copy an :class:`ACTINNClassifier` state dict (as given by
        :meth:`member_state`) into member ``i``, in place."""
        units = slice(i * self.width, (i + 1) * self.width)
        self.first.weight[:, units] = state["first.weight"]
        self.first.bias[units] = state["first.bias"]
        names = [
            "hidden.%d" % (2 * j + 1) for j in range(len(self.weights) - 1)
        ] + ["head"]
        for name, weight, bias in zip(names, self.weights, self.biases):
            weight[i] = state[name + ".weight"].t()
            bias[i, 0] = state[name + ".bias"]

    @property
    def device(self) -> torch.device:
        """Where the ensemble's parameters are."""
        return self.first.weight.device

    @property
    def n_types(self) -> int:
        """Number of cell types (the output width)."""
        return self._shape[1]

    @property
    def feature_width(self) -> int:
        """Width of :meth:`embed`'s features (members x last hidden)."""
        return len(self) * int(self.weights[-1].shape[1])

    def member(self, i: int) -> ACTINNClassifier:
        """Member ``i`` as a standalone network (a copy)."""
        n_genes, n_types, sizes = self._shape
        network = seeded_classifier(n_genes, n_types, sizes, seed=0)
        network.load_state_dict(self.member_state(i))
        return network.to(self.first.weight.device)


def mean_log_proba(logits: torch.Tensor) -> torch.Tensor:
    """Log of the members' mean softmax probabilities.

    ``logits`` is ``(members, cells, types)``; the result ``(cells, types)``
    is what the ensemble predicts, as logits (one member gives its own
    logits up to a constant), floored at ``log(1e-30)``.

    Examples
    --------
    >>> import torch
    >>> from deepchem_actinn.models.network import mean_log_proba
    >>> logits = torch.tensor([[[0., 0.]], [[0., 0.]]])
    >>> mean_log_proba(logits).exp()
    tensor([[0.5000, 0.5000]])
    """
    return torch.log(
        torch.clamp(torch.softmax(logits, dim=-1).mean(0), min=1e-30))


@former_names("seeded_ensemble")
def seeded_ensemble(n_features: int,
                    n_classes: int,
                    layer_sizes: Sequence[int] = (100, 50, 25),
                    n_networks: int = 1,
                    seed: Optional[int] = None) -> ACTINNEnsemble:
    """An :class:`ACTINNEnsemble` of ``n_networks`` members, member ``i``
    initialised as :func:`seeded_classifier` under ``seed + i`` (as
    :class:`~deepchem_actinn.models.actinn.ACTINNModel` does).

    Examples
    --------
    >>> from deepchem_actinn.models.network import seeded_ensemble
    >>> len(seeded_ensemble(20, 3, n_networks=2, seed=0))
    2
    """
    return ACTINNEnsemble([
        seeded_classifier(n_features, n_classes, layer_sizes,
                          None if seed is None else seed + i)
        for i in range(int(n_networks))
    ])
