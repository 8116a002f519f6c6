"""The one reader of two-column text files: labels, clusters and a type
hierarchy are read line by line by the same rules.

:func:`read_pairs` splits a file's lines at tabs, or at commas where the
first line is CSV, by the csv module's rules; :func:`not_text` is the
refusal of such a file that is not UTF-8 text.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import List, Tuple

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io._common import existing, open_text
from deepchem_actinn.io.content import not_utf8
from deepchem_actinn.labels import QUOTING_HINT, split_fields
from deepchem_actinn.types import PathLike


def not_text(p: Path, what: str, err: BaseException) -> ACTINNInputError:
    """The refusal of a labels, clusters or hierarchy file that cannot be
    read as UTF-8 text: in Latin-1 as the counts files are told
    (:func:`~deepchem_actinn.io.content.not_utf8`), else as binary data or
    UTF-16."""
    decoding = err if isinstance(err, UnicodeDecodeError) else None
    latin1 = not_utf8(p, error=decoding) if decoding is not None else None
    if latin1 is not None:
        return latin1
    return ACTINNInputError("%s: not %s (it is not UTF-8 text: binary or "
                            "UTF-16?)" % (p, what))


def read_pairs(path: PathLike,
               what: str,
               comments: bool = False) -> List[Tuple[int, List[str], str]]:
    """The non-blank lines of a text file of ``what`` lines (two columns,
    such as ``"cell<TAB>cluster"``), each as ``(line number, fields,
    line)``: the one reader of labels, clusters and hierarchy files.

    Lines are split at tabs, or at commas when the first of them holds a
    comma and no tab (CSV, as R and pandas write it), by the csv module's
    rules (:func:`~deepchem_actinn.labels.split_fields`: ``"c1"`` is
    ``c1``); fields keep their spaces. A gzipped file is read gunzipped,
    whatever its name; a byte-order mark is dropped. With ``comments``, a
    line that starts with ``#`` and holds no tab is skipped.

    Raises
    ------
    ACTINNInputError
        No such file, a directory, text that is not UTF-8, or a quoted
        field that is not closed (naming the file and line).

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.pairs import read_pairs
    >>> path = os.path.join(tempfile.mkdtemp(), "clusters.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write('"","leiden"\\n"c1","3"\\n')
    >>> read_pairs(path, "cell,cluster")
    [(1, ['', 'leiden'], '"","leiden"'), (2, ['c1', '3'], '"c1","3"')]
    """
    p = existing(path)
    if p.is_dir():
        raise ACTINNInputError("%s: a directory, not a file of %s lines" %
                               (p, what))
    try:
        with open_text(p) as fh:
            lines = [(n, line.rstrip("\r\n")) for n, line in enumerate(fh, 1)]
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise not_text(p, "a text file of %s lines" % what, err) from None
    lines = [(n, line) for n, line in lines if line.strip()]
    if comments:
        lines = [(n, line)
                 for n, line in lines
                 if not line.lstrip().startswith("#") or "\t" in line]
    comma = bool(lines) and "\t" not in lines[0][1] and "," in lines[0][1]
    rows = []
    for n, line in lines:
        try:
            rows.append((n, split_fields(line, "," if comma else "\t"), line))
        except csv.Error:
            raise ACTINNInputError("%s: line %d: a quoted field is not closed "
                                   "(%s): got %r" %
                                   (p, n, QUOTING_HINT, line[:80])) from None
    return rows
