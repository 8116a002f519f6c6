#!/usr/bin/env python
"""Training on the genes the query measures (``actinn run``'s default)
against training on every reference gene, on the droplet query.

``actinn run`` knows the query before it trains, so it trains only on the
reference genes the query measures
(:func:`deepchem_actinn.preprocessing.genes.measured_genes`); a model
trained once for many queries (``actinn train``) sees a query's missing
genes as zeros instead. Two queries, each from the bundled test cells:

* **droplet** (``technologies.py``): a random third of the reference's
  genes missing;
* **droplet, markers missing**: the same, and also each type's
  ``--markers`` strongest marker genes (highest mean log expression over
  the next-highest type in the reference), as when a droplet file lacks
  genes its pipeline did not annotate or detect.

With ``--peers celltypist,actinn_jax`` (after ``python
benchmarks/compare.py --setup --tools celltypist,actinn_jax``), each peer
is also trained on the genes the query measures (``benchmarks/peers.py``)
and given the query file as it is and with its genes intersected first.

Usage::

    python benchmarks/shared_genes.py                  # held-out seeds
    python benchmarks/shared_genes.py --seeds 0,1,2 --markers 5
    python benchmarks/shared_genes.py --peers celltypist,actinn_jax
"""
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import peers  # noqa: E402
import technologies  # noqa: E402

from deepchem_actinn.models.linear import LINEAR_WEIGHT  # noqa: E402


def marker_genes(X, y: np.ndarray, n: int) -> np.ndarray:
    """Columns of each type's ``n`` strongest markers: the genes whose mean
    log(1 + counts per 10,000) in the type most exceeds their highest mean
    in any other type."""
    X = sp.csr_matrix(X, dtype=np.float64)
    scale = 1e4 / np.maximum(np.asarray(X.sum(axis=1)).ravel(), 1.0)
    L = (sp.diags(scale) @ X).log1p()
    types = sorted(set(y))
    means = np.stack(
        [np.asarray(L[y == t].mean(axis=0)).ravel() for t in types])
    columns = set()
    for i in range(len(types)):
        lead = means[i] - np.delete(means, i, axis=0).max(axis=0)
        columns.update(np.argsort(-lead, kind="stable")[:n].tolist())
    return np.array(sorted(columns), dtype=np.int64)


def score(truth, annotator, X, genes) -> tuple:
    """Accuracy, macro F1, % Unassigned and assigned accuracy (with
    ``unassigned=True``), accuracy and macro F1 with
    ``majority_voting=True``."""
    from sklearn.metrics import f1_score
    plain = annotator.predict(X, genes).cell_types
    marked = annotator.predict(X, genes, unassigned=True).cell_types
    voted = annotator.predict(X, genes,
                              majority_voting=True).majority_cell_types
    kept = marked != "Unassigned"
    return ((plain == truth).mean(), f1_score(truth, plain, average="macro"),
            100 * (~kept).mean(), (marked == truth)[kept].mean(),
            (voted == truth).mean(), f1_score(truth, voted, average="macro"))


def main(argv: Optional[List[str]] = None) -> int:
    parser = technologies.seed_parser(__doc__)
    parser.add_argument("--markers", type=int, default=5)
    parser.add_argument("--linear-weight",
                        type=float,
                        default=LINEAR_WEIGHT,
                        help="the annotator's linear_weight (its default, "
                        "%g; 0: the networks alone)" % LINEAR_WEIGHT)
    peers.add_arguments(parser, HERE / ".work")
    args = parser.parse_args(argv)
    chosen, work = peers.from_args(parser, args)
    import torch

    from sklearn.metrics import f1_score

    from deepchem_actinn import ACTINNAnnotator
    from deepchem_actinn.datasets import load_tabula_muris_sample
    from deepchem_actinn.preprocessing.genes import (gene_candidates,
                                                     measured_genes)
    torch.set_num_threads(args.threads)
    train, test = load_tabula_muris_sample(upper_case_genes=False)
    truth = test.obs["cell_type"].astype(str).to_numpy()
    y = train.obs["cell_type"].astype(str).to_numpy()
    reference = list(train.var_names)
    markers = set(np.asarray(reference)[marker_genes(train.X, y, args.markers)])
    everything = ACTINNAnnotator(seed=0, linear_weight=args.linear_weight).fit(
        train.X, reference, y)
    rows = {}
    for seed in args.seeds:
        X, genes, _ = technologies.make_query(test.X, reference,
                                              technologies.DROPLET, seed)
        keep = [i for i, g in enumerate(genes) if g not in markers]
        queries = {
            "droplet": (X, genes),
            "droplet, markers missing":
                (sp.csr_matrix(X)[:, keep], [genes[i] for i in keep]),
        }
        for query, (Xq, gq) in queries.items():
            shared = measured_genes(reference, gene_candidates(gq))
            sub = train[:, shared]
            measured = ACTINNAnnotator(seed=0,
                                       linear_weight=args.linear_weight).fit(
                                           sub.X, shared, y)
            for training, annotator in (("every reference gene", everything),
                                        ("the genes the query measures",
                                         measured)):
                name = "%s | %s (%d genes)" % (query, training,
                                               len(annotator.genes_))
                rows.setdefault((query, training),
                                []).append(score(truth, annotator, Xq, gq))
                print("seed %d  %s: accuracy %.3f  macro F1 %.3f  "
                      "Unassigned %.1f %%  assigned accuracy %.3f  "
                      "voting: accuracy %.3f  macro F1 %.3f" %
                      ((seed, name) + rows[(query, training)][-1]),
                      flush=True)
            for tool in chosen:
                given = peers.run_peer(
                    tool, work, work / "shared_genes" / ("seed%d" % seed) /
                    query.replace(" ", "_").replace(",", ""), sub.X, y, shared,
                    Xq, gq, args.threads)
                for form, labels in given.items():
                    key = (query, "the genes the query measures: %s, "
                           "the query %s" % (tool, form))
                    rows.setdefault(key, []).append((
                        (labels == truth).mean(),
                        f1_score(truth, labels.astype(str), average="macro")) +
                                                    (np.nan,) * 4)
                    print("seed %d  %s | %s: accuracy %.3f  macro F1 %.3f" %
                          ((seed,) + key + rows[key][-1][:2]),
                          flush=True)
    print("\n| query (seeds %s) | trained on | accuracy | macro F1 | "
          "--unassigned: Unassigned %% | assigned accuracy | "
          "--majority-voting: accuracy | macro F1 |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- |" %
          ",".join(map(str, args.seeds)))
    for (query, training), values in rows.items():
        mean = np.mean(values, axis=0)
        print("| %s | %s | %s |" % (query, training, " | ".join(
            "-" if np.isnan(v) else fmt % v
            for v, fmt in zip(mean, ("%.3f", "%.3f", "%.1f", "%.3f", "%.3f",
                                     "%.3f")))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
