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
of block ``b`` from ``(1, b)``, and the one count given to a cell drawn
without any (a small simulation draws some; ACTINN refuses them) from
``(2, cell)``. Blocks have a fixed size (``2**23 //
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
import os
import pathlib
from typing import Callable, List, Optional, Sequence, Tuple, Union

import h5py
import numpy as np

from deepchem_actinn.count_model import (CountModel, build_model, chunk_pieces,
                                         default_proportions, draw_blocks)
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io.output import atomic_output

logger = logging.getLogger(__name__)

__all__ = ["simulate_counts"]

_H5_CHUNK = 1 << 18  # elements per HDF5 chunk (1 MiB: fits h5py's cache)


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
        return default_proportions(int(n_types))
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

    model = build_model(entropy, n_genes, n_types, float(density), proportions)
    # existence was checked above, with this function's own messages
    with atomic_output(path, overwrite=True) as tmp:
        nnz_total = _write(str(tmp), model, n_cells, chunk_size, n_threads,
                           float(density), seed, progress)
    logger.info("wrote %s: %d cells x %d genes, %d non-zeros (density %.4f)",
                path, n_cells, n_genes, nnz_total,
                nnz_total / (n_cells * float(n_genes)))
    return path


def _no_empty_cells(model: CountModel, first: int, nnz: np.ndarray,
                    idx: np.ndarray, val: np.ndarray) -> Tuple[np.ndarray, ...]:
    """A piece of cells (``first`` the index of its first) in which a cell
    drawn without any count gets one count in one gene: ACTINN refuses
    empty cells, and a small simulation (few genes, low depth) draws some.
    The gene comes from the stream ``(2, cell)``, so the file still does
    not depend on the chunks."""
    empty = np.flatnonzero(nnz == 0)
    if not len(empty):
        return nnz, idx, val
    genes = [
        np.random.default_rng(
            np.random.SeedSequence(model.entropy,
                                   spawn_key=(2, first + int(i)))).integers(
                                       model.n_genes) for i in empty
    ]
    at = np.concatenate([[0], np.cumsum(nnz)])[empty]
    nnz = nnz.copy()
    nnz[empty] = 1
    return (nnz, np.insert(idx, at, np.asarray(genes, idx.dtype)),
            np.insert(val, at, np.ones(len(empty), val.dtype)))


def _write(tmp: str, model: CountModel, n_cells: int, chunk_size: int,
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
        for (nnz, idx, val, types), chunk_end in chunk_pieces(
                draw_blocks(model, n_cells, n_threads), chunk_size):
            nnz, idx, val = _no_empty_cells(model, done, nnz, idx, val)
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
