"""Write count matrices and predictions, atomically.

Every writer builds its output under a temporary name in the target's
directory and renames it into place only once it is complete, so an
interrupted run never leaves a truncated file behind, and an existing
output is only replaced when asked (``overwrite=True``, on the command line
``--overwrite``).

The prediction files follow the original ACTINN scripts: ``cellname``,
``celltype`` columns for the labels and a cell types x cells table for the
probabilities, both tab-separated.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import logging
from pathlib import Path
from typing import IO, TYPE_CHECKING, List, Optional, Tuple

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io.labels import (CONFIDENCE_HEADER, LABEL_HEADER,
                                       REASON_HEADER)
from deepchem_actinn.io.output import (  # noqa: F401
    atomic_output, atomic_output_dir, check_target)
from deepchem_actinn.types import Floats, PathLike, Strings

if TYPE_CHECKING:
    from _csv import Writer as _CsvWriter

logger = logging.getLogger(__name__)


def _open_text_out(path: Path) -> IO[str]:
    """Open a text file for writing, gzipped when the name says so."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "wt", encoding="utf-8", newline="")
    return open(path, "w", encoding="utf-8", newline="")


def write_actinn_h5(adata: anndata.AnnData,
                    path: PathLike,
                    overwrite: bool = False,
                    *,
                    key: str = "dge",
                    complevel: int = 4) -> None:
    """Write counts in the original ACTINN layout: pandas HDF5, genes x
    cells.

    A DataFrame indexed by gene names with one column per cell id is stored
    under ``key`` in pandas' fixed format, as the ACTINN scripts expect
    (``pd.read_hdf(path, "dge")``). The format is dense: the whole matrix
    is held in memory while writing, and compressed in the file (zlib, which
    every HDF5 reader has), so that its zeros take little room.

    Parameters
    ----------
    adata: anndata.AnnData
        Cells x genes; ``X`` dense or sparse.
    path: str or os.PathLike
        The ``.h5`` file to write.
    overwrite: bool, default False
        Replace ``path`` if it exists.
    key: str, default "dge"
        The HDF5 key.
    complevel: int, default 4
        zlib compression level, 0 (none) to 9.

    Examples
    --------
    >>> import os, tempfile
    >>> import anndata, numpy as np, pandas as pd
    >>> from deepchem_actinn.io.writers import write_actinn_h5
    >>> adata = anndata.AnnData(np.array([[1, 0, 2], [0, 5, 0]]))
    >>> adata.obs_names, adata.var_names = ["c1", "c2"], ["A", "B", "C"]
    >>> path = os.path.join(tempfile.mkdtemp(), "train.h5")
    >>> write_actinn_h5(adata, path)
    >>> pd.read_hdf(path, "dge").shape  # genes x cells
    (3, 2)
    """
    if complevel not in range(10):
        raise ValueError("complevel must be a whole number from 0 to 9, got "
                         "%r" % (complevel,))
    with atomic_output(path, overwrite) as tmp:
        X = adata.X
        dense = X.toarray() if sp.issparse(X) else np.asarray(X)
        frame = pd.DataFrame(dense.T,
                             index=pd.Index(adata.var_names.astype(str),
                                            dtype=object),
                             columns=pd.Index(adata.obs_names.astype(str),
                                              dtype=object))
        frame.to_hdf(tmp,
                     key=key,
                     mode="w",
                     format="fixed",
                     complib="zlib",
                     complevel=complevel)
    logger.info("wrote %d genes x %d cells to %s", frame.shape[0],
                frame.shape[1], path)


def write_h5ad(adata: anndata.AnnData,
               path: PathLike,
               overwrite: bool = False,
               *,
               compression: Optional[str] = None) -> None:
    """Write an AnnData file atomically, keeping sparse matrices sparse.

    Parameters
    ----------
    adata: anndata.AnnData
        What to write.
    path: str or os.PathLike
        The ``.h5ad`` file to write.
    overwrite: bool, default False
        Replace ``path`` if it exists.
    compression: str, optional
        ``"gzip"`` or ``"lzf"``, passed to :meth:`anndata.AnnData.write_h5ad`.

    Examples
    --------
    >>> import os, tempfile
    >>> import anndata, scipy.sparse as sp
    >>> from deepchem_actinn.io.writers import write_h5ad
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.h5ad")
    >>> write_h5ad(anndata.AnnData(sp.csr_matrix([[1.0, 0.0]])), path)
    >>> sp.issparse(anndata.read_h5ad(path).X)
    True
    """
    with atomic_output(path, overwrite) as tmp:
        adata.write_h5ad(tmp, compression=compression)
    logger.info("wrote %d cells x %d genes to %s", adata.n_obs, adata.n_vars,
                path)


def _strings(values: Strings, what: str) -> List[str]:
    out = [str(v) for v in values]
    for v in out:
        if "\n" in v or "\r" in v:
            raise ACTINNInputError("%s %r holds a line break" % (what, v))
    return out


class PredictedLabelWriter:
    """Stream predicted labels to a file, chunk by chunk.

    Writes ACTINN's ``predicted_label.txt`` layout: a header
    ``cellname<TAB>celltype`` then one line per cell. If
    :meth:`write` is given confidences, a third column ``confidence``
    (six decimals) follows; if it is given reasons, a column
    ``unassigned_reason`` after it (:data:`~deepchem_actinn.io.REASON_HEADER`:
    why each cell is ``Unassigned``, empty for a cell given a type). The
    file appears under its name only when the ``with`` block ends without an
    exception.

    Parameters
    ----------
    path: str or os.PathLike
        The output file (gzipped if it ends with ``.gz``).
    overwrite: bool, default False
        Replace ``path`` if it exists; checked at construction.

    Attributes
    ----------
    n_written: int
        Cells written so far.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.writers import PredictedLabelWriter
    >>> path = os.path.join(tempfile.mkdtemp(), "predicted_label.txt")
    >>> with PredictedLabelWriter(path) as writer:
    ...     writer.write(["c1", "c2"], ["B cell", "T cell"], [0.9, 0.75])
    ...     writer.write(["c3"], ["B cell"], [0.5])
    >>> open(path).read().splitlines()  # doctest: +NORMALIZE_WHITESPACE
    ['cellname\\tcelltype\\tconfidence', 'c1\\tB cell\\t0.900000',
     'c2\\tT cell\\t0.750000', 'c3\\tB cell\\t0.500000']

    With the reasons of an ``Unassigned`` rule:

    >>> with PredictedLabelWriter(path, overwrite=True) as writer:
    ...     writer.write(["c1", "c2"], ["B cell", "Unassigned"], [0.9, 0.99],
    ...                  reasons=["", "novel"])
    >>> open(path).read().splitlines()  # doctest: +NORMALIZE_WHITESPACE
    ['cellname\\tcelltype\\tconfidence\\tunassigned_reason',
     'c1\\tB cell\\t0.900000\\t', 'c2\\tUnassigned\\t0.990000\\tnovel']
    """

    def __init__(self, path: PathLike, overwrite: bool = False):
        self.path = check_target(path, overwrite, directory=False)
        self.overwrite = overwrite
        self.n_written = 0
        self._columns: Optional[Tuple[bool, bool]] = None
        self._stack: Optional[contextlib.ExitStack] = None
        self._writer: Optional[_CsvWriter] = None

    def __enter__(self) -> "PredictedLabelWriter":
        if self._stack is not None:
            raise RuntimeError("PredictedLabelWriter is already open")
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(atomic_output(self.path, self.overwrite))
            handle = stack.enter_context(_open_text_out(tmp))
            self._writer = csv.writer(handle,
                                      delimiter="\t",
                                      lineterminator="\n")
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack, self._stack = self._stack, None
        writer, self._writer = self._writer, None
        if stack is None or writer is None:
            raise RuntimeError("PredictedLabelWriter is not open")
        if exc_type is None and self._columns is None:
            try:  # nothing was written: still leave a header
                writer.writerow(LABEL_HEADER)
            except BaseException as err:
                if not stack.__exit__(type(err), err, err.__traceback__):
                    raise
                return False
        suppressed = stack.__exit__(exc_type, exc, tb)
        if exc_type is None:
            logger.info("wrote %d predicted labels to %s", self.n_written,
                        self.path)
        return bool(suppressed)

    def write(self,
              cell_ids: Strings,
              cell_types: Strings,
              confidence: Optional[Floats] = None,
              reasons: Optional[Strings] = None) -> None:
        """Append one chunk of predictions.

        Parameters
        ----------
        cell_ids: sequence of str
            The chunk's cells.
        cell_types: sequence of str
            The predicted cell type of each.
        confidence: sequence of float, optional
            The probability of each prediction. Give it for every chunk or
            for none.
        reasons: sequence of str, optional
            Why each cell is ``Unassigned`` (``""`` for a cell given a
            type), as :attr:`Annotation.unassigned_reason
            <deepchem_actinn.Annotation.unassigned_reason>` gives
            it: the column ``unassigned_reason``. Give it for every chunk
            or for none.
        """
        if self._writer is None:
            raise RuntimeError(
                "use PredictedLabelWriter in a with block before write()")
        ids = _strings(cell_ids, "cell id")
        columns = [ids, _strings(cell_types, "cell type")]
        if len(columns[1]) != len(ids):
            raise ValueError("%d cell ids but %d cell types" %
                             (len(ids), len(columns[1])))
        given = (confidence is not None, reasons is not None)
        if self._columns is None:
            self._columns = given
            header = LABEL_HEADER + ((CONFIDENCE_HEADER,) if given[0] else
                                     ()) + ((REASON_HEADER,) if given[1] else
                                            ())
            self._writer.writerow(header)
        elif self._columns[0] != given[0]:
            raise ValueError("give confidence for every chunk or for none")
        elif self._columns[1] != given[1]:
            raise ValueError("give reasons for every chunk or for none")
        if confidence is not None:
            columns.append(format_confidence(confidence))
            if len(columns[-1]) != len(ids):
                raise ValueError("%d cell ids but %d confidences" %
                                 (len(ids), len(columns[-1])))
        if reasons is not None:
            columns.append(_strings(reasons, "unassigned reason"))
            if len(columns[-1]) != len(ids):
                raise ValueError("%d cell ids but %d unassigned reasons" %
                                 (len(ids), len(columns[-1])))
        self._writer.writerows(zip(*columns))
        self.n_written += len(ids)


def format_confidence(confidence: Floats) -> List[str]:
    """Confidences as ``predicted_label.txt`` spells them: six decimals.

    Examples
    --------
    >>> from deepchem_actinn.io.writers import format_confidence
    >>> format_confidence([0.99998653, 1.0, 0.25])
    ['0.999987', '1.000000', '0.250000']
    """
    return ["%.6f" % c for c in np.asarray(confidence, dtype=float).ravel()]


def write_predicted_labels(path: PathLike,
                           cell_ids: Strings,
                           cell_types: Strings,
                           overwrite: bool = False,
                           confidence: Optional[Floats] = None,
                           reasons: Optional[Strings] = None) -> None:
    """Write predicted labels as ACTINN's ``predicted_label.txt``.

    Tab-separated, header ``cellname<TAB>celltype``, one line per cell;
    with ``confidence``, a third column ``confidence``; with ``reasons``, a
    column ``unassigned_reason`` after it.

    Parameters
    ----------
    path: str or os.PathLike
        The output file.
    cell_ids: sequence of str
        The cells.
    cell_types: sequence of str
        The predicted cell type of each.
    overwrite: bool, default False
        Replace ``path`` if it exists.
    confidence: sequence of float, optional
        The probability of each label.
    reasons: sequence of str, optional
        Why each cell is ``Unassigned`` (``""`` for a cell given a type).

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.writers import write_predicted_labels
    >>> path = os.path.join(tempfile.mkdtemp(), "predicted_label.txt")
    >>> write_predicted_labels(path, ["c1", "c2"], ["B cell", "T cell"])
    >>> open(path).read().splitlines()
    ['cellname\\tcelltype', 'c1\\tB cell', 'c2\\tT cell']
    """
    with PredictedLabelWriter(path, overwrite) as writer:
        writer.write(cell_ids, cell_types, confidence, reasons)


def write_probabilities(path: PathLike,
                        cell_ids: Strings,
                        type_names: Strings,
                        proba,
                        overwrite: bool = False) -> None:
    """Write class probabilities as ACTINN's ``predicted_probabilities.txt``.

    Tab-separated, cell types as rows and cells as columns: the header is
    an empty field followed by the cell ids, each row a cell type followed
    by its probability in every cell.

    Parameters
    ----------
    path: str or os.PathLike
        The output file (gzipped if it ends with ``.gz``).
    cell_ids: sequence of str
        The cells, ``n_cells`` of them.
    type_names: sequence of str
        The cell types, in the order of ``proba``'s columns.
    proba: array-like, cells x types
        Probabilities, one row per cell (as ``predict_proba`` returns).
    overwrite: bool, default False
        Replace ``path`` if it exists.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.writers import write_probabilities
    >>> path = os.path.join(tempfile.mkdtemp(), "predicted_probabilities.txt")
    >>> write_probabilities(path, ["c1", "c2"], ["B cell", "T cell"],
    ...                     [[0.75, 0.25], [0.5, 0.5]])
    >>> open(path).read().splitlines()
    ['\\tc1\\tc2', 'B cell\\t0.75\\t0.5', 'T cell\\t0.25\\t0.5']
    """
    ids = _strings(cell_ids, "cell id")
    types = _strings(type_names, "cell type")
    proba = np.asarray(proba)
    if proba.shape != (len(ids), len(types)):
        raise ValueError("proba has shape %s; expected (n_cells, n_types) = "
                         "(%d, %d)" % (proba.shape, len(ids), len(types)))
    frame = pd.DataFrame(proba.T,
                         index=pd.Index(types, dtype=object),
                         columns=pd.Index(ids, dtype=object))
    with atomic_output(path, overwrite) as tmp:
        frame.to_csv(tmp, sep="\t")
