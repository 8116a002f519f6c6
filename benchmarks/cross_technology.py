#!/usr/bin/env python
"""Cross-technology benchmark: a Smart-seq2 reference, queries from elsewhere.

The reference is the bundled Tabula Muris training set (Smart-seq2, 4,000
cells). The queries are the bundled TEST cells as other technologies would
have measured them (``technologies.py``): droplet-like (unseen genes holding
90 % of the counts, ~5,000 counts per cell, per-gene capture, a third of
the genes missing), the same with ambient RNA, and a deep full-length
protocol; plus the test cells as they are, for comparison. Each tool is
trained once and annotates every query; this package also with
``--unassigned``, with ``--threshold 0.9`` and with ``--remove-ambient``.

Usage::

    python benchmarks/compare.py --setup --tools actinn_jax,celltypist  # once
    python benchmarks/cross_technology.py                # held-out seeds
    python benchmarks/cross_technology.py --seeds dev    # development seeds
    python benchmarks/cross_technology.py --tools actinn --modes=--remove-ambient

Seeds: the generator's settings were looked at on the development seeds
only (0, 1, 2); the reported figures are from the held-out seeds (1001,
1002, 1003), mean and spread over seeds. Tune nothing on them. Tools
whose virtual environment is missing are reported as skipped, with the
command that sets them up. Writes ``benchmarks/results/cross_technology.md``
and ``.json``; data and runs live under ``benchmarks/.work/xtech/``.
"""
import argparse
from dataclasses import asdict
import datetime
import json
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # this checkout's package
import compare  # noqa: E402
import harness  # noqa: E402
import technologies  # noqa: E402
from deepchem_actinn.voting import MIN_VOTE_PROBABILITY  # noqa: E402

TOOLS = ["actinn", "celltypist", "actinn_jax"]
#: This package's prediction modes: extra ``predict`` options.
MODES = {
    # probabilities for the hierarchy and the vote
    "": ["--output-probability"],
    "--unassigned": ["--unassigned", "--output-probability"],
    "--threshold 0.9": ["--threshold", "0.9"],
    "--remove-ambient": ["--remove-ambient"],
    "--remove-ambient --unassigned": ["--remove-ambient", "--unassigned"],
}
#: Rows computed afterwards from this package's outputs (``voting.py``,
#: ``hierarchy.py``): mode -> the predict mode they start from.
DERIVED = {
    "+ majority voting": "",
    "--unassigned + majority voting": "--unassigned",
    "+ hierarchy": "",
}
ROW_ORDER = list(MODES) + list(DERIVED)
UNASSIGNED = "Unassigned"
#: This checkout's package, run as users run it (``python -m deepchem_actinn``
#: with the checkout first on the path), not whichever copy is installed.
ACTINN = [sys.executable, "-m", "deepchem_actinn"]


def log(message: str) -> None:
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def prepare_queries(work: Path, names: Sequence[str],
                    seeds: Sequence[int]) -> List[Dict]:
    """Write each (technology, seed) query as ``query.h5ad`` + labels."""
    import anndata
    import pandas as pd
    from deepchem_actinn.datasets import load_tabula_muris_sample
    _, test = load_tabula_muris_sample(upper_case_genes=False)
    truth = test.obs["cell_type"].astype(str).to_numpy()
    queries = []
    for name in names:
        tech = technologies.TECHNOLOGIES[name]
        for seed in (seeds if name != "same" else seeds[:1]):
            out = work / "data" / ("%s_seed%d" % (name, seed))
            meta_path = out / "meta.json"
            if meta_path.exists():
                meta = json.loads(meta_path.read_text())
                if meta.get("technology") == json.loads(json.dumps(
                        asdict(tech))):
                    queries.append(dict(meta, dir=str(out)))
                    continue
            out.mkdir(parents=True, exist_ok=True)
            X, genes, info = technologies.make_query(test.X,
                                                     list(test.var_names), tech,
                                                     seed)
            adata = anndata.AnnData(X=X,
                                    obs=pd.DataFrame(index=test.obs_names),
                                    var=pd.DataFrame(index=genes))
            adata.write_h5ad(out / "query.h5ad")
            with open(out / "query_labels.txt", "w") as handle:
                for cell, label in zip(test.obs_names, truth):
                    handle.write("%s\t%s\n" % (cell, label))
            meta_path.write_text(json.dumps(info, indent=1))
            log("%s seed %d: %d genes, median depth %.0f, %.1f %% of counts "
                "in unseen genes" %
                (name, seed, info["n_genes"], info["median_depth"],
                 100 * info["mean_extra_share"]))
            queries.append(dict(info, dir=str(out)))
    return queries


def predict_command(tool: str, work: Path, model: Path, query: Path, out: Path,
                    mode: str, threads: Optional[int]) -> List[str]:
    """One tool's predict command line for one query (and mode)."""
    if tool == "actinn":
        command = ACTINN + [
            "predict", "-m",
            str(model), "-ts",
            str(query), "-o",
            str(out), "-q", "--overwrite"
        ] + MODES[mode]
        if threads:
            command += ["--threads", str(threads)]
        return command
    return [
        str(compare.venv_python(work.parent, tool)),
        str(HERE / "tools" / ("run_%s.py" % tool)), "predict", "--model",
        str(model), "--query",
        str(query), "--predictions",
        str(out / "predicted_label.txt"), "--info",
        str(out / "predict_info.json")
    ]


def score(truth: Dict[str, str], predicted: Dict[str, str]) -> Dict:
    """Accuracy, macro F1 (Unassigned counts as wrong), % Unassigned and
    the accuracy over the assigned cells."""
    result = harness.score(truth, predicted)
    calls = [predicted.get(c) for c in truth]
    assigned = [(truth[c], p)
                for c, p in zip(truth, calls)
                if p is not None and p != UNASSIGNED]
    result["unassigned_pct"] = 100.0 * sum(
        p == UNASSIGNED for p in calls) / len(calls)
    result["assigned_accuracy"] = (float(np.mean([t == p for t, p in assigned]))
                                   if assigned else None)
    return result


def run(args) -> Dict:
    work = Path(args.work_dir).resolve() / "xtech"
    seeds = (technologies.DEVELOPMENT_SEEDS if args.seeds == "dev" else
             technologies.HELD_OUT_SEEDS if args.seeds == "heldout" else tuple(
                 int(s) for s in args.seeds.split(",")))
    names = [n.strip() for n in args.technologies.split(",") if n.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    import data as bench_data
    reference = work / "reference"
    bench_data.prepare_tabula_muris(reference, log=log)
    queries = prepare_queries(work, names, seeds)
    limit = int(args.memory_limit_gb * harness.GiB)
    results: Dict = {"tools": {}, "runs": []}
    for tool in tools:
        if (tool in compare.VENV_TOOLS and
                not compare.venv_python(work.parent, tool).exists()):
            results["tools"][tool] = {
                "status": "skipped: no venv (python benchmarks/compare.py "
                          "--setup --tools %s)" % tool
            }
            log("%s: %s" % (tool, results["tools"][tool]["status"]))
            continue
        tool_dir = work / "runs" / tool
        model = tool_dir / "model"
        env = compare.tool_env(tool, work.parent, args.threads)
        fit = compare.step_commands(tool, work.parent, reference, tool_dir,
                                    None)["fit"]
        if tool == "actinn":
            fit = ACTINN + list(fit)[len(compare.actinn_command()):]
            if args.threads:
                fit += ["--threads", str(args.threads)]
        if not (model.exists() and args.reuse_models):
            if tool_dir.exists():
                shutil.rmtree(tool_dir)
            tool_dir.mkdir(parents=True)
            log("%s fit: %s" %
                (tool, " ".join(shlex.quote(str(c)) for c in fit)))
            step = harness.run_step(fit, str(tool_dir / "fit.stdout"),
                                    str(tool_dir / "fit.stderr"), limit,
                                    args.timeout, env)
            log("%s fit: %s in %.0f s" % (tool, step.status, step.wall_s))
            if not step.ok:
                results["tools"][tool] = {"status": step.status + " (fit)"}
                continue
        results["tools"][tool] = {
            "status": "ok",
            "fit": " ".join(shlex.quote(str(c)) for c in fit)
        }
        modes = _modes(args.modes) if tool == "actinn" else [""]
        for query in queries:
            qdir = Path(query["dir"])
            truth = harness.read_truth(qdir / "query_labels.txt")
            for mode in modes:
                out = _out_dir(tool_dir, query, mode)
                out.mkdir(parents=True, exist_ok=True)
                command = predict_command(tool, work, model,
                                          qdir / "query.h5ad", out, mode,
                                          args.threads)
                step = harness.run_step(command, str(out / "predict.stdout"),
                                        str(out / "predict.stderr"), limit,
                                        args.timeout, env)
                record = {
                    "tool": tool,
                    "mode": mode,
                    "technology": query["technology"]["name"],
                    "seed": query["seed"],
                    "status": step.status,
                    "predict_s": round(step.wall_s, 1),
                    "command": " ".join(shlex.quote(c) for c in command)
                }
                path = out / "predicted_label.txt"
                if step.ok and path.exists():
                    record.update(
                        score(truth, harness.read_predictions(str(path))))
                log("%s %s %s seed %d: %s, accuracy %s, macro F1 %s, "
                    "Unassigned %s %%" %
                    (tool, mode or "default", record["technology"],
                     record["seed"], step.status, _f(
                         record.get("accuracy")), _f(record.get("macro_f1")),
                     _f(record.get("unassigned_pct"), "%.1f")))
                results["runs"].append(record)
    derived = {
        mode: source
        for mode, source in DERIVED.items()
        if source in _modes(args.modes)
    }
    if derived and results["tools"].get("actinn", {}).get("status") == "ok":
        results["runs"] += derived_rows(work / "runs" / "actinn", queries,
                                        args.margin, derived)
    results["queries"] = [
        {k: v for k, v in q.items() if k != "dir"} for q in queries
    ]
    results["seeds"] = list(seeds)
    return results


def _modes(names: Optional[str]) -> List[str]:
    """This package's predict modes to run: the keys of MODES named in
    ``names`` (comma-separated; "default" for the plain run), all without
    it."""
    if names is None:
        return list(MODES)
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    return ["" if n == "default" else n for n in chosen]


def _out_dir(tool_dir: Path, query: Dict, mode: str) -> Path:
    return tool_dir / "out" / ("%s_seed%d%s" %
                               (query["technology"]["name"], query["seed"],
                                mode.replace(" ", "").replace("-", "_")))


def derived_rows(tool_dir: Path,
                 queries: List[Dict],
                 margin: float,
                 derived: Optional[Dict[str, str]] = None) -> List[Dict]:
    """Majority voting over the query's own Leiden clusters, and the parent
    type when the top two are tied siblings, on this package's outputs
    (``derived``: those of DERIVED's rows to make, default all)."""
    import anndata
    import pandas as pd
    from deepchem_actinn.hierarchy import BUNDLED_HIERARCHY, TypeHierarchy
    from deepchem_actinn.voting import majority_vote, over_cluster
    hierarchy = TypeHierarchy.from_file(BUNDLED_HIERARCHY)
    rows = []
    for query in queries:
        qdir = Path(query["dir"])
        truth = harness.read_truth(qdir / "query_labels.txt")
        adata = anndata.read_h5ad(qdir / "query.h5ad")
        cells = list(adata.obs_names)
        t0 = time.perf_counter()
        clusters = over_cluster(adata, seed=0)
        cluster_s = time.perf_counter() - t0
        for mode, source in (DERIVED if derived is None else derived).items():
            path = _out_dir(tool_dir, query, source) / "predicted_label.txt"
            if not path.exists():
                continue
            predicted = harness.read_predictions(str(path))
            # types x cells, as predict writes them
            frame = pd.read_csv(path.with_name("predicted_probabilities.txt"),
                                sep="\t",
                                index_col=0)[cells]
            record = {
                "tool": "actinn",
                "mode": mode,
                "technology": query["technology"]["name"],
                "seed": query["seed"],
                "status": "ok"
            }
            if mode.endswith("voting"):
                voted, table = majority_vote(
                    [predicted[c] for c in cells],
                    clusters,
                    probabilities=frame.T.reset_index(drop=True),
                    min_probability=MIN_VOTE_PROBABILITY)
                record.update(score(truth, dict(zip(cells, voted))))
                flagged = table[table["possible_new_population"]]
                record.update(n_clusters=int(len(table)),
                              new_population_clusters=int(len(flagged)),
                              new_population_cells=int(flagged["size"].sum()),
                              cluster_s=round(cluster_s, 1))
            else:
                resolved = hierarchy.resolve(frame.to_numpy().T,
                                             list(frame.index),
                                             margin=margin)
                labels = dict(zip(cells, resolved["label"]))
                record.update(score(truth, labels))
                right = [
                    labels[c] == truth[c] or
                    labels[c] in hierarchy.ancestors(truth[c]) for c in cells
                ]
                record.update(parent_pct=100.0 *
                              float(np.mean(resolved["level"] == "parent")),
                              hierarchical_accuracy=float(np.mean(right)),
                              margin=margin)
            log("actinn %s %s seed %d: accuracy %s, macro F1 %s" %
                (mode, record["technology"], record["seed"],
                 _f(record.get("accuracy")), _f(record.get("macro_f1"))))
            rows.append(record)
    return rows


def _f(value, fmt: str = "%.3f") -> str:
    return "-" if value is None else fmt % value


def _mean_sd(values: List[float], fmt: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return fmt % values[0]
    return (fmt + " ± " + fmt) % (np.mean(values), np.std(values, ddof=1))


def render(results: Dict, command: str, started: str) -> str:
    """The markdown table: one row per technology, tool and mode."""
    lines = [
        "# Cross-technology benchmark",
        "",
        "Command: `%s` (started %s; machine: %s)." %
        (command, started,
         harness.describe_machine(harness.machine_description())),
        "",
        "Reference: the bundled Tabula Muris training set (Smart-seq2, 4,000 "
        "cells, 2,000 genes, 12 types). Queries: the bundled 1,000 test cells "
        "as another technology would measure them (`benchmarks/"
        "technologies.py`), seeds %s; figures are the mean ± standard "
        "deviation over seeds. Macro F1 over the 12 true types counts "
        "Unassigned as wrong; 'assigned accuracy' is over the cells given a "
        "type." % ", ".join(str(s) for s in results["seeds"]),
        "",
        "| query | tool | accuracy | macro F1 | Unassigned % | "
        "assigned accuracy | parent % (right at its level) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    order = [(r["technology"], r["tool"], r["mode"]) for r in results["runs"]]
    seen = []
    for key in sorted(set(order),
                      key=lambda k:
                      (list(technologies.TECHNOLOGIES).index(k[0]),
                       TOOLS.index(k[1]), ROW_ORDER.index(k[2]))):
        if key in seen:
            continue
        seen.append(key)
        runs = [
            r for r in results["runs"]
            if (r["technology"], r["tool"], r["mode"]) == key
        ]
        failed = [r["status"] for r in runs if r["status"] != "ok"]
        lines.append(
            "| %s | %s | %s | %s | %s | %s | %s |" %
            (key[0], key[1] + (" " + key[2] if key[2] else ""),
             _mean_sd([r.get("accuracy") for r in runs], "%.3f"),
             _mean_sd([r.get("macro_f1") for r in runs], "%.3f"),
             _mean_sd([r.get("unassigned_pct")
                       for r in runs], "%.1f") if key[1] == "actinn" else "-",
             _mean_sd([r.get("assigned_accuracy") for r in runs], "%.3f") +
             (" (%s)" % failed[0] if failed else ""),
             "-" if key[2] != "+ hierarchy" else "%s (%s)" %
             (_mean_sd([r.get("parent_pct") for r in runs], "%.1f"),
              _mean_sd([r.get("hierarchical_accuracy")
                        for r in runs], "%.3f"))))
    lines += [] if not any(r["mode"] in DERIVED for r in results["runs"]) else [
        "",
        "Rows `+ majority voting`: `actinn predict --majority-voting`'s "
        "vote (`deepchem_actinn.voting.majority_vote`, here on the predict "
        "outputs) over Leiden clusters of the query's own neighbour graph "
        "(`over_cluster`, resolution 5 at this size, seed 0): a cell takes "
        "its cluster's majority type where it gives that type a probability "
        "of at least %s; a cluster more than half Unassigned stays "
        "Unassigned (a possible new population). "
        "Row `+ hierarchy`: `actinn predict --hierarchy` with the bundled "
        "`hierarchy.txt` (`TypeHierarchy.resolve`, here on the predicted "
        "probabilities), margin %s: a cell whose top two types are closer "
        "than the margin and share an ancestor gets that ancestor; accuracy "
        "and macro F1 count such a parent as wrong, the last column gives "
        "the share of cells given a parent and the accuracy counting a "
        "parent right when it holds the true type." %
        (MIN_VOTE_PROBABILITY, _margin(results)),
    ]
    lines += ["", "Queries:", ""]
    for name in dict.fromkeys(
            q["technology"]["name"] for q in results["queries"]):
        lines.append("- `%s`: %s." %
                     (name, technologies.TECHNOLOGIES[name].description))
    lines += ["", "Tools:", ""]
    for tool, info in results["tools"].items():
        text = "- `%s`: %s" % (tool, compare.DESCRIPTIONS.get(tool, tool))
        if info["status"] != "ok":
            text += "; %s" % info["status"]
        lines.append(text + ".")
    return "\n".join(lines) + "\n"


def _margin(results: Dict) -> str:
    margins = {r["margin"] for r in results["runs"] if "margin" in r}
    return ", ".join(str(m) for m in sorted(margins)) or "-"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds",
                   default="heldout",
                   help="'heldout' (1001-1003, for reporting), 'dev' (0-2) "
                   "or a comma-separated list")
    p.add_argument("--technologies",
                   default=",".join(technologies.TECHNOLOGIES),
                   help="comma-separated, from %s" %
                   ", ".join(technologies.TECHNOLOGIES))
    p.add_argument("--tools",
                   default=",".join(TOOLS),
                   help="comma-separated, from %s" % ", ".join(TOOLS))
    p.add_argument("--threads",
                   type=int,
                   default=None,
                   help="hold every tool to N compute threads (as "
                   "compare.py); 1 is fastest on a busy machine")
    p.add_argument("--modes",
                   default=None,
                   help="this package's predict modes to run, comma-"
                   "separated, from %s (write it --modes=...; default all, "
                   "and the rows derived from them)" %
                   ", ".join(repr(m or "default") for m in MODES))
    p.add_argument("--reuse-models",
                   action="store_true",
                   help="keep models already trained under the work dir")
    p.add_argument("--margin",
                   type=float,
                   default=0.2,
                   help="top-two gap below which the hierarchy rows give "
                   "the parent type (0.2)")
    p.add_argument("--memory-limit-gb", type=float, default=20.0)
    p.add_argument("--timeout", type=int, default=3600)
    p.add_argument("--work-dir", default=str(HERE / ".work"))
    p.add_argument("--results-dir", default=str(HERE / "results"))
    p.add_argument("--name",
                   default="cross_technology",
                   help="results file name (cross_technology)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in args.technologies.split(","):
        if name.strip() not in technologies.TECHNOLOGIES:
            parser.error("unknown technology %r" % name)
    for tool in args.tools.split(","):
        if tool.strip() not in TOOLS:
            parser.error("unknown tool %r" % tool)
    for mode in [] if args.modes is None else _modes(args.modes):
        if mode not in MODES:
            parser.error("unknown mode %r" % (mode or "default"))
    started = datetime.datetime.now().isoformat(timespec="seconds")
    command = " ".join(
        shlex.quote(a) for a in ["python", "benchmarks/cross_technology.py"] +
        (sys.argv[1:] if argv is None else list(argv)))
    results = run(args)
    results.update(command=command, started=started)
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = render(results, command, started)
    (out / ("%s.md" % args.name)).write_text(text)
    harness.write_json(str(out / ("%s.json" % args.name)), results)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
