"""The reading side of out-of-core training, no training: what each process
of a torchrun job reads, and how long it takes.

Usage:
  python -m deepchem_actinn simulate -o s200k.h5ad --cells 200000 \\
      --genes 5000 --seed 0 --labels s200k_labels.txt
  python benchmarks/ddp_reading.py s200k.h5ad s200k_labels.txt
  torchrun --standalone --nproc-per-node 2 benchmarks/ddp_reading.py \\
      s200k.h5ad s200k_labels.txt

Each process makes the statistics pass of ``fit_file`` (the gene filter,
20,000 held-out cells and 20,000 rule cells kept) and then iterates over one
epoch's training batches (batch 128) without training; it prints one JSON
line: the wall and CPU seconds of each (CPU: all the process's threads, the
reader's included), the cells it read in each, and the cells it was given to
train on.
"""
import json
import sys
import time
from typing import Dict, List

import numpy as np
import torch

from deepchem_actinn.models import distributed


def main() -> None:
    torch.set_num_threads(1)
    info = distributed.init_from_env()
    from deepchem_actinn import ACTINNAnnotator
    from deepchem_actinn.annotator.reference_file import ReferenceFile
    from deepchem_actinn.preprocessing.gene_filter import GeneFilter
    read: List[int] = []
    blocks = ReferenceFile._blocks

    def counted(self, *args, **kwargs):
        for start, X in blocks(self, *args, **kwargs):
            read[-1] += X.shape[0]
            yield start, X

    ReferenceFile._blocks = counted  # type: ignore[method-assign]
    ref = ReferenceFile(sys.argv[1], sys.argv[2])
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(ref))
    valid, sample = np.sort(rows[:20000]), np.sort(rows[20000:40000])
    train = np.sort(rows[20000:])
    defaults = ACTINNAnnotator()
    gene_filter = GeneFilter(defaults.total_percentiles,
                             defaults.cv_percentiles)
    result: Dict[str, float] = {"rank": info.rank, "processes": info.world_size}
    read.append(0)
    wall, cpu = time.perf_counter(), time.process_time()
    ref.fit_filter(gene_filter, valid, sample)
    result.update(scan_s=round(time.perf_counter() - wall, 1),
                  scan_cpu_s=round(time.process_time() - cpu, 1),
                  scan_cells_read=read[-1])
    feed = ref.epochs(gene_filter, train, rng.integers(0, 10, len(train)),
                      np.ones(len(train), np.float32), 128)
    read.append(0)
    wall, cpu = time.perf_counter(), time.process_time()
    trained = sum(len(b[1][0]) for b in feed(np.random.default_rng(1)))
    result.update(epoch_s=round(time.perf_counter() - wall, 1),
                  epoch_cpu_s=round(time.process_time() - cpu, 1),
                  epoch_cells_read=read[-1],
                  cells_trained=trained)
    print(json.dumps(result), flush=True)
    distributed.synchronise()
    distributed.teardown()


if __name__ == "__main__":
    main()
