"""What :class:`~deepchem_actinn.models.actinn.ACTINNModel` refuses, and
how it says so: arguments DeepChem would silently ignore, labels that are
not class ids, cells whose values are not finite, datasets without labels.

DeepChem's own models pass such input to PyTorch, which fails with a shape
or index error, or trains to NaN weights without a word; these checks name
the argument, the values or the cells instead.
"""
from typing import Any, Dict, Optional

import numpy as np

from deepchem_actinn.errors import counted, examples
from deepchem_actinn.types import MAX_SEED

# Keywords ACTINNModel hands on to ``TorchModel.__init__``; any other is
# refused rather than ignored (DeepChem's Model drops unknown keywords).
PASSED_ON = ("model_dir", "tensorboard", "wandb", "log_frequency", "device",
             "regularization_loss", "wandb_logger", "optimizer")

# DeepChem's names (MultitaskClassifier's) for ACTINNModel's arguments.
DEEPCHEM_NAMES = {
    "n_features": "input_size",
    "n_classes": "output_dim",
    "layer_sizes": "hidden_sizes",
    "weight_decay_penalty": "weight_decay",
}


def check_keywords(kwargs: Dict[str, Any]) -> None:
    """Refuse keywords ``TorchModel`` would ignore, such as DeepChem's names
    for ACTINN's arguments or a misspelling, so that a hyperparameter search
    over them cannot quietly train the same model every time.

    Parameters
    ----------
    kwargs: dict
        The keywords ``ACTINNModel`` did not take itself.

    Raises
    ------
    TypeError
        A keyword neither ``ACTINNModel`` nor ``TorchModel`` takes.

    Examples
    --------
    >>> from deepchem_actinn.models.checks import check_keywords
    >>> check_keywords({"model_dir": "/tmp/actinn"})
    >>> check_keywords({"layer_sizes": [500]})
    Traceback (most recent call last):
    ...
    TypeError: ACTINNModel got an unexpected keyword argument 'layer_sizes' (DeepChem's name; ACTINNModel calls it hidden_sizes)
    """
    for name in kwargs:
        if name in PASSED_ON:
            continue
        if name == "loss":
            raise TypeError(
                "ACTINNModel's loss is fixed (softmax cross-entropy, summed "
                "over an ensemble's members); weight cells with the "
                "dataset's w instead")
        if name in DEEPCHEM_NAMES:
            hint = " (DeepChem's name; ACTINNModel calls it %s)" % (
                DEEPCHEM_NAMES[name])
        elif name in ("dropouts", "dropout"):
            hint = " (ACTINN's networks have no dropout)"
        else:
            hint = (" (it takes output_dim, input_size, hidden_sizes, "
                    "learning_rate, weight_decay, decay_rate, decay_steps, "
                    "batch_size, seed, n_networks and TorchModel's %s)" %
                    ", ".join(PASSED_ON))
        raise TypeError("ACTINNModel got an unexpected keyword argument %r%s" %
                        (name, hint))


def check_settings(seed: Optional[int], batch_size: int,
                   n_networks: int) -> None:
    """Refuse a seed, batch size or ensemble size PyTorch or NumPy would
    fail on later with a message that does not name it.

    Parameters
    ----------
    seed: int or None
        0 .. 2**32 - 1, or None.
    batch_size: int
        At least 1.
    n_networks: int
        At least 1.

    Raises
    ------
    ValueError
        A value out of range or not a whole number.
    """
    if seed is not None and not (_whole(seed) and 0 <= seed <= MAX_SEED):
        raise ValueError("seed must be a whole number from 0 to %d, or None; "
                         "got %r" % (MAX_SEED, seed))
    for name, value in (("batch_size", batch_size), ("n_networks", n_networks)):
        if not (_whole(value) and value >= 1):
            raise ValueError("%s must be a whole number of at least 1, got "
                             "%r" % (name, value))


def _whole(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def class_ids(y: Any) -> np.ndarray:
    """``y`` as numbers, refusing anything but whole numbers (cell-type
    names, NaN, fractions), naming the values that are not.

    Parameters
    ----------
    y: array-like
        A dataset's labels.

    Returns
    -------
    numpy.ndarray
        The labels as floats, each a whole number.

    Raises
    ------
    ValueError
        A label that is not a whole number.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.models.checks import class_ids
    >>> class_ids([[0], [2]]).ravel().tolist()
    [0.0, 2.0]
    >>> class_ids([0.0, np.nan, 1.0])
    Traceback (most recent call last):
    ...
    ValueError: ACTINNModel takes class ids (whole numbers) as y; 1 label is not: nan (dtype float64)
    """
    values = np.asarray(y)
    try:
        ids = values.astype(float)
    except (TypeError, ValueError):
        raise ValueError(
            "ACTINNModel takes class ids (whole numbers) as y, the dataset's "
            "y holds %s (dtype %s): encode the cell types with "
            "CellTypeLabels.from_labels(names).encode(names) "
            "(to_numpy_dataset does)" % (examples(
                [str(v) for v in values.ravel()]), values.dtype)) from None
    bad = ~np.isfinite(ids) | (ids != np.round(ids))
    if bool(bad.any()):
        raise ValueError(
            "ACTINNModel takes class ids (whole numbers) as y; %s not: %s "
            "(dtype %s)" %
            (counted(int(bad.sum()), "label", "is/are"),
             examples([str(v) for v in values[bad].ravel()]), values.dtype))
    return ids


def check_class_ids(y: Any, n_classes: int) -> None:
    """Refuse labels that are not one class id in ``0 .. n_classes - 1`` per
    cell.

    Parameters
    ----------
    y: array-like
        A dataset's labels, shape ``(n_cells,)`` or ``(n_cells, 1)``.
    n_classes: int
        The model's number of cell types.

    Raises
    ------
    ValueError
        Labels that are not whole numbers, more than one column (one-hot
        labels, or several tasks) or ids out of range.
    """
    ids = class_ids(y)
    if ids.ndim > 1 and ids.shape[1] > 1:
        raise ValueError(
            "ACTINNModel takes one task, one class id per cell (y of shape "
            "(n_cells, 1)); the dataset's y has %d columns: one-hot labels? "
            "Pass y.argmax(axis=1)" % ids.shape[1])
    if ids.size and (ids.min() < 0 or ids.max() >= n_classes):
        raise ValueError(
            "class ids must be in 0 .. %d (output_dim %d), the dataset holds "
            "%g .. %g" % (n_classes - 1, n_classes, ids.min(), ids.max()))


def nonfinite_cells(dataset: Any) -> np.ndarray:
    """Ids of the dataset's cells whose X holds NaN or infinite values
    (read in batches, so a DiskDataset is never in memory whole).

    Parameters
    ----------
    dataset: dc.data.Dataset
        Cells x genes.

    Returns
    -------
    numpy.ndarray
        The ids, in the dataset's order.
    """
    found = []
    for X, _, _, ids in dataset.iterbatches(4096, deterministic=True):
        rows = ~np.isfinite(np.asarray(
            X, dtype=float)).all(axis=tuple(range(1, np.ndim(X))))
        found.append(np.asarray(ids)[rows])
    return np.concatenate(found) if found else np.empty(0, dtype=object)


def refuse_nonfinite(dataset: Any) -> None:
    """Refuse a dataset with NaN or infinite values, naming its cells (they
    would turn every weight NaN in training, every probability NaN in
    prediction).

    Parameters
    ----------
    dataset: dc.data.Dataset
        Cells x genes; called once a batch was found to hold such values.

    Raises
    ------
    ValueError
        Always.
    """
    ids = nonfinite_cells(dataset)
    raise ValueError(
        "ACTINNModel takes finite values; %s NaN or infinite values: %s" %
        (counted(len(ids), "cell", "holds/hold"), examples(
            [str(i) for i in ids])))


def refuse_unlabelled(dataset: Any) -> None:
    """Refuse to fit a dataset whose every weight is 0: DeepChem gives a
    dataset made without labels y = 0 and w = 0, and training on it would
    only shrink the weights by weight decay, with a loss of 0.

    Parameters
    ----------
    dataset: dc.data.Dataset
        The training data.

    Raises
    ------
    ValueError
        Every weight is 0.
    """
    if not bool(np.any(np.asarray(dataset.w) != 0)):
        raise ValueError(
            "every cell of the dataset has weight 0, so there is nothing to "
            "learn: it was made without labels (to_numpy_dataset(adata, "
            "labels, label_key=None) makes a query); make the training "
            "dataset with its cells' labels")
