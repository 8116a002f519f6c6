"""The file formats the readers know, and telling them apart.

Formats (the names :func:`detect_format` returns and ``format=`` accepts):

``actinn_h5``
    pandas HDF5 as used by the original ACTINN scripts: key ``dge``, a
    DataFrame of genes (rows) x cells (columns).
``10x_mtx``
    a Cell Ranger matrix directory: ``matrix.mtx[.gz]``, ``barcodes.tsv[.gz]``
    and ``genes.tsv`` (V2) or ``features.tsv.gz`` (V3).
``10x_h5``
    a Cell Ranger HDF5 file (V2 or V3 layout).
``h5ad``
    an AnnData file.
``csv`` / ``tsv``
    text, genes x cells: a header row of cell ids, then one row per gene
    starting with the gene name (``.csv``, ``.tsv`` or ``.txt``, optionally
    gzipped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import h5py

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io._common import existing, strip_gz
from deepchem_actinn.io.tenx import find_10x_matrix
from deepchem_actinn.io.text import sniff_separator
from deepchem_actinn.types import PathLike

#: The formats :func:`detect_format` tells apart.
FORMATS = ("actinn_h5", "10x_mtx", "10x_h5", "h5ad", "csv", "tsv")

_FORMAT_HELP = (
    "actinn_h5 (pandas HDF5 .h5, key 'dge', genes x cells), "
    "10x_mtx (directory with matrix.mtx[.gz], barcodes.tsv[.gz] and "
    "genes.tsv[.gz] or features.tsv[.gz]), "
    "10x_h5 (Cell Ranger .h5), h5ad (AnnData), "
    "csv / tsv (genes x cells text: .csv, .tsv, .txt, optionally .gz)")

_TEXT_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".txt": None}
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")


def _hdf5_kind(f: h5py.File) -> Optional[str]:
    """Tell a 10x, h5ad or pandas HDF5 file apart by its layout."""
    matrix = f.get("matrix")
    if isinstance(matrix, h5py.Group) and "indptr" in matrix:
        return "10x_h5"
    groups = [f[k] for k in f.keys() if isinstance(f.get(k), h5py.Group)]
    if any({"indptr", "barcodes", "genes"} <= set(g.keys()) for g in groups):
        return "10x_h5"
    if "X" in f and "obs" in f and "var" in f:
        return "h5ad"
    if any("pandas_type" in g.attrs for g in groups):
        return "actinn_h5"
    return None


def _unknown(path: Path, why: str) -> ACTINNInputError:
    return ACTINNInputError(
        "%s: %s; accepted formats: %s; pass format= to force one" %
        (path, why, _FORMAT_HELP))


def detect_format(path: PathLike) -> str:
    """Tell which of the supported formats a file or directory is in.

    The extension decides, except for ``.h5`` / ``.hdf5`` files, which are
    opened to tell a 10x HDF5 file (a ``matrix`` group, or a genome group
    with ``genes``) from an h5ad or a pandas (ACTINN) HDF5 file; ``.txt``
    files are ``tsv`` unless their first line has commas and no tabs.

    Parameters
    ----------
    path: str or os.PathLike
        A file, or a 10x matrix directory.

    Returns
    -------
    str
        One of ``"actinn_h5"``, ``"10x_mtx"``, ``"10x_h5"``, ``"h5ad"``,
        ``"csv"``, ``"tsv"``.

    Raises
    ------
    ACTINNInputError
        If nothing is at ``path`` or the format is none of these.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io import detect_format
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2\\nActb,3,0\\n")
    >>> detect_format(path)
    'csv'
    """
    p = existing(path)
    if p.is_dir():
        if find_10x_matrix(p) is not None:
            return "10x_mtx"
        raise _unknown(p, "a directory without a 10x matrix.mtx[.gz]")
    lower = p.name.lower()
    if lower.endswith(_HDF5_SUFFIXES):
        try:
            with h5py.File(p, "r") as f:
                kind = _hdf5_kind(f)
        except OSError as err:
            raise ACTINNInputError("%s: not a readable HDF5 file (%s)" %
                                   (p, err)) from err
        if kind is None:
            raise _unknown(p, "an HDF5 file of an unknown layout")
        return kind
    stem = strip_gz(lower)
    if stem.endswith(".h5ad") and not lower.endswith(".gz"):
        return "h5ad"
    if stem.endswith(".mtx"):
        return "10x_mtx"
    for suffix, fmt in _TEXT_SUFFIXES.items():
        if stem.endswith(suffix):
            return fmt if fmt is not None else sniff_separator(p)
    raise _unknown(p, "cannot tell the format from the name")


def resolve_format(path: Path, format: Optional[str]) -> str:
    if format is None:
        return detect_format(path)
    if format not in FORMATS:
        raise ACTINNInputError("%s: unknown format %r; accepted formats: %s" %
                               (path, format, _FORMAT_HELP))
    return format


def check_h5ad_only(path: Path, fmt: str, layer: Optional[str],
                    use_raw: Optional[bool]) -> None:
    """Refuse ``layer=`` / ``use_raw=`` for a format other than h5ad."""
    if fmt != "h5ad" and (layer is not None or use_raw is not None):
        raise ACTINNInputError(
            "%s: layer= and use_raw= apply to h5ad files only, not %s" %
            (path, fmt))
