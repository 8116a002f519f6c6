"""Scaling on paper: bytes a data-parallel training step all-reduces, the
ring all-reduce time that costs, and one training step measured here.

One step of the ensemble (the default 3 networks side by side, batch 128,
a random CSR batch of ~1,300 non-zeros per cell on 20,000 genes, as the
sparse training path feeds it: the batch and its transpose) is timed as
forward + backward + fused Adam. The all-reduce estimate uses the ring
algorithm's cost, ``2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency``.

    python benchmarks/ddp_step.py --genes 20000 --networks 3 --batch 128
"""
import argparse
import statistics
import time

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from deepchem_actinn.models.batches import csr_triple
from deepchem_actinn.models.network import ACTINNEnsemble, seeded_classifier


def random_batch(n_cells: int, n_genes: int, nnz: int,
                 rng: np.random.Generator) -> sp.csr_matrix:
    """Cells with ``nnz`` distinct expressed genes each, log-scale values."""
    rows = [
        np.sort(rng.choice(n_genes, nnz, replace=False)) for _ in range(n_cells)
    ]
    indices = np.concatenate(rows)
    indptr = np.arange(n_cells + 1) * nnz
    values = np.log2(1 + rng.poisson(2.0, len(indices)) + 1.0)
    return sp.csr_matrix((values.astype(np.float32), indices, indptr),
                         shape=(n_cells, n_genes))


def ring_seconds(n_bytes: float, machines: int, gbit_s: float,
                 latency_s: float) -> float:
    """Ring all-reduce of ``n_bytes`` over ``machines``."""
    if machines < 2:
        return 0.0
    share = 2.0 * (machines - 1) / machines
    return share * n_bytes / (gbit_s * 1e9 / 8) + 2 * (machines - 1) * latency_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=20000)
    parser.add_argument("--networks", type=int, default=3)
    parser.add_argument("--types", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--nnz", type=int, default=1300)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--gbit", type=float, default=100.0)
    parser.add_argument("--latency-us", type=float, default=20.0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    model = ACTINNEnsemble([
        seeded_classifier(args.genes, args.types, seed=s)
        for s in range(args.networks)
    ])
    params = list(model.parameters())
    n_floats = sum(p.numel() for p in params)
    first = model.first.weight.numel() + model.first.bias.numel()
    n_bytes = 4 * n_floats
    print("parameters all-reduced per step: %d floats = %.2f MB "
          "(first layer %d floats, %.1f %%)" %
          (n_floats, n_bytes / 1e6, first, 100.0 * first / n_floats))
    opt = torch.optim.Adam(params, lr=1e-4, weight_decay=0.005, fused=True)
    batches = []
    for _ in range(8):
        X = random_batch(args.batch, args.genes, args.nnz, rng)
        x = [
            torch.from_numpy(a) for a in csr_triple(X) + csr_triple(X.T.tocsr())
        ]
        y = torch.from_numpy(rng.integers(0, args.types, args.batch))
        batches.append((x, y))
    times = []
    for step in range(args.steps):
        x, y = batches[step % len(batches)]
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        _, logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, args.types),
                               y.repeat_interleave(args.networks)).mul(
                                   args.networks)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    step_s = statistics.median(times[5:])
    print("one step, batch %d, %d networks, %d genes, %d threads: "
          "median %.2f ms, fastest %.2f ms (%d steps)" %
          (args.batch, args.networks, args.genes, torch.get_num_threads(),
           step_s * 1e3, min(times[5:]) * 1e3, len(times) - 5))
    for machines in (2, 8, 64):
        comm = ring_seconds(n_bytes, machines, args.gbit,
                            args.latency_us * 1e-6)
        print("ring all-reduce on %d machines, %.0f Gb/s, %.0f us hop "
              "latency: %.2f ms = %.2fx the step (no overlap: %.0f %% of "
              "the time computing)" %
              (machines, args.gbit, args.latency_us, comm * 1e3, comm / step_s,
               100.0 * step_s / (step_s + comm)))


if __name__ == "__main__":
    main()
