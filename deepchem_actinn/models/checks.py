"""What :class:`~deepchem_actinn.models.actinn.ACTINNModel` refuses, and
how it says so: arguments DeepChem would silently ignore, labels that are
not class ids, cells whose values are not finite, datasets without labels.

DeepChem's own models pass such input to PyTorch, which fails with a shape
or index error, or trains to NaN weights without a word; these checks name
the argument, the values or the cells instead.
"""
import functools
import inspect
import warnings
from typing import Any, Callable, Dict, Optional, TypeVar, cast

import numpy as np

from deepchem_actinn.errors import counted, examples
from deepchem_actinn.types import MAX_SEED

# Keywords ACTINNModel hands on to ``TorchModel.__init__``; any other is
# refused rather than ignored (DeepChem's Model drops unknown keywords).
PASSED_ON = ("model_dir", "tensorboard", "wandb", "log_frequency", "device",
             "regularization_loss", "wandb_logger")

# ACTINNModel's own arguments, as check_keywords lists them.
OWN = ("n_features", "n_classes", "layer_sizes", "learning_rate",
       "weight_decay_penalty", "decay_rate", "decay_steps", "batch_size",
       "seed", "n_networks", "n_tasks", "optimizer")

# ACTINNModel's former names (those of the first ACTINN ports) for DeepChem's
# (MultitaskClassifier's): still taken, with a FutureWarning.
DEPRECATED_NAMES = {
    "input_size": "n_features",
    "output_dim": "n_classes",
    "hidden_sizes": "layer_sizes",
    "weight_decay": "weight_decay_penalty",
}

# Keywords of DeepChem's MultitaskClassifier that ACTINN has no use for.
NOT_ACTINNS = {
    "dropouts": "ACTINN's networks have no dropout",
    "weight_decay_penalty_type": "ACTINN's penalty is L2, Adam's weight "
                                 "decay",
    "activation_fns": "ACTINN's hidden layers are ReLU",
}

F = TypeVar("F", bound=Callable[..., Any])


def former_names(owner: str, keyword_only: bool = False) -> Callable[[F], F]:
    """Let a constructor take the former names of its arguments
    (``DEPRECATED_NAMES``), with a ``FutureWarning`` naming DeepChem's
    name, and optionally refuse positional arguments.

    ``ACTINNModel``'s first two arguments were once ``output_dim,
    input_size``: the other order from DeepChem's ``n_features, n_classes``
    and from ``ACTINNClassifier``'s, so that a positional call could
    silently swap genes and cell types. It therefore takes them by keyword
    only.

    Parameters
    ----------
    owner: str
        The name the messages give.
    keyword_only: bool, default False
        Refuse positional arguments (besides ``self``) with a
        ``TypeError`` that says why.

    Returns
    -------
    callable
        A decorator; the function it gives keeps the signature (DeepChem's
        names only) and the docstring.

    Raises
    ------
    TypeError
        (from the decorated function) One argument given under both its
        names, or positional arguments where ``keyword_only``.

    Warns
    -----
    FutureWarning
        For each former name used.

    Examples
    --------
    >>> import warnings
    >>> from deepchem_actinn.models.checks import former_names
    >>> class Model:
    ...     @former_names("Model", keyword_only=True)
    ...     def __init__(self, n_features=None, n_classes=None):
    ...         self.n_features = n_features
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     Model(input_size=30).n_features
    30
    >>> print(caught[0].message)
    Model's input_size is deprecated and will be removed: pass n_features=30 (DeepChem's name)
    >>> Model(n_features=30, input_size=30)
    Traceback (most recent call last):
    ...
    TypeError: Model got n_features and input_size, its former name, for one argument: pass n_features alone
    >>> Model(20, 3)
    Traceback (most recent call last):
    ...
    TypeError: Model takes its arguments by keyword, got 2 positional (20, 3): Model(n_features=<genes>, n_classes=<cell types>, ...) (its first two were once output_dim, input_size, in the other order)
    """

    def decorate(function: F) -> F:
        takes = inspect.signature(function).parameters
        renamed = {
            old: new for old, new in DEPRECATED_NAMES.items() if new in takes
        }

        @functools.wraps(function)
        def taking_former_names(*args: Any, **kwargs: Any) -> Any:
            if keyword_only and len(args) > 1:  # args[0] is self
                raise TypeError(
                    "%s takes its arguments by keyword, got %d positional "
                    "(%s): %s(n_features=<genes>, n_classes=<cell types>, "
                    "...) (its first two were once output_dim, input_size, "
                    "in the other order)" % (owner, len(args) - 1, ", ".join(
                        repr(a) for a in args[1:]), owner))
            for old, new in renamed.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(
                        "%s got %s and %s, its former name, for one "
                        "argument: pass %s alone" % (owner, new, old, new))
                kwargs[new] = kwargs.pop(old)
                warnings.warn(
                    "%s's %s is deprecated and will be removed: pass %s=%r "
                    "(DeepChem's name)" % (owner, old, new, kwargs[new]),
                    FutureWarning,
                    stacklevel=2)
            return function(*args, **kwargs)

        return cast(F, taking_former_names)

    return decorate


def former_attribute(owner: str, old: str) -> property:
    """A read-only attribute under its former name (``DEPRECATED_NAMES``),
    giving the new one's value with a ``FutureWarning``.

    Examples
    --------
    >>> import warnings
    >>> from deepchem_actinn.models.checks import former_attribute
    >>> class Model:
    ...     n_features = 30
    ...     input_size = former_attribute("Model", "input_size")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     Model().input_size
    30
    >>> print(caught[0].message)
    Model.input_size is deprecated and will be removed: read n_features
    """
    new = DEPRECATED_NAMES[old]

    def read(self: Any) -> Any:
        warnings.warn("%s.%s is deprecated and will be removed: read %s" %
                      (owner, old, new),
                      FutureWarning,
                      stacklevel=2)
        return getattr(self, new)

    return property(read, doc="Deprecated: ``%s``." % new)


def check_keywords(kwargs: Dict[str, Any]) -> None:
    """Refuse keywords ``TorchModel`` would ignore, such as a misspelling or
    one of DeepChem's arguments ACTINN has no use for, so that a
    hyperparameter search over them cannot quietly train the same model
    every time.

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
    >>> check_keywords({"dropouts": 0.5})
    Traceback (most recent call last):
    ...
    TypeError: ACTINNModel got an unexpected keyword argument 'dropouts' (ACTINN's networks have no dropout)
    """
    for name in kwargs:
        if name in PASSED_ON:
            continue
        if name == "loss":
            raise TypeError(
                "ACTINNModel's loss is fixed (softmax cross-entropy, summed "
                "over an ensemble's members); weight cells with the "
                "dataset's w instead")
        if name in NOT_ACTINNS:
            hint = " (%s)" % NOT_ACTINNS[name]
        else:
            hint = " (it takes %s and TorchModel's %s)" % (", ".join(OWN),
                                                           ", ".join(PASSED_ON))
        raise TypeError("ACTINNModel got an unexpected keyword argument %r%s" %
                        (name, hint))


def check_single_task(n_tasks: Any) -> None:
    """Refuse more than one task: ACTINN predicts one cell type per cell.

    Parameters
    ----------
    n_tasks: int
        DeepChem's number of tasks; 1.

    Raises
    ------
    ValueError
        ``n_tasks`` other than 1.

    Examples
    --------
    >>> from deepchem_actinn.models.checks import check_single_task
    >>> check_single_task(1)
    >>> check_single_task(3)
    Traceback (most recent call last):
    ...
    ValueError: ACTINNModel is single-task (one cell type per cell, of n_classes types): n_tasks must be 1, got 3; train one model per labelling
    """
    if not (_whole(n_tasks) and n_tasks == 1):
        raise ValueError(
            "ACTINNModel is single-task (one cell type per cell, of "
            "n_classes types): n_tasks must be 1, got %r; train one model "
            "per labelling" % (n_tasks,))


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
        if values.dtype.kind in "USO" and any(
                isinstance(v, (str, bytes)) for v in values.ravel()):
            raise TypeError  # "0", "2" convert, but torch takes no text
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
    if ids.ndim > 1 and ids.size != ids.shape[0]:
        # one-hot (n_cells, n_classes), DeepChem's (n_cells, 1, n_classes)
        raise ValueError(
            "ACTINNModel takes one task, one class id per cell (y of shape "
            "(n_cells, 1)); the dataset's y has %s: one-hot labels? Pass "
            "y.argmax(axis=%d)" %
            ("%d columns" % ids.shape[1] if ids.ndim == 2 else "shape %s" %
             (ids.shape,), 1 if ids.ndim == 2 else -1))
    if ids.size and (ids.min() < 0 or ids.max() >= n_classes):
        raise ValueError(
            "class ids must be in 0 .. %d (n_classes %d), the dataset holds "
            "%g .. %g" % (n_classes - 1, n_classes, ids.min(), ids.max()))


def check_weights(dataset: Any) -> None:
    """Refuse weights that are not one finite value of at least 0 per cell,
    naming the cells: torch would fail with a shape error, train to NaN
    weights, or raise the loss of a negatively weighted cell.

    Parameters
    ----------
    dataset: dc.data.Dataset
        The training data.

    Raises
    ------
    ValueError
        ``w`` has more than one column, or NaN, infinite or negative values.

    Examples
    --------
    >>> import numpy as np
    >>> import deepchem as dc
    >>> from deepchem_actinn.models.checks import check_weights
    >>> check_weights(dc.data.NumpyDataset(np.zeros((2, 3)), [0, 1],
    ...                                    [1.0, -2.0], ids=["a", "b"]))
    Traceback (most recent call last):
    ...
    ValueError: ACTINNModel takes finite weights of at least 0; 1 cell has others: b
    """
    w = np.asarray(dataset.w, dtype=float)
    if w.ndim > 1 and w.size != w.shape[0]:
        raise ValueError(
            "ACTINNModel takes one weight per cell (w of shape (n_cells, 1)); "
            "the dataset's w has shape %s" % (w.shape,))
    bad = ~(np.isfinite(w) & (w >= 0)).reshape(-1)
    if bool(bad.any()):
        ids = np.asarray(dataset.ids)
        raise ValueError(
            "ACTINNModel takes finite weights of at least 0; %s others: %s" %
            (counted(int(bad.sum()), "cell",
                     "has/have"), examples([str(i) for i in ids[bad]])))


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


def refuse_unlabelled(dataset: Any, to: str = "learn") -> None:
    """Refuse to fit (or score) a dataset whose every weight is 0: DeepChem
    gives a dataset made without labels y = 0 and w = 0; training on it
    would only shrink the weights by weight decay, with a loss of 0, and a
    score of it would only count the cells predicted as class 0.

    Parameters
    ----------
    dataset: dc.data.Dataset
        The training (or scored) data.
    to: str, default "learn"
        ``"learn"`` (``fit``) or ``"score"`` (``evaluate``), for the
        message.

    Raises
    ------
    ValueError
        Every weight is 0.
    """
    if not bool(np.any(np.asarray(dataset.w) != 0)):
        raise ValueError(
            "every cell of the dataset has weight 0, so there is nothing to "
            "%s: it was made without labels (to_numpy_dataset(adata, labels, "
            "label_key=None) makes a query); %s with its cells' labels" %
            (to, "make the training dataset"
             if to == "learn" else "evaluate a dataset"))
