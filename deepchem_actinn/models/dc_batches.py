"""Minibatches of a DeepChem dataset for ``ACTINNModel``.

What :class:`~deepchem_actinn.models.actinn.ACTINNModel` trains and
predicts on: the dataset refused unless it is cells x genes, each batch
refused unless its cells are the networks' width, finite and not raw
counts, and a shuffled epoch drawn from the model's own generator, a
``DiskDataset`` shard by shard.

:class:`DatasetBatches`, the model's base, holds the ``TorchModel`` hooks
that feed DeepChem's ``fit``, ``predict`` and ``evaluate`` through these;
DeepChem's own batches would shuffle with NumPy's global random state and
pass such input to PyTorch.
"""
from typing import Any, Iterable, List, Optional, Tuple

import numpy as np
import scipy.sparse as sp

from deepchem_actinn._deepchem import require_deepchem
from deepchem_actinn.io.counts import refuse_raw_counts
from deepchem_actinn.models import checks

require_deepchem("ACTINNModel")

from deepchem.data import Dataset, DiskDataset, NumpyDataset  # noqa: E402
from deepchem.models.torch_models import TorchModel  # noqa: E402

#: One minibatch as ``TorchModel`` takes it: ``(inputs, labels, weights)``.
Batch = Tuple[List, List, List]


def check_dataset(dataset: Dataset) -> None:
    """Refuse what is not a DeepChem dataset of cells x genes.

    Parameters
    ----------
    dataset: dc.data.Dataset
        What ``ACTINNModel`` was given.

    Raises
    ------
    TypeError
        ``dataset`` is not a DeepChem dataset.
    ValueError
        A ``NumpyDataset``'s X is not two-dimensional (a sparse matrix, or
        one cell, say so).

    Examples
    --------
    >>> import numpy as np
    >>> import deepchem as dc
    >>> from deepchem_actinn.models.dc_batches import check_dataset
    >>> check_dataset(dc.data.NumpyDataset(np.zeros(5, np.float32)))
    Traceback (most recent call last):
    ...
    ValueError: ACTINNModel takes cells x genes, the dataset's X has shape (5,): one cell? Give it as one row, X[None, :]
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(
            "ACTINNModel takes a DeepChem dataset, not %s: make one with "
            "deepchem_actinn.datasets.to_numpy_dataset(adata, labels) "
            "(or annotate an AnnData's counts with ACTINNAnnotator)" %
            type(dataset).__name__)
    if isinstance(dataset, NumpyDataset) and np.ndim(dataset.X) != 2:
        X = dataset.X
        if np.ndim(X) == 0 and sp.issparse(X.item()):
            hint = (": a sparse matrix? Make the dataset from X.toarray() "
                    "(to_numpy_dataset does)")
        elif np.ndim(X) == 1:
            hint = ": one cell? Give it as one row, X[None, :]"
        else:
            hint = ""
        raise ValueError("ACTINNModel takes cells x genes, the dataset's X has "
                         "shape %s%s" % (np.shape(X), hint))


def checked_batches(batches: Iterable[Batch], dataset: Dataset,
                    n_features: int) -> Iterable[Batch]:
    """The batches, refusing cells of another width than the networks'
    input, NaN or infinite values (naming the dataset's cells that hold
    them) and raw counts (the first batch's).

    Parameters
    ----------
    batches: iterable of tuple
        ``(inputs, labels, weights)`` lists, as ``TorchModel`` takes them.
    dataset: dc.data.Dataset
        The dataset they come from, searched for the cells at fault.
    n_features: int
        Genes per cell the networks take.

    Returns
    -------
    collections.abc.Iterator
        The same batches, each checked as it is reached.

    Raises
    ------
    ValueError
        A batch's cells are not ``n_features`` wide, are whole numbers
        (integer or boolean X), hold NaN or infinite values, or (the first
        batch) hold raw counts.

    Examples
    --------
    >>> import numpy as np
    >>> import deepchem as dc
    >>> from deepchem_actinn.models.dc_batches import checked_batches
    >>> data = dc.data.NumpyDataset(np.full((2, 3), 0.5, np.float32))
    >>> next(checked_batches([([data.X], [None], [None])], data, 4))
    Traceback (most recent call last):
    ...
    ValueError: ACTINNModel takes 4 genes per cell, the dataset has 3: ...
    """
    first = True
    for inputs, labels, weights in batches:
        width = np.shape(inputs[0])[-1]
        if width != n_features:
            raise ValueError(
                "ACTINNModel takes %d genes per cell, the dataset has %d: "
                "transform it with the GeneFilterTransformer fitted on "
                "the training data (its genes= matches the columns)" %
                (n_features, width))
        dtype = np.asarray(inputs[0]).dtype
        if dtype.kind in "biu":  # torch: "mat1 and mat2 must have the same"
            raise ValueError(
                "ACTINNModel takes library-size normalised, log-transformed "
                "values, the dataset's X has dtype %s: counts? Transform it "
                "with LibrarySizeLogTransformer first" % dtype.name)
        if not np.isfinite(inputs[0]).all():
            checks.refuse_nonfinite(dataset)
        if first:
            refuse_raw_counts(inputs[0], "ACTINNModel")
            first = False
        yield inputs, labels, weights


def shuffled_epoch(dataset: Dataset, batch_size: int, rng: np.random.Generator,
                   pad_batches: bool) -> Iterable[Batch]:
    """One epoch in random order; a DiskDataset shard by shard (shard
    order, then rows within each), one shard in memory at a time. A
    shard's leftover rows start the next shard's first batch, so only
    the epoch's last batch may be short (padded with ``pad_batches``).

    Parameters
    ----------
    dataset: dc.data.Dataset
        The cells, with their labels and weights.
    batch_size: int
        Cells per batch.
    rng: numpy.random.Generator
        Draws the shard and row orders (the model's own, so that its seed
        alone fixes the training run).
    pad_batches: bool
        Repeat the last batch's cells up to ``batch_size``.

    Returns
    -------
    collections.abc.Iterator
        One ``(inputs, labels, weights)`` tuple of one-array lists per batch.

    Examples
    --------
    >>> import numpy as np
    >>> import deepchem as dc
    >>> from deepchem_actinn.models.dc_batches import shuffled_epoch
    >>> data = dc.data.NumpyDataset(np.ones((5, 2)), np.arange(5))
    >>> rng = np.random.default_rng(0)
    >>> [len(X[0]) for X, y, w in shuffled_epoch(data, 2, rng, True)]
    [2, 2, 2]
    """
    if isinstance(dataset, DiskDataset):
        shard_order = rng.permutation(dataset.get_number_shards())
        shards: Iterable = (dataset.get_shard(int(i))[:3] for i in shard_order)
    else:
        shards = [(dataset.X, dataset.y, dataset.w)]
    size = batch_size
    carry: Optional[List[np.ndarray]] = None
    for X, y, w in shards:
        order = rng.permutation(len(X))
        start = 0
        if carry is not None:
            head = order[:size - len(carry[0])]
            start = len(head)
            carry = [
                np.concatenate([kept, part[head]])
                for kept, part in zip(carry, (X, y, w))
            ]
            if len(carry[0]) < size:
                continue
            yield [carry[0]], [carry[1]], [carry[2]]
            carry = None
        for begin in range(start, len(order), size):
            rows = order[begin:begin + size]
            if len(rows) < size:
                carry = [part[rows] for part in (X, y, w)]
                break
            yield ([X[rows]], [y[rows]], [w[rows]])
    if carry is not None and len(carry[0]):
        rows = np.arange(len(carry[0]))
        if pad_batches:
            rows = np.resize(rows, size)
        yield [carry[0][rows]], [carry[1][rows]], [carry[2][rows]]


class DatasetBatches(TorchModel):
    """The ``TorchModel`` hooks that make the minibatches of a DeepChem
    dataset: :meth:`default_generator` (checked, seeded batches) and
    ``_prepare_batch`` (class ids and one weight per sample), the base of
    :class:`~deepchem_actinn.models.actinn.ACTINNModel`, which sets the
    attributes below.

    Attributes
    ----------
    n_features: int
        Genes per cell the networks take.
    n_classes: int
        Number of cell types.
    batch_size: int
        Cells per batch.
    """

    n_features: int
    n_classes: int
    batch_size: int
    #: Draws the order of shuffled epochs (seeded with the model's seed).
    _shuffle_rng: np.random.Generator

    def default_generator(self,
                          dataset: Dataset,
                          epochs: int = 1,
                          mode: str = "fit",
                          deterministic: bool = True,
                          pad_batches: bool = True) -> Iterable[Batch]:
        """Minibatches of a dataset, shuffled with the model's own seed.

        DeepChem's datasets shuffle with NumPy's global random state; here a
        shuffled epoch visits the samples in an order drawn from the model's
        generator instead, so ``seed`` alone fixes the training run.
        Prediction batches are never padded.

        Parameters
        ----------
        dataset: dc.data.Dataset
            Cells x genes, the networks' input (normalised, gene-filtered).
        epochs: int, default 1
            Passes over the dataset.
        mode: str, default "fit"
            ``"fit"``, ``"predict"`` or ``"uncertainty"``; only ``"fit"``
            checks the labels and pads batches.
        deterministic: bool, default True
            Keep the dataset's order; False shuffles with the model's seed.
        pad_batches: bool, default True
            Pad the last training batch to ``batch_size``.

        Returns
        -------
        collections.abc.Iterator
            One ``(inputs, labels, weights)`` tuple of lists per minibatch,
            as ``TorchModel`` takes them.

        Raises
        ------
        TypeError
            ``dataset`` is not a DeepChem dataset.
        ValueError
            X is not cells x ``n_features``, holds raw counts or NaN or
            infinite values, or (fitting) ``y`` is not one class id in ``0
            .. n_classes - 1`` per cell, ``w`` not one finite weight of at
            least 0 per cell, or every weight is 0.
        """
        check_dataset(dataset)
        if mode == "fit":  # torch would fail with a shape or index error
            checks.refuse_unlabelled(dataset)
            checks.check_class_ids(dataset.y, self.n_classes)
            checks.check_weights(dataset)
        else:
            pad_batches = False
        for _ in range(epochs):
            if deterministic:
                batches = super().default_generator(dataset, 1, mode, True,
                                                    pad_batches)
            else:
                batches = self._shuffled_epoch(dataset, pad_batches)
            yield from checked_batches(batches, dataset, self.n_features)

    def _shuffled_epoch(self, dataset: Dataset,
                        pad_batches: bool) -> Iterable[Batch]:
        """One epoch in random order, drawn from the model's own generator
        (:func:`shuffled_epoch`)."""
        return shuffled_epoch(dataset, self.batch_size, self._shuffle_rng,
                              pad_batches)

    def _prepare_batch(self, batch: Tuple[Any, Any, Any]):
        """Labels as int64 class ids and weights as one value per sample:
        DeepChem's ``(batch, 1)`` weights times the per-sample loss
        ``(batch,)`` would broadcast to ``(batch, batch)``, a batch average.
        Half-precision inputs become float32, as DeepChem makes float64
        ones: the networks' weights are float32.
        """
        inputs, labels, weights = batch
        inputs = [
            x.astype(np.float32) if np.asarray(x).dtype == np.float16 else x
            for x in inputs
        ]
        inputs, labels, weights = super()._prepare_batch(
            (inputs, labels, weights))
        labels = [label.long().reshape(-1) for label in labels]
        weights = [weight.reshape(-1) for weight in weights]
        return inputs, labels, weights
