"""DDP on one machine: 1 vs N processes training one annotator.

Usage:
  python -m deepchem_actinn simulate -o s100k.h5ad --cells 100000 --seed 0 \\
      --labels s100k_labels.txt
  python benchmarks/ddp.py s100k.h5ad s100k_labels.txt --procs 1,2 --epochs 3

For each process count, ``torchrun --standalone --nproc-per-node N`` (plain
python for 1) fits ``ACTINNAnnotator`` (early stopping off) in memory on
the file's first ``--train-fraction`` of cells, each process with
``cores / N`` PyTorch threads, and annotates the rest. Process 0 prints the
time of each epoch and the held-out accuracy; one JSON line per run.
"""
import argparse
import json
import os
import subprocess
import sys
import time

WORKER = r'''
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np, torch
from deepchem_actinn.models import distributed
info = distributed.init_from_env()
torch.set_num_threads(int(sys.argv[6]))
from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.io import iter_cell_chunks, read_gene_names, read_labels
path, labels_path = sys.argv[1], sys.argv[2]
epochs, networks, fraction = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
ids, X = next(iter(iter_cell_chunks(path, int(sys.argv[7]))))
labels = read_labels(labels_path).loc[list(ids)].to_numpy()
genes = read_gene_names(path)
n = int(len(ids) * fraction)
times = []
a = ACTINNAnnotator(n_networks=networks, max_epochs=epochs, early_stopping=False, seed=0)
t0 = time.perf_counter()
a.fit(X[:n], genes, labels[:n], ids[:n], progress=lambda s: times.append(time.perf_counter()))
fit_s = time.perf_counter() - t0
pred = a.predict(X[n:], genes, ids[n:])
acc = float((np.asarray(pred.cell_types) == labels[n:]).mean())
if distributed.is_main_process():
    steps = np.diff([t0] + times)
    print(json.dumps({"processes": info.world_size, "backend": info.backend,
                      "threads_per_process": torch.get_num_threads(),
                      "fit_s": fit_s, "epoch_s": steps.tolist(),
                      "steady_epoch_s": float(np.median(steps[1:])) if len(steps) > 1 else None,
                      "train_cells": n - a.calibration_["n_cells"],
                      "heldout_accuracy": acc, "heldout_cells": len(ids) - n}))
del a
distributed.teardown()
'''


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("labels")
    p.add_argument("--procs", default="1,2")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--networks", type=int, default=3)
    p.add_argument("--train-fraction", type=float, default=0.9)
    p.add_argument("--cores", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--cells",
                   type=int,
                   default=10**9,
                   help="use the file's first CELLS cells")
    a = p.parse_args()
    for _ in range(a.repeats):
        for n in (int(k) for k in a.procs.split(",")):
            threads = max(1, a.cores // n)
            args = [
                a.data, a.labels,
                str(a.epochs),
                str(a.networks),
                str(a.train_fraction),
                str(threads),
                str(a.cells)
            ]
            launcher = [sys.executable, "-c", WORKER] if n == 1 else [
                sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node",
                str(n), "--no-python", sys.executable, "-c", WORKER
            ]
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            start = time.perf_counter()
            proc = subprocess.run(launcher + args,
                                  capture_output=True,
                                  text=True,
                                  env=env)
            if proc.returncode != 0:
                sys.exit(proc.stderr[-3000:])
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            result["wall_s"] = time.perf_counter() - start
            result["load_average"] = os.getloadavg()
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
