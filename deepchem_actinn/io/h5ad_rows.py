"""Rows of an AnnData (``.h5ad``) file's counts matrix, a block at a time.

:class:`H5adRows` streams one matrix (``X``, ``raw/X`` or a layer) row
block by row block: a CSR matrix through
:func:`anndata.io.sparse_dataset`, a dense one as its HDF5 array, its cell
and gene names as :mod:`~deepchem_actinn.io.h5ad_elements` reads them.
Which matrix holds the counts is decided on its first rows by
:func:`deepchem_actinn.io.count_matrix.choose_counts`, the rule
:func:`~deepchem_actinn.io.counts_source` applies to AnnData objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import h5py
import numpy as np
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError
from deepchem_actinn.io._common import HDF5Rows, NoDirectAccess
from deepchem_actinn.io.count_matrix import (BOTH_NAMED, NO_RAW, absent_x,
                                             CountsSource, choose_counts,
                                             counts_elsewhere, in_place_of_x,
                                             matrix_choice, no_layer,
                                             other_layers)
from deepchem_actinn.io.counts import (COUNT_LAYERS, ValueReport,
                                       expm1_of_log1p, scan_values, widen_half)
from deepchem_actinn.io.h5ad_elements import (HalfCSR, half_sparse,
                                              index_element, index_names,
                                              var_table)
from deepchem_actinn.io.h5ad_layout import (DAMAGE_ERRORS, check_layout,
                                            check_sparse, damage_refused)
from deepchem_actinn.io.sparse import refuse_repeated_entries

try:  # anndata >= 0.11
    from anndata.io import sparse_dataset
except ImportError:  # pragma: no cover - older anndata
    from anndata.experimental import sparse_dataset

# Stored values looked at to decide which matrix holds the counts.
_PEEK_VALUES = 1 << 20
# Rows looked at in a sparse matrix for the same decision.
_PEEK_ROWS = 4096


def _absent_x(f: h5py.File) -> Any:
    """:func:`~deepchem_actinn.io.count_matrix.absent_x` for an h5ad file
    without X: its layers, and ``.raw`` where it has one."""
    return absent_x(list(f["layers"]) if "layers" in f else [], "raw" in f)


class H5adRows(HDF5Rows):
    """Row access to ``X``, a layer or ``raw/X`` of an h5ad file.

    Parameters
    ----------
    path: pathlib.Path
        The file.
    layer, use_raw, allow_non_integer:
        As in :func:`~deepchem_actinn.io.counts_source`; with neither
        ``layer`` nor ``use_raw``, the first rows of each candidate decide.
    """

    def __init__(self, path: Path, layer: Optional[str],
                 use_raw: Optional[bool], allow_non_integer: bool):
        super().__init__(path)
        self.layer = layer
        self.use_raw = use_raw
        self.allow_non_integer = allow_non_integer
        self.searched = False
        self.rejected: List[Any] = []
        #: Where the counts are when the matrix named holds none (the
        #: error's advice), else None.
        self.hint: Optional[Any] = None
        self._cell_ids: Optional[np.ndarray] = None

    def __enter__(self) -> "H5adRows":
        try:
            super().__enter__()
        except (ACTINNInputError, NoDirectAccess, OSError, KeyError):
            raise  # said as it is, or the file is read whole instead
        except DAMAGE_ERRORS as err:
            raise damage_refused(self.path, err) from None
        return self

    def _matrix(self, f: h5py.File, key: str):
        """A CSR sparse dataset or a dense HDF5 array; others read whole."""
        elem = f.get(key)
        if isinstance(elem, h5py.Dataset) and elem.ndim == 2:
            return elem
        if (isinstance(elem, h5py.Group) and
                elem.attrs.get("encoding-type") == "csr_matrix"):
            check_sparse(key, elem)
            return HalfCSR(elem) if half_sparse(elem) else \
                sparse_dataset(elem)
        raise NoDirectAccess("its %s is not stored by rows (CSR or dense)" %
                             key)

    def _candidate(self, f: h5py.File, what: str) -> CountsSource:
        key, var_key = {
            ".raw.X": ("raw/X", "raw/var"),
            "X": ("X", "var")
        }.get(what, ("layers/%s" % what[8:-2], "var"))
        return CountsSource(self._matrix(f, key), var_table(f[var_key]), what)

    def _first(self, f: h5py.File) -> CountsSource:
        if self.layer is not None and self.use_raw:
            raise ACTINNInputError("%s: %s" % (self.path, BOTH_NAMED))
        if self.use_raw:
            if "raw" not in f:
                raise ACTINNInputError("%s: %s", self.path, NO_RAW)
            return self._candidate(f, ".raw.X")
        if self.layer is not None:
            layers = list(f["layers"]) if "layers" in f else []
            if self.layer not in layers:
                raise ACTINNInputError("%s: %s", self.path,
                                       no_layer(self.layer, layers))
            return self._candidate(f, "layers[%r]" % self.layer)
        if "X" not in f:  # X named (use_raw=False): said as select_matrix
            raise ACTINNInputError("%s: %s", self.path, _absent_x(f))
        return self._candidate(f, "X")

    def _fallbacks(self, f: h5py.File) -> Iterator[CountsSource]:
        if "raw/X" in f:
            yield self._candidate(f, ".raw.X")
        for name in COUNT_LAYERS:
            if "layers/%s" % name in f:
                yield self._candidate(f, "layers[%r]" % name)

    def _everywhere(self, f: h5py.File) -> Iterator[CountsSource]:
        """``X`` and the conventional places of counts, those that can be
        read by rows."""
        places = [("X", "X"), ("raw/X", ".raw.X")] + [
            ("layers/%s" % name, "layers[%r]" % name) for name in COUNT_LAYERS
        ]
        for what in [what for key, what in places if key in f]:
            try:
                yield self._candidate(f, what)
            except NoDirectAccess:
                pass

    @staticmethod
    def _peek(matrix) -> ValueReport:
        """Scan the first rows (about a million values) of a matrix."""
        n_rows, n_cols = matrix.shape
        if isinstance(matrix, h5py.Dataset):
            stop = max(1, _PEEK_VALUES // max(n_cols, 1))
        else:
            stop = _PEEK_ROWS
        return scan_values(matrix[:min(n_rows, stop)])

    def _open(self, f: h5py.File) -> None:
        check_layout(f)  # what anndata cannot read is refused here too
        explicit = self.layer is not None or self.use_raw is not None
        fallbacks = () if explicit else self._fallbacks(f)
        if "X" not in f and not explicit:
            first, fallbacks = in_place_of_x(fallbacks, _absent_x(f),
                                             str(self.path))
        else:
            first = self._first(f)
        chosen, report, self.rejected = choose_counts(first, fallbacks,
                                                      self._peek,
                                                      self.allow_non_integer,
                                                      str(self.path))
        # When nothing holds counts, X streams and its check names the cells.
        self.searched = report is not None and not explicit
        if self.searched:
            self.rejected += other_layers(
                list(f["layers"]) if "layers" in f else [])
        if report is not None and explicit:
            self.hint = counts_elsewhere(self._everywhere(f), self._peek,
                                         first.description)
        matrix: Any = chosen.matrix
        self._elem = matrix
        self.description = chosen.description
        # the names' layout is checked here; they are decoded on first use
        n_obs = int(index_element(f.get("obs")).shape[0])
        self._cell_ids = None
        self.var = chosen.var
        self.gene_names = self.var.index.to_numpy(dtype=object)
        self.shape = (int(matrix.shape[0]), int(matrix.shape[1]))
        if self.shape != (n_obs, len(self.gene_names)):
            raise NoDirectAccess("its matrix's shape does not match obs "
                                 "and var")

    @property
    def cell_ids(self) -> np.ndarray:
        """The obs names, decoded on first use: a look at the genes
        (``read_var``) never decodes them (10^6 names take about 0.5 s)."""
        if self._cell_ids is None:
            assert self._file is not None, "read the names while open"
            self._cell_ids = index_names(self._file.get("obs"))
        return self._cell_ids

    @cell_ids.setter
    def cell_ids(self, names: np.ndarray) -> None:
        self._cell_ids = names

    @property
    def choice(self) -> Tuple[Optional[str], Optional[bool]]:
        """``(layer, use_raw)`` naming the matrix :meth:`_open` chose, so
        that a later pass opens it without looking again (and without
        saying again why); the arguments as given when nothing held counts
        or ``X`` did."""
        if self.searched:
            return self.layer, self.use_raw
        return matrix_choice(self.description, self.layer, self.use_raw)

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        block = self._elem[start:stop]
        if isinstance(block, sp.csr_matrix):
            try:
                refuse_repeated_entries(block, self.cell_ids[start:stop],
                                        self.gene_names, start)
            except ACTINNCellError as err:
                raise err.in_file("%s: %s" %
                                  (self.path, self.description)) from None
            return block
        return sp.csr_matrix(widen_half(block))


def may_be_log1p(path: Path) -> bool:
    """Whether the first rows of an h5ad file's ``X``, or else of its
    ``raw/X``, are the natural log1p of per-cell normalised counts
    (:func:`~deepchem_actinn.io.counts.expm1_of_log1p`), so that the whole
    file is worth reading to prove it; also where a matrix cannot be read
    by rows (it is read whole anyway). A file of other values is then
    refused without being read whole, as is a damaged one (the caller
    says what its first cells' reading found).

    Examples
    --------
    >>> import os, tempfile
    >>> import anndata, numpy as np
    >>> from deepchem_actinn.io.h5ad_rows import may_be_log1p
    >>> path = os.path.join(tempfile.mkdtemp(), "q.h5ad")
    >>> counts = np.array([[900.0, 100.0], [250.0, 750.0]])
    >>> anndata.AnnData(np.log1p(counts)).write_h5ad(path)
    >>> may_be_log1p(path)
    True
    >>> anndata.AnnData(np.log2(1 + counts)).write_h5ad(path)
    >>> may_be_log1p(path)
    False
    """
    rows = H5adRows(Path(path), None, None, False)
    try:
        with h5py.File(path, "r") as f:
            for key in ("X", "raw/X"):
                if key not in f:
                    continue
                try:
                    matrix = rows._matrix(f, key)
                except NoDirectAccess:
                    return True
                first = matrix[:min(int(matrix.shape[0]), _PEEK_ROWS)]
                if expm1_of_log1p(first, scan_values(first)) is not None:
                    return True
    except (ACTINNInputError, ACTINNCellError) + DAMAGE_ERRORS:
        return False  # a damaged file: what its first cells said stands
    return False
