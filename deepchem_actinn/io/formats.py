"""Telling the file formats of :mod:`~deepchem_actinn.io.registry` apart.

:func:`detect_format` decides by content: an HDF5 file by its layout, text
by its separator, a directory by the 10x matrix it holds; the name only
says which format of a kind, and a warning says when name and content
disagree. :func:`path_and_format` checks a format given against the file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Tuple

import h5py

from deepchem_actinn.errors import ANY, ACTINNInputError, Advice, examples
from deepchem_actinn.io._common import existing, strip_gz
from deepchem_actinn.io.content import not_utf8, one_line, reading, sniff
from deepchem_actinn.io.registry import (BY_NAME, FORMAT_HELP, FORMAT_WORDS,
                                         FORMATS, REGISTRY, SEPARATORS)
from deepchem_actinn.io.tenx import find_10x_matrix
from deepchem_actinn.io.text import sniff_separator
from deepchem_actinn.types import PathLike

logger = logging.getLogger(__name__)

_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
# What a name promises, for messages: a format, or only a kind of file.
_NAMED = dict({f.name: f.suffix_words for f in REGISTRY if f.suffixes},
              hdf5="an HDF5 file",
              txt="a text file")


def _hdf5_kind(f: h5py.File) -> Optional[str]:
    """Tell a 10x, h5ad or pandas HDF5 file apart by its layout."""
    matrix = f.get("matrix")
    if isinstance(matrix, h5py.Group) and "indptr" in matrix:
        return "10x_h5"
    groups = [f[k] for k in f.keys() if isinstance(f.get(k), h5py.Group)]
    if any({"indptr", "barcodes", "genes"} <= set(g.keys()) for g in groups):
        return "10x_h5"
    if _anndata_layout(f):
        return "h5ad"
    if any("pandas_type" in g.attrs for g in groups):
        return "actinn_h5"
    return None


def _anndata_layout(f: h5py.File) -> bool:
    """Whether an HDF5 file is laid out as anndata writes one: obs and var,
    and X, or (an AnnData of X=None, written without X) the counts
    elsewhere or anndata's mark on the file."""
    matrices = ("X", "layers", "raw")
    return "obs" in f and "var" in f and (any(
        m in f for m in matrices) or f.attrs.get("encoding-type") == "anndata")


def _unknown(path: Path, why: str) -> ACTINNInputError:
    return ACTINNInputError("%s: %s; accepted formats: %s; %s to force one",
                            path, why, FORMAT_HELP, Advice(dict(format=ANY)))


def detect_format(path: PathLike) -> str:
    """Tell which of the supported formats a file or directory is in.

    The first bytes of a file decide what it holds, the name which format
    of that kind: an HDF5 file is opened to tell a 10x HDF5 file (a
    ``matrix`` group, or a genome group with ``genes``) from an h5ad or a
    pandas (ACTINN) HDF5 file, whatever its name; text is ``csv`` or
    ``tsv`` by the separator its first line holds (by its extension when
    that line holds both or neither; ``.txt`` files are then ``tsv``). Gzip
    data is recognised by its
    bytes, so a gzipped ``counts.csv`` and a plain ``counts.csv.gz`` are
    both read. When the name and the content disagree, the content wins
    and a warning says so.

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
        If nothing is at ``path``, the file is empty, or it holds none of
        these formats (an image, an archive, binary data).

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io import detect_format
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene,c1,c2\\nActb,3,0\\n")
    >>> detect_format(path)
    'csv'
    """
    p = existing(path)
    if p.is_dir():
        if find_10x_matrix(p) is not None:
            return "10x_mtx"
        held = sorted(child.name for child in p.iterdir())
        raise _unknown(
            p, "a directory without a 10x matrix.mtx[.gz] (it holds %s)" %
            (examples(held) if held else "nothing"))
    _refuse_part_of_10x(p)
    content = sniff(p)
    named = _format_by_name(p)
    refusal = not_utf8(p, content)
    if refusal is not None:
        raise refusal
    if content.kind == "empty":
        raise ACTINNInputError("%s: the file is %s" % (p, content.description))
    if content.kind == "hdf5" and not content.gzipped:
        fmt = _hdf5_format(p)
    elif content.kind == "hdf5":
        raise ACTINNInputError("%s: a gzip-compressed HDF5 file; decompress "
                               "it first (gunzip)" % p)
    elif content.kind != "text":
        raise ACTINNInputError(
            "%s: the file holds %s, not counts in an accepted format (%s)%s" %
            (p, content.description, FORMAT_HELP, _binary_hint(p)))
    elif named in SEPARATORS:
        fmt = sniff_separator(p, default=named)
        if fmt != named:
            logger.warning(
                "%s: named like %s but its first line is %s-separated; "
                "reading it as %s", p, _NAMED[named],
                "tab" if fmt == "tsv" else "comma", fmt)
        return fmt
    elif named == "10x_mtx":
        return named
    elif named == "txt":
        return sniff_separator(p)
    elif named is None:
        raise _unknown(p, "cannot tell the format from the name")
    else:
        fmt = sniff_separator(p)
    if named is not None and named != fmt and not (
            named == "hdf5" and BY_NAME[fmt].holds == "hdf5"):
        logger.warning("%s: named like %s but holds %s; reading it as %s", p,
                       _NAMED[named], content.description, fmt)
    return fmt


#: The side files of a 10x matrix directory (their names may carry a GEO
#: sample prefix, ``GSM123_features.tsv.gz``).
_TENX_PARTS = ("features.tsv", "genes.tsv", "barcodes.tsv")


def _refuse_part_of_10x(path: Path) -> None:
    """Refuse one of a 10x directory's gene or barcode files given as the
    counts, pointing at its directory."""
    stem = strip_gz(path.name.lower())
    part = next((t for t in _TENX_PARTS if stem.endswith(t)), None)
    if part is not None and find_10x_matrix(path.parent) is not None:
        raise ACTINNInputError(
            "%s: the %s of a 10x matrix, not its counts: pass its folder "
            "(%s), which holds the matrix.mtx, features and barcodes" %
            (path, "barcodes" if part == "barcodes.tsv" else "gene names",
             path.parent))


#: What to do with a file of another kind, by its name's ending.
_BINARY_HINTS = (
    ((".tar.gz", ".tgz", ".tar", ".zip"),
     "an archive: unpack it first (tar xzf, unzip) and pass the folder or "
     "file inside"),
    ((".rds", ".rda", ".rdata", ".robj"),
     "an R object: export its counts from R first, e.g. to .h5ad "
     "(zellkonverter, SeuratDisk) or as a 10x folder (DropletUtils::"
     "write10xCounts) or a CSV"),
)


def _binary_hint(path: Path) -> str:
    """``"; it looks like ..."`` for a known kind of file, by its name."""
    lower = path.name.lower()
    for endings, hint in _BINARY_HINTS:
        if lower.endswith(endings):
            return "; it looks like %s" % hint
    return ""


def _format_by_name(path: Path) -> Optional[str]:
    """The format the name suggests; "hdf5" for any HDF5 file, "txt" for
    text of either separator, None for an unknown name."""
    lower = path.name.lower()
    if lower.endswith(_HDF5_SUFFIXES):
        return "hdf5"
    stem = strip_gz(lower)
    if stem.endswith(".txt"):
        return "txt"
    return next(
        (f.name for f in REGISTRY if f.suffixes and stem.endswith(f.suffixes)),
        None)


def _hdf5_format(path: Path) -> str:
    """The format of an HDF5 file, from its layout."""
    try:
        with h5py.File(path, "r") as f:
            kind = _hdf5_kind(f)
    except OSError as err:
        raise ACTINNInputError(
            "%s: not a readable HDF5 file, it looks damaged or truncated "
            "(%s)" % (path, one_line(err))) from err
    if kind is None:
        raise _unknown(path, "an HDF5 file of an unknown layout")
    return kind


def _given(format: str) -> Advice:
    """The format given, in the words of whoever gave it (messages)."""
    return Advice(dict(format=format), verb="")


def resolve_format(path: Path, format: Optional[str]) -> str:
    """``format`` checked against what ``path`` holds, or the detected one."""
    if format is None:
        return detect_format(path)
    if format not in FORMATS:
        raise ACTINNInputError("%s: unknown format %r; accepted formats: %s" %
                               (path, format, FORMAT_HELP))
    if path.is_dir():
        if not BY_NAME[format].directory:
            raise ACTINNInputError("%s: %s needs a file, not a directory", path,
                                   _given(format))
        return format
    content = sniff(path)
    wanted = BY_NAME[format].holds
    refusal = not_utf8(path, content) if wanted == "text" else None
    if refusal is not None:
        raise refusal
    if content.kind != wanted or (wanted == "hdf5" and content.gzipped):
        raise ACTINNInputError("%s: %s needs %s, but the file is %s", path,
                               _given(format),
                               "an HDF5 file" if wanted == "hdf5" else "text",
                               content.description)
    if wanted == "hdf5":
        try:
            with h5py.File(path, "r") as f:
                found = _hdf5_kind(f)
        except OSError:
            found = None  # the reader says what is wrong with it
        if found is not None and found != format:
            raise ACTINNInputError(
                "%s: %s, but the file is %s (%s); leave %s out and it is "
                "detected", path, _given(format), FORMAT_WORDS[found], found,
                Advice(dict(format=ANY), verb=""))
    return format


def path_and_format(path: PathLike, format: Optional[str]) -> Tuple[Path, str]:
    """The existing ``path`` and its format (:func:`resolve_format`), an
    unreadable file's error naming it as counts."""
    p = existing(path)
    with reading(p, "counts"):
        return p, resolve_format(p, format)


def check_text_only(path: Path, fmt: str, orientation: Optional[str]) -> None:
    """Refuse ``orientation=`` for a format other than CSV / TSV."""
    if orientation is not None and fmt not in SEPARATORS:
        raise ACTINNInputError(
            "%s: %s applies to CSV/TSV files only, not %s (whose layout is "
            "fixed)", path, Advice(dict(orientation=ANY), verb=""), fmt)


#: How a matrix other than ``X`` is named (in messages).
NAMING_OPTIONS = Advice(dict(layer=ANY), dict(use_raw=True), verb="")


def check_h5ad_only(path: Path, fmt: str, layer: Optional[str],
                    use_raw: Optional[bool]) -> None:
    """Refuse ``layer=`` / ``use_raw=True`` for a format other than h5ad
    (``use_raw=False``, ``X`` itself, is every format's only matrix)."""
    if fmt != "h5ad" and (layer is not None or use_raw):
        raise ACTINNInputError(
            "%s: layers and .raw (%s) are h5ad's only, not "
            "%s's", path, NAMING_OPTIONS, fmt)
