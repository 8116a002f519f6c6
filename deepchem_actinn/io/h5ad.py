"""AnnData (``.h5ad``) files, read through anndata's own API.

:func:`read_h5ad` reads the whole object with anndata's element reader
(what the readers need of it, ``X``, the layers, ``.raw``, ``obs`` and
``var``, alone where the rest needs a package that is not installed).
:class:`H5adRows` streams one matrix (``X``, ``raw/X`` or a layer) row
block by row block: a CSR matrix through
:func:`anndata.io.sparse_dataset`, a dense one as its HDF5 array; ``obs``
and ``var`` through :func:`anndata.io.read_elem`. Which matrix holds the
counts is decided by :func:`deepchem_actinn.io.count_matrix.choose_counts`, the
rule :func:`~deepchem_actinn.io.counts_source` applies to AnnData objects.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Tuple

import anndata
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError
from deepchem_actinn.io._common import (HDF5Rows, NoDirectAccess, as_str_array,
                                        existing, make_anndata)
from deepchem_actinn.io.h5ad_layout import (DAMAGE_ERRORS, SPARSE, DamagedH5ad,
                                            IORegistryError, damage_words,
                                            check_layout, check_sparse,
                                            damage_refused, damaged_h5ad)
from deepchem_actinn.io.count_matrix import (BOTH_NAMED, NO_RAW, absent_x,
                                             CountsSource, choose_counts,
                                             counts_elsewhere, counts_source,
                                             no_layer, other_layers,
                                             select_matrix, in_place_of_x)
from deepchem_actinn.io.content import reading
from deepchem_actinn.io.formats import FORMAT_WORDS, path_and_format
from deepchem_actinn.io.counts import (COUNT_LAYERS, ValueReport, scan_values,
                                       widen_half)
from deepchem_actinn.io.sparse import refuse_repeated_entries
from deepchem_actinn.types import PathLike

from anndata.experimental import read_dispatched

try:  # anndata >= 0.11
    from anndata.io import read_elem, sparse_dataset
except ImportError:  # pragma: no cover - older anndata
    from anndata.experimental import read_elem, sparse_dataset

logger = logging.getLogger(__name__)

# Stored values looked at to decide which matrix holds the counts.
_PEEK_VALUES = 1 << 20
# Rows looked at in a sparse matrix for the same decision.
_PEEK_ROWS = 4096


def read_h5ad(path: PathLike,
              layer: Optional[str] = None,
              use_raw: Optional[bool] = None) -> anndata.AnnData:
    """Read an AnnData file, optionally taking ``X`` from a layer or .raw.

    Parameters
    ----------
    path: str or os.PathLike
        The ``.h5ad`` file.
    layer: str, optional
        Return ``layers[layer]`` as ``X``.
    use_raw: bool, optional
        If True, return ``.raw.X`` as ``X`` with ``.raw.var``.

    Returns
    -------
    anndata.AnnData
        The whole object when neither ``layer`` nor ``use_raw`` is given
        (without ``obsm``, ``varm``, ``obsp``, ``varp`` and ``uns``, with a
        warning, where anndata needs a package that is not installed to
        read them, such as awkward for scirpy's awkward arrays); otherwise
        one with the chosen matrix as ``X`` (and ``obs`` kept). Cell ids
        that repeat are kept, and named in a warning of the log.

    Examples
    --------
    >>> import os, tempfile
    >>> import anndata, numpy as np, scipy.sparse as sp
    >>> from deepchem_actinn.io import read_h5ad
    >>> path = os.path.join(tempfile.mkdtemp(), "pbmc.h5ad")
    >>> adata = anndata.AnnData(sp.csr_matrix(np.log1p([[2.0, 0.0]])))
    >>> adata.layers["counts"] = sp.csr_matrix([[2.0, 0.0]])
    >>> adata.write_h5ad(path)
    >>> read_h5ad(path, layer="counts").X.toarray().tolist()
    [[2.0, 0.0]]
    """
    from deepchem_actinn.io.readers import check_cell_ids
    p = existing(path)
    adata = _read(p, _read_whole)
    check_cell_ids(adata.obs_names, str(p))
    if layer is None and use_raw is None:
        return adata
    chosen = select_matrix(adata, layer, use_raw, str(p))
    return make_anndata(chosen.matrix,
                        adata.obs_names,
                        chosen.var,
                        obs=adata.obs)


def read_h5ad_counts(path: PathLike) -> anndata.AnnData:
    """What :func:`~deepchem_actinn.io.read` needs of an h5ad file:
    ``X``, the layers, ``.raw`` (its ``X`` and ``var``), ``obs`` and
    ``var``, read with anndata's element reader; the rest is not read
    (files of anndata < 0.8: read whole, as anndata reads them)."""
    return _read(existing(path), lambda f, p: _read_counts_elements(f))


def _read(
        p: Path, reader: Callable[[h5py.File, Path],
                                  anndata.AnnData]) -> anndata.AnnData:
    """``reader``'s object from the open file, after its layout is checked
    (a file of anndata < 0.8, whose elements say no encoding: read by
    anndata); damage refused in one line."""
    with damaged_h5ad(p), warnings.catch_warnings():
        # names that are not strings are read as strings, as said
        warnings.filterwarnings("ignore", message="Transforming to str index")
        # cell ids that repeat: said in the readers' words, naming them
        # (readers.check_cell_ids), not in anndata's
        warnings.filterwarnings("ignore", message=".*names are not unique")
        with h5py.File(p, "r") as f:
            check_layout(f)
            encoded = f.attrs.get("encoding-type") == "anndata"
            adata = reader(f, p) if encoded else None
        if adata is None:  # written by anndata < 0.8: read as anndata does
            adata = anndata.read_h5ad(p)
    return adata


#: What the readers need of an h5ad file: the matrices that may hold the
#: counts and the tables of cells and genes. The rest (obsm, varm, obsp,
#: varp, uns) is read where anndata can read it; where it cannot (an
#: awkward array, as scirpy keeps in obsm, without the awkward package),
#: it is left out with a warning, and the counts are read all the same.
_COUNTS_ELEMENTS = ("X", "layers", "obs", "var")


def _read_whole(f: h5py.File, path: Path) -> anndata.AnnData:
    """The whole object, read with anndata's element reader (a sparse
    float16 matrix as float32); without obsm, varm, obsp, varp and uns,
    saying so, where an element needs a package that is not installed or
    is of an encoding anndata does not know."""
    try:
        return read_dispatched(f, callback=_widen_half_sparse)
    except (ImportError, IORegistryError) as err:
        words = damage_words(path, err)
    adata = _read_counts_elements(f)  # the counts' own damage refused
    warnings.warn(
        "%s: %s; read without its obsm, varm, obsp, varp and uns (the "
        "counts and the tables of cells and genes are read)" % (path, words),
        UserWarning,
        stacklevel=5)
    return adata


def _read_counts_elements(f: h5py.File) -> anndata.AnnData:
    """:data:`_COUNTS_ELEMENTS` and ``.raw``'s matrix and genes, each read
    with anndata's element reader (a sparse float16 matrix as float32)."""
    parts = {
        key: read_dispatched(f[key], callback=_widen_half_sparse)
        for key in _COUNTS_ELEMENTS
        if key in f
    }
    raw = f.get("raw")
    if isinstance(raw, h5py.Group) and "X" in raw:
        parts["raw"] = {
            key: read_dispatched(raw[key], callback=_widen_half_sparse)
            for key in ("X", "var")
            if key in raw
        }
    return anndata.AnnData(**parts)


def _half_sparse(elem) -> bool:
    """Whether an h5ad element is a sparse matrix of float16 values, which
    SciPy does not take (every float16 is exact as float32: whole numbers
    up to 2048 and the even ones up to 4096, and so on)."""
    return (isinstance(elem, h5py.Group) and
            elem.attrs.get("encoding-type") in SPARSE and
            isinstance(elem.get("data"), h5py.Dataset) and
            elem["data"].dtype == np.float16)


def _widen_half_sparse(read, name: str, elem, iospec):
    """Read an h5ad element as anndata does, a sparse float16 matrix as
    float32 (for :func:`anndata.experimental.read_dispatched`)."""
    if not _half_sparse(elem):
        return read(elem)
    logger.info("%s: read float16 values as float32", name)
    kind = sp.csr_matrix if iospec.encoding_type == "csr_matrix" else \
        sp.csc_matrix
    return kind((elem["data"][:].astype(
        np.float32), elem["indices"][:], elem["indptr"][:]),
                shape=tuple(int(n) for n in elem.attrs["shape"]))


class _HalfCSR:
    """Rows of a CSR matrix of float16 values in an h5ad file, as float32
    (SciPy has no sparse float16; every float16 value is exact as
    float32)."""

    def __init__(self, group: h5py.Group):
        self._group = group
        self.shape = tuple(int(n) for n in group.attrs["shape"])

    def __getitem__(self, rows: slice) -> sp.csr_matrix:
        start, stop, _ = rows.indices(self.shape[0])
        indptr = self._group["indptr"][start:stop + 1]
        lo, hi = int(indptr[0]), int(indptr[-1])
        return sp.csr_matrix((self._group["data"][lo:hi].astype(
            np.float32), self._group["indices"][lo:hi], indptr - lo),
                             shape=(stop - start, self.shape[1]))


def _index_element(group) -> h5py.Dataset:
    """The index array of an h5ad dataframe group (obs or var): a string
    dataset, or the values of a ``nullable-string-array`` (as anndata writes
    a pandas 3 string index) that has no missing name."""
    layout = "its obs or var table is not in anndata's usual layout"
    if not isinstance(group, h5py.Group):
        raise NoDirectAccess(layout)
    elem = group.get(group.attrs.get("_index", "_index"))
    if isinstance(elem, h5py.Group) and \
            elem.attrs.get("encoding-type") == "nullable-string-array":
        mask = elem.get("mask")
        if isinstance(mask, h5py.Dataset) and np.asarray(mask[()]).any():
            raise NoDirectAccess("its obs or var names have missing values")
        elem = elem.get("values")
    if not isinstance(elem, h5py.Dataset) or elem.ndim != 1:
        raise NoDirectAccess(layout)
    return elem


def _index(group) -> np.ndarray:
    """The index of an h5ad dataframe group, as str: names stored as
    numbers (integers, as pandas writes a default index) as their decimal
    strings, as anndata reads them."""
    elem = _index_element(group)
    if elem.dtype.kind in "iufb":
        return as_str_array(elem[()])
    if elem.attrs.get("encoding-type") is None:  # a nullable array's values
        if h5py.check_string_dtype(elem.dtype) is None:
            raise NoDirectAccess("its obs or var names are %s values" %
                                 elem.dtype)
        return as_str_array(elem.asstr()[()])
    return as_str_array(read_elem(elem))


def _var(group: h5py.Group) -> pd.DataFrame:
    """The var table of an h5ad file; only the names if it won't decode."""
    names = _index(group)
    try:
        var = read_elem(group)
    except Exception as err:  # an optional extra: any decoding failure
        logger.debug("cannot decode %s (%s): keeping the names only",
                     group.name, err)
        return pd.DataFrame(index=names)
    if len(var) != len(names):
        return pd.DataFrame(index=names)
    var.index = pd.Index(names, dtype=object)
    return var


def h5ad_cell_ids(path: Path) -> np.ndarray:
    """The obs names of an h5ad file, without reading its matrices."""
    with h5py.File(path, "r") as f:
        return _index(f.get("obs"))


def h5ad_var_names(path: PathLike, raw: bool = False) -> np.ndarray:
    """The var names of an h5ad file (``raw``: of its ``.raw``), as anndata
    reads them, without reading its matrices."""
    with h5py.File(path, "r") as f:
        return _index(f.get("raw/var" if raw else "var"))


def h5ad_obs(path: Path) -> pd.DataFrame:
    """The ``obs`` table of an h5ad file, read alone with anndata's element
    reader (its matrices and layers stay on disk)."""
    with damaged_h5ad(path), h5py.File(path, "r") as f:
        if "obs" not in f:
            raise ACTINNInputError("%s: no obs table to take labels from" %
                                   path)
        check_layout(f)
        return read_elem(f["obs"])


def h5ad_umap(path: Path) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The cell ids and ``obsm['X_umap']`` of an h5ad file (its matrices
    stay on disk), or None when it holds no UMAP."""
    with damaged_h5ad(path), h5py.File(path, "r") as f:
        obsm = f.get("obsm")
        if not isinstance(obsm, h5py.Group) or "X_umap" not in obsm:
            return None
        try:
            names = _index(f.get("obs"))
        except NoDirectAccess as err:
            raise DamagedH5ad(str(err)) from None
        try:
            umap = read_elem(obsm["X_umap"])
        except DAMAGE_ERRORS as err:
            raise damage_refused(path, err, "obsm/X_umap") from None
        return names, np.asarray(umap, dtype=float)


def h5ad_n_cells(path: Path) -> int:
    """The number of cells of an h5ad file, without reading them."""
    with h5py.File(path, "r") as f:
        return int(_index_element(f.get("obs")).shape[0])


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
            return _HalfCSR(elem) if _half_sparse(elem) else \
                sparse_dataset(elem)
        raise NoDirectAccess("its %s is not stored by rows (CSR or dense)" %
                             key)

    def _candidate(self, f: h5py.File, what: str) -> CountsSource:
        key, var_key = {
            ".raw.X": ("raw/X", "raw/var"),
            "X": ("X", "var")
        }.get(what, ("layers/%s" % what[8:-2], "var"))
        return CountsSource(self._matrix(f, key), _var(f[var_key]), what)

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
        n_obs = int(_index_element(f.get("obs")).shape[0])
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
            self._cell_ids = _index(self._file.get("obs"))
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


class SettledMatrix(NamedTuple):
    """Which matrix of a file every pass of a reader reads
    (:func:`settle_matrix`)."""

    #: The layer every pass opens, or None.
    layer: Optional[str]
    #: True: every pass opens ``.raw.X``; None or False as given.
    use_raw: Optional[bool]
    #: The matrix in the words of a record (``"X"``, ``".raw.X"`` or
    #: ``"layers['counts']"``); None for the formats other than h5ad (one
    #: matrix each), and for an h5ad file that could not be opened to
    #: decide (the read after it says why).
    matrix: Optional[str]


def named_matrix(layer: Optional[str],
                 use_raw: Optional[bool]) -> Optional[str]:
    """The matrix ``layer`` / ``use_raw`` name, in the words of a record;
    None when they name none.

    Examples
    --------
    >>> from deepchem_actinn.io.h5ad import named_matrix
    >>> named_matrix("counts", None), named_matrix(None, True)
    ("layers['counts']", '.raw.X')
    >>> named_matrix(None, False), named_matrix(None, None)
    ('X', None)
    """
    if use_raw:
        return ".raw.X"
    if layer is not None:
        return "layers[%r]" % layer
    return "X" if use_raw is False else None


def settle_matrix(path: PathLike,
                  format: Optional[str] = None,
                  *,
                  layer: Optional[str] = None,
                  use_raw: Optional[bool] = None,
                  allow_non_integer: bool = False) -> SettledMatrix:
    """Which matrix of a file holds the counts, decided once, and its name
    for a record (:func:`~deepchem_actinn.io.stream.settle_counts_matrix`,
    which returns its ``(layer, use_raw)``).

    With neither ``layer`` nor ``use_raw``, an h5ad file is opened once
    (:class:`H5adRows`): its first cells decide, the choice is said in the
    log, and the matrix returned is the one that look opened; a matrix
    named is not looked at (every pass opens it, or reads the file whole
    and takes it).

    Examples
    --------
    >>> import os, tempfile, anndata, numpy as np
    >>> from deepchem_actinn.io.h5ad import settle_matrix
    >>> adata = anndata.AnnData(np.log1p(np.array([[3.0, 0.0], [1.0, 2.0]])))
    >>> adata.layers["counts"] = np.array([[3.0, 0.0], [1.0, 2.0]])
    >>> path = os.path.join(tempfile.mkdtemp(), "ref.h5ad")
    >>> adata.write_h5ad(path)
    >>> settle_matrix(path)
    SettledMatrix(layer='counts', use_raw=None, matrix="layers['counts']")
    >>> settle_matrix(path, use_raw=False).matrix
    'X'
    """
    p, fmt = path_and_format(path, format)
    if fmt != "h5ad":
        return SettledMatrix(layer, use_raw, None)
    if layer is not None or use_raw is not None:
        return SettledMatrix(layer, use_raw, named_matrix(layer, use_raw))
    with reading(p, FORMAT_WORDS[fmt]):
        rows = H5adRows(p, layer, use_raw, allow_non_integer)
        try:
            with rows:
                return SettledMatrix(*rows.choice, rows.description)
        except NoDirectAccess:
            # stored by columns: every pass reads the file whole; read whole
            # here once, to decide, every pass then reads the matrix chosen
            chosen = counts_source(read_h5ad_counts(p),
                                   allow_non_integer=allow_non_integer,
                                   source=str(p)).description
            return SettledMatrix(*matrix_choice(chosen), chosen)
        except (OSError, KeyError):
            # read whole on each pass, as before
            return SettledMatrix(layer, use_raw, None)


def matrix_choice(
        description: str,
        layer: Optional[str] = None,
        use_raw: Optional[bool] = None) -> Tuple[Optional[str], Optional[bool]]:
    """``(layer, use_raw)`` naming the matrix a record calls
    ``description`` (:func:`named_matrix` the other way round): ``X`` is
    named by the ``layer`` / ``use_raw`` given (None, None: the reader
    takes ``X`` where it holds counts)."""
    if description == ".raw.X":
        return None, True
    if description.startswith("layers["):
        return description[8:-2], None
    return layer, use_raw
