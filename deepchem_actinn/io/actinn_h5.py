"""ACTINN's HDF5 files: a pandas DataFrame of genes x cells, read unpickled.

The original ACTINN scripts store counts with ``DataFrame.to_hdf(path,
"dge")`` in pandas' "fixed" format: a group holding ``axis0`` (the cell
ids), ``axis1`` (the gene names) and, per dtype block ``i``,
``block{i}_items`` (its cells) and ``block{i}_values`` (its counts). These
are plain HDF5 arrays, read here with h5py. pandas stores columns of Python
objects as pickles, and unpickling runs code hidden in the file; such a
block (or index) is refused unread, so a downloaded file can never run
code.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, NamedTuple, Union

import anndata
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.io._common import (HDF5Rows, as_str_array, existing,
                                        make_anndata)
from deepchem_actinn.types import PathLike

# Index kinds pandas stores as plain arrays.
_PLAIN_KINDS = ("string", "integer", "float", "unicode")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Block(NamedTuple):
    positions: np.ndarray  # the block's cells, as rows of the result
    values: Union[h5py.Dataset, np.ndarray]
    transposed: bool  # on disk genes x cells (what pandas writes)
    run: bool  # positions are one ascending run of cells


class ActinnH5Rows(HDF5Rows):
    """Row (cell) access to a pandas "fixed" DataFrame, genes x cells.

    Parameters
    ----------
    path: pathlib.Path
        The file.
    key: str, default "dge"
        The HDF5 key of the DataFrame.
    """

    def __init__(self, path: Path, key: str = "dge"):
        super().__init__(path)
        self.key = key

    def _refuse(self, why: str) -> ACTINNInputError:
        return ACTINNInputError("%s: key %r %s" % (self.path, self.key, why))

    def _plain(self, ds, name: str, numeric: bool = False) -> h5py.Dataset:
        """``ds`` if it is a plain array; objects are refused unread."""
        if not isinstance(ds, h5py.Dataset):
            raise self._refuse("has no %s array" % name)
        pickled = (ds.dtype.kind == "O" or
                   h5py.check_vlen_dtype(ds.dtype) is not None or
                   _text(ds.attrs.get("CLASS", "")) == "VLARRAY" or
                   _text(ds.attrs.get("kind", "string")) not in _PLAIN_KINDS)
        if pickled:
            raise self._refuse(
                "stores Python objects in %s (pandas pickles them; reading "
                "could run code hidden in the file): refused unread" % name)
        if numeric and ds.dtype.kind not in "biuf":
            raise self._refuse("holds non-numeric values (%s in %s)" %
                               (ds.dtype, name))
        return ds

    def _open(self, f: h5py.File) -> None:
        group = f.get(self.key)
        if not isinstance(group, h5py.Group):
            keys = [k for k in f.keys() if isinstance(f.get(k), h5py.Group)]
            raise ACTINNInputError(
                "%s: no key %r in this HDF5 file (keys: %s)" %
                (self.path, self.key, examples(keys) or "none"))
        attrs = group.attrs
        kind = _text(attrs.get("pandas_type", ""))
        if kind != "frame":
            raise self._refuse(
                "holds a pandas %r, not a DataFrame in the fixed format "
                "(DataFrame.to_hdf(path, key, format='fixed'))" % kind)
        for axis in ("axis0", "axis1"):
            if _text(attrs.get(axis + "_variety", "regular")) != "regular":
                raise self._refuse("has a multi-level %s" % axis)
        n_blocks = int(attrs.get("nblocks", 0))
        # pandas writes an empty index of objects as a pickle too; the
        # blocks tell it apart, and then it stays unread: no blocks, no
        # cells; blocks all stand-ins for empty arrays, no genes
        no_genes = n_blocks > 0 and all(
            "value_type" in getattr(group.get("block%d_values" %
                                              i), "attrs", {})
            for i in range(n_blocks))
        self.cell_ids = self._axis(group, "axis0", empty=n_blocks == 0)
        self.gene_names = self._axis(group, "axis1", empty=no_genes)
        self.var = pd.DataFrame(index=self.gene_names)
        self.shape = (len(self.cell_ids), len(self.gene_names))
        self._blocks = self._read_blocks(group, n_blocks)

    def _axis(self, group: h5py.Group, name: str, empty: bool) -> np.ndarray:
        """The names of an axis; none, unread, when the blocks say it is
        ``empty`` and pandas stored it as objects (as it does empty)."""
        ds = group.get(name)
        if (empty and isinstance(ds, h5py.Dataset) and
                _text(ds.attrs.get("kind", "")) == "object"):
            return as_str_array([])
        return as_str_array(self._plain(ds, name)[:])

    def _read_blocks(self, group: h5py.Group, n_blocks: int) -> List[_Block]:
        cells = pd.Index(self.cell_ids, dtype=object)
        blocks = []
        for i in range(n_blocks):
            items_ds = self._plain(group.get("block%d_items" % i),
                                   "block%d_items" % i)
            values = self._plain(group.get("block%d_values" % i),
                                 "block%d_values" % i,
                                 numeric=True)
            items = as_str_array(items_ds[:])
            transposed = bool(values.attrs.get("transposed", False))
            if "value_type" in values.attrs:  # pandas' stand-in: no genes
                values = self._no_genes(values, len(items), i)
                transposed = False
            if n_blocks == 1 and np.array_equal(items, self.cell_ids):
                positions = np.arange(len(items))
            elif not cells.is_unique:
                raise self._refuse(
                    "repeats cell ids, e.g. %s" %
                    examples(pd.unique(cells[cells.duplicated()])))
            else:
                positions = cells.get_indexer(items)
            stored = values.shape[::-1] if transposed else values.shape
            if (positions <
                    0).any() or tuple(stored) != (len(items), self.shape[1]):
                raise self._refuse("has a block%d that does not fit its "
                                   "axes" % i)
            run = bool(np.all(np.diff(positions) == 1))
            blocks.append(_Block(positions, values, transposed, run))
        covered = sum(len(b.positions) for b in blocks)
        if covered != self.shape[0]:
            raise self._refuse("has values for %d of its %d cells" %
                               (covered, self.shape[0]))
        return blocks

    def _no_genes(self, values: h5py.Dataset, n_items: int,
                  i: int) -> np.ndarray:
        """The values of a block of cells without genes, which pandas
        stores as a stand-in array and the type of the values."""
        try:
            dtype = np.dtype(_text(values.attrs["value_type"]))
        except TypeError:
            dtype = np.dtype(object)
        if self.shape[1] != 0 or dtype.kind not in "biuf":
            raise self._refuse("has a block%d that does not fit its axes" % i)
        return np.zeros((n_items, 0), dtype=dtype)

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        dtype = (np.result_type(*[b.values.dtype for b in self._blocks])
                 if self._blocks else np.dtype(np.int64))
        out = np.zeros((stop - start, self.shape[1]), dtype=dtype)
        for block in self._blocks:
            pos = block.positions
            if block.run:
                lo, hi = np.searchsorted(pos, [start, stop])
                if lo < hi:
                    out[pos[lo] - start:pos[hi - 1] - start + 1] = \
                        self._read(block, slice(lo, hi))
                continue
            cols = np.flatnonzero((pos >= start) & (pos < stop))
            if cols.size:
                out[pos[cols] - start] = self._read(block, cols)
        return sp.csr_matrix(out)

    @staticmethod
    def _read(block: _Block, items) -> np.ndarray:
        """Cells ``items`` of a block, as rows."""
        if block.transposed:
            return block.values[:, items].T
        return block.values[items, :]


def read_actinn_h5(path: PathLike, *, key: str = "dge") -> anndata.AnnData:
    """Read a pandas HDF5 file as written by the original ACTINN scripts.

    The file is read as plain HDF5 arrays: nothing in it is unpickled, and
    a DataFrame holding Python objects is refused unread.

    Parameters
    ----------
    path: str or os.PathLike
        The ``.h5`` file: a DataFrame of genes (index) x cells (columns),
        stored in pandas' fixed format.
    key: str, default "dge"
        The HDF5 key of the DataFrame.

    Returns
    -------
    anndata.AnnData
        Cells x genes; ``X`` a CSR matrix of the DataFrame's dtype.

    Raises
    ------
    ACTINNInputError
        If the file is not such a DataFrame, or holds Python objects.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from deepchem_actinn.io.actinn_h5 import read_actinn_h5
    >>> path = os.path.join(tempfile.mkdtemp(), "train.h5")
    >>> df = pd.DataFrame([[1, 0], [0, 7]], index=["Actb", "Cd3e"],
    ...                   columns=["c1", "c2"])
    >>> df.to_hdf(path, key="dge")
    >>> adata = read_actinn_h5(path)
    >>> list(adata.obs_names), list(adata.var_names)
    (['c1', 'c2'], ['Actb', 'Cd3e'])
    """
    p = existing(path)
    try:
        with ActinnH5Rows(p, key) as frame:
            X = frame.rows(0, frame.shape[0])
            cell_ids, var = frame.cell_ids, frame.var
    except ACTINNInputError:
        raise  # it names the file already
    except (OSError, KeyError, ValueError) as err:
        raise ACTINNInputError("%s: not a readable pandas HDF5 file (%s)" %
                               (p, err)) from err
    return make_anndata(X, cell_ids, var)
