"""Text matrices: CSV or TSV, genes x cells, optionally gzipped.

The first row holds the cell ids, each further row a gene name followed by
that gene's counts in every cell (the layout ``pandas.DataFrame.to_csv``
writes for a genes x cells frame).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io._common import (as_str_array, existing, make_anndata,
                                        open_text, strip_gz)
from deepchem_actinn.types import PathLike

#: The field separator of each text format.
SEPARATORS = {"csv": ",", "tsv": "\t"}
# Missing-value spellings in text matrices (gene names keep theirs).
_NA_STRINGS = ("", "NA", "N/A", "n/a", "NaN", "nan", "NAN", "-nan", "-NaN",
               "NULL", "null", "None", "<NA>", "#N/A")


def sniff_separator(path: Path) -> str:
    """``"tsv"`` or ``"csv"`` from the first line of a text file."""
    try:
        with open_text(path) as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError) as err:
        raise ACTINNInputError("%s: cannot read it as text (%s)" %
                               (path, err)) from err
    if "\t" not in first and "," in first:
        return "csv"
    return "tsv"


def _text_separator(path: Path, sep: Optional[str]) -> str:
    if sep is not None:
        return sep
    stem = strip_gz(path.name.lower())
    if stem.endswith(".csv"):
        return ","
    if stem.endswith(".tsv"):
        return "\t"
    return "," if sniff_separator(path) == "csv" else "\t"


def read_text(path: PathLike, sep: Optional[str] = None) -> anndata.AnnData:
    """Read a genes x cells text matrix (CSV or TSV, optionally gzipped).

    The first row holds the cell ids (with or without a leading empty
    cell), each further row a gene name followed by that gene's counts.

    Parameters
    ----------
    path: str or os.PathLike
        ``.csv``, ``.tsv`` or ``.txt`` file, optionally ``.gz``.
    sep: str, optional
        Field separator; by default ``","`` for ``.csv``, tab for ``.tsv``
        and for ``.txt`` whichever the first line uses.

    Returns
    -------
    anndata.AnnData
        Cells x genes; ``X`` a CSR matrix.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.text import read_text
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.tsv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene\\tc1\\tc2\\nActb\\t3\\t0\\nCd3e\\t0\\t1\\n")
    >>> adata = read_text(path)
    >>> list(adata.obs_names), adata.X.toarray().tolist()
    (['c1', 'c2'], [[3, 0], [0, 1]])
    """
    p = existing(path)
    sep = _text_separator(p, sep)
    try:
        df = pd.read_csv(p, sep=sep, index_col=0, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise ACTINNInputError("%s: not a readable text matrix (%s)" %
                               (p, err)) from err
    for column in df.columns:
        if pd.api.types.is_numeric_dtype(df[column]):
            continue
        values = df[column].where(~df[column].isin(_NA_STRINGS))
        try:
            df[column] = pd.to_numeric(values)
        except (ValueError, TypeError) as err:
            raise ACTINNInputError(
                "%s: column of cell %s holds non-numeric values (%s)" %
                (p, column, err)) from err
    var = pd.DataFrame(index=as_str_array(df.index))
    return make_anndata(sp.csr_matrix(df.to_numpy().T), df.columns, var)


def text_gene_names(path: Path, fmt: str) -> np.ndarray:
    """The first field of every line after the header, without the values."""
    sep = SEPARATORS[fmt]
    names = []
    with open_text(path) as fh:
        fh.readline()
        for line in fh:
            if not line.strip():
                continue
            if line.startswith('"'):
                names.append(next(csv.reader([line], delimiter=sep))[0])
            else:
                names.append(line.split(sep, 1)[0])
    return as_str_array(names)


def text_cell_ids(path: Path, fmt: str) -> np.ndarray:
    """The cell ids of the header row, without reading the values."""
    try:
        header = pd.read_csv(path, sep=SEPARATORS[fmt], index_col=0, nrows=1)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise ACTINNInputError("%s: not a readable text matrix (%s)" %
                               (path, err)) from err
    return as_str_array(header.columns)
