"""The release check: the source distribution and the wheel build, pass
``twine check``, and carry the bundled data, its attribution, the licences
(MIT for the code, CC BY 4.0 for the data), the type-hint marker and the
single-sourced version; the sdist carries what its tests read."""
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import deepchem_actinn

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    "setup.cfg", "pyproject.toml", "MANIFEST.in", "LICENSE", "README.md",
    "conftest.py"
]
#: Folders of the repository the sdist carries (the tests read them).
FOLDERS = ["deepchem_actinn", "tests", "benchmarks", "docs", "tutorials"]
_MISSING = [name for name in SOURCES + FOLDERS if not (ROOT / name).exists()]
if _MISSING:  # tests run outside the repository (or an sdist of it)
    pytest.skip("building the distributions needs the repository's %s, not "
                "in %s" % (", ".join(_MISSING), ROOT),
                allow_module_level=True)
DATA = [
    "deepchem_actinn/data/tabula_muris_sample/%s" % name
    for name in ("README.md", "train_sample.h5", "train_label_sample.txt",
                 "test_sample.h5", "test_label_sample.txt")
]


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist and the wheel built from it, from a copy of the sources."""
    pytest.importorskip("build")
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".work")
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    out = src / "dist"
    run = subprocess.run([
        sys.executable, "-m", "build", "--no-isolation", "--outdir",
        str(out),
        str(src)
    ],
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def test_twine_check_passes(dist):
    pytest.importorskip("twine")
    files = sorted(str(p) for p in dist.iterdir())
    run = subprocess.run([sys.executable, "-m", "twine", "check", *files],
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("PASSED") == 2


def test_wheel_carries_code_data_licence_and_version(dist):
    version = deepchem_actinn.__version__
    wheels = list(dist.glob("*.whl"))
    assert [w.name for w in wheels
           ] == ["deepchem_actinn-%s-py3-none-any.whl" % version]
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    info = "deepchem_actinn-%s.dist-info/" % version
    assert set(DATA) <= names
    assert "deepchem_actinn/py.typed" in names  # PEP 561: typed package
    assert info + "licenses/LICENSE" in names
    # the data's CC BY 4.0 attribution is a licence file too
    assert info + "licenses/" + DATA[0] in names
    code = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "deepchem_actinn").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert code == {n for n in names if n.endswith(".py")}
    zf = zipfile.ZipFile(wheels[0])
    meta = zf.read(info + "METADATA").decode()
    assert "Version: %s\n" % version in meta
    assert "Requires-Python: >=3.10\n" in meta
    assert "License-Expression: MIT AND CC-BY-4.0\n" in meta
    assert "\nLicense: " not in meta  # the expression, not the old field
    assert "License-File: LICENSE\n" in meta
    assert "License-File: %s\n" % DATA[0] in meta
    assert "Author: deepchem-actinn developers\n" in meta
    assert 'Requires-Dist: deepchem>=2.8.0; python_version < "3.12"' in meta
    assert "actinn = deepchem_actinn.__main__:run" in zf.read(
        info + "entry_points.txt").decode()


def test_sdist_carries_licence_data_and_tests(dist):
    version = deepchem_actinn.__version__
    sdist = dist / ("deepchem_actinn-%s.tar.gz" % version)
    prefix = "deepchem_actinn-%s/" % version
    with tarfile.open(sdist) as tar:
        names = set(tar.getnames())
    # what the tests read, so that `pytest` runs in the unpacked sdist
    expected = SOURCES + DATA + [
        "deepchem_actinn/py.typed", "tests/test_packaging.py",
        "benchmarks/harness.py", "benchmarks/technologies.py",
        "docs/source/conf.py", "tutorials/ACTINN_cell_type_identification.ipynb"
    ]
    assert {prefix + name for name in expected} <= names
