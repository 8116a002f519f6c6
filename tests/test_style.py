"""The checks DeepChem runs on a contribution, configured in setup.cfg:
yapf formatting, flake8 and mypy."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = ["deepchem_actinn", "tests", "benchmarks", "conftest.py"]
_MISSING = [
    name for name in SOURCES + ["setup.cfg"] if not (ROOT / name).exists()
]
if _MISSING:  # tests run outside the repository (or an sdist of it)
    pytest.skip("the style checks need the repository's %s, not in %s" %
                (", ".join(_MISSING), ROOT),
                allow_module_level=True)


def _run(*args):
    return subprocess.run([sys.executable, "-m", *args],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=600)


def test_flake8():
    result = _run("flake8", *SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yapf_formatting():
    # --parallel: the files are checked in worker processes (one per CPU);
    # the diff and the exit status are those of a serial run
    result = _run("yapf", "--diff", "--recursive", "--parallel", *SOURCES)
    assert result.returncode == 0 and not result.stdout, result.stdout[:3000]


def test_mypy():
    result = _run("mypy", "deepchem_actinn")
    assert result.returncode == 0, result.stdout[-5000:]
