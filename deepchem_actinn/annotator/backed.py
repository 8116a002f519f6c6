"""Annotating an AnnData read backed (``anndata.read_h5ad(path,
backed="r")``), whose counts stay in its file.

:func:`~deepchem_actinn.annotate` streams the file chunk by chunk through
:meth:`ACTINNAnnotator.predict_file
<deepchem_actinn.ACTINNAnnotator.predict_file>` (the counts matrix and the
genes chosen as it chooses them), joins the chunks' annotations and decides
``Unassigned`` on all the cells at once, as an annotation in memory decides
it (:func:`~deepchem_actinn.distributed.dask_predict.decide_unassigned`,
shared with the Dask path): only a chunk's counts and each cell's results are
held. The AnnData's ``obs_names`` and ``var_names`` must still be the file's,
since the results are written into its ``obs``; what needs the whole query
in memory is refused.
"""
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from deepchem_actinn.annotator.annotation import Annotation
from deepchem_actinn.errors import ACTINNInputError

#: What ``annotate`` refuses on a backed AnnData: each needs all the
#: query's counts (or all its cells' labels) in one place.
WHOLE_QUERY = ("majority_voting", "over_clustering", "hierarchy",
               "remove_ambient")


def refuse_backed(adata, options: Dict[str, Any]) -> None:
    """Refuse a view of a backed AnnData, and the ``options`` (of
    :data:`WHOLE_QUERY`) given that need the whole query in memory, before
    any work."""
    if adata.is_view:
        raise ACTINNInputError(
            "this AnnData is a view of one backed by %s (adata[...]): "
            "annotate writes into obs, which a view has not of its own; call "
            "adata.to_memory() first (the view's cells read into memory)" %
            adata.filename)
    given = [
        name for name in WHOLE_QUERY
        if options.get(name) is not None and options.get(name) is not False
    ]
    if given:
        raise ACTINNInputError(
            "this AnnData is backed by %s, its counts on disk: %s need%s the "
            "whole query in memory; call adata.to_memory() first" %
            (adata.filename, " and ".join(given),
             "s" if len(given) == 1 else ""))


def _same_names(ours: Any,
                theirs: Any,
                what: str,
                path: str,
                start: int = 0) -> None:
    """Refuse names of the AnnData (``ours``, from ``start``) that are not
    the file's (``theirs``), naming the first that differs."""
    here = np.asarray(ours, dtype=object)
    there = np.asarray(theirs, dtype=object)
    n = min(len(here), len(there))
    differ = np.flatnonzero(here[:n] != there[:n])
    if len(differ):
        at = int(differ[0])
        detail = "%s[%d] is %r here, %r in the file" % (what, start + at,
                                                        here[at], there[at])
    elif len(here) != len(there):
        detail = "%d %s here, %d in the file" % (start + len(here), what,
                                                 start + len(there))
    else:
        return
    raise ACTINNInputError(
        "this AnnData is backed by %s, but its %s are no longer the file's "
        "(%s): the counts are streamed from the file; call adata.to_memory() "
        "first" % (path, what, detail))


def _settled_by_rows(path: str, layer: Any, use_raw: Any,
                     allow_non_integer: bool) -> Tuple[Any, Optional[str]]:
    """The matrix every chunk reads
    (:func:`~deepchem_actinn.io.h5ad.settle_by_rows`: never by reading the
    file whole, as ``settle_matrix`` reads one stored by columns), or None
    and why the counts cannot be read a chunk of cells at a time."""
    from deepchem_actinn.io._common import NoDirectAccess
    from deepchem_actinn.io.content import reading
    from deepchem_actinn.io.formats import FORMAT_WORDS
    from deepchem_actinn.io.h5ad import settle_by_rows
    try:
        with reading(Path(path), FORMAT_WORDS["h5ad"]):
            return settle_by_rows(path, layer, use_raw, allow_non_integer), None
    except NoDirectAccess as err:
        return None, str(err)
    except (OSError, KeyError):
        return None, None


def _refuse_borrowed_genes(annotator: Any, adata, raw_var: Any,
                           path: str) -> None:
    """Refuse counts in ``.raw`` whose genes the AnnData in memory would
    match through a column of X's ``var`` that ``.raw``'s lacks (symbols
    added after ``adata.raw = adata``): the file's ``.raw`` has not got
    it, so streaming it would match other genes, or none."""
    from deepchem_actinn.io.count_matrix import with_x_columns
    from deepchem_actinn.preprocessing.genes import (choose_gene_column,
                                                     gene_candidates)
    var, extra = with_x_columns(adata, raw_var)
    if not extra:
        return
    try:
        column = choose_gene_column(annotator.genes_,
                                    gene_candidates(var.index, var),
                                    annotator.min_overlap)[0]
    except ACTINNInputError:
        return
    if column in ["var['%s']" % c for c in extra]:
        raise ACTINNInputError(
            "this AnnData is backed by %s: its counts are in .raw, whose "
            "genes match the model's through %s, a column of X's var that "
            ".raw's var lacks and the streamed file cannot lend; call "
            "adata.to_memory() first" % (path, column))


def annotate_backed(adata, annotator: Any, layer: Any, use_raw: Any,
                    unassigned: bool, threshold: Any, allow_non_integer: bool,
                    chunk_size: int) -> Tuple[Annotation, str]:
    """The annotation of a backed AnnData's cells, streamed from its file
    ``chunk_size`` cells at a time, and the matrix the counts came from in
    ``uns``'s words (``"X"``, ``".raw.X"``, ``"layers['counts']"``)."""
    from deepchem_actinn.distributed.dask_predict import (decide_unassigned,
                                                          join_annotations)
    from deepchem_actinn.io.h5ad import h5ad_var_names
    from deepchem_actinn.preprocessing.genes import (choose_gene_column,
                                                     gene_candidates)
    path = str(adata.filename)
    if isinstance(chunk_size,
                  bool) or not isinstance(chunk_size,
                                          (int, np.integer)) or chunk_size < 1:
        raise ACTINNInputError(
            "chunk_size must be a whole number of cells, at least 1, got %r" %
            (chunk_size,))
    if not os.path.isfile(path):
        raise ACTINNInputError(
            "this AnnData is backed by %s, which is not found from the "
            "working directory %s (annotate reads the file by its name): "
            "open it by an absolute path, or call adata.to_memory() first" %
            (path, os.getcwd()))
    _same_names(adata.var_names, h5ad_var_names(path), "var_names", path)
    settled, unread = _settled_by_rows(path, layer, use_raw, allow_non_integer)
    if settled is None:
        raise ACTINNInputError(
            "this AnnData is backed by %s, whose counts cannot be read a "
            "chunk of cells at a time%s: call adata.to_memory() first" %
            (path, " (%s)" % unread if unread else ""))
    counts = settled.matrix
    if counts == ".raw.X" and adata.raw is not None:
        _same_names(adata.raw.var_names, h5ad_var_names(path, raw=True),
                    "raw.var_names", path)
    # too few of the model's genes: refused as annotate in memory refuses
    # it, its advice the keyword of annotate (predict_file's is the
    # annotator's attribute)
    raw = counts == ".raw.X" and adata.raw is not None
    var = adata.raw.var if raw else adata.var
    if raw:
        _refuse_borrowed_genes(annotator, adata, var, path)
    try:
        choose_gene_column(annotator.genes_,
                           gene_candidates(var.index, var),
                           annotator.min_overlap,
                           overlap_argument=True)
    except ACTINNInputError as err:
        raise ACTINNInputError("%s: %s", path, err) from None
    parts, start = [], 0
    for part in annotator.predict_file(
            path,
            "h5ad",
            chunk_size,
            upper_case_genes=False,  # as var holds them
            unassigned=unassigned,
            threshold=threshold,
            allow_non_integer=allow_non_integer,
            layer=settled.layer,
            use_raw=settled.use_raw):
        # a cell renamed in memory stops the stream at its chunk
        _same_names(adata.obs_names[start:start + len(part)], part.cell_ids,
                    "obs_names", path, start)
        parts.append(part)
        start += len(part)
    _same_names(adata.obs_names[start:], [], "obs_names", path, start)
    if not parts:
        raise ACTINNInputError("%s: no cells to annotate" % path)
    joined = join_annotations(parts,
                              np.concatenate([p.cell_ids for p in parts]),
                              parts[0].genes_missing, parts[0].gene_column)
    return decide_unassigned(joined, annotator, None), counts
