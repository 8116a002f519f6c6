"""Small helpers the readers share: paths, text files, ids, AnnData.

Private to :mod:`deepchem_actinn.io`; the public names live in the format
modules and are re-exported by the package.
"""

from __future__ import annotations

import io
import stat
import warnings
from pathlib import Path
from typing import IO, Optional, Tuple

import anndata
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io.content import open_binary
from deepchem_actinn.types import PathLike, Strings


class NoDirectAccess(Exception):
    """The file's layout needs the in-memory reader (streaming falls back)."""


def existing(path: PathLike) -> Path:
    """Return ``path`` as a Path, or raise if nothing is there, or if it is
    a device, or a pipe (``<(zcat file)``, ``/dev/stdin`` from a pipe),
    whose first bytes, read to tell its format, would be gone when it is
    read.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io._common import existing
    >>> fifo = os.path.join(tempfile.mkdtemp(), "labels.txt")
    >>> os.mkfifo(fifo)
    >>> existing(fifo)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ACTINNInputError: .../labels.txt: a pipe, not a file ...
    """
    p = Path(path)
    if not p.exists():
        raise ACTINNInputError("%s: no such file or directory" % p)
    mode = p.stat().st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise ACTINNInputError("%s: a device, not a file" % p)
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise ACTINNInputError(
            "%s: a pipe, not a file (as <(zcat file) gives): files are read "
            "more than once (first to tell their format), which a pipe "
            "cannot be; write it to a file first (gzipped files are read as "
            "they are)" % p)
    return p


def strip_gz(name: str) -> str:
    return name[:-3] if name.endswith(".gz") else name


def open_text(path: Path) -> IO[str]:
    """Open a UTF-8 text file, gunzipping it if its bytes are gzip data
    (whatever its name says); a byte-order mark (Excel's "CSV UTF-8",
    Notepad) is dropped, not read as part of the first name."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", newline="")


def as_str_array(values) -> np.ndarray:
    """Strings (decoding bytes as UTF-8) as an object array."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v.decode("utf-8") if isinstance(v, bytes) else str(v)
    return out


def make_anndata(X,
                 cell_ids: Strings,
                 var: pd.DataFrame,
                 obs: Optional[pd.DataFrame] = None) -> anndata.AnnData:
    """AnnData with string ids; duplicated gene names stay (read drops them)."""
    obs_index = pd.Index(as_str_array(cell_ids), dtype=object)
    if obs is None or obs.shape[1] == 0:
        obs = pd.DataFrame(index=obs_index)
    else:
        obs = obs.copy()
        obs.index = obs_index
    var = var.copy()
    var.index = pd.Index(as_str_array(var.index), dtype=object)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*names are not unique")
        return anndata.AnnData(X=X, obs=obs, var=var)


class HDF5Rows:
    """Cells of an HDF5 file, a block of rows at a time.

    The base of the streaming readers: a context manager that opens the
    file, lets the subclass find its matrix in ``_open`` (setting
    ``cell_ids``, ``gene_names``, ``var`` and ``shape``) and closes the file
    on exit; ``rows(start, stop)`` returns cells ``start:stop`` as CSR.
    """

    #: Whether ``rows`` returns values checked already.
    checked = False
    #: Names the matrix in messages.
    description = "the matrix"
    #: Where raw counts were looked for when the matrix holds none.
    looked: Tuple[str, ...] = ()
    cell_ids: np.ndarray
    gene_names: np.ndarray
    var: pd.DataFrame
    shape: Tuple[int, int]

    def __init__(self, path: Path):
        self.path = path
        self._file: Optional[h5py.File] = None

    def __enter__(self) -> "HDF5Rows":
        self._file = h5py.File(self.path, "r")
        try:
            self._open(self._file)
        except BaseException:
            self._file.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()

    def _open(self, f: h5py.File) -> None:
        raise NotImplementedError

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        raise NotImplementedError
