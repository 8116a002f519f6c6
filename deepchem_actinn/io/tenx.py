"""10x Genomics Cell Ranger matrices: mtx directories and HDF5 files.

A matrix directory holds ``matrix.mtx[.gz]``, ``barcodes.tsv[.gz]`` and
``genes.tsv[.gz]`` (Cell Ranger 2) or ``features.tsv[.gz]`` (Cell Ranger 3);
an HDF5 file holds the same as a CSC matrix of genes x cells, in a
``matrix`` group (V3) or one group per genome (V2). Only features of type
``Gene Expression`` are kept (antibody tags and the like are dropped).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple

import anndata
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError, examples
from deepchem_actinn.io._common import (HDF5Rows, as_str_array, existing,
                                        make_anndata, open_text, strip_gz)
from deepchem_actinn.io.content import reading, sniff
from deepchem_actinn.io.matrix_market import MtxHeader, mtx_header, read_mtx
from deepchem_actinn.io.sparse import refuse_repeated_entries
from deepchem_actinn.types import PathLike

logger = logging.getLogger(__name__)

GENE_EXPRESSION = "Gene Expression"


class _TenxFiles(NamedTuple):
    matrix: Path
    features: Path
    barcodes: Path


def _first_existing(directory: Path, names: Sequence[str]) -> Optional[Path]:
    for name in names:
        if (directory / name).is_file():
            return directory / name
    return None


def find_10x_matrix(directory: Path) -> Optional[Path]:
    """The ``[prefix]matrix.mtx[.gz]`` file of a directory, if one."""
    found = _first_existing(directory, ("matrix.mtx.gz", "matrix.mtx"))
    if found is not None:
        return found
    matches = sorted(
        list(directory.glob("*matrix.mtx")) +
        list(directory.glob("*matrix.mtx.gz")))
    return matches[0] if len(matches) == 1 else None


def locate_10x(path: Path) -> _TenxFiles:
    """The three files of a 10x matrix directory (or of its matrix file)."""
    if path.is_dir():
        directory, matrix = path, find_10x_matrix(path)
        if matrix is None:
            raise ACTINNInputError(
                "%s: no matrix.mtx or matrix.mtx.gz in this directory" % path)
    else:
        directory, matrix = path.parent, path
    name = matrix.name
    stem = strip_gz(name)
    prefix = stem[:-len("matrix.mtx")] if stem.endswith("matrix.mtx") else ""
    barcodes = _first_existing(
        directory, (prefix + "barcodes.tsv.gz", prefix + "barcodes.tsv"))
    features = _first_existing(
        directory, (prefix + "features.tsv.gz", prefix + "features.tsv",
                    prefix + "genes.tsv.gz", prefix + "genes.tsv"))
    missing = []
    if barcodes is None:
        missing.append(prefix + "barcodes.tsv[.gz]")
    if features is None:
        missing.append("%sfeatures.tsv[.gz] or %sgenes.tsv[.gz]" %
                       (prefix, prefix))
    if missing:
        if path.is_dir():
            raise ACTINNInputError("%s: a 10x matrix needs %s next to %s" %
                                   (directory, " and ".join(missing), name))
        raise ACTINNInputError("%s: a 10x matrix needs %s next to it" %
                               (path, " and ".join(missing)))
    assert features is not None and barcodes is not None
    return _TenxFiles(matrix, features, barcodes)


def _gex_mask(var: pd.DataFrame) -> np.ndarray:
    """True for the 'Gene Expression' features (all without a type column)."""
    if "feature_types" not in var:
        return np.ones(len(var), dtype=bool)
    return (var["feature_types"] == GENE_EXPRESSION).to_numpy()


def _gex_only(adata: anndata.AnnData, path: Path) -> anndata.AnnData:
    """Keep only 'Gene Expression' features (drop antibody tags etc.)."""
    gex = _gex_mask(adata.var)
    if gex.all():
        return adata
    _say_gex_kept(path, gex)
    return adata[:, gex].copy()


def _say_gex_kept(path: Path, gex: np.ndarray) -> None:
    """Log how many features were kept as gene expression, and dropped."""
    logger.info("%s: kept %d 'Gene Expression' features, dropped %d others",
                path, gex.sum(), (~gex).sum())


def _tenx_var(ids, names, types=None) -> pd.DataFrame:
    var = pd.DataFrame(
        {
            "gene_ids": as_str_array(ids),
            "gene_symbols": as_str_array(names)
        },
        index=as_str_array(names))
    if types is not None:
        var["feature_types"] = as_str_array(types)
    return var


def _not_empty(path: Path) -> None:
    content = sniff(path)
    if content.kind == "empty":
        raise ACTINNInputError("%s: the file is %s" %
                               (path, content.description))


def _refuse_inner_blank(path: Path, lines: Iterable[str]) -> List[str]:
    """The table's lines without their ends; a blank line before the last
    row (which a reader would skip, leaving the table a row short) is
    refused, naming it; blank lines at the end are no rows."""
    rows: List[str] = []
    blank = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            blank = blank or number
        elif blank:
            raise ACTINNInputError(
                "%s: line %d is empty, between rows: each line names one "
                "%s" %
                (path, blank, "cell" if "barcodes" in path.name else "feature"))
        else:
            rows.append(line.rstrip("\r\n"))
    return rows


def read_10x_features(path: Path) -> pd.DataFrame:
    """The features (genes) table of a matrix directory."""
    with reading(path, "a 10x features / genes table"):
        _not_empty(path)
        with open_text(path) as fh:
            _refuse_inner_blank(path, fh)
        with open_text(path) as fh:
            table = pd.read_csv(fh,
                                sep="\t",
                                header=None,
                                dtype=str,
                                keep_default_na=False,
                                quoting=csv.QUOTE_NONE)
    ids = table.iloc[:, 0]
    names = table.iloc[:, 1] if table.shape[1] > 1 else ids
    types = table.iloc[:, 2] if table.shape[1] > 2 else None
    return _tenx_var(ids, names, types)


def read_10x_barcodes(path: Path) -> np.ndarray:
    """The barcodes (cell ids) of a matrix directory."""
    with reading(path, "a 10x barcodes file"):
        _not_empty(path)
        with open_text(path) as fh:
            return as_str_array(
                [line.split("\t")[0] for line in _refuse_inner_blank(path, fh)])


def _check_shape(files: _TenxFiles, shape: Tuple[int, int], n_features: int,
                 n_barcodes: int) -> None:
    if tuple(shape) != (n_features, n_barcodes):
        raise ACTINNInputError(
            "%s: the matrix is %d x %d but there are %d features (%s) and "
            "%d barcodes (%s)%s" %
            (files.matrix, shape[0], shape[1], n_features, files.features,
             n_barcodes, files.barcodes,
             "; it is transposed: a 10x matrix holds the genes as rows, the "
             "cells as columns (R: Matrix::writeMM(counts), genes x cells)"
             if tuple(shape) == (n_barcodes, n_features) else ""))


def _tenx_tables(
        files: _TenxFiles) -> Tuple[pd.DataFrame, np.ndarray, MtxHeader]:
    """Features and barcodes of a matrix directory, checked against the
    matrix's header (its entries stay unread), and that header."""
    var = read_10x_features(files.features)
    barcodes = read_10x_barcodes(files.barcodes)
    header = mtx_header(files.matrix)
    _check_shape(files, header[:2], len(var), len(barcodes))
    return var, barcodes, header


def read_10x_mtx(path: PathLike, *, gex_only: bool = True) -> anndata.AnnData:
    """Read a Cell Ranger matrix directory (V2 or V3).

    Parameters
    ----------
    path: str or os.PathLike
        The directory holding ``matrix.mtx[.gz]``, ``barcodes.tsv[.gz]`` and
        ``genes.tsv[.gz]`` (V2) or ``features.tsv[.gz]`` (V3), or the path of
        the matrix file itself. A common file-name prefix (as on GEO, e.g.
        ``GSM1_matrix.mtx.gz``) is allowed.
    gex_only: bool, default True
        Keep only features of type ``Gene Expression`` (V3).

    Returns
    -------
    anndata.AnnData
        Cells x genes, ``X`` a CSR matrix of the file's dtype, ``var_names``
        the gene symbols (not de-duplicated), ``var`` columns ``gene_ids``,
        ``gene_symbols`` (and ``feature_types`` for V3).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, scipy.io, scipy.sparse as sp
    >>> from deepchem_actinn.io.tenx import read_10x_mtx
    >>> d = tempfile.mkdtemp()
    >>> scipy.io.mmwrite(os.path.join(d, "matrix.mtx"),
    ...                  sp.coo_matrix(np.array([[1, 0], [0, 2], [3, 0]])))
    >>> with open(os.path.join(d, "genes.tsv"), "w") as fh:
    ...     _ = fh.write("ENSG1\\tA\\nENSG2\\tB\\nENSG3\\tC\\n")
    >>> with open(os.path.join(d, "barcodes.tsv"), "w") as fh:
    ...     _ = fh.write("AAAC-1\\nAAAG-1\\n")
    >>> adata = read_10x_mtx(d)
    >>> adata.shape, list(adata.var_names), adata.X.toarray().tolist()
    ((2, 3), ['A', 'B', 'C'], [[1, 0, 3], [0, 2, 0]])
    """
    p = existing(path)
    files = locate_10x(p)
    var, barcodes, header = _tenx_tables(files)
    matrix = read_mtx(files.matrix, header)
    _check_shape(files, matrix.shape, len(var), len(barcodes))
    X = sp.csr_matrix(matrix.T)
    if X.nnz != matrix.nnz:  # converting added up entries at one place
        _refuse_repeats(files.matrix, sp.coo_matrix(matrix), var.index,
                        barcodes, matrix.nnz - X.nnz)
    adata = make_anndata(X, barcodes, var)
    return _gex_only(adata, p) if gex_only else adata


def _refuse_repeats(path: Path, coo: sp.coo_matrix, genes, barcodes,
                    n: int) -> None:
    """Refuse a Matrix Market file that lists ``n`` entries at the row and
    column of another (SciPy adds them up); names the first repeated."""
    order = np.lexsort((coo.row, coo.col))
    row, col = coo.row[order], coo.col[order]
    same = np.flatnonzero((row[1:] == row[:-1]) & (col[1:] == col[:-1]))
    at = order[same[0] + 1]
    i, j = int(coo.row[at]), int(coo.col[at])
    raise ACTINNInputError(
        "%s: %s the row and column of another, e.g. row %d (gene %s), "
        "column %d (cell %s); a Matrix Market file lists each place once, "
        "SciPy would add them up (a damaged or wrongly written file?)" %
        (path, "1 entry repeats" if n == 1 else "%d entries repeat" % n, i + 1,
         genes[i], j + 1, barcodes[j]))


def tenx_h5_group(f: h5py.File, path: Path) -> Tuple[h5py.Group, bool]:
    """The matrix group of a 10x HDF5 file and whether it is V3."""
    matrix = f.get("matrix")
    if isinstance(matrix, h5py.Group) and "indptr" in matrix:
        return matrix, True
    genomes = [
        k for k in f.keys() if isinstance(f.get(k), h5py.Group) and
        {"indptr", "barcodes", "genes"} <= set(f[k].keys())
    ]
    if len(genomes) != 1:
        raise ACTINNInputError("%s: expected one 10x matrix group, found %s" %
                               (path, examples(genomes) if genomes else "none"))
    return f[genomes[0]], False


def tenx_h5_var(group: h5py.Group, v3: bool) -> pd.DataFrame:
    if v3:
        feats = group["features"]
        types = feats["feature_type"][:] if "feature_type" in feats else None
        return _tenx_var(feats["id"][:], feats["name"][:], types)
    names = group["gene_names"][:] if "gene_names" in group else None
    ids = group["genes"][:]
    return _tenx_var(ids, ids if names is None else names)


def tenx_h5_shape(group: h5py.Group, path: Path,
                  n_features: int) -> Tuple[int, int]:
    """Genes and cells of a 10x HDF5 matrix group, its ``shape`` checked
    against its features, barcodes and index pointers."""
    n_genes, n_cells = (int(n) for n in group["shape"][:2])
    n_barcodes = int(group["barcodes"].shape[0])
    n_columns = int(group["indptr"].shape[0]) - 1
    name = group.name.rstrip("/")
    if not n_barcodes == n_cells == n_columns:
        raise ACTINNInputError(
            "%s: %s/shape says %d cells but there are %d barcodes (%s/barcodes)"
            " and %d columns (%s/indptr); a file cut short or written wrongly?"
            " write it again" %
            (path, name, n_cells, n_barcodes, name, n_columns, name))
    if n_features != n_genes:
        raise ACTINNInputError(
            "%s: %s/shape says %d genes but there are %d features (%s); a "
            "file cut short or written wrongly? write it again" %
            (path, name, n_genes, n_features,
             name + "/features" if "features" in group else name + "/genes"))
    return n_genes, n_cells


def _refuse_repeated(X: sp.csr_matrix,
                     path: Path,
                     cell_ids,
                     gene_names,
                     first_row: int = 0) -> None:
    """Refuse cells (CSC columns of the file) that store a gene twice."""
    try:
        refuse_repeated_entries(X, cell_ids, gene_names, first_row)
    except ACTINNCellError as err:
        raise err.in_file(path) from None


def read_10x_h5(path: PathLike, *, gex_only: bool = True) -> anndata.AnnData:
    """Read a Cell Ranger HDF5 file (V3 ``matrix`` group or V2 genome group).

    Parameters
    ----------
    path: str or os.PathLike
        The ``.h5`` file, e.g. ``filtered_feature_bc_matrix.h5``.
    gex_only: bool, default True
        Keep only features of type ``Gene Expression`` (V3).

    Returns
    -------
    anndata.AnnData
        Cells x genes, ``X`` a CSR matrix of the file's dtype, ``var_names``
        the gene symbols, ``var`` columns ``gene_ids``, ``gene_symbols`` (and
        ``feature_types`` for V3).

    Examples
    --------
    >>> import os, tempfile
    >>> import h5py, numpy as np
    >>> from deepchem_actinn.io.tenx import read_10x_h5
    >>> path = os.path.join(tempfile.mkdtemp(), "filtered.h5")
    >>> with h5py.File(path, "w") as f:  # 2 genes x 2 cells, CSC
    ...     g = f.create_group("matrix")
    ...     g["data"], g["indices"] = [5, 1], [0, 1]
    ...     g["indptr"], g["shape"] = [0, 1, 2], [2, 2]
    ...     g["barcodes"] = [b"AAAC-1", b"AAAG-1"]
    ...     g["features/id"] = [b"ENSG1", b"ENSG2"]
    ...     g["features/name"] = [b"A", b"B"]
    ...     g["features/feature_type"] = [b"Gene Expression"] * 2
    >>> adata = read_10x_h5(path)
    >>> list(adata.obs_names), adata.X.toarray().tolist()
    (['AAAC-1', 'AAAG-1'], [[5, 0], [0, 1]])
    """
    p = existing(path)
    try:
        with h5py.File(p, "r") as f:
            group, v3 = tenx_h5_group(f, p)
            var = tenx_h5_var(group, v3)
            n_genes, n_cells = tenx_h5_shape(group, p, len(var))
            X = sp.csc_matrix(
                (group["data"][:], group["indices"][:], group["indptr"][:]),
                shape=(n_genes, n_cells)).T.tocsr()
            barcodes = as_str_array(group["barcodes"][:])
    except (OSError, KeyError) as err:
        raise ACTINNInputError("%s: not a readable 10x HDF5 file (%s)" %
                               (p, err)) from err
    _refuse_repeated(X, p, barcodes, var.index)
    adata = make_anndata(X, barcodes, var)
    return _gex_only(adata, p) if gex_only else adata


class TenxH5Rows(HDF5Rows):
    """Row (cell) access to a 10x HDF5 file: cells are its CSC columns."""

    def _open(self, f: h5py.File) -> None:
        group, v3 = tenx_h5_group(f, self.path)
        var = tenx_h5_var(group, v3)
        self._group = group
        self.n_genes = tenx_h5_shape(group, self.path, len(var))[0]
        self._indptr = group["indptr"][:]
        self.cell_ids = as_str_array(group["barcodes"][:])
        self._features = var.index.to_numpy()
        gex = _gex_mask(var)
        self._columns = None if gex.all() else np.flatnonzero(gex)
        if self._columns is not None:
            _say_gex_kept(self.path, gex)
        self.gene_names = var.index.to_numpy()[gex]
        self.var = var.iloc[np.flatnonzero(gex)]
        self.shape = (len(self.cell_ids), len(self.gene_names))

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        lo, hi = int(self._indptr[start]), int(self._indptr[stop])
        X = sp.csc_matrix(
            (self._group["data"][lo:hi], self._group["indices"][lo:hi],
             self._indptr[start:stop + 1] - lo),
            shape=(self.n_genes, stop - start)).T.tocsr()
        _refuse_repeated(X, self.path, self.cell_ids[start:stop],
                         self._features, start)
        return X if self._columns is None else X[:, self._columns]


def tenx_mtx_var(path: Path) -> pd.DataFrame:
    """The gene-expression features of a matrix directory, unread matrix."""
    var = _tenx_tables(locate_10x(path))[0]
    return var[_gex_mask(var)]


def tenx_mtx_cell_ids(path: Path) -> np.ndarray:
    """The barcodes of a matrix directory, unread matrix."""
    return _tenx_tables(locate_10x(path))[1]
