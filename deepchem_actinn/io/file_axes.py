"""What a count file holds along its axes, without reading its matrix.

:func:`read_cell_ids` and :func:`n_cells` tell a file's cells (an h5ad
file's number of cells from its shape alone), :func:`read_var` and
:func:`read_gene_names` its genes, named as :func:`~deepchem_actinn.io.read`
and :func:`~deepchem_actinn.io.iter_cell_chunks` name them: a 10x
directory's and a CSV/TSV file's names are read alone, other formats' through
:func:`~deepchem_actinn.io.file_rows.open_rows`.
"""

from __future__ import annotations

import contextlib
from typing import Optional, Sequence, Union, cast

import numpy as np
import pandas as pd

from deepchem_actinn.io._common import NoDirectAccess, as_str_array
from deepchem_actinn.io.content import reading
from deepchem_actinn.io.file_rows import open_rows
from deepchem_actinn.io.formats import (FORMAT_WORDS, check_h5ad_only,
                                        check_text_only, path_and_format)
from deepchem_actinn.io.genes import clean_gene_names
from deepchem_actinn.io.h5ad import h5ad_cell_ids, h5ad_n_cells
from deepchem_actinn.io.tenx import tenx_mtx_cell_ids, tenx_mtx_var
from deepchem_actinn.io.text import SEPARATORS, text_names
from deepchem_actinn.types import PathLike


def read_var(path: PathLike,
             format: Optional[str] = None,
             upper_case_genes: bool = True,
             *,
             layer: Optional[str] = None,
             use_raw: Optional[bool] = None,
             allow_non_integer: bool = False,
             orientation: Optional[str] = None,
             expected_genes: Optional[Sequence[str]] = None,
             expected_cells: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """The gene table of a file, without reading its matrix.

    Indexed by the cleaned gene names (the columns of :func:`read` and of
    every chunk of :func:`iter_cell_chunks` with the same arguments), with
    the file's other gene identifiers as columns: ``gene_ids`` and
    ``gene_symbols`` for 10x data, the ``var`` columns of an h5ad file.

    Parameters
    ----------
    path: str or os.PathLike
        File or 10x matrix directory.
    format: str, optional
        Force the format; detected by default.
    upper_case_genes: bool, default True
        Upper-case the names (repeats are dropped either way).
    layer, use_raw, allow_non_integer:
        As in :func:`read` (for an h5ad file they decide which matrix, and
        so which gene table, is used).
    orientation, expected_genes, expected_cells:
        As in :func:`read`: for CSV/TSV files, which axis holds the genes.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io import read_var
    >>> d = tempfile.mkdtemp()
    >>> with open(os.path.join(d, "matrix.mtx"), "w") as fh:
    ...     _ = fh.write("%%MatrixMarket matrix coordinate integer general\\n"
    ...                  "2 1 1\\n1 1 4\\n")
    >>> with open(os.path.join(d, "genes.tsv"), "w") as fh:
    ...     _ = fh.write("ENSG1\\tActb\\nENSG2\\tCd3e\\n")
    >>> with open(os.path.join(d, "barcodes.tsv"), "w") as fh:
    ...     _ = fh.write("AAAC-1\\n")
    >>> read_var(d)["gene_ids"].to_dict()
    {'ACTB': 'ENSG1', 'CD3E': 'ENSG2'}
    """
    p, fmt = path_and_format(path, format)
    with reading(p, FORMAT_WORDS[fmt]):
        check_h5ad_only(p, fmt, layer, use_raw)
        check_text_only(p, fmt, orientation)
        if fmt == "10x_mtx":
            var = tenx_mtx_var(p)
        elif fmt in SEPARATORS:
            var = pd.DataFrame(index=text_names(p, fmt, "genes", orientation,
                                                expected_genes, expected_cells))
        else:
            with open_rows(p, fmt, layer, use_raw, allow_non_integer) as source:
                var = source.var
    names, keep = clean_gene_names(var.index,
                                   upper_case=upper_case_genes,
                                   source=str(p))
    var = var.iloc[np.flatnonzero(keep)].copy()
    var.index = pd.Index(names, dtype=object)
    return var


def read_gene_names(
        path: PathLike,
        format: Optional[str] = None,
        upper_case_genes: bool = True,
        *,
        layer: Optional[str] = None,
        use_raw: Optional[bool] = None,
        allow_non_integer: bool = False,
        orientation: Optional[str] = None,
        expected_genes: Optional[Sequence[str]] = None,
        expected_cells: Optional[Sequence[str]] = None) -> np.ndarray:
    """The cleaned gene names of a file, without reading its matrix.

    They are the columns of :func:`read` and of every chunk
    :func:`iter_cell_chunks` yields (same arguments, same names); see
    :func:`read_var` for the other gene identifiers.

    Parameters
    ----------
    path: str or os.PathLike
        File or 10x matrix directory.
    format: str, optional
        Force the format; detected by default.
    upper_case_genes: bool, default True
        Upper-case the names (repeats are dropped either way).
    layer, use_raw, allow_non_integer:
        As in :func:`read_var`.
    orientation, expected_genes, expected_cells:
        As in :func:`read_var`.

    Returns
    -------
    numpy.ndarray
        Object array of str, one per column of the counts.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io import read_gene_names
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1\\nActb,3\\nCd3e,0\\n")
    >>> list(read_gene_names(path))
    ['ACTB', 'CD3E']
    """
    var = read_var(path,
                   format,
                   upper_case_genes,
                   layer=layer,
                   use_raw=use_raw,
                   allow_non_integer=allow_non_integer,
                   orientation=orientation,
                   expected_genes=expected_genes,
                   expected_cells=expected_cells)
    return var.index.to_numpy(dtype=object)


def read_cell_ids(path: PathLike,
                  format: Optional[str] = None,
                  *,
                  orientation: Optional[str] = None,
                  expected_genes: Optional[Sequence[str]] = None,
                  expected_cells: Optional[Sequence[str]] = None) -> np.ndarray:
    """The cell ids of a file, in row order, without reading its matrix
    where the format allows it.

    Parameters
    ----------
    path: str or os.PathLike
        File or 10x matrix directory.
    format: str, optional
        Force the format; detected by default.
    orientation, expected_genes, expected_cells:
        As in :func:`read`: for CSV/TSV files, which axis holds the cells.

    Returns
    -------
    numpy.ndarray
        The cell ids as str, one per row of :func:`read`'s matrix.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io import read_cell_ids
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2,c3\\nActb,3,0,1\\n")
    >>> list(read_cell_ids(path))
    ['c1', 'c2', 'c3']
    """
    return cast(
        np.ndarray,
        _cells(path, format, orientation, expected_genes, expected_cells,
               False))


def n_cells(path: PathLike,
            format: Optional[str] = None,
            *,
            orientation: Optional[str] = None,
            expected_genes: Optional[Sequence[str]] = None,
            expected_cells: Optional[Sequence[str]] = None) -> int:
    """The number of cells in a file, without reading its matrix.

    Parameters
    ----------
    path: str or os.PathLike
        File or 10x matrix directory.
    format: str, optional
        Force the format; detected by default.
    orientation, expected_genes, expected_cells:
        As in :func:`read`: for CSV/TSV files, which axis holds the cells.

    Returns
    -------
    int

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io import n_cells
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2,c3\\nActb,3,0,1\\n")
    >>> n_cells(path)
    3
    """
    return int(
        _cells(path, format, orientation, expected_genes, expected_cells, True))


def _cells(path: PathLike, format: Optional[str], orientation: Optional[str],
           expected_genes: Optional[Sequence[str]],
           expected_cells: Optional[Sequence[str]],
           count: bool) -> Union[int, np.ndarray]:
    """A file's cell ids in row order or, with ``count``, their number (of
    an h5ad file from its shape alone)."""
    p, fmt = path_and_format(path, format)
    with reading(p, FORMAT_WORDS[fmt]):
        check_text_only(p, fmt, orientation)
        if fmt == "10x_mtx":
            ids = tenx_mtx_cell_ids(p)
        elif fmt in SEPARATORS:
            ids = text_names(p, fmt, "cells", orientation, expected_genes,
                             expected_cells)
        else:
            if fmt == "h5ad":
                with contextlib.suppress(NoDirectAccess, KeyError, OSError):
                    return h5ad_n_cells(p) if count else h5ad_cell_ids(p)
            with open_rows(p, fmt, None, None,
                           allow_non_integer=True) as source:
                return (int(source.shape[0])
                        if count else as_str_array(source.cell_ids))
        return len(ids) if count else ids
