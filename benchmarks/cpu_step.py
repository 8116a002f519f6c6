"""Where one CPU training step of the ensemble spends its time.

Usage: python benchmarks/cpu_step.py [--genes 20000] [--nnz 1300] [--steps 60]

Builds a random sparse reference (``--nnz`` non-zeros per cell), then times
each phase of :meth:`EnsembleTrainer.step` over ``--steps`` batches of 128
cells (3 networks, 100 units): building the batch (SciPy rows and
transpose, done in a reader thread during training), the forward pass, the
backward pass and Adam. Prints the median and the minimum of each phase in
ms: on a shared machine the minimum is the machine's floor, the median what
the load leaves of it. One step's floor bounds the training speed at
``128 / step`` cells/s.
"""
import argparse
import json
import os
import time

import numpy as np
import scipy.sparse as sp
import torch

from deepchem_actinn.models.batches import minibatches
from deepchem_actinn.models.network import seeded_ensemble
from deepchem_actinn.models.optim import weighted_loss
from deepchem_actinn.models.training import EnsembleTrainer


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--genes", type=int, default=20000)
    parser.add_argument("--nnz", type=int, default=1300)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--networks", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n, g, k = 128 * args.steps, args.genes, args.nnz
    indices = np.concatenate(
        [np.sort(rng.choice(g, k, replace=False)) for _ in range(n)])
    X = sp.csr_matrix(
        (rng.random(n * k, dtype=np.float32) * 3, indices.astype(
            np.int32), np.arange(0, n * k + 1, k)),
        shape=(n, g))
    y = rng.integers(0, 10, n)
    trainer = EnsembleTrainer(
        seeded_ensemble(g, 10, n_networks=args.networks, seed=0))
    times = {p: [] for p in ("build", "forward", "backward", "adam")}
    batches = minibatches(X, y, None, 128, np.random.default_rng(0))
    for _ in range(args.steps):
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        x, labels, weights = trainer.tensors(batch)
        trainer.optimizer.zero_grad()
        loss = weighted_loss(trainer.network(x)[1], labels, weights)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        trainer.optimizer.step()
        trainer.schedule.step()
        loss.item()
        t4 = time.perf_counter()
        for phase, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            times[phase].append(dt * 1e3)
    floor = sum(min(v) for k, v in times.items() if k != "build")
    print(
        json.dumps({
            "ms_median": {
                k: round(float(np.median(v)), 2) for k, v in times.items()
            },
            "ms_min": {k: round(min(v), 2) for k, v in times.items()},
            "step_floor_ms": round(floor, 2),
            "cells_per_s_bound": round(128 / floor * 1e3),
            "load_average": os.getloadavg()[0],
            "threads": args.threads
        }))


if __name__ == "__main__":
    main()
