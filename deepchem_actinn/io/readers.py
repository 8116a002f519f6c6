"""Read raw counts from any supported format: :func:`read`.

Every reader returns an :class:`anndata.AnnData` with cells as rows and
genes as columns. :func:`read` is the one entry point most code needs: it
detects the format (:mod:`~deepchem_actinn.io.formats`), reads the file
with the reader of its format, picks the raw counts
(:func:`~deepchem_actinn.io.counts_source`: ``X``, else ``.raw`` or
``layers['counts']`` of an h5ad file whose ``X`` is normalised), checks
them, upper-cases and de-duplicates the gene names the way the original
ACTINN scripts did, and returns ``X`` as a float32
:class:`scipy.sparse.csr_matrix`. For data too large for memory,
:mod:`~deepchem_actinn.io.stream` reads cells in chunks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import anndata
import numpy as np
import pandas as pd

from deepchem_actinn.errors import (ACTINNCellError, ACTINNInputError, counted,
                                    examples, repeated)
from deepchem_actinn.io._common import make_anndata
from deepchem_actinn.io.actinn_h5 import read_actinn_h5
from deepchem_actinn.io.count_matrix import CountsSource, counts_source
from deepchem_actinn.io.counts import (FILE_COUNTS_HINT, as_count_matrix,
                                       log_rounded, round_near_whole)
from deepchem_actinn.io.content import reading
from deepchem_actinn.io.formats import (FORMAT_WORDS, check_h5ad_only,
                                        check_text_only, path_and_format)
from deepchem_actinn.io.genes import clean_gene_names
from deepchem_actinn.io.h5ad import read_h5ad_counts
from deepchem_actinn.io.sparse import refuse_repeated_entries
from deepchem_actinn.io.tenx import read_10x_h5, read_10x_mtx
from deepchem_actinn.io.text import SEPARATORS, read_text
from deepchem_actinn.types import PathLike

logger = logging.getLogger(__name__)

#: The reader of each format but the text tables (:func:`read_text`, which
#: is told their separator and orientation).
READERS: Dict[str, Callable[[Path], anndata.AnnData]] = {
    "actinn_h5": read_actinn_h5,
    "10x_mtx": read_10x_mtx,
    "10x_h5": read_10x_h5,
    "h5ad": read_h5ad_counts,
}


def _clean_counts(src: CountsSource, obs: pd.DataFrame, upper_case_genes: bool,
                  round_values: bool, source: str) -> anndata.AnnData:
    """The chosen counts as float32 CSR with cleaned gene names."""
    names, keep = clean_gene_names(src.var.index,
                                   upper_case=upper_case_genes,
                                   source=source)
    X = src.matrix
    if round_values and src.n_rounded != 0:  # 0: the scan found none
        X, n_rounded = round_near_whole(X)
        log_rounded(n_rounded, source)
    X = as_count_matrix(X)
    var = src.var
    if not keep.all():
        columns = np.flatnonzero(keep)
        X = X[:, columns]
        var = var.iloc[columns]
    var = var.copy()
    var.index = pd.Index(names, dtype=object)
    for column in ("gene_ids", "gene_symbols"):
        if column in var:
            var[column] = var[column].astype(str)
    return make_anndata(X, obs.index, var, obs=obs)


def check_cell_ids(cell_ids, source: str) -> None:
    """Refuse empty cell ids (a blank header field), and warn when cell ids
    repeat, naming ``source`` and a few ids: outputs and the label files
    name cells by id.

    Examples
    --------
    >>> from deepchem_actinn.io.readers import check_cell_ids
    >>> check_cell_ids(["c1", "c2"], "counts.csv")
    >>> check_cell_ids(["c1", " ", "c3"], "counts.csv")
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: counts.csv: 1 cell has no id (an empty name): the 2nd; outputs and labels name cells by id, so give every cell one
    """
    ids = pd.Index(cell_ids, dtype=object).astype(str).str.strip()
    empty = np.flatnonzero(ids == "")
    if len(empty):
        raise ACTINNInputError(
            "%s: %s no id (an empty name): the %s; outputs and labels name "
            "cells "
            "by id, so give every cell one" %
            (source, counted(len(empty), "cell", "has/have"),
             examples([_ordinal(int(i) + 1) for i in empty])))
    if not pd.Index(cell_ids).is_unique:
        twice = repeated(cell_ids)
        logger.warning(
            "%s: %s more than once, e.g. %s; outputs name cells by id, so "
            "make them unique first (anndata: obs_names_make_unique)", source,
            counted(len(twice), "cell id", "appears/appear"), examples(twice))


def _ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``11th``, ``22nd``."""
    tail = "th" if 10 <= n % 100 <= 20 else {
        1: "st",
        2: "nd",
        3: "rd"
    }.get(n % 10, "th")
    return "%d%s" % (n, tail)


def read_format(
        path: Path,
        fmt: str,
        orientation: Optional[str] = None,
        expected_genes: Optional[Sequence[str]] = None,
        expected_cells: Optional[Sequence[str]] = None) -> anndata.AnnData:
    """The whole file, as its format's reader returns it (unchecked)."""
    check_text_only(path, fmt, orientation)
    if fmt in SEPARATORS:
        return read_text(path,
                         sep=SEPARATORS[fmt],
                         orientation=orientation,
                         expected_genes=expected_genes,
                         expected_cells=expected_cells)
    return READERS[fmt](path)


def read(path: PathLike,
         format: Optional[str] = None,
         *,
         layer: Optional[str] = None,
         use_raw: Optional[bool] = None,
         upper_case_genes: bool = True,
         allow_non_integer: bool = False,
         orientation: Optional[str] = None,
         expected_genes: Optional[Sequence[str]] = None,
         expected_cells: Optional[Sequence[str]] = None,
         warn_repeated: bool = True) -> anndata.AnnData:
    """Read raw counts from any supported format, ready for ACTINN.

    Parameters
    ----------
    path: str or os.PathLike
        File or 10x matrix directory.
    format: str, optional
        Force the format (see :data:`FORMATS`); detected by default.
    layer: str, optional
        h5ad only: read the counts from ``layers[layer]``.
    use_raw: bool, optional
        h5ad only: read the counts from ``.raw.X`` (True) or insist on
        ``X`` (False). With neither ``layer`` nor ``use_raw``, a normalised
        ``X`` makes the reader fall back to ``.raw`` or
        ``layers['counts']``; see :func:`counts_source`.
    upper_case_genes: bool, default True
        Upper-case the gene names. Repeated names are dropped either way,
        keeping the first (see :func:`clean_gene_names`).
    allow_non_integer: bool, default False
        Accept non-integer values instead of raising. Without it, values
        within :data:`~deepchem_actinn.io.ROUND_TOLERANCE` of a whole
        number (counts written as floats) are rounded, with one warning.
    orientation: str, optional
        CSV/TSV only: ``"genes_by_cells"`` (genes as rows, ACTINN's
        layout) or ``"cells_by_genes"`` (cells as rows, as in CellTypist's
        samples and ``scanpy.read_csv``). By default it is detected from
        ``expected_genes`` / ``expected_cells``, and is ACTINN's layout
        without them.
    expected_genes: sequence of str, optional
        Genes the data should hold (at prediction, the model's genes): for
        a text file, the axis holding more of them (case-insensitive) is
        taken for genes. Ignored by other formats.
    expected_cells: sequence of str, optional
        Cell ids the data should hold (at training, the labels' ids): for
        a text file, the axis holding more of them is taken for cells.
        Ignored by other formats.
    warn_repeated: bool, default True
        Check the cell ids (refuse an empty one, warn when ids repeat), and
        log what was read; the streaming readers, which read such a file
        whole on every pass, pass False and say both once per whole pass
        themselves (the log line goes to DEBUG).

    Returns
    -------
    anndata.AnnData
        Cells x genes, ``X`` a float32 CSR matrix holding the source's
        values, ``obs_names`` the cell ids, ``var_names`` the cleaned gene
        names (10x gene symbols; the ids stay in ``var['gene_ids']``).

    Raises
    ------
    ACTINNInputError
        If the path is missing, the file empty, damaged or not in the
        format its name or ``format`` says, the values not raw counts, or
        (text files) hints are given and neither axis matches them. The
        message is one line and names the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io import read
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2\\nActb,3,0\\nCd3e,0,1\\nACTB,9,9\\n")
    >>> adata = read(path)
    >>> list(adata.var_names), adata.X.toarray().tolist()
    (['ACTB', 'CD3E'], [[3.0, 0.0], [0.0, 1.0]])
    """
    return read_with_matrix(path,
                            format,
                            layer=layer,
                            use_raw=use_raw,
                            upper_case_genes=upper_case_genes,
                            allow_non_integer=allow_non_integer,
                            orientation=orientation,
                            expected_genes=expected_genes,
                            expected_cells=expected_cells,
                            warn_repeated=warn_repeated)[0]


def read_with_matrix(path: PathLike,
                     format: Optional[str] = None,
                     *,
                     layer: Optional[str] = None,
                     use_raw: Optional[bool] = None,
                     upper_case_genes: bool = True,
                     allow_non_integer: bool = False,
                     orientation: Optional[str] = None,
                     expected_genes: Optional[Sequence[str]] = None,
                     expected_cells: Optional[Sequence[str]] = None,
                     warn_repeated: bool = True,
                     log1p: bool = False) -> Tuple[anndata.AnnData, str]:
    """:func:`read` (of the same arguments), and which matrix the counts
    came from: ``"X"`` (the one matrix of formats other than h5ad),
    ``".raw.X"`` or a layer (``"layers['counts']"``), in the words a
    record uses. With ``log1p``, an h5ad file that holds no counts but
    whose ``X`` or else ``.raw.X`` is provably the natural log1p of
    per-cell normalised counts gives the expm1 of it, described as
    ``"expm1(.raw.X)"`` (:func:`~deepchem_actinn.io.counts_source`'s
    ``log1p``, the rule :func:`~deepchem_actinn.annotate` applies; the
    ``actinn`` commands that read a file whole pass it).

    Examples
    --------
    >>> import os, tempfile
    >>> import anndata, numpy as np
    >>> from deepchem_actinn.io.readers import read_with_matrix
    >>> path = os.path.join(tempfile.mkdtemp(), "ref.h5ad")
    >>> adata = anndata.AnnData(np.log1p(np.array([[3.0, 0.0], [1.0, 2.0]])))
    >>> adata.layers["counts"] = np.array([[3.0, 0.0], [1.0, 2.0]])
    >>> adata.write_h5ad(path)
    >>> read_with_matrix(path)[1]
    "layers['counts']"
    """
    p, fmt = path_and_format(path, format)
    with reading(p, FORMAT_WORDS[fmt]):
        check_h5ad_only(p, fmt, layer, use_raw)
        adata = read_format(p, fmt, orientation, expected_genes, expected_cells)
        one = fmt != "h5ad"  # one matrix: no .raw or layers to try
        src = counts_source(adata,
                            layer=layer,
                            use_raw=False if one else use_raw,
                            allow_non_integer=allow_non_integer,
                            source=str(p),
                            hint=FILE_COUNTS_HINT if one else None,
                            log1p=log1p and not one)
        try:  # SciPy would add up two values stored at one place
            refuse_repeated_entries(src.matrix, adata.obs_names, src.var.index)
        except ACTINNCellError as err:
            raise err.in_file("%s: %s" % (p, src.description)) from None
        out = _clean_counts(src, adata.obs, upper_case_genes,
                            not allow_non_integer, str(p))
    logger.log(logging.INFO if warn_repeated else logging.DEBUG,
               "%s: read %d cells x %d genes (%s, %s)", p, out.n_obs,
               out.n_vars, fmt, src.description)
    if warn_repeated:
        check_cell_ids(out.obs_names, str(p))
    return out, src.description
