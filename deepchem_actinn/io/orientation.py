"""Which axis of a text matrix holds the genes.

ACTINN's own text files hold genes as rows and cells as columns
(``"genes_by_cells"``); CellTypist's samples and ``scanpy.read_csv`` use
cells as rows (``"cells_by_genes"``). Nothing in a CSV file says which, so
:func:`choose_orientation` decides from what the caller expects to find:
the genes of a model (at prediction; compared case-insensitively) or the
cell ids of a labels file (at training). Without such hints, or with
``orientation=`` given, nothing is guessed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np

from deepchem_actinn.errors import ACTINNInputError, Advice, examples
from deepchem_actinn.io.genes import gene_key
from deepchem_actinn.types import Strings

logger = logging.getLogger(__name__)

GENES_BY_CELLS = "genes_by_cells"
CELLS_BY_GENES = "cells_by_genes"
#: The values ``orientation=`` accepts (None detects).
ORIENTATIONS = (GENES_BY_CELLS, CELLS_BY_GENES)

#: How to say which axis holds the genes (the command line says it in the
#: words of the file's own option, or, reading a file that has none, what
#: to check instead).
PASS_ORIENTATION = Advice(dict(orientation=GENES_BY_CELLS),
                          dict(orientation=CELLS_BY_GENES),
                          notes=("genes as rows", "cells as rows"),
                          otherwise="check that this is the file meant: its "
                          "rows or its columns must hold those names")
#: How to read a file whose rows are cells, when nothing was expected of it.
ROWS_ARE_CELLS = Advice(dict(orientation=CELLS_BY_GENES),
                        verb="if rows are cells, pass",
                        otherwise="this command reads no other layout: "
                        "transpose a file whose rows are cells first")


def check_orientation(orientation: Optional[str], path: Path) -> None:
    """Refuse an ``orientation=`` other than None or :data:`ORIENTATIONS`."""
    if orientation is not None and orientation not in ORIENTATIONS:
        raise ACTINNInputError(
            "%s: unknown orientation %r; use 'genes_by_cells' (genes as rows, "
            "ACTINN's layout), 'cells_by_genes' (cells as rows) or None to "
            "detect it" % (path, orientation))


def _strip(name: str) -> str:
    return name.strip()


def _matches(names: Strings, wanted: set, normalise: Callable[[str],
                                                              str]) -> int:
    return sum(1 for name in names if normalise(str(name)) in wanted)


def choose_orientation(path: Path,
                       rows: Strings,
                       columns: Strings,
                       orientation: Optional[str] = None,
                       expected_genes: Optional[Strings] = None,
                       expected_cells: Optional[Strings] = None) -> str:
    """Decide whether the rows of a text matrix are genes or cells.

    Parameters
    ----------
    path: pathlib.Path
        The file (for messages).
    rows, columns: sequence of str
        The row names (first field of each line) and the column names
        (the header) of the file.
    orientation: str, optional
        ``"genes_by_cells"`` or ``"cells_by_genes"``: returned as is.
    expected_genes: sequence of str, optional
        Genes the data should hold (a model's genes); the axis holding
        more of them, compared case-insensitively, is the genes' axis.
    expected_cells: sequence of str, optional
        Cell ids the data should hold (a labels file's); the axis holding
        more of them is the cells' axis. Consulted when ``expected_genes``
        is not given or matches neither axis.

    Returns
    -------
    str
        One of :data:`ORIENTATIONS`. With no orientation and no hints,
        ``"genes_by_cells"`` (ACTINN's layout).

    Raises
    ------
    ACTINNInputError
        If hints are given and neither axis holds any of them.

    Examples
    --------
    >>> from pathlib import Path
    >>> from deepchem_actinn.io import choose_orientation
    >>> choose_orientation(Path("celltypist.csv"), rows=["c1", "c2"],
    ...                    columns=["Cd3e", "Cd19"], expected_genes=["CD3E"])
    'cells_by_genes'
    >>> choose_orientation(Path("actinn.csv"), rows=["Cd3e", "Cd19"],
    ...                    columns=["c1", "c2"])
    'genes_by_cells'
    """
    check_orientation(orientation, path)
    if orientation is not None:
        return orientation
    hints: List[Tuple[str, Strings, Callable[[str], str], str]] = []
    if expected_genes is not None:
        hints.append(
            ("the expected genes", expected_genes, gene_key, GENES_BY_CELLS))
    if expected_cells is not None:
        hints.append(
            ("the expected cell ids", expected_cells, _strip, CELLS_BY_GENES))
    if not hints:
        logger.info(
            "%s: reading rows as genes and columns as cells (ACTINN's "
            "layout); %s", path, ROWS_ARE_CELLS)
        return GENES_BY_CELLS
    for what, hint, normalise, rows_wins in hints:
        wanted = {normalise(str(name)) for name in hint}
        in_rows = _matches(rows, wanted, normalise)
        in_columns = _matches(columns, wanted, normalise)
        if in_rows == in_columns == 0:
            continue
        # a tie keeps ACTINN's layout (genes as rows, cells as columns)
        if rows_wins == GENES_BY_CELLS:
            chosen = GENES_BY_CELLS if in_rows >= in_columns else CELLS_BY_GENES
        else:
            chosen = CELLS_BY_GENES if in_rows > in_columns else GENES_BY_CELLS
        logger.info(
            "%s: %d of %s in the rows, %d in the columns; reading "
            "it as %s", path, in_rows, what, in_columns,
            chosen.replace("_", " "))
        return chosen
    what = hints[0][0]
    shown = np.asarray(hints[0][1], dtype=object)
    raise ACTINNInputError(
        "%s: neither the rows nor the columns match %s (e.g. %s): rows look "
        "like %s; columns like %s; %s", path, what, examples(shown, limit=3),
        examples(rows, limit=3) or "nothing",
        examples(columns, limit=3) or "nothing", PASS_ORIENTATION)
