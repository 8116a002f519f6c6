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
import contextlib
import functools
import importlib
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import types
from typing import Any, Dict, List

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


#: Test modules that use :func:`default_annotator` (the default annotator,
#: trained for about half a minute): pytest-xdist gives them to one worker,
#: so that it is trained once in a run, not once in each worker.
DEFAULT_ANNOTATOR_MODULES = ("tests/test_ambient.py",
                             "tests/test_annotator_fit.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` (pyproject.toml), with the modules of
    :data:`DEFAULT_ANNOTATOR_MODULES` one unit of work; any other ``--dist``
    as pytest-xdist has it."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedFixtureScheduling(LoadFileScheduling):

        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            if scope in DEFAULT_ANNOTATOR_MODULES:
                return DEFAULT_ANNOTATOR_MODULES[0]
            return scope

    return SharedFixtureScheduling(config, log)


# --------------------------------------------------------------------------
# the I/O tests' readers and messages (test_io_hardening.py,
# test_io_values_as_written.py): defined once, here, and given as fixtures,
# as the CI smoke run (.ci/smoke.sh) runs those modules in pytest's
# importlib mode, where a test module cannot import another (or this one)
# --------------------------------------------------------------------------


def _exactly(message: str) -> str:
    """A pattern matching ``message`` whole."""
    import re
    return "^%s$" % re.escape(message)


def _read_all(path, **kwargs) -> np.ndarray:
    """Every cell of a file, read in memory."""
    from deepchem_actinn.io import read
    return read(path, **kwargs).X.toarray()


def _stream_all(path, **kwargs) -> np.ndarray:
    """Every cell of a file, read in chunks of two cells."""
    from deepchem_actinn.io import iter_cell_chunks
    return np.vstack([
        X.toarray() for _, X in iter_cell_chunks(path, chunk_size=2, **kwargs)
    ])


#: The two ways of reading a whole file, by name (``reader``'s ids).
READERS = {"read_all": _read_all, "stream_all": _stream_all}


@pytest.fixture
def exactly():
    """A function: the pattern (for ``pytest.raises(match=...)``) matching
    a message whole."""
    return _exactly


@pytest.fixture
def read_all():
    """A function: every cell of a file, read in memory (``read``), as a
    dense array; keyword arguments go to ``read``."""
    return _read_all


@pytest.fixture
def stream_all():
    """A function: every cell of a file, read in chunks of two cells
    (``iter_cell_chunks``), as a dense array; keyword arguments go to
    ``iter_cell_chunks``."""
    return _stream_all


@pytest.fixture(params=sorted(READERS))
def reader(request):
    """Each way of reading a whole file in turn: ``read_all``, then
    ``stream_all`` (the same functions those fixtures give)."""
    return READERS[request.param]


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
def default_annotator(tm_train):
    """``ACTINNAnnotator(seed=0)``, every other setting its default, fitted
    on the bundled training cells as read here (dense): trained once for
    the tests that need that annotator (its accuracy:
    test_annotator_fit.py; the soup it estimates: test_ambient.py). Tests
    must not change it."""
    from deepchem_actinn import ACTINNAnnotator
    return ACTINNAnnotator(seed=0).fit(tm_train["X"], tm_train["genes"],
                                       tm_train["labels"])


@pytest.fixture(scope="session")
def quick(tm_train):
    """A briefly trained annotator (fast; for behaviour, not accuracy),
    fitted on the bundled training cells (CSR, with their ids): trained
    once for the ``test_annotator_*.py`` modules. Tests must not change it
    (``monkeypatch.setattr``, undone after the test, is the one way)."""
    import scipy.sparse as sp

    from deepchem_actinn import ACTINNAnnotator
    return ACTINNAnnotator(max_epochs=4, early_stopping=False,
                           n_networks=2).fit(sp.csr_matrix(tm_train["X"]),
                                             tm_train["genes"],
                                             tm_train["labels"],
                                             tm_train["ids"])


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


@pytest.fixture(scope="session")
def small_reference(tmp_path_factory):
    """``-trs FILE -trl FILE`` of a small simulated reference (600 cells,
    300 genes, 3 types; ``actinn simulate``), for tests where the model is
    not the subject (files, messages, logs): quick to train."""
    from deepchem_actinn.cli import main
    root = tmp_path_factory.mktemp("small_reference")
    ref, labels = root / "ref.h5ad", root / "labels.txt"
    assert main([
        "simulate", "-o",
        str(ref), "--cells", "600", "--genes", "300", "--types", "3",
        "--labels",
        str(labels), "-q"
    ]) == 0
    return ["-trs", str(ref), "-trl", str(labels)]


@pytest.fixture
def clusters_and_hierarchy(tmp_path):
    """A function writing, for a saved annotator's directory, a clusters
    file of the bundled test cells (cell id <TAB> cluster, four clusters)
    and a hierarchy putting the annotator's first two types under
    ``parent``; it returns both paths (for ``--over-clustering`` and
    ``--hierarchy``)."""

    def write(model):
        from deepchem_actinn import ACTINNAnnotator
        from deepchem_actinn.datasets import load_tabula_muris_sample
        test = load_tabula_muris_sample()[1]
        clusters = tmp_path / "clusters.tsv"
        pd.Series(np.arange(test.n_obs) % 4,
                  index=test.obs_names).to_csv(clusters, sep="\t", header=False)
        types = ACTINNAnnotator.load(model, device="cpu").type_names
        hierarchy = tmp_path / "hierarchy.tsv"
        hierarchy.write_text("".join("%s\tparent\n" % t for t in types[:2]))
        return clusters, hierarchy

    return write


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


#: The process behind :func:`actinn_process`: it imports the third-party
#: libraries every ``actinn`` command imports (PyTorch above all: most of a
#: command's start; what ``train`` imports too: PyTorch's compiler, which
#: its optimisers load, and scikit-learn's linear models), then, for each
#: request it reads (a JSON line), forks a
#: child that runs ``python -m deepchem_actinn ARGS`` as that process would
#: (runpy, the package's ``__main__``, imported afresh in the child), its
#: stdin /dev/null and its stdout and stderr in files, and answers with the
#: child's exit status.
COMMAND_SERVER = textwrap.dedent(r"""
    import json, os, runpy, sys, warnings
    import anndata, scipy.optimize, torch  # noqa: F401
    import sklearn.linear_model, torch._dynamo  # noqa: F401
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stderr.flush()
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a process with threads
            # (OpenBLAS's) may deadlock the child; it runs one command
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            for fd, path, flags in (
                    (0, os.devnull, os.O_RDONLY),
                    (1, request["stdout"], os.O_WRONLY | os.O_CREAT),
                    (2, request["stderr"], os.O_WRONLY | os.O_CREAT)):
                opened = os.open(path, flags, 0o600)
                os.dup2(opened, fd)
                os.close(opened)
            sys.argv = ["deepchem_actinn", *request["args"]]
            runpy.run_module("deepchem_actinn", run_name="__main__",
                             alter_sys=True)
            sys.exit(0)  # as python -m would, should the command return
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
""")


def _fresh_actinn_process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deepchem_actinn", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=600)


@pytest.fixture(scope="session")
def actinn_process(tmp_path_factory):
    """A function running ``actinn ARGS`` in a process of its own, as
    ``subprocess.run([sys.executable, "-m", "deepchem_actinn", *ARGS],
    capture_output=True, text=True, timeout=600)`` does, returning the same
    ``CompletedProcess``: its exit code, stdout and stderr are a real
    process's, but the process is forked from one that has imported PyTorch
    already (:data:`COMMAND_SERVER`), which saves the seconds of starting
    Python and importing PyTorch for each command. What that import printed
    on stderr, had it printed anything, starts each command's stderr, as it
    would in a fresh process. For tests of a command's exit code and
    messages; tests of the process itself (signals, its start, imports,
    torchrun) start a fresh one. Environment variables read when Python or
    a library starts (``PYTHON*``, ``OMP_NUM_THREADS``) are the server's,
    read once: a test about them starts a fresh process too. A server that
    ends or hangs (killed after 600 s) fails that test only: the next call
    starts another. (Where there is no fork, as on Windows, or it is
    unsafe after PyTorch's import, as on macOS: a fresh process each
    time.)"""
    if sys.platform != "linux":
        yield _fresh_actinn_process
        return
    folder = tmp_path_factory.mktemp("actinn_process")
    starts = itertools.count()
    state: Dict[str, Any] = {}

    def start() -> None:
        """A new server (the first, or after one ended or was killed)."""
        preamble = folder / ("server_%d_stderr.txt" % next(starts))
        with open(preamble, "w") as err:
            state["server"] = subprocess.Popen(
                [sys.executable, "-c", COMMAND_SERVER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True)
        state["preamble"] = preamble
        assert answer(300) == "ready\n"
        state["said_at_start"] = preamble.read_text()

    def answer(timeout: float) -> str:
        server = state["server"]
        ready, _, _ = select.select([server.stdout], [], [], timeout)
        line = server.stdout.readline() if ready else ""
        if not line:  # the server and its command go; the next call starts one
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            pytest.fail("the actinn command server gave no answer in %d s "
                        "or ended; its stderr: %s" %
                        (timeout, state["preamble"].read_text()[-3000:]))
        return line

    def text(path) -> str:  # none where the child failed before writing
        return path.read_text() if path.exists() else ""

    runs = itertools.count()

    def run(*args: str) -> subprocess.CompletedProcess:
        if "server" not in state or state["server"].poll() is not None:
            start()
        n = next(runs)
        out, err = folder / ("%d.out" % n), folder / ("%d.err" % n)
        state["server"].stdin.write(
            json.dumps({
                "args": [str(a) for a in args],
                "cwd": os.getcwd(),
                "env": dict(os.environ),
                "stdout": str(out),
                "stderr": str(err),
            }) + "\n")
        state["server"].stdin.flush()
        code = int(answer(600))
        return subprocess.CompletedProcess(
            [sys.executable, "-m", "deepchem_actinn", *map(str, args)], code,
            text(out), state["said_at_start"] + text(err))

    yield run
    server = state.get("server")
    if server is None or server.poll() is not None:
        return
    with contextlib.suppress(OSError):  # BrokenPipeError: it just ended
        server.stdin.close()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


#: The loggers that say which matrix of an h5ad file holds the counts.
MATRIX_LOGGERS = ("deepchem_actinn.io.count_matrix",)


@pytest.fixture
def matrix_looks(monkeypatch):
    """What a test does to choose an h5ad file's counts matrix: how many
    times the file is opened to choose it (``H5adRows`` opened with neither
    ``layer`` nor ``use_raw``: ``"choices"``), and the levels set on the
    loggers that say the choice (``"levels"``: process-wide state, which a
    reader should leave alone)."""
    import logging

    from deepchem_actinn.io.h5ad import H5adRows
    seen: Dict[str, Any] = {"choices": 0, "levels": []}
    opened, set_level = H5adRows._open, logging.Logger.setLevel

    def _open(self, f):
        if self.layer is None and self.use_raw is None:
            seen["choices"] += 1
        return opened(self, f)

    def setLevel(self, level):
        if self.name in MATRIX_LOGGERS:
            seen["levels"].append((self.name, level))
        return set_level(self, level)

    monkeypatch.setattr(H5adRows, "_open", _open)
    monkeypatch.setattr(logging.Logger, "setLevel", setLevel)
    return seen


@pytest.fixture
def voted_prediction_lines() -> List[str]:
    """A predicted_label.txt of five cells with predict --majority-voting's
    columns: the vote relabels c2 (T -> B), c4 (Unassigned -> B) and c5
    (T -> Unassigned)."""
    return [
        "cellname\tcelltype\tconfidence\tover_clustering\tmajority_voting",
        "c1\tB\t0.900000\t0\tB",
        "c2\tT\t0.600000\t0\tB",
        "c3\tT\t0.800000\t1\tT",
        "c4\tUnassigned\t0.700000\t0\tB",
        "c5\tT\t0.950000\t2\tUnassigned",
    ]
