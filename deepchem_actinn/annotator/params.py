"""The annotator's hyperparameters, with scikit-learn's manners.

:class:`Hyperparameters` gives :class:`~deepchem_actinn.ACTINNAnnotator`
``get_params`` and ``set_params`` as scikit-learn defines them: the names
are the constructor's, read from its signature, and the values are kept as
given, so that :func:`sklearn.base.clone` rebuilds an equal, unfitted
annotator; and the estimator tags scikit-learn's tools ask for.
:func:`resolve` checks the values and gives them in the types fitting uses
and ``annotator.json`` saves. Only the tags import scikit-learn: loading
an annotator to predict stays without it.
"""
import inspect
from typing import Any, Dict, Mapping, Tuple, TypeVar

from deepchem_actinn.annotator import fitting
from deepchem_actinn.preprocessing.augment import Augmentation

#: Constructor parameters that are not saved with a trained annotator:
#: where it runs is the loading machine's choice.
UNSAVED = ("device",)

Self = TypeVar("Self", bound="Hyperparameters")


def param_names(cls: type) -> Tuple[str, ...]:
    """The parameters of ``cls``'s constructor, in order.

    Examples
    --------
    >>> from deepchem_actinn.annotator.params import param_names
    >>> class Net:
    ...     def __init__(self, width=8, seed=0):
    ...         self.width, self.seed = width, seed
    >>> param_names(Net)
    ('width', 'seed')
    """
    names = []
    for name, param in inspect.signature(cls).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError("%s.__init__ takes *%s: its parameters must be "
                            "named" % (cls.__name__, name))
        names.append(name)
    return tuple(names)


def resolve(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Check an annotator's hyperparameters and return them as fitting uses
    them and ``annotator.json`` saves them: whole numbers as ``int``, the
    others as ``float``, the sequences as tuples, ``augment`` as None or
    the dict of all its fields; ``device`` as it is.

    Raises
    ------
    ValueError, TypeError
        A value no annotator can be fitted with (the first one found).

    Examples
    --------
    >>> import inspect
    >>> from deepchem_actinn import ACTINNAnnotator
    >>> from deepchem_actinn.annotator.params import resolve
    >>> defaults = {name: p.default for name, p in
    ...             inspect.signature(ACTINNAnnotator).parameters.items()}
    >>> settings = resolve(dict(defaults, hidden_sizes=[64], seed=3.0))
    >>> settings["hidden_sizes"], settings["seed"]
    ((64,), 3)
    >>> resolve(dict(defaults, rejection_rate=2))
    Traceback (most recent call last):
    ...
    ValueError: rejection_rate must be in (0, 1), got 2
    """
    p = dict(params)
    # numbers first (text, None or a bool named); the range checks' messages
    # show the values as given
    numbers = {
        name: _number(name, p[name])
        for name in ("validation_fraction", "learning_rate", "weight_decay",
                     "decay_rate", "target_sum", "log_base", "min_overlap",
                     "rejection_rate", "linear_weight")
    }
    fitting.check_params(p["class_weight"], p["validation_fraction"],
                         p["n_networks"], p["batch_size"], p["max_epochs"],
                         p["rejection_rate"])
    fitting.check_numbers(numbers["learning_rate"], numbers["weight_decay"],
                          _whole("seed", p["seed"]), numbers["min_overlap"],
                          numbers["target_sum"], numbers["log_base"])
    if not 0 <= p["linear_weight"] < 1:
        raise ValueError("linear_weight must be in [0, 1), got %r" %
                         (p["linear_weight"],))
    p.update(numbers)
    augmentation = Augmentation.from_value(p["augment"])
    for name in ("n_networks", "max_epochs", "patience", "max_validation_cells",
                 "batch_size", "decay_steps", "seed"):
        p[name] = _whole(name, p[name])
    for name, low in (("decay_steps", 1), ("patience", 0)):
        if p[name] < low:
            raise ValueError("%s must be a whole number of at least %d, got "
                             "%r" % (name, low, params[name]))
    p["early_stopping"] = bool(p["early_stopping"])
    p["hidden_sizes"] = _widths(p["hidden_sizes"])
    for name in ("total_percentiles", "cv_percentiles"):
        p[name] = _percentiles(name, p[name])
    p["augment"] = None if augmentation is None else augmentation.to_dict()
    return p


#: The optimiser's parameters, which the training loop and ``models_`` take.
OPTIMISER = ("learning_rate", "weight_decay", "decay_rate", "decay_steps")


def training_settings(settings: Any) -> Dict[str, Any]:
    """The training loop's settings
    (:func:`~deepchem_actinn.models.training.train_ensemble`) from the
    checked parameters ``settings`` (:func:`resolve`).

    Examples
    --------
    >>> import inspect, types
    >>> from deepchem_actinn import ACTINNAnnotator
    >>> from deepchem_actinn.annotator.params import resolve, training_settings
    >>> defaults = {name: p.default for name, p in
    ...             inspect.signature(ACTINNAnnotator).parameters.items()}
    >>> settings = types.SimpleNamespace(**resolve(defaults))
    >>> training_settings(settings)["patience"]
    10
    """
    return {
        k: getattr(settings, k)
        for k in ("max_epochs", "early_stopping", "patience", "seed") +
        OPTIMISER
    }


def model_settings(settings: Any, member: int) -> Dict[str, Any]:
    """The settings of ensemble member ``member`` as a DeepChem
    :class:`~deepchem_actinn.ACTINNModel` (``models_``): its seed
    ``seed + member`` (modulo 2**32), ``batch_size`` and the optimiser's,
    ``weight_decay`` by DeepChem's name ``weight_decay_penalty``
    (``settings``: the checked parameters, :func:`resolve`).

    Examples
    --------
    >>> import types
    >>> from deepchem_actinn.annotator.params import model_settings
    >>> settings = types.SimpleNamespace(seed=7, batch_size=128,
    ...                                  learning_rate=1e-4, weight_decay=0.005,
    ...                                  decay_rate=0.95, decay_steps=1000)
    >>> chosen = model_settings(settings, member=1)
    >>> chosen["seed"], chosen["weight_decay_penalty"]
    (8, 0.005)
    """
    chosen = {k: getattr(settings, k) for k in OPTIMISER}
    # ACTINNModel's name (DeepChem's) for the annotator's weight_decay
    chosen["weight_decay_penalty"] = chosen.pop("weight_decay")
    return dict(chosen,
                seed=(settings.seed + member) % 2**32,
                batch_size=settings.batch_size)


def _number(name: str, value: Any) -> float:
    """``float(value)`` of a number (not text, None or a bool); anything
    else is a ValueError naming ``name``."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise ValueError("%s must be a number, got %r" % (name, value))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a number, got %r" %
                         (name, value)) from None


def _whole(name: str, value: Any) -> int:
    """``int(value)``; a fraction, infinity or NaN is a ValueError naming
    ``name``."""
    try:
        whole = int(value)
        if whole != value:
            raise ValueError(value)
        return whole
    except (OverflowError, TypeError, ValueError):
        raise ValueError("%s must be a whole number, got %r" %
                         (name, value)) from None


def _widths(value: Any) -> Tuple[int, ...]:
    """``hidden_sizes`` as a tuple of ints: a ValueError unless it is a
    non-empty sequence of whole numbers of at least 1."""
    try:
        widths = tuple(_whole("hidden_sizes", h) for h in value)
    except (TypeError, ValueError):
        widths = ()
    if not widths or min(widths) < 1:
        raise ValueError("hidden_sizes must be a non-empty sequence of whole "
                         "numbers of at least 1 (each hidden layer's width), "
                         "got %r" % (value,))
    return widths


def _percentiles(name: str, value: Any) -> Tuple[float, float]:
    """A (low, high) pair of percentiles as floats: a ValueError unless
    ``0 <= low <= high <= 100``."""
    try:
        low, high = (_number(name, v) for v in value)
    except (TypeError, ValueError):
        low, high = 1.0, 0.0
    if not 0 <= low <= high <= 100:
        raise ValueError("%s must be two percentiles (low, high), 0 <= low "
                         "<= high <= 100, got %r" % (name, value))
    return low, high


class Hyperparameters:
    """``get_params`` and ``set_params`` over the constructor's parameters
    (inherited by :class:`~deepchem_actinn.ACTINNAnnotator`; see its
    Examples)."""

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's estimator tags, which its tools read from version
        1.6 on (``check_is_fitted`` among them): an estimator to fit, of
        none of its types (``fit`` takes gene names and labels, ``predict``
        returns an Annotation). scikit-learn is imported here only."""
        from sklearn.utils import Tags, TargetTags
        return Tags(estimator_type=None, target_tags=TargetTags(required=True))

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """The constructor's parameters, by name, each as it was given (or
        set since), as scikit-learn's ``get_params`` returns them.

        Parameters
        ----------
        deep: bool, default True
            Taken for scikit-learn; no parameter holds an estimator, so it
            changes nothing.

        Returns
        -------
        dict
            Parameter name -> value, in the constructor's order.

        Examples
        --------
        >>> from deepchem_actinn import ACTINNAnnotator
        >>> params = ACTINNAnnotator(max_epochs=3).get_params()
        >>> params["max_epochs"], params["seed"], params["device"]
        (3, 0, None)
        """
        return {name: getattr(self, name) for name in param_names(type(self))}

    def set_params(self: Self, **params: Any) -> Self:
        """Set parameters by name, as scikit-learn's ``set_params`` does.

        The values are checked together first, as the constructor checks
        them: a name or value refused leaves every parameter as it was.
        On a fitted annotator only the parameter changes, as in
        scikit-learn: the fitted networks, genes and calibration stay until
        the next ``fit``, which uses the new values. Prediction reads
        ``min_overlap``, ``linear_weight`` (the weight of the fitted
        regression; refused where none was fitted), ``seed`` (majority
        voting), ``target_sum`` and ``log_base`` as they are when it runs.
        A new ``target_sum`` or ``log_base`` makes the query's input unlike
        the training's: change those, and the others, which only training
        reads, to fit again.

        Parameters
        ----------
        **params
            Parameter name -> new value.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            A name that is not a parameter (the valid ones are listed), or
            a value out of range.

        Examples
        --------
        >>> from deepchem_actinn import ACTINNAnnotator
        >>> annotator = ACTINNAnnotator().set_params(max_epochs=3, seed=1)
        >>> annotator.max_epochs, annotator.seed
        (3, 1)
        >>> annotator.set_params(epochs=3)
        Traceback (most recent call last):
        ...
        ValueError: Invalid parameter 'epochs' for estimator ACTINNAnnotator.
        Valid parameters are: ['augment', ...].
        """
        names = param_names(type(self))
        for name in params:
            if name not in names:
                raise ValueError(
                    "Invalid parameter %r for estimator %s. Valid parameters "
                    "are: %r." % (name, type(self).__name__, sorted(names)))
        resolve({**self.get_params(), **params})
        for name, value in params.items():
            setattr(self, name, value)
        return self
