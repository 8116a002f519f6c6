"""Annotating an AnnData object in place, the way scanpy tools do."""
import copy
import logging
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from deepchem_actinn.annotator.annotation import Annotation
from deepchem_actinn.annotator.anndata_write import (probability_column_names,
                                                     write_annotation)
from deepchem_actinn.annotator.annotator import ACTINNAnnotator
from deepchem_actinn.annotator.backed import annotate_backed, refuse_backed
from deepchem_actinn.errors import ACTINNInputError, counted, examples
from deepchem_actinn.io import counts_source
from deepchem_actinn.io.count_matrix import (CountsSource, read_from,
                                             refuse_without_depth,
                                             select_matrix, with_x_columns)
from deepchem_actinn.io.cell_labels import cell_positions, has_label
from deepchem_actinn.io.labels import TRAINING_HINT
from deepchem_actinn.preprocessing.genes import query_genes
from deepchem_actinn.voting import MIN_VOTE_PROBABILITY, check_share

logger = logging.getLogger(__name__)


def annotate(adata,
             annotator: Any,
             layer: Optional[str] = None,
             use_raw: Optional[bool] = None,
             unassigned: bool = False,
             threshold: Optional[float] = None,
             key_added: str = "actinn",
             majority_voting: bool = False,
             over_clustering: Any = None,
             hierarchy: Any = None,
             vote_min_probability: float = MIN_VOTE_PROBABILITY,
             remove_ambient: bool = False,
             allow_non_integer: bool = False,
             min_overlap: Optional[float] = None,
             chunk_size: int = 50_000,
             probability_columns: bool = False) -> Annotation:
    """Annotate an AnnData in place, the way scanpy tools do.

    Writes ``obs[key_added + "_cell_type"]`` (categorical),
    ``obs[key_added + "_confidence"]``, ``obsm[key_added + "_probabilities"]``
    (cells x types) and ``uns[key_added]`` (type names, genes matched, the
    matrix the counts came from, e.g. ``"X"``, ``".raw.X"``,
    ``"layers['counts']"`` or ``"expm1(.raw.X)"``, and the package version), so predictions can be plotted on a UMAP straight away. With
    ``majority_voting``: ``obs[key_added + "_majority_voting"]``,
    ``obs[key_added + "_over_clustering"]`` and ``uns[key_added]["clusters"]``
    (the per-cluster table); with a ``hierarchy``:
    ``obs[key_added + "_level"]``; with ``remove_ambient``:
    ``obs[key_added + "_ambient_fraction"]``; with ``unassigned``:
    ``obs[key_added + "_unassigned_reason"]`` (categorical: why each cell is
    ``Unassigned``, ``"novel"`` or ``"low_probability"``; missing, NaN, for
    a cell given a type, which ``sc.pl.umap`` draws in its ``na_color``
    and names NA; :attr:`Annotation.unassigned_reason`, where it is
    ``""``),
    ``obs[key_added + "_novelty_score"]`` (higher is more typical of the
    reference; :attr:`Annotation.novelty_score`), and
    ``uns[key_added]["query_scale"]`` (and ``"type_scales"``): how the rule
    was calibrated to this query, which the labels depend on; with a
    ``threshold``, ``obs[key_added + "_unassigned_reason"]`` too
    (``"low_probability"`` for every cell it marks). What an earlier run
    wrote under the same ``key_added`` is replaced, and the colours scanpy
    kept for its categorical columns (``uns[column + "_colors"]``) are
    dropped: they would go to other types.

    An AnnData whose counts are a Dask array (anndata's lazy reading, e.g.
    ``anndata.experimental.read_elem_lazy(f["X"])``; ``read_lazy`` needs
    xarray too) is annotated on the running
    ``dask.distributed`` cluster, block by block on the workers
    (:func:`~deepchem_actinn.distributed.predict_dask`; the ``distributed``
    extra); the matrix named (``X`` by default) must then hold raw counts,
    which each worker checks.

    An AnnData read backed (``anndata.read_h5ad(path, backed="r")``) is
    annotated from its file, ``chunk_size`` cells at a time
    (:meth:`~deepchem_actinn.ACTINNAnnotator.predict_file`, choosing the
    counts and matching the genes as it does): only a chunk's counts and the
    cells' results are held in memory, and what is written is what the
    AnnData read into memory gets (``Unassigned`` decided on all the cells
    at once). Refused, saying ``adata.to_memory()`` first: a view of one
    (``adata[mask]``), ``obs_names`` or ``var_names`` changed since it was
    read, counts that cannot be read a chunk of cells at a time (stored by
    columns), genes matched through a ``var`` column that ``.raw``'s
    lacks, and ``majority_voting``, ``over_clustering``, ``hierarchy`` and
    ``remove_ambient``, which need the whole query in memory.

    The counts are chosen by the package's one rule
    (:func:`~deepchem_actinn.io.counts_source`, as ``actinn
    predict`` does): ``layer=`` or ``use_raw=`` when given; otherwise ``X``
    when it holds counts, else ``.raw``, else a counts layer
    (``layers['counts']``), else, where ``X`` or else ``.raw.X`` is
    provably the natural log1p of per-cell normalised counts (scanpy's
    ``normalize_total`` then ``log1p``, CellTypist's input: non-integer,
    non-negative values, none over 50, whose ``expm1`` sums to one total in
    every cell, within 0.1 %), the ``expm1`` of it (a copy, non-integer
    values allowed; said in the log, ``uns[key_added]["counts"]`` reads
    ``"expm1(.raw.X)"``): each cell's counts up to a factor, which the
    annotator's per-cell normalisation removes, so the labels are those of
    the counts; ``remove_ambient``, which needs each cell's depth, is
    refused with it. Else an :class:`ACTINNInputError` saying what was
    found (with how to take the ``expm1`` of log values that cannot be
    proved so, an HVG subset or ``log2``). A backed AnnData is not read
    so: read it into memory. Gene identifiers come from ``var_names`` or whichever string
    column of ``var`` matches the model's genes best (for counts in
    ``.raw`` of X's very genes, a column X's ``var`` has and raw's lacks
    too, as symbols added after ``adata.raw = adata.copy()``).

    Parameters
    ----------
    adata: anndata.AnnData
        Cells x genes.
    annotator: ACTINNAnnotator, str or os.PathLike
        A fitted annotator, or the directory one was saved to
        (:meth:`ACTINNAnnotator.save`), in the place of CellTypist's
        ``model=`` (a model or its file); the keyword is ``annotator=``.
    layer: str, optional
        Read the counts from ``adata.layers[layer]``.
    use_raw: bool, optional
        True reads ``adata.raw``; False insists on ``X``; None follows the
        rule above.
    unassigned, threshold:
        As in :meth:`ACTINNAnnotator.predict`.
    key_added: str, default "actinn"
        Prefix of the keys written (a non-empty str without ``/``).
    majority_voting, hierarchy, vote_min_probability, remove_ambient:
        As in :meth:`ACTINNAnnotator.predict`.
    over_clustering: str or array, optional
        The clusters to vote over with ``majority_voting`` (refused
        without it): an ``obs`` column name, or one label per cell;
        default: Leiden clusters of the neighbour graph the AnnData holds
        (``obsp["connectivities"]``, from ``sc.pp.neighbors``), as
        CellTypist takes it, else of the query's counts. ``obs[key_added +
        "_over_clustering"]`` keeps a categorical column's order of
        clusters, else puts them in natural order (2 before 10).
    allow_non_integer: bool, default False
        Take non-integer values as counts on another scale (such as TPM);
        values that look log-normalised are refused all the same (but for
        the ``expm1`` of provable log1p values, above).
    min_overlap: float, optional
        Smallest share of the model's genes the query must hold, for this
        call (the annotator passed keeps its own); default: the
        annotator's ``min_overlap`` (0.5 unless set). A query refused for
        holding too few says the value that accepts it.
    chunk_size: int, default 50,000
        Cells read at a time from a backed AnnData's file (ignored for an
        AnnData in memory).
    probability_columns: bool, default False
        Also write each type's probability as an ``obs`` column,
        ``obs[key_added + "_probability_" + type]`` (float32, in
        ``uns[key_added]["type_names"]`` order), for
        ``sc.pl.umap(adata, color="actinn_probability_B cell")``, as
        CellTypist's ``to_adata(insert_prob=True)`` does (there named by
        the type alone; a ``/`` in a type's name, which anndata refuses
        in a key, is written ``_``). An earlier run's such columns under
        ``key_added`` are removed either way.

    Returns
    -------
    Annotation

    Examples
    --------
    >>> import anndata
    >>> from deepchem_actinn import (ACTINNAnnotator, annotate,
    ...                              load_tabula_muris_sample)
    >>> train, test = load_tabula_muris_sample()
    >>> model = ACTINNAnnotator(max_epochs=2, n_networks=1).fit(
    ...     train.X, train.var_names, train.obs["cell_type"], train.obs_names)
    >>> result = annotate(test, model)
    >>> test.obs["actinn_cell_type"].shape
    (1000,)
    """
    _check_anndata(adata)
    if not isinstance(key_added, str) or not key_added:
        raise ACTINNInputError(
            "key_added must be a non-empty str, the prefix of the keys "
            "written (e.g. 'actinn' writes obs['actinn_cell_type']), got %r" %
            (key_added,))
    if "/" in key_added:
        raise ACTINNInputError(
            "key_added must hold no '/', which anndata refuses in the keys "
            "it writes (write_h5ad), got %r" % key_added)
    check_share(vote_min_probability, "vote_min_probability")
    if getattr(adata, "isbacked", False):
        refuse_backed(
            adata,
            dict(majority_voting=majority_voting,
                 over_clustering=over_clustering,
                 hierarchy=hierarchy,
                 remove_ambient=remove_ambient))
    annotator = _fitted(annotator, min_overlap)
    if probability_columns:  # refused before any work
        probability_column_names(annotator.type_names, key_added)
    if getattr(adata, "isbacked", False):
        result, matrix = annotate_backed(adata, annotator, layer, use_raw,
                                         unassigned, threshold,
                                         allow_non_integer, chunk_size)
        write_annotation(adata,
                         result,
                         key_added,
                         matrix,
                         per_type=probability_columns)
        return result
    lazy = _lazy_counts(adata, layer, use_raw)
    if lazy is not None:
        return _annotate_lazy(adata, annotator, lazy, unassigned, threshold,
                              key_added, majority_voting or hierarchy or
                              remove_ambient, allow_non_integer,
                              probability_columns)
    chosen = counts_source(adata,
                           layer,
                           use_raw,
                           allow_non_integer=allow_non_integer,
                           source="AnnData",
                           expm1_hint=True,
                           log1p=True)
    refuse_without_depth(chosen, "AnnData", remove_ambient=remove_ambient)
    column, genes = _query_genes(annotator, chosen, adata)
    counts: Any = chosen.matrix
    result = annotator.predict(counts,
                               genes,
                               adata.obs_names,
                               unassigned,
                               threshold,
                               gene_column=column,
                               majority_voting=majority_voting,
                               over_clustering=_clusters(
                                   adata, over_clustering, majority_voting,
                                   annotator.seed),
                               hierarchy=hierarchy,
                               vote_min_probability=vote_min_probability,
                               remove_ambient=remove_ambient)
    write_annotation(adata, result, key_added, chosen.description,
                     _categories(adata, over_clustering), probability_columns)
    return result


def _none_matched(labels: pd.Series, obs_names: pd.Index,
                  column: Optional[str]) -> ACTINNInputError:
    """The refusal of a Series of labels whose index names no cell (row
    numbers, 1 to n as R counts them): no cell has a label, and
    ``labelled_only`` would not help."""
    return ACTINNInputError(
        "labels: the Series' index names none of the obs_names (its index: "
        "%s; obs_names: %s): pass the name of %s, or a Series indexed by "
        "obs_names%s" %
        (examples(labels.index, 3), examples(obs_names, 3),
         "an obs column of labels" if column is None else "the obs column, %r" %
         column,
         " (labels.set_axis(adata.obs_names), where it is in their order)"
         if len(labels) == len(obs_names) else ""))


def train(adata,
          labels: Any = "cell_type",
          layer: Optional[str] = None,
          use_raw: Optional[bool] = None,
          allow_non_integer: bool = False,
          labelled_only: bool = False,
          progress: Optional[Callable[[Dict[str, Any]], None]] = None,
          **params: Any) -> ACTINNAnnotator:
    """Train an annotator on a labelled AnnData, the way ``annotate`` reads
    one: the counts found by the same rule, the labels from ``obs``.

    The counterpart of :func:`annotate` (and of CellTypist's
    ``celltypist.train(adata, labels=...)``): a scanpy reference whose
    ``X`` is log-normalised keeps its counts in ``.raw`` or a layer, and
    they are the ones trained on. One that kept none, but whose ``X`` or
    ``.raw.X`` is provably the natural log1p of per-cell normalised counts,
    is trained on the ``expm1`` of it, as :func:`annotate` reads a query
    (``augment``, which thins true counts, is refused with it).

    Parameters
    ----------
    adata: anndata.AnnData
        The reference, cells x genes.
    labels: str or sequence of str, default "cell_type"
        An ``obs`` column holding each cell's type, one type per cell in
        row order, or a pandas Series indexed by cell id (matched by id;
        one indexed as the cells are, as the ``obs`` column itself, is in
        row order, repeated cell ids and all). Matching by id refuses
        ``obs_names`` that repeat (two samples concatenated without
        ``index_unique``), naming them: a column's name needs no ids.
    layer, use_raw, allow_non_integer:
        Where the counts are, as in :func:`annotate`.
    labelled_only: bool, default False
        Train on the cells with a label (a value in the column) only; by
        default every cell needs one.
    progress: callable, optional
        As in :meth:`ACTINNAnnotator.fit`: called after each epoch.
    **params:
        The annotator's parameters (:class:`ACTINNAnnotator`), e.g.
        ``n_networks=1`` or ``seed=0``; checked before the data are read.

    Returns
    -------
    ACTINNAnnotator
        Fitted; its training record names the matrix trained on, as
        ``annotate`` names a query's (``training_["reference"]["matrix"]``:
        ``"X"``, ``".raw.X"``, ``"layers['counts']"`` or
        ``"expm1(.raw.X)"``).

    Raises
    ------
    ACTINNInputError
        No such ``obs`` column (the message lists them), cells without a
        label (naming them), cell ids a Series cannot be matched by, or no
        counts found.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn import load_tabula_muris_sample, train
    >>> reference, _ = load_tabula_muris_sample()
    >>> reference.raw = reference.copy()  # as scanpy leaves it:
    >>> reference.X = np.log1p(reference.X)  # counts in .raw, X logged
    >>> annotator = train(reference, "cell_type", max_epochs=2, n_networks=1)
    >>> len(annotator.type_names)
    12
    """
    _refuse_backed(
        adata, "train from the file with "
        "ACTINNAnnotator().fit_file(path, labels)")
    annotator = ACTINNAnnotator(**params)  # a wrong name fails before reading
    if isinstance(labels, str):
        if labels not in adata.obs.columns:
            raise ACTINNInputError(
                "no obs column %r to take the labels from; the columns are: "
                "%s" % (labels, examples(list(adata.obs.columns)) or "none"))
        values = adata.obs[labels]
    elif isinstance(labels, pd.Series) and not labels.index.equals(
            pd.RangeIndex(len(labels))):
        # by cell id, as fit matches a Series (cells it lacks: no label)
        column = (labels.name if isinstance(labels.name, str) and
                  labels.name in adata.obs.columns else None)
        where = cell_positions(
            labels.index, adata.obs_names, "labels", "obs_names",
            "" if column is None else "; or pass the name of the obs "
            "column, %r: a column is taken in row order, needing no cell "
            "ids" % column)
        if len(labels) and len(where) and (where < 0).all():
            raise _none_matched(labels, adata.obs_names, column)
        matched = np.full(len(where), None, dtype=object)
        matched[where >= 0] = labels.to_numpy(dtype=object)[where[where >= 0]]
        values = pd.Series(matched, index=adata.obs_names)
    else:
        given_labels = list(labels)
        if len(given_labels) != adata.n_obs:
            raise ACTINNInputError("%d labels for %d cells" %
                                   (len(given_labels), adata.n_obs))
        values = pd.Series(given_labels, index=adata.obs_names, dtype=object)
    given = has_label(values)
    chosen = counts_source(adata,
                           layer,
                           use_raw,
                           allow_non_integer=allow_non_integer,
                           source="AnnData",
                           expm1_hint=True,
                           log1p=True)
    refuse_without_depth(chosen, "AnnData", augment=annotator.augment)
    counts: Any = chosen.matrix
    cells = adata.obs_names
    if not given.all():
        missing = cells[~given]
        if not labelled_only or not given.any():
            raise ACTINNInputError("%s no label: %s%s",
                                   counted(len(missing), "cell", "has/have"),
                                   examples(missing),
                                   "" if labelled_only else TRAINING_HINT)
        logger.warning(
            "%d of %d cells have no label and were left out "
            "(labelled_only); training on %d", len(missing), len(cells),
            int(given.sum()))
        counts, cells = counts[given], cells[given]
    annotator.fit(counts, chosen.var.index,
                  values[given].astype(str).to_numpy(), cells, progress)
    # the record says which matrix was trained on, in annotate's words
    annotator.training_["reference"]["matrix"] = chosen.description
    return annotator


def _fitted(annotator: Any,
            min_overlap: Optional[float] = None) -> ACTINNAnnotator:
    """The annotator to annotate with: a fitted one, or the one saved in
    the directory ``annotator`` names; with ``min_overlap`` a shallow copy
    of it (the networks shared) that holds it."""
    if isinstance(annotator, (str, os.PathLike)):
        annotator = ACTINNAnnotator.load(annotator)
    elif not isinstance(annotator, ACTINNAnnotator):
        raise TypeError(
            "expected a fitted ACTINNAnnotator or the directory one was "
            "saved to (ACTINNAnnotator.save), got %s" %
            type(annotator).__name__)
    annotator._check_fitted()
    if min_overlap is None:
        return annotator
    return copy.copy(annotator).set_params(min_overlap=min_overlap)


def _check_anndata(adata) -> None:
    """Refuse what is not an AnnData."""
    if not hasattr(adata, "obs_names") or not hasattr(adata, "var"):
        raise TypeError(
            "expected an anndata.AnnData (cells x genes, counts in X or a "
            "layer), got %s: wrap a matrix as anndata.AnnData(X, obs=..., "
            "var=pd.DataFrame(index=genes)), or call the annotator's "
            "fit / predict with the matrix and its gene names" %
            type(adata).__name__)


def _refuse_backed(adata, instead: str) -> None:
    """Refuse what is not an AnnData, and an AnnData whose counts are still
    on disk (backed mode), saying what to do ``instead``."""
    _check_anndata(adata)
    if getattr(adata, "isbacked", False):
        raise ACTINNInputError(
            "this AnnData is backed by %s, its counts still on disk: call "
            "adata.to_memory() first, or %s" % (adata.filename, instead))


def _lazy_counts(adata, layer: Optional[str],
                 use_raw: Optional[bool]) -> Optional[CountsSource]:
    """The matrix ``layer``/``use_raw`` name (X by default) when it is a
    Dask array, as anndata's lazy reading gives; None otherwise (an X
    absent with nothing named too: the counts rule looks in its stead)."""
    from deepchem_actinn.distributed.dask_predict import is_dask_array
    if adata.X is None and layer is None and use_raw is None:
        return None
    chosen = select_matrix(adata, layer, use_raw, "AnnData")
    return chosen if is_dask_array(chosen.matrix) else None


def _annotate_lazy(adata, annotator: ACTINNAnnotator, chosen: CountsSource,
                   unassigned: bool, threshold: Optional[float], key_added: str,
                   whole_query: Any, allow_non_integer: bool,
                   per_type: bool) -> Annotation:
    """Annotate a Dask matrix on the running dask.distributed cluster
    (:func:`~deepchem_actinn.distributed.predict_dask`): each block is read,
    checked to hold counts and scored on a worker. The counts rule cannot
    look for raw counts elsewhere without reading the matrix, so the matrix
    named (X by default) must hold them."""
    from deepchem_actinn.distributed import predict_dask
    if whole_query:
        raise ACTINNInputError(
            "AnnData: %s is a Dask array; majority voting, a hierarchy and "
            "remove_ambient need the query in memory (adata.to_memory())" %
            chosen.description)
    column, genes = _query_genes(annotator, chosen, adata)
    result = predict_dask(annotator,
                          chosen.matrix,
                          genes,
                          adata.obs_names,
                          unassigned=unassigned,
                          threshold=threshold,
                          what=chosen.description,
                          allow_non_integer=allow_non_integer)
    result.gene_column = column
    write_annotation(adata,
                     result,
                     key_added,
                     chosen.description,
                     per_type=per_type)
    return result


def _query_genes(annotator: ACTINNAnnotator, chosen: CountsSource,
                 adata) -> Tuple[str, List[str]]:
    """The query's gene identifiers that match the model's genes best (their
    column's name and the names), saying when they are not ``var_names``
    or are capitalised as another species writes gene symbols. Counts in
    ``.raw`` of X's genes (``adata.raw = adata.copy()``) may be matched
    through a column X's var has and raw's lacks (symbols added after)."""
    var, borrowed = (with_x_columns(adata, chosen.var) if read_from(
        chosen.description) == ".raw.X" else (chosen.var, []))
    column, names = query_genes(annotator.genes_,
                                var,
                                annotator.min_overlap,
                                overlap_argument=True)
    if column in ["var['%s']" % c for c in borrowed]:
        logger.info("%s is X's var column: .raw holds the same genes", column)
    return column, names


def _categories(adata, over_clustering: Any) -> Optional[List[str]]:
    """A categorical ``obs`` column's (or Categorical's) categories, in
    their order, as text; None for anything else."""
    if isinstance(over_clustering, str) and over_clustering in adata.obs:
        over_clustering = adata.obs[over_clustering]
    dtype = getattr(over_clustering, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype):
        return [str(c) for c in dtype.categories]
    return None


def _clusters(adata, over_clustering: Any, majority_voting: bool,
              seed: int) -> Any:
    """An ``obs`` column's values when ``over_clustering`` names one; for a
    vote without clusters given, Leiden clusters of the neighbour graph
    scanpy built (``obsp["connectivities"]``), when there is one."""
    graph = adata.obsp["connectivities"] if ("connectivities"
                                             in adata.obsp) else None
    if over_clustering is None and majority_voting and graph is not None:
        from deepchem_actinn.voting import over_cluster_graph
        logger.info("AnnData: over-clustering its own neighbour graph "
                    "(obsp['connectivities'], as sc.pp.neighbors built it)")
        return over_cluster_graph(graph, seed=seed)
    if isinstance(over_clustering, str):
        from deepchem_actinn.voting import clusters_from_obs
        return clusters_from_obs(adata, over_clustering)
    return over_clustering
