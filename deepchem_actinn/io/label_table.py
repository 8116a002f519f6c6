"""Cell-type labels from a column of a table with a header: a cell
metadata table, as R's ``write.csv(meta.data)`` or pandas'
``obs.to_csv()`` writes it (``read_labels(path, column=NAME)``).

:func:`read_table_column` reads the column by the cell ids of the table's
first column (or of its row names); a table that seems to have no header
row is refused with the advice to read it as a labels file instead
(:data:`NO_COLUMN_HINT`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from deepchem_actinn.errors import (ANY, ACTINNInputError, Advice, Message,
                                    counted, examples, repeated)
from deepchem_actinn.io._common import open_text
from deepchem_actinn.io.cell_labels import TABLE_MISSING, has_label
from deepchem_actinn.io.pairs import not_text
from deepchem_actinn.labels import type_names


def read_table_column(p: Path, column: str) -> pd.Series:
    """The cell types in ``column`` of the table ``p``, by the cell ids of
    its first column (or of its row names, where the header is one field
    short, as R's ``write.table`` writes it)."""
    try:
        with open_text(p) as fh:
            first = next((line for line in fh if line.strip()), "")
        with open_text(p) as fh:
            table = pd.read_csv(fh,
                                sep="\t" if "\t" in first else ",",
                                dtype=str,
                                keep_default_na=False,
                                skip_blank_lines=True)
    except UnicodeDecodeError as err:
        raise not_text(p, "a table", err) from None
    except (OSError, ValueError) as err:
        # pandas' ParserError and EmptyDataError are ValueErrors
        raise ACTINNInputError("%s: cannot read it as a table (%s)" %
                               (p, str(err).strip())) from err
    if isinstance(table.index, pd.MultiIndex):
        raise ACTINNInputError(
            "%s: its header has %d fields fewer than its rows" %
            (p, table.index.nlevels))
    if isinstance(table.index, pd.RangeIndex):  # ids in the first column
        if table.shape[1] < 2:
            raise ACTINNInputError(
                "%s: a table of %d column, not cell ids and cell types" %
                (p, table.shape[1]))
        id_column = str(table.columns[0])
        table = table.set_index(table.columns[0])
        if column == id_column:
            raise ACTINNInputError(
                "%s: column %r holds the cell ids (the first column); name "
                "the column of cell types, one of %s" %
                (p, column, examples(list(table.columns))))
    if column not in table.columns:
        raise ACTINNInputError(
            "%s: no column %r; %s", p, column,
            _headless(table) or
            "its columns: %s" % examples(list(table.columns), 12))
    values = table[column]
    ids = pd.Index([str(i).strip() for i in table.index], dtype=object)
    if (ids == "").any():
        raise ACTINNInputError("%s: line %d has no cell id" %
                               (p, int(np.argmax(ids == "")) + 2))
    if ids.has_duplicates:
        twice = repeated(ids)
        raise ACTINNInputError(
            "%s: %s more than once, e.g. %s" %
            (p, counted(len(twice), "cell id",
                        "appears/appear"), examples(twice)))
    given = has_label(values) & ~values.str.strip().isin(TABLE_MISSING)
    return pd.Series(type_names(values[given], "%s column %r" % (p, column)),
                     index=ids[given],
                     name="cell_type",
                     dtype=object)


#: How to read a file of cell id<TAB>cell type lines, which has no header:
#: ``drop column=`` in Python, ``drop --labels-column`` on the command line.
NO_COLUMN_HINT = Advice(dict(column=ANY), verb="drop", role="labels")


def _headless(table: pd.DataFrame) -> Optional[Message]:
    """Why a table of two columns read under its first row as a header
    seems to have none, or None: the first row looks like the data below
    it (its type is one of the column's types, or its id is written as the
    first cell id is, digits aside: ``tma_facs_14301`` as ``tma_facs_4756``);
    the file is then a labels file, read without a column."""
    if table.shape[1] != 1 or not len(table):
        return None
    head_id, head_type = str(table.index.name), str(table.columns[0])
    shape = [
        re.sub(r"[0-9]+", "0", n.strip()) for n in (head_id, table.index[0])
    ]
    if not (head_type in set(table.iloc[:, 0].str.strip()) or
            shape[0] == shape[1]):
        return None
    return Message(
        "the file seems to have no header row: its first row (%s, %s) looks "
        "like data, a cell id and a cell type. A file of cell id<TAB>cell "
        "type lines needs no column named: %s", head_id, head_type,
        NO_COLUMN_HINT)
