"""Read scRNA-seq count matrices and cell-type labels.

Every reader returns an :class:`anndata.AnnData` with cells as rows and
genes as columns. :func:`read` is the one entry point most code needs: it
detects the format, picks the raw counts (falling back to ``.raw`` or
``layers['counts']`` of an h5ad file whose ``X`` is normalised), checks them,
upper-cases and de-duplicates the gene names the way the original ACTINN
scripts did, and returns ``X`` as a float32 :class:`scipy.sparse.csr_matrix`.

Formats (the names :func:`detect_format` returns and ``format=`` accepts):

``actinn_h5``
    pandas HDF5 as used by the original ACTINN scripts: key ``dge``, a
    DataFrame of genes (rows) x cells (columns).
``10x_mtx``
    a Cell Ranger matrix directory: ``matrix.mtx[.gz]``, ``barcodes.tsv[.gz]``
    and ``genes.tsv`` (V2) or ``features.tsv.gz`` (V3).
``10x_h5``
    a Cell Ranger HDF5 file (V2 or V3 layout).
``h5ad``
    an AnnData file.
``csv`` / ``tsv``
    text, genes x cells: a header row of cell ids, then one row per gene
    starting with the gene name (``.csv``, ``.tsv`` or ``.txt``, optionally
    gzipped).

For data too large for memory, :func:`iter_cell_chunks` yields the cells in
chunks, reading h5ad, ACTINN HDF5 and 10x HDF5 files piece by piece.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import logging
import os
import warnings
from pathlib import Path
from typing import (Callable, Iterator, List, NamedTuple, Optional, Sequence,
                    Tuple, Union)

import anndata
import h5py
import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError, examples

try:  # anndata >= 0.11
    from anndata.io import read_elem
except ImportError:  # pragma: no cover - older anndata
    from anndata.experimental import read_elem

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

FORMATS = ("actinn_h5", "10x_mtx", "10x_h5", "h5ad", "csv", "tsv")

_FORMAT_HELP = (
    "actinn_h5 (pandas HDF5 .h5, key 'dge', genes x cells), "
    "10x_mtx (directory with matrix.mtx[.gz], barcodes.tsv[.gz] and "
    "genes.tsv[.gz] or features.tsv[.gz]), "
    "10x_h5 (Cell Ranger .h5), h5ad (AnnData), "
    "csv / tsv (genes x cells text: .csv, .tsv, .txt, optionally .gz)")

_TEXT_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".txt": None}
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
_GENE_EXPRESSION = "Gene Expression"
# Layers that hold raw counts by convention (scanpy, scvi-tools).
_COUNT_LAYERS = ("counts", "raw_counts")
# Values scanned at a time when checking counts (bounds the temporaries).
_SCAN_BLOCK = 1 << 22
# Stored values peeked at to decide which h5ad matrix to stream.
_PEEK_VALUES = 1 << 20
# Missing-value spellings in text matrices (gene names keep theirs).
_NA_STRINGS = ("", "NA", "N/A", "n/a", "NaN", "nan", "NAN", "-nan", "-NaN",
               "NULL", "null", "None", "<NA>", "#N/A")
# Largest integer float32 holds exactly.
_FLOAT32_EXACT = 1 << 24

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _existing(path: PathLike) -> Path:
    """Return ``path`` as a Path, or raise if nothing is there."""
    p = Path(path)
    if not p.exists():
        raise ACTINNInputError("%s: no such file or directory" % p)
    return p


def _strip_gz(name: str) -> str:
    return name[:-3] if name.endswith(".gz") else name


def _open_text(path: Path):
    """Open a text file for reading, gunzipping ``*.gz``."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, "rt", encoding="utf-8", newline="")


def _as_str_array(values) -> np.ndarray:
    """Strings (decoding bytes as UTF-8) as an object array."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v.decode("utf-8") if isinstance(v, bytes) else str(v)
    return out


def _make_anndata(X,
                  cell_ids: Union[Sequence, np.ndarray],
                  var: pd.DataFrame,
                  obs: Optional[pd.DataFrame] = None) -> anndata.AnnData:
    """AnnData with string ids; duplicated gene names stay (read drops them)."""
    obs_index = pd.Index(_as_str_array(cell_ids), dtype=object)
    if obs is None or obs.shape[1] == 0:
        obs = pd.DataFrame(index=obs_index)
    else:
        obs = obs.copy()
        obs.index = obs_index
    var = var.copy()
    var.index = pd.Index(_as_str_array(var.index), dtype=object)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*names are not unique")
        return anndata.AnnData(X=X, obs=obs, var=var)


def _to_csr32(matrix) -> sp.csr_matrix:
    """``matrix`` as a float32 CSR matrix (values unchanged for counts)."""
    X = matrix if isinstance(matrix, sp.csr_matrix) else sp.csr_matrix(matrix)
    if X.dtype != np.float32:
        if X.nnz and np.abs(X.data).max() > _FLOAT32_EXACT:
            logger.warning("counts above %d are rounded when stored as float32",
                           _FLOAT32_EXACT)
        X = X.astype(np.float32)
    return X


# ---------------------------------------------------------------------------
# Format detection
# ---------------------------------------------------------------------------


class _TenxFiles(NamedTuple):
    matrix: Path
    features: Path
    barcodes: Path


def _first_existing(directory: Path, names: Sequence[str]) -> Optional[Path]:
    for name in names:
        if (directory / name).is_file():
            return directory / name
    return None


def _find_10x_matrix(directory: Path) -> Optional[Path]:
    """The ``[prefix]matrix.mtx[.gz]`` file of a directory, if one."""
    found = _first_existing(directory, ("matrix.mtx.gz", "matrix.mtx"))
    if found is not None:
        return found
    matches = sorted(
        list(directory.glob("*matrix.mtx")) +
        list(directory.glob("*matrix.mtx.gz")))
    return matches[0] if len(matches) == 1 else None


def _locate_10x(path: Path) -> _TenxFiles:
    """The three files of a 10x matrix directory (or of its matrix file)."""
    if path.is_dir():
        directory, matrix = path, _find_10x_matrix(path)
        if matrix is None:
            raise ACTINNInputError(
                "%s: no matrix.mtx or matrix.mtx.gz in this directory" % path)
    else:
        directory, matrix = path.parent, path
    name = matrix.name
    stem = _strip_gz(name)
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
        raise ACTINNInputError("%s: a 10x matrix needs %s next to %s" %
                               (directory, " and ".join(missing), name))
    assert features is not None and barcodes is not None
    return _TenxFiles(matrix, features, barcodes)


def _hdf5_kind(f: h5py.File) -> Optional[str]:
    """Tell a 10x, h5ad or pandas HDF5 file apart by its layout."""
    matrix = f.get("matrix")
    if isinstance(matrix, h5py.Group) and "indptr" in matrix:
        return "10x_h5"
    groups = [f[k] for k in f.keys() if isinstance(f.get(k), h5py.Group)]
    if any({"indptr", "barcodes", "genes"} <= set(g.keys()) for g in groups):
        return "10x_h5"
    if "X" in f and "obs" in f and "var" in f:
        return "h5ad"
    if any("pandas_type" in g.attrs for g in groups):
        return "actinn_h5"
    return None


def _sniff_separator(path: Path) -> str:
    """``"tsv"`` or ``"csv"`` from the first line of a text file."""
    try:
        with _open_text(path) as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError) as err:
        raise ACTINNInputError("%s: cannot read it as text (%s)" %
                               (path, err)) from err
    if "\t" not in first and "," in first:
        return "csv"
    return "tsv"


def _unknown(path: Path, why: str) -> ACTINNInputError:
    return ACTINNInputError(
        "%s: %s; accepted formats: %s; pass format= to force one" %
        (path, why, _FORMAT_HELP))


def detect_format(path: PathLike) -> str:
    """Tell which of the supported formats a file or directory is in.

    The extension decides, except for ``.h5`` / ``.hdf5`` files, which are
    opened to tell a 10x HDF5 file (a ``matrix`` group, or a genome group
    with ``genes``) from an h5ad or a pandas (ACTINN) HDF5 file; ``.txt``
    files are ``tsv`` unless their first line has commas and no tabs.

    Parameters
    ----------
    path: str or os.PathLike
        A file, or a 10x matrix directory.

    Returns
    -------
    str
        One of ``"actinn_h5"``, ``"10x_mtx"``, ``"10x_h5"``, ``"h5ad"``,
        ``"csv"``, ``"tsv"``.

    Raises
    ------
    ACTINNInputError
        If nothing is at ``path`` or the format is none of these.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.readers import detect_format
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2\\nActb,3,0\\n")
    >>> detect_format(path)
    'csv'
    """
    p = _existing(path)
    if p.is_dir():
        if _find_10x_matrix(p) is not None:
            return "10x_mtx"
        raise _unknown(p, "a directory without a 10x matrix.mtx[.gz]")
    lower = p.name.lower()
    if lower.endswith(_HDF5_SUFFIXES):
        try:
            with h5py.File(p, "r") as f:
                kind = _hdf5_kind(f)
        except OSError as err:
            raise ACTINNInputError("%s: not a readable HDF5 file (%s)" %
                                   (p, err)) from err
        if kind is None:
            raise _unknown(p, "an HDF5 file of an unknown layout")
        return kind
    stem = _strip_gz(lower)
    if stem.endswith(".h5ad") and not lower.endswith(".gz"):
        return "h5ad"
    if stem.endswith(".mtx"):
        return "10x_mtx"
    for suffix, fmt in _TEXT_SUFFIXES.items():
        if stem.endswith(suffix):
            return fmt if fmt is not None else _sniff_separator(p)
    raise _unknown(p, "cannot tell the format from the name")


def _resolve_format(path: Path, format: Optional[str]) -> str:
    if format is None:
        return detect_format(path)
    if format not in FORMATS:
        raise ACTINNInputError("%s: unknown format %r; accepted formats: %s" %
                               (path, format, _FORMAT_HELP))
    return format


# ---------------------------------------------------------------------------
# One reader per format
# ---------------------------------------------------------------------------


def _gex_only(adata: anndata.AnnData, path: Path) -> anndata.AnnData:
    """Keep only 'Gene Expression' features (drop antibody tags etc.)."""
    if "feature_types" not in adata.var:
        return adata
    gex = (adata.var["feature_types"] == _GENE_EXPRESSION).to_numpy()
    if gex.all():
        return adata
    logger.info("%s: kept %d 'Gene Expression' features, dropped %d others",
                path, gex.sum(), (~gex).sum())
    return adata[:, gex].copy()


def _tenx_var(ids, names, types=None) -> pd.DataFrame:
    var = pd.DataFrame(
        {
            "gene_ids": _as_str_array(ids),
            "gene_symbols": _as_str_array(names)
        },
        index=_as_str_array(names))
    if types is not None:
        var["feature_types"] = _as_str_array(types)
    return var


def _read_10x_features(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path,
                        sep="\t",
                        header=None,
                        dtype=str,
                        keep_default_na=False,
                        quoting=csv.QUOTE_NONE)
    ids = table.iloc[:, 0]
    names = table.iloc[:, 1] if table.shape[1] > 1 else ids
    types = table.iloc[:, 2] if table.shape[1] > 2 else None
    return _tenx_var(ids, names, types)


def _read_10x_barcodes(path: Path) -> np.ndarray:
    with _open_text(path) as fh:
        return _as_str_array(
            [line.rstrip("\r\n").split("\t")[0] for line in fh if line.strip()])


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
    >>> from deepchem_actinn.io.readers import read_10x_mtx
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
    p = _existing(path)
    files = _locate_10x(p)
    try:
        matrix = scipy.io.mmread(str(files.matrix))
    except (ValueError, OSError) as err:
        raise ACTINNInputError("%s: not a readable Matrix Market file (%s)" %
                               (files.matrix, err)) from err
    var = _read_10x_features(files.features)
    barcodes = _read_10x_barcodes(files.barcodes)
    if matrix.shape != (len(var), len(barcodes)):
        raise ACTINNInputError(
            "%s: the matrix is %d x %d but there are %d features (%s) and "
            "%d barcodes (%s)" %
            (files.matrix, matrix.shape[0], matrix.shape[1], len(var),
             files.features, len(barcodes), files.barcodes))
    X = sp.csr_matrix(matrix.T)
    adata = _make_anndata(X, barcodes, var)
    return _gex_only(adata, p) if gex_only else adata


def _tenx_h5_group(f: h5py.File, path: Path) -> Tuple[h5py.Group, bool]:
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


def _tenx_h5_var(group: h5py.Group, v3: bool) -> pd.DataFrame:
    if v3:
        feats = group["features"]
        types = feats["feature_type"][:] if "feature_type" in feats else None
        return _tenx_var(feats["id"][:], feats["name"][:], types)
    names = group["gene_names"][:] if "gene_names" in group else None
    ids = group["genes"][:]
    return _tenx_var(ids, ids if names is None else names)


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
    >>> from deepchem_actinn.io.readers import read_10x_h5
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
    p = _existing(path)
    try:
        with h5py.File(p, "r") as f:
            group, v3 = _tenx_h5_group(f, p)
            n_genes, n_cells = (int(n) for n in group["shape"][:2])
            X = sp.csc_matrix(
                (group["data"][:], group["indices"][:], group["indptr"][:]),
                shape=(n_genes, n_cells)).T.tocsr()
            barcodes = group["barcodes"][:]
            var = _tenx_h5_var(group, v3)
    except (OSError, KeyError) as err:
        raise ACTINNInputError("%s: not a readable 10x HDF5 file (%s)" %
                               (p, err)) from err
    adata = _make_anndata(X, barcodes, var)
    return _gex_only(adata, p) if gex_only else adata


def read_actinn_h5(path: PathLike, *, key: str = "dge") -> anndata.AnnData:
    """Read a pandas HDF5 file as written by the original ACTINN scripts.

    Parameters
    ----------
    path: str or os.PathLike
        The ``.h5`` file: a DataFrame of genes (index) x cells (columns).
    key: str, default "dge"
        The HDF5 key of the DataFrame.

    Returns
    -------
    anndata.AnnData
        Cells x genes; ``X`` a CSR matrix of the DataFrame's dtype.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from deepchem_actinn.io.readers import read_actinn_h5
    >>> path = os.path.join(tempfile.mkdtemp(), "train.h5")
    >>> df = pd.DataFrame([[1, 0], [0, 7]], index=["Actb", "Cd3e"],
    ...                   columns=["c1", "c2"])
    >>> df.to_hdf(path, key="dge")
    >>> adata = read_actinn_h5(path)
    >>> list(adata.obs_names), list(adata.var_names)
    (['c1', 'c2'], ['Actb', 'Cd3e'])
    """
    p = _existing(path)
    try:
        df = pd.read_hdf(p, key=key)
    except KeyError as err:
        with pd.HDFStore(p, mode="r") as store:
            keys = [k.lstrip("/") for k in store.keys()]
        raise ACTINNInputError("%s: no key %r in this HDF5 file (keys: %s)" %
                               (p, key, examples(keys) or "none")) from err
    except (OSError, ValueError, TypeError) as err:
        raise ACTINNInputError("%s: not a readable pandas HDF5 file (%s)" %
                               (p, err)) from err
    if not isinstance(df, pd.DataFrame):
        raise ACTINNInputError("%s: key %r holds a %s, not a DataFrame" %
                               (p, key, type(df).__name__))
    values = df.to_numpy().T
    if values.dtype == object:
        raise ACTINNInputError("%s: the DataFrame holds non-numeric values" % p)
    var = pd.DataFrame(index=_as_str_array(df.index))
    return _make_anndata(sp.csr_matrix(values), df.columns, var)


def _text_separator(path: Path, sep: Optional[str]) -> str:
    if sep is not None:
        return sep
    stem = _strip_gz(path.name.lower())
    if stem.endswith(".csv"):
        return ","
    if stem.endswith(".tsv"):
        return "\t"
    return "," if _sniff_separator(path) == "csv" else "\t"


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
    >>> from deepchem_actinn.io.readers import read_text
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.tsv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene\\tc1\\tc2\\nActb\\t3\\t0\\nCd3e\\t0\\t1\\n")
    >>> adata = read_text(path)
    >>> list(adata.obs_names), adata.X.toarray().tolist()
    (['c1', 'c2'], [[3, 0], [0, 1]])
    """
    p = _existing(path)
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
    var = pd.DataFrame(index=_as_str_array(df.index))
    return _make_anndata(sp.csr_matrix(df.to_numpy().T), df.columns, var)


def _select_matrix(adata: anndata.AnnData, layer: Optional[str],
                   use_raw: Optional[bool],
                   source: str) -> Tuple[object, pd.DataFrame, str]:
    """The matrix that layer / use_raw name, its var and a description."""
    if layer is not None and use_raw:
        raise ACTINNInputError("%s: pass either layer= or use_raw=True, "
                               "not both" % source)
    if use_raw:
        if adata.raw is None:
            raise ACTINNInputError("%s: use_raw=True but there is no .raw" %
                                   source)
        return adata.raw.X, adata.raw.var, ".raw.X"
    if layer is not None:
        if layer not in adata.layers:
            raise ACTINNInputError(
                "%s: no layer %r (layers: %s)" %
                (source, layer, examples(list(adata.layers)) or "none"))
        return adata.layers[layer], adata.var, "layers[%r]" % layer
    if adata.X is None:
        raise ACTINNInputError("%s: X is empty; pass layer= or use_raw=True" %
                               source)
    return adata.X, adata.var, "X"


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
        The whole object when neither ``layer`` nor ``use_raw`` is given;
        otherwise one with the chosen matrix as ``X`` (and ``obs`` kept).

    Examples
    --------
    >>> import os, tempfile
    >>> import anndata, numpy as np, scipy.sparse as sp
    >>> from deepchem_actinn.io.readers import read_h5ad
    >>> path = os.path.join(tempfile.mkdtemp(), "pbmc.h5ad")
    >>> adata = anndata.AnnData(sp.csr_matrix(np.log1p([[2.0, 0.0]])))
    >>> adata.layers["counts"] = sp.csr_matrix([[2.0, 0.0]])
    >>> adata.write_h5ad(path)
    >>> read_h5ad(path, layer="counts").X.toarray().tolist()
    [[2.0, 0.0]]
    """
    p = _existing(path)
    try:
        adata = anndata.read_h5ad(p)
    except (OSError, KeyError, ValueError) as err:
        raise ACTINNInputError("%s: not a readable h5ad file (%s)" %
                               (p, err)) from err
    if layer is None and use_raw is None:
        return adata
    matrix, var, _ = _select_matrix(adata, layer, use_raw, str(p))
    return _make_anndata(matrix, adata.obs_names, var, obs=adata.obs)


# ---------------------------------------------------------------------------
# Count checks
# ---------------------------------------------------------------------------


class _ValueReport(NamedTuple):
    """What a scan of a matrix's stored values found."""
    n_nonfinite: int
    nonfinite_rows: np.ndarray
    n_negative: int
    negative_rows: np.ndarray
    nonint_row: int  # -1 when all values are whole numbers
    nonint_value: float
    max_value: float

    @property
    def counts_like(self) -> bool:
        return (self.n_nonfinite == 0 and self.n_negative == 0 and
                self.nonint_row < 0)


def _stored_values(matrix) -> Tuple[np.ndarray, Callable]:
    """The stored values of a matrix and a map from position to row."""
    if sp.issparse(matrix):
        if matrix.format == "csr":
            indptr = matrix.indptr

            def rows(pos):
                return np.searchsorted(indptr, pos, side="right") - 1

            return matrix.data, rows
        if matrix.format == "csc":
            indices = matrix.indices
            return matrix.data, lambda pos: indices[pos]
        coo = matrix.tocoo()
        return coo.data, lambda pos: coo.row[pos]
    arr = np.asarray(matrix)
    if arr.ndim != 2:
        raise ACTINNInputError("expected a 2-d matrix, got %d-d" % arr.ndim)
    n_cols = max(arr.shape[1], 1)
    return arr.reshape(-1), lambda pos: pos // n_cols


def _scan_values(matrix, limit: int = 5) -> _ValueReport:
    """Look for NaN/inf, negative and non-integer values, block by block."""
    values, rows = _stored_values(matrix)
    if values.dtype.kind not in "biuf":
        raise ACTINNInputError("the matrix holds %s values, not numbers" %
                               values.dtype)
    n_nonfinite = n_negative = 0
    nonfinite_pos: List[np.ndarray] = []
    negative_pos: List[np.ndarray] = []
    nonint_pos, nonint_value, max_value = -1, 0.0, 0.0
    is_float = values.dtype.kind == "f"
    for start in range(0, values.size, _SCAN_BLOCK):
        block = values[start:start + _SCAN_BLOCK]
        if is_float and block.size:
            # Fast path for the usual block: finite (a NaN makes min NaN,
            # an infinity makes min or max infinite) and not negative.
            low, high = float(block.min()), float(block.max())
            if np.isfinite(low) and np.isfinite(high) and low >= 0:
                max_value = max(max_value, high)
                if nonint_pos < 0:
                    frac = np.flatnonzero(block != np.rint(block))
                    if frac.size:
                        nonint_pos = start + int(frac[0])
                        nonint_value = float(block[frac[0]])
                continue
        if is_float:
            finite = np.isfinite(block)
            bad = np.flatnonzero(~finite)
            if bad.size:
                n_nonfinite += bad.size
                nonfinite_pos.append(bad[:limit] + start)
            if nonint_pos < 0:
                frac = np.flatnonzero(finite & (block != np.round(block)))
                if frac.size:
                    nonint_pos = start + int(frac[0])
                    nonint_value = float(block[frac[0]])
            if bad.size < block.size:
                max_value = max(max_value, float(block[finite].max()))
        elif block.size:
            max_value = max(max_value, float(block.max()))
        if values.dtype.kind != "u":
            neg = np.flatnonzero(block < 0)
            if neg.size:
                n_negative += neg.size
                negative_pos.append(neg[:limit] + start)

    def first_rows(pos_list):
        if not pos_list:
            return np.empty(0, dtype=np.int64)
        found = rows(np.concatenate(pos_list))
        return pd.unique(np.asarray(found))[:limit]

    return _ValueReport(
        n_nonfinite, first_rows(nonfinite_pos), n_negative,
        first_rows(negative_pos),
        int(rows(np.array([nonint_pos]))[0]) if nonint_pos >= 0 else -1,
        nonint_value, max_value)


def _counts_error(report: _ValueReport, cell_ids: np.ndarray, what: str,
                  source: str) -> ACTINNInputError:
    """The error for a matrix that does not hold raw counts."""
    if report.n_nonfinite:
        return ACTINNInputError(
            "%s: %s holds %d NaN or infinite values, e.g. in cells %s" %
            (source, what, report.n_nonfinite,
             examples(cell_ids[report.nonfinite_rows])))
    hint = ("ACTINN needs raw counts; in h5ad files they usually live in "
            ".raw or layers['counts']")
    if report.n_negative:
        return ACTINNInputError(
            "%s: %s holds %d negative values, e.g. in cells %s; %s" %
            (source, what, report.n_negative,
             examples(cell_ids[report.negative_rows]), hint))
    looks = ("log-normalised"
             if report.max_value <= 50 else "normalised, not raw counts")
    return ACTINNInputError(
        "%s: %s holds non-integer values (e.g. %.4g in cell %s): it looks %s;"
        " raw counts usually live in .raw or layers['counts']; pass "
        "allow_non_integer=True if these values are what you want" %
        (source, what, report.nonint_value, cell_ids[report.nonint_row], looks))


def _acceptable(report: _ValueReport, allow_non_integer: bool) -> bool:
    return report.counts_like or (allow_non_integer and
                                  report.n_nonfinite == 0 and
                                  report.n_negative == 0)


class CountsSource(NamedTuple):
    """The matrix :func:`counts_source` chose.

    Attributes
    ----------
    matrix:
        Cells x genes, as stored in the AnnData object.
    var: pandas.DataFrame
        Gene annotations; its index holds the gene names.
    description: str
        ``"X"``, ``".raw.X"`` or ``"layers['counts']"``.
    """
    matrix: object
    var: pd.DataFrame
    description: str


def counts_source(adata: anndata.AnnData,
                  layer: Optional[str] = None,
                  use_raw: Optional[bool] = None,
                  allow_non_integer: bool = False,
                  *,
                  source: str = "data") -> CountsSource:
    """Pick the raw-count matrix of an AnnData object and check it.

    ``X`` is used unless ``layer`` or ``use_raw`` names another matrix. If
    neither is given and ``X`` holds non-integer or negative values, the
    first of ``.raw.X``, ``layers['counts']`` and ``layers['raw_counts']``
    that holds non-negative integers is used instead, with a warning in the
    log. With ``allow_non_integer=True``, non-integer (but non-negative)
    values are accepted as they are.

    Parameters
    ----------
    adata: anndata.AnnData
        Cells x genes.
    layer: str, optional
        Use ``adata.layers[layer]``.
    use_raw: bool, optional
        True uses ``adata.raw.X`` with ``adata.raw.var``; False insists on
        ``X``.
    allow_non_integer: bool, default False
        Accept non-integer values (e.g. normalised data) in the chosen
        matrix.
    source: str, default "data"
        Names the data (e.g. its file) in messages.

    Returns
    -------
    CountsSource
        ``(matrix, var, description)``.

    Raises
    ------
    ACTINNInputError
        If the chosen matrix holds NaN, infinite or negative values, or
        non-integer values that are not allowed and no fallback applies.

    Examples
    --------
    >>> import anndata, numpy as np
    >>> from deepchem_actinn.io.readers import counts_source
    >>> adata = anndata.AnnData(np.log1p(np.array([[3.0, 0.0], [1.0, 2.0]])))
    >>> adata.layers["counts"] = np.array([[3.0, 0.0], [1.0, 2.0]])
    >>> counts_source(adata).description
    "layers['counts']"
    """
    explicit = layer is not None or use_raw is not None
    matrix, var, what = _select_matrix(adata, layer, use_raw, source)
    cell_ids = np.asarray(adata.obs_names, dtype=object)
    report = _scan_values(matrix)
    if _acceptable(report, allow_non_integer):
        return CountsSource(matrix, var, what)
    if not explicit and report.n_nonfinite == 0:
        for name, cand, cand_var in _fallbacks(adata):
            if _scan_values(cand).counts_like:
                logger.warning(
                    "%s: X holds %s; reading the raw counts from %s instead",
                    source, "negative values"
                    if report.n_negative else "non-integer values", name)
                return CountsSource(cand, cand_var, name)
    raise _counts_error(report, cell_ids, what, source)


def _fallbacks(adata: anndata.AnnData):
    """Where raw counts live by convention, in the order they are tried."""
    if adata.raw is not None:
        yield ".raw.X", adata.raw.X, adata.raw.var
    for name in _COUNT_LAYERS:
        if name in adata.layers:
            yield "layers[%r]" % name, adata.layers[name], adata.var


# ---------------------------------------------------------------------------
# Gene names and the main entry point
# ---------------------------------------------------------------------------


def clean_gene_names(names: Sequence,
                     upper_case: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Upper-case gene names and drop repeats, as the ACTINN scripts did.

    Parameters
    ----------
    names: sequence of str
        Gene names in column order.
    upper_case: bool, default True
        Upper-case the names first (so ``Actb`` and ``ACTB`` match across
        species conventions and files).

    Returns
    -------
    names: numpy.ndarray
        The kept names (object array of str), in their original order.
    keep: numpy.ndarray
        Boolean mask over ``names``: True for the first occurrence of each
        name. Apply it to the gene columns of the matrix.

    Examples
    --------
    >>> from deepchem_actinn.io.readers import clean_gene_names
    >>> kept, keep = clean_gene_names(["Actb", "Gapdh", "ACTB"])
    >>> list(kept), keep.tolist()
    (['ACTB', 'GAPDH'], [True, True, False])
    """
    index = pd.Index(_as_str_array(names), dtype=object)
    if upper_case:
        index = index.str.upper()
    keep = ~np.asarray(index.duplicated(keep="first"))
    n_dropped = int((~keep).sum())
    if n_dropped:
        logger.info(
            "dropped %d duplicated gene names (kept the first of each), "
            "e.g. %s", n_dropped, examples(pd.unique(index[~keep])))
    return index.to_numpy(dtype=object)[keep], keep


def _clean_counts(src: CountsSource, obs: pd.DataFrame,
                  upper_case_genes: bool) -> anndata.AnnData:
    """The chosen counts as float32 CSR with cleaned gene names."""
    names, keep = clean_gene_names(src.var.index, upper_case=upper_case_genes)
    X = _to_csr32(src.matrix)
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
    adata = _make_anndata(X, obs.index, var, obs=obs)
    if not adata.obs_names.is_unique:
        dups = adata.obs_names[adata.obs_names.duplicated()]
        logger.warning("%d cell ids appear more than once, e.g. %s", len(dups),
                       examples(pd.unique(dups)))
    return adata


def _check_h5ad_only(path: Path, fmt: str, layer: Optional[str],
                     use_raw: Optional[bool]) -> None:
    if fmt != "h5ad" and (layer is not None or use_raw is not None):
        raise ACTINNInputError(
            "%s: layer= and use_raw= apply to h5ad files only, not %s" %
            (path, fmt))


def _read_format(path: Path, fmt: str) -> anndata.AnnData:
    if fmt == "actinn_h5":
        return read_actinn_h5(path)
    if fmt == "10x_mtx":
        return read_10x_mtx(path)
    if fmt == "10x_h5":
        return read_10x_h5(path)
    if fmt == "h5ad":
        return read_h5ad(path)
    return read_text(path, sep="," if fmt == "csv" else "\t")


def read(path: PathLike,
         format: Optional[str] = None,
         *,
         layer: Optional[str] = None,
         use_raw: Optional[bool] = None,
         upper_case_genes: bool = True,
         allow_non_integer: bool = False) -> anndata.AnnData:
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
        Accept non-integer values instead of raising.

    Returns
    -------
    anndata.AnnData
        Cells x genes, ``X`` a float32 CSR matrix holding the source's
        values, ``obs_names`` the cell ids, ``var_names`` the cleaned gene
        names (10x gene symbols; the ids stay in ``var['gene_ids']``).

    Raises
    ------
    ACTINNInputError
        If the path is missing, the format unknown or unreadable, or the
        values are not raw counts.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.readers import read
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2\\nActb,3,0\\nCd3e,0,1\\nACTB,9,9\\n")
    >>> adata = read(path)
    >>> list(adata.var_names), adata.X.toarray().tolist()
    (['ACTB', 'CD3E'], [[3.0, 0.0], [0.0, 1.0]])
    """
    p = _existing(path)
    fmt = _resolve_format(p, format)
    _check_h5ad_only(p, fmt, layer, use_raw)
    adata = _read_format(p, fmt)
    src = counts_source(adata,
                        layer=layer,
                        use_raw=use_raw,
                        allow_non_integer=allow_non_integer,
                        source=str(p))
    out = _clean_counts(src, adata.obs, upper_case_genes)
    logger.info("%s: read %d cells x %d genes (%s, %s)", p, out.n_obs,
                out.n_vars, fmt, src.description)
    return out


# ---------------------------------------------------------------------------
# Streaming access
# ---------------------------------------------------------------------------


class _NoDirectAccess(Exception):
    """The file's layout needs the in-memory reader."""


def _h5ad_index(group) -> np.ndarray:
    """The index of an h5ad dataframe group (obs or var), if strings."""
    if not isinstance(group, h5py.Group):
        raise _NoDirectAccess()
    key = group.attrs.get("_index", "_index")
    ds = group.get(key)
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
        raise _NoDirectAccess()
    if h5py.check_string_dtype(ds.dtype) is not None:
        return _as_str_array(ds.asstr()[:])
    raise _NoDirectAccess()


def _h5ad_var(group: h5py.Group, names: np.ndarray) -> pd.DataFrame:
    """The var table of an h5ad file; only the names if it won't decode."""
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


class _H5adRows:
    """Row access to X, a layer or raw/X of an h5ad file, with h5py."""

    def __init__(self, path: Path, layer: Optional[str],
                 use_raw: Optional[bool], allow_non_integer: bool):
        self.path = path
        self.layer = layer
        self.use_raw = use_raw
        self.allow_non_integer = allow_non_integer
        self.checked = False  # whether rows() results still need checking
        self._file: Optional[h5py.File] = None

    def __enter__(self) -> "_H5adRows":
        f = self._file = h5py.File(self.path, "r")
        try:
            self._open()
        except BaseException:
            f.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        assert self._file is not None, "__exit__ without __enter__"
        self._file.close()

    def _element(self, key: str):
        assert self._file is not None, "use in a with block"
        elem = self._file.get(key)
        if isinstance(elem, h5py.Dataset) and elem.ndim == 2:
            return elem
        if (isinstance(elem, h5py.Group) and
                elem.attrs.get("encoding-type") == "csr_matrix"):
            return elem
        if elem is None:
            raise ACTINNInputError("%s: no %s in this h5ad file" %
                                   (self.path, key))
        raise _NoDirectAccess()

    def _peek(self, elem) -> np.ndarray:
        if isinstance(elem, h5py.Group):
            data = elem["data"]
            return data[:min(data.shape[0], _PEEK_VALUES)]
        n_rows = max(1, _PEEK_VALUES // max(elem.shape[1], 1))
        return elem[:n_rows].reshape(-1)

    def _choose(self) -> Tuple[str, str, str]:
        """HDF5 keys of the matrix and its var, and a description."""
        if self.layer is not None and self.use_raw:
            raise ACTINNInputError("%s: pass either layer= or use_raw=True, "
                                   "not both" % self.path)
        if self.use_raw:
            return "raw/X", "raw/var", ".raw.X"
        if self.layer is not None:
            return ("layers/%s" % self.layer, "var", "layers[%r]" % self.layer)
        if self.use_raw is not None:
            return "X", "var", "X"
        report = _scan_values(self._peek(self._element("X"))[None, :])
        if _acceptable(report, self.allow_non_integer):
            return "X", "var", "X"
        if report.n_nonfinite == 0:
            candidates = [("raw/X", "raw/var", ".raw.X")]
            candidates += [("layers/%s" % name, "var", "layers[%r]" % name)
                           for name in _COUNT_LAYERS]
            assert self._file is not None, "use in a with block"
            for key, var_key, what in candidates:
                if key not in self._file:
                    continue
                peek = self._peek(self._element(key))[None, :]
                if _scan_values(peek).counts_like:
                    logger.warning(
                        "%s: X holds %s; reading the raw counts from %s "
                        "instead", self.path, "negative values"
                        if report.n_negative else "non-integer values", what)
                    return key, var_key, what
        return "X", "var", "X"

    def _open(self) -> None:
        assert self._file is not None, "use in a with block"
        key, var_key, self.description = self._choose()
        self._elem = self._element(key)
        self.cell_ids = _h5ad_index(self._file["obs"])
        self.gene_names = _h5ad_index(self._file[var_key])
        self.var = _h5ad_var(self._file[var_key], self.gene_names)
        if isinstance(self._elem, h5py.Group):
            shape = self._elem.attrs.get("shape",
                                         self._elem.attrs.get("h5sparse_shape"))
            if shape is None:
                raise _NoDirectAccess()
            self.shape = (int(shape[0]), int(shape[1]))
            self._indptr = self._elem["indptr"][:]
        else:
            self.shape = tuple(self._elem.shape)
        if self.shape != (len(self.cell_ids), len(self.gene_names)):
            raise _NoDirectAccess()

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        if isinstance(self._elem, h5py.Group):
            lo, hi = int(self._indptr[start]), int(self._indptr[stop])
            return sp.csr_matrix(
                (self._elem["data"][lo:hi], self._elem["indices"][lo:hi],
                 self._indptr[start:stop + 1] - lo),
                shape=(stop - start, self.shape[1]))
        return sp.csr_matrix(self._elem[start:stop])


class _ActinnH5Rows:
    """Row access to a pandas "fixed" HDF5 DataFrame (genes x cells)."""

    checked = False
    description = "the matrix"

    def __init__(self, path: Path, key: str = "dge"):
        self.path = path
        self.key = key
        self._file: Optional[h5py.File] = None

    def __enter__(self) -> "_ActinnH5Rows":
        f = self._file = h5py.File(self.path, "r")
        try:
            self._open()
        except BaseException:
            f.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        assert self._file is not None, "__exit__ without __enter__"
        self._file.close()

    @staticmethod
    def _axis(ds: h5py.Dataset) -> np.ndarray:
        kind = ds.attrs.get("kind", b"string")
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind not in ("string", "integer"):
            raise _NoDirectAccess()
        return _as_str_array(ds[:])

    def _open(self) -> None:
        assert self._file is not None, "use in a with block"
        group = self._file.get(self.key)
        if not isinstance(group, h5py.Group):
            raise _NoDirectAccess()
        attrs = group.attrs
        regular = all(
            attrs.get(name, b"regular") in (b"regular", "regular")
            for name in ("axis0_variety", "axis1_variety"))
        if (attrs.get("pandas_type") not in (b"frame", "frame") or
                int(attrs.get("nblocks", 0)) != 1 or not regular):
            raise _NoDirectAccess()
        self.cell_ids = self._axis(group["axis0"])
        self.gene_names = self._axis(group["axis1"])
        self.var = pd.DataFrame(index=self.gene_names)
        items = _as_str_array(group["block0_items"][:])
        if not np.array_equal(items, self.cell_ids):
            raise _NoDirectAccess()
        self._values = group["block0_values"]
        self._transposed = bool(self._values.attrs.get("transposed", False))
        stored = self._values.shape
        logical = stored[::-1] if self._transposed else stored
        self.shape = (len(self.cell_ids), len(self.gene_names))
        if tuple(logical) != self.shape:
            raise _NoDirectAccess()
        if self._values.dtype.kind not in "biuf":
            raise _NoDirectAccess()

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        # pandas stores each block as (columns x index); with "transposed"
        # set (what pandas writes) the dataset on disk is genes x cells.
        if self._transposed:
            return sp.csr_matrix(self._values[:, start:stop].T)
        return sp.csr_matrix(self._values[start:stop, :])


class _TenxH5Rows:
    """Row (cell) access to a 10x HDF5 file: cells are its CSC columns."""

    checked = False
    description = "the matrix"

    def __init__(self, path: Path):
        self.path = path
        self._file: Optional[h5py.File] = None

    def __enter__(self) -> "_TenxH5Rows":
        self._file = h5py.File(self.path, "r")
        try:
            group, v3 = _tenx_h5_group(self._file, self.path)
            var = _tenx_h5_var(group, v3)
            self._group = group
            self._indptr = group["indptr"][:]
            self.n_genes = int(group["shape"][0])
            self.cell_ids = _as_str_array(group["barcodes"][:])
            gex = np.ones(len(var), dtype=bool)
            if "feature_types" in var:
                gex = (var["feature_types"] == _GENE_EXPRESSION).to_numpy()
            self._columns = None if gex.all() else np.flatnonzero(gex)
            self.gene_names = var.index.to_numpy()[gex]
            self.var = var.iloc[np.flatnonzero(gex)]
            self.shape = (len(self.cell_ids), len(self.gene_names))
        except BaseException:
            self._file.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        assert self._file is not None, "__exit__ without __enter__"
        self._file.close()

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        lo, hi = int(self._indptr[start]), int(self._indptr[stop])
        X = sp.csc_matrix(
            (self._group["data"][lo:hi], self._group["indices"][lo:hi],
             self._indptr[start:stop + 1] - lo),
            shape=(self.n_genes, stop - start)).T.tocsr()
        return X if self._columns is None else X[:, self._columns]


class _MemoryRows:
    """Row access to what :func:`read` returns (checked already)."""

    checked = True
    description = "X"

    def __init__(self, adata: anndata.AnnData):
        self._adata = adata
        self.cell_ids = adata.obs_names.to_numpy(dtype=object)
        self.gene_names = adata.var_names.to_numpy(dtype=object)
        self.var = adata.var
        self.shape = adata.shape

    def __enter__(self) -> "_MemoryRows":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        return self._adata.X[start:stop]


@contextlib.contextmanager
def _open_rows(path: Path, fmt: str, layer: Optional[str],
               use_raw: Optional[bool], allow_non_integer: bool):
    """Row access to ``path``: straight from the file when its layout
    allows, else through :func:`read`."""
    _check_h5ad_only(path, fmt, layer, use_raw)
    direct: Union[_H5adRows, _ActinnH5Rows, _TenxH5Rows, None] = None
    if fmt == "h5ad":
        direct = _H5adRows(path, layer, use_raw, allow_non_integer)
    elif fmt == "actinn_h5":
        direct = _ActinnH5Rows(path)
    elif fmt == "10x_h5":
        direct = _TenxH5Rows(path)
    if direct is not None:
        try:
            direct.__enter__()
        except (_NoDirectAccess, OSError, KeyError) as err:
            logger.info("%s: reading the whole file (%s)", path,
                        type(err).__name__)
        else:
            try:
                yield direct
            finally:
                direct.__exit__(None, None, None)
            return
    adata = read(path,
                 fmt,
                 layer=layer,
                 use_raw=use_raw,
                 upper_case_genes=False,
                 allow_non_integer=allow_non_integer)
    yield _MemoryRows(adata)


def _text_gene_names(path: Path, sep: str) -> np.ndarray:
    """The first field of every line after the header, without the values."""
    names = []
    with _open_text(path) as fh:
        fh.readline()
        for line in fh:
            if not line.strip():
                continue
            if line.startswith('"'):
                names.append(next(csv.reader([line], delimiter=sep))[0])
            else:
                names.append(line.split(sep, 1)[0])
    return _as_str_array(names)


def read_var(path: PathLike,
             format: Optional[str] = None,
             upper_case_genes: bool = True,
             *,
             layer: Optional[str] = None,
             use_raw: Optional[bool] = None,
             allow_non_integer: bool = False) -> pd.DataFrame:
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

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.readers import read_var
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
    p = _existing(path)
    fmt = _resolve_format(p, format)
    _check_h5ad_only(p, fmt, layer, use_raw)
    if fmt == "10x_mtx":
        var = _read_10x_features(_locate_10x(p).features)
        if "feature_types" in var:
            var = var[(var["feature_types"] == _GENE_EXPRESSION).to_numpy()]
    elif fmt in ("csv", "tsv"):
        var = pd.DataFrame(
            index=_text_gene_names(p, "," if fmt == "csv" else "\t"))
    else:
        with _open_rows(p, fmt, layer, use_raw, allow_non_integer) as source:
            var = source.var
    names, keep = clean_gene_names(var.index, upper_case=upper_case_genes)
    var = var.iloc[np.flatnonzero(keep)].copy()
    var.index = pd.Index(names, dtype=object)
    return var


def read_gene_names(path: PathLike,
                    format: Optional[str] = None,
                    upper_case_genes: bool = True,
                    *,
                    layer: Optional[str] = None,
                    use_raw: Optional[bool] = None,
                    allow_non_integer: bool = False) -> np.ndarray:
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
        As in :func:`read` (for an h5ad file they decide which matrix, and
        so which gene list, is used).

    Returns
    -------
    numpy.ndarray
        Object array of str.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.readers import read_gene_names
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
                   allow_non_integer=allow_non_integer)
    return var.index.to_numpy(dtype=object)


def read_cell_ids(path: PathLike, format: Optional[str] = None) -> np.ndarray:
    """The cell ids of a file, in row order, without reading its matrix
    where the format allows it.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2,c3\\nActb,3,0,1\\n")
    >>> list(read_cell_ids(path))
    ['c1', 'c2', 'c3']
    """
    p = _existing(path)
    fmt = _resolve_format(p, format)
    if fmt == "10x_mtx":
        return _as_str_array(_read_10x_barcodes(_locate_10x(p).barcodes))
    if fmt in ("csv", "tsv"):
        df = pd.read_csv(p,
                         sep="," if fmt == "csv" else "\t",
                         index_col=0,
                         nrows=1)
        return _as_str_array(df.columns)
    with _open_rows(p, fmt, None, None, allow_non_integer=True) as source:
        return _as_str_array(source.cell_ids)


def n_cells(path: PathLike, format: Optional[str] = None) -> int:
    """The number of cells in a file, without reading its matrix.

    Parameters
    ----------
    path: str or os.PathLike
        File or 10x matrix directory.
    format: str, optional
        Force the format; detected by default.

    Returns
    -------
    int

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.readers import n_cells
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2,c3\\nActb,3,0,1\\n")
    >>> n_cells(path)
    3
    """
    p = _existing(path)
    fmt = _resolve_format(p, format)
    if fmt == "10x_mtx":
        return len(_read_10x_barcodes(_locate_10x(p).barcodes))
    if fmt in ("csv", "tsv"):
        df = pd.read_csv(p,
                         sep="," if fmt == "csv" else "\t",
                         index_col=0,
                         nrows=1)
        return int(df.shape[1])
    if fmt == "h5ad":
        try:
            with h5py.File(p, "r") as f:
                return len(_h5ad_index(f["obs"]))
        except (_NoDirectAccess, KeyError, OSError):
            pass
    with _open_rows(p, fmt, None, None, allow_non_integer=True) as source:
        return int(source.shape[0])


def _check_chunk(X: sp.csr_matrix, cell_ids: np.ndarray, what: str, path: Path,
                 allow_non_integer: bool) -> None:
    report = _scan_values(X)
    if not _acceptable(report, allow_non_integer):
        raise _counts_error(report, cell_ids, what, str(path))


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
        check: bool = True) -> Iterator[Tuple[np.ndarray, sp.csr_matrix]]:
    """Yield the cells of a file in chunks, for data larger than memory.

    h5ad (CSR or dense ``X``), ACTINN HDF5 (pandas fixed format) and 10x
    HDF5 files are read chunk by chunk, so memory stays bounded by the
    chunk; other formats are read whole and then cut. Chunks hold the same
    values and columns as :func:`read` with the same arguments; each chunk
    is checked for raw counts as it is read. For an h5ad file whose ``X``
    is normalised, the fallback to ``.raw`` or ``layers['counts']`` is
    decided from the first values of ``X``.

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
    layer, use_raw, allow_non_integer:
        As in :func:`read`.
    starts: sequence of int, optional
        Read the chunks that start at these cells, in this order (for
        shuffled passes over a file); by default every chunk in file order.
    check: bool, default True
        Check every chunk's values; pass False only for a file whose values
        an earlier pass has checked.

    Yields
    ------
    cell_ids: numpy.ndarray
        Object array of str, the chunk's cells.
    X: scipy.sparse.csr_matrix
        float32, chunk cells x genes.

    Raises
    ------
    ACTINNInputError
        At the call for a missing path or an unknown format; while
        iterating for an unreadable file or values that are not raw counts.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.readers import iter_cell_chunks
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2,c3\\nActb,3,0,1\\n")
    >>> [list(ids) for ids, X in iter_cell_chunks(path, chunk_size=2)]
    [['c1', 'c2'], ['c3']]
    """
    if int(chunk_size) < 1:
        raise ACTINNInputError("chunk_size must be at least 1, got %r" %
                               (chunk_size,))
    p = _existing(path)
    fmt = _resolve_format(p, format)
    _check_h5ad_only(p, fmt, layer, use_raw)
    return _iter_chunks(p, fmt, int(chunk_size), upper_case_genes, layer,
                        use_raw, allow_non_integer, starts, check)


def _iter_chunks(path: Path,
                 fmt: str,
                 chunk_size: int,
                 upper_case_genes: bool,
                 layer: Optional[str],
                 use_raw: Optional[bool],
                 allow_non_integer: bool,
                 starts: Optional[Sequence[int]] = None,
                 check: bool = True):
    with _open_rows(path, fmt, layer, use_raw, allow_non_integer) as source:
        _, keep = clean_gene_names(source.gene_names,
                                   upper_case=upper_case_genes)
        columns = None if keep.all() else np.flatnonzero(keep)
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
            if check and not source.checked:
                _check_chunk(X, ids, source.description, path,
                             allow_non_integer)
            X = _to_csr32(X)
            if columns is not None:
                X = X[:, columns]
            yield ids, X


# ---------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------

_LABEL_HEADER = ("cellname", "celltype")


def read_labels(path: PathLike) -> pd.Series:
    """Read a cell-type labels file: ``cell id<TAB>cell type`` per line.

    No header is expected; a first line ``cellname<TAB>celltype`` (the
    header of ACTINN's ``predicted_label.txt``) is skipped. Blank lines are
    ignored and fields are stripped of surrounding spaces. ``.gz`` files
    are read gunzipped.

    Parameters
    ----------
    path: str or os.PathLike
        The labels file.

    Returns
    -------
    pandas.Series
        Cell types (str) named ``cell_type``, indexed by cell id (str), in
        file order.

    Raises
    ------
    ACTINNInputError
        If the file is empty, a line does not hold two tab-separated fields,
        or a cell id appears twice.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.readers import read_labels
    >>> path = os.path.join(tempfile.mkdtemp(), "labels.txt")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("c1\\tB cell\\nc2\\tT cell\\n")
    >>> read_labels(path).to_dict()
    {'c1': 'B cell', 'c2': 'T cell'}
    """
    p = _existing(path)
    if p.is_dir():
        raise ACTINNInputError("%s: a directory, not a labels file" % p)
    ids: List[str] = []
    types: List[str] = []
    n_fields = 2
    try:
        with _open_text(p) as fh:
            for lineno, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                fields = [f.strip() for f in line.split("\t")]
                if not ids and tuple(fields[:2]) == _LABEL_HEADER:
                    n_fields = len(fields)
                    continue
                if len(fields) != n_fields or not all(fields[:2]):
                    raise ACTINNInputError(
                        "%s: line %d: expected cell id<TAB>cell type, got %r" %
                        (p, lineno, line[:80]))
                ids.append(fields[0])
                types.append(fields[1])
    except (OSError, UnicodeDecodeError) as err:
        raise ACTINNInputError("%s: cannot read it as text (%s)" %
                               (p, err)) from err
    if not ids:
        raise ACTINNInputError("%s: the labels file is empty" % p)
    labels = pd.Series(types,
                       index=pd.Index(ids, dtype=object),
                       name="cell_type",
                       dtype=object)
    dup = labels.index.duplicated()
    if dup.any():
        repeated = pd.unique(labels.index[dup])
        raise ACTINNInputError(
            "%s: %d cell ids appear more than once, e.g. %s" %
            (p, len(repeated), examples(repeated)))
    return labels


def match_labels(cell_ids: Union[Sequence, np.ndarray],
                 labels: Union[pd.Series, PathLike],
                 labels_path: str = "labels") -> np.ndarray:
    """Align labels to the cells of a matrix by cell id.

    Parameters
    ----------
    cell_ids: sequence of str
        The matrix's cells, in row order.
    labels: pandas.Series or path
        Cell types indexed by cell id (as :func:`read_labels` returns), or
        the path of a labels file.
    labels_path: str, default "labels"
        Names the labels in messages (the file's path when ``labels`` is
        one).

    Returns
    -------
    numpy.ndarray
        Object array of str: the cell type of each cell, in row order.

    Raises
    ------
    ACTINNInputError
        If some cells have no label, or some labelled cells are not in the
        matrix; the message names how many and gives examples.

    Examples
    --------
    >>> import pandas as pd
    >>> from deepchem_actinn.io.readers import match_labels
    >>> labels = pd.Series({"c2": "T cell", "c1": "B cell"})
    >>> list(match_labels(["c1", "c2"], labels))
    ['B cell', 'T cell']
    """
    if isinstance(labels, (str, os.PathLike)):
        labels_path = str(labels)
        labels = read_labels(labels)
    ids = pd.Index(_as_str_array(cell_ids), dtype=object)
    known = pd.Index(_as_str_array(labels.index), dtype=object)
    if not known.is_unique:
        repeated = pd.unique(known[known.duplicated()])
        raise ACTINNInputError(
            "%s: %d cell ids appear more than once, e.g. %s" %
            (labels_path, len(repeated), examples(repeated)))
    missing = pd.unique(ids[~ids.isin(known)])
    if len(missing):
        raise ACTINNInputError(
            "%s: %d of %d cells have no label, e.g. %s" %
            (labels_path, len(missing), len(pd.unique(ids)), examples(missing)))
    extra = known[~known.isin(ids)]
    if len(extra):
        raise ACTINNInputError(
            "%s: %d labelled cells are not in the matrix, e.g. %s" %
            (labels_path, len(extra), examples(extra)))
    values = pd.Series(_as_str_array(labels.to_numpy()), index=known)
    return values.reindex(ids).to_numpy(dtype=object)
