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
import os
import secrets
import shutil
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator, List, Optional, Sequence, Union

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError

if TYPE_CHECKING:
    from _csv import Writer as _CsvWriter

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
#: Cell ids or type names: a list or a NumPy array.
Strings = Union[Sequence, np.ndarray]
#: Per-cell numbers: a list or a NumPy array.
Floats = Union[Sequence[float], np.ndarray]

LABEL_HEADER = ("cellname", "celltype")
CONFIDENCE_HEADER = "confidence"


def _check_target(path: PathLike, overwrite: bool, directory: bool) -> Path:
    """Refuse an output that exists (unless overwrite) or has no parent."""
    target = Path(path)
    parent = target.parent
    if not parent.is_dir():
        raise ACTINNInputError("%s: the output directory %s does not exist" %
                               (target, parent))
    if os.path.lexists(target):
        if not overwrite:
            raise ACTINNInputError(
                "%s exists; pass overwrite=True (CLI: --overwrite) to "
                "replace it" % target)
        if not directory and target.is_dir():
            raise ACTINNInputError(
                "%s is a directory; it cannot be replaced by a file" % target)
    return target


def _sibling(target: Path, tag: str) -> Path:
    """An unused hidden name next to ``target``, keeping its suffix."""
    suffix = target.suffix
    stem = target.name[:len(target.name) - len(suffix)]
    while True:
        candidate = target.with_name(".%s.%s-%s%s" %
                                     (stem, tag, secrets.token_hex(4), suffix))
        if not os.path.lexists(candidate):
            return candidate


def _remove(path: Path) -> None:
    """Remove a file or directory tree if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink()


@contextlib.contextmanager
def atomic_output(path: PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Write a file under a temporary name; move it into place on success.

    The existence check happens on entry, before any work. The block gets a
    path in the same directory (``.NAME.tmp-XXXXXXXX.SUFFIX``, not yet
    created) to write to; when the block finishes without an exception that
    file replaces ``path`` (:func:`os.replace`, atomic on one file system),
    otherwise it is removed and the exception propagates.

    Parameters
    ----------
    path: str or os.PathLike
        The final output file.
    overwrite: bool, default False
        Replace ``path`` if it exists.

    Yields
    ------
    pathlib.Path
        The temporary path to write.

    Raises
    ------
    ACTINNInputError
        If ``path`` exists and ``overwrite`` is False, if it is a
        directory, or if its directory does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.writers import atomic_output
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_output(path) as tmp:
    ...     _ = tmp.write_text("done\\n")
    ...     os.path.exists(path)
    False
    >>> open(path).read()
    'done\\n'
    """
    target = _check_target(path, overwrite, directory=False)
    tmp = _sibling(target, "tmp")
    try:
        yield tmp
        if not os.path.lexists(tmp):
            raise FileNotFoundError("%s: nothing was written to %s" %
                                    (target, tmp))
        if not overwrite and os.path.lexists(target):
            raise ACTINNInputError(
                "%s exists; pass overwrite=True (CLI: --overwrite) to "
                "replace it" % target)
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_output_dir(path: PathLike,
                      overwrite: bool = False) -> Iterator[Path]:
    """Build a directory under a temporary name; move it into place on
    success.

    Like :func:`atomic_output`, for outputs made of several files. The
    block gets an empty directory next to ``path``. On success it is
    renamed to ``path``; an existing ``path`` (with ``overwrite=True``) is
    first moved aside and deleted only after the new directory is in place,
    and restored if that rename fails.

    Parameters
    ----------
    path: str or os.PathLike
        The final output directory.
    overwrite: bool, default False
        Replace ``path`` if it exists.

    Yields
    ------
    pathlib.Path
        The temporary directory to fill.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.writers import atomic_output_dir
    >>> path = os.path.join(tempfile.mkdtemp(), "model")
    >>> with atomic_output_dir(path) as tmp:
    ...     _ = (tmp / "weights.txt").write_text("0.5\\n")
    >>> sorted(os.listdir(path))
    ['weights.txt']
    """
    target = _check_target(path, overwrite, directory=True)
    tmp = _sibling(target, "tmp")
    os.mkdir(tmp)
    try:
        yield tmp
        _move_dir_into_place(tmp, target, overwrite)
    except BaseException:
        _remove(tmp)
        raise


def _move_dir_into_place(tmp: Path, target: Path, overwrite: bool) -> None:
    if not os.path.lexists(target):
        os.replace(tmp, target)
        return
    if not overwrite:
        raise ACTINNInputError(
            "%s exists; pass overwrite=True (CLI: --overwrite) to replace it" %
            target)
    old = _sibling(target, "old")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    _remove(old)


def _open_text_out(path: Path) -> IO[str]:
    """Open a text file for writing, gzipped when the name says so."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "wt", encoding="utf-8", newline="")
    return open(path, "w", encoding="utf-8", newline="")


def write_actinn_h5(adata: anndata.AnnData,
                    path: PathLike,
                    overwrite: bool = False,
                    *,
                    key: str = "dge") -> None:
    """Write counts in the original ACTINN layout: pandas HDF5, genes x
    cells.

    A DataFrame indexed by gene names with one column per cell id is stored
    under ``key`` in pandas' fixed format, as the ACTINN scripts expect
    (``pd.read_hdf(path, "dge")``). The format is dense: the whole matrix
    is held in memory while writing.

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
    with atomic_output(path, overwrite) as tmp:
        X = adata.X
        dense = X.toarray() if sp.issparse(X) else np.asarray(X)
        frame = pd.DataFrame(dense.T,
                             index=pd.Index(adata.var_names.astype(str),
                                            dtype=object),
                             columns=pd.Index(adata.obs_names.astype(str),
                                              dtype=object))
        frame.to_hdf(tmp, key=key, mode="w", format="fixed")
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
    (``%.4f``) follows. The file appears under its name only when the
    ``with`` block ends without an exception.

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
    ['cellname\\tcelltype\\tconfidence', 'c1\\tB cell\\t0.9000',
     'c2\\tT cell\\t0.7500', 'c3\\tB cell\\t0.5000']
    """

    def __init__(self, path: PathLike, overwrite: bool = False):
        self.path = _check_target(path, overwrite, directory=False)
        self.overwrite = overwrite
        self.n_written = 0
        self._with_confidence: Optional[bool] = None
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
        if exc_type is None and self._with_confidence is None:
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
              confidence: Optional[Floats] = None) -> None:
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
        """
        if self._writer is None:
            raise RuntimeError(
                "use PredictedLabelWriter in a with block before write()")
        ids = _strings(cell_ids, "cell id")
        types = _strings(cell_types, "cell type")
        if len(ids) != len(types):
            raise ValueError("%d cell ids but %d cell types" %
                             (len(ids), len(types)))
        with_confidence = confidence is not None
        if self._with_confidence is None:
            self._with_confidence = with_confidence
            header = LABEL_HEADER + (
                (CONFIDENCE_HEADER,) if with_confidence else ())
            self._writer.writerow(header)
        elif self._with_confidence != with_confidence:
            raise ValueError("give confidence for every chunk or for none")
        if with_confidence:
            conf = np.asarray(confidence, dtype=float).reshape(-1)
            if conf.size != len(ids):
                raise ValueError("%d cell ids but %d confidences" %
                                 (len(ids), conf.size))
            self._writer.writerows(zip(ids, types, ("%.4f" % c for c in conf)))
        else:
            self._writer.writerows(zip(ids, types))
        self.n_written += len(ids)


def write_predicted_labels(path: PathLike,
                           cell_ids: Strings,
                           cell_types: Strings,
                           overwrite: bool = False) -> None:
    """Write predicted labels as ACTINN's ``predicted_label.txt``.

    Tab-separated, header ``cellname<TAB>celltype``, one line per cell.

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
        writer.write(cell_ids, cell_types)


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
        The cell types, ``n_types`` of them, in the order of ``proba``'s
        columns.
    proba: array-like of shape (n_cells, n_types)
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
