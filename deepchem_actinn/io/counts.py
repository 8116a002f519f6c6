"""The one check of count values, for every reader and :func:`annotate`.

:func:`~deepchem_actinn.io.value_scan.scan_values` is the one pass over a
matrix's values that every check of them reads, here and in
:func:`~deepchem_actinn.preprocessing.normalise.check_counts` (it lives in
``io``, the lowest layer, since the readers check what they read).
:func:`check_count_values`: no NaN or infinity, nothing negative, whole
numbers. Values within :data:`ROUND_TOLERANCE` of a whole number
(``0.999999999999999``, as some exporters write counts) count as whole;
:func:`round_near_whole` rounds them. :func:`counts_error` words the
refusal; :func:`refuse_log_normalised` refuses a log scale where other
non-integer values pass. Which matrix of an AnnData holds the counts is
:mod:`~deepchem_actinn.io.count_matrix`'s.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.errors import (ACTINNCellError, ACTINNInputError, Advice,
                                    Message, counted, examples, joined)
from deepchem_actinn.io.value_scan import (  # noqa: F401 (rows_where: theirs)
    FLOAT32_MAX, ROUND_TOLERANCE, ValueReport, rows_where, scan_values)
from deepchem_actinn.types import Strings

logger = logging.getLogger(__name__)

#: Layers that hold raw counts by convention (scanpy, scvi-tools), in the
#: order they are tried after ``.raw``.
COUNT_LAYERS = ("counts", "raw_counts")
# Largest integer float32 holds exactly.
_FLOAT32_EXACT = 1 << 24
#: Largest value of a log scale (log1p of 10,000 per cell reaches about 9,
#: log2 of a million about 20): non-integer values under it look
#: log-normalised, whole numbers over it look like raw counts.
LOG_SCALE_MAX = 50.0
_LOOKED = ".raw.X, " + ", ".join("layers[%r]" % n for n in COUNT_LAYERS)

#: Where raw counts come from, for a file that is not an h5ad (which has
#: no ``.raw`` or layers to look in).
FILE_COUNTS_HINT = ("give the counts as the pipeline wrote them (Cell "
                    "Ranger's matrix, a counts table), not a normalised "
                    "export")

#: Why a ``.raw`` may hold normalised values: scanpy's idiom ``adata.raw =
#: adata`` (anndata 0.12) shares X's matrix, which normalising then changes.
RAW_NOT_COUNTS = (
    "a .raw set with adata.raw = adata may share X's matrix, which "
    "normalising X then changes too: keep the counts with adata.raw = "
    "adata.copy() or adata.layers['counts'] = adata.X.copy() before "
    "normalising")

#: Said of an AnnData without ``X`` (anndata writes one of ``X=None``
#: without it).
ABSENT_X = "X is absent (an AnnData of X=None)"
#: How to read the expm1 of log1p values as counts on another scale.
_EXPM1_COUNTS = Advice(dict(layer="counts", allow_non_integer=True))
#: How far apart (relative) the expm1 totals of a matrix's cells may be for
#: it to be taken for the natural log1p of per-cell normalised counts.
LOG1P_TOTAL_RTOL = 1e-3


class LogScaled(str):
    """A note of :func:`~deepchem_actinn.io.count_matrix.choose_counts` on
    a place of counts passed over (``".raw.X holds non-integer values"``)
    whose values look log-normalised: :func:`counts_error` then says how
    to annotate them anyway."""


def expm1_advice(what: str = "X", in_memory: bool = True) -> Message:
    """How to annotate log1p values anyway: the expm1 of the matrix
    ``what`` (``"X"``, ``".raw.X"`` or a layer, ``"layers['counts']"``) as
    a counts layer, named with non-integer values allowed (for ``.raw.X``,
    of ``.raw`` as an AnnData of its own, whose genes may not be X's); for
    an AnnData the caller holds (``in_memory``), or for a file, which the
    layer is written into, saying that :func:`~deepchem_actinn.annotate`
    takes the expm1 itself of an AnnData read into memory.

    Examples
    --------
    >>> from deepchem_actinn.io.counts import expm1_advice
    >>> hint = str(expm1_advice("layers['counts']", in_memory=False))
    >>> print(hint[hint.index("adata.layers"):hint.index(", adata.write")])
    adata.layers['counts'] = np.expm1(adata.layers['counts'])
    >>> print(hint[hint.rindex("then"):])
    then pass layer='counts', allow_non_integer=True
    >>> hint = str(expm1_advice(".raw.X"))
    >>> print(hint[hint.index("r ="):hint.index(" (r.X")])
    r = adata.raw.to_adata(), r.layers['counts'] = np.expm1(r.X)
    """
    raw = what == ".raw.X"
    values = "r.X" if raw else "adata.%s" % what
    target = "r" if raw else "adata"
    first = "r = adata.raw.to_adata(), " if raw else ""
    if not in_memory:
        return Message(
            "; if %s is the natural log1p of normalised counts (an h5ad "
            "file read whole, by actinn or by anndata.read_h5ad then "
            "deepchem_actinn.annotate, is taken so where every cell's expm1 "
            "sums to one total), its expm1 can stand for them in a file: "
            "%s%s.layers['counts'] = np.expm1(%s), "
            "%s.write_h5ad(...), then %s", what, first, target, values, target,
            _EXPM1_COUNTS)
    return Message(
        "; if %s is the natural log1p of normalised counts (scanpy's "
        "normalize_total then log1p), its expm1 is each cell's counts up to "
        "a factor, which the annotator's own per-cell normalisation "
        "removes: %s%s.layers['counts'] = np.expm1(%s) (%s.expm1() if "
        "sparse), then %s", what, first, target, values, values,
        Advice(*_EXPM1_COUNTS.choices, verb="annotate r with" if raw else ""))


#: What to do with an AnnData that keeps only log-normalised values.
EXPM1_HINT = expm1_advice()
#: The same for a file: the layer is written into it, then named.
EXPM1_FILE_HINT = expm1_advice(in_memory=False)
#: Why negative values are refused, whatever else is allowed.
NEGATIVE = ("no count is negative, and values scaled or centred (as by "
            "scanpy's pp.scale) cannot be turned back into counts")
#: Where the counts of a scaled matrix must come from.
SCALED_HINT = ("; keep the raw counts in .raw or layers['counts'] before "
               "normalising and scaling (adata.layers['counts'] = "
               "adata.X.copy())")


def _cells(cell_ids: Optional[Strings], rows) -> str:
    rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
    if cell_ids is None:
        return examples(["row %d" % r for r in rows])
    return examples(np.asarray(cell_ids, dtype=object)[rows])


def _within(part: Optional[Tuple[int, int, int]]) -> str:
    """Where the values counted are, when the matrix checked is some cells
    of a larger one (``part``: its first and past-the-last cell, of how
    many): the counts are of those cells only.

    Examples
    --------
    >>> from deepchem_actinn.io.counts import _within
    >>> _within((0, 256, 1000)), _within((0, 1000, 1000))
    (' in its first 256 cells (of 1,000)', '')
    >>> _within((50000, 100000, 200000))
    ' in cells 50,001 to 100,000 (of 200,000)'
    """
    if part is None:
        return ""
    start, stop, n = (int(v) for v in part)
    if start == 0 and stop >= n:
        return ""
    if start == 0:
        return " in its first %s (of {:,})".format(n) % counted(stop, "cell")
    return " in cells {:,} to {:,} (of {:,})".format(start + 1, stop, n)


def _usual_places(what: str) -> str:
    """Where raw counts usually live, but ``what`` (the matrix at fault)."""
    places = [p for p in (".raw", "layers['counts']") if not what.startswith(p)]
    return "raw counts usually live in %s" % " or ".join(places)


def counts_error(
        report: ValueReport,
        cell_ids: Optional[Strings],
        what: str,
        source: str,
        searched: bool = False,
        escape: bool = True,
        rejected: Sequence[Any] = (),
        hint: Optional[Any] = None,
        expm1_hint: bool = False,
        part: Optional[Tuple[int, int, int]] = None) -> ACTINNInputError:
    """The one-line error for a matrix that does not hold raw counts.

    ``searched``: the usual places of raw counts held none either (with
    ``rejected``, why, from :func:`~.count_matrix.choose_counts`), and
    log1p values get how to annotate them anyway, in an AnnData in memory
    (``expm1_hint``) or a file (:func:`expm1_advice`); a ``what`` other
    than ``X`` is then the matrix read in its stead as ``X`` is absent,
    which the message says. A scaled ``X`` (negative values) gets the expm1
    advice of a ``.raw.X`` that looks log-normalised (a
    :class:`LogScaled` note among ``rejected``). ``escape`` offers ``allow_non_integer=True``
    for values not on a log scale (never counts). ``hint`` replaces the
    advice on where raw counts live. ``part``: the matrix is these cells of
    a larger one (first, past-the-last, how many), so that the counts of
    values are said as those cells'.
    """
    within = _within(part)
    if report.n_nonfinite:
        return ACTINNInputError(
            "%s: %s holds %d NaN or infinite values%s, e.g. in cells %s" %
            (source, what, report.n_nonfinite, within,
             _cells(cell_ids, report.nonfinite_rows)))
    if report.n_huge:
        return ACTINNInputError(
            "%s: %s holds %s above %.4g, the largest float32 (up to %.4g)%s, "
            "e.g. in cells %s: they would be infinite once stored as float32, "
            "and no count is that large" %
            (source, what, counted(report.n_huge, "value"), FLOAT32_MAX,
             report.max_value, within, _cells(cell_ids, report.huge_rows)))
    if searched:
        hint = Message(
            "%s and no raw counts were found in %s%s",
            "%s is not raw counts" % what if what == "X" else ABSENT_X, _LOOKED,
            Message(" (%s)", joined("; ", list(rejected))) if rejected else "")
        if report.n_negative:
            hint += SCALED_HINT
            if any(isinstance(r, LogScaled) for r in rejected):
                hint += expm1_advice(".raw.X", expm1_hint)
        elif looks_log_normalised(report):
            hint += expm1_advice(what, expm1_hint)
    elif hint is None and what == ".raw.X":
        hint = RAW_NOT_COUNTS
    elif hint is None:
        hint = _usual_places(what)
    if report.n_negative:
        return ACTINNInputError(
            "%s: %s holds %s%s, e.g. in cells %s: %s; ACTINN needs raw "
            "counts; %s", source, what,
            counted(report.n_negative, "negative value"), within,
            _cells(cell_ids, report.negative_rows), NEGATIVE, hint)
    log = looks_log_normalised(report)
    way_out: Any = Message(
        "; if these values are what you want (counts on another scale, such "
        "as TPM), %s", Advice(dict(
            allow_non_integer=True))) if escape and not log else ""
    return ACTINNInputError(
        "%s: %s holds non-integer values (e.g. %s in cell %s): it looks %s; "
        "%s%s", source, what, report.nonint_shown,
        _cells(cell_ids, report.nonint_row),
        "log-normalised" if log else "normalised, not raw counts", hint,
        way_out)


def looks_log_normalised(report: ValueReport) -> bool:
    """Non-integer values, none of which exceeds :data:`LOG_SCALE_MAX` and
    none negative: a log scale (values with negative ones are scaled or
    centred, which no expm1 turns back into counts)."""
    return (report.nonint_row >= 0 and report.max_value <= LOG_SCALE_MAX and
            not report.n_negative)


def expm1_of_log1p(matrix, report: ValueReport) -> Optional[Tuple[Any, float]]:
    """The expm1 of a matrix (a new one; ``matrix`` is not changed) and
    the total every cell of it holds, where ``matrix`` is provably the
    natural log1p of per-cell normalised counts (scanpy's normalize_total
    then log1p, CellTypist's input): its values (``report``, of
    :func:`scan_values`) look log-normalised (:func:`looks_log_normalised`),
    and the expm1 of each cell holding any sums to one total, within
    :data:`LOG1P_TOTAL_RTOL`; None otherwise (also for a matrix not in
    memory, or one whose expm1 would itself look log-normalised). Each
    cell's counts up to a factor, which the annotator's per-cell
    normalisation removes.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io.counts import expm1_of_log1p, scan_values
    >>> X = np.log1p(np.array([[900.0, 100.0], [250.0, 750.0]]))
    >>> counts, total = expm1_of_log1p(X, scan_values(X))
    >>> total, counts.round(6).tolist()
    (1000.0, [[900.0, 100.0], [250.0, 750.0]])
    >>> logged = np.log1p(np.array([[9.0, 1.0], [25.0, 75.0]]))
    >>> expm1_of_log1p(logged, scan_values(logged)) is None
    True
    """
    if (not looks_log_normalised(report) or report.n_nonfinite or
            report.n_huge):
        return None
    matrix = widen_half(matrix)
    if sp.issparse(matrix):
        out: Any = sp.csr_matrix(matrix, copy=True)
        out.data = np.expm1(out.data)
    elif isinstance(matrix, np.ndarray):
        out = np.expm1(np.asarray(matrix))
    else:
        return None
    totals = np.asarray(out.sum(axis=1, dtype=np.float64)).ravel()
    held = totals[totals > 0]
    if not len(held) or out.max() <= LOG_SCALE_MAX:
        return None
    total = float(np.median(held))
    if np.abs(held - total).max() > LOG1P_TOTAL_RTOL * total:
        return None
    return out, total


def refuse_raw_counts(matrix, source: str) -> None:
    """Refuse raw counts where library-size normalised, log-transformed
    values are wanted: whole numbers, some over :data:`LOG_SCALE_MAX`.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io.counts import refuse_raw_counts
    >>> refuse_raw_counts(np.log2(1 + np.array([[3.0, 1.0]])), "model")
    >>> refuse_raw_counts(np.array([[0.0, 120.0, 3.0]]), "model")
    ... # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ACTINNInputError: model: X holds whole numbers up to 120, raw counts ...
    """
    report = scan_values(matrix)
    if report.counts_like and report.max_value > LOG_SCALE_MAX:
        raise ACTINNInputError(
            "%s: X holds whole numbers up to %g, raw counts; it takes "
            "library-size normalised, log-transformed values: transform the "
            "dataset with LibrarySizeLogTransformer first" %
            (source, report.max_value))


def log_scale_rows(n_genes: int) -> int:
    """How many first cells of a streamed matrix judge whether its allowed
    non-integer values are a log scale (:func:`refuse_log_normalised`):
    4,096, fewer for more than 2,048 genes (about 8 million values), at
    least 64. Judged once, so the verdict does not depend on the chunk or
    block size.

    Examples
    --------
    >>> from deepchem_actinn.io.counts import log_scale_rows
    >>> log_scale_rows(2000), log_scale_rows(33538)
    (4096, 250)
    """
    return min(4096, max(64, (8 << 20) // max(int(n_genes), 1)))


def refuse_log_normalised(matrix,
                          cell_ids: Optional[Strings] = None,
                          *,
                          what: str = "X",
                          source: str = "data",
                          hint: Optional[str] = None) -> ValueReport:
    """Refuse a matrix that looks log-normalised
    (:func:`looks_log_normalised`), for the callers that take an in-memory
    matrix as counts without ``allow_non_integer``: other non-integer values
    (TPM, corrected counts) pass, as counts on another scale; NaN, infinite
    and negative values are left to the counts' own check, which can read
    the :func:`scan_values` report returned.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io.counts import refuse_log_normalised
    >>> refuse_log_normalised(np.array([[120.5, 0.0]])).max_value
    120.5
    >>> refuse_log_normalised(np.log1p(np.array([[3.0, 1.0]])), ["c1"])
    ... # doctest: +ELLIPSIS, +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ACTINNInputError: data: X holds non-integer values ... looks log-normalised...
    """
    report = scan_values(matrix)
    if (looks_log_normalised(report) and not report.n_nonfinite and
            not report.n_negative):
        raise counts_error(report,
                           cell_ids,
                           what,
                           source,
                           escape=False,
                           hint=hint)
    return report


def refuse_log_normalised_start(rows: Callable[[int, int], object],
                                shape: Tuple[int, int],
                                cell_ids: Strings,
                                *,
                                what: str = "X",
                                source: str = "data") -> None:
    """:func:`refuse_log_normalised` for a matrix read piece by piece (a
    streamed file, a Dask array), judged once on its first
    :func:`log_scale_rows` cells, so that the verdict does not depend on the
    chunk or block size. ``rows(start, stop)`` returns those rows.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io.counts import refuse_log_normalised_start
    >>> X = np.log1p(np.arange(1.0, 7.0).reshape(3, 2))
    >>> refuse_log_normalised_start(lambda a, b: X[a:b], X.shape,
    ...                             ["c1", "c2", "c3"], source="f.h5ad")
    ... # doctest: +ELLIPSIS, +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ACTINNInputError: f.h5ad: X holds non-integer values ... log-normalised...
    """
    stop = min(int(shape[0]), log_scale_rows(shape[1]))
    refuse_log_normalised(rows(0, stop),
                          cell_ids[:stop],
                          what=what,
                          source=source)


def check_count_values(matrix,
                       cell_ids: Optional[Strings] = None,
                       *,
                       what: str = "X",
                       source: str = "data",
                       allow_non_integer: bool = False,
                       searched: bool = False,
                       rejected: Sequence[Any] = (),
                       hint: Optional[Any] = None,
                       part: Optional[Tuple[int, int, int]] = None) -> int:
    """Raise :class:`~deepchem_actinn.ACTINNInputError` unless a matrix holds
    raw counts.

    The one check of count values every reader uses: no NaN or infinite
    values, no negative values, and whole numbers (values within
    :data:`ROUND_TOLERANCE` of one count as whole; :func:`round_near_whole`
    rounds them). The message names the source, the matrix and example
    cells.

    Parameters
    ----------
    matrix: array-like or scipy.sparse matrix
        Cells x genes.
    cell_ids: sequence of str, optional
        The cells, to name them in messages (row numbers otherwise).
    what: str, default "X"
        Names the matrix in messages.
    source: str, default "data"
        Names the data (e.g. its file) in messages.
    allow_non_integer: bool, default False
        Accept non-negative finite values that are not whole numbers.
    searched: bool, default False
        The message says the usual places of raw counts held none.
    rejected: sequence of str, default ()
        With ``searched``: why each of those places that exists was not
        taken (e.g. ``"layers['counts'] holds NaN or infinite values"``).
    hint: str, optional
        Replaces the advice on where raw counts live (an AnnData's
        ``.raw`` or ``layers['counts']``; ``FILE_COUNTS_HINT`` for files of
        other formats).
    part: (int, int, int), optional
        ``matrix`` holds these cells of a larger matrix (the first, the
        one past the last, how many it has: a chunk of a file), so that
        the message counts the values of those cells as theirs only.

    Returns
    -------
    int
        How many values are within the tolerance of, but not equal to, a
        whole number (0 with ``allow_non_integer=True``).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io import check_count_values
    >>> check_count_values(np.array([[3.0, 0.0], [1.0, 0.999999999999]]))
    1
    >>> check_count_values(np.array([[0.5]]), ["c1"])
    ... # doctest: +ELLIPSIS, +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ACTINNInputError: data: X holds non-integer values (e.g. 0.5 in cell c1)...
    """
    try:
        report = scan_values(matrix)
    except ACTINNCellError as err:
        raise err.in_file("%s: %s" % (source, what)) from None
    if not report.acceptable(allow_non_integer):
        raise counts_error(report,
                           cell_ids,
                           what,
                           source,
                           searched,
                           rejected=rejected,
                           hint=hint,
                           part=part)
    return 0 if allow_non_integer else report.n_rounded


def round_near_whole(matrix) -> Tuple[sp.csr_matrix, int]:
    """A checked count matrix as CSR with its values rounded to whole numbers.

    Call it on a matrix :func:`check_count_values` accepted (without
    ``allow_non_integer``): its values are all within
    :data:`ROUND_TOLERANCE` of whole numbers.

    Parameters
    ----------
    matrix: array-like or scipy.sparse matrix
        Cells x genes; not modified.

    Returns
    -------
    X: scipy.sparse.csr_matrix
        The rounded values (``matrix`` itself when CSR and already whole).
    n_rounded: int
        How many values changed.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io import round_near_whole
    >>> X, n = round_near_whole(np.array([[2.9999999999, 0.0, 1.0]]))
    >>> X.toarray().tolist(), n
    ([[3.0, 0.0, 1.0]], 1)
    """
    X = matrix if isinstance(matrix, sp.csr_matrix) else sp.csr_matrix(matrix)
    if X.dtype.kind != "f" or not X.nnz:
        return X, 0
    whole = np.rint(X.data)
    n_rounded = int(np.count_nonzero(whole != X.data))
    if not n_rounded:
        return X, 0
    return sp.csr_matrix((whole, X.indices, X.indptr), shape=X.shape), n_rounded


def widen_half(matrix):
    """``matrix`` as float32 if it holds half-precision (float16) values,
    else as it is: a cell's total overflows float16 (at 65,504), and SciPy
    has no sparse float16.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io.counts import widen_half
    >>> widen_half(np.ones((1, 2), dtype=np.float16)).dtype
    dtype('float32')
    """
    if getattr(matrix, "dtype", None) == np.float16:
        return np.asarray(matrix, dtype=np.float32)
    return matrix


def as_count_matrix(matrix) -> sp.csr_matrix:
    """A count matrix as float32 CSR (values unchanged below 2**24).

    Parameters
    ----------
    matrix: np.ndarray or scipy.sparse matrix
        Counts, cells x genes, of any numeric dtype.

    Returns
    -------
    scipy.sparse.csr_matrix
        The same values, float32; ``matrix`` itself when it is float32 CSR
        already. Counts above 2**24 are rounded, with a warning.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io import as_count_matrix
    >>> as_count_matrix(np.array([[3, 0]])).dtype
    dtype('float32')
    """
    matrix = widen_half(matrix)
    X = matrix if isinstance(matrix, sp.csr_matrix) else sp.csr_matrix(matrix)
    if X.dtype != np.float32:
        top = float(np.abs(X.data).max()) if X.nnz else 0.0
        if FLOAT32_MAX < top < np.inf:  # the check of values missed it
            raise ACTINNCellError(
                "the matrix holds values up to %.4g, above %.4g, the largest "
                "float32: "
                "they would be infinite once stored as float32" %
                (top, FLOAT32_MAX))
        if top > _FLOAT32_EXACT:
            logger.warning("counts above %d are rounded when stored as float32",
                           _FLOAT32_EXACT)
        X = X.astype(np.float32)
    return X


def log_rounded(n_rounded: int, source: str) -> None:
    """Say once that values near whole numbers were rounded."""
    if n_rounded:
        logger.warning(
            "%s: rounded %d values within %g of a whole number (counts "
            "written as floats)", source, n_rounded, ROUND_TOLERANCE)
