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


def _plain_functions(path: pathlib.Path) -> dict:
    """A module's top-level functions that are not fixtures, by name."""
    import ast
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and not any(
            "fixture" in ast.unparse(d) for d in node.decorator_list)
    }


def test_conftest_helpers_are_not_copied_into_test_modules():
    """.ci/smoke.sh runs test modules in pytest's importlib mode, where one
    cannot import another: a helper they share is a fixture of
    tests/conftest.py, defined there once; a test module's own function of
    a fixture's name would be a copy (or hide the fixture)."""
    import ast
    tests = ROOT / "tests"
    fixtures = {
        node.name
        for node in ast.parse((tests /
                               "conftest.py").read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef) and any(
            "fixture" in ast.unparse(d) for d in node.decorator_list)
    }
    assert {"exactly", "read_all", "stream_all", "reader"} <= fixtures
    copies = sorted("%s: %s" % (path.name, name)
                    for path in sorted(tests.glob("test_*.py"))
                    for name in _plain_functions(path)
                    if name in fixtures)
    assert copies == []
