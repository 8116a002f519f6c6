"""Cells in chunks, for data larger than memory.

:func:`iter_cell_chunks` yields the cells of a file chunk by chunk: h5ad
(CSR or dense), ACTINN HDF5 and 10x HDF5 files are read piece by piece, so
memory stays bounded by the chunk; other formats are read whole with
:func:`~deepchem_actinn.io.read` and then cut (the rows come from
:func:`~deepchem_actinn.io.file_rows.open_rows`).
:func:`settle_counts_matrix` decides once which matrix of an h5ad file
several passes read. What a file holds without its matrix
(:func:`n_cells`, :func:`read_cell_ids`, :func:`read_var`,
:func:`read_gene_names`) is in :mod:`~deepchem_actinn.io.file_axes`, and
imported here too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io.counts import (FILE_COUNTS_HINT, as_count_matrix,
                                       check_count_values, log_rounded,
                                       refuse_log_normalised_start,
                                       round_near_whole)
from deepchem_actinn.io.content import reading
from deepchem_actinn.io.file_axes import (  # noqa: F401
    n_cells, read_cell_ids, read_gene_names, read_var)
from deepchem_actinn.io.file_rows import how_read, open_rows
from deepchem_actinn.io.formats import (FORMAT_WORDS, check_h5ad_only,
                                        check_text_only, path_and_format)
from deepchem_actinn.io.genes import clean_gene_names
from deepchem_actinn.io.h5ad import settle_matrix
from deepchem_actinn.io.readers import check_cell_ids
from deepchem_actinn.io.text import SEPARATORS, text_orientation
from deepchem_actinn.types import PathLike

logger = logging.getLogger(__name__)


def settle_counts_matrix(
        path: PathLike,
        format: Optional[str] = None,
        *,
        layer: Optional[str] = None,
        use_raw: Optional[bool] = None,
        allow_non_integer: bool = False
) -> Tuple[Optional[str], Optional[bool]]:
    """Which matrix of an h5ad file holds the counts, decided once.

    With neither ``layer`` nor ``use_raw``, the reader looks for the counts
    each time it opens the file (``X``, else ``.raw.X`` or
    ``layers['counts']``) and logs where it found them. A reader that makes
    several passes (one per epoch, or per chunk in Dask) calls this first
    and hands the answer to every pass, which then opens that matrix
    straight away: the choice is said once, and every pass reads the same
    matrix (:func:`~deepchem_actinn.io.h5ad.settle_matrix`, which also
    names it for a record).

    Returns
    -------
    (layer, use_raw)
        Naming the chosen matrix: ``(None, True)`` for ``.raw.X``, a
        layer's name, or the arguments as given (other formats, ``X``
        itself, a file read whole, or no counts anywhere: the pass that
        reads it says so).

    Examples
    --------
    >>> import os, tempfile, anndata, numpy as np
    >>> from deepchem_actinn.io.stream import settle_counts_matrix
    >>> adata = anndata.AnnData(np.array([[3.0, 0.0], [1.0, 2.0]]))
    >>> adata.layers["counts"] = adata.X.copy()
    >>> adata.X = np.log1p(adata.X)
    >>> path = os.path.join(tempfile.mkdtemp(), "query.h5ad")
    >>> adata.write_h5ad(path)
    >>> settle_counts_matrix(path)
    ('counts', None)
    """
    settled = settle_matrix(path,
                            format,
                            layer=layer,
                            use_raw=use_raw,
                            allow_non_integer=allow_non_integer)
    return settled.layer, settled.use_raw


def iter_cell_chunks(
        path: PathLike,
        chunk_size: int = 50_000,
        format: Optional[str] = None,
        *,
        upper_case_genes: bool = True,
        layer: Optional[str] = None,
        use_raw: Optional[bool] = None,
        allow_non_integer: bool = False,
        starts: Optional[Sequence[int]] = None,
        check: bool = True,
        orientation: Optional[str] = None,
        expected_genes: Optional[Sequence[str]] = None,
        expected_cells: Optional[Sequence[str]] = None,
        tell: Optional[bool] = None
) -> Iterator[Tuple[np.ndarray, sp.csr_matrix]]:
    """Yield the cells of a file in chunks, for data larger than memory.

    h5ad (CSR or dense ``X``), ACTINN HDF5 (pandas fixed format) and 10x
    HDF5 files are read chunk by chunk, so memory stays bounded by the
    chunk; other formats are read whole and then cut. Chunks hold the same
    values and columns as :func:`read` with the same arguments; each chunk
    is checked for raw counts as it is read. For an h5ad file whose ``X``
    is normalised, the fallback to ``.raw`` or ``layers['counts']`` is
    decided from the first values of ``X``. Chunks are read for an
    annotator, so with ``allow_non_integer=True`` they may hold counts on
    another scale (TPM) but not a log scale: a file whose first cells
    (:func:`~deepchem_actinn.io.counts.log_scale_rows`) look
    log-normalised is refused (:func:`read` returns such values).

    Parameters
    ----------
    path: str or os.PathLike
        File or 10x matrix directory.
    chunk_size: int, default 50_000
        Cells per chunk (the last may be smaller).
    format: str, optional
        Force the format; detected by default.
    upper_case_genes: bool, default True
        As in :func:`read`; the columns match :func:`read_gene_names`.
    layer, use_raw:
        As in :func:`read`.
    allow_non_integer: bool, default False
        As in :func:`read`, but log-normalised values are refused.
    starts: sequence of int, optional
        Read the chunks that start at these cells, in this order (for
        shuffled passes over a file); by default every chunk in file order.
    check: bool, default True
        Check every chunk's values; pass False only for a file whose values
        an earlier pass has checked. Repeated cell ids are warned about
        when ``starts`` is None, once per call.
    orientation, expected_genes, expected_cells:
        As in :func:`read`: for CSV/TSV files, which axis holds the genes.
    tell: bool, optional
        Log what the file holds and check its cell ids (empty ones refused,
        repeated ones warned about), as a whole pass does; by default only
        when ``starts`` is None. True for a process's share of a pass that
        several processes make together.

    Yields
    ------
    cell_ids: numpy.ndarray
        Object array of str, the chunk's cells.
    X: scipy.sparse.csr_matrix
        float32, chunk cells x genes.

    Raises
    ------
    ACTINNInputError
        At the call for a missing path, an unknown format, a file whose
        content does not match its format, or (text files) hints that match
        neither axis; while iterating for a damaged file or values that are
        not raw counts. The message is one line and names the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io import iter_cell_chunks
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2,c3\\nActb,3,0,1\\n")
    >>> [list(ids) for ids, X in iter_cell_chunks(path, chunk_size=2)]
    [['c1', 'c2'], ['c3']]
    """
    if int(chunk_size) < 1:
        raise ACTINNInputError("chunk_size must be at least 1, got %r" %
                               (chunk_size,))
    p, fmt = path_and_format(path, format)
    with reading(p, FORMAT_WORDS[fmt]):
        check_h5ad_only(p, fmt, layer, use_raw)
        check_text_only(p, fmt, orientation)
        oriented = (text_orientation(p, fmt, orientation, expected_genes,
                                     expected_cells)
                    if fmt in SEPARATORS else None)
    return _iter_chunks(p, fmt, int(chunk_size), upper_case_genes, layer,
                        use_raw, allow_non_integer, starts, check, oriented,
                        starts is None if tell is None else bool(tell))


def _check_chunk(X, ids: np.ndarray, what: str, path: Path, check: bool,
                 allow_non_integer: bool, source: Any, fmt: str,
                 part: Tuple[int, int, int]) -> Tuple[Any, int]:
    """A chunk's values as :func:`read` returns them: checked (or, with
    ``check=False``, only rounded), and how many were rounded. ``source``:
    the file's row reader, which tells whether other matrices were looked
    at for raw counts, and why none was taken; ``part``: the chunk's first
    and past-the-last cell, and the file's cells (a message counts values
    in those cells only)."""
    if check:
        rounded = check_count_values(X,
                                     ids,
                                     what=what,
                                     source=str(path),
                                     allow_non_integer=allow_non_integer,
                                     searched=getattr(source, "searched",
                                                      False),
                                     rejected=getattr(source, "rejected", ()),
                                     hint=getattr(source, "hint", None)
                                     if fmt == "h5ad" else FILE_COUNTS_HINT,
                                     part=part)
        return (round_near_whole(X)[0] if rounded else X), rounded
    if allow_non_integer:
        return X, 0
    return round_near_whole(X)


def _iter_chunks(path: Path,
                 fmt: str,
                 chunk_size: int,
                 upper_case_genes: bool,
                 layer: Optional[str],
                 use_raw: Optional[bool],
                 allow_non_integer: bool,
                 starts: Optional[Sequence[int]] = None,
                 check: bool = True,
                 orientation: Optional[str] = None,
                 tell: bool = True):
    n_rounded, finished = 0, False
    try:
        with reading(path,
                     FORMAT_WORDS[fmt]), open_rows(path, fmt, layer, use_raw,
                                                   allow_non_integer,
                                                   orientation) as source:
            _, keep = clean_gene_names(source.gene_names,
                                       upper_case=upper_case_genes,
                                       quiet=True)
            columns = None if keep.all() else np.flatnonzero(keep)
            # a pass over some chunks only (``starts``: a shuffled epoch, a
            # cluster's task) is not told again what the whole pass told
            if tell:
                check_cell_ids(source.cell_ids, str(path))
                logger.info("%s: read %d cells x %d genes (%s)", path,
                            source.shape[0], int(keep.sum()),
                            how_read(source, fmt))
            if check and allow_non_integer:
                refuse_log_normalised_start(source.rows,
                                            source.shape,
                                            source.cell_ids,
                                            what=source.description,
                                            source=str(path))
            n = source.shape[0]
            if starts is None:
                starts = range(0, n, chunk_size)
            for start in starts:
                start = int(start)
                if not 0 <= start < n:
                    raise ACTINNInputError("%s: no cell %d (the file has %d)" %
                                           (path, start, n))
                stop = min(n, start + chunk_size)
                ids = source.cell_ids[start:stop]
                X = source.rows(start, stop)
                if not source.checked:
                    X, rounded = _check_chunk(X, ids, source.description, path,
                                              check, allow_non_integer, source,
                                              fmt, (start, stop, n))
                    n_rounded += rounded
                X = as_count_matrix(X)
                if columns is not None:
                    X = X[:, columns]
                yield ids, X
            finished = True
    finally:
        if finished:  # a pass left early (a first look) says nothing
            log_rounded(n_rounded, str(path))
