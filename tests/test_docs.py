"""The Sphinx API documentation in ``docs/`` builds with warnings as errors,
as DeepChem's documentation build does, and documents the public classes."""
import os
import pathlib
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
DOCUMENTED = [
    "ACTINNModel", "LibrarySizeLogTransformer", "GeneFilterTransformer",
    "ACTINNAnnotator", "SingletaskStratifiedSplitter", "Annotation",
    "ACTINNInputError", "ACTINNAnnotator.predict_file",
    "ACTINNAnnotator.top_markers", "ACTINNAnnotator.set_params",
    "library_size_log", "simulate_counts", "write_report", "io.read",
    "io.iter_cell_chunks", "io.read_labels",
    "preprocessing.genes.gene_positions", "voting.majority_vote",
    "voting.over_cluster", "hierarchy.TypeHierarchy", "report.plot_umap",
    "distributed.predict_dask"
]


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
        for page in (tmp_path / "html" / "api_reference").rglob("*.html"))
    for name in DOCUMENTED:
        assert 'id="deepchem_actinn.%s"' % name in pages, name
