"""Queries that look as if another technology had measured the same cells.

The bundled Tabula Muris sample is Smart-seq2 (full-length, plate-based,
deep). A user's query usually comes from elsewhere; :func:`make_query` turns
the bundled TEST cells into such a query, offline and from a seed, with the
differences a real cross-technology query shows:

* **extra genes** the reference never measured that hold a share of the
  counts (real 10x data against this sample: 12,849 of 14,063 genes unseen,
  about 92 % of each cell's counts in them);
* **unequal capture per gene**: each gene's counts scaled by a log-normal
  factor (mean 1, ``capture_sigma`` on the log scale), drawn once per query;
* **another depth**: binomial thinning of the cell's real counts so that
  each cell holds about ``depth`` counts in all (log-normal spread
  ``depth_sigma`` between cells);
* **missing genes**: a fraction of the reference's genes left out of the
  file;
* **ambient RNA** (droplets): a share of each cell's counts drawn from the
  pooled profile of all the query's cells.

The reference's own genes are thinned from the real counts (binomial: count
noise stays real); the extra genes' counts are Poisson draws from a
heavy-tailed random profile. Thinning probabilities above 1 (a gene with a
large capture factor in a shallow cell) are clipped to 1.

Examples
--------
>>> import numpy as np
>>> counts = np.full((4, 3), 1000.0)
>>> tech = Technology("toy", "", depth=500, depth_sigma=0.0,
...                   extra_genes=10, extra_share=0.5)
>>> X, genes, info = make_query(counts, ["a", "b", "c"], tech, seed=0)
>>> X.shape, genes[:4]
((4, 13), ['a', 'b', 'c', 'UNSEEN-00001'])
"""
import argparse
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Technology:
    """How a query technology differs from the reference's.

    Parameters
    ----------
    name, description: str
        Short name (file names) and what it models (the results table).
    depth: float or None
        Median counts per cell in the query (all genes); None keeps each
        cell's own depth.
    depth_sigma: float
        Log-normal spread of the depth between cells.
    capture_sigma: float
        Log-scale spread of the per-gene capture factor (0: none).
    extra_genes: int
        Genes the reference never measured, appended to the query.
    extra_share: float
        Share of each cell's counts in the extra genes.
    missing_fraction: float
        Share of the reference's genes absent from the query.
    ambient_fraction: tuple of float
        (low, high): each cell's share of ambient counts among the
        reference's genes, uniform between the two.
    """

    name: str
    description: str
    depth: Optional[float] = None
    depth_sigma: float = 0.3
    capture_sigma: float = 0.0
    extra_genes: int = 0
    extra_share: float = 0.0
    missing_fraction: float = 0.0
    ambient_fraction: Tuple[float, float] = (0.0, 0.0)


DROPLET = Technology(
    "droplet",
    "droplet (10x-like): 12,000 unseen genes holding 90 % of the counts, "
    "~5,000 counts per cell, per-gene capture (log-normal, sigma 1), a "
    "third of the reference's genes missing",
    depth=5000,
    capture_sigma=1.0,
    extra_genes=12_000,
    extra_share=0.9,
    missing_fraction=1 / 3)

#: The query technologies of the benchmark, by name.
TECHNOLOGIES: Dict[str, Technology] = {
    "same":
        Technology(
            "same", "the test cells as they are (Smart-seq2, as the "
            "reference)"),
    "droplet":
        DROPLET,
    "droplet_ambient":
        Technology(
            "droplet_ambient",
            "droplet as above, plus ambient RNA: 5-25 % of each cell's "
            "counts on the reference's genes drawn from the pooled profile "
            "of all query cells (the soup of a droplet run)",
            depth=5000,
            capture_sigma=1.0,
            extra_genes=12_000,
            extra_share=0.9,
            missing_fraction=1 / 3,
            ambient_fraction=(0.05, 0.25)),
    "full_length_deep":
        Technology(
            "full_length_deep",
            "another deep full-length protocol: each cell keeps its depth, "
            "5,000 unseen genes (a whole-transcriptome file) hold half the "
            "counts, milder per-gene capture differences (sigma 0.5, e.g. "
            "chemistry and gene-length effects), no genes missing",
            capture_sigma=0.5,
            extra_genes=5000,
            extra_share=0.5),
}

#: Seeds used while building the benchmark (generator settings were looked at
#: on these only) and the held-out seeds its reported figures come from.
DEVELOPMENT_SEEDS = (0, 1, 2)
HELD_OUT_SEEDS = (1001, 1002, 1003)


def seed_parser(doc: str) -> argparse.ArgumentParser:
    """The argument parser of a benchmark over query seeds: ``--seeds``
    (comma-separated; the held-out seeds by default) and ``--threads``
    (PyTorch's, 1 by default), described by ``doc``'s first line.

    Examples
    --------
    >>> seed_parser("A benchmark.").parse_args(["--seeds", "0,1"]).seeds
    [0, 1]
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds",
                        type=lambda text: [int(s) for s in text.split(",")],
                        default=list(HELD_OUT_SEEDS))
    parser.add_argument("--threads", type=int, default=1)
    return parser


def make_query(counts, genes: Sequence[str], technology: Technology,
               seed: int) -> Tuple[sp.csr_matrix, List[str], Dict]:
    """The cells of ``counts`` as ``technology`` would have measured them.

    Parameters
    ----------
    counts: array or sparse matrix, cells x genes
        Raw counts of the reference's technology.
    genes: sequence of str
        Their gene names.
    technology: Technology
        What differs (see :class:`Technology`).
    seed: int
        Seed of every random draw; the same seed gives the same query.

    Returns
    -------
    (X, genes, info)
        ``X`` CSR float32 counts (cells x kept genes then extra genes),
        the gene names, and a summary: median depth, mean share of counts in
        the extra genes, genes kept and missing.
    """
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(counts, dtype=np.float64)
    n_cells, n_genes = X.shape
    genes = [str(g) for g in genes]
    if len(genes) != n_genes:
        raise ValueError("%d gene names for %d genes" % (len(genes), n_genes))
    # Capture factor and missing genes: per gene, drawn once per query.
    sigma = technology.capture_sigma
    capture = np.exp(sigma * rng.standard_normal(n_genes) - sigma**2 / 2)
    n_missing = int(round(technology.missing_fraction * n_genes))
    missing = np.sort(rng.choice(n_genes, n_missing, replace=False))
    kept = np.setdiff1d(np.arange(n_genes), missing)
    # Depth per cell (all genes), and the part of it on the reference's.
    own = np.asarray(X.sum(axis=1)).ravel()
    if technology.depth is None:
        target = own.copy()
    else:
        target = technology.depth * np.exp(
            technology.depth_sigma * rng.standard_normal(n_cells))
    real_budget = target * (1.0 - technology.extra_share)
    base = X[:, kept].tocsr()
    base.sum_duplicates()
    rows = np.repeat(np.arange(n_cells), np.diff(base.indptr))
    gene_capture = capture[kept][base.indices]
    expected = np.bincount(rows,
                           weights=base.data * gene_capture,
                           minlength=n_cells)
    low, high = technology.ambient_fraction
    ambient = (rng.uniform(low, high, n_cells)
               if high > 0 else np.zeros(n_cells))
    # Own counts: binomial thinning of the real counts (p clipped to 1).
    scale = np.divide(real_budget * (1.0 - ambient),
                      expected,
                      out=np.zeros(n_cells),
                      where=expected > 0)
    p = np.minimum(gene_capture * scale[rows], 1.0)
    thinned = base.copy()
    thinned.data = rng.binomial(np.rint(base.data).astype(np.int64),
                                p).astype(np.float64)
    real = thinned
    if high > 0:
        soup = np.asarray(thinned.sum(axis=0)).ravel()
        soup = soup / max(soup.sum(), 1.0)
        lam = np.outer(real_budget * ambient, soup)
        real = sp.csr_matrix(thinned.toarray() + rng.poisson(lam))
    parts = [real]
    extra_names: List[str] = []
    if technology.extra_genes:
        profile = np.exp(1.5 * rng.standard_normal(technology.extra_genes))
        profile /= profile.sum()
        lam = np.outer(target * technology.extra_share, profile)
        parts.append(sp.csr_matrix(rng.poisson(lam).astype(np.float64)))
        extra_names = [
            "UNSEEN-%05d" % (i + 1) for i in range(technology.extra_genes)
        ]
    out = sp.hstack(parts, format="csr").astype(np.float32)
    out.eliminate_zeros()
    totals = np.asarray(out.sum(axis=1)).ravel()
    in_extra = totals - np.asarray(real.sum(axis=1)).ravel()
    share = np.divide(in_extra, totals, out=np.zeros(n_cells), where=totals > 0)
    info = {
        "technology": asdict(technology),
        "seed": int(seed),
        "n_cells": int(n_cells),
        "n_genes": int(out.shape[1]),
        "n_reference_genes_kept": int(len(kept)),
        "n_reference_genes_missing": int(n_missing),
        "median_depth": float(np.median(totals)),
        "mean_extra_share": float(share.mean()),
    }
    return out, [genes[i] for i in kept] + extra_names, info
