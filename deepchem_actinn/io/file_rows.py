"""Row access to a count file of any format, for reading it in chunks.

:func:`open_rows` opens a file's rows straight from disk where its layout
allows it (:class:`~deepchem_actinn.io.h5ad_rows.H5adRows`,
:class:`~deepchem_actinn.io.actinn_h5.ActinnH5Rows`,
:class:`~deepchem_actinn.io.tenx.TenxH5Rows`), and otherwise reads it
whole with :func:`~deepchem_actinn.io.read` and serves its rows from
memory (:class:`MemoryRows`). :mod:`~deepchem_actinn.io.stream` reads
chunks through it, :mod:`~deepchem_actinn.io.file_axes` a file's cells and
genes.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Optional, Union

import anndata
import scipy.sparse as sp

from deepchem_actinn.io._common import NoDirectAccess
from deepchem_actinn.io.actinn_h5 import ActinnH5Rows
from deepchem_actinn.io.formats import check_h5ad_only
from deepchem_actinn.io.h5ad import H5adRows
from deepchem_actinn.io.readers import read
from deepchem_actinn.io.tenx import TenxH5Rows

logger = logging.getLogger(__name__)


class MemoryRows:
    """Row access to what :func:`read` returns (checked already)."""

    checked = True
    description = "X"

    def __init__(self, adata: anndata.AnnData):
        self._adata = adata
        self.cell_ids = adata.obs_names.to_numpy(dtype=object)
        self.gene_names = adata.var_names.to_numpy(dtype=object)
        self.var = adata.var
        self.shape = adata.shape

    def __enter__(self) -> "MemoryRows":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        return self._adata.X[start:stop]


def how_read(source, fmt: str) -> str:
    """The format, and for a file read in chunks the matrix and that."""
    if isinstance(source, MemoryRows):
        return fmt
    matrix = getattr(source, "description", "the matrix")
    return "%s%s, in chunks" % (fmt,
                                "" if matrix == "the matrix" else ", " + matrix)


@contextlib.contextmanager
def open_rows(path: Path,
              fmt: str,
              layer: Optional[str],
              use_raw: Optional[bool],
              allow_non_integer: bool,
              orientation: Optional[str] = None):
    """Row access to ``path``: straight from the file when its layout
    allows, else through :func:`read` (text files in ``orientation``)."""
    check_h5ad_only(path, fmt, layer, use_raw)
    direct: Union[H5adRows, ActinnH5Rows, TenxH5Rows, None] = None
    if fmt == "h5ad":
        direct = H5adRows(path, layer, use_raw, allow_non_integer)
    elif fmt == "actinn_h5":
        direct = ActinnH5Rows(path)
    elif fmt == "10x_h5":
        direct = TenxH5Rows(path)
    if direct is not None:
        try:
            direct.__enter__()
        except (NoDirectAccess, OSError, KeyError) as err:
            logger.info(
                "%s: reading the whole file into memory (%s)", path,
                err if isinstance(err, NoDirectAccess) else "%s: %s" %
                (type(err).__name__, err))
        else:
            try:
                yield direct
            finally:
                direct.__exit__(None, None, None)
            return
    yield MemoryRows(
        read(path,
             fmt,
             layer=layer,
             use_raw=use_raw,
             upper_case_genes=False,
             allow_non_integer=allow_non_integer,
             orientation=orientation,
             warn_repeated=False))
