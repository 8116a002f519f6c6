"""The comparison benchmark (benchmarks/compare.py).

The fast test checks the harness's own logic (ratios, the table, failure
classification, skip rules). The others run the real thing and are marked
``slow`` (deselected by default; ``python -m pytest -m slow
tests/test_benchmarks.py``): peers whose virtual environments are missing
(``python benchmarks/compare.py --setup``) are reported as skipped, not
failed.
"""
import doctest
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
if not BENCH.is_dir():  # tests run outside the repository or an sdist
    pytest.skip("needs the repository's benchmarks/ folder, not at %s" % BENCH,
                allow_module_level=True)


def _load(name):
    spec = importlib.util.spec_from_file_location("bench_" + name,
                                                  BENCH / ("%s.py" % name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _load("harness")
GiB = harness.GiB


def test_harness_table_ratios_and_failures():
    # Ratios are to the reference tool; unknown figures give no ratio.
    assert harness.ratio(3.0, 1.5) == 2.0
    assert harness.ratio(None, 1.0) is None
    assert harness.ratio(1.0, 0) is None
    rows = [
        {
            "tool": "actinn",
            "status": "ok",
            "accuracy": 0.9,
            "macro_f1": 0.8,
            "fit_s": 100.0,
            "predict_s": 4.0,
            "cells_per_s": 250.0,
            "fit_rss": 2 * GiB,
            "predict_rss": GiB,
            "epochs": 90,
            "epochs_label": "3 networks: 30+30+30"
        },
        {
            "tool": "linearsvc",
            "status": "ok",
            "accuracy": 0.99,
            "macro_f1": 0.4,
            "fit_s": 0.5,
            "predict_s": 8.0,
            "cells_per_s": 125.0,
            "fit_rss": 3 * GiB,
            "predict_rss": GiB / 2
        },
        {
            "tool": "celltypist",
            "status": "out of memory (predict)",
            "accuracy": None,
            "macro_f1": None,
            "fit_s": 250.0,
            "predict_s": None,
            "cells_per_s": None,
            "fit_rss": 19 * GiB,
            "predict_rss": 20 * GiB
        },
    ]
    lines = harness.format_table(rows).splitlines()
    assert lines[0].startswith("| tool | accuracy | macro F1 | fit s |")
    assert len(lines) == 5 and all(l.count("|") == 11 for l in lines)
    actinn = [c.strip() for c in lines[2].strip("|").split("|")]
    assert actinn[1] == "0.900 (1.00x)" and actinn[-2] == "3 networks: 30+30+30"
    svc = [c.strip() for c in lines[3].strip("|").split("|")]
    assert svc[1] == "0.990 (1.10x)"
    assert svc[2] == "0.400 (0.50x)"
    assert svc[3] == "0.50 (0.005x)"  # small ratios keep two digits
    assert svc[4] == "8.00 (2.00x)"
    assert svc[5] == "125 (0.50x)"
    assert svc[6] == "3.00 (1.50x)"
    oom = [c.strip() for c in lines[4].strip("|").split("|")]
    assert oom[1] == "-" and oom[4] == "-"
    assert oom[3] == "250 (2.50x)" and oom[7] == "20.00 (20.0x)"
    assert oom[-1] == "out of memory (predict)"
    # Without the reference tool there are no ratios at all.
    assert "x)" not in harness.format_table(rows[1:])

    # Failure classification.
    classify = harness.classify_failure
    assert classify(0, "whatever", False) == "ok"
    assert classify(-9, "MemoryError", True) == "timeout"
    for message in ("MemoryError", "numpy._core._exceptions._ArrayMemoryError:"
                    " Unable to allocate 7.45 GiB for an array",
                    "RuntimeError: DefaultCPUAllocator: can't allocate memory",
                    "terminate called after throwing an instance of "
                    "'std::bad_alloc'", "jaxlib.xla_extension.XlaRuntimeError:"
                    " RESOURCE_EXHAUSTED: Out of memory"):
        assert classify(1, "Traceback\n" + message + "\n", False) == \
            "out of memory", message
    assert classify(-9, "", False) == "out of memory"  # the OOM killer
    assert classify(-6, "", False, 19.5 * GiB, 20 * GiB) == "out of memory"
    assert classify(-6, "", False, 1 * GiB, 20 * GiB).startswith("error")
    assert classify(2, "Traceback\nValueError: no genes\n", False) == \
        "error: ValueError: no genes"
    assert classify(3, "", False) == "error: exit code 3"

    # Skips known in advance, and the sizes on the command line.
    assert harness.precheck("tutorial", 8000, 2000, 20000, 20 * GiB) == {}
    assert set(harness.precheck("tutorial", 800_000, 200_000, 20_000,
                                20 * GiB)) == {"fit", "predict"}
    assert set(
        harness.precheck("celltypist", 800_000, 200_000, 20_000,
                         20 * GiB)) == {"fit", "predict"}
    assert harness.precheck("celltypist", 80_000, 20_000, 20_000,
                            20 * GiB) == {}
    assert harness.precheck("actinn", 800_000, 200_000, 20_000, GiB) == {}
    assert [harness.parse_size(s) for s in
            ("tabula_muris", "1e4", "2e3", "50k", "1M", "12345")] == \
        ["tabula_muris", 10_000, 2_000, 50_000, 1_000_000, 12_345]
    assert [harness.size_name(s) for s in
            ("tabula_muris", 10_000, 1_000_000, 2_000, 2_500)] == \
        ["tabula_muris", "1e4", "1e6", "2e3", "2500"]
    with pytest.raises(ValueError):
        harness.parse_size("1.5")

    # The examples in the harness's docstrings hold too.
    assert doctest.testmod(harness,
                           optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


@pytest.mark.slow
def test_run_step_caps_memory_and_time(tmp_path):
    """A child that allocates past the cap is stopped and named OOM."""
    # One allocation past the address-space backstop fails in the child...
    grab = [
        sys.executable, "-c",
        "import numpy as np; x = np.ones((5 * 1024**3) // 8)"
    ]
    result = harness.run_step(grab,
                              str(tmp_path / "o"),
                              str(tmp_path / "e"),
                              memory_limit_bytes=1 * GiB,
                              timeout_s=60)
    assert result.status == "out of memory"
    assert result.peak_rss_bytes < GiB
    # ... and resident memory growing past the cap is killed by the watchdog.
    grow = [
        sys.executable, "-c",
        "import time, numpy as np\nx = []\nfor i in range(25):\n"
        "    x.append(np.ones(100 * 2**20 // 8)); time.sleep(0.05)"
    ]
    result = harness.run_step(grow,
                              str(tmp_path / "o"),
                              str(tmp_path / "e"),
                              memory_limit_bytes=1 * GiB,
                              timeout_s=60)
    assert result.status == "out of memory"
    assert result.returncode == -9
    sleep = [sys.executable, "-c", "import time; time.sleep(30)"]
    result = harness.run_step(sleep,
                              str(tmp_path / "o"),
                              str(tmp_path / "e"),
                              timeout_s=1)
    assert result.status == "timeout" and result.wall_s < 10
    ok = harness.run_step([sys.executable, "-c", "print(1)"],
                          str(tmp_path / "o"), str(tmp_path / "e"))
    assert ok.ok and ok.peak_rss_bytes > 0


def _compare(tmp_path, *args):
    results = tmp_path / "results"
    subprocess.run([
        sys.executable,
        str(BENCH / "compare.py"), "--results-dir",
        str(results)
    ] + list(args),
                   check=True,
                   cwd=ROOT,
                   timeout=6 * 3600)
    return results


def _check_rows(rows, tools):
    assert [r["tool"] for r in rows] == tools
    for row in rows:
        if row["status"].startswith("skipped: no venv"):
            continue
        assert row["status"] == "ok", row
        # Scores are the tools' own business; here they only need to exist.
        assert 0 < row["accuracy"] <= 1 and 0 < row["macro_f1"] <= 1
        assert row["fit_s"] > 0 and row["predict_s"] > 0
        assert row["n_missing"] == 0


@pytest.mark.slow
def test_compare_tabula_muris(tmp_path):
    tools = ["actinn", "tutorial", "actinn_jax", "celltypist", "linearsvc"]
    results = _compare(tmp_path, "--sizes", "tabula_muris", "--tools",
                       ",".join(tools))
    payload = json.loads((results / "tabula_muris.json").read_text())
    _check_rows(payload["rows"], tools)
    assert payload["rows"][0]["accuracy"] > 0.9
    table = (results / "tabula_muris.md").read_text()
    assert "| actinn | " in table and "Machine: " in table
    assert (results / "comparison.md").exists()


@pytest.mark.slow
def test_compare_small_synthetic(tmp_path):
    tools = ["actinn", "tutorial", "actinn_jax", "celltypist", "linearsvc"]
    results = _compare(tmp_path, "--sizes", "1000", "--genes", "2000",
                       "--tools", ",".join(tools), "--tutorial-epochs", "7")
    payload = json.loads((results / "1e3_2000genes.json").read_text())
    assert payload["data"]["n_reference"] == 800
    _check_rows(payload["rows"], tools)
    assert payload["rows"][0]["accuracy"] > 0.5  # actinn; 10 types


@pytest.mark.slow
def test_scale_benchmark_on_a_small_file(tmp_path):
    """benchmarks/scale.py end to end on 3,000 simulated cells."""
    from deepchem_actinn.cli import main
    query, labels = tmp_path / "q.h5ad", tmp_path / "labels.txt"
    assert main([
        "simulate", "-o",
        str(query), "--cells", "3000", "--genes", "800", "--types", "4",
        "--labels",
        str(labels), "-q"
    ]) == 0
    proc = subprocess.run([
        sys.executable,
        str(BENCH / "scale.py"), "--query",
        str(query), "--labels",
        str(labels), "--work",
        str(tmp_path / "work"), "--ref-cells", "1000", "--networks", "2",
        "--epochs", "2", "--batch", "256", "--ff-epochs", "2", "--ff-networks",
        "2", "--threads", "1", "--lr-scaling", "linear"
    ],
                          capture_output=True,
                          text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    assert results["predict"]["cells"] == 3000
    assert 0 <= results["predict"]["accuracy_unseen"] <= 1
    fitfile = results["fitfile"]
    assert len(fitfile["epoch_s"]) == 1 and fitfile["networks"] == 2
    assert fitfile["decay_steps"] == 500  # 1,000 steps at batch 128
    assert len(fitfile["valid_accuracy_by_epoch"]) == 2
