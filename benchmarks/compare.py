#!/usr/bin/env python
"""Compare deepchem-actinn with its peers, side by side, on one machine.

One command runs, on the same data and machine, each of

* ``actinn``      - this package, through its command line, as users run it
                    (``actinn train`` then ``actinn predict``);
* ``tutorial``    - the tutorial's plain DeepChem loop (dense NumpyDataset,
                    ``ACTINNModel.fit(dataset, nb_epoch=E)``);
* ``actinn_jax``  - actinn-jax, the JAX port of ACTINN on PyPI (CPU);
* ``celltypist``  - CellTypist (logistic regression; scikit-learn < 1.8);
* ``linearsvc``   - scikit-learn's LinearSVC on log1p(CP10k), sparse;

each fit and each predict in its own child process under a memory cap and a
timeout, and prints one table (accuracy, macro F1, fit and predict seconds,
query cells per second, peak resident memory, each as a ratio to this
package's), written to ``benchmarks/results/<size>.md`` and ``.json``.

Usage::

    python benchmarks/compare.py --setup        # once: the peers' venvs
    python benchmarks/compare.py --sizes tabula_muris,1e4,1e5,1e6 \\
        --tools actinn,tutorial,actinn_jax,celltypist,linearsvc

Sizes: ``tabula_muris`` (the bundled split) or a number of synthetic cells
(``2e3``, ``1e4``, ``50k``...): 20,000 genes, 10 types, the first 80 % of
the cells the reference and the rest the query. Data, venvs and run
directories live under ``benchmarks/.work/`` (not tracked).
"""
import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness  # noqa: E402

TOOLS = ["actinn", "tutorial", "actinn_jax", "celltypist", "linearsvc"]
#: Tools that need their own virtual environment (pins clash with the main
#: one), with their requirement files in benchmarks/requirements/.
VENV_TOOLS = {"actinn_jax": "actinn_jax.txt", "celltypist": "celltypist.txt"}
DESCRIPTIONS = {
    "actinn": "this package's command line with its default settings: "
              "`actinn train` then `actinn predict`",
    "tutorial": "the tutorial's loop: dense NumpyDataset, "
                "LibrarySizeLogTransformer + GeneFilterTransformer, "
                "ACTINNModel.fit(dataset, nb_epoch=E), model.predict",
    "actinn_jax": "actinn-jax: train_reference (its defaults: 50 epochs, "
                  "automatic batch size) then predict, JAX on CPU",
    "celltypist": "CellTypist: normalize_total(1e4) + log1p, "
                  "celltypist.train(feature_selection=False) then annotate "
                  "(best match); mini-batch SGD (5 epochs) for references "
                  "over 50,000 cells, else logistic regression; both densify "
                  "the reference (with_mean=True, its default)",
    "linearsvc": "scikit-learn LinearSVC(dual='auto') on sparse "
                 "log1p(CP10k), all genes",
}


def log(message: str) -> None:
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


# ------------------------------------------------------------------- setup
def venv_python(work: Path, name: str) -> Path:
    return work / "venvs" / name / "bin" / "python"


def _du(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def setup(work: Path, tools: List[str]) -> Dict:
    """Create the peers' virtual environments (pip only)."""
    report = {}
    for tool in tools:
        if tool not in VENV_TOOLS:
            continue
        target = work / "venvs" / tool
        requirements = HERE / "requirements" / VENV_TOOLS[tool]
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        log("creating %s (%s)" % (target, requirements.name))
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
        py = str(target / "bin" / "python")
        subprocess.run([
            py, "-m", "pip", "install", "--quiet",
            "--disable-pip-version-check", "-r",
            str(requirements)
        ],
                       check=True)
        seconds = time.perf_counter() - t0
        freeze = subprocess.run(
            [py, "-m", "pip", "freeze", "--disable-pip-version-check"],
            check=True,
            capture_output=True,
            text=True).stdout
        (target / "freeze.txt").write_text(freeze)
        module = {"actinn_jax": "actinn_jax", "celltypist": "celltypist"}[tool]
        subprocess.run([py, "-c", "import %s" % module],
                       check=True,
                       capture_output=True)
        has_torch = any(
            line.lower().startswith("torch==") for line in freeze.splitlines())
        info = {
            "seconds": round(seconds, 1),
            "bytes": _du(target),
            "packages": len(freeze.splitlines()),
            "torch_installed": has_torch
        }
        (target / "setup.json").write_text(json.dumps(info, indent=1))
        log("%s: %.0f s, %.2f GiB, %d packages%s" %
            (tool, seconds, info["bytes"] / harness.GiB, info["packages"],
             ", torch installed" if has_torch else ""))
        report[tool] = info
    return report


# -------------------------------------------------------------- tool steps
def actinn_command() -> List[str]:
    exe = shutil.which("actinn")
    if exe:
        return [exe]
    return [sys.executable, "-m", "deepchem_actinn"]


def step_commands(tool: str, work: Path, data: Path, run: Path,
                  epochs: Optional[int]) -> Dict[str, List[str]]:
    """The fit and predict command lines of one tool."""
    ref, ref_labels = data / "reference.h5ad", data / "reference_labels.txt"
    query = data / "query.h5ad"
    model, out = run / "model", run / "out"
    if tool == "actinn":
        fit = actinn_command() + [
            "train", "-trs", ref, "-trl", ref_labels, "-m", model, "-q"
        ]
        if epochs is not None:
            fit += ["-ne", str(epochs)]
        predict = actinn_command() + [
            "predict", "-m", model, "-ts", query, "-o", out, "-q"
        ]
        return {
            "fit": fit,
            "predict": predict,
            "predictions": out / "predicted_label.txt"
        }
    python = (sys.executable if tool not in VENV_TOOLS else str(
        venv_python(work, tool)))
    script = HERE / "tools" / ("run_%s.py" % tool)
    fit = [
        python, script, "fit", "--train", ref, "--train-labels", ref_labels,
        "--model", model, "--info", run / "fit_info.json"
    ]
    if epochs is not None:
        fit += ["--epochs", str(epochs)]
    predict = [
        python, script, "predict", "--model", model, "--query", query,
        "--predictions", out / "predicted_label.txt", "--info",
        run / "predict_info.json"
    ]
    return {
        "fit": fit,
        "predict": predict,
        "predictions": out / "predicted_label.txt"
    }


def size_label(size, args) -> str:
    """Name of a size's data, run and result files (``1e4``,
    ``1e3_2000genes`` when the synthetic data have other than 20,000
    genes)."""
    name = harness.size_name(size)
    if size != "tabula_muris" and args.genes != 20_000:
        name += "_%dgenes" % args.genes
    return name


def actinn_fit_info(model_dir: Path) -> Dict:
    """Epochs and settings from a saved annotator (one network or several).

    ``epochs`` is the total over the ensemble's networks (what the training
    throughput counts), ``epochs_per_network`` their mean.
    """
    config = {}
    for name in ("annotator.json", "config.json"):
        config = _read_json(model_dir / name)
        if config:
            break
    histories = config.get("histories")
    if histories is None and config.get("history"):
        histories = [config["history"]]
    histories = [h for h in histories or [] if h.get("train_loss")]
    info = {
        "settings": config.get("params", {}),
        "versions": {
            "deepchem-actinn": config.get("package_version")
        }
    }
    if histories:
        epochs = [len(h["train_loss"]) for h in histories]
        best = [(h.get("best_epoch") or [None])[0] for h in histories]
        info.update(epochs=sum(epochs),
                    epochs_per_network=epochs,
                    best_epoch=best)
        info["epochs_label"] = ("%d" % epochs[0]
                                if len(epochs) == 1 else "%d networks: %s" %
                                (len(epochs), "+".join(str(e) for e in epochs)))
    return info


def thread_env(threads: Optional[int]) -> Dict[str, str]:
    """Environment that holds every tool to ``threads`` compute threads.

    OpenMP (PyTorch), MKL, OpenBLAS and NumExpr read their variables;
    XLA (actinn-jax) is made single-threaded when ``threads`` is 1;
    CellTypist's ``n_jobs`` is ``BENCH_THREADS``. None: each tool's default.
    """
    if not threads:
        return {}
    n = str(int(threads))
    env = {
        k: n for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                       "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                       "VECLIB_MAXIMUM_THREADS", "BENCH_THREADS")
    }
    if int(threads) == 1:
        env["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                            "intra_op_parallelism_threads=1")
    return env


def _read_json(path: Path) -> Dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def tool_env(tool: str, work: Path, threads: Optional[int]) -> Dict[str, str]:
    """The environment ``tool`` runs in, held to ``threads`` compute threads
    (:func:`thread_env`): a peer's venv (``work/venvs``), or this
    environment with this checkout first on the path, so that ``actinn`` and
    the tutorial's loop both run this checkout's package."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", JAX_PLATFORMS="cpu")
    env.update(thread_env(threads))
    if tool not in VENV_TOOLS:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(HERE.parent)] + [p for p in [env.get("PYTHONPATH")] if p])
    else:
        venv = work / "venvs" / tool
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = "%s:%s" % (venv / "bin", env.get("PATH", ""))
        env.pop("PYTHONPATH", None)
    return env


def run_tool(tool: str, size, meta: Dict, work: Path, data: Path, args,
             truth: Dict[str, str], epochs: Optional[int]) -> Dict:
    """Fit, predict and score one tool; a row of the table."""
    limit = int(args.memory_limit_gb * harness.GiB)
    row = {
        "tool": tool,
        "status": "ok",
        "accuracy": None,
        "macro_f1": None,
        "fit_s": None,
        "predict_s": None,
        "cells_per_s": None,
        "fit_rss": None,
        "predict_rss": None,
        "epochs": None,
        "n_reference": meta["n_reference"],
        "n_query": meta["n_query"]
    }
    skip = harness.precheck(tool, meta["n_reference"], meta["n_query"],
                            meta["n_genes"], limit)
    if skip.get("fit"):
        row["status"] = "skipped: " + skip["fit"]
        return row
    if tool in VENV_TOOLS and not venv_python(work, tool).exists():
        row["status"] = ("skipped: no venv (run `python benchmarks/compare.py "
                         "--setup`)")
        return row
    run = work / "runs" / size_label(size, args) / tool
    if run.exists():
        shutil.rmtree(run)
    (run / "out").mkdir(parents=True)
    commands = step_commands(tool, work, data, run, epochs)
    env = tool_env(tool, work, args.threads)
    row["commands"] = {
        k: " ".join(shlex.quote(str(c)) for c in v)
        for k, v in commands.items()
        if k != "predictions"
    }
    for step in ("fit", "predict"):
        if step == "predict" and skip.get("predict"):
            row["status"] = "skipped predict: " + skip["predict"]
            break
        log("%s %s: %s" % (tool, step, row["commands"][step]))
        result = harness.run_step(commands[step],
                                  str(run / ("%s.stdout" % step)),
                                  str(run / ("%s.stderr" % step)),
                                  memory_limit_bytes=limit,
                                  timeout_s=args.timeout,
                                  env=env)
        row[step] = result.to_dict()  # the failed steps' memory is here
        log("%s %s: %s in %.1f s, peak RSS %.2f GiB" %
            (tool, step, result.status, result.wall_s,
             result.peak_rss_bytes / harness.GiB))
        if not result.ok:
            row["status"] = "%s (%s)" % (result.status, step)
            if result.status.startswith("error"):
                log("stderr tail:\n" + result.stderr_tail)
            break
        row[step + "_s"] = result.wall_s
        row[step + "_rss"] = result.peak_rss_bytes
    info = {
        "fit": _read_json(run / "fit_info.json"),
        "predict": _read_json(run / "predict_info.json")
    }
    if tool == "actinn":
        info["fit"] = actinn_fit_info(run / "model")
    row["info"] = info
    row["epochs"] = info["fit"].get("epochs")
    if info["fit"].get("epochs_label"):
        row["epochs_label"] = info["fit"]["epochs_label"]
    if row["fit_s"] and row["epochs"]:
        row["train_cell_epochs_per_s"] = (meta["n_reference"] * row["epochs"] /
                                          row["fit_s"])
    if row["predict_s"]:
        row["cells_per_s"] = meta["n_query"] / row["predict_s"]
        predictions = Path(commands["predictions"])
        if predictions.exists():
            row.update(
                harness.score(truth,
                              harness.read_predictions(str(predictions))))
        else:
            row["status"] = "error: no predictions written"
    return row


# ---------------------------------------------------------------- results
def render(size, meta: Dict, rows: List[Dict], machine: Dict, command: str,
           args, started: str, setup_info: Dict) -> str:
    lines = [
        "## %s: %s" % (size_label(size, args), meta["description"]),
        "",
        "Command: `%s`" % command,
        "",
        "Machine: %s. Run started %s." %
        (harness.describe_machine(machine), started),
        "",
        "Each fit and predict is a separate process (whole process: start-up, "
        "reading the .h5ad, preprocessing, training or annotating, writing) "
        "under a %.0f GiB resident-memory cap and a %d s timeout; %s. cells/s = "
        "query cells / predict seconds. Peak RSS is the process's maximum "
        "resident memory. Figures in brackets are ratios to `actinn` (this "
        "package)." %
        (args.memory_limit_gb, args.timeout, "threads: each tool's default"
         if not args.threads else "every tool held to %d compute thread%s" %
         (args.threads, "" if args.threads == 1 else "s")),
        "",
        harness.format_table(rows),
        "",
    ]
    notes = []
    for row in rows:
        tool = row["tool"]
        text = "- `%s`: %s." % (tool, DESCRIPTIONS.get(tool, tool))
        fit = (row.get("info") or {}).get("fit", {})
        if row.get("epochs"):
            text += " %s epochs" % row["epochs"]
            if fit.get("best_epoch"):
                best = fit["best_epoch"]
                text += " (best %s)" % ("+".join(
                    str(b) for b in best) if isinstance(best, list) else best)
            if row.get("train_cell_epochs_per_s"):
                text += ", %s training cell-epochs/s" % "{:,.0f}".format(
                    row["train_cell_epochs_per_s"])
            text += "."
        if tool == "actinn" and fit.get("settings"):
            params = fit["settings"]
            text += " Settings: %s." % ", ".join(
                "%s=%s" % (k, params[k])
                for k in ("n_networks", "max_epochs", "early_stopping",
                          "patience", "validation_fraction", "class_weight",
                          "batch_size")
                if k in params)
        versions = {
            k: v
            for k, v in (fit.get("versions") or {}).items()
            if v and k != "python"
        }
        if versions:
            text += " Versions: %s." % ", ".join(
                "%s %s" % kv for kv in sorted(versions.items()))
        notes.append(text)
    lines += ["Notes:", ""] + notes + [""]
    return "\n".join(lines)


def write_results(size, meta, rows, machine, command, args, started,
                  setup_info) -> None:
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = size_label(size, args)
    text = render(size, meta, rows, machine, command, args, started, setup_info)
    (out / ("%s.md" % name)).write_text(text)
    harness.write_json(
        str(out / ("%s.json" % name)), {
            "size": name,
            "data": meta,
            "command": command,
            "started": started,
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": machine,
            "memory_limit_gb": args.memory_limit_gb,
            "timeout_s": args.timeout,
            "threads": args.threads,
            "environments": setup_info,
            "rows": rows
        })


# -------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setup",
                   action="store_true",
                   help="create the peers' virtual environments under "
                   "WORK/venvs (pip), then run the sizes if any are given")
    p.add_argument("--sizes",
                   default=None,
                   help="comma-separated: tabula_muris and/or synthetic cell "
                   "counts (1e4, 1e5, 1e6, 2e3, ...)")
    p.add_argument("--tools",
                   default=",".join(TOOLS),
                   help="comma-separated, from %s" % ", ".join(TOOLS))
    p.add_argument("--prepare-only",
                   action="store_true",
                   help="make (or check) the sizes' data files and stop")
    p.add_argument("--memory-limit-gb",
                   type=float,
                   default=20.0,
                   help="resident-memory cap of every step, GiB (20); "
                   "the address space is capped 2 GiB above it")
    p.add_argument("--timeout",
                   type=int,
                   default=4 * 3600,
                   help="seconds allowed to each fit or predict step "
                   "(14,400)")
    p.add_argument("--threads",
                   type=int,
                   default=None,
                   help="hold every tool to this many compute threads "
                   "(OMP/MKL/OpenBLAS variables, CellTypist n_jobs, XLA "
                   "single-threaded at 1); default: each tool's own, "
                   "normally all CPUs")
    p.add_argument("--tutorial-epochs",
                   default="match",
                   help="epochs of the tutorial loop: 'match' (as many as "
                   "actinn trained on the same data; 7 if actinn did not "
                   "run) or a number (the tutorial's is 7)")
    p.add_argument("--genes",
                   type=int,
                   default=20_000,
                   help="genes of the synthetic data (20,000)")
    p.add_argument("--types",
                   type=int,
                   default=10,
                   help="cell types of the synthetic data (10)")
    p.add_argument("--seed",
                   type=int,
                   default=0,
                   help="seed of the synthetic data (0)")
    p.add_argument("--work-dir",
                   default=str(HERE / ".work"),
                   help="venvs, data and run directories (benchmarks/.work)")
    p.add_argument("--results-dir",
                   default=str(HERE / "results"),
                   help="where the tables go (benchmarks/results)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error("unknown tools %s; choose from %s" %
                     (", ".join(unknown), ", ".join(TOOLS)))
    # actinn first: the others' ratios and the tutorial's epochs refer to it.
    tools = sorted(tools, key=TOOLS.index)
    try:
        sizes = [
            harness.parse_size(s)
            for s in (args.sizes or "").split(",")
            if s.strip()
        ]
    except ValueError as err:
        parser.error(str(err))
    if args.tutorial_epochs != "match" and not args.tutorial_epochs.isdigit():
        parser.error("--tutorial-epochs is 'match' or a number")
    if not args.setup and not sizes:
        parser.error("nothing to do: give --sizes and/or --setup")
    work = Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.setup:
        setup(work, tools)
    setup_info = {}
    for tool in tools:
        if tool in VENV_TOOLS:
            setup_info[tool] = _read_json(work / "venvs" / tool / "setup.json")
            freeze = work / "venvs" / tool / "freeze.txt"
            if freeze.exists():
                setup_info[tool]["freeze"] = freeze.read_text().split()
    command = " ".join(
        shlex.quote(a) for a in ["python", "benchmarks/compare.py"] +
        (sys.argv[1:] if argv is None else list(argv)))
    failed_at: Dict[str, tuple] = {}  # tool -> (size, why)
    import data as bench_data
    for size in sizes:
        started = datetime.datetime.now().isoformat(timespec="seconds")
        machine = harness.machine_description()
        data_dir = work / "data" / size_label(size, args)
        if size == "tabula_muris":
            meta = bench_data.prepare_tabula_muris(data_dir, log=log)
        else:
            meta = bench_data.prepare_synthetic(size,
                                                data_dir,
                                                n_genes=args.genes,
                                                n_types=args.types,
                                                seed=args.seed,
                                                log=log)
        log("%s: %s" % (size_label(size, args), meta["description"]))
        if args.prepare_only:
            continue
        truth = harness.read_truth(data_dir / "query_labels.txt")
        rows: List[Dict] = []
        actinn_epochs = None
        for tool in tools:
            epochs = None
            if tool == "tutorial":
                if args.tutorial_epochs == "match":
                    epochs = actinn_epochs or 7
                else:
                    epochs = int(args.tutorial_epochs)
            earlier = failed_at.get(tool)
            if earlier and size != "tabula_muris" and size > earlier[0]:
                row = {
                    "tool":
                        tool,
                    "status":
                        "skipped: %s at %s" %
                        (earlier[1], harness.size_name(earlier[0]))
                }
            else:
                row = run_tool(tool, size, meta, work, data_dir, args, truth,
                               epochs)
            per_network = ((row.get("info") or {}).get("fit") or
                           {}).get("epochs_per_network")
            if tool == "actinn" and per_network:
                # One network's worth: the mean over the ensemble.
                actinn_epochs = int(round(sum(per_network) / len(per_network)))
            status = row["status"]
            if size != "tabula_muris" and (status.startswith("out of memory") or
                                           status.startswith("timeout")):
                if tool not in failed_at or size < failed_at[tool][0]:
                    failed_at[tool] = (size, status)
            rows.append(row)
            write_results(size, meta, rows, machine, command, args, started,
                          setup_info)
        text = (Path(args.results_dir) /
                ("%s.md" % size_label(size, args))).read_text()
        print()
        print(text, flush=True)
    if sizes and not args.prepare_only:
        harness.write_summary(Path(args.results_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
