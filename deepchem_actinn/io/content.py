"""What a file holds, told from its first bytes rather than its name.

Files get renamed, and exporters add or drop ``.gz`` at will: a gzip file
named ``.csv`` or a plain file named ``.csv.gz`` is common. :func:`sniff`
tells the content apart by its magic bytes; :func:`open_binary` gunzips
by content, not by name; :func:`reading` turns the low-level errors a
damaged file raises (``EOFError`` from a truncated gzip, ``OSError`` from
a truncated HDF5 file, ``UnicodeDecodeError`` from binary data, parser
errors) into one-line :class:`~deepchem_actinn.errors.ACTINNInputError`
messages that name the file.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import logging
import re
import zlib
from pathlib import Path
from typing import IO, Iterator, Optional, Tuple

from deepchem_actinn.errors import ACTINNInputError

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# Leading bytes of formats a user may hand over by mistake.
_OTHER_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"PK\x03\x04", "a zip archive (unzip it first)"),
    (b"BZh", "bzip2-compressed data (decompress it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (decompress it first)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data (decompress it first)"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"RDX", "an R data file (export the counts first)"),
)
# Bytes read to tell the content.
_HEAD = 4096
# Errors a damaged or mislabelled file raises while being parsed.
READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError,
               KeyError, IndexError, csv.Error)


class Content:
    """What :func:`sniff` found at the start of a file.

    Attributes
    ----------
    kind: str
        ``"empty"``, ``"hdf5"``, ``"text"`` (UTF-8), ``"8bit"`` (text in
        a one-byte encoding such as Latin-1), ``"utf16"`` (UTF-16 text,
        told by its byte-order mark) or ``"other"``.
    gzipped: bool
        The bytes are gzip-compressed (``kind`` describes what is inside).
    description: str
        Words for messages, e.g. ``"gzip-compressed text"``.
    """

    def __init__(self, kind: str, gzipped: bool, description: str):
        self.kind = kind
        self.gzipped = gzipped
        self.description = description

    def __repr__(self) -> str:
        return "Content(%r, gzipped=%r)" % (self.kind, self.gzipped)


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines too) as one space."""
    return re.sub(r"\s+", " ", str(text)).strip()


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:  # an incomplete character at the end of ``head`` is fine
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


#: What a message about text that is not UTF-8 suggests.
REENCODE = ("re-encode it as UTF-8 first (e.g. iconv -f latin1 -t utf-8 FILE "
            "> NEW, or save it as 'CSV UTF-8')")
#: What a message about UTF-16 text suggests.
REENCODE_UTF16 = REENCODE.replace("latin1", "utf-16")
# The byte-order marks UTF-16 text starts with (little- and big-endian).
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Control bytes that text holds (tab, line feed, form feed, carriage return).
_TEXT_CONTROLS = frozenset(b"\t\n\x0c\r")


def _looks_like_8bit_text(head: bytes) -> bool:
    """Text in a one-byte encoding such as Latin-1: no control bytes but
    those of text, and mostly ASCII."""
    if any((b < 0x20 and b not in _TEXT_CONTROLS) or b == 0x7f for b in head):
        return False
    return sum(b < 0x80 for b in head) >= 0.7 * len(head)


def _kind_of(head: bytes) -> Content:
    if not head:
        return Content("empty", False, "empty")
    # HDF5 signatures sit at 0 or, after a user block, at 512, 1024, ...
    if any(head[at:at + 8] == HDF5_MAGIC for at in (0, 512, 1024, 2048)):
        return Content("hdf5", False, "an HDF5 file")
    for magic, description in _OTHER_MAGIC:
        if head.startswith(magic):
            return Content("other", False, description)
    if head.startswith(_UTF16_BOMS):
        return Content(
            "utf16", False, "UTF-16 text (as Excel's 'Unicode "
            "Text' saves it), not UTF-8")
    if _looks_like_text(head):
        return Content("text", False, "text")
    if _looks_like_8bit_text(head):
        return Content("8bit", False, "text that is not UTF-8 (Latin-1?)")
    return Content("other", False, "binary data, not text")


def not_utf8(
        path: Path,
        content: Optional[Content] = None,
        error: Optional[UnicodeDecodeError] = None
) -> Optional[ACTINNInputError]:
    """The refusal of a file of text that is not UTF-8 (Latin-1, as Excel
    on Windows saves CSV, or UTF-16, as it saves 'Unicode Text'), with what
    to do: the one diagnosis of every reader of text, or None where the
    file holds no such text (binary data: the caller says what it needed).

    Parameters
    ----------
    path: pathlib.Path
        The file.
    content: Content, optional
        What :func:`sniff` found at its start (sniffed here when not
        given).
    error: UnicodeDecodeError, optional
        What decoding it as UTF-8 raised, where that happened beyond the
        start that :func:`sniff` looked at (a Latin-1 name further in).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from deepchem_actinn.io.content import not_utf8
    >>> path = Path(tempfile.mkdtemp()) / "labels.txt"
    >>> _ = path.write_bytes("c1\\tTyp\\xe9 1\\n".encode("latin-1"))
    >>> print(not_utf8(path))  # doctest: +ELLIPSIS
    /.../labels.txt: the file holds text that is not UTF-8 (Latin-1?); re-encode it as UTF-8 first (...)
    """
    found = sniff(path) if content is None else content
    if found.kind == "utf16":
        return ACTINNInputError("%s: the file holds %s; %s" %
                                (path, found.description, REENCODE_UTF16))
    if found.kind == "8bit":
        held = found.description
    elif found.kind == "text" and error is not None:
        held = "text that is not UTF-8 (Latin-1?) beyond its first lines"
    else:
        return None
    return ACTINNInputError("%s: the file holds %s; %s" %
                            (path, held, REENCODE))


def sniff(path: Path) -> Content:
    """Tell what a file holds from its first bytes (gunzipping them).

    Parameters
    ----------
    path: pathlib.Path
        A file.

    Returns
    -------
    Content

    Raises
    ------
    ACTINNInputError
        If the file cannot be opened, or is gzip data too damaged to give
        even its first bytes.

    Examples
    --------
    >>> import gzip, os, tempfile
    >>> from pathlib import Path
    >>> from deepchem_actinn.io.content import sniff
    >>> path = Path(tempfile.mkdtemp()) / "counts.csv"  # named .csv ...
    >>> _ = path.write_bytes(gzip.compress(b"gene,c1\\nActb,3\\n"))  # gzipped
    >>> sniff(path)
    Content('text', gzipped=True)
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError as err:
        raise ACTINNInputError("%s: cannot open it (%s)" %
                               (path, one_line(err))) from err
    if not head.startswith(GZIP_MAGIC):
        return _kind_of(head)
    inner, complete = _gzip_head(path)
    if not inner and not complete:
        raise ACTINNInputError("%s: damaged or truncated gzip data (nothing "
                               "decompresses)" % path)
    found = _kind_of(inner)
    if found.kind == "empty":
        return Content("empty", True, "gzip-compressed but empty")
    return Content(found.kind, True, "gzip-compressed " + found.description)


def _gzip_head(path: Path) -> Tuple[bytes, bool]:
    """The first decompressed bytes of gzip data (even of a truncated
    file), and whether the data ended where the gzip stream says."""
    with open(path, "rb") as fh:
        data = fh.read(1 << 16)
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        head = decompressor.decompress(data, _HEAD)
    except zlib.error:
        return b"", False
    return head, decompressor.eof or len(head) >= _HEAD


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, gunzipping it if it is gzip data
    (whatever its name says)."""
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == GZIP_MAGIC
    named_gz = path.name.lower().endswith(".gz")
    if gzipped != named_gz:
        logger.info("%s: the content is %s; reading it as such", path,
                    "gzip-compressed" if gzipped else "not gzip-compressed")
    if gzipped:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


@contextlib.contextmanager
def reading(path: Path, what: str) -> Iterator[None]:
    """Turn the errors of reading a damaged file into one-line messages.

    Inside the block, an :class:`ACTINNInputError` comes out on one line
    and naming ``path``; ``EOFError``, ``OSError``, ``UnicodeDecodeError``,
    parser errors and the like become an :class:`ACTINNInputError`
    saying ``path`` could not be read as ``what``.

    Examples
    --------
    >>> from pathlib import Path
    >>> from deepchem_actinn.errors import ACTINNInputError
    >>> from deepchem_actinn.io.content import reading
    >>> try:
    ...     with reading(Path("counts.csv.gz"), "a CSV matrix"):
    ...         raise EOFError("Compressed file ended before the end")
    ... except ACTINNInputError as err:
    ...     print(err)
    counts.csv.gz: cannot read it as a CSV matrix, it looks damaged or truncated (EOFError: Compressed file ended before the end)
    """
    try:
        yield
    except ACTINNInputError as err:
        message = one_line(err)
        if message == str(err) and str(path) in message:
            raise
        if str(path) not in message:
            message = "%s: %s" % (path, message)
        raise ACTINNInputError(message) from err
    except READ_ERRORS as err:
        unicode = isinstance(err, UnicodeDecodeError)
        raise ACTINNInputError(
            "%s: cannot read it as %s, %s (%s: %s)%s" %
            (path, what, "it is not UTF-8 text" if unicode
             else "it looks damaged or truncated", type(err).__name__,
             one_line(err), "; " + REENCODE if unicode else "")) from err
