"""Execute the ACTINN tutorial notebook end to end and check what it prints.

The notebook trains on the bundled Tabula Muris sample (no downloads); the
whole run takes about two minutes on two CPU cores.
"""
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

# The notebook uses the DeepChem integration (ACTINNModel, dc.trans, ...).
pytestmark = [pytest.mark.torch, pytest.mark.requires_deepchem]

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = (Path(__file__).resolve().parents[1] / "tutorials" /
            "ACTINN_cell_type_identification.ipynb")
if not NOTEBOOK.is_file():  # tests run outside the repository or an sdist
    pytest.skip("needs the repository's tutorial notebook, not at %s" %
                NOTEBOOK,
                allow_module_level=True)
KERNEL = "python3"


def _ensure_kernelspec(tmp_path: Path, monkeypatch) -> None:
    """Make a ``python3`` kernelspec for this interpreter if none exists."""
    from jupyter_client.kernelspec import find_kernel_specs
    if KERNEL in find_kernel_specs():
        return
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps({
            "argv": [
                sys.executable, "-m", "ipykernel_launcher", "-f",
                "{connection_file}"
            ],
            "display_name": "Python 3",
            "language": "python",
        }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    assert KERNEL in find_kernel_specs()


def _outputs_text(cell) -> str:
    """Text a code cell printed or returned (streams and text/plain)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, "the notebook did not print %r" % pattern
    return float(match.group(1))


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook, executed once in a fresh kernel in a temporary dir."""
    # The first cell would pip-install the package; it must be a no-op here.
    assert importlib.util.find_spec("deepchem_actinn") is not None
    tmp_path = tmp_path_factory.mktemp("tutorial")
    monkeypatch = pytest.MonkeyPatch()
    try:
        _ensure_kernelspec(tmp_path, monkeypatch)
        # The notebook's temporary directories go under tmp_path.
        scratch = tmp_path / "tmp"
        scratch.mkdir()
        monkeypatch.setenv("TMPDIR", str(scratch))
        nb = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(
            nb,
            kernel_name=KERNEL,
            timeout=600,
            resources={"metadata": {
                "path": str(tmp_path)
            }})
        client.execute()
    finally:
        monkeypatch.undo()
    return nb


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert 'find_spec("deepchem_actinn") is None' in code[0].source


def test_notebook_runs_and_scores(executed):
    code = [c for c in executed.cells if c.cell_type == "code"]
    errors = [
        o for c in code for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert not errors
    text = "\n".join(_outputs_text(c) for c in code)

    # The stratified split keeps every cell and no cell is in both parts.
    assert "train 3200 + test 800 = 4000 of 4000 cells" in text
    assert "cells in both splits: 0" in text

    # The trained annotator, scored on the independent test file.
    assert _number(r"annotator accuracy: ([0-9.]+)", text) >= 0.98
    assert _number(r"annotator macro F1: ([0-9.]+)", text) >= 0.85

    # ACTINNModel, balanced and early-stopped with DeepChem's tools, on the
    # same-source split: the rare types the 7 epochs missed are found.
    best = re.search(
        r"balanced, best epoch: \{'accuracy_score': ([0-9.]+), "
        r"'macro_f1': ([0-9.]+)", text)
    assert best, "the notebook did not print the recipe's scores"
    assert float(best.group(1)) >= 0.98 and float(best.group(2)) >= 0.9
    after_7 = re.search(
        r"after 7 epochs: +\{'accuracy_score': ([0-9.]+), "
        r"'macro_f1': ([0-9.]+)", text)
    assert after_7 and float(after_7.group(2)) < float(best.group(2))

    # The prose after the comparison table gives its 7-epoch row's figures.
    prose = "\n".join(
        c.source for c in executed.cells if c.cell_type == "markdown")
    said = re.search(
        r"7-epoch network \(the first row\) scores about ([0-9.]+)-([0-9.]+) "
        r"accuracy but only about ([0-9.]+) macro F1", prose)
    assert said, "the text does not give the 7-epoch row's figures"
    row = re.search(
        r"ACTINNModel, 7 epochs \(the tutorial\) +([0-9.]+) +([0-9.]+)", text)
    assert row, "the notebook did not print the comparison table"
    low, high, macro_said = (float(said.group(i)) for i in (1, 2, 3))
    assert low - 0.005 <= float(row.group(1)) < high + 0.005
    assert float(row.group(2)) == pytest.approx(macro_said, abs=0.01)

    # Missing genes were zero-filled with a warning.
    assert "genes are missing from the query and set to zero" in text

    # The command line read the annotator saved from Python.
    assert "same calls as in Python: True" in text


def test_notebook_shows_figures(executed):
    images = [
        o for c in executed.cells if c.cell_type == "code"
        for o in c.get("outputs", []) if o.output_type in
        ("display_data", "execute_result") and "image/png" in o.get("data", {})
    ]
    # Confusion matrix, per-type metrics, training curves, confidence.
    assert len(images) >= 4
    text = "\n".join(
        _outputs_text(c) for c in executed.cells if c.cell_type == "code")
    assert "report.html" in text
