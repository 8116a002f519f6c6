#!/usr/bin/env python
"""How well can any model label the cross-technology droplet query?

Two references that know more than a user's would, against the package's
cross-technology annotator (``cross_technology.py``):

* **naive Bayes with the true capture**: each type's mean profile over the
  bundled reference cells, multiplied by the query technology's own per-gene
  capture factors (drawn again from the query's seed) and restricted to the
  genes the query keeps; each query cell goes to the type under which its
  counts are most likely (multinomial). It knows what no model is told: how
  the technology distorts each gene.
* **a same-technology reference**: the annotator trained on the reference
  cells as the same simulated technology measured them (same capture
  factors, same missing genes, the same shallow depth), on the reference's
  genes.

And one bound on majority voting: **the best vote over the query's
over-clusters** gives every cluster that ``--majority-voting`` makes
(:func:`deepchem_actinn.voting.over_cluster`, as the benchmark's voting
rows) its true majority type. No vote over those clusters can do better;
where the clusters merge small types with large ones, it falls below the
cells' own labels.

Usage::

    python benchmarks/droplet_bound.py                    # held-out seeds
    python benchmarks/droplet_bound.py --seeds 0,1,2 --technology droplet
"""
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import technologies  # noqa: E402


def naive_bayes_with_capture(train,
                             test,
                             technology,
                             seed: int,
                             use_capture: bool = True) -> np.ndarray:
    """Labels of the query made from ``test`` with ``seed``, by multinomial
    naive Bayes on the reference's type profiles seen through the
    technology's true capture factors (the query's own draw)."""
    X, genes, _ = technologies.make_query(test.X, list(test.var_names),
                                          technology, seed)
    # the query's first draws, as make_query makes them
    rng = np.random.default_rng(seed)
    n_genes = train.X.shape[1]
    sigma = technology.capture_sigma
    capture = np.exp(sigma * rng.standard_normal(n_genes) - sigma**2 / 2)
    n_missing = int(round(technology.missing_fraction * n_genes))
    missing = rng.choice(n_genes, n_missing, replace=False)
    kept = np.setdiff1d(np.arange(n_genes), missing)
    names = list(test.var_names)
    assert genes[:len(kept)] == [names[i] for i in kept]
    y = train.obs["cell_type"].astype(str).to_numpy()
    types = np.array(sorted(set(y)))
    R = sp.csr_matrix(train.X, dtype=np.float64)
    R = sp.diags(1.0 / np.asarray(R.sum(axis=1)).ravel()) @ R
    profile = np.stack(
        [np.asarray(R[y == t].mean(axis=0)).ravel() for t in types])[:, kept]
    if use_capture:
        profile = profile * capture[kept]
    profile = profile + 1e-6
    profile /= profile.sum(axis=1, keepdims=True)
    prior = np.array([(y == t).mean() for t in types])
    Q = sp.csr_matrix(X)[:, :len(kept)]
    loglik = np.asarray(Q @ np.log(profile).T) + np.log(prior)
    return types[loglik.argmax(axis=1)]


def same_technology(train, test, technology, seed: int) -> np.ndarray:
    """Labels from an annotator trained on the reference as the same
    technology (same seed: same capture and missing genes) measured it.

    The simulated unseen genes are left out of its training: they are noise
    whose profile each simulated file draws anew, which a real
    same-technology reference would not have."""
    from deepchem_actinn import ACTINNAnnotator
    Xr, genes, info = technologies.make_query(train.X, list(train.var_names),
                                              technology, seed)
    kept = info["n_reference_genes_kept"]
    Xq, query_genes, _ = technologies.make_query(test.X, list(test.var_names),
                                                 technology, seed)
    annotator = ACTINNAnnotator(seed=0).fit(
        sp.csr_matrix(Xr)[:, :kept], genes[:kept],
        train.obs["cell_type"].astype(str).to_numpy())
    return annotator.predict(Xq, query_genes).cell_types


def cluster_majority(truth: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Each cell's label replaced by the commonest true label of its
    cluster (ties: the label seen first in the cluster).

    Examples
    --------
    >>> cluster_majority(np.array(["a", "b", "b", "c"]),
    ...                  np.array(["0", "0", "0", "1"])).tolist()
    ['b', 'b', 'b', 'c']
    """
    out = truth.copy()
    for cluster in np.unique(clusters):
        cells = np.flatnonzero(clusters == cluster)
        labels, first, counts = np.unique(truth[cells],
                                          return_index=True,
                                          return_counts=True)
        best = np.lexsort((first, -counts))[0]
        out[cells] = labels[best]
    return out


def best_vote(test, technology, seed: int, truth: np.ndarray) -> np.ndarray:
    """The query's over-clusters, each labelled with its true majority."""
    from deepchem_actinn.voting import over_cluster
    X, _, _ = technologies.make_query(test.X, list(test.var_names), technology,
                                      seed)
    return cluster_majority(truth, over_cluster(X, seed=0))


def main(argv: Optional[List[str]] = None) -> int:
    parser = technologies.seed_parser(__doc__)
    parser.add_argument("--technology", default="droplet")
    args = parser.parse_args(argv)
    import torch
    from sklearn.metrics import f1_score

    from deepchem_actinn.datasets import load_tabula_muris_sample
    torch.set_num_threads(args.threads)
    technology = technologies.TECHNOLOGIES[args.technology]
    train, test = load_tabula_muris_sample(upper_case_genes=False)
    truth = test.obs["cell_type"].astype(str).to_numpy()
    rows = {}
    for seed in args.seeds:
        runs = {
            "naive Bayes, true capture":
                naive_bayes_with_capture(train, test, technology, seed),
            "naive Bayes, no capture":
                naive_bayes_with_capture(train, test, technology, seed, False),
            "annotator trained on the same technology":
                same_technology(train, test, technology, seed),
            "best vote over the query's over-clusters":
                best_vote(test, technology, seed, truth),
        }
        for name, labels in runs.items():
            rows.setdefault(name, []).append(((labels == truth).mean(),
                                              f1_score(truth,
                                                       labels,
                                                       average="macro")))
            print("seed %d  %-42s accuracy %.3f  macro F1 %.3f" %
                  ((seed, name) + rows[name][-1]),
                  flush=True)
    print(
        "\n| %s query, seeds %s | accuracy | macro F1 |\n| --- | --- | --- |" %
        (args.technology, ",".join(map(str, args.seeds))))
    for name, values in rows.items():
        acc, f1 = np.mean(values, axis=0)
        print("| %s | %.3f | %.3f |" % (name, acc, f1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
