"""The package's doctests where DeepChem cannot be imported (Python 3.12
without the ``deepchem`` extra, 3.13): a module of the DeepChem integration
(it imports DeepChem when it loads, so its doctests cannot be collected) and
a doctest that stops on the missing DeepChem (it imports it, or uses the
integration) are reported skipped, saying what to install, instead of as a
collection error or a failure. Where DeepChem imports, nothing changes.

The tests' own skip (the ``requires_deepchem`` marker) is in
``tests/conftest.py``, which travels with the tests.

And one thread per test process (pytest-xdist runs the suite on several:
``-n`` in ``pyproject.toml``): PyTorch's threads as many as the cores in each
would oversubscribe them, many times slower on a busy machine (the bundled
annotator's training took 360 s on two threads beside other work, 40 s on
one).
"""
import doctest
import functools
import importlib
import os
from pathlib import Path

import pytest

#: The package's own folder: only its modules' doctests are concerned.
PACKAGE = Path(__file__).resolve().parent / "deepchem_actinn"

#: What the package's ImportError says where DeepChem is missing
#: (deepchem_actinn._deepchem.require_deepchem).
MISSING = "needs DeepChem, which could not be imported"


@functools.lru_cache(maxsize=None)
def _deepchem_imports() -> bool:
    """Whether DeepChem imports here after all (then an error that looks like
    its absence is a failure, reported as such). Tried at the first such
    error only."""
    from deepchem_actinn._deepchem import _quiet_import
    try:
        with _quiet_import():
            importlib.import_module("deepchem.models.torch_models")
    except ImportError:
        return False
    return True


def pytest_configure(config):
    """PyTorch and the BLAS of the processes the tests start compute on one
    thread, unless ``OMP_NUM_THREADS`` says otherwise."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    try:
        import torch
    except ImportError:  # the suite's own tests say so
        return
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def _reason() -> str:
    from deepchem_actinn._deepchem import install_hint
    return ("Skipped: needs DeepChem (the `deepchem` extra), which cannot be "
            "imported here: %s" % install_hint())


def _in_package(path) -> bool:
    return path is not None and PACKAGE in Path(path).resolve().parents


def _is_missing_deepchem(error: BaseException) -> bool:
    """Whether an exception is the missing DeepChem: deepchem's own import
    failing, or the package's one-line message about it (in any error)."""
    if isinstance(error, doctest.UnexpectedException):
        error = error.exc_info[1]
    name = getattr(error, "name", None) or ""
    if isinstance(error, ImportError) and name.split(".")[0] == "deepchem":
        return True
    # the package's ImportError, or pytest's error importing a package whose
    # __init__ raised it (setting up a doctest of transformers/_flags.py)
    return MISSING in str(error)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    report = (yield).get_result()
    if (report.failed and _in_package(getattr(collector, "path", None)) and
            MISSING in str(report.longrepr) and not _deepchem_imports()):
        report.outcome = "skipped"
        report.longrepr = (str(collector.path), None, _reason())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if (report.failed and call.excinfo is not None and
            hasattr(item, "dtest") and _in_package(item.path) and
            _is_missing_deepchem(call.excinfo.value) and
            not _deepchem_imports()):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.reportinfo()[1], _reason())
