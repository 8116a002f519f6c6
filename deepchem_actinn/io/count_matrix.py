"""Which matrix of an AnnData object (or h5ad file) holds the raw counts.

ACTINN normalises raw counts itself, so every reader and :func:`annotate`
need the raw counts. A typical scanpy object keeps log-normalised values
in ``X`` and the counts in ``.raw`` or ``layers['counts']``.
:func:`counts_source` is the one rule that picks the matrix:

1. ``layer=`` or ``use_raw=True`` name the matrix; ``use_raw=False``
   insists on ``X``.
2. Otherwise ``X`` if it holds counts, else the first of ``.raw.X``,
   ``layers['counts']`` and ``layers['raw_counts']`` that does (with a
   warning in the log), else a clear error naming where it looked and why
   each matrix found there was passed over. Where ``X`` is absent (an
   AnnData of ``X=None``), the same places are looked at in its stead.

The values themselves are checked by :mod:`~deepchem_actinn.io.counts`.
:func:`named_matrix` and :func:`matrix_choice` turn ``layer`` /
``use_raw`` into the words a record names the matrix by, and back.
"""

from __future__ import annotations

import logging
from typing import (Any, Callable, Iterable, Iterator, List, NamedTuple,
                    Optional, Sequence, Tuple)

import anndata
import numpy as np
import pandas as pd

from deepchem_actinn.errors import (ANY, ACTINNCellError, ACTINNInputError,
                                    Advice, Message, Placeholder, examples)
from deepchem_actinn.io._common import NoDirectAccess
from deepchem_actinn.io.counts import (ABSENT_X, COUNT_LAYERS, RAW_NOT_COUNTS,
                                       LogScaled, ValueReport, counts_error,
                                       expm1_of_log1p, looks_log_normalised,
                                       scan_values)

logger = logging.getLogger(__name__)

#: Why a named matrix cannot be read (messages, after the source's name).
BOTH_NAMED = "pass either layer= or use_raw=True, not both"
NO_RAW = Message("there is no .raw to read the counts from (%s)",
                 Advice(dict(use_raw=True), verb="asked for by"))
#: How to name ``.raw`` and ``X`` themselves (messages).
PASS_RAW = Advice(dict(use_raw=True))
PASS_X = Advice(dict(use_raw=False))


def pass_layer(name: str) -> Advice:
    """How to name the layer ``name`` (messages).

    Examples
    --------
    >>> from deepchem_actinn.io.count_matrix import pass_layer
    >>> print(pass_layer("counts"))
    pass layer='counts'
    """
    return Advice(dict(layer=name))


class CountsSource(NamedTuple):
    """The matrix :func:`counts_source` chose.

    Attributes
    ----------
    matrix:
        Cells x genes, as stored in the AnnData object (or a file).
    var: pandas.DataFrame
        Gene annotations; its index holds the gene names.
    description: str
        ``"X"``, ``".raw.X"`` or ``"layers['counts']"``.
    n_rounded: int, optional
        How many values the count check found within the rounding tolerance
        of, but not equal to, a whole number (None: not scanned).
    """
    matrix: object
    var: pd.DataFrame
    description: str
    n_rounded: Optional[int] = None


def select_matrix(adata: anndata.AnnData, layer: Optional[str],
                  use_raw: Optional[bool], source: str) -> CountsSource:
    """The matrix ``layer`` / ``use_raw`` name (``X`` when neither does)."""
    if layer is not None and use_raw:
        raise ACTINNInputError("%s: %s" % (source, BOTH_NAMED))
    if use_raw:
        if adata.raw is None:
            raise ACTINNInputError("%s: %s", source, NO_RAW)
        return CountsSource(adata.raw.X, adata.raw.var, ".raw.X")
    if layer is not None:
        if layer not in adata.layers:
            raise ACTINNInputError("%s: %s", source,
                                   no_layer(layer, list(adata.layers)))
        return CountsSource(adata.layers[layer], adata.var,
                            "layers[%r]" % layer)
    if adata.X is None:
        raise ACTINNInputError(
            "%s: %s", source, absent_x(list(adata.layers), adata.raw
                                       is not None))
    return CountsSource(adata.X, adata.var, "X")


def with_x_columns(adata: anndata.AnnData,
                   raw_var: pd.DataFrame) -> Tuple[pd.DataFrame, List[str]]:
    """``.raw``'s ``var`` with the columns X's ``var`` has and it lacks
    (symbols added after ``adata.raw = adata``), lent by position where
    both hold the same genes in one order, and the names of those lent;
    ``raw_var`` itself and none otherwise."""
    if not adata.var_names.equals(raw_var.index):
        return raw_var, []
    lent = [c for c in adata.var.columns if c not in raw_var.columns]
    var = raw_var.copy()
    for name in lent:  # by position: the same genes in one order
        var[name] = adata.var[name].to_numpy()
    return var, lent


def in_place_of_x(fallbacks: Iterable[CountsSource], absent: Message,
                  source: str) -> Tuple[CountsSource, Iterator[CountsSource]]:
    """Where ``X`` is absent and no matrix is named: the first of the
    conventional places of counts (``fallbacks``) instead, said in the log,
    and the rest, to fall back on as from ``X``; refused with ``absent``
    where there is none.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io.count_matrix import (CountsSource,
    ...                                              in_place_of_x)
    >>> counts = CountsSource(np.ones((1, 1)), None, "layers['counts']")
    >>> first, rest = in_place_of_x([counts], "X is absent", "query.h5ad")
    >>> first.description, list(rest)
    ("layers['counts']", [])
    """
    rest = iter(fallbacks)
    first = next(rest, None)
    if first is None:
        raise ACTINNInputError("%s: %s", source, absent)
    logger.info("%s: X is absent; reading the counts from %s", source,
                first.description)
    return first, rest


def absent_x(layers: Sequence[Optional[str]], has_raw: bool) -> Message:
    """The message for an AnnData without ``X`` (``X=None``; anndata
    writes such an object without one) when no other matrix is named: its
    layers, to pick the counts from, and ``.raw`` where there is one.

    Examples
    --------
    >>> from deepchem_actinn.io.count_matrix import absent_x
    >>> print(absent_x(["spliced", "log"], has_raw=False))
    X is absent (an AnnData of X=None); its layers: spliced, log: name the one that holds the counts with layer=NAME
    >>> print(absent_x([], has_raw=True))
    X is absent (an AnnData of X=None): pass use_raw=True for .raw.X
    """
    absent = ABSENT_X
    listed = named(layers)
    if not listed:
        if has_raw:
            return Message("%s: %s for .raw.X", absent, PASS_RAW)
        return Message("%s, and it has no layers or .raw to read the counts "
                       "from" % absent)
    return Message(
        "%s; its layers: %s: %s%s", absent, examples(listed),
        Advice(dict(layer=Placeholder("NAME")),
               verb="name the one that holds the counts with"),
        Message(", or %s for .raw.X", PASS_RAW) if has_raw else "")


def no_layer(name: str, layers: Sequence[Optional[str]]) -> Message:
    """The message for a layer the data lacks (a name meant for ``.raw`` is
    pointed to it; anndata's ``None`` key, ``X`` itself, is no layer).

    Examples
    --------
    >>> from deepchem_actinn.io.count_matrix import no_layer
    >>> print(no_layer("raw", ["counts", None]))
    no layer 'raw' (layers: counts); for .raw.X pass use_raw=True
    """
    hint: Any = ""
    if name in ("raw", "raw.X", ".raw", ".raw.X"):
        hint = Message("; for .raw.X %s", PASS_RAW)
    elif name == "X":
        hint = Message("; for X itself %s", PASS_X)
    return Message("no layer %r (layers: %s)%s", name,
                   examples(named(layers)) or "none", hint)


def named(layers: Sequence[Optional[str]]) -> List[str]:
    """The layers' names, without the ``None`` key under which anndata 0.13
    lists ``X`` itself."""
    return [str(n) for n in layers if n is not None]


def conventional_counts(adata: anndata.AnnData) -> Iterator[CountsSource]:
    """Where raw counts live by convention, in the order they are tried."""
    if adata.raw is not None:
        yield CountsSource(adata.raw.X, adata.raw.var, ".raw.X")
    for name in COUNT_LAYERS:
        if name in adata.layers:
            yield CountsSource(adata.layers[name], adata.var,
                               "layers[%r]" % name)


def fault(report: ValueReport) -> str:
    """What keeps a scanned matrix from being raw counts, in a few words.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io.count_matrix import fault
    >>> from deepchem_actinn.io.counts import scan_values
    >>> fault(scan_values(np.array([[1.0, np.nan]])))
    'NaN or infinite values'
    >>> fault(scan_values(np.array([[0.5, 2.0]])))
    'non-integer values'
    """
    if report.n_nonfinite:
        return "NaN or infinite values"
    if report.n_huge:
        return "values above the largest float32"
    return "negative values" if report.n_negative else "non-integer values"


def other_layers(layers: Sequence[str]) -> List[Message]:
    """A note for the error's message naming the layers that are not
    conventional places of raw counts, and so were not looked in (none
    when there are none).

    Examples
    --------
    >>> from deepchem_actinn.io.count_matrix import other_layers
    >>> note, = other_layers(["counts", "spliced", "raw", None])
    >>> print(note)
    other layers, not looked in: 'spliced', 'raw' (name one with layer=)
    >>> other_layers(["counts"])
    []
    """
    others = [repr(n) for n in named(layers) if n not in COUNT_LAYERS]
    if not others:
        return []
    return [
        Message("other layers, not looked in: %s (%s)", examples(others),
                Advice(dict(layer=ANY), verb="name one with"))
    ]


def choose_counts(
        first: CountsSource, fallbacks: Iterable[CountsSource],
        scan: Callable[[object], ValueReport], allow_non_integer: bool,
        source: str) -> Tuple[CountsSource, Optional[ValueReport], List[Any]]:
    """The fallback rule, written once for AnnData objects and files.

    ``first`` if ``scan`` finds it acceptable; else, unless it holds NaN or
    infinite values, the first of ``fallbacks`` that holds counts (logged);
    else ``first`` with the report that condemns it, and why each fallback
    looked at was not taken (``"layers['counts'] holds NaN or infinite
    values"``), for the error's message. Allowed non-integer
    values are condemned too when they look log-normalised
    (:func:`~deepchem_actinn.io.counts.looks_log_normalised`): a log scale is never counts, on any
    scale (a scanpy object keeps its counts in a layer beside them).
    """
    report = _scan(scan, first)
    log_scale = allow_non_integer and looks_log_normalised(report)
    if report.acceptable(allow_non_integer) and not log_scale:
        if first.description == "X":
            _more_genes_in_raw(first, fallbacks, scan, source)
        return first._replace(n_rounded=report.n_rounded), None, []
    rejected = []
    if report.n_nonfinite == 0:
        for candidate in fallbacks:
            found = _scan(scan, candidate)
            if found.counts_like:
                logger.warning(
                    "%s: %s holds %s; reading the raw counts from %s instead",
                    source, first.description, fault(report),
                    candidate.description)
                return candidate._replace(n_rounded=found.n_rounded), None, []
            note = "%s holds %s%s" % (
                candidate.description, fault(found),
                ": %s" % RAW_NOT_COUNTS if candidate.description == ".raw.X" and
                found.nonint_row >= 0 and not found.n_negative else "")
            rejected.append(
                LogScaled(note) if candidate.description == ".raw.X" and
                looks_log_normalised(found) and not found.n_nonfinite and
                not found.n_huge else note)
    return first, report, rejected


#: How to read ``.raw.X`` where ``X`` holds counts of fewer genes.
RAW_HOLDS_MORE = (
    "%s: X holds the counts of %d genes and .raw.X those of %d, %d of them "
    "not in X; reading X, as it holds counts: a gene only .raw.X holds is "
    "missing to the annotator; %s to read .raw.X instead")


def _more_genes_in_raw(first: CountsSource, fallbacks: Iterable[CountsSource],
                       scan: Callable[[object],
                                      ValueReport], source: str) -> None:
    """Warn when ``X``, chosen for its counts, holds fewer genes than a
    ``.raw`` that holds counts too (scanpy's ``adata.raw = adata`` before
    cutting ``X`` to some genes): what ``X`` lacks is missing to the
    annotator, and ``use_raw=True`` reads them all."""
    try:
        raw = next((c for c in fallbacks if c.description == ".raw.X"), None)
        if raw is None:
            return
        in_x = {str(g) for g in first.var.index}
        extra = sum(1 for g in raw.var.index if str(g) not in in_x)
        if not extra or not scan(raw.matrix).counts_like:
            return
    except (NoDirectAccess, OSError, KeyError, ValueError):
        return  # a .raw that cannot be read is no better
    logger.warning(RAW_HOLDS_MORE, source, len(in_x), len(raw.var.index), extra,
                   PASS_RAW)


def counts_elsewhere(candidates: Iterable[CountsSource],
                     scan: Callable[[object], ValueReport],
                     named: str) -> Optional[Message]:
    """Where the counts are, when the matrix ``named`` (by ``layer=`` or
    ``use_raw=``) holds none: the advice of the error, in place of where
    counts usually are, naming the first other of ``candidates`` (``X``
    and the conventional places) that ``scan`` finds holding counts, or
    None.

    Examples
    --------
    >>> import anndata, numpy as np
    >>> from deepchem_actinn.io.count_matrix import (conventional_counts,
    ...                                              counts_elsewhere)
    >>> from deepchem_actinn.io.counts import scan_values
    >>> adata = anndata.AnnData(np.array([[3.0, 0.0], [1.0, 2.0]]))
    >>> adata.raw = adata.copy()
    >>> adata.X = np.log1p(adata.X)
    >>> print(counts_elsewhere(conventional_counts(adata), scan_values, "X"))
    raw counts are in .raw.X: pass use_raw=True
    """
    for candidate in candidates:
        if candidate.description == named:
            continue
        try:
            if not scan(candidate.matrix).counts_like:
                continue
        except ACTINNCellError:
            continue
        where = candidate.description
        how = PASS_RAW if where == ".raw.X" else PASS_X if where == "X" else \
            pass_layer(where[len("layers['"):-len("']")])
        return Message("raw counts are in %s: %s", where, how)
    return None


def _scan(scan: Callable[[object], ValueReport],
          candidate: CountsSource) -> ValueReport:
    """``scan`` of a candidate's matrix; a damaged one is named."""
    try:
        return scan(candidate.matrix)
    except ACTINNCellError as err:
        raise ACTINNCellError("%s: %s", candidate.description, err) from None


def counts_source(
        adata: anndata.AnnData,
        layer: Optional[str] = None,
        use_raw: Optional[bool] = None,
        allow_non_integer: bool = False,
        *,
        source: str = "data",
        hint: Optional[Any] = None,
        expm1_hint: bool = False,
        log1p: bool = False,
        scan: Callable[[object], ValueReport] = scan_values) -> CountsSource:
    """Pick the raw-count matrix of an AnnData object and check it.

    ``layer=`` or ``use_raw=`` name the matrix (``use_raw=False`` insists
    on ``X``). With neither, ``use_raw=None`` decides: ``X`` if it holds
    raw counts, else the first of ``.raw.X``, ``layers['counts']`` and
    ``layers['raw_counts']`` that does (with a warning in the log), else an
    error saying ``X`` is not raw counts and where counts were looked for.
    With ``allow_non_integer=True``, non-integer (but non-negative, finite)
    values are accepted as they are, unless they look log-normalised.

    Parameters
    ----------
    adata: anndata.AnnData
        Cells x genes.
    layer: str, optional
        Use ``adata.layers[layer]``.
    use_raw: bool, optional
        True uses ``adata.raw.X`` with ``adata.raw.var``; False insists on
        ``X``; None decides as above.
    allow_non_integer: bool, default False
        Accept non-integer values (e.g. normalised data) in the chosen
        matrix.
    source: str, default "data"
        Names the data (e.g. its file) in messages.
    hint: str, optional
        Replaces the advice on where raw counts live (for data read from
        a file without ``.raw`` or layers).
    expm1_hint: bool, default False
        When no counts are found and ``X`` looks log-normalised, say how
        its ``expm1`` can be annotated (for an AnnData the caller holds in
        memory, as :func:`~deepchem_actinn.annotate` does).
    log1p: bool, default False
        When no counts are found, take the expm1 of ``X`` or else of
        ``.raw.X`` (of one of them when named) where it is provably the
        natural log1p of per-cell normalised counts
        (``deepchem_actinn.io.counts.expm1_of_log1p``): a copy, its
        non-integer values allowed, described as ``"expm1(.raw.X)"``, said
        in the log (``log1p_counts``; as :func:`~deepchem_actinn.annotate`
        and :func:`~deepchem_actinn.train` read an AnnData in memory, and
        ``actinn`` an h5ad file read whole).
    scan: callable, default ``scan_values``
        Judges a matrix, giving its ``ValueReport``
        (``deepchem_actinn.io.counts.scan_values``); one that reads only
        the first rows lets a backed matrix be judged without reading it
        all, as the h5ad reader judges a file's.

    Returns
    -------
    CountsSource
        ``(matrix, var, description, n_rounded)``; the matrix as stored (values within
        :data:`ROUND_TOLERANCE` of whole numbers not yet rounded).

    Raises
    ------
    ACTINNInputError
        If the chosen matrix holds NaN, infinite or negative values, or
        non-integer values that are not allowed and no fallback applies.

    Examples
    --------
    >>> import anndata, numpy as np
    >>> from deepchem_actinn.io import counts_source
    >>> adata = anndata.AnnData(np.log1p(np.array([[3.0, 0.0], [1.0, 2.0]])))
    >>> adata.layers["counts"] = np.array([[3.0, 0.0], [1.0, 2.0]])
    >>> counts_source(adata).description
    "layers['counts']"
    """
    explicit = layer is not None or use_raw is not None
    fallbacks = () if explicit else conventional_counts(adata)
    if adata.X is None and not explicit:
        first, fallbacks = in_place_of_x(
            fallbacks, absent_x(list(adata.layers), adata.raw is not None),
            source)
    else:
        first = select_matrix(adata, layer, use_raw, source)
    try:
        chosen, report, rejected = choose_counts(first, fallbacks, scan,
                                                 allow_non_integer, source)
    except ACTINNCellError as err:  # a damaged matrix: name its data too
        raise err.in_file(source) from None
    if report is not None and log1p:
        taken = log1p_counts(
            [first] +
            ([] if explicit or first.description != "X" or adata.raw is None
             else [CountsSource(adata.raw.X, adata.raw.var, ".raw.X")]), scan,
            source)
        if taken is not None:
            return taken
    if report is not None and not explicit:
        rejected += other_layers(list(adata.layers))
    if report is not None and explicit and hint is None:
        hint = counts_elsewhere(
            ([] if adata.X is None else [CountsSource(adata.X, adata.var, "X")])
            + list(conventional_counts(adata)), scan, chosen.description)
    if report is not None:
        raise counts_error(report,
                           np.asarray(adata.obs_names, dtype=object),
                           chosen.description,
                           source,
                           not explicit,
                           rejected=rejected,
                           hint=hint,
                           expm1_hint=expm1_hint)
    return chosen


def log1p_counts(candidates: Sequence[CountsSource],
                 scan: Callable[[object], ValueReport],
                 source: str) -> Optional[CountsSource]:
    """The expm1 of the first of ``candidates`` (``X``, ``.raw.X``) that
    is provably the natural log1p of per-cell normalised counts
    (:func:`~deepchem_actinn.io.counts.expm1_of_log1p`), described as
    ``"expm1(.raw.X)"`` and said in the log; None where none is.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.io.count_matrix import CountsSource, log1p_counts
    >>> from deepchem_actinn.io.counts import scan_values
    >>> X = np.log1p(np.array([[900.0, 100.0], [250.0, 750.0]]))
    >>> log1p_counts([CountsSource(X, None, "X")], scan_values,
    ...              "data").description
    'expm1(X)'
    """
    for candidate in candidates:
        if candidate.description not in ("X", ".raw.X"):
            continue
        taken = expm1_of_log1p(candidate.matrix, _scan(scan, candidate))
        if taken is None:
            continue
        described = EXPM1 % candidate.description
        logger.info(
            "%s: no raw counts found; %s holds the natural log1p of counts "
            "normalised to %g per cell (expm1 sums agree): reading %s as the "
            "counts", source, candidate.description, taken[1], described)
        return candidate._replace(matrix=taken[0],
                                  description=described,
                                  n_rounded=0)
    return None


#: How the counts taken as the expm1 of a matrix are described.
EXPM1 = "expm1(%s)"


def read_from(description: str) -> str:
    """The matrix a description names, without the expm1 taken of it.

    Examples
    --------
    >>> from deepchem_actinn.io.count_matrix import read_from
    >>> read_from("expm1(.raw.X)"), read_from("layers['counts']")
    ('.raw.X', "layers['counts']")
    """
    if description.startswith("expm1(") and description.endswith(")"):
        return description[len("expm1("):-1]
    return description


def refuse_without_depth(chosen: CountsSource, source: str,
                         **features: Any) -> None:
    """Refuse the ``features`` set (``remove_ambient=True``) that need each
    cell's own depth, which counts taken as an expm1 (:func:`log1p_counts`),
    normalised to one total per cell, have lost.

    Examples
    --------
    >>> from deepchem_actinn.io.count_matrix import (CountsSource,
    ...                                              refuse_without_depth)
    >>> chosen = CountsSource(None, None, "expm1(.raw.X)")
    >>> refuse_without_depth(chosen, "AnnData", remove_ambient=False)
    >>> refuse_without_depth(chosen, "AnnData", remove_ambient=True)
    ... # doctest: +ELLIPSIS, +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ACTINNInputError: AnnData: remove_ambient needs raw counts, ...
    """
    if read_from(chosen.description) == chosen.description:
        return
    for name, value in features.items():
        if value:
            raise ACTINNInputError(
                "%s: %s needs raw counts, each cell's own depth; %s holds "
                "counts normalised to one total per cell: keep the raw "
                "counts (adata.layers['counts'] = adata.X.copy() before "
                "normalising) to use it" % (source, name, chosen.description))


def named_matrix(layer: Optional[str],
                 use_raw: Optional[bool]) -> Optional[str]:
    """The matrix ``layer`` / ``use_raw`` name, in the words of a record;
    None when they name none.

    Examples
    --------
    >>> from deepchem_actinn.io.count_matrix import named_matrix
    >>> named_matrix("counts", None), named_matrix(None, True)
    ("layers['counts']", '.raw.X')
    >>> named_matrix(None, False), named_matrix(None, None)
    ('X', None)
    """
    if use_raw:
        return ".raw.X"
    if layer is not None:
        return "layers[%r]" % layer
    return "X" if use_raw is False else None


def matrix_choice(
        description: str,
        layer: Optional[str] = None,
        use_raw: Optional[bool] = None) -> Tuple[Optional[str], Optional[bool]]:
    """``(layer, use_raw)`` naming the matrix a record calls
    ``description`` (:func:`named_matrix` the other way round): ``X`` is
    named by the ``layer`` / ``use_raw`` given (None, None: the reader
    takes ``X`` where it holds counts)."""
    if description == ".raw.X":
        return None, True
    if description.startswith("layers["):
        return description[8:-2], None
    return layer, use_raw
