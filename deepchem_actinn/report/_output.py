"""Publish an output made of several files into a directory that may
already hold other files: all of them appear together, or none does.

TODO(lead): this belongs in :mod:`deepchem_actinn.io.output`, next to
:func:`~deepchem_actinn.io.output.atomic_output_dir` (which replaces a whole
directory, and so cannot write beside the files a directory already holds,
such as ``predicted_label.txt`` next to a report). Move it there as a public
``atomic_files`` and import it from there.
"""
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, List, Sequence

from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.io.output import atomic_output_dir
from deepchem_actinn.types import PathLike


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
    >>> from deepchem_actinn.report._output import atomic_files
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
            yield tmp
            _check_written(tmp, names)
            _refuse_present(target, names, overwrite)
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
        raise ACTINNInputError(
            "%s: already holds %s; pass overwrite=True (CLI: --overwrite) to "
            "replace it" % (target, examples(present, 3)))


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
