"""Cell-type labels files: reading them and matching them to cells.

A labels file holds ``cell id<TAB>cell type`` per line, optionally under the
header ``cellname<TAB>celltype`` that ACTINN's ``predicted_label.txt``
starts with, or under a header with an empty first field, as pandas writes
an unnamed index (``adata.obs["cell_type"].to_csv(path, sep="\t")``).
:data:`LABEL_HEADER` is ACTINN's header, spelled once here for the readers
and the writers. Its lines are read by
:func:`~deepchem_actinn.io.pairs.read_pairs`, the reader of every
two-column text file of the package (labels, clusters, a type hierarchy);
a table's column of cell types by
:mod:`deepchem_actinn.io.label_table`. The cells' ids and labels as the
rest of the package takes them are checked in
:mod:`deepchem_actinn.io.cell_labels`.
"""

from __future__ import annotations

import logging
import os
from typing import Any, List, Optional, Tuple, Union

import numpy as np
import pandas as pd

from deepchem_actinn.errors import (ACTINNInputError, Advice, Message,
                                    Placeholder, counted, examples)
from deepchem_actinn.io._common import as_str_array, existing
from deepchem_actinn.io.cell_labels import (  # noqa: F401 (their home once)
    TABLE_MISSING, as_cell_ids, cell_positions, has_label, label_names,
    missing_value)
from deepchem_actinn.io.label_table import (  # noqa: F401 (its home once)
    NO_COLUMN_HINT, read_table_column)
from deepchem_actinn.io.pairs import (  # noqa: F401 (its home once)
    read_pairs)
from deepchem_actinn.labels import type_names
from deepchem_actinn.types import PathLike, Strings

logger = logging.getLogger(__name__)

#: The header of a predicted-labels file (ACTINN's ``predicted_label.txt``).
LABEL_HEADER = ("cellname", "celltype")
#: The optional third column of a predicted-labels file.
CONFIDENCE_HEADER = "confidence"
#: The column of a predicted-labels file, after ``confidence``, that says why
#: each cell is ``Unassigned`` (``novel`` or ``low_probability``; empty for a
#: cell given a type): written when a rule marked the cells
#: (``actinn predict --unassigned`` or ``--threshold``).
REASON_HEADER = "unassigned_reason"


def read_labels(path: PathLike, column: Optional[str] = None) -> pd.Series:
    """Read a cell-type labels file: ``cell id<TAB>cell type`` per line.

    No header is expected; a first line ``cellname<TAB>celltype`` (the
    header of ACTINN's ``predicted_label.txt``) or one whose first field is
    empty (pandas' header over an unnamed index) is skipped. A file whose
    first line holds a comma and no tab is read as CSV (``cell id,cell
    type``, quoted where a type holds a comma), as pandas'
    ``adata.obs[["cell_type"]].to_csv(path)`` writes it. Either way a field
    is read by the csv module's rules, as pandas and this package's
    ``predicted_label.txt`` write it: one that starts with ``"`` is quoted
    (``"M2 ""alternative"" cell"`` is ``M2 "alternative" cell``), any other
    is taken as it is (``5" cell``). Blank lines are ignored and fields are
    stripped of surrounding spaces; types are put in Unicode NFC, and types
    that then read the same ("T cell " and "T cell") are one, with a
    warning naming them and their cells. A cell whose type is a missing
    value (``NA``, as R writes one, ``nan``, ``NULL``,
    ...) is left unlabelled: :func:`match_labels` then refuses it, or
    leaves it out with ``missing="drop"`` (``--labelled-only``). ``.gz`` files
    are read gunzipped.

    With ``column``, the file is instead a table with a header (tab- or
    comma-separated: a cell metadata table as R's ``write.csv(meta.data)``
    or pandas' ``obs.to_csv()`` writes it, or Tabula Muris'
    ``annotations_facs.csv``): its first column (or its row names, where
    the header is one field short) holds the cell ids and ``column`` the
    cell types. Cells without a value there (empty, ``NA``, ``nan``) are
    left out, as unlabelled. Such a table may describe a whole atlas:
    :func:`match_labels` leaves out its cells that the matrix does not hold
    (``attrs["table"]``), where a labels file naming cells the matrix lacks
    is refused.

    Parameters
    ----------
    path: str or os.PathLike
        The labels file.
    column: str, optional
        The column of a table that holds the cell types.

    Returns
    -------
    pandas.Series
        Cell types (str) named ``cell_type``, indexed by cell id (str), in
        file order; ``attrs["source"]`` names the file (and column), for
        :func:`labels_from`'s messages.

    Raises
    ------
    ACTINNInputError
        If the file is empty, a line does not hold two tab-separated fields
        (a table of more columns without ``column``) or holds a quoted field
        that is not closed, a cell id appears twice, or the table has no
        such column.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.io import read_labels
    >>> path = os.path.join(tempfile.mkdtemp(), "labels.txt")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("c1\\tB cell\\nc2\\tT cell\\n")
    >>> read_labels(path).to_dict()
    {'c1': 'B cell', 'c2': 'T cell'}
    >>> with open(path, "w") as fh:
    ...     _ = fh.write("cell,mouse,cell_ontology_class\\n"
    ...                  "c1,M1,B cell\\nc2,M1,\\nc3,M2,T cell\\n")
    >>> read_labels(path, column="cell_ontology_class").to_dict()
    {'c1': 'B cell', 'c3': 'T cell'}
    """
    p = existing(path)
    if p.is_dir():
        raise ACTINNInputError("%s: a directory, not a labels file" % p)
    if column is not None:
        table = _sourced(read_table_column(p, str(column)),
                         "%s column %r" % (p, column))
        table.attrs["table"] = True  # may list other cells too
        return table
    ids: List[str] = []
    types: List[str] = []
    n_fields = 2
    for lineno, given, line in read_pairs(p, "cell id<TAB>cell type"):
        fields = [f.strip() for f in given]
        empty_first = given[0] == ""  # pandas' header over no index name
        if not ids and (tuple(fields[:2]) == LABEL_HEADER or
                        (empty_first and len(fields) == 2 and fields[1])):
            n_fields = len(fields)
            continue
        if not ids and empty_first and len(fields) > 2:
            raise ACTINNInputError(
                "%s: a table of %d columns (%s), not cell id<TAB>cell type: "
                "name the column of cell types (%s)", p, len(fields),
                examples(fields, 4), COLUMN_HINT)
        if not ids and len(fields) > n_fields:
            raise ACTINNInputError(
                "%s: line %d holds %d fields (%s), not cell id<TAB>cell type: "
                "if it is a table under a header, name the column of cell "
                "types (%s)", p, lineno, len(fields), examples(fields, 4),
                COLUMN_HINT)
        if len(fields) != n_fields or not all(fields[:2]):
            raise ACTINNInputError(
                "%s: line %d: expected cell id<TAB>cell type (or cell id,cell "
                "type), got %r" % (p, lineno, line[:80]))
        ids.append(fields[0])
        types.append(given[1])  # spaces and all, for type_names
    if not ids:
        raise ACTINNInputError("%s: the labels file is empty" % p)
    types = type_names(types, str(p))
    blank = [missing_value(t) for t in types]
    if any(blank):  # R's write.table writes a missing label as NA
        logger.info("%s: %s labelled %s, a missing value: left unlabelled", p,
                    counted(sum(blank), "cell"),
                    examples(sorted({t for t, b in zip(types, blank) if b})))
        missing_ids = [i for i, b in zip(ids, blank) if b]
        ids = [i for i, b in zip(ids, blank) if not b]
        types = [t for t, b in zip(types, blank) if not b]
    labels = pd.Series(types,
                       index=pd.Index(ids, dtype=object),
                       name="cell_type",
                       dtype=object)
    if any(blank):
        labels.attrs["missing"] = missing_ids  # for match_labels' message
    dup = labels.index.duplicated()
    if dup.any():
        repeated = pd.unique(labels.index[dup])
        raise ACTINNInputError(
            "%s: %s more than once, e.g. %s" %
            (p, counted(len(repeated), "cell id",
                        "appears/appear"), examples(repeated)))
    return _sourced(labels, str(p))


#: How a labels table's column of cell types is named: ``read_labels(path,
#: column=NAME)`` in Python (whichever function was given the file),
#: ``--labels-column NAME`` on the command line.
COLUMN_HINT = Advice(dict(column=Placeholder("NAME")),
                     verb="",
                     role="labels",
                     python="read_labels(path, %s)")


def labels_from(labels: Union[pd.Series, PathLike],
                data: Optional[PathLike] = None,
                format: Optional[str] = None,
                column: Optional[str] = None) -> Tuple[pd.Series, str]:
    """Cell-type labels given as CellTypist and scanpy users give them: a
    labels file (:func:`read_labels`), or the name of an ``obs`` column of
    the h5ad file ``data`` (read with anndata, the matrix left on disk),
    whose cells it labels in row order (:func:`match_labels` needs no cell
    ids for them, which may repeat). A file of that name comes first, with
    a warning where ``data``'s ``obs`` has the column too.

    Parameters
    ----------
    labels: pandas.Series, str or os.PathLike
        Cell types indexed by cell id (returned as they are), a labels
        file, or an ``obs`` column's name.
    data, format: optional
        The counts file the labels belong to, and its format if forced.
    column: str, optional
        ``labels`` is a table and this its column of cell types
        (:func:`read_labels`).

    Returns
    -------
    (labels, name)
        The labels (cells without a value in the column are left out, as
        unlabelled) and the words naming them in messages: the file's path,
        ``"PATH column 'NAME'"`` or ``"PATH obs['column']"``.

    Raises
    ------
    ACTINNInputError
        Neither a file nor a column of that name (the message lists the
        columns).

    Examples
    --------
    >>> import os, tempfile, anndata, numpy as np, pandas as pd
    >>> from deepchem_actinn.io import labels_from
    >>> path = os.path.join(tempfile.mkdtemp(), "reference.h5ad")
    >>> anndata.AnnData(np.ones((2, 1)), obs=pd.DataFrame(
    ...     {"cell_type": ["B cell", "T cell"]}, index=["c1", "c2"])
    ... ).write_h5ad(path)
    >>> labels, name = labels_from("cell_type", path)
    >>> labels.to_dict(), name.endswith("obs['cell_type']")
    ({'c1': 'B cell', 'c2': 'T cell'}, True)
    """
    if isinstance(labels, pd.Series):
        if column is not None:
            raise ValueError("column names a column of a labels table; "
                             "labels are already a Series")
        return labels, str(labels.attrs.get("source", "labels"))
    if column is not None:
        if not os.path.isfile(labels):
            raise ACTINNInputError(
                "%s: %s (a column of cell types, %r, is named in a labels "
                "table)" % (labels, "a directory, not a file" if
                            os.path.isdir(labels) else "no such file", column))
        found = read_labels(labels, column)
        return found, found.attrs["source"]
    if data is None or os.path.isfile(labels):
        found = read_labels(labels)
        if data is not None:
            _say_a_column_is_passed_over(labels, data, format)
        return found, found.attrs["source"]
    from deepchem_actinn.io.formats import path_and_format
    p, fmt = path_and_format(data, format)
    if fmt != "h5ad":
        if not os.path.lexists(labels):  # nor can it name an obs column
            from deepchem_actinn.io.registry import FORMAT_WORDS
            raise ACTINNInputError(
                "%s: no such labels file, nor an obs column: only an h5ad "
                "file has obs columns to name, and %s is %s" %
                (labels, p, FORMAT_WORDS.get(fmt, fmt)))
        return read_labels(labels), str(labels)  # says what is wrong
    from deepchem_actinn.io.h5ad import h5ad_obs
    obs = h5ad_obs(p)
    column = str(labels)
    if column not in obs.columns:
        raise ACTINNInputError(
            "%s: %s, nor a column of %s's obs (its columns: %s)" %
            (column, "a directory, not a labels file" if os.path.isdir(labels)
             else "no such file or directory", p, examples(list(obs.columns)) or
             "none"))
    values = obs[column]
    given = has_label(values)
    found = pd.Series(as_str_array(values[given].astype(str).to_numpy()),
                      index=pd.Index(as_str_array(obs.index[given]),
                                     dtype=object),
                      name="cell_type",
                      dtype=object)
    # the file's own cells, in row order: match_labels needs no ids for them
    found.attrs["rows"] = (len(obs), np.flatnonzero(given))
    named = "%s obs[%r]" % (p, column)
    return _sourced(found, named), named


def _say_a_column_is_passed_over(name: PathLike, data: PathLike,
                                 format: Optional[str]) -> None:
    """Warn when the labels file ``name`` shares its name with an ``obs``
    column of the h5ad file ``data``, which it is read in place of."""
    try:
        from deepchem_actinn.io.formats import path_and_format
        from deepchem_actinn.io.h5ad import h5ad_obs
        p, fmt = path_and_format(data, format)
        passed_over = fmt == "h5ad" and str(name) in h5ad_obs(p).columns
    except (ACTINNInputError, OSError, KeyError):
        return  # no obs to take a column from
    if passed_over:
        logger.warning(
            "%s: read as a labels file (a file of the name comes first), "
            "though %s's obs has a column %r too: to take the column, rename "
            "or move the file", name, p, str(name))


def _sourced(labels: pd.Series, source: str) -> pd.Series:
    """``labels`` with ``attrs["source"]``: what messages call them."""
    labels.attrs["source"] = source
    return labels


#: What :func:`match_labels` suggests for unlabelled reference cells, in
#: The way forward for cells without a label, in the words of whoever
#: shows the message (``labelled_only=True``, ``--labelled-only``).
TRAINING_HINT = Message(" (%s to train on the labelled cells alone)",
                        Advice(dict(labelled_only=True)))


def match_labels(cell_ids: Strings,
                 labels: Union[pd.Series, PathLike],
                 labels_path: str = "labels",
                 missing: str = "error",
                 missing_hint: Union[str, Message] = TRAINING_HINT,
                 cells_of: str = "the matrix") -> np.ndarray:
    """Align labels to the cells of a matrix by cell id (or in row order,
    for labels indexed by the cell ids as they are or taken from an ``obs``
    column of the matrix's own file by :func:`labels_from`: cell ids that
    repeat are refused only where they are matched by id).

    By default every cell must have a label. With ``missing="drop"``, cells
    without one are allowed: they get ``None``, so that
    ``keep = pandas.notna(y)`` selects the labelled cells (``actinn train
    --labelled-only`` trains on those alone). Labelled cells that are not
    in the matrix are refused either way, since they usually mean the
    labels belong to another file.

    Parameters
    ----------
    cell_ids: sequence of str
        The matrix's cells, in row order.
    labels: pandas.Series or path
        Cell types indexed by cell id (as :func:`read_labels` returns), or
        the path of a labels file.
    labels_path: str, default "labels"
        Names the labels in messages (the file's path when ``labels`` is
        one).
    missing: {"error", "drop"}, default "error"
        What to do with cells that have no label: refuse them, or give
        them ``None`` for the caller to leave out.
    missing_hint: str or deepchem_actinn.errors.Message, default ``TRAINING_HINT``
        Ends the message that refuses unlabelled cells (with ``missing=
        "error"``): what the caller can do about them.
    cells_of: str, default "the matrix"
        What holds ``cell_ids``, in messages (e.g. ``"the predictions"``).

    Returns
    -------
    numpy.ndarray
        Object array of str: the cell type of each cell, in row order
        (``None`` for unlabelled cells when ``missing="drop"``).

    Raises
    ------
    ACTINNInputError
        If some cells have no label (unless ``missing="drop"``), no cell has
        one, or some labelled cells are not in the matrix; the message names
        how many and gives examples.

    Examples
    --------
    >>> import pandas as pd
    >>> from deepchem_actinn.io import match_labels
    >>> labels = pd.Series({"c2": "T cell", "c1": "B cell"})
    >>> list(match_labels(["c1", "c2"], labels))
    ['B cell', 'T cell']
    >>> y = match_labels(["c1", "c2", "c3"], labels, missing="drop")
    >>> list(y), pd.notna(y).tolist()
    (['B cell', 'T cell', None], [True, True, False])
    """
    if missing not in ("error", "drop"):
        raise ValueError("missing must be 'error' or 'drop', got %r" %
                         (missing,))
    if isinstance(labels, (str, os.PathLike)):
        labels_path = str(labels)
        labels = read_labels(labels)
    ids = pd.Index(as_str_array(cell_ids), dtype=object)
    known = pd.Index(as_str_array(labels.index), dtype=object)
    n_rows, rows = labels.attrs.get("rows", (-1, None))
    if n_rows == len(ids) and (ids[rows] == known).all():
        where = np.full(len(ids), -1)  # an obs column of the cells' own file
        where[rows] = np.arange(len(rows))
        extra = known[:0]
    else:
        where = cell_positions(known, ids, labels_path, cells_of)
        extra = known[~known.isin(ids)]
    unlabelled = ids[where < 0]  # ids repeat in an obs column's rows alone
    n_cells = len(ids)
    if not len(known):
        raise ACTINNInputError("%s: no labels" % labels_path)
    case = _case_only(extra, unlabelled)
    if len(ids) and len(extra) == len(known):
        raise ACTINNInputError(
            "%s: none of its %s is a cell of %s: it names cells such as %s; "
            "the cells of %s are %s; the two must use the same cell ids%s" %
            (labels_path, counted(len(known), "cell id"), cells_of,
             examples(known), cells_of, examples(pd.unique(ids)), case))
    if len(unlabelled) and (missing == "error" or len(unlabelled) == n_cells):
        hint = "" if missing == "drop" else missing_hint
        said = len(set(labels.attrs.get("missing", ())) & set(unlabelled))
        if said:
            hint = (" (the labels give %d of them a missing value, such as "
                    "NA)" % said) + hint
        raise ACTINNInputError("%s: %d of %d cells have no label, e.g. %s%s%s",
                               labels_path, len(unlabelled), n_cells,
                               examples(unlabelled), case, hint)
    if len(extra) and labels.attrs.get("table"):
        # a metadata table of a whole atlas: its other cells are not these
        logger.info("%s: %d of its %d cells are not in %s (left out)",
                    labels_path, len(extra), len(known), cells_of)
        extra = extra[:0]
    if len(extra):
        header = (" (is the first line a header? a labels file has none, "
                  "or %s)" %
                  "<TAB>".join(LABEL_HEADER) if list(extra) == [known[0]] and
                  labels_path != "labels" and not case else "")
        raise ACTINNInputError(
            "%s: %s not in %s, e.g. %s%s%s" %
            (labels_path, counted(len(extra), "labelled cell", "is/are"),
             cells_of, examples(extra), header, case))
    values = np.asarray(
        type_names(as_str_array(labels.to_numpy()), labels_path) + [None],
        dtype=object)  # as a labels file's are read
    return values[where]  # -1: the None after them


def _case_only(extra: Any, unlabelled: Any) -> str:
    """Where labelled ids that are no cell's and cells without a label
    differ only in case, a clause saying so (ids are matched exactly), with
    an example pair; else ''.

    Examples
    --------
    >>> from deepchem_actinn.io.labels import _case_only
    >>> _case_only(["CELL1", "x"], ["cell1", "cell2"])
    "; 1 labelled id differs only in case from a cell's ('CELL1' and 'cell1'): cell ids are matched exactly, case included"
    >>> _case_only(["x"], ["cell1"])
    ''
    """
    if not len(extra) or not len(unlabelled):
        return ""
    cells = {str(i).casefold(): str(i) for i in unlabelled}
    pairs = [(str(i), cells[str(i).casefold()])
             for i in extra
             if str(i).casefold() in cells]
    if not pairs:
        return ""
    return ("; %s only in case from a cell's (%r and %r): cell ids are "
            "matched exactly, case included" %
            (counted(len(pairs), "labelled id",
                     "differs/differ"), pairs[0][0], pairs[0][1]))
