"""Benchmark data: the bundled Tabula Muris split and synthetic splits.

Every size ends up as the same four files in ``benchmarks/.work/data/<size>/``
so every tool reads the same thing:

* ``reference.h5ad`` - raw counts (CSR, float32), ``obs['cell_type']``;
* ``reference_labels.txt`` - ``cell id<TAB>cell type``;
* ``query.h5ad`` - raw counts, no labels in ``obs``;
* ``query_labels.txt`` - the truth, read only by the harness.

Synthetic sizes: :func:`deepchem_actinn.simulate.simulate_counts` writes
``N`` cells (one model: same genes, programs and types throughout; cell
types drawn independently per cell), and the file is split by cell ranges:
the first 80 % is the reference, the rest the query. (Two files from the
same seed would share cells, so the split is of one file.) The split is
copied chunk by chunk with h5py, so a million cells never need to fit in
memory.
"""
import json
import os
import shutil
import time
from pathlib import Path
from typing import Dict

import h5py
import numpy as np

REFERENCE_FRACTION = 0.8
_COPY_CHUNK = 1 << 24  # non-zeros copied at a time (64 MiB of float32)


def _write_csr_range(src: h5py.Group, dst: h5py.File, start: int, stop: int,
                     n_genes: int) -> None:
    """Rows ``start:stop`` of the CSR group ``src`` as ``dst['X']``."""
    indptr = src["indptr"][start:stop + 1].astype(np.int64)
    lo, hi = int(indptr[0]), int(indptr[-1])
    x = dst.create_group("X")
    x.attrs["encoding-type"] = "csr_matrix"
    x.attrs["encoding-version"] = "0.1.0"
    x.attrs["shape"] = np.array([stop - start, n_genes], dtype=np.int64)
    nnz = hi - lo
    chunks = (min(max(nnz, 1), 1 << 18),)
    data = x.create_dataset("data",
                            shape=(nnz,),
                            dtype=np.float32,
                            chunks=chunks)
    indices = x.create_dataset("indices",
                               shape=(nnz,),
                               dtype=np.int32,
                               chunks=chunks)
    for a in range(lo, hi, _COPY_CHUNK):
        b = min(hi, a + _COPY_CHUNK)
        data[a - lo:b - lo] = src["data"][a:b].astype(np.float32, copy=False)
        indices[a - lo:b - lo] = src["indices"][a:b].astype(np.int32,
                                                            copy=False)
    x.create_dataset("indptr", data=indptr - lo)


def _write_part(source: Path, target: Path, start: int, stop: int, obs, var,
                with_labels: bool) -> None:
    import anndata
    from anndata.io import write_elem
    part_obs = obs.iloc[start:stop].copy()
    if not with_labels:
        part_obs = part_obs.drop(columns=list(part_obs.columns))
    tmp = target.with_name("." + target.name + ".tmp")
    with h5py.File(source, "r") as src, h5py.File(tmp, "w") as dst:
        dst.attrs["encoding-type"] = "anndata"
        dst.attrs["encoding-version"] = "0.1.0"
        n_genes = int(src["X"].attrs["shape"][1])
        _write_csr_range(src["X"], dst, start, stop, n_genes)
        write_elem(dst, "obs", part_obs)
        write_elem(dst, "var", var)
        for key in ("uns", "obsm", "varm", "obsp", "varp", "layers"):
            write_elem(dst, key, {})
    os.replace(tmp, target)
    del anndata


def _write_labels(path: Path, ids, labels) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    with open(tmp, "w") as handle:
        for cell, label in zip(ids, labels):
            handle.write("%s\t%s\n" % (cell, label))
    os.replace(tmp, path)


def split_h5ad(source: Path, out_dir: Path, n_reference: int) -> Dict:
    """Split a labelled ``.h5ad`` by cell ranges into the four files."""
    import anndata
    backed = anndata.read_h5ad(source, backed="r")
    try:
        obs, var = backed.obs.copy(), backed.var.copy()
        n_cells, n_genes = backed.shape
    finally:
        backed.file.close()
    labels = obs["cell_type"].astype(str).to_numpy()
    ids = obs.index.astype(str).to_numpy()
    _write_part(source, out_dir / "reference.h5ad", 0, n_reference, obs, var,
                True)
    _write_part(source, out_dir / "query.h5ad", n_reference, n_cells, obs, var,
                False)
    _write_labels(out_dir / "reference_labels.txt", ids[:n_reference],
                  labels[:n_reference])
    _write_labels(out_dir / "query_labels.txt", ids[n_reference:],
                  labels[n_reference:])
    return {
        "n_reference": int(n_reference),
        "n_query": int(n_cells - n_reference),
        "n_genes": int(n_genes),
        "n_types": int(len(set(labels))),
    }


def prepare_synthetic(n_cells: int,
                      out_dir: Path,
                      n_genes: int = 20_000,
                      n_types: int = 10,
                      seed: int = 0,
                      log=print) -> Dict:
    """Simulate ``n_cells`` and split them 80/20 into reference and query."""
    from deepchem_actinn.simulate import simulate_counts
    meta_path = out_dir / "meta.json"
    wanted = {
        "kind": "synthetic",
        "n_cells": int(n_cells),
        "n_genes": int(n_genes),
        "n_types": int(n_types),
        "seed": int(seed),
        "reference_fraction": REFERENCE_FRACTION
    }
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in wanted} == wanted:
            return meta
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    full = out_dir / "full.h5ad"
    t0 = time.perf_counter()
    log("simulating %d cells x %d genes, %d types, seed %d -> %s" %
        (n_cells, n_genes, n_types, seed, full))
    simulate_counts(full,
                    n_cells=n_cells,
                    n_genes=n_genes,
                    n_types=n_types,
                    seed=seed)
    t1 = time.perf_counter()
    n_reference = int(round(REFERENCE_FRACTION * n_cells))
    meta = dict(wanted)
    meta.update(split_h5ad(full, out_dir, n_reference))
    full.unlink()
    meta["simulate_s"] = round(t1 - t0, 1)
    meta["split_s"] = round(time.perf_counter() - t1, 1)
    meta["description"] = (
        "synthetic (deepchem_actinn.simulate, seed %d): %d cells x %d genes, "
        "%d types; first %d cells reference, last %d query" %
        (seed, n_cells, n_genes, n_types, meta["n_reference"], meta["n_query"]))
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def prepare_tabula_muris(out_dir: Path, log=print) -> Dict:
    """The bundled sample (ACTINN HDF5) as the four benchmark files."""
    from deepchem_actinn.datasets import load_tabula_muris_sample
    from deepchem_actinn.io.writers import write_h5ad
    meta_path = out_dir / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("kind") == "tabula_muris":
            return meta
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    log("converting the bundled Tabula Muris sample -> %s" % out_dir)
    # Gene names as in the files (mixed-case mouse symbols); every tool
    # reads the same names.
    train, test = load_tabula_muris_sample(upper_case_genes=False)
    import scipy.sparse as sp
    for adata in (train, test):
        if not sp.issparse(adata.X):
            adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
        else:
            adata.X = adata.X.tocsr().astype(np.float32)
    truth = test.obs["cell_type"].astype(str).to_numpy()
    test.obs = test.obs.drop(columns=list(test.obs.columns))
    write_h5ad(train, out_dir / "reference.h5ad")
    write_h5ad(test, out_dir / "query.h5ad")
    _write_labels(out_dir / "reference_labels.txt", train.obs_names,
                  train.obs["cell_type"].astype(str))
    _write_labels(out_dir / "query_labels.txt", test.obs_names, truth)
    meta = {
        "kind": "tabula_muris",
        "n_reference": int(train.n_obs),
        "n_query": int(test.n_obs),
        "n_genes": int(train.n_vars),
        "n_types": int(train.obs["cell_type"].nunique()),
        "description": "bundled Tabula Muris sample (Smart-seq2): %d "
                       "reference and %d query cells, %d genes, %d types" %
                       (train.n_obs, test.n_obs, train.n_vars,
                        train.obs["cell_type"].nunique()),
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta
