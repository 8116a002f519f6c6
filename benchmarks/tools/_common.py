"""Shared plumbing of the per-tool runners (stdlib, NumPy and pandas only).

Each runner is run by the harness in the tool's own environment, twice::

    python tools/run_<tool>.py fit --train reference.h5ad \
        --train-labels reference_labels.txt --model DIR --info fit.json
    python tools/run_<tool>.py predict --model DIR --query query.h5ad \
        --predictions predicted_label.txt --info predict.json

``fit`` saves whatever the tool saves to ``DIR``; ``predict`` loads it and
writes ``cellname<TAB>celltype`` lines. ``--info`` receives a JSON record of
the tool's versions, settings and in-process timings (the harness times
the whole process itself).
"""
import argparse
import json
import os
import sys
import time
from importlib import metadata
from typing import Callable, Dict, List


def versions(names: List[str]) -> Dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def read_labels(path: str):
    """Cell id -> type, as a pandas Series (no header; tab-separated)."""
    import pandas as pd
    frame = pd.read_csv(path,
                        sep="\t",
                        header=None,
                        names=["cell", "type"],
                        dtype=str,
                        keep_default_na=False)
    return pd.Series(frame["type"].to_numpy(), index=frame["cell"].to_numpy())


def attach_labels(adata, labels_path: str, key: str = "cell_type") -> None:
    labels = read_labels(labels_path)
    missing = ~adata.obs_names.isin(labels.index)
    if missing.any():
        raise SystemExit("%d reference cells have no label in %s" %
                         (int(missing.sum()), labels_path))
    adata.obs[key] = labels.loc[adata.obs_names].to_numpy()


def write_predictions(path: str, cell_ids, labels) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        handle.write("cellname\tcelltype\n")
        for cell, label in zip(cell_ids, labels):
            handle.write("%s\t%s\n" % (cell, label))
    os.replace(tmp, path)


class Clock:
    """Named in-process timings (seconds)."""

    def __init__(self) -> None:
        self.times: Dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = round(now - self._last, 3)
        self._last = now


def main(fit: Callable, predict: Callable, packages: List[str]) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("fit")
    p.add_argument("--train", required=True)
    p.add_argument("--train-labels", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--info", required=True)
    p = sub.add_parser("predict")
    p.add_argument("--model", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("--predictions", required=True)
    p.add_argument("--info", required=True)
    args = parser.parse_args()
    clock = Clock()
    info = {"versions": versions(packages)}
    if args.step == "fit":
        os.makedirs(args.model, exist_ok=True)
        info.update(fit(args, clock) or {})
    else:
        info.update(predict(args, clock) or {})
    info["timings_s"] = clock.times
    with open(args.info, "w") as handle:
        json.dump(info, handle, indent=1)
