"""Synthetic labelled scRNA-seq counts, written chunk by chunk to ``.h5ad``.

:func:`simulate_counts` writes a cells x genes matrix of UMI-like counts with
a ``cell_type`` label per cell: a stand-in for a 10x Genomics data set that is
big enough to benchmark on (a million cells never needs a million-cell array
in memory), learnable, but not trivially so.

Generative model
----------------
In the spirit of Splatter [1]_, simplified:

1. **Genes.** Base log-expression ``a_g ~ Normal(0, 2.2)``, so base means
   ``exp(a_g)`` are log-normal and heavy-tailed: the top 50 genes carry about
   a quarter of the counts and most genes are rarely seen. Each gene has a
   negative-binomial shape (inverse dispersion) ``theta_g``, log-normal
   around 2.
2. **Programs.** A program is a random set of genes with log-fold changes
   ``+-Gamma(2, s / 2)`` (mean size ``s``, 3 in 4 up-regulated). The types
   fall into ``round(n_types / 3)`` lineages. Every type gets its lineage's
   program (3 % of the genes, ``s = 1``) plus one of its own (2 % of the
   genes, ``s = 0.8``), so types of one lineage share most of their markers
   and are the pairs that get confused. A "cycling" program (1 % of the
   genes, all up, ``s = 1.2``) is on in a random 3-25 % of the cells of each
   type: a nuisance that cuts across the types.
3. **Profiles.** A cell of type ``t`` in state ``c`` (cycling or not) has the
   expression profile ``p_tcg = softmax_g(a_g + its programs' log-fold
   changes)``, which sums to 1 over the genes.
4. **Library sizes.** ``log L = log(scale) + o_t + 0.45 z``, ``z`` standard
   normal, ``o_t ~ Normal(0, 0.25)`` a per-type offset (some types are bigger
   cells): log-normal library sizes. ``log L`` is rounded to a grid of at
   most 128 levels (steps of about 3 %) so that zero-probabilities can be
   tabulated (below).
5. **Counts.** ``X_ig ~ NegativeBinomial(mean L_i p_tcg, shape theta_g)``,
   i.e. gamma-Poisson: independent gamma noise on each cell x gene mean,
   then Poisson sampling. No extra dropout: the zeros are the negative
   binomial's, as in droplet data [2]_.
6. **Labels.** A cell is of type ``t`` with probability ``w_t``. By default
   the ``w_t`` fall geometrically from ``Type 00`` (most common) to the last
   type, ``min(20, 2 n_types)`` times rarer (for 10 types: 30 % down to
   1.4 %), so a couple of types are rare.

**Density.** The expected fraction of non-zero entries is the mean over
cells and genes of ``1 - (1 + mu / theta) ** -theta``, which grows
monotonically with the one free constant, ``scale``. It is computed from
the model (over all genes, types, states and library levels, the levels
merged into 24 bins; not by sampling) and ``scale`` is solved for with
Brent's method, so the realised density matches ``density`` to within
about 1 % plus sampling noise. At ``density=0.065`` with 20,000 genes a
cell has about 1,250 detected genes and a median of about 2,800 counts
(two-thirds of the non-zeros are 1), as in 10x v2 data.

**Sampling.** Zeros must cost little. For each cell x gene the non-zero
probability ``pi = 1 - (1 + mu / theta) ** -theta`` is a 32-bit fixed-point
threshold ``T``; the entry is non-zero when a 32-bit random number is below
``T``. The top 8 bits of ``T`` come from a table (one row per type, state
and library level) and are compared densely with one random byte per
entry; ties (1 in 256) are settled with 24 more random bits. Only the
non-zero entries then get a count, from the negative binomial conditioned
on being positive: by inversion of its CDF for means up to 5, by
gamma-Poisson draws with zeros drawn again above that. Both steps are
exact, so the counts follow step 5 given the library level.

**Randomness.** Everything comes from ``numpy.random.SeedSequence(seed)``:
the model (genes, programs, types) from the child stream ``(0,)``, the cells
of block ``b`` from ``(1, b)``. Blocks have a fixed size (``2**23 //
n_genes`` cells, at most 65,536), so the file depends on ``seed`` and the
model's parameters but not on ``chunk_size`` or the number of threads.

References
----------
.. [1] Zappia, Phipson and Oshlack (2017). Splatter: simulation of
   single-cell RNA sequencing data. Genome Biology 18, 174.
.. [2] Svensson (2020). Droplet scRNA-seq is not zero-inflated. Nature
   Biotechnology 38, 147-150.
"""
import logging
import math
import os
import pathlib
import tempfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import h5py
import numpy as np

from deepchem_actinn.errors import ACTINNInputError

logger = logging.getLogger(__name__)

__all__ = ["simulate_counts"]

# Model constants (see the module docstring).
_GENE_LOG_SD = 2.2
_THETA_MEDIAN = 2.0
_THETA_LOG_SD = 0.5
_LINEAGE_FRACTION, _LINEAGE_LFC = 0.03, 1.0
_TYPE_FRACTION, _TYPE_LFC = 0.02, 0.8
_CYCLING_FRACTION, _CYCLING_LFC = 0.01, 1.2
_CYCLING_CELLS = (0.03, 0.25)
_UP_PROBABILITY = 0.75
_LIBRARY_LOG_SD = 0.45
_TYPE_LIBRARY_LOG_SD = 0.25
_RAREST_RATIO = 20.0
_MAX_LEVELS = 128
_TABLE_ENTRIES = 1 << 26  # cap on the zero-probability table (64 MiB)
_BLOCK_ENTRIES = 1 << 23  # cells x genes drawn at once in a block
_MU_DIRECT = 5.0  # above this mean, draw counts directly, not by inversion
_H5_CHUNK = 1 << 18  # elements per HDF5 chunk (1 MiB: fits h5py's cache)


@dataclass
class _Model:
    """Everything needed to draw a block of cells."""

    entropy: int
    n_genes: int
    n_types: int
    proportions: np.ndarray  # (n_types,)
    cycling: np.ndarray  # (n_types,) fraction of cycling cells
    lineage: np.ndarray  # (n_types,)
    profiles: np.ndarray  # (2 * n_types, n_genes) float64, rows sum to 1
    theta: np.ndarray  # (n_genes,)
    library_offset: np.ndarray  # (n_types,) log
    level_lo: float
    level_step: float
    n_levels: int
    scale: float
    libraries: np.ndarray  # (n_levels,) library size of each level
    threshold: np.ndarray  # (2 * n_types * n_levels, n_genes) uint8
    block_cells: int
    profiles32: np.ndarray  # float32 copies for the per-entry means
    theta32: np.ndarray
    libraries32: np.ndarray


def _program(rng: np.random.Generator, n_genes: int, fraction: float,
             mean_lfc: float, up: float) -> np.ndarray:
    """Log-fold changes (mostly zero) of one gene program."""
    k = min(n_genes, max(1, int(round(fraction * n_genes))))
    genes = rng.choice(n_genes, size=k, replace=False)
    size = rng.gamma(2.0, mean_lfc / 2.0, size=k)
    sign = np.where(rng.random(k) < up, 1.0, -1.0)
    lfc = np.zeros(n_genes)
    lfc[genes] = sign * size
    return lfc


def _nonzero_probability(mu: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``P(X > 0)`` for a negative binomial with mean ``mu``, shape ``theta``."""
    return -np.expm1(-theta * np.log1p(mu / theta))


def _default_proportions(n_types: int) -> np.ndarray:
    """Geometrically falling type proportions, rarest about 1/20 of the top."""
    if n_types == 1:
        return np.ones(1)
    ratio = min(_RAREST_RATIO, 2.0 * n_types)
    w = ratio**(-np.arange(n_types) / (n_types - 1.0))
    return w / w.sum()


def _level_weights(offset: np.ndarray, lo: float, step: float,
                   n_levels: int) -> np.ndarray:
    """P(library level) per type: the normal rounded to the grid."""
    from scipy.special import ndtr
    edges = lo + step * (np.arange(n_levels + 1) - 0.5)
    edges[0], edges[-1] = -np.inf, np.inf
    cdf = ndtr((edges[None, :] - offset[:, None]) / _LIBRARY_LOG_SD)
    return np.diff(cdf, axis=1)


def _calibrate_scale(density: float, profiles: np.ndarray, theta: np.ndarray,
                     weights: np.ndarray, level_logs: np.ndarray) -> float:
    """Solve for the library scale whose expected density is ``density``.

    ``weights`` is (n_profiles, n_levels): the probability of each profile
    (type and state) and library level. The expectation is taken over all
    genes and profiles, with the library levels merged into at most 24
    bins (each at its probability-weighted mean log-level), in float32.
    """
    from scipy.optimize import brentq
    n_profiles, n_levels = weights.shape
    size = -(-n_levels // 24)
    pad = (-n_levels) % size
    w = np.pad(weights, ((0, 0), (0, pad))).reshape(n_profiles, -1, size)
    x = np.pad(level_logs, (0, pad)).reshape(-1, size)
    bin_w = w.sum(axis=2)
    bin_x = (w * x[None]).sum(axis=2) / np.maximum(bin_w, 1e-300)
    p32 = profiles.astype(np.float32)
    t32 = theta.astype(np.float32)

    def expected(log_scale: float) -> float:
        total = 0.0
        for p, bw, bx in zip(p32, bin_w, bin_x):
            keep = bw > 1e-9
            lib = np.exp(log_scale + bx[keep]).astype(np.float32)
            pi = _nonzero_probability(lib[:, None] * p[None, :], t32)
            total += float(bw[keep] @ pi.mean(axis=1, dtype=np.float64))
        return total / float(bin_w.sum())

    lo, hi = math.log(1e-3), math.log(1e15)
    f_lo, f_hi = expected(lo) - density, expected(hi) - density
    if not f_lo < 0 < f_hi:
        raise ACTINNInputError(
            "density=%g cannot be reached with %d genes (possible range "
            "%.3g to %.3g)" %
            (density, profiles.shape[1], f_lo + density, f_hi + density))
    return math.exp(brentq(lambda x: expected(x) - density, lo, hi, xtol=1e-5))


def _build_model(entropy: int, n_genes: int, n_types: int, density: float,
                 proportions: np.ndarray) -> _Model:
    """Draw genes, programs and types; calibrate; tabulate thresholds."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(0,)))
    base = rng.normal(0.0, _GENE_LOG_SD, size=n_genes)
    theta = np.exp(
        rng.normal(math.log(_THETA_MEDIAN), _THETA_LOG_SD, size=n_genes))
    n_lineages = max(1, int(round(n_types / 3.0)))
    lineage = rng.permutation(np.arange(n_types) % n_lineages)
    lineage_lfc = [
        _program(rng, n_genes, _LINEAGE_FRACTION, _LINEAGE_LFC, _UP_PROBABILITY)
        for _ in range(n_lineages)
    ]
    type_lfc = [
        _program(rng, n_genes, _TYPE_FRACTION, _TYPE_LFC, _UP_PROBABILITY)
        for _ in range(n_types)
    ]
    cycling_lfc = _program(rng, n_genes, _CYCLING_FRACTION, _CYCLING_LFC, 1.0)
    cycling = rng.uniform(*_CYCLING_CELLS, size=n_types)
    library_offset = rng.normal(0.0, _TYPE_LIBRARY_LOG_SD, size=n_types)

    profiles = np.empty((2 * n_types, n_genes))
    for t in range(n_types):
        log_p = base + lineage_lfc[lineage[t]] + type_lfc[t]
        for state in (0, 1):
            lp = log_p + state * cycling_lfc
            p = np.exp(lp - lp.max())
            profiles[2 * t + state] = p / p.sum()

    n_profiles = 2 * n_types
    n_levels = int(
        np.clip(_TABLE_ENTRIES // (n_profiles * n_genes), 8, _MAX_LEVELS))
    lo = float(library_offset.min()) - 4.0 * _LIBRARY_LOG_SD
    hi = float(library_offset.max()) + 4.0 * _LIBRARY_LOG_SD
    step = (hi - lo) / (n_levels - 1)
    level_logs = lo + step * np.arange(n_levels)
    type_levels = _level_weights(library_offset, lo, step, n_levels)
    state_w = np.stack([1.0 - cycling, cycling], axis=1)  # (n_types, 2)
    weights = (proportions[:, None, None] * state_w[:, :, None] *
               type_levels[:, None, :]).reshape(n_profiles, n_levels)
    scale = _calibrate_scale(density, profiles, theta, weights, level_logs)
    libraries = scale * np.exp(level_logs)

    threshold = np.empty((n_profiles * n_levels, n_genes), dtype=np.uint8)
    for k in range(n_profiles):
        pi = _nonzero_probability(libraries[:, None] * profiles[k][None, :],
                                  theta)
        fixed = np.minimum(np.floor(pi * 4294967296.0), 4294967295.0)
        rows = slice(k * n_levels, (k + 1) * n_levels)
        threshold[rows] = fixed.astype(np.uint64) >> 24

    block_cells = int(max(1, min(1 << 16, _BLOCK_ENTRIES // n_genes)))
    median_lib = scale * math.exp(float(np.median(library_offset)))
    logger.info(
        "simulation model: %d genes, %d types in %d lineages, "
        "library scale %.4g (median library about %.0f counts), "
        "%d library levels, %d cells per block", n_genes, n_types, n_lineages,
        scale, median_lib, n_levels, block_cells)
    return _Model(entropy=entropy,
                  n_genes=n_genes,
                  n_types=n_types,
                  proportions=proportions,
                  cycling=cycling,
                  lineage=lineage,
                  profiles=profiles,
                  theta=theta,
                  library_offset=library_offset,
                  level_lo=lo,
                  level_step=step,
                  n_levels=n_levels,
                  scale=scale,
                  libraries=libraries,
                  threshold=threshold,
                  block_cells=block_cells,
                  profiles32=profiles.astype(np.float32),
                  theta32=theta.astype(np.float32),
                  libraries32=libraries.astype(np.float32))


def _positive_nb(rng: np.random.Generator, mu: np.ndarray,
                 theta: np.ndarray) -> np.ndarray:
    """Negative-binomial draws (mean ``mu``, shape ``theta``) given > 0.

    Means up to ``_MU_DIRECT`` by inversion of the CDF (most draws stop at
    1), larger ones by gamma-Poisson draws with the zeros drawn again.
    """
    mu = mu.astype(np.float32, copy=False)
    theta = theta.astype(np.float32, copy=False)
    out = np.ones(mu.size, dtype=np.float32)
    # Inversion: X = smallest k >= 1 with P(1 <= X <= k) >= v * P(X > 0).
    q = mu / (theta + mu)
    log_p0 = -theta * np.log1p(mu / theta)
    pk = np.exp(log_p0) * theta * q  # P(X = 1)
    v = rng.random(mu.size, dtype=np.float32) * -np.expm1(log_p0)
    direct = mu > _MU_DIRECT
    idx = np.flatnonzero((v > pk) & ~direct)
    # The few that exceed 1: continue the CDF in float64 until v is passed
    # (or the remaining tail is below float64 resolution).
    v, cum, pk = (v[idx].astype(np.float64), pk[idx].astype(np.float64),
                  pk[idx].astype(np.float64))
    t, q = theta[idx].astype(np.float64), q[idx].astype(np.float64)
    k = 1
    while idx.size:
        k += 1
        pk *= (k - 1 + t) / k * q
        cum += pk
        out[idx] = k
        live = np.flatnonzero((v > cum) & (pk > 1e-16 * cum))
        idx, v, cum, pk, t, q = (idx[live], v[live], cum[live], pk[live],
                                 t[live], q[live])
    idx = np.flatnonzero(direct)
    if idx.size:
        m, t = mu[idx].astype(np.float64), theta[idx].astype(np.float64)
        x = rng.poisson(rng.gamma(t, m / t))
        redo = np.flatnonzero(x == 0)
        while redo.size:
            x[redo] = rng.poisson(rng.gamma(t[redo], m[redo] / t[redo]))
            redo = redo[x[redo] == 0]
        out[idx] = x
    return out


def _nonzero_positions(mask: np.ndarray, n: int) -> np.ndarray:
    """``np.flatnonzero(mask[:n])``; ``mask`` has room for ``n // 8`` more.

    NumPy's ``nonzero`` on booleans takes a branch-free path when more than
    10 % of the entries are true, which is several times faster than its
    sparse path at the densities simulated here; padding the mask with
    enough true entries to pass 10 % (and dropping them after) is cheaper.
    """
    count = int(np.count_nonzero(mask[:n]))
    pad = min(n // 8, max(0, (n - 10 * count) // 9 + 1 + n // 100))
    mask[n:n + pad] = True
    flat = np.flatnonzero(mask[:n + pad])
    return flat[:flat.size - pad]


def _draw_block(model: _Model, block: int,
                n_cells: int) -> Tuple[np.ndarray, ...]:
    """Cells of one fixed block: (nnz per cell, indices, data, types)."""
    g = model.n_genes
    start = block * model.block_cells
    nb = min(model.block_cells, n_cells - start)
    rng = np.random.default_rng(
        np.random.SeedSequence(model.entropy, spawn_key=(1, block)))
    cum = np.cumsum(model.proportions)
    types = np.minimum(
        np.searchsorted(cum / cum[-1], rng.random(nb), side="right"),
        model.n_types - 1)
    state = (rng.random(nb) < model.cycling[types]).astype(np.int64)
    profile = 2 * types + state
    log_lib = (model.library_offset[types] +
               _LIBRARY_LOG_SD * rng.standard_normal(nb))
    level = np.clip(np.rint((log_lib - model.level_lo) / model.level_step), 0,
                    model.n_levels - 1).astype(np.int64)
    key = profile * model.n_levels + level

    # Which entries are non-zero: a 32-bit random number below the 32-bit
    # threshold T = floor(P(X > 0) * 2**32). The top 8 bits of T are in the
    # table and compared densely with a random byte; ties (1 in 256) are
    # settled with 24 more random bits against T computed afresh.
    n = nb * g
    rand = rng.bit_generator.random_raw((n + 7) // 8).view(np.uint8)[:n]
    high = np.take(model.threshold, key, axis=0).reshape(-1)
    mask = np.empty(n + n // 8, dtype=bool)
    np.less_equal(rand, high, out=mask[:n])
    flat = _nonzero_positions(mask, n)
    del mask
    tie = flat[rand[flat] == high[flat]]
    del rand, high
    if tie.size:
        rows, genes = np.divmod(tie, g)
        mu = (model.libraries[level[rows]] *
              model.profiles.reshape(-1)[profile[rows] * g + genes])
        exact = np.floor(
            _nonzero_probability(mu, model.theta[genes]) * 4294967296.0)
        low = np.minimum(exact, 4294967295.0).astype(np.int64) & 0xFFFFFF
        drop = tie[rng.integers(0, 1 << 24, size=tie.size) >= low]
        if drop.size:
            flat = np.delete(flat, np.searchsorted(flat, drop))

    # Cell and gene of each non-zero; flat is sorted, so cell by cell.
    bounds = np.searchsorted(flat, np.arange(nb + 1, dtype=np.int64) * g)
    nnz = np.diff(bounds)
    genes = flat - np.repeat(np.arange(nb, dtype=np.int64) * g, nnz)
    del flat
    # How much: negative-binomial counts given that they are positive.
    cell_library = np.repeat(model.libraries32[level], nnz)
    where = np.repeat(profile * g, nnz) + genes
    mu = cell_library * model.profiles32.reshape(-1)[where]
    data = _positive_nb(rng, mu, model.theta32[genes])
    return nnz, genes.astype(np.int32), data, types


def _blocks(model: _Model, n_cells: int,
            n_threads: int) -> Iterator[Tuple[np.ndarray, ...]]:
    """Yield the blocks in order, drawn by ``n_threads`` worker threads.

    The workers run ahead of the caller (which writes the file), so drawing
    and writing overlap; at most ``2 * n_threads + 1`` blocks are pending.
    """
    n_blocks = -(-n_cells // model.block_cells)
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        pending: deque = deque()
        b = 0
        try:
            while b < n_blocks or pending:
                while b < n_blocks and len(pending) < 2 * n_threads + 1:
                    pending.append(pool.submit(_draw_block, model, b, n_cells))
                    b += 1
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _pieces(blocks: Iterator[Tuple[np.ndarray, ...]],
            chunk_size: int) -> Iterator[Tuple[Tuple[np.ndarray, ...], bool]]:
    """Cut blocks at chunk boundaries: yield (piece, whether a chunk ends)."""
    have = 0
    for nnz, indices, data, types in blocks:
        ends = np.concatenate([[0], np.cumsum(nnz)])
        offset = 0
        while offset < nnz.size:
            take = min(chunk_size - have, nnz.size - offset)
            lo, hi = ends[offset], ends[offset + take]
            have += take
            yield ((nnz[offset:offset + take], indices[lo:hi], data[lo:hi],
                    types[offset:offset + take]), have == chunk_size)
            have %= chunk_size
            offset += take


def _write_elem(group: h5py.Group, key: str, value) -> None:
    try:
        from anndata.io import write_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import write_elem
    write_elem(group, key, value)


def _type_names(n_types: int) -> List[str]:
    width = max(2, len(str(n_types - 1)))
    return ["Type %0*d" % (width, t) for t in range(n_types)]


def _check_arguments(n_cells: int, n_genes: int, n_types: int, density: float,
                     chunk_size: int,
                     type_proportions: Optional[Sequence[float]]) -> np.ndarray:
    for name, value in (("n_cells", n_cells), ("n_genes", n_genes),
                        ("n_types", n_types), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ACTINNInputError("%s must be an integer, got %r" %
                                   (name, value))
        if value < 1:
            raise ACTINNInputError("%s must be at least 1, got %d" %
                                   (name, value))
    if n_genes >= 2**31 - 1:
        raise ACTINNInputError("n_genes=%d does not fit 32-bit gene indices" %
                               n_genes)
    try:
        ok = 0.0 < float(density) < 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ACTINNInputError("density must be between 0 and 1, got %r" %
                               (density,))
    if type_proportions is None:
        return _default_proportions(int(n_types))
    try:
        w = np.asarray(type_proportions, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ACTINNInputError("type_proportions must be numbers, got %r" %
                               (type_proportions,)) from None
    if w.size != n_types:
        raise ACTINNInputError(
            "type_proportions has %d entries but n_types is %d" %
            (w.size, n_types))
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ACTINNInputError(
            "type_proportions must be non-negative, finite and not all "
            "zero, got %s" % (list(w),))
    return w / w.sum()


def simulate_counts(path: Union[str, os.PathLike],
                    n_cells: int = 10_000,
                    n_genes: int = 20_000,
                    n_types: int = 10,
                    density: float = 0.065,
                    seed: Optional[int] = 0,
                    chunk_size: int = 50_000,
                    overwrite: bool = False,
                    type_proportions: Optional[Sequence[float]] = None,
                    progress: Optional[Callable[[int], None]] = None,
                    n_threads: Optional[int] = None) -> pathlib.Path:
    """Write a synthetic labelled scRNA-seq count matrix to an ``.h5ad`` file.

    The counts follow the negative-binomial model described in
    :mod:`deepchem_actinn.simulate` (log-normal gene means, per-type and
    shared lineage gene programs, log-normal library sizes, a density
    calibrated to ``density``). Worker threads draw fixed blocks of cells
    (about ``2**23`` cells x genes each) while the calling thread appends
    them to the file with h5py, so memory use stays bounded (a few blocks,
    the model's tables, and one label per cell) however many cells are
    asked for. The file is written to a temporary file in the same
    directory and moved into place at the end; on error the temporary file
    is removed.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.h5ad`` file to write. Its directory must exist.
    n_cells, n_genes : int
        Shape of the matrix (cells x genes).
    n_types : int
        Number of cell types.
    density : float
        Target fraction of non-zero entries, in (0, 1). The realised density
        is within about 1 % of it, plus sampling noise.
    seed : int or None
        Seed of the ``numpy.random.SeedSequence`` that everything is drawn
        from. The same seed and parameters give the same file whatever
        ``chunk_size`` and ``n_threads`` are. ``None`` draws fresh entropy
        (recorded in ``uns['simulate_counts']['entropy']``).
    chunk_size : int
        Cells per step: ``progress`` is called, and a debug message logged,
        each time another ``chunk_size`` cells are in the file. Generation
        and writing run in blocks no bigger than about ``2**23 / n_genes``
        cells, so this does not change the memory needed, or the file.
    overwrite : bool
        Replace ``path`` if it exists; otherwise an existing ``path`` is an
        error.
    type_proportions : sequence of float, optional
        Relative frequency of each type (normalised to sum to 1). The
        default falls geometrically from ``Type 00`` (most common) to the
        last type, ``min(20, 2 * n_types)`` times rarer.
    progress : callable, optional
        Called with the number of cells written so far after every chunk
        (and after the last cell).
    n_threads : int, optional
        Worker threads drawing blocks of cells while the calling thread
        writes; default ``min(2, CPUs)``. The output does not depend on it.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ACTINNInputError
        If ``path`` exists and ``overwrite`` is false, its directory does
        not exist, or an argument is out of range.

    Notes
    -----
    The file follows the AnnData on-disk format: ``X`` is a CSR matrix
    (``data`` float32 integer counts, ``indices`` int32, ``indptr`` int64,
    sorted indices), ``obs`` has the categorical ``cell_type`` and
    ``obs_names`` ``cell_0000001``, ...; ``var_names`` are ``GENE00001``,
    ...; ``uns['simulate_counts']`` records the parameters, the type
    proportions and the lineage of each type (types of one lineage share
    a gene program and are the hard pairs to tell apart).

    Examples
    --------
    >>> import os, tempfile
    >>> import anndata
    >>> from deepchem_actinn.simulate import simulate_counts
    >>> path = simulate_counts(os.path.join(tempfile.mkdtemp(), "sim.h5ad"),
    ...                        n_cells=200, n_genes=100, n_types=3, seed=1)
    >>> adata = anndata.read_h5ad(path)
    >>> adata.shape
    (200, 100)
    >>> adata.obs_names[0], adata.var_names[0]
    ('cell_0000001', 'GENE00001')
    >>> sorted(adata.obs["cell_type"].cat.categories)
    ['Type 00', 'Type 01', 'Type 02']
    >>> bool((adata.X.data == adata.X.data.round()).all())
    True
    """
    path = pathlib.Path(path)
    proportions = _check_arguments(n_cells, n_genes, n_types, density,
                                   chunk_size, type_proportions)
    n_cells, n_genes, n_types = int(n_cells), int(n_genes), int(n_types)
    chunk_size = int(chunk_size)
    if path.is_dir():
        raise ACTINNInputError("%s is a directory, not a file to write" % path)
    if path.exists() and not overwrite:
        raise ACTINNInputError(
            "%s already exists; pass overwrite=True to replace it" % path)
    if not path.parent.is_dir():
        raise ACTINNInputError("directory %s does not exist" % path.parent)
    if n_threads is None:
        n_threads = min(2, os.cpu_count() or 1)
    if (isinstance(n_threads, bool) or
            not isinstance(n_threads, (int, np.integer)) or n_threads < 1):
        raise ACTINNInputError("n_threads must be a positive integer, got %r" %
                               (n_threads,))
    if seed is not None and (isinstance(seed, bool) or
                             not isinstance(seed,
                                            (int, np.integer)) or seed < 0):
        raise ACTINNInputError("seed must be a non-negative integer or None, "
                               "got %r" % (seed,))
    entropy = int(np.random.SeedSequence(seed).entropy)  # type: ignore

    model = _build_model(entropy, n_genes, n_types, float(density), proportions)
    fd, tmp = tempfile.mkstemp(dir=path.parent,
                               prefix="." + path.name + ".",
                               suffix=".tmp")
    os.close(fd)
    try:
        nnz_total = _write(tmp, model, n_cells, chunk_size, n_threads,
                           float(density), seed, progress)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 -> usual file mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    logger.info("wrote %s: %d cells x %d genes, %d non-zeros (density %.4f)",
                path, n_cells, n_genes, nnz_total,
                nnz_total / (n_cells * float(n_genes)))
    return path


def _write(tmp: str, model: _Model, n_cells: int, chunk_size: int,
           n_threads: int, density: float, seed: Optional[int],
           progress: Optional[Callable[[int], None]]) -> int:
    """Write the whole AnnData file to ``tmp``; return the non-zero count."""
    import pandas as pd
    n_genes = model.n_genes
    labels = np.empty(n_cells,
                      dtype=np.int16 if model.n_types < 2**15 else np.int32)
    with h5py.File(tmp, "w") as f:
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"
        x = f.create_group("X")
        x.attrs["encoding-type"] = "csr_matrix"
        x.attrs["encoding-version"] = "0.1.0"
        x.attrs["shape"] = np.array([n_cells, n_genes], dtype=np.int64)
        data = x.create_dataset("data",
                                shape=(0,),
                                maxshape=(None,),
                                dtype=np.float32,
                                chunks=(_H5_CHUNK,))
        indices = x.create_dataset("indices",
                                   shape=(0,),
                                   maxshape=(None,),
                                   dtype=np.int32,
                                   chunks=(_H5_CHUNK,))
        indptr = x.create_dataset("indptr",
                                  shape=(n_cells + 1,),
                                  maxshape=(None,),
                                  dtype=np.int64,
                                  chunks=(min(n_cells + 1, _H5_CHUNK),))
        indptr[0] = 0
        # X/data and X/indices grow geometrically from the expected size
        # (unwritten HDF5 chunks take no space) and are cut to size at the end.
        capacity = 0
        done, total = 0, 0
        for (nnz, idx, val,
             types), chunk_end in _pieces(_blocks(model, n_cells, n_threads),
                                          chunk_size):
            m, end = nnz.size, total + val.size
            if end > capacity:
                expected = density * n_genes * n_cells * 1.02
                capacity = int(max(end, 1.25 * capacity, expected))
                data.resize((capacity,))
                indices.resize((capacity,))
            data[total:end] = val
            indices[total:end] = idx
            indptr[done + 1:done + m + 1] = total + np.cumsum(nnz)
            labels[done:done + m] = types
            total, done = end, done + m
            if chunk_end or done == n_cells:
                logger.debug("wrote %d of %d cells", done, n_cells)
                if progress is not None:
                    progress(done)
        data.resize((total,))
        indices.resize((total,))

        names = _type_names(model.n_types)
        width = max(7, len(str(n_cells)))
        obs = pd.DataFrame(
            {"cell_type": pd.Categorical.from_codes(labels, categories=names)},
            index=pd.Index(
                ["cell_%0*d" % (width, i + 1) for i in range(n_cells)]))
        del labels
        _write_elem(f, "obs", obs)
        del obs
        gwidth = max(5, len(str(n_genes)))
        _write_elem(
            f, "var",
            pd.DataFrame(index=pd.Index(
                ["GENE%0*d" % (gwidth, j + 1) for j in range(n_genes)])))
        params = {
            "entropy": str(model.entropy),
            "n_types": model.n_types,
            "density_target": density,
            "library_scale": model.scale,
            "type_names": np.array(names, dtype=object),
            "type_proportions": model.proportions,
            "type_lineage": model.lineage.astype(np.int64),
            "cycling_fraction": model.cycling,
        }
        if seed is not None:
            params["seed"] = int(seed)
        _write_elem(f, "uns", {"simulate_counts": params})
        for key in ("obsm", "varm", "obsp", "varp", "layers"):
            _write_elem(f, key, {})
    return total
