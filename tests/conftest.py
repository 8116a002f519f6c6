"""Shared fixtures: the bundled Tabula Muris sample, read with plain pandas
so the package's own readers are not part of the reference.

Also the ``torch`` marker, as DeepChem's test suite uses it: a test that
needs PyTorch is marked ``@pytest.mark.torch`` so that ``pytest -m torch``
(or ``-m "not torch"``) selects it. Modules written for this are marked
explicitly (``pytestmark = pytest.mark.torch``); every other test, doctests
included, is marked here when its module holds PyTorch or one of the
package's PyTorch-backed names (``deepchem_actinn.models``, the annotator).

And the ``requires_deepchem`` marker: a test that needs DeepChem (a core
dependency on Python < 3.12 only; the ``deepchem`` extra brings it on 3.12,
and 3.13 has none) is skipped, saying what to install, where DeepChem
cannot be imported. Such a module imports DeepChem's names in a
``try: ... except ImportError: pass`` block, so that it still collects and
its other tests run. (The package's doctests: the repository's
``conftest.py``.)
"""
import functools
import importlib
import types
from typing import Any, Dict

import numpy as np
import pandas as pd
import pytest

from deepchem_actinn.datasets import DATA_DIR

#: Modules whose names make a test need PyTorch.
TORCH_BACKED = ("torch", "deepchem_actinn.models", "deepchem_actinn.annotator")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "torch: needs PyTorch (DeepChem's marker for torch tests)")
    config.addinivalue_line(
        "markers", "requires_deepchem: needs DeepChem; skipped, saying what "
        "to install, where it cannot be imported")


@functools.lru_cache(maxsize=None)
def deepchem_missing() -> str:
    """Why DeepChem (with the modules the integration loads) cannot be
    imported here, as a skip reason naming what to install; "" where it
    can. Tried once, when a marked test first runs."""
    from deepchem_actinn._deepchem import _quiet_import, install_hint
    try:
        with _quiet_import():
            importlib.import_module("deepchem.models.torch_models")
    except ImportError as err:
        return ("needs DeepChem (the `deepchem` extra), which cannot be "
                "imported here (%s): %s" % (err, install_hint()))
    return ""


@pytest.hookimpl(tryfirst=True)  # before pytest's own skip marks are read
def pytest_runtest_setup(item):
    if item.get_closest_marker("requires_deepchem") is not None:
        reason = deepchem_missing()
        if reason:  # reported at the test's own line, as a skip mark is
            item.add_marker(pytest.mark.skip(reason=reason))


def _needs_torch(namespace: Dict[str, Any]) -> bool:
    """Whether a module's globals include PyTorch or a name defined in one of
    the package's PyTorch-backed modules."""
    for value in namespace.values():
        if isinstance(value, types.ModuleType):
            origin = value.__name__
        else:
            origin = getattr(value, "__module__", None) or ""
            if not isinstance(origin, str):
                continue
        if any(origin == name or origin.startswith(name + ".")
               for name in TORCH_BACKED):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    seen: Dict[int, bool] = {}
    for item in items:
        if item.get_closest_marker("torch") is not None:
            continue
        dtest = getattr(item, "dtest", None)
        module = getattr(item, "module", None)
        if dtest is not None:
            namespace = dtest.globs
        elif module is not None:
            namespace = vars(module)
        else:
            continue
        key = id(namespace)
        if key not in seen:
            seen[key] = _needs_torch(namespace)
        if seen[key]:
            item.add_marker(pytest.mark.torch)


def _load(part: str):
    frame = pd.read_hdf(DATA_DIR / ("%s_sample.h5" % part), key="dge")
    labels = pd.read_csv(DATA_DIR / ("%s_label_sample.txt" % part),
                         sep="\t",
                         header=None)
    assert (labels[0].to_numpy() == frame.columns.to_numpy()).all()
    return {
        "X": frame.T.to_numpy(dtype=np.float32),
        "genes": frame.index.to_numpy(dtype=str),
        "ids": frame.columns.to_numpy(dtype=str),
        "labels": labels[1].to_numpy(dtype=str),
    }


@pytest.fixture(scope="session")
def tm_train():
    return _load("train")


@pytest.fixture(scope="session")
def tm_test():
    return _load("test")


@pytest.fixture(scope="session")
def tm_reference(tm_train):
    """A function giving the first ``n`` training cells as an AnnData of
    raw counts (CSR) with their types in ``obs["cell_type"]``, a new one
    each call (tests may change it)."""
    import anndata
    import scipy.sparse as sp

    def first(n: int):
        rows = slice(0, n)
        return anndata.AnnData(X=sp.csr_matrix(tm_train["X"][rows],
                                               dtype=np.float32),
                               obs=pd.DataFrame(
                                   {"cell_type": tm_train["labels"][rows]},
                                   index=tm_train["ids"][rows]),
                               var=pd.DataFrame(index=tm_train["genes"]))

    return first


@pytest.fixture
def coloured_points():
    """A function giving the rows of (x, y, colour value), sorted: those of
    an axis' first scatter, or of the coordinates and values given; two
    scatters drawn alike give the same rows, whatever their order."""

    def rows_of(ax_or_xy, values=None) -> np.ndarray:
        if values is None:
            points = ax_or_xy.collections[0]
            ax_or_xy, values = points.get_offsets(), points.get_array()
        rows = np.column_stack(
            [np.asarray(ax_or_xy, float),
             np.asarray(values)])
        return rows[np.lexsort(rows.T[::-1])]

    return rows_of
