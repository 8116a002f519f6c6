"""Parts of an AnnData (``.h5ad``) file read alone, its matrices on disk.

The names of its cells and genes (:func:`h5ad_cell_ids`,
:func:`h5ad_var_names`, :func:`h5ad_n_cells`), its ``obs`` table
(:func:`h5ad_obs`) and its UMAP (:func:`h5ad_umap`), read with h5py and
anndata's element reader; and a sparse matrix of float16 values, which SciPy
does not take, read as float32, whole (:func:`widen_half_sparse`) or by rows
(:class:`HalfCSR`). The readers of :mod:`~deepchem_actinn.io.h5ad` and
:mod:`~deepchem_actinn.io.h5ad_rows` are built on these.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Tuple

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io._common import NoDirectAccess, as_str_array
from deepchem_actinn.io.h5ad_layout import (DAMAGE_ERRORS, SPARSE, DamagedH5ad,
                                            check_layout, damage_refused,
                                            damaged_h5ad)
from deepchem_actinn.types import PathLike

try:  # anndata >= 0.11
    from anndata.io import read_elem
except ImportError:  # pragma: no cover - older anndata
    from anndata.experimental import read_elem

logger = logging.getLogger(__name__)


def half_sparse(elem) -> bool:
    """Whether an h5ad element is a sparse matrix of float16 values, which
    SciPy does not take (every float16 is exact as float32: whole numbers
    up to 2048 and the even ones up to 4096, and so on)."""
    return (isinstance(elem, h5py.Group) and
            elem.attrs.get("encoding-type") in SPARSE and
            isinstance(elem.get("data"), h5py.Dataset) and
            elem["data"].dtype == np.float16)


def widen_half_sparse(read, name: str, elem, iospec):
    """Read an h5ad element as anndata does, a sparse float16 matrix as
    float32 (for :func:`anndata.experimental.read_dispatched`)."""
    if not half_sparse(elem):
        return read(elem)
    logger.info("%s: read float16 values as float32", name)
    kind = sp.csr_matrix if iospec.encoding_type == "csr_matrix" else \
        sp.csc_matrix
    return kind((elem["data"][:].astype(
        np.float32), elem["indices"][:], elem["indptr"][:]),
                shape=tuple(int(n) for n in elem.attrs["shape"]))


class HalfCSR:
    """Rows of a CSR matrix of float16 values in an h5ad file, as float32
    (SciPy has no sparse float16; every float16 value is exact as
    float32)."""

    def __init__(self, group: h5py.Group):
        self._group = group
        self.shape = tuple(int(n) for n in group.attrs["shape"])

    def __getitem__(self, rows: slice) -> sp.csr_matrix:
        start, stop, _ = rows.indices(self.shape[0])
        indptr = self._group["indptr"][start:stop + 1]
        lo, hi = int(indptr[0]), int(indptr[-1])
        return sp.csr_matrix((self._group["data"][lo:hi].astype(
            np.float32), self._group["indices"][lo:hi], indptr - lo),
                             shape=(stop - start, self.shape[1]))


def index_element(group) -> h5py.Dataset:
    """The index array of an h5ad dataframe group (obs or var): a string
    dataset, or the values of a ``nullable-string-array`` (as anndata writes
    a pandas 3 string index) that has no missing name."""
    layout = "its obs or var table is not in anndata's usual layout"
    if not isinstance(group, h5py.Group):
        raise NoDirectAccess(layout)
    elem = group.get(group.attrs.get("_index", "_index"))
    if isinstance(elem, h5py.Group) and \
            elem.attrs.get("encoding-type") == "nullable-string-array":
        mask = elem.get("mask")
        if isinstance(mask, h5py.Dataset) and np.asarray(mask[()]).any():
            raise NoDirectAccess("its obs or var names have missing values")
        elem = elem.get("values")
    if not isinstance(elem, h5py.Dataset) or elem.ndim != 1:
        raise NoDirectAccess(layout)
    return elem


def index_names(group) -> np.ndarray:
    """The index of an h5ad dataframe group, as str: names stored as
    numbers (integers, as pandas writes a default index) as their decimal
    strings, as anndata reads them."""
    elem = index_element(group)
    if elem.dtype.kind in "iufb":
        return as_str_array(elem[()])
    if elem.attrs.get("encoding-type") is None:  # a nullable array's values
        if h5py.check_string_dtype(elem.dtype) is None:
            raise NoDirectAccess("its obs or var names are %s values" %
                                 elem.dtype)
        return as_str_array(elem.asstr()[()])
    return as_str_array(read_elem(elem))


def var_table(group: h5py.Group) -> pd.DataFrame:
    """The var table of an h5ad file; only the names if it won't decode."""
    names = index_names(group)
    try:
        var = read_elem(group)
    except Exception as err:  # an optional extra: any decoding failure
        logger.debug("cannot decode %s (%s): keeping the names only",
                     group.name, err)
        return pd.DataFrame(index=names)
    if len(var) != len(names):
        return pd.DataFrame(index=names)
    var.index = pd.Index(names, dtype=object)
    return var


def h5ad_cell_ids(path: Path) -> np.ndarray:
    """The obs names of an h5ad file, without reading its matrices."""
    with h5py.File(path, "r") as f:
        return index_names(f.get("obs"))


def h5ad_var_names(path: PathLike, raw: bool = False) -> np.ndarray:
    """The var names of an h5ad file (``raw``: of its ``.raw``), as anndata
    reads them, without reading its matrices."""
    with h5py.File(path, "r") as f:
        return index_names(f.get("raw/var" if raw else "var"))


def h5ad_obs(path: Path) -> pd.DataFrame:
    """The ``obs`` table of an h5ad file, read alone with anndata's element
    reader (its matrices and layers stay on disk)."""
    with damaged_h5ad(path), h5py.File(path, "r") as f:
        if "obs" not in f:
            raise ACTINNInputError("%s: no obs table to take labels from" %
                                   path)
        check_layout(f)
        return read_elem(f["obs"])


def h5ad_umap(path: Path) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The cell ids and ``obsm['X_umap']`` of an h5ad file (its matrices
    stay on disk), or None when it holds no UMAP."""
    with damaged_h5ad(path), h5py.File(path, "r") as f:
        obsm = f.get("obsm")
        if not isinstance(obsm, h5py.Group) or "X_umap" not in obsm:
            return None
        try:
            names = index_names(f.get("obs"))
        except NoDirectAccess as err:
            raise DamagedH5ad(str(err)) from None
        try:
            umap = read_elem(obsm["X_umap"])
        except DAMAGE_ERRORS as err:
            raise damage_refused(path, err, "obsm/X_umap") from None
        return names, np.asarray(umap, dtype=float)


def h5ad_n_cells(path: Path) -> int:
    """The number of cells of an h5ad file, without reading them."""
    with h5py.File(path, "r") as f:
        return int(index_element(f.get("obs")).shape[0])
