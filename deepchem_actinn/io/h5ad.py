"""AnnData (``.h5ad``) files, read through anndata's own API.

:func:`read_h5ad` reads the whole object with anndata's element reader
(what the readers need of it, ``X``, the layers, ``.raw``, ``obs`` and
``var``, alone where the rest needs a package that is not installed).
:func:`settle_matrix` decides once which matrix holds the counts, opening
the file with :class:`~deepchem_actinn.io.h5ad_rows.H5adRows`, which reads
a matrix by blocks of rows; the names and tables read alone
(:func:`~deepchem_actinn.io.h5ad_elements.h5ad_obs` and the like) are in
:mod:`~deepchem_actinn.io.h5ad_elements`. Both are imported here too.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import anndata
import h5py

from deepchem_actinn.io._common import NoDirectAccess, existing, make_anndata
from deepchem_actinn.io.h5ad_layout import (IORegistryError, damage_words,
                                            check_layout, damaged_h5ad)
from deepchem_actinn.io.count_matrix import (counts_source, matrix_choice,
                                             named_matrix, select_matrix)
from deepchem_actinn.io.content import reading
from deepchem_actinn.io.formats import FORMAT_WORDS, path_and_format
from deepchem_actinn.io.h5ad_elements import widen_half_sparse
from deepchem_actinn.io.h5ad_rows import H5adRows
from deepchem_actinn.types import PathLike

# read by rows, or in parts, elsewhere; imported from here too
from deepchem_actinn.io.h5ad_elements import (  # noqa: F401
    h5ad_cell_ids, h5ad_n_cells, h5ad_obs, h5ad_umap, h5ad_var_names)

from anndata.experimental import read_dispatched


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
        return read_dispatched(f, callback=widen_half_sparse)
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
        key: read_dispatched(f[key], callback=widen_half_sparse)
        for key in _COUNTS_ELEMENTS
        if key in f
    }
    raw = f.get("raw")
    if isinstance(raw, h5py.Group) and "X" in raw:
        parts["raw"] = {
            key: read_dispatched(raw[key], callback=widen_half_sparse)
            for key in ("X", "var")
            if key in raw
        }
    return anndata.AnnData(**parts)


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
    (:class:`~deepchem_actinn.io.h5ad_rows.H5adRows`): its first cells
    decide, the choice is said in the log, and the matrix returned is the
    one that look opened; a matrix named is not looked at (every pass opens
    it, or reads the file whole and takes it).

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
        try:
            return settle_by_rows(p, layer, use_raw, allow_non_integer)
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


def settle_by_rows(path: PathLike,
                   layer: Optional[str] = None,
                   use_raw: Optional[bool] = None,
                   allow_non_integer: bool = False) -> SettledMatrix:
    """The matrix of the h5ad file at ``path`` every chunk of cells reads,
    chosen (where neither ``layer`` nor ``use_raw`` names it) by opening
    the file once by rows (:class:`H5adRows`), never by reading it whole.

    Raises
    ------
    NoDirectAccess
        Where that matrix cannot be read a chunk of cells at a time (stored
        by columns, say).
    """
    with H5adRows(Path(path), layer, use_raw, allow_non_integer) as rows:
        return SettledMatrix(*rows.choice, rows.description)
