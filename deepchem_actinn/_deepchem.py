"""DeepChem, imported quietly and only where it is needed.

Reading data, training and using an :class:`ACTINNAnnotator` need only
PyTorch; the DeepChem integration (``ACTINNModel``, the ``dc.trans``
transformers, the splitter, ``NumpyDataset`` conversion) needs DeepChem.
Modules of that integration import it through :func:`require_deepchem`, which
keeps DeepChem's import-time log noise away from users and, where DeepChem is
not installed, says so in one line with what to do.
"""
import contextlib
import logging
import sys
import warnings
from types import ModuleType
from typing import Iterator


@contextlib.contextmanager
def _quiet_loggers() -> Iterator[None]:
    """Silence DeepChem's import-time warnings (optional back ends it could
    not load, RDKit descriptors it dropped) for the duration of the import."""
    loggers = [logging.getLogger(name) for name in ("deepchem", "rdkit")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def require_deepchem(feature: str = "This feature") -> ModuleType:
    """Import DeepChem quietly, or explain in one line how to get it.

    Parameters
    ----------
    feature: str
        What needs DeepChem, for the message.

    Returns
    -------
    module
        The ``deepchem`` package.

    Raises
    ------
    ImportError
        DeepChem is not installed (or fails to import); the message names
        the feature and the command that installs it.

    Examples
    --------
    >>> dc = require_deepchem("ACTINNModel")
    >>> hasattr(dc, "trans")
    True
    """
    if "deepchem" in sys.modules:
        return sys.modules["deepchem"]
    try:
        with _quiet_loggers():
            import deepchem
    except ImportError as err:
        raise ImportError(
            "%s needs DeepChem, which could not be imported (%s). Install "
            "it with `pip install \"deepchem-actinn[deepchem]\"`; reading "
            "data, training and using an ACTINNAnnotator, and the actinn "
            "command work without it." % (feature, err)) from None
    return deepchem
