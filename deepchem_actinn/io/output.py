"""Outputs written whole or not at all, never clobbering by accident.

The one helper every writer, the report and the command line use: output is
built under a hidden temporary name next to its target and renamed into place
only when complete, so an interrupted or failed run leaves nothing behind,
and an existing output is replaced only when asked (``overwrite=True``, on
the command line ``--overwrite``).
"""
import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterable, Iterator

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.types import PathLike


def refuse_existing(paths: Iterable[PathLike], overwrite: bool) -> None:
    """Fail before any work if an output exists and may not be replaced.

    Examples
    --------
    >>> import tempfile
    >>> refuse_existing([tempfile.gettempdir()], overwrite=True)
    """
    if overwrite:
        return
    for path in paths:
        if os.path.lexists(path):
            raise ACTINNInputError(
                "%s exists; pass overwrite=True (CLI: --overwrite) to "
                "replace it" % path)


def check_target(path: PathLike, overwrite: bool, directory: bool) -> Path:
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
    >>> from deepchem_actinn.io.output import atomic_output
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_output(path) as tmp:
    ...     _ = tmp.write_text("done\\n")
    ...     os.path.exists(path)
    False
    >>> open(path).read()
    'done\\n'
    """
    target = check_target(path, overwrite, directory=False)
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
    >>> from deepchem_actinn.io.output import atomic_output_dir
    >>> path = os.path.join(tempfile.mkdtemp(), "model")
    >>> with atomic_output_dir(path) as tmp:
    ...     _ = (tmp / "weights.txt").write_text("0.5\\n")
    >>> sorted(os.listdir(path))
    ['weights.txt']
    """
    target = check_target(path, overwrite, directory=True)
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
