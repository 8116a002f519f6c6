"""The generative model behind :func:`deepchem_actinn.simulate.simulate_counts`.

Cell types are built from gene programmes over heavy-tailed gene means;
each cell draws a log-normal library size, and its counts are negative
binomial (see :mod:`deepchem_actinn.simulate` for the model in full). This
module builds that model from a seed and draws cells from it block by block,
in several threads; writing them to disk is :mod:`deepchem_actinn.simulate`'s
job.
"""
import logging
import math
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Tuple

import numpy as np

from deepchem_actinn.errors import ACTINNInputError, counted

logger = logging.getLogger(__name__)

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


@dataclass
class CountModel:
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


def default_proportions(n_types: int) -> np.ndarray:
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


def build_model(entropy: int, n_genes: int, n_types: int, density: float,
                proportions: np.ndarray) -> CountModel:
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
        "simulation model: %s, %s in %s, library scale %.4g (median library "
        "about %.0f counts), %d library levels, %d cells per block",
        counted(n_genes, "gene"), counted(n_types, "type"),
        counted(n_lineages, "lineage"), scale, median_lib, n_levels,
        block_cells)
    return CountModel(entropy=entropy,
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


def _draw_block(model: CountModel, block: int,
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


def draw_blocks(model: CountModel, n_cells: int,
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


def chunk_pieces(
        blocks: Iterator[Tuple[np.ndarray, ...]],
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
