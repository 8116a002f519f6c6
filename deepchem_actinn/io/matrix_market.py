"""Matrix Market files (a 10x matrix's ``matrix.mtx[.gz]``), checked.

The header is checked before anything is allocated (:func:`mtx_header`):
a coordinate matrix of integer or real values, and no more entries than
the matrix has places or the file has room for. The entries are read by
SciPy, their bytes checked as they pass (:func:`read_mtx`): SciPy reads
``1.8`` in an integer file as 1, ``1e40`` as 1 and ``7abc`` as 7 (``7abc``
in a real file as 7) without a word; here such a value is refused, naming
its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional, Tuple

import numpy as np
import scipy.io
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io.content import one_line, open_binary, reading, sniff


class MtxHeader(NamedTuple):
    """A Matrix Market file's header, checked, and where its entries
    begin."""

    n_rows: int
    n_cols: int
    field: str  # "integer", "real", ... (lower case)
    body_start: int  # bytes before the first entry
    body_line: int  # the line number of the first entry


def mtx_header(path: Path) -> MtxHeader:
    """The header of a Matrix Market file, checked: a coordinate matrix of
    integer or real values (not pattern or complex), and no more entries
    than the matrix has places or the file has room for (a size line that
    lies would make SciPy allocate for them all); and where its entries
    begin."""
    with reading(path, "a Matrix Market file"):
        content = sniff(path)
        if content.kind == "empty":
            raise ACTINNInputError("%s: the file is %s" %
                                   (path, content.description))
        with open_binary(path) as fh:
            banner = fh.readline()
            if not banner.startswith(b"%%MatrixMarket"):
                raise ACTINNInputError(
                    "%s: not a Matrix Market file (no %%%%MatrixMarket "
                    "banner on the first line)" % path)
            consumed, lines = len(banner), 1
            line = fh.readline()
            while line.startswith(b"%") or (line and not line.strip()):
                consumed, lines = consumed + len(line), lines + 1
                line = fh.readline()
        sizes = line.split()
        if len(sizes) != 3:
            raise ACTINNInputError(
                "%s: the Matrix Market size line should hold rows, columns "
                "and entries, not %r" % (path, line[:80].decode("latin-1")))
        n_rows, n_cols, n_entries = (int(n) for n in sizes)
        field = _check_banner(path, banner)
        _check_entries(path, n_rows, n_cols, n_entries)
        return MtxHeader(n_rows, n_cols, field, consumed + len(line), lines + 2)


def _check_banner(path: Path, banner: bytes) -> str:
    """Refuse a Matrix Market field that holds no counts; the field."""
    words = banner.decode("latin-1").lower().split()
    field = words[3] if len(words) > 3 else ""
    symmetry = words[4] if len(words) > 4 else ""
    if field == "pattern":
        raise ACTINNInputError(
            "%s: a 'pattern' Matrix Market file holds no counts, only where "
            "they are not zero; write the counts as integer or real values" %
            path)
    if field == "complex" or symmetry == "hermitian":
        raise ACTINNInputError(
            "%s: a '%s' Matrix Market file holds complex numbers, not "
            "counts; write the counts as integer or real values" %
            (path, field))
    return field


# Bytes of the shortest entry line, "1 1 1\n".
_SHORTEST_ENTRY = 6
# Most bytes deflate (gzip) can make of one (its ratio is at most 1032:1).
_DEFLATE_RATIO = 1032


def _check_entries(path: Path, n_rows: int, n_cols: int,
                   n_entries: int) -> None:
    """Refuse a size line whose count of entries cannot be true."""
    if min(n_rows, n_cols, n_entries) < 0:
        raise ACTINNInputError(
            "%s: the Matrix Market size line holds a negative number (%d "
            "rows, %d columns, %d entries)" % (path, n_rows, n_cols, n_entries))
    if n_entries > n_rows * n_cols:
        raise ACTINNInputError(
            "%s: the Matrix Market size line declares %d entries, more than "
            "the %d x %d matrix has places (%d); a damaged or wrongly "
            "written header?" %
            (path, n_entries, n_rows, n_cols, n_rows * n_cols))
    size = path.stat().st_size
    gzipped = sniff(path).gzipped
    room = (size * (_DEFLATE_RATIO if gzipped else 1) + 1) // _SHORTEST_ENTRY
    if n_entries > room:
        raise ACTINNInputError(
            "%s: the Matrix Market size line declares %d entries, more than "
            "the file's %d%s bytes can hold (at most %d, an entry taking at "
            "least %d bytes: '1 1 1'); a damaged or wrongly written header?" %
            (path, n_entries, size, " gzip-compressed" if gzipped else "", room,
             _SHORTEST_ENTRY))


# The bytes the entries of a Matrix Market file may hold, by its field: an
# integer file's values are whole numbers (SciPy would read "1.8" as 1,
# "1e40" as 1 and "7abc" as 7 without a word), a real file's decimal
# numbers (SciPy reads "7abc" as 7, "0x10" as 0); NaN and Inf are no counts.
_INTEGER_BYTES = b"0123456789+- \t\r\n"
_REAL_BYTES = _INTEGER_BYTES + b".eE"
_FIELD_BYTES = {
    "integer": (_INTEGER_BYTES, "written as an integer"),
    "unsigned-integer": (_INTEGER_BYTES, "written as an integer"),
    "real": (_REAL_BYTES, "a finite number"),
    "double": (_REAL_BYTES, "a finite number"),
}
# Longest line quoted in a message.
_SHOWN = 60


class _CheckedEntries:
    """A binary stream of a Matrix Market file, read by SciPy, that checks
    the bytes of its entries as they pass: the first byte its field cannot
    hold is kept in :attr:`problem` (a message) and ends the stream there.
    Read in large blocks, so the check is one C-speed pass
    (``bytes.translate``) over bytes read anyway."""

    BLOCK = 1 << 22

    def __init__(self, fh, path: Path, header: MtxHeader):
        self._fh, self._path, self._field = fh, path, header.field
        allowed: Tuple[Optional[bytes],
                       str] = _FIELD_BYTES.get(header.field, (None, ""))
        self._allowed, self._what = allowed
        self._skip = header.body_start  # header bytes, not checked
        self._line = header.body_line  # line number at the block's start
        self._tail = b""  # the end of the last block's unfinished line
        self._buf, self._at = b"", 0
        self.problem: Optional[str] = None

    def _fill(self) -> None:
        data = b"" if self.problem is not None else self._fh.read(self.BLOCK)
        body = data[self._skip:]
        self._skip -= len(data) - len(body)
        if self._allowed is not None and body.translate(None, self._allowed):
            self.problem = self._describe(body, self._allowed)
            data = data[:len(data) - len(body)]  # SciPy stops short
        else:
            self._line += body.count(b"\n")
            end = body.rfind(b"\n")
            unfinished = self._tail + body if end < 0 else body[end + 1:]
            self._tail = unfinished[-_SHOWN:]
        self._buf, self._at = data, 0

    def _describe(self, body: bytes, allowed: bytes) -> str:
        """The message for the first byte of ``body`` not ``allowed``."""
        ok = np.zeros(256, dtype=bool)
        ok[np.frombuffer(allowed, dtype=np.uint8)] = True
        at = int(np.argmin(ok[np.frombuffer(body, dtype=np.uint8)]))
        start = body.rfind(b"\n", 0, at) + 1
        prefix = self._tail if start == 0 else b""
        end = body.find(b"\n", at)
        if end < 0:  # the line goes on in the next block
            rest = self._fh.read(4 * _SHOWN).split(b"\n", 1)[0]
            line = prefix + body[start:] + rest
        else:
            line = prefix + body[start:end]
        line = line.rstrip()
        pos = len(prefix) + at - start
        lo = max(line.rfind(b" ", 0, pos), line.rfind(b"\t", 0, pos)) + 1
        after = [
            k for k in (line.find(b" ", pos), line.find(b"\t", pos)) if k >= 0
        ]
        value = line[lo:min(after) if after else len(line)]
        text = line.decode("utf-8", "replace")
        return ("%s: its header declares %s values, but line %d (%r) holds "
                "%r, not %s: a damaged or wrongly written file?" %
                (self._path, self._field, self._line + body.count(b"\n", 0, at),
                 text[:_SHOWN] + ("..." if len(text) > _SHOWN else ""),
                 value.decode("utf-8", "replace")[:_SHOWN], self._what))

    def read(self, size: int = -1) -> bytes:
        if self._at >= len(self._buf):
            self._fill()
        stop = len(self._buf) if size < 0 else self._at + size
        out = self._buf[self._at:stop]
        self._at += len(out)
        return out


def read_mtx(path: Path, header: MtxHeader) -> sp.coo_matrix:
    """The matrix of a Matrix Market file whose header is ``header``
    (:func:`mtx_header`), its values checked against its field as SciPy
    reads them: a value the field cannot hold is refused, naming its line.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from deepchem_actinn.errors import ACTINNInputError
    >>> from deepchem_actinn.io.matrix_market import mtx_header, read_mtx
    >>> path = Path(tempfile.mkdtemp()) / "matrix.mtx"
    >>> _ = path.write_text("%%MatrixMarket matrix coordinate integer "
    ...                     "general\\n2 2 2\\n1 1 3\\n2 2 1.8\\n")
    >>> try:
    ...     read_mtx(path, mtx_header(path))
    ... except ACTINNInputError as err:
    ...     print(str(err).replace(str(path), "matrix.mtx"))
    matrix.mtx: its header declares integer values, but line 4 ('2 2 1.8') holds '1.8', not written as an integer: a damaged or wrongly written file?
    """
    with reading(path, "a Matrix Market file"):
        with open_binary(path) as fh:
            checked = _CheckedEntries(fh, path, header)
            try:
                matrix = scipy.io.mmread(checked)
            except Exception as err:
                if checked.problem is not None:  # SciPy stopped short there
                    raise ACTINNInputError(checked.problem) from None
                if isinstance(err, OverflowError):
                    raise ACTINNInputError(
                        "%s: a value is too large to read (%s); no count is "
                        "that large: a damaged or wrongly written file?" %
                        (path, one_line(err))) from err
                raise
            if checked.problem is not None:
                raise ACTINNInputError(checked.problem)
    return sp.coo_matrix(matrix)
