"""What one command's reads of a file share: :func:`shared_text_reads`.

A command reads its CSV/TSV query several times: its names tell its layout
and are matched to the model's genes, its values are checked before
training and annotated after. Inside the block the command enters for its
life, a file's row names are read once and a parse the command asks to keep
serves its next read, keyed by the file's identity (so a file written
again is read again). The block is its thread's (and its reading-ahead
threads'), not the process's: a thread outside it reads the files itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Sequence, Tuple

import anndata
import numpy as np

from deepchem_actinn.types import PathLike


def _identity(path: Path) -> Optional[tuple]:
    """The file at ``path`` as it is now: its real path, device, inode, size
    and modification and change times (ns), so that a file written again,
    or another put in its place, is another; None where it cannot be
    looked at (the reader then says why)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size,
            st.st_mtime_ns, st.st_ctime_ns)


class _SharedReads:
    """What one command's reads of its text files found
    (:func:`shared_text_reads`), by the file's identity (:func:`_identity`)
    and what was read of it; a result is kept only where the file was the
    same before and after it was read."""

    #: The files whose row names are kept (a command reads one or two).
    MAX_NAMES = 4

    def __init__(self, keep_parsed: Sequence[str]) -> None:
        self._lock = threading.Lock()  # a command's reading threads share it
        self._names: Dict[tuple, np.ndarray] = {}
        self._keep = {os.path.realpath(p) for p in keep_parsed}
        self._parsed: Optional[Tuple[tuple, anndata.AnnData]] = None

    def row_names(self, path: Path, sep: str,
                  read: Callable[[], np.ndarray]) -> np.ndarray:
        """The row names of ``path`` as read before, else ``read()`` (a
        copy: the caller may change it)."""
        found = _identity(path)
        if found is None:
            return read()
        key = found + (sep,)
        with self._lock:
            names = self._names.get(key)
        if names is None:
            names = read()
            if _identity(path) == found:
                with self._lock:
                    if len(self._names) >= self.MAX_NAMES:
                        del self._names[next(iter(self._names))]
                    self._names[key] = names
        return names.copy()

    def parsed(self, path: Path, how: tuple,
               parse: Callable[[], anndata.AnnData]) -> anndata.AnnData:
        """The parse of ``path`` (read ``how``) kept for this read, which
        takes it (it serves one read), else ``parse()``, kept where the
        command asked for it; one parse is kept at a time."""
        found = _identity(path)
        if found is None:
            return parse()
        key = found + how
        with self._lock:
            if self._parsed is not None and self._parsed[0] == key:
                adata = self._parsed[1]
                self._parsed = None
                return adata
        adata = parse()
        if found[0] in self._keep and _identity(path) == found:
            with self._lock:
                self._parsed = (key, adata)
        return adata


#: The shared reads of the block the caller is in (:func:`shared_text_reads`),
#: None outside any: a context's, so a thread starts outside (the reading
#: threads of a command are started in a copy of its context:
#: :func:`~deepchem_actinn.io.prefetch.prefetch`).
_SHARED: contextvars.ContextVar[Optional[_SharedReads]] = (
    contextvars.ContextVar("deepchem_actinn_shared_text_reads", default=None))


@contextlib.contextmanager
def shared_text_reads(keep_parsed: Sequence[PathLike] = ()) -> Iterator[None]:
    """Inside, each CSV/TSV file's row names (the first field of every
    line: in ACTINN's layout its genes, which tell its layout and are
    matched to a model's; a pass over the whole file) are read at most
    once, and a parse of a file of ``keep_parsed`` (read with its
    orientation given) is kept for the next read of that file in that
    orientation, which takes it.

    What is kept is the file's as it was: a file written again, or another
    put in its place (its size, times or inode differ), is read again.
    The names of a few files at most and one parse are kept, until the
    block ends: a command enters it for its own life (outside, every read
    reads the file).

    The block is the caller's context's (:mod:`contextvars`), so its
    thread's: another thread, outside any block, reads the files itself,
    and blocks of two threads, overlapping or nested, keep their own. The
    threads reading ahead for the command
    (:func:`~deepchem_actinn.io.prefetch.prefetch`) start in a copy of its
    context, so read within its block.

    Parameters
    ----------
    keep_parsed: sequence of str or os.PathLike
        The files parsed twice, whose first parse the second takes (the
        query of ``actinn run``: checked before training, annotated after).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from deepchem_actinn.io.shared_reads import shared_text_reads
    >>> from deepchem_actinn.io.text import text_row_names
    >>> path = Path(tempfile.mkdtemp()) / "counts.csv"
    >>> _ = path.write_text("gene,c1\\nActb,3\\nCd3e,0\\n")
    >>> with shared_text_reads():
    ...     first = text_row_names(path, "csv")  # reads the file
    ...     again = text_row_names(path, "csv")  # looks at its size, times
    >>> list(again) == list(first) == ['Actb', 'Cd3e']
    True
    """
    token = _SHARED.set(_SharedReads([str(p) for p in keep_parsed]))
    try:
        yield
    finally:
        _SHARED.reset(token)


def current_reads() -> Optional[_SharedReads]:
    """The shared reads of the block the caller is in, None outside any."""
    return _SHARED.get()
