"""Outputs written whole or not at all, never clobbering by accident.

The one helper every writer, the report and the command line use: output is
built under a hidden temporary name next to its target and renamed into place
only when complete, so an interrupted or failed run leaves nothing behind,
and an existing output is replaced only when asked (``overwrite=True``, on
the command line ``--overwrite``).
"""
import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence

from deepchem_actinn.errors import ACTINNInputError, Advice, examples
from deepchem_actinn.signals import raise_if_stopped
from deepchem_actinn.types import PathLike

#: How to replace an existing output (messages).
OVERWRITE = Advice(dict(overwrite=True))


def refuse_existing(paths: Iterable[PathLike], overwrite: bool) -> None:
    """Fail before any work if an output exists and may not be replaced,
    or cannot be written where it goes. A link is judged by what it points
    to, and an empty directory is no output yet.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io import refuse_existing
    >>> out = tempfile.mkdtemp()
    >>> refuse_existing([os.path.join(out, "model")], overwrite=False)
    """
    paths = [output_path(p) for p in paths]
    if not overwrite:
        for path in paths:
            if os.path.lexists(path) and not empty_directory(path):
                raise ACTINNInputError("%s exists; %s to replace it", path,
                                       OVERWRITE)
    probed = set()
    for path in paths:
        folder = _nearest_folder(path)
        if folder not in probed:
            refuse_unwritable_folder(path, folder)
            probed.add(folder)


def _nearest_folder(path: PathLike) -> Path:
    """The directory an output will be written in, or the nearest of its
    ancestors that exists (the others are made on the way)."""
    folder = Path(os.path.abspath(path)).parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def refuse_unwritable_folder(path: PathLike, folder: Path) -> None:
    """Fail before any work if nothing can be written in ``folder``, where
    ``path`` goes (a read-only directory or file system): the outputs are
    written at the end, and the error would come after the training.
    Tried by making and removing a hidden file there; a file (or a link to
    nothing) named ``folder`` is refused too. (Values that cannot
    be written in a tab-separated file are
    :func:`~deepchem_actinn.io.predictions.refuse_unwritable`'s.)"""
    if not folder.is_dir():  # a file where a directory should be
        given = [
            p for p in Path(path).parents
            if os.path.abspath(p) == os.path.abspath(folder)
        ]
        why = ("is a link to %s, which does not exist" %
               os.readlink(folder) if os.path.islink(folder) and
               not os.path.exists(folder) else "is a file, not a directory")
        raise ACTINNInputError("%s: %s %s" % (path,
                                              (given or [folder])[0], why))
    try:
        handle, probe = tempfile.mkstemp(prefix=".actinn-probe-", dir=folder)
    except OSError as err:
        why = str(err.strerror or err)
        raise ACTINNInputError("%s: cannot write in %s (%s)" %
                               (path, folder, why[:1].lower() + why[1:]))
    os.close(handle)
    os.unlink(probe)


def check_target(path: PathLike, overwrite: bool, directory: bool) -> Path:
    """Refuse an output that exists (unless overwrite) or has no parent.

    Returns where to write: ``path``, or what it links to when it is a
    symbolic link (a pipeline's ``models/current``), so that replacing it
    keeps the link. An empty directory is no output yet: a directory
    output takes its place, as a pipeline's ``mkdir -p`` leaves it.
    """
    target = output_path(path)
    parent = target.parent
    if os.path.lexists(parent) and not parent.is_dir():
        raise ACTINNInputError("%s: %s is a file, not a directory" %
                               (target, parent))
    if not parent.is_dir():
        raise ACTINNInputError("%s: the output directory %s does not exist" %
                               (target, parent))
    if os.path.lexists(target) and not (directory and empty_directory(target)):
        if not overwrite:
            raise ACTINNInputError("%s exists; %s to replace it", target,
                                   OVERWRITE)
        if not directory and target.is_dir():
            raise ACTINNInputError(
                "%s is a directory; it cannot be replaced by a file" % target)
    return target


#: Free bytes under which a writer's RuntimeError (PyTorch's "unexpected
#: pos", which does not say why) is taken for a full disk.
NEARLY_FULL = 1 << 20


def full_disk(err: BaseException, target: Path,
              folder: Path) -> Optional[OSError]:
    """The error to report when writing ``target`` in ``folder`` failed
    with ``err`` because the disk is full: one OSError that names the
    output (HDF5 and PyTorch say so in their own words, or not at all);
    None for any other failure.

    Examples
    --------
    >>> import errno
    >>> from pathlib import Path
    >>> from deepchem_actinn.io.output import full_disk
    >>> full_disk(RuntimeError("Can't decrement id ref count (file write "
    ...                        "failed: errno = 28, error message = 'No "
    ...                        "space left on device')"), Path("out.h5ad"),
    ...           Path("."))
    OSError(28, 'no space left on the device for it')
    >>> full_disk(ValueError("bad value"), Path("out.h5ad"), Path(".")) is None
    True
    """
    full = is_full_disk(err)
    if not full and isinstance(err, RuntimeError):
        with contextlib.suppress(OSError):
            full = shutil.disk_usage(folder).free < NEARLY_FULL
    if not full:
        return None
    quota = any(
        isinstance(e, OSError) and e.errno == errno.EDQUOT for e in _chain(err))
    return OSError(
        errno.EDQUOT if quota else errno.ENOSPC,
        "disk quota exceeded writing it"
        if quota else "no space left on the device for it", str(target))


def is_full_disk(err: BaseException) -> bool:
    """Whether ``err`` (or an exception it came from) says the disk is
    full or the quota spent, in the words of the OS, HDF5 or h5py.

    Examples
    --------
    >>> import errno
    >>> from deepchem_actinn.io.output import is_full_disk
    >>> is_full_disk(OSError(errno.ENOSPC, "No space left on device"))
    True
    >>> is_full_disk(OSError(errno.ENOENT, "No such file or directory"))
    False
    """
    return any(
        isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT) or
        any(words in str(e) for words in _FULL_WORDS) for e in _chain(err))


#: How HDF5 and h5py say the disk is full or the quota spent.
_FULL_WORDS = ("No space left on device", "errno = 28", "Disk quota exceeded",
               "errno = 122")


def _chain(err: BaseException) -> List[BaseException]:
    """``err`` and the exceptions it came from (at most 8)."""
    chain: List[BaseException] = []
    seen: Optional[BaseException] = err
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def output_path(path: PathLike) -> Path:
    """Where an output named ``path`` is written: what ``path`` links to
    when it is a symbolic link (a pipeline's ``models/current``, dangling
    or not), so that replacing it keeps the link; absolute when it has no
    name of its own (``.``)."""
    target = Path(path)
    if target.is_symlink():
        return Path(os.path.realpath(target))
    return target if target.name else Path(os.path.abspath(target))


def empty_directory(path: PathLike) -> bool:
    """Whether ``path`` is an empty directory other than the working one: a
    directory output takes its place, as a pipeline's ``mkdir -p`` leaves
    it (the working directory is kept: the shell stands in it)."""
    p = Path(path)
    return (p.is_dir() and not any(p.iterdir()) and
            os.path.realpath(p) != os.path.realpath(os.getcwd()))


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
def _removed_on_failure(tmp: Path, target: Path) -> Iterator[None]:
    """Remove ``tmp`` when the block fails; a full disk says ``target``."""
    try:
        yield
    except BaseException as err:
        full = full_disk(err, target, tmp.parent)  # before tmp frees space
        _remove(tmp)
        if full is not None:
            raise full from err
        raise


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
    with _removed_on_failure(tmp, target):
        yield tmp
        if not os.path.lexists(tmp):
            raise FileNotFoundError("%s: nothing was written to %s" %
                                    (target, tmp))
        if not overwrite and os.path.lexists(target):
            raise ACTINNInputError("%s exists; %s to replace it", target,
                                   OVERWRITE)
        raise_if_stopped()
        os.replace(tmp, target)


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
    with _removed_on_failure(tmp, target):
        yield tmp
        raise_if_stopped()
        _move_dir_into_place(tmp, target, overwrite)


def _move_dir_into_place(tmp: Path, target: Path, overwrite: bool) -> None:
    if not os.path.lexists(target) or empty_directory(target):
        os.replace(tmp, target)  # rename(2) takes an empty directory's place
        return
    if not overwrite:
        raise ACTINNInputError("%s exists; %s to replace it", target, OVERWRITE)
    old = _sibling(target, "old")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    _remove(old)


@contextlib.contextmanager
def atomic_files(directory: PathLike,
                 names: Sequence[str],
                 overwrite: bool = False,
                 parents: bool = False) -> Iterator[Path]:
    """Write the files ``names`` into ``directory`` together, or not at all.

    The block gets an empty hidden directory to write (some of) ``names``
    into. When it finishes without an exception:

    * a ``directory`` that did not exist appears whole, by one rename
      (:func:`~deepchem_actinn.io.output.atomic_output_dir`);
    * into an existing ``directory``, the files of ``names`` already there
      are moved aside (the last name first), the new ones are moved in (the
      last name last, so an index file such as ``report.html`` appears only
      when everything it refers to is in place), and only then are the old
      ones deleted; if a move fails, the old files are put back. Files of
      ``names`` that an earlier output left and this one did not write are
      removed with it; files not in ``names`` are never touched.

    On an exception nothing is published and the temporary files are gone.

    Parameters
    ----------
    directory: str or os.PathLike
        The directory to publish into.
    names: sequence of str
        Every file name this output may consist of, in publishing order.
    overwrite: bool, default False
        Replace the files of ``names`` that ``directory`` already holds;
        otherwise any of them there is refused, before the block runs and
        again before publishing.
    parents: bool, default False
        Create missing parent directories of ``directory`` (removed again,
        when empty, if the output fails).

    Yields
    ------
    pathlib.Path
        The temporary directory to fill.

    Raises
    ------
    ACTINNInputError
        If ``directory`` is a file, or holds one of ``names`` and
        ``overwrite`` is False.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.output import atomic_files
    >>> out = tempfile.mkdtemp()
    >>> _ = open(os.path.join(out, "labels.txt"), "w").write("kept\\n")
    >>> with atomic_files(out, ["a.png", "index.html"]) as tmp:
    ...     _ = (tmp / "a.png").write_bytes(b"png")
    ...     _ = (tmp / "index.html").write_text("<html></html>")
    >>> sorted(os.listdir(out))
    ['a.png', 'index.html', 'labels.txt']
    """
    target = Path(directory)
    names = list(names)
    if os.path.lexists(target) and not target.is_dir():
        raise ACTINNInputError("%s: exists and is not a directory" % target)
    created = _make_parents(target.parent) if parents else []
    try:
        if not target.is_dir():
            # never overwrite=True here: a directory someone else makes
            # meanwhile must not be replaced whole
            with atomic_output_dir(target, overwrite=False) as tmp:
                yield tmp
                _check_written(tmp, names)
            return
        _refuse_present(target, names, overwrite)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target))
        try:
            with _removed_on_failure(tmp, target):
                yield tmp
                _check_written(tmp, names)
                _refuse_present(target, names, overwrite)
                raise_if_stopped()
                _swap_in(tmp, target, names)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        for path in reversed(created):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def _make_parents(path: Path) -> List[Path]:
    """Create ``path`` and its missing parents; return those created,
    outermost first."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    created = []
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        created.append(path)
    return created


def _refuse_present(target: Path, names: Sequence[str],
                    overwrite: bool) -> None:
    """Refuse when ``target`` holds one of ``names`` (unless overwriting);
    the last name, the index, is named first."""
    present = [n for n in reversed(names) if os.path.lexists(target / n)]
    if present and not overwrite:
        raise ACTINNInputError("%s: already holds %s; %s to replace it", target,
                               examples(present, 3), OVERWRITE)


def _check_written(tmp: Path, names: Sequence[str]) -> None:
    """Refuse to publish nothing, or a file that is not one of ``names``."""
    written = {p.name for p in tmp.iterdir()}
    if not written:
        raise FileNotFoundError("nothing was written to %s" % tmp)
    unexpected = sorted(written - set(names))
    if unexpected:
        raise ValueError("%s holds files not declared as outputs: %s" %
                         (tmp, ", ".join(unexpected)))


def _swap_in(tmp: Path, target: Path, names: Sequence[str]) -> None:
    """Move the old files of ``names`` aside, the new ones in, then delete
    the old; put the old back if a move fails."""
    written = [n for n in names if os.path.lexists(tmp / n)]
    present = [n for n in reversed(names) if os.path.lexists(target / n)]
    old = Path(tempfile.mkdtemp(prefix=".old-", dir=target))
    moved: List[str] = []
    placed: List[str] = []
    try:
        for name in present:
            os.replace(target / name, old / name)
            moved.append(name)
        for name in written:
            os.replace(tmp / name, target / name)
            placed.append(name)
    except BaseException:
        for name in placed:
            with contextlib.suppress(OSError):
                os.unlink(target / name)
        for name in moved:
            os.replace(old / name, target / name)
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
