"""The ACTINN network's DeepChem ``TorchModel``.

The networks themselves (:class:`ACTINNClassifier`, :class:`ACTINNEnsemble`)
are plain PyTorch modules in :mod:`deepchem_actinn.models.network`,
re-exported here; the minibatches it makes of a DeepChem dataset are
:mod:`deepchem_actinn.models.dc_batches`'s, its loss and optimiser
:mod:`deepchem_actinn.models.dc_optim`'s.
"""
import os
import warnings
from typing import Any, Iterable, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from deepchem_actinn._deepchem import require_deepchem
from deepchem_actinn.models import checks
from deepchem_actinn.models.device import usable_device

# One clear line when DeepChem is missing; a quiet import when it is there.
require_deepchem("ACTINNModel")

from deepchem.data import Dataset  # noqa: E402
from deepchem.models.losses import Loss, SparseSoftmaxCrossEntropy  # noqa: E402
from deepchem.models.optimizers import (  # noqa: E402
    LearningRateSchedule, Optimizer)
from deepchem.utils.evaluate import GeneratorEvaluator  # noqa: E402

from deepchem_actinn.models.dc_batches import DatasetBatches  # noqa: E402
from deepchem_actinn.models.dc_optim import (  # noqa: E402,F401
    EnsembleCrossEntropy, FusedAdam, optimizer_for)
from deepchem_actinn.models.network import (  # noqa: E402,F401
    ACTINNClassifier, ACTINNEnsemble, GeneLayer, seeded_classifier,
    seeded_ensemble)


class ACTINNModel(DatasetBatches):
    """ACTINN cell-type classifier as a DeepChem ``TorchModel``.

    The network of Ma & Pellegrini [1]_: three hidden ReLU layers (100, 50,
    25) on library-size normalised, log-transformed, gene-filtered counts,
    trained with softmax cross-entropy, Adam (learning rate 1e-4, L2 weight
    decay 0.005) and a learning rate decaying by 0.95 every 1,000 steps.

    ``predict`` returns class probabilities, shape ``(n_cells, n_types)``, so
    ``dc.metrics`` accuracy, ROC-AUC and the like work through ``evaluate``,
    which knows the number of types (``n_classes``); DeepChem's
    ``ValidationCallback`` and hyperparameter searches therefore work on it
    unchanged. Sample weights in the dataset (for example from
    ``dc.trans.BalancingTransformer``) weight the loss.

    The arguments have the names of DeepChem's ``MultitaskClassifier``
    (``n_features``, ``n_classes``, ``layer_sizes``,
    ``weight_decay_penalty``, ``n_tasks``), and are taken by keyword only;
    the former names ``input_size``, ``output_dim``, ``hidden_sizes`` and
    ``weight_decay`` still are, with a ``FutureWarning``. What would be
    ignored is refused, so that a hyperparameter search cannot quietly
    train one model many times: keywords neither this class nor
    ``TorchModel`` takes (``dropouts``, a misspelling), and the Adam
    settings an ``optimizer`` replaces. ``predict`` gives ``(n_cells,
    n_types)``, where ``MultitaskClassifier`` gives ``(n_cells, 1,
    n_classes)``. Cells with NaN or infinite values, labels that are not
    class ids (one-hot labels among them), weights that are not one finite
    value of at least 0 per cell, a dataset without labels (every weight 0)
    and a ``device`` PyTorch cannot use are refused, naming the cells,
    values or device,
    and a fit whose loss turns NaN raises instead of returning it.

    Parameters
    ----------
    n_features: int
        Number of genes.
    n_classes: int
        Number of cell types, at least 2.
    layer_sizes: sequence of int, default (100, 50, 25)
        Hidden layer widths.
    learning_rate: float or LearningRateSchedule, default 1e-4
        Initial learning rate of Adam; a schedule
        (``dc.models.optimizers``) is used as it is (then giving
        ``decay_rate`` or ``decay_steps`` too is refused).
    weight_decay_penalty: float, default 0.005
        L2 penalty (Adam's weight decay).
    decay_rate: float, default 0.95
        Learning-rate decay factor, applied every ``decay_steps`` steps.
    decay_steps: int, default 1000
        Steps between decays.
    batch_size: int, default 128
        Minibatch size.
    seed: int, optional
        Seeds the weight initialisation and the shuffling of training data,
        so that training is reproducible; no global random state is used.
        0 .. 2**32 - 1.
    n_networks: int, default 1
        Train this many networks side by side as one
        :class:`ACTINNEnsemble` (member ``i`` initialised under ``seed + i``,
        all on the same minibatches, in one pass: much cheaper than one
        after another); ``predict`` then gives their mean probabilities.
    n_tasks: int, default 1
        DeepChem's number of tasks: ACTINN predicts one cell type per cell,
        so anything but 1 is refused.
    optimizer: dc.models.optimizers.Optimizer, optional
        Replaces Adam; ``learning_rate``, ``weight_decay_penalty`` and the
        decay are then the optimizer's own (giving them too is refused).
    **kwargs
        ``TorchModel``'s other arguments: ``model_dir``, ``device``,
        ``log_frequency``, ``tensorboard``, ``wandb``, ``wandb_logger``,
        ``regularization_loss``; any other keyword is refused.

    Attributes
    ----------
    n_features: int
        Number of genes the network takes.
    n_classes: int
        Number of cell types (what ``evaluate`` uses).
    layer_sizes: tuple of int
        Hidden layer widths.
    n_tasks: int
        1.
    n_networks: int
        Networks trained side by side (1: one :class:`ACTINNClassifier`).
    seed: int or None
        The seed given; member ``i`` of an ensemble uses ``seed + i``.

    Notes
    -----
    ACTINN's fixed number of epochs misses rare cell types. DeepChem's tools
    fix this (see the tutorial): weigh the training set with
    ``dc.trans.BalancingTransformer(dataset=train)``, pass ``fit`` a
    ``dc.models.ValidationCallback(valid, steps_per_epoch, [metric],
    save_dir=best_dir, save_on_minimum=True)`` (the held-out cross-entropy
    as ``metric``), then ``restore(model_dir=best_dir)``.
    :class:`ACTINNAnnotator` does the same in its own loop, with the same
    Adam and loss, and adds calibration and the ``Unassigned`` rule.

    Examples
    --------
    >>> import numpy as np
    >>> import deepchem as dc
    >>> from deepchem_actinn import ACTINNModel
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((64, 30)).astype(np.float32)
    >>> y = (X[:, 0] > 0.5).astype(np.int64)
    >>> model = ACTINNModel(n_features=30, n_classes=2, seed=0)
    >>> loss = model.fit(dc.data.NumpyDataset(X, y), nb_epoch=2)
    >>> model.predict(dc.data.NumpyDataset(X)).shape
    (64, 2)

    References
    ----------
    .. [1] Ma, F. and Pellegrini, M. ACTINN: automated identification of cell
       types in single cell RNA sequencing. Bioinformatics 36(2):533-538 (2020).
    """

    # the attributes under their former names: read-only, a FutureWarning
    input_size = checks.former_attribute("ACTINNModel", "input_size")
    output_dim = checks.former_attribute("ACTINNModel", "output_dim")
    hidden_sizes = checks.former_attribute("ACTINNModel", "hidden_sizes")

    @checks.former_names("ACTINNModel", keyword_only=True)
    def __init__(self,
                 *,
                 n_features: int,
                 n_classes: int,
                 layer_sizes: Sequence[int] = (100, 50, 25),
                 learning_rate: Union[None, float, LearningRateSchedule] = None,
                 weight_decay_penalty: Optional[float] = None,
                 decay_rate: Optional[float] = None,
                 decay_steps: Optional[int] = None,
                 batch_size: int = 128,
                 seed: Optional[int] = None,
                 n_networks: int = 1,
                 n_tasks: int = 1,
                 optimizer: Optional[Optimizer] = None,
                 **kwargs) -> None:
        checks.check_keywords(kwargs)
        chosen = usable_device(kwargs.get("device"))
        if kwargs.get("device") is not None:  # "cpu:0" as "cpu"
            kwargs["device"] = str(chosen) if isinstance(kwargs["device"],
                                                         str) else chosen
        schedule, optimizer = optimizer_for(learning_rate, weight_decay_penalty,
                                            decay_rate, decay_steps, optimizer)
        checks.check_single_task(n_tasks)
        checks.check_settings(seed, batch_size, n_networks)
        model_dir = kwargs.get("model_dir")
        if model_dir is not None and os.path.isfile(model_dir):
            raise ValueError("model_dir %s is a file; name a directory (made "
                             "if missing) for the checkpoints" % model_dir)
        self.seed = seed
        self.n_networks = int(n_networks)
        self.n_tasks = 1
        network: nn.Module
        loss: Loss
        if self.n_networks == 1:
            network = seeded_classifier(n_features, n_classes, layer_sizes,
                                        seed)
            loss = SparseSoftmaxCrossEntropy()
        else:
            network = seeded_ensemble(n_features, n_classes, layer_sizes,
                                      self.n_networks, seed)
            loss = EnsembleCrossEntropy()
        # the network checked them
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        self.layer_sizes = tuple(int(h) for h in layer_sizes)
        self._shuffle_rng = np.random.default_rng(seed)
        super().__init__(network,
                         loss=loss,
                         output_types=["prediction", "loss"],
                         batch_size=batch_size,
                         learning_rate=schedule,
                         optimizer=optimizer,
                         **kwargs)

    def evaluate(self,
                 dataset: Dataset,
                 metrics: Any,
                 transformers: Sequence = (),
                 per_task_metrics: bool = False,
                 use_sample_weights: bool = False,
                 n_classes: Optional[int] = None):
        """Score the model on a dataset with ``dc.metrics`` metrics.

        As ``TorchModel.evaluate``, except that ``n_classes`` defaults to the
        model's own number of cell types (``n_classes``) instead of 2. This
        is the call DeepChem's ``ValidationCallback``, ``GridHyperparamOpt``
        and ``GaussianProcessHyperparamOpt`` make (without ``n_classes``), so
        they work on this multiclass model as they are documented.

        Parameters
        ----------
        dataset: dc.data.Dataset
            Cells with class ids in ``y``.
        metrics: dc.metrics.Metric or list of dc.metrics.Metric
            What to compute.
        transformers: list of dc.trans.Transformer, default ()
            Transformers applied to ``dataset``, undone before scoring.
        per_task_metrics: bool, default False
            Also return the scores of each task.
        use_sample_weights: bool, default False
            Weigh cells by the dataset's ``w``.
        n_classes: int, optional
            Number of classes; the model's ``n_classes`` when None.

        Returns
        -------
        dict
            Metric name to score (and per-task scores when asked).

        Raises
        ------
        ValueError
            ``y`` is not one class id per cell, or every weight is 0 (a
            dataset made without labels), as in ``fit``.

        Examples
        --------
        >>> import numpy as np
        >>> import deepchem as dc
        >>> from deepchem_actinn import ACTINNModel
        >>> rng = np.random.default_rng(0)
        >>> X = rng.random((30, 8)).astype(np.float32)
        >>> data = dc.data.NumpyDataset(X, np.arange(30) % 3)
        >>> model = ACTINNModel(n_features=8, n_classes=3, seed=0)
        >>> scores = model.evaluate(data, [dc.metrics.Metric(
        ...     dc.metrics.accuracy_score)])
        >>> sorted(scores)
        ['accuracy_score']
        """
        checks.refuse_unlabelled(dataset, to="score")
        checks.check_class_ids(dataset.y, self.n_classes)
        return super().evaluate(
            dataset,
            metrics,
            list(transformers),
            per_task_metrics=per_task_metrics,
            use_sample_weights=use_sample_weights,
            n_classes=self.n_classes if n_classes is None else n_classes)

    def evaluate_generator(self,
                           generator: Iterable[Tuple[Any, Any, Any]],
                           metrics: Any,
                           transformers: Sequence = (),
                           per_task_metrics: bool = False,
                           n_classes: Optional[int] = None):
        """Score the model on batches from a generator: as
        ``TorchModel.evaluate_generator``, with ``n_classes`` defaulting to
        the model's number of cell types. It takes :meth:`evaluate`'s
        arguments, with ``generator`` (batches ``(inputs, labels,
        weights)``, as :meth:`default_generator` makes them) for ``dataset``
        and without ``use_sample_weights``, and returns its dict."""
        evaluator = GeneratorEvaluator(self, generator, list(transformers))
        return evaluator.compute_model_performance(
            metrics,
            per_task_metrics=per_task_metrics,
            n_classes=self.n_classes if n_classes is None else n_classes)

    def predict_on_generator(self, generator: Iterable[Tuple[Any, Any, Any]],
                             *args, **kwargs):
        """As ``TorchModel.predict_on_generator`` (``predict`` calls it),
        but no cells give probabilities of shape ``(0, n_classes)``, not
        ``[]``."""
        out = super().predict_on_generator(generator, *args, **kwargs)
        if isinstance(out, list) and not out:
            return np.zeros((0, self.n_classes), dtype=np.float32)
        return out

    def fit_generator(self, generator: Iterable[Tuple[Any, Any, Any]], *args,
                      **kwargs) -> float:
        """Train on batches from a generator, as ``TorchModel.fit_generator``
        (``fit`` calls it), without the PyTorch warning DeepChem 2.8's loop
        raises once per call by taking ``float()`` of its summed loss, which
        still carries gradients (harmless: the value is only logged).

        Parameters
        ----------
        generator: iterable of tuple
            Batches ``(inputs, labels, weights)``, as
            :meth:`default_generator` makes them.
        *args, **kwargs
            As in ``TorchModel.fit_generator`` (``max_checkpoints_to_keep``,
            ``checkpoint_interval``, ``restore``, ``callbacks``, ...).

        Returns
        -------
        float
            The average loss over the most recent checkpoint interval.

        Raises
        ------
        FloatingPointError
            The loss or the weights became NaN or infinite.
        """
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message="Converting a tensor with requires_grad=True",
                category=UserWarning)
            loss = super().fit_generator(generator, *args, **kwargs)
        if not (np.isfinite(loss) and all(
                bool(torch.isfinite(p).all())
                for p in self.model.parameters())):
            raise FloatingPointError(
                "training diverged: the loss is %s and the weights are no "
                "longer finite; lower the learning rate and fit again (the "
                "newest checkpoint holds the diverged weights; an earlier one "
                "of get_checkpoints() may not)" % loss)
        return loss

    def restore(self,
                checkpoint: Optional[str] = None,
                model_dir: Optional[str] = None,
                strict: Optional[bool] = True) -> None:
        """Reload the weights of a checkpoint, as ``TorchModel.restore``,
        saying which shapes disagree when the checkpoint is another
        model's.

        Parameters
        ----------
        checkpoint: str, optional
            The checkpoint file; the newest in ``model_dir`` when None.
        model_dir: str, optional
            Where to look; the model's own ``model_dir`` when None.
        strict: bool, default True
            As in ``torch.nn.Module.load_state_dict``.

        Raises
        ------
        ValueError
            The checkpoint's networks have other shapes or members than
            this model's.
        """
        try:
            super().restore(checkpoint, model_dir, strict)
        except RuntimeError as err:
            if "state_dict" not in str(err):
                raise
            raise ValueError(
                "the checkpoint in %s is another model's: its weights do not "
                "fit this one (n_features %d, n_classes %d, layer_sizes %s, "
                "n_networks %d); make the model with the settings it was "
                "trained with" %
                (checkpoint or model_dir or
                 self.model_dir, self.n_features, self.n_classes,
                 list(self.layer_sizes), self.n_networks)) from err

    @classmethod
    def from_network(cls, network: ACTINNClassifier, **kwargs) -> "ACTINNModel":
        """Wrap a trained :class:`ACTINNClassifier` (shared, not copied) as
        an :class:`ACTINNModel`, for ``predict``, ``evaluate`` or further
        training.

        Parameters
        ----------
        network: ACTINNClassifier
            The network; the model's shapes (``n_features``, ``n_classes``,
            ``layer_sizes``) are read from it.
        **kwargs
            The other constructor arguments; ``seed`` defaults to 0.

        Returns
        -------
        ACTINNModel
            A model whose ``model`` is ``network``, moved to its device.

        Examples
        --------
        >>> from deepchem_actinn import ACTINNModel
        >>> from deepchem_actinn.models.network import seeded_classifier
        >>> model = ACTINNModel.from_network(seeded_classifier(20, 3, seed=0))
        >>> model.n_features, model.n_classes, model.layer_sizes
        (20, 3, (100, 50, 25))
        """
        if not isinstance(network, ACTINNClassifier):
            raise TypeError(
                "from_network takes one ACTINNClassifier, not %s%s" %
                (type(network).__name__,
                 ": an ensemble's members are ensemble.member(i)" if isinstance(
                     network, ACTINNEnsemble) else ""))
        sizes = [int(network.first.weight.shape[1])] + [
            int(layer.out_features)
            for layer in network.hidden
            if isinstance(layer, nn.Linear)
        ]
        kwargs.setdefault("seed", 0)  # the throwaway network's draw
        model = cls(n_features=int(network.first.weight.shape[0]),
                    n_classes=int(network.head.out_features),
                    layer_sizes=sizes,
                    **kwargs)
        model.model = network.to(model.device)
        return model
