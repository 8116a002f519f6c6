"""What is wrong with a damaged ``.h5ad`` file, in one line.

:func:`check_layout` refuses, before anndata reads a file, the structures
anndata cannot read or reads with an error that says nothing of the file
(``obs`` a dataset, a sparse matrix without its index pointers);
:func:`damaged_h5ad` turns what anndata and h5py raise for the others (an
element of an encoding anndata has no reader for) into one line naming the
file and the element: ``PATH: cannot be read as an h5ad file: ...``.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator, Optional, Tuple

import h5py

from deepchem_actinn.errors import ACTINNInputError, install_package
from deepchem_actinn.io.content import one_line

try:  # what anndata raises for an element it has no reader for
    from anndata._io.specs.registry import IORegistryError
except ImportError:  # pragma: no cover - moved: a traceback names it

    class IORegistryError(Exception):  # type: ignore[no-redef]
        """Stands for anndata's, where it cannot be imported."""


#: The encodings of a sparse matrix.
SPARSE = ("csr_matrix", "csc_matrix")


class DamagedH5ad(Exception):
    """What is wrong with an element of an h5ad file (the message, without
    the file's name: :func:`damaged_h5ad` adds it)."""


#: What anndata and h5py raise reading an h5ad file whose content is
#: damaged (an element missing, of the wrong kind or of an unknown
#: encoding), or an element that needs a package not installed (an
#: awkward array without awkward: ImportError); anndata adds a note naming
#: the element.
DAMAGE_ERRORS = (OSError, KeyError, ValueError, TypeError, AttributeError,
                 IndexError, ImportError, IORegistryError, DamagedH5ad)

#: The package anndata needs to read an element of each encoding, where it
#: is not one of its own requirements.
_ENCODING_PACKAGES = {"awkward-array": "awkward"}

_CANNOT_IMPORT = re.compile(r"cannot import name '([^']+)'")

_NOTE = re.compile(r"reading key '([^']*)' of .* from (\S*)")


def _element_of(err: BaseException) -> Optional[str]:
    """The element anndata was reading when ``err`` was raised (from the
    note it adds), ``""`` for the file's root; None when not said."""
    for note in list(getattr(err, "__notes__", ())) + [str(err)]:
        found = _NOTE.search(str(note))
        if found:
            key, parent = found.groups()
            return "/".join(p for p in (parent.strip("/"), key) if p)
    return None


def _encoding(path: Path, where: str) -> Optional[Tuple[str, str]]:
    """The encoding of an element and its version as the file states them,
    or None when they cannot be found."""
    try:
        with h5py.File(path, "r") as f:
            elem = f[where] if where else f
            kind = elem.attrs.get("encoding-type")
            version = elem.attrs.get("encoding-version")
    except (OSError, KeyError, ValueError):
        return None
    return None if kind is None else (str(kind), str(version))


def _unreadable_encoding(path: Path, where: str) -> Optional[str]:
    """Words for an element anndata has no reader for (its encoding as the
    file states it), or None when they cannot be found."""
    found = _encoding(path, where)
    if found is None:
        return None
    return ("its %s is stored as %r (encoding version %s), which anndata "
            "%s cannot read (a file written by another program, or by a "
            "newer anndata?)" %
            (where or "root", found[0], found[1], _anndata_version()))


def _missing_package(path: Path, where: Optional[str], err: ImportError) -> str:
    """Words for an element anndata reads only with a package that is not
    installed: the element, its encoding and what to install."""
    found = None if where is None else _encoding(path, where)
    package = None if found is None else _ENCODING_PACKAGES.get(found[0])
    if package is None and isinstance(err, ModuleNotFoundError) and err.name:
        package = err.name.split(".")[0]
    if package is None:  # anndata: cannot import name 'awkward' from ...
        named = _CANNOT_IMPORT.search(str(err))
        package = named.group(1) if named else None
    element = "an element" if where is None else "its %s" % (where or "root")
    said = "%s: anndata reads it" % element if found is None else \
        "%s is stored as %r (encoding version %s), which anndata reads" % (
            element, found[0], found[1])
    if package is None:
        return "%s only with a package that is not installed (%s)" % (
            said, one_line(err))
    return "%s only with the %s package installed: %s" % (
        said, package, install_package(package))


def _anndata_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("anndata")
    except PackageNotFoundError:  # pragma: no cover
        return ""


def damage_refused(path: Path,
                   err: BaseException,
                   where: Optional[str] = None) -> ACTINNInputError:
    """The one-line refusal of ``path`` for ``err``, raised reading its
    element ``where`` (when not given, the one anndata names)."""
    return ACTINNInputError("%s: cannot be read as an h5ad file: %s" %
                            (path, damage_words(path, err, where)))


def damage_words(path: Path,
                 err: BaseException,
                 where: Optional[str] = None) -> str:
    """What is wrong, in one line: the element (``where``; when not given,
    the one anndata names) and the error."""
    if isinstance(err, DamagedH5ad):
        return one_line(err)
    where = _element_of(err) if where is None else where
    if isinstance(err, ImportError):
        return _missing_package(path, where, err)
    if isinstance(err, IORegistryError) and where is not None:
        said = _unreadable_encoding(path, where)
        if said:
            return said
    text = one_line(
        err.args[0] if isinstance(err, KeyError) and err.args else err)
    return "%s%s: %s" % ("" if where is None else "reading its %s, " %
                         (where or "root"), type(err).__name__, text)


@contextlib.contextmanager
def damaged_h5ad(path: Path) -> Iterator[None]:
    """Inside, what anndata and h5py raise for a damaged h5ad file
    (:data:`DAMAGE_ERRORS`) becomes one line naming ``path`` and the
    element: ``PATH: cannot be read as an h5ad file: ...``; this package's
    own errors pass as they are."""
    try:
        yield
    except ACTINNInputError:
        raise
    except DAMAGE_ERRORS as err:
        raise damage_refused(path, err) from None


def _described(elem) -> str:
    """An element that is not what its place needs, in words."""
    if isinstance(elem, h5py.Dataset):
        return "a dataset of %s values" % elem.dtype
    return "a group"


def _legacy_table(elem) -> bool:
    """A dataset anndata reads as a table or a mapping: old anndata
    versions stored them as arrays of records."""
    return isinstance(elem, h5py.Dataset) and elem.dtype.names is not None


#: Elements of an h5ad file's root that are groups (or, written by old
#: anndata versions, arrays of records).
_TABLES = ("obs", "var")
_MAPPINGS = ("layers", "obsm", "varm", "obsp", "varp", "uns")


def check_layout(f: h5py.File) -> None:
    """Refuse an h5ad file whose structure anndata cannot read or reads
    with an error that says nothing of the file (obs or var a dataset, a
    sparse matrix without one of its arrays), with :class:`DamagedH5ad`
    naming the element."""
    for name in _TABLES + _MAPPINGS:
        elem = f.get(name)
        if elem is None or isinstance(elem, h5py.Group) or \
                _legacy_table(elem):
            continue
        raise DamagedH5ad(
            "its %s is %s, where an h5ad file keeps %s" %
            (name, _described(elem),
             "a table (a group)" if name in _TABLES else "a group"))
    for name in _TABLES:
        table = f.get(name)
        if isinstance(table, h5py.Group) and \
                table.attrs.get("encoding-type") == "dataframe":
            _check_table(name, table)
    layers = f.get("layers")
    names = ["X", "raw/X"] + (["layers/" + k for k in layers] if isinstance(
        layers, h5py.Group) else [])
    for name in names:
        try:
            elem = f.get(name)
        except (KeyError, TypeError):  # raw is no group: no raw/X
            continue
        if not isinstance(elem, h5py.Group):
            continue
        kind = elem.attrs.get("encoding-type")
        if kind is None:
            raise DamagedH5ad("its %s is a group that does not say what "
                              "matrix it holds (no encoding-type)" % name)
        if kind in SPARSE:
            check_sparse(name, elem)


def _check_table(name: str, table: h5py.Group) -> None:
    """The index of an obs or var table: named, there, and an array (or
    one of anndata's encoded arrays, a group with an encoding)."""
    if "_index" not in table.attrs:
        raise DamagedH5ad("its %s does not say which of its arrays is its "
                          "index (no '_index' attribute)" % name)
    key = str(table.attrs["_index"])
    elem = table.get(key)
    if elem is None:
        raise DamagedH5ad("its %s index (%r) is missing" % (name, key))
    if isinstance(elem, h5py.Group) and \
            elem.attrs.get("encoding-type") is None:
        raise DamagedH5ad("its %s index (%r) is a group, not an array of "
                          "names" % (name, key))


def check_sparse(name: str, elem: h5py.Group) -> None:
    """A sparse matrix's three arrays: there, and arrays."""
    for part in ("data", "indices", "indptr"):
        member = elem.get(part)
        if member is None:
            raise DamagedH5ad("its %s, a sparse matrix, has no %r array "
                              "(a file cut short or written incompletely?)" %
                              (name, part))
        if not isinstance(member, h5py.Dataset):
            raise DamagedH5ad("its %s, a sparse matrix, holds a group %r "
                              "where its %s belong (an array)" % (name, part, {
                                  "data": "values",
                                  "indices": "column indices",
                                  "indptr": "row pointers"
                              }[part]))
