"""The Sphinx API documentation in ``docs/`` builds with warnings as errors
and every cross-reference resolved, as DeepChem's documentation build does,
and documents every name a module's ``__all__`` makes public."""
import importlib
import os
import pathlib
import re
import subprocess
import sys

import pytest

pytest.importorskip("sphinx")

# autodoc imports the PyTorch-backed classes and the DeepChem integration
pytestmark = [pytest.mark.torch, pytest.mark.requires_deepchem]

ROOT = pathlib.Path(__file__).resolve().parents[1]
if not (ROOT / "docs" / "source" / "conf.py").is_file():  # outside the repo
    pytest.skip("needs the repository's docs/ folder, not at %s" %
                (ROOT / "docs"),
                allow_module_level=True)
#: Packages whose ``__all__`` is the command line's, documented by ``actinn
#: --help`` and the README rather than by the API reference.
NOT_API = {"deepchem_actinn.cli"}

#: Documented names no ``__all__`` lists: members, and modules without one.
MEMBERS = [
    "ACTINNAnnotator.predict_file", "ACTINNAnnotator.top_markers",
    "ACTINNAnnotator.models_", "ACTINNAnnotator.preprocess",
    "ACTINNAnnotator.set_params", "confidence.RejectionRule.calibrate",
    "errors.ACTINNCellError", "voting.majority_vote", "voting.over_cluster",
    "hierarchy.TypeHierarchy", "ACTINNModel.fit_generator",
    "ACTINNModel.evaluate_generator"
]


def public_names():
    """``(module, name)`` for every name in the ``__all__`` of a module of
    the package (the command line's aside)."""
    import deepchem_actinn
    # the package imported, as tests/test_layout.py walks it
    package = pathlib.Path(deepchem_actinn.__file__).resolve().parent
    found = []
    for path in sorted(package.rglob("*.py")):
        if "__all__" not in path.read_text(encoding="utf-8"):
            continue
        parts = list(path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(["deepchem_actinn"] + parts)
        if name in NOT_API or name.startswith(tuple(n + "." for n in NOT_API)):
            continue
        module = importlib.import_module(name)
        found += [(name, n) for n in getattr(module, "__all__", ())]
    assert len(found) > 50, found  # the walk found the packages
    return found


def documented_as(module: str, name: str) -> str:
    """The ids under which ``module``'s public ``name`` may be documented:
    where it is imported from, the package's top level, or any module of
    ``module`` (where it is defined)."""
    return r'id="(deepchem_actinn|%s(\.\w+)*)\.%s"' % (re.escape(module),
                                                       re.escape(name))


def test_sphinx_build_is_clean(tmp_path):
    command = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
        "-q",
        str(ROOT / "docs" / "source"),
        str(tmp_path / "html")
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(command,
                            cwd=ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    pages = "".join(
        page.read_text(encoding="utf-8")
        for page in (tmp_path / "html").rglob("*.html"))
    missing = [
        "%s.%s" % (module, name)
        for module, name in public_names()
        if not re.search(documented_as(module, name), pages)
    ]
    assert not missing, "public names without an entry in docs/: %s" % missing
    for name in MEMBERS:
        assert 'id="deepchem_actinn.%s"' % name in pages, name


def test_documented_as():
    assert re.search(documented_as("deepchem_actinn.io", "read"),
                     '<dt id="deepchem_actinn.io.read">')
    assert re.search(documented_as("deepchem_actinn.io", "FORMATS"),
                     'id="deepchem_actinn.io.formats.FORMATS"')
    assert re.search(
        documented_as("deepchem_actinn.preprocessing", "library_size_log"),
        'id="deepchem_actinn.library_size_log"')
    assert not re.search(documented_as("deepchem_actinn.io", "read"),
                         'id="deepchem_actinn.io.read_text"')
    assert not re.search(documented_as("deepchem_actinn.io", "read"),
                         'id="deepchem_actinn.report.read"')
