"""Scale benchmark: train on a synthetic reference, annotate 10^6 cells.

Usage: python benchmarks/scale.py --query q1m.h5ad --labels q1m_labels.txt --work DIR
Steps (each a separate process, timed as a whole with peak RSS):
  train   : ACTINNAnnotator on the first --ref-cells cells (in memory)
  predict : `actinn predict` on the whole query file (streaming)
  fitfile : out-of-core fit_file on the whole file: --ff-epochs epochs of
            --ff-networks networks, batch --batch (learning rate scaled by
            sqrt(batch / 128)), held-out accuracy after each epoch
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time


def timed(cmd, env=None):
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v"] + cmd,
                          capture_output=True,
                          text=True,
                          env=env)
    wall = time.perf_counter() - t
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit("step failed: %s" % " ".join(cmd))
    return wall, int(rss.group(1)) / 1024**2, proc.stdout


TRAIN = r'''
import sys, time, json, warnings
warnings.simplefilter("ignore")
from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.io import iter_cell_chunks, read_gene_names, read_labels
path, labels_path, n, out, networks, epochs, batch, linear = sys.argv[1:9]
n, networks, epochs, batch = int(n), int(networks), int(epochs), int(batch)
linear = {} if linear == "default" else {"linear_weight": float(linear)}
ids, X = next(iter(iter_cell_chunks(path, n)))
labels = read_labels(labels_path).loc[list(ids)].to_numpy()
a = ACTINNAnnotator(n_networks=networks, max_epochs=epochs, early_stopping=False, seed=0, batch_size=batch,
                    learning_rate=1e-4 * (batch / 128) ** 0.5, **linear)
t = time.perf_counter(); a.fit(X, read_gene_names(path), labels, ids); dt = time.perf_counter() - t
n_train = n - a.calibration_["n_cells"]
ep = sum(len(h["train_loss"]) for h in a.histories_)
print(json.dumps({"fit_s": dt, "cell_epochs_per_s": n_train * ep / dt, "epochs": ep, "genes": len(a.genes_)}))
a.save(out, overwrite=True)
'''

FITFILE = r'''
import sys, time, json, warnings
warnings.simplefilter("ignore")
import torch
from deepchem_actinn import ACTINNAnnotator
path, labels_path = sys.argv[1], sys.argv[2]
epochs, batch, networks, threads = (int(a) for a in sys.argv[3:7])
scaling = sys.argv[7]
if threads:
    torch.set_num_threads(threads)
times, accuracy = [], []
def progress(state):
    times.append(time.perf_counter())
    accuracy.append(state.get("valid_accuracy"))
# linear: the learning rate grows with the batch and the decay keeps its pace
# per cell (every 128,000 cells); sqrt: the rate grows with sqrt(batch)
ratio = batch / 128
lr = 1e-4 * (ratio if scaling == "linear" else ratio ** 0.5)
decay_steps = max(1, round(1000 / ratio)) if scaling == "linear" else 1000
a = ACTINNAnnotator(n_networks=networks, max_epochs=epochs, early_stopping=False, seed=0, batch_size=batch,
                    learning_rate=lr, decay_steps=decay_steps)
t = time.perf_counter(); a.fit_file(path, labels_path, progress=progress); dt = time.perf_counter() - t
n_train = a.n_reference_cells_ - a.calibration_["n_cells"]
epoch_s = [b - a_ for a_, b in zip(times, times[1:])]
print(json.dumps({"fit_s": dt, "stats_and_first_epoch_s": times[0] - t, "epoch_s": epoch_s,
                  "cells_per_s_per_epoch": [n_train / s for s in epoch_s],
                  "n_train": n_train, "networks": networks, "batch": batch, "threads": threads,
                  "learning_rate": lr, "decay_steps": decay_steps,
                  "valid_accuracy_by_epoch": accuracy, "n_valid": a.calibration_["n_cells"]}))
'''


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--query", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--ref-cells", type=int, default=50000)
    p.add_argument("--networks", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--ff-epochs", type=int, default=2)
    p.add_argument("--ff-networks", type=int, default=1)
    p.add_argument("--threads",
                   type=int,
                   default=0,
                   help="PyTorch threads in fitfile (0: PyTorch's default)")
    p.add_argument("--lr-scaling",
                   choices=("sqrt", "linear"),
                   default="sqrt",
                   help="how fitfile scales the learning rate with --batch")
    p.add_argument("--linear-weight",
                   default="default",
                   help="the annotator's linear_weight in train (default: "
                   "the annotator's own)")
    p.add_argument("--steps", default="train,predict,fitfile")
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    model = os.path.join(a.work, "model")
    res = {}
    steps = a.steps.split(",")
    if "train" in steps:
        wall, rss, out = timed([
            sys.executable, "-c", TRAIN, a.query, a.labels,
            str(a.ref_cells), model,
            str(a.networks),
            str(a.epochs),
            str(a.batch), a.linear_weight
        ])
        res["train"] = dict(json.loads(out.strip().splitlines()[-1]),
                            wall_s=wall,
                            peak_gb=rss)
        print("train", res["train"], flush=True)
    if "predict" in steps:
        out_dir = os.path.join(a.work, "pred")
        wall, rss, _ = timed([
            "actinn", "predict", "-m", model, "-ts", a.query, "-o", out_dir,
            "-q", "--overwrite"
        ])
        import pandas as pd
        pred = pd.read_csv(os.path.join(out_dir, "predicted_label.txt"),
                           sep="\t",
                           index_col=0)["celltype"]
        truth = pd.read_csv(a.labels, sep="\t", header=None, index_col=0)[1]
        held = pred.index[a.ref_cells:]
        acc = float((pred.loc[held] == truth.loc[held]).mean())
        res["predict"] = dict(wall_s=wall,
                              peak_gb=rss,
                              cells=len(pred),
                              cells_per_s=len(pred) / wall,
                              accuracy_unseen=acc)
        print("predict", res["predict"], flush=True)
    if "fitfile" in steps:
        wall, rss, out = timed([
            sys.executable, "-c", FITFILE, a.query, a.labels,
            str(a.ff_epochs),
            str(a.batch),
            str(a.ff_networks),
            str(a.threads), a.lr_scaling
        ])
        res["fitfile"] = dict(json.loads(out.strip().splitlines()[-1]),
                              wall_s=wall,
                              peak_gb=rss)
        print("fitfile", res["fitfile"], flush=True)
    json.dump(res, open(os.path.join(a.work, "results.json"), "w"), indent=1)


main()
