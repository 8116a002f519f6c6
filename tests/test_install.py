"""What an installed package promises: DeepChem imported quietly where it is
needed, a one-line message where it is missing, and the command line's
prediction path without DeepChem at all (as on Python 3.13)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deepchem_actinn import _deepchem
from deepchem_actinn._deepchem import install_hint, require_deepchem
from deepchem_actinn.cli import main
from deepchem_actinn.datasets import tabula_muris_sample_paths

# Makes `import deepchem` fail, as where DeepChem is not installed.
NO_DEEPCHEM = "import sys; sys.modules['deepchem'] = None; "
ROOT = Path(__file__).resolve().parents[1]


def _python(code, *args, cwd=None):
    return subprocess.run([sys.executable, "-c", code, *args],
                          capture_output=True,
                          text=True,
                          cwd=cwd,
                          timeout=600)


@pytest.mark.requires_deepchem
@pytest.mark.parametrize("name", ["ACTINNModel", "GeneFilterTransformer"])
def test_deepchem_names_import_silently(name):
    run = _python("import deepchem_actinn as da; da.%s" % name)
    assert run.returncode == 0, run.stderr
    assert (run.stdout, run.stderr) == ("", "")


@pytest.mark.parametrize("name", [
    "ACTINNModel", "GeneFilterTransformer", "LibrarySizeLogTransformer",
    "SingletaskStratifiedSplitter"
])
def test_missing_deepchem_is_one_line_naming_the_feature(name):
    run = _python(
        NO_DEEPCHEM + "import deepchem_actinn as da\n"
        "try:\n    da.%s\nexcept ImportError as err:\n    print(err)\n" % name)
    assert run.returncode == 0, run.stderr
    message = run.stdout.strip()
    assert "\n" not in message
    assert message.startswith("%s needs DeepChem" % name)
    assert install_hint() in message


def test_require_deepchem_reports_a_missing_submodule(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepchem.not_a_module", None)
    with pytest.raises(ImportError, match="^to_numpy_dataset needs DeepChem"):
        require_deepchem("to_numpy_dataset", "deepchem.not_a_module")


def test_require_deepchem_restores_logging_and_environment(monkeypatch):
    import logging
    import os
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setitem(sys.modules, "deepchem.not_a_module", None)
    logging.getLogger("deepchem").setLevel(logging.INFO)
    try:
        with pytest.raises(ImportError):
            require_deepchem("x", "deepchem.not_a_module")
        assert logging.getLogger("deepchem").level == logging.INFO
        assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    finally:
        logging.getLogger("deepchem").setLevel(logging.NOTSET)


@pytest.mark.parametrize("version, expected", [
    ((3, 11, 7), 'pip install "deepchem-actinn[deepchem]" (from a clone: '
     'pip install ".[deepchem]")'),
    ((3, 12, 1), "DeepChem's pre-release (deepchem>=2.8.1.dev0) and "
     "transformers"),
    ((3, 13, 0), "No DeepChem release supports Python 3.13 yet"),
])
def test_install_hint_follows_the_python(monkeypatch, version, expected):
    monkeypatch.setattr(_deepchem.sys, "version_info", version)
    assert expected in install_hint()


def test_every_install_hint_names_an_extra_that_setup_cfg_defines(monkeypatch):
    """Every message about a missing optional library says how to install
    the extra README names, through one function: for an installed
    package and from a clone (the package is not on PyPI)."""
    import configparser

    import anndata
    import numpy as np
    from deepchem_actinn.clustering import INSTALL_CLUSTERING
    from deepchem_actinn.distributed.dask_predict import _INSTALL
    from deepchem_actinn.errors import install_extra
    from deepchem_actinn.report.umap import plot_umap, umap_figure
    query = anndata.AnnData(np.ones((5, 4), dtype=np.float32))
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    extras = set(config["options.extras_require"]) - {"test"}
    assert install_extra("report") == (
        'install the report extra: pip install "deepchem-actinn[report]" '
        '(from a clone: pip install ".[report]")')
    sources = {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for path in (ROOT / "deepchem_actinn").rglob("*.py")
    }
    named = re.findall(r'install_extra\(\s*"([^"]*)"\s*\)',
                       "".join(sources.values()))
    assert set(named) == {"report", "clustering", "distributed", "deepchem"}
    assert set(named) <= extras, set(named) - extras
    # no install line of its own anywhere else
    assert [path for path, text in sources.items() if "pip install" in text
           ] == ["deepchem_actinn/errors.py"]
    # the hints users meet, each with its extra
    monkeypatch.setattr(_deepchem.sys, "version_info", (3, 12, 1))
    monkeypatch.setitem(sys.modules, "scanpy", None)  # not installed
    for hint, extra in [(INSTALL_CLUSTERING, "clustering"),
                        (_INSTALL, "distributed"), (install_hint(), "deepchem"),
                        (umap_figure(query, ["B"] * 5,
                                     [0.9] * 5)[1], "report")]:
        assert install_extra(extra) in hint, hint
    with pytest.raises(ImportError,
                       match="^plot_umap needs scanpy, which is "
                       "not installed; install the report extra: "):
        plot_umap(query)


def test_core_modules_do_not_load_deepchem():
    run = _python("import sys\n"
                  "import deepchem_actinn.annotator, deepchem_actinn.cli\n"
                  "import deepchem_actinn.datasets, deepchem_actinn.stratify\n"
                  "print('deepchem' in sys.modules)")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_predict_and_report_work_without_deepchem(tmp_path):
    paths = tabula_muris_sample_paths()
    cli = "from deepchem_actinn.cli import main; sys.exit(main(sys.argv[1:]))"
    # the annotator, trained here (DeepChem allowed); predict and report
    # then run in processes where DeepChem cannot be imported
    assert main([
        "train", "-trs",
        str(paths["train"]), "-trl",
        str(paths["train_labels"]), "-ne", "1", "--networks", "1", "--threads",
        "1", "-q", "-m",
        str(tmp_path / "annotator")
    ]) == 0
    predict = _python(NO_DEEPCHEM + cli, "predict", "-m",
                      str(tmp_path / "annotator"), "-ts", str(paths["test"]),
                      "-o", str(tmp_path / "pred"), "-op", "-q")
    assert predict.returncode == 0, predict.stderr
    lines = (tmp_path / "pred" / "predicted_label.txt").read_text().splitlines()
    assert lines[0] == "cellname\tcelltype\tconfidence" and len(lines) == 1001
    report = _python(NO_DEEPCHEM + cli, "report", "-p",
                     str(tmp_path / "pred" / "predicted_label.txt"), "-op",
                     str(tmp_path / "pred" / "predicted_probabilities.txt"),
                     "-l", str(paths["test_labels"]), "-o",
                     str(tmp_path / "report"), "-q")
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "report.html").exists()


@pytest.mark.skipif(not (ROOT / "conftest.py").is_file(),
                    reason="needs the repository's conftest.py (the package "
                    "doctests' skip), not in %s" % ROOT)
def test_tests_and_doctests_needing_deepchem_skip_without_it():
    """Where DeepChem cannot be imported (Python 3.12 without the extra,
    3.13), pytest skips the tests and doctests that need it, saying what to
    install, and runs the others: a module of DeepChem tests, one that mixes
    them with others, a module of the DeepChem integration and doctests that
    use it beside others."""
    run = _python(
        NO_DEEPCHEM + "import pytest; sys.exit(pytest.main(sys.argv[1:]))",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
        "-n",
        "0",  # in this process, where DeepChem cannot import
        "tests/test_splitters.py",
        "tests/test_normalise.py",
        "deepchem_actinn/splitters.py",
        "deepchem_actinn/datasets.py",
        cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    counts = dict((kind, int(n)) for n, kind in re.findall(
        r"(\d+) (passed|skipped|failed|errors?)", run.stdout))
    assert counts.get("passed", 0) >= 6 and counts.get("skipped", 0) >= 8
    assert set(counts) == {"passed", "skipped"}, run.stdout[-3000:]
    skips = [l for l in run.stdout.splitlines() if l.startswith("SKIPPED")]
    assert skips and all("needs DeepChem (the `deepchem` extra)" in line
                         for line in skips), "\n".join(skips)
    assert any("deepchem_actinn/splitters.py" in line for line in skips)
    assert any("datasets.py" in line for line in skips)


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_do_not_import_torch(flag):
    """``actinn --help`` and ``--version`` outside torchrun stay fast: they
    import neither PyTorch nor DeepChem."""
    run = _python(
        "import sys\n"
        "sys.argv = ['actinn', %r]\n"
        "from deepchem_actinn.__main__ import run\n"
        "try:\n    run()\nexcept SystemExit as stop:\n    code = stop.code\n"
        "print(code, 'torch' in sys.modules, 'deepchem' in sys.modules)" % flag)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "0 False False"


@pytest.mark.parametrize("env, expected", [
    ("", False),
    ("WORLD_SIZE=2", False),
    ("RANK=0", False),
    ("RANK=0 WORLD_SIZE=1", False),
    ("RANK=1 WORLD_SIZE=2", True),
])
def test_entry_point_tells_torchrun_as_the_library_does(monkeypatch, env,
                                                        expected):
    """The entry point reads torchrun's variables itself (without importing
    PyTorch), by the library's rule."""
    from deepchem_actinn import __main__ as entry
    from deepchem_actinn.models import distributed
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for setting in env.split():
        monkeypatch.setenv(*setting.split("="))
    assert entry._launched_by_torchrun() == \
        distributed.launched_by_torchrun() == expected
