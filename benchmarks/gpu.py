"""The GPU at full speed (issue 14): one script, run where a GPU is at hand.

Usage (an H200: about 6-8 minutes; a CPU smoke check: about 1-2 minutes):
  python benchmarks/gpu.py --work /tmp/gpu                       # CUDA, 10^6 cells
  python benchmarks/gpu.py --device cpu --cells 20000 --work /tmp/gpu_smoke

Steps, one JSON line each:
  simulate : ``actinn simulate`` --cells x --genes to WORK/sim.h5ad (skipped
             when present), read into memory and normalised.
  train    : the 3-network ensemble (``train_ensemble``, plain PyTorch) on
             all but the last 5 % of the cells, batch 128, batches built on
             the device from a reference kept there (``DeviceBatches``) when
             it fits, else pinned-memory prefetch: cell-epochs/s per network
             (target on an H200: >= 1,000,000), steady epochs, GPU
             utilisation sampled by ``nvidia-smi`` when present.
  predict  : an annotator trained for 1 epoch on 50,000 cells, then
             ``actinn predict --device DEVICE`` on the whole .h5ad, whole
             command timed (target: <= 10 s for 10^6 cells); Python
             ``ACTINNAnnotator.load(path, device=...)`` + ``predict_file``
             when the command has no ``--device`` flag.
  recipe   : batch 128 / 1,024 / 4,096 with the learning rate scaled by
             sqrt(batch / 128), --recipe-epochs epochs on --recipe-cells
             cells: time and held-out accuracy side by side.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time


def log(step, **values):
    print(json.dumps(dict(step=step, **values)), flush=True)


class GPUUtilisation:
    """Samples ``nvidia-smi`` utilisation every 200 ms while running."""

    def __init__(self):
        self.samples = []
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if shutil.which("nvidia-smi"):
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            out = subprocess.run([
                "nvidia-smi", "--query-gpu=utilization.gpu",
                "--format=csv,noheader,nounits"
            ],
                                 capture_output=True,
                                 text=True).stdout.split()
            if out:
                self.samples.append(float(out[0]))
            self._stop.wait(0.2)

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def mean(self):
        return sum(self.samples) / len(self.samples) if self.samples else None


def load(path, labels_path):
    import numpy as np
    from deepchem_actinn.io import iter_cell_chunks, read_labels
    from deepchem_actinn.preprocessing.normalise import library_size_log
    ids, X = next(iter(iter_cell_chunks(path, 10**9)))
    names = read_labels(labels_path).loc[list(ids)].to_numpy()
    types, y = np.unique(names, return_inverse=True)
    return library_size_log(X), y, len(types)


def batches(X, y, w, batch_size, device):
    """``(epoch_batches, where)``: the annotator's own batch source
    (``epoch_source``: built on the device when the reference fits there,
    else on the CPU and copied through pinned memory)."""
    from deepchem_actinn.models.batches import DeviceBatches, epoch_source
    where = "device" if (device.type == "cuda" and
                         DeviceBatches.fits(X, device)) else "host"
    return epoch_source(X, y, w, batch_size, device), where


def train(X, y, n_types, device, networks, epochs, batch_size, lr):
    """Train an ensemble on all but the last 5 % of X; the timings and the
    held-out accuracy."""
    import numpy as np
    import torch
    from deepchem_actinn.models.inference import embed
    from deepchem_actinn.models.network import seeded_ensemble
    from deepchem_actinn.models.training import train_ensemble
    n = X.shape[0]
    cut = int(n * 0.95)
    w = np.ones(cut, np.float32)
    epoch_batches, where = batches(X[:cut], y[:cut], w, batch_size, device)
    ensemble = seeded_ensemble(X.shape[1], n_types, (100, 50, 25), networks,
                               0).to(device)
    stamps = []

    def progress(state):
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    start = time.perf_counter()
    with GPUUtilisation() as gpu:
        train_ensemble(ensemble,
                       epoch_batches,
                       X[cut:cut],
                       y[cut:cut],
                       max_epochs=epochs,
                       early_stopping=False,
                       progress=progress,
                       learning_rate=lr)
    epoch_s = np.diff([start] + stamps)
    steady = float(np.median(epoch_s[1:])) if epochs > 1 else epoch_s[0]
    logits = embed(ensemble, X[cut:])[1]
    return dict(batches_built_on=where,
                epoch_s=epoch_s.round(3).tolist(),
                cell_epochs_per_s_per_network=cut / steady,
                heldout_accuracy=float((logits.argmax(1) == y[cut:]).mean()),
                gpu_utilisation_percent=gpu.mean())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default=None)
    p.add_argument("--cells", type=int, default=1_000_000)
    p.add_argument("--genes", type=int, default=20000)
    p.add_argument("--networks", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--recipe-cells", type=int, default=200_000)
    p.add_argument("--recipe-epochs", type=int, default=3)
    p.add_argument("--batches", default="128,1024,4096")
    p.add_argument("--work", required=True)
    p.add_argument("--steps", default="train,predict,recipe")
    a = p.parse_args()
    import torch
    device = torch.device(a.device or
                          ("cuda" if torch.cuda.is_available() else "cpu"))
    os.makedirs(a.work, exist_ok=True)
    data = os.path.join(a.work, "sim.h5ad")
    labels = os.path.join(a.work, "sim_labels.txt")
    actinn = [sys.executable, "-m", "deepchem_actinn"]
    if not os.path.exists(data):
        t = time.perf_counter()
        subprocess.run(actinn + [
            "simulate", "-o", data, "--cells",
            str(a.cells), "--genes",
            str(a.genes), "--seed", "0", "--labels", labels, "-q"
        ],
                       check=True)
        log("simulate", seconds=time.perf_counter() - t)
    t = time.perf_counter()
    X, y, n_types = load(data, labels)
    log("read",
        seconds=time.perf_counter() - t,
        cells=X.shape[0],
        genes=X.shape[1],
        nnz=int(X.nnz),
        device=str(device))
    steps = a.steps.split(",")
    if "train" in steps:
        log("train",
            networks=a.networks,
            batch=128,
            **train(X, y, n_types, device, a.networks, a.epochs, 128, 1e-4))
    if "predict" in steps:
        predict(a, data, labels, device, actinn)
    if "recipe" in steps:
        part = min(a.recipe_cells, X.shape[0])
        for b in (int(k) for k in a.batches.split(",")):
            lr = 1e-4 * math.sqrt(b / 128)
            log("recipe",
                batch=b,
                learning_rate=lr,
                cells=part,
                **train(X[:part], y[:part], n_types, device, a.networks,
                        a.recipe_epochs, b, lr))


def predict(a, data, labels, device, actinn):
    from deepchem_actinn import ACTINNAnnotator
    from deepchem_actinn.io import iter_cell_chunks, read_gene_names
    from deepchem_actinn.io import read_labels
    model = os.path.join(a.work, "model")
    ids, X = next(iter(iter_cell_chunks(data, 50000)))
    names = read_labels(labels).loc[list(ids)].to_numpy()
    ACTINNAnnotator(max_epochs=1, n_networks=a.networks, seed=0,
                    device=device).fit(X, read_gene_names(data), names,
                                       ids).save(model, overwrite=True)
    out = os.path.join(a.work, "pred")
    has_flag = "--device" in subprocess.run(actinn + ["predict", "--help"],
                                            capture_output=True,
                                            text=True).stdout
    t = time.perf_counter()
    if has_flag:
        subprocess.run(actinn + [
            "predict", "-m", model, "-ts", data, "-o", out, "-q", "--overwrite",
            "--device",
            str(device)
        ],
                       check=True)
        how = "actinn predict --device %s (whole command)" % device
    else:
        annotator = ACTINNAnnotator.load(model, device=device)
        n = sum(len(r.cell_ids) for r in annotator.predict_file(data))
        how = "ACTINNAnnotator.load + predict_file (%d cells)" % n
    log("predict", how=how, seconds=time.perf_counter() - t)


if __name__ == "__main__":
    main()
