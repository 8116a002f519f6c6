"""DeepChem, imported quietly and only where it is needed.

Reading data, training and using an :class:`ACTINNAnnotator` need only
PyTorch; the DeepChem integration (``ACTINNModel``, the ``dc.trans``
transformers, the splitter, ``NumpyDataset`` conversion) needs DeepChem.
Modules of that integration import it through :func:`require_deepchem`, which
keeps DeepChem's import-time log noise away from users and, where DeepChem is
not installed, says so in one line with what to do.
"""
import contextlib
import importlib
import io
import logging
import os
import sys
import warnings
from types import ModuleType
from typing import Iterator

from deepchem_actinn.errors import install_extra

#: Loggers DeepChem and the back ends it probes write to while it loads.
_NOISY_LOGGERS = ("deepchem", "rdkit", "tensorflow", "absl", "jax")


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Silence DeepChem's import-time chatter for the duration of the import:
    optional back ends it could not load, RDKit descriptors it dropped,
    TensorFlow's start-up log where TensorFlow is installed, and whatever it
    prints. Errors still propagate; the caller's logging set-up, warning
    filters and environment are restored afterwards."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    tf_log_set = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    if tf_log_set:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    try:
        with warnings.catch_warnings(), \
                contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        if tf_log_set:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)


def install_hint() -> str:
    """How to get DeepChem on the running Python, in one sentence.

    DeepChem 2.8.0 supports Python 3.10-3.11; on 3.12 only its
    pre-releases install (and their ``deepchem.models.torch_models`` needs
    ``transformers``); no release supports 3.13 yet.

    Examples
    --------
    >>> from deepchem_actinn._deepchem import install_hint
    >>> "DeepChem" in install_hint()
    True
    """
    if sys.version_info >= (3, 13):
        return ("No DeepChem release supports Python %d.%d yet: use Python "
                "3.10-3.12 for the DeepChem integration" % sys.version_info[:2])
    hint = "To get DeepChem, " + install_extra("deepchem")
    if sys.version_info >= (3, 12):
        return hint + (": on Python 3.12, DeepChem's pre-release "
                       "(deepchem>=2.8.1.dev0) and transformers")
    return hint


def require_deepchem(feature: str = "This feature",
                     *modules: str) -> ModuleType:
    """Import DeepChem quietly, or explain in one line how to get it.

    Parameters
    ----------
    feature: str
        What needs DeepChem, for the message.
    *modules: str
        DeepChem submodules the feature needs beyond the package itself
        (for example ``"deepchem.models.torch_models"``), imported quietly
        too, so that one they cannot load is reported the same way.

    Returns
    -------
    module
        The ``deepchem`` package.

    Raises
    ------
    ImportError
        DeepChem (or one of ``modules``) is not installed or fails to
        import; the one-line message names the feature, the cause and what
        to do.

    Examples
    --------
    >>> from deepchem_actinn._deepchem import require_deepchem
    >>> dc = require_deepchem("ACTINNModel", "deepchem.models.torch_models")
    >>> hasattr(dc, "trans")
    True
    """
    wanted = ("deepchem",) + modules
    if all(sys.modules.get(name) is not None for name in wanted):
        return sys.modules["deepchem"]
    try:
        with _quiet_import():
            for name in wanted:
                importlib.import_module(name)
    except ImportError as err:
        raise ImportError(
            "%s needs DeepChem, which could not be imported (%s). %s; "
            "reading data, training and using an ACTINNAnnotator, and the "
            "actinn command work without it." %
            (feature, err, install_hint())) from None
    return sys.modules["deepchem"]
