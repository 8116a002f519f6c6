"""Text matrices: CSV or TSV, optionally gzipped, either orientation.

The first row holds the column names, each further row a name followed by
that row's counts (the layout ``pandas.DataFrame.to_csv`` writes). In
ACTINN's layout rows are genes and columns cells; files with cells as
rows are read with ``orientation="cells_by_genes"``, or detected from the
genes or cell ids expected (:mod:`~deepchem_actinn.io.orientation`).

Inside :func:`~deepchem_actinn.io.shared_reads.shared_text_reads` (a
command that reads one file several times), each file's row names are read
once, and a parse the command asks to keep serves its next read.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import IO, Dict, Iterator, List, Optional, Sequence, Tuple

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError, counted
from deepchem_actinn.io._common import (as_str_array, existing, make_anndata,
                                        open_text, strip_gz)
from deepchem_actinn.io.content import REENCODE, one_line
from deepchem_actinn.io.orientation import (CELLS_BY_GENES, check_orientation,
                                            choose_orientation)
from deepchem_actinn.io.registry import SEPARATORS
from deepchem_actinn.io.shared_reads import current_reads
from deepchem_actinn.types import PathLike

# Missing-value spellings in text matrices (gene names keep theirs).
_NA_STRINGS = ("", "NA", "N/A", "n/a", "NaN", "nan", "NAN", "-nan", "-NaN",
               "NULL", "null", "None", "<NA>", "#N/A")


def sniff_separator(path: Path, default: str = "tsv") -> str:
    """``"tsv"`` or ``"csv"`` from the first line of a text file: the one
    whose separator it holds, ``default`` when it holds both or neither."""
    try:
        with open_text(path) as fh:
            first = fh.readline()
    except UnicodeDecodeError as err:
        raise ACTINNInputError(
            "%s: cannot read it as text, it is not UTF-8 (%s); %s" %
            (path, one_line(err), REENCODE)) from err
    except OSError as err:
        raise ACTINNInputError("%s: cannot read it as text (%s)" %
                               (path, err)) from err
    if ("\t" in first) == ("," in first):
        return default
    return "tsv" if "\t" in first else "csv"


def _text_separator(path: Path, sep: Optional[str]) -> str:
    if sep is not None:
        return sep
    stem = strip_gz(path.name.lower())
    named = "csv" if stem.endswith(".csv") else "tsv"
    return "," if sniff_separator(path, default=named) == "csv" else "\t"


def _split(line: str, sep: str) -> List[str]:
    """The fields of one line (quotes as csv writes them)."""
    line = line.rstrip("\r\n")
    if '"' in line:
        return next(csv.reader([line], delimiter=sep), [])
    return line.split(sep)


def _open_quote(line: str, sep: str) -> Optional[str]:
    """The start of the quoted field a line leaves open at its end (a name
    or value holding a line break), or None."""
    if '"' not in line:
        return None
    for field in next(csv.reader([line], delimiter=sep), []):
        if "\n" in field or "\r" in field:
            return field.rstrip("\r\n")
    return None


def _refuse_line_break(path: Path, number: int, field: str) -> None:
    """Refuse a quoted field that goes on past the end of line ``number``:
    the readers of names read line by line, pandas record by record, so
    such a name would put the names and the values out of step."""
    raise ACTINNInputError(
        "%s: line %d opens a quoted field that goes on past the line's end "
        "(\"%s...): a name or value holding a line break is not read; write "
        "each row on one line (take the line breaks out of the names)" %
        (path, number, field[:40]))


def _check_line(path: Path, number: int, line: str, sep: str) -> None:
    """Refuse line ``number`` if it leaves a quoted field open."""
    field = _open_quote(line, sep)
    if field is not None:
        _refuse_line_break(path, number, field)


def _refuse_any_line_break(path: Path, sep: str) -> None:
    """Refuse the first line of a file that leaves a quoted field open."""
    with open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            _check_line(path, number, line, sep)


class _QuoteWatch:
    """A text handle for pandas that notes whether any quote went by: only
    then can a field have held a line break, and only then are the lines
    checked, one by one (:func:`_refuse_any_line_break`)."""

    def __init__(self, fh: IO[str]):
        self._fh = fh
        self.quoted = False

    def read(self, size: int = -1) -> str:
        text = self._fh.read(size)
        self.quoted = self.quoted or '"' in text
        return text

    def __iter__(self) -> Iterator[str]:
        return iter(self._fh)


def _header(path: Path, sep: str) -> Tuple[List[str], int]:
    """The column names of the header, and the number of fields of the
    first data row (a header without rows is refused): a header one field
    shorter than the rows has no corner cell before the column names. A
    separator closing the header and the first row alike (every line) adds
    no column; one closing the rows only is refused (it reads as a
    cornerless header too)."""
    with open_text(path) as fh:
        first = fh.readline()
        second, number = fh.readline(), 2
        while second and not second.strip():
            second, number = fh.readline(), number + 1
    if not first.strip():
        raise ACTINNInputError("%s: the first line (the header) is empty" %
                               path)
    _check_line(path, 1, first, sep)
    if not second.strip():
        said = first.strip()
        raise ACTINNInputError(
            "%s: only a header line (%s), no rows of counts under it" %
            (path, said if len(said) <= 40 else said[:40] + "..."))
    _check_line(path, number, second, sep)
    header = _split(first, sep)
    row = _split(second, sep)
    if len(header) == 1 and len(row) <= 1 and ";" in first:
        raise ACTINNInputError(
            "%s: its lines hold no %s but semicolons: the separator looks "
            "like ';' (as Excel and R's write.csv2 write where a comma is the "
            "decimal mark), which is not read; write it with %s" %
            (path, "comma" if sep == "," else "tab",
             "commas (R: write.csv; pandas: to_csv)"
             if sep == "," else "tabs (R: write.table(..., sep = \"\\t\"))"))
    if len(header) == 1 and len(row) <= 1 and " " in first.strip():
        raise ACTINNInputError(
            "%s: its lines hold no %s but spaces: a matrix whose fields are "
            "separated by spaces (as R's write.table writes by default) is "
            "not read; write it with tabs (R: write.table(..., sep = "
            "\"\\t\")) or as CSV (write.csv)" %
            (path, "comma" if sep == "," else "tab"))
    if len(header) > 1 and header[-1] == "" and row and row[-1] == "":
        header, row = header[:-1], row[:-1]
    elif (row and row[-1] == "" and header[-1] != "" and
          len(row) == len(header) + 1):  # two readings: refused, not guessed
        raise ACTINNInputError(
            "%s: the first row has one field more than the header, an empty "
            "one at its end: either the rows end with a separator the header "
            "lacks (then the header's %r names the row names) or the header "
            "has no corner cell and the last column is empty; write the file "
            "without separators at the ends of its lines" % (path, header[0]))
    width = len(row)
    columns = header if width == len(header) + 1 else header[1:]
    if width != len(columns) + 1:
        raise ACTINNInputError(
            "%s: the header has %d fields but the first row %d; is the "
            "separator %r right?" % (path, len(header), width, sep))
    return columns, width


def _read_row_names(path: Path, sep: str) -> np.ndarray:
    """:func:`text_row_names`, read from the file."""
    _header(path, sep)  # refuses a header that does not fit the rows
    names = []
    with open_text(path) as fh:
        fh.readline()
        for number, line in enumerate(fh, start=2):
            if not line.strip():
                continue
            if '"' in line:
                _check_line(path, number, line, sep)
            if line.startswith('"'):
                names.append(next(csv.reader([line], delimiter=sep))[0])
            else:
                names.append(line.rstrip("\r\n").split(sep, 1)[0])
    return as_str_array(names)


def text_row_names(path: Path, fmt: str) -> np.ndarray:
    """The first field of every line after the header, without the values
    (read once inside
    :func:`~deepchem_actinn.io.shared_reads.shared_text_reads`)."""
    sep = SEPARATORS[fmt]
    shared = current_reads()
    if shared is None:
        return _read_row_names(path, sep)
    return shared.row_names(path, sep, lambda: _read_row_names(path, sep))


def text_column_names(path: Path, fmt: str) -> np.ndarray:
    """The column names of the header row, without reading the values."""
    return as_str_array(_header(path, SEPARATORS[fmt])[0])


def _orient(
    path: Path, fmt: str, orientation: Optional[str],
    expected_genes: Optional[Sequence[str]],
    expected_cells: Optional[Sequence[str]]
) -> Tuple[str, Optional[np.ndarray]]:
    """The orientation of a text file, and its row names when the hints
    needed them (None otherwise)."""
    check_orientation(orientation, path)
    if orientation is None and (expected_genes is not None or
                                expected_cells is not None):
        rows = text_row_names(path, fmt)
        return choose_orientation(path, rows, text_column_names(path, fmt),
                                  None, expected_genes, expected_cells), rows
    return choose_orientation(path, (), (), orientation), None


def text_orientation(path: Path,
                     fmt: str,
                     orientation: Optional[str] = None,
                     expected_genes: Optional[Sequence[str]] = None,
                     expected_cells: Optional[Sequence[str]] = None) -> str:
    """The orientation of a text file (see :func:`choose_orientation`),
    reading only its names, and only when hints ask for them."""
    return _orient(path, fmt, orientation, expected_genes, expected_cells)[0]


def text_names(path: Path,
               fmt: str,
               axis: str,
               orientation: Optional[str] = None,
               expected_genes: Optional[Sequence[str]] = None,
               expected_cells: Optional[Sequence[str]] = None) -> np.ndarray:
    """The gene names (``axis="genes"``) or cell ids (``axis="cells"``) of
    a text file, its orientation chosen as :func:`text_orientation` does.

    The values stay unread, and the rows' names are read at most once (the
    hints need them, and they may be the names asked for).
    """
    chosen, rows = _orient(path, fmt, orientation, expected_genes,
                           expected_cells)
    rows_hold = "cells" if chosen == CELLS_BY_GENES else "genes"
    if axis != rows_hold:
        return text_column_names(path, fmt)
    return text_row_names(path, fmt) if rows is None else rows


def _place(df: pd.DataFrame, row: int, column: int, columns: List[str],
           genes_as_rows: bool) -> str:
    """Where value ``(row, column)`` of ``df`` is, in words: its data row
    (counted from 1, as the header is not) and the names of its row and
    column, as gene and cell."""
    kinds = ("gene", "cell") if genes_as_rows else ("cell", "gene")
    return "data row %d (%s %r), column of %s %s" % (
        row + 1, kinds[0], str(df.index[row]), kinds[1], columns[column])


def _refuse_missing_fields(p: Path, df: pd.DataFrame, columns: List[str],
                           genes_as_rows: bool) -> None:
    """Refuse empty fields or rows cut short (pandas reads them as NaN,
    which would be reported as NaN values the file does not hold)."""
    missing = df.isna().to_numpy()  # rows cut short
    for j, column in enumerate(df.columns):
        # empty fields: text columns, of object dtype in pandas 2, str in 3
        if pd.api.types.is_string_dtype(df[column].dtype):
            missing[:, j] |= (df[column] == "").to_numpy()
    if not missing.any():
        return
    rows, cols = np.nonzero(missing)
    raise ACTINNInputError(
        "%s: %s empty (rows cut short, or empty fields), e.g. in %s; every "
        "row needs a value in each of the %d columns" %
        (p, counted(len(rows), "value", "is/are"),
         _place(df, rows[0], cols[0], columns, genes_as_rows), len(columns)))


#: What :func:`_to_numbers` refuses, in the order it does: the verbs of
#: one value and of several, and what follows them.
_NOT_COUNTS = (("text", "is not a number/are not numbers", ""),
               ("missing", "is/are", " missing (NA, NaN, NULL or the like)"))


def _first_row(p: Path, sep: str) -> List[str]:
    """The fields of the first data row, as written (its name first)."""
    with open_text(p) as fh:
        fh.readline()
        for line in fh:
            if line.strip():
                return _split(line, sep)
    return []


def _to_numbers(p: Path, sep: str, df: pd.DataFrame, columns: List[str],
                genes_as_rows: bool) -> None:
    """Turn the columns pandas kept as text (some value in them is not a
    number) into numbers, in place; refuse text, then missing values
    (``_NA_STRINGS``), counting those of the whole file and showing the
    first (by rows, then columns) as written.

    A column holding only true and false (``True``, ``FALSE``, ...) pandas
    reads as booleans, which are no counts: its values are text, the first
    (in the first data row) shown as the file spells it."""
    found = {kind: 0 for kind, _, _ in _NOT_COUNTS}
    first: Dict[str, Tuple[int, int, str]] = {}
    booleans = set()
    for j, column in enumerate(df.columns):
        if pd.api.types.is_bool_dtype(df[column]):
            booleans.add(j)
            text = df[column].astype(str)
        elif pd.api.types.is_numeric_dtype(df[column]):
            continue
        else:
            text = df[column]
        missing = text.isin(_NA_STRINGS).to_numpy()
        numbers = pd.to_numeric(text.where(~missing), errors="coerce")
        for kind, where in (("text", numbers.isna().to_numpy() & ~missing),
                            ("missing", missing)):
            rows = np.flatnonzero(where)
            if len(rows):
                found[kind] += len(rows)
                at = (int(rows[0]), j, str(text.iloc[rows[0]]))
                first[kind] = min(first.get(kind, at), at)
        df[column] = numbers
    for kind, verbs, what in _NOT_COUNTS:
        if kind in first:
            row, j, value = first[kind]
            if j in booleans:  # in the first row: as the file spells it
                value = _first_row(p, sep)[1 + j]
            raise ACTINNInputError(
                "%s: %s%s, e.g. %r in %s; every value must be a number (a "
                "count)" % (p, counted(found[kind], "value", verbs), what,
                            value if len(value) <= 40 else value[:40] + "...",
                            _place(df, row, j, columns, genes_as_rows)))


def read_text(
        path: PathLike,
        sep: Optional[str] = None,
        *,
        orientation: Optional[str] = None,
        expected_genes: Optional[Sequence[str]] = None,
        expected_cells: Optional[Sequence[str]] = None) -> anndata.AnnData:
    """Read a text matrix (CSV or TSV, optionally gzipped).

    The first row holds the column names (with or without a leading empty
    cell), each further row a name followed by that row's counts. In
    ACTINN's layout (``"genes_by_cells"``) rows are genes and columns
    cells; CellTypist's samples and ``scanpy.read_csv`` hold cells as rows
    (``"cells_by_genes"``). Gzip data is recognised by its bytes, not its
    name.

    Parameters
    ----------
    path: str or os.PathLike
        ``.csv``, ``.tsv`` or ``.txt`` file, optionally ``.gz``.
    sep: str, optional
        Field separator; by default ``","`` for ``.csv``, tab for ``.tsv``
        and for ``.txt`` whichever the first line uses.
    orientation: str, optional
        ``"genes_by_cells"`` (genes as rows) or ``"cells_by_genes"`` (cells
        as rows); by default decided from ``expected_genes`` /
        ``expected_cells`` (see
        :func:`~deepchem_actinn.io.orientation.choose_orientation`), and
        ``"genes_by_cells"`` without them.
    expected_genes: sequence of str, optional
        Genes the file should hold (e.g. a model's genes): the axis holding
        more of them (case-insensitive) is taken for genes.
    expected_cells: sequence of str, optional
        Cell ids the file should hold (e.g. a labels file's): the axis
        holding more of them is taken for cells.

    Returns
    -------
    anndata.AnnData
        Cells x genes; ``X`` a CSR matrix.

    Raises
    ------
    ACTINNInputError
        If the file is not a readable text matrix, holds a value that is
        not a number (text, ``TRUE`` too, a missing value such as ``NA``,
        an empty field; the message names the first, its gene and its
        cell), or hints are given and neither axis matches them.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io.text import read_text
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.tsv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("gene\\tc1\\tc2\\nActb\\t3\\t0\\nCd3e\\t0\\t1\\n")
    >>> adata = read_text(path)
    >>> list(adata.obs_names), adata.X.toarray().tolist()
    (['c1', 'c2'], [[3, 0], [0, 1]])

    Cells as rows, told apart by the genes a model expects:

    >>> path = os.path.join(tempfile.mkdtemp(), "cells.csv")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write(",Actb,Cd3e\\nc1,3,0\\nc2,0,1\\n")
    >>> adata = read_text(path, expected_genes=["ACTB", "CD3E", "CD19"])
    >>> list(adata.obs_names), list(adata.var_names)
    (['c1', 'c2'], ['Actb', 'Cd3e'])
    """
    p = existing(path)
    sep = _text_separator(p, sep)
    check_orientation(orientation, p)
    shared = current_reads()
    if orientation is None or shared is None:
        return _parse(p, sep, orientation, expected_genes, expected_cells)
    return shared.parsed(
        p, (sep, orientation),
        lambda: _parse(p, sep, orientation, expected_genes, expected_cells))


def _parse(p: Path, sep: str, orientation: Optional[str],
           expected_genes: Optional[Sequence[str]],
           expected_cells: Optional[Sequence[str]]) -> anndata.AnnData:
    """:func:`read_text`, parsed from the file."""
    columns = _header(p, sep)[0]
    with open_text(p) as fh, warnings.catch_warnings():
        # pandas parses a large file in chunks, and warns (naming this
        # line) of a column holding numbers in one chunk and text in
        # another: the text is what _to_numbers and the empty-field check
        # refuse, in our words
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        watch = _QuoteWatch(fh)
        df = pd.read_csv(
            watch,
            sep=sep,
            header=None,
            skiprows=1,
            index_col=0,
            dtype={0: str},  # ids such as 00001 stay text
            keep_default_na=False,
            skip_blank_lines=True)
    if watch.quoted:  # pandas reads a line break in a quoted field
        _refuse_any_line_break(p, sep)
    if (df.shape[1] == len(columns) + 1 and
            df[df.columns[-1]].isin(["", np.nan]).all()):
        df = df.iloc[:, :-1]  # a separator closing every line: no column
    if df.shape[1] != len(columns):
        raise ACTINNInputError("%s: %d column names but %d columns of values" %
                               (p, len(columns), df.shape[1]))
    rows = as_str_array(df.index)
    chosen = choose_orientation(p, rows, columns, orientation, expected_genes,
                                expected_cells)
    _refuse_missing_fields(p, df, columns, chosen != CELLS_BY_GENES)
    _to_numbers(p, sep, df, columns, chosen != CELLS_BY_GENES)
    values = df.to_numpy()
    if chosen == CELLS_BY_GENES:
        return make_anndata(sp.csr_matrix(values), rows,
                            pd.DataFrame(index=as_str_array(columns)))
    return make_anndata(sp.csr_matrix(values.T), columns,
                        pd.DataFrame(index=rows))
