"""Prediction on a local Dask cluster against a plain chunked run.

Annotates an ``.h5ad`` query twice: chunk by chunk in this process (what
``actinn predict`` does), then with
:func:`deepchem_actinn.distributed.predict_file_dask` on a
``LocalCluster`` of ``--workers`` processes with one thread each. Prints both
times (the cluster's start-up apart) and checks that labels are identical
and probabilities equal. Without ``--model`` an annotator is trained on the
query's first ``--train-cells`` cells (timing only; 3 epochs).

    python -m deepchem_actinn simulate -o query.h5ad --cells 200000 \\
        --seed 1 --labels labels.txt
    python benchmarks/dask_predict.py query.h5ad --labels labels.txt \\
        --workers 2 [--unassigned]
"""
import argparse
import os
import time

import numpy as np
import pandas as pd

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.io import iter_cell_chunks, read_gene_names


def train(path: str, labels: str, n_cells: int) -> ACTINNAnnotator:
    ids, X = next(iter_cell_chunks(path, n_cells))
    y = pd.read_csv(labels, sep="\t", header=None, index_col=0).iloc[:, 0]
    return ACTINNAnnotator(max_epochs=3, seed=0).fit(X, read_gene_names(path),
                                                     y.loc[ids].to_numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("query")
    parser.add_argument("--model", help="a saved annotator directory")
    parser.add_argument("--labels", help="labels file, to train one")
    parser.add_argument("--train-cells", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--unassigned",
                        action="store_true",
                        help="also mark Unassigned cells (the rule "
                        "calibrated chunk by chunk, as actinn predict)")
    args = parser.parse_args()
    if args.model and os.path.isdir(args.model):
        annotator = ACTINNAnnotator.load(args.model)
    else:
        annotator = train(args.query, args.labels, args.train_cells)
        if args.model:
            annotator.save(args.model)
    genes = read_gene_names(args.query)

    start = time.perf_counter()
    plain = list(
        annotator.iter_predict(iter_cell_chunks(args.query, args.chunk_size),
                               genes,
                               unassigned=args.unassigned,
                               checked=True))
    plain_s = time.perf_counter() - start

    from distributed import Client, LocalCluster

    from deepchem_actinn.distributed import predict_file_dask
    start = time.perf_counter()
    with LocalCluster(n_workers=args.workers,
                      threads_per_worker=1,
                      processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        c.wait_for_workers(args.workers)
        up_s = time.perf_counter() - start
        start = time.perf_counter()
        spread = list(
            predict_file_dask(annotator,
                              args.query,
                              c,
                              args.chunk_size,
                              unassigned=args.unassigned))
        dask_s = time.perf_counter() - start
    n = sum(len(a) for a in plain)
    same = all((a.cell_types == b.cell_types).all() and
               (a.cell_ids == b.cell_ids).all() for a, b in zip(plain, spread))
    diff = max(
        float(np.abs(a.probabilities - b.probabilities).max())
        for a, b in zip(plain, spread))
    print("%d cells x %d genes, chunks of %d" %
          (n, len(genes), args.chunk_size))
    print("plain, in this process:  %.1f s (%.0f cells/s)" %
          (plain_s, n / plain_s))
    print("Dask, %d workers x 1 thread: %.1f s (%.0f cells/s); cluster "
          "start-up %.1f s more" % (args.workers, dask_s, n / dask_s, up_s))
    print("labels identical: %s; max |probability difference|: %.2g" %
          (same and len(plain) == len(spread), diff))
    if args.unassigned:
        print("Unassigned: plain %d, Dask %d" % tuple(
            sum(int((a.cell_types == "Unassigned").sum())
                for a in run)
            for run in (plain, spread)))


if __name__ == "__main__":
    main()
