"""Prediction on a Dask cluster: query chunks computed on the workers.

A trained :class:`~deepchem_actinn.annotator.ACTINNAnnotator` is sent to
every worker once (``client.scatter(..., broadcast=True)``); each task then
receives only its rows of the query, normalises them and runs the networks
where they are. Genes are matched once on the client, so a query that does
not fit the model is refused before any task is sent. The networks and the
probabilities' calibration look at one cell at a time, so the workers'
probabilities are those of a plain run. The ``Unassigned`` rule does not: it
is calibrated against the query (the median of its cells' novelty scores,
:meth:`~deepchem_actinn.confidence.RejectionRule.query_scale`), and a
block's median is not the query's. So the workers send back each cell's
score (``Annotation.novelty_score``) and the client decides, with
:meth:`RejectionRule.decide
<deepchem_actinn.confidence.RejectionRule.decide>`, as a plain run does:
over all the cells at once in :func:`predict_dask` (as
:meth:`ACTINNAnnotator.predict` on the whole query), chunk by chunk in file
order in :func:`predict_file_dask` (as :meth:`ACTINNAnnotator.predict_file`
with the same ``chunk_size``: a chunk under
:data:`~deepchem_actinn.confidence.MIN_CALIBRATION_CELLS` cells
takes the previous chunk's calibration). Labels, probabilities,
``query_scale`` and ``unassigned_reason`` are those of the plain run, in
the query's order.

Two entry points:

- :func:`predict_dask` takes a Dask array (cells x genes, dense or SciPy
  sparse blocks), as anndata's lazy reading gives for a large ``.h5ad``
  (``anndata.experimental.read_elem_lazy``, or ``read_lazy`` with xarray
  installed), and returns one :class:`~deepchem_actinn.annotator.Annotation`.
- :func:`predict_file_dask` takes a file path: each task opens the file and
  reads its own range of rows with
  :func:`~deepchem_actinn.io.iter_cell_chunks`, and the chunks'
  annotations come back one by one in file order. The path must be readable
  by every worker under the same name (a shared or network file system).

Dask is an optional dependency: the ``distributed`` extra.
"""
import collections
import dataclasses
import os
import sys
from typing import (TYPE_CHECKING, Any, Deque, Dict, Iterator, List, Optional,
                    Sequence, Union)

import numpy as np

from deepchem_actinn.errors import (ACTINNCellError, ACTINNInputError,
                                    install_extra)

if TYPE_CHECKING:
    from deepchem_actinn.annotator import ACTINNAnnotator, Annotation
    from deepchem_actinn.confidence import QueryCalibration

_INSTALL = ("Dask prediction needs dask.distributed: " +
            install_extra("distributed"))


def require_distributed():
    """Dask's ``distributed`` module (importing ``dask.array`` too), for
    a caller that starts its own ``Client``; an ImportError that says what
    to install when Dask is missing.

    Returns
    -------
    distributed
        Dask's ``distributed`` module.

    Raises
    ------
    ImportError
        ``dask.distributed`` is not installed; the message gives the
        install line of the package's ``distributed`` extra.

    Examples
    --------
    >>> from deepchem_actinn.distributed import require_distributed
    >>> require_distributed().__name__
    'distributed'
    """
    try:
        import dask.array  # noqa: F401
        import distributed
    except ImportError as err:
        raise ImportError(_INSTALL) from err
    return distributed


def is_dask_array(X: Any) -> bool:
    """Whether ``X`` is a Dask array (without importing Dask if it is not
    loaded).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.distributed import is_dask_array
    >>> is_dask_array(np.zeros((2, 3)))
    False
    """
    if "dask.array" not in sys.modules:
        return False
    import dask.array as da
    return isinstance(X, da.Array)


def _client(client):
    distributed = require_distributed()
    if client is not None:
        return client
    try:
        return distributed.get_client()
    except ValueError:
        raise ValueError("no dask.distributed Client is running: start one "
                         "first (client = distributed.Client(address))")


class _Worker:
    """What each worker holds once: the annotator and how to call it."""

    def __init__(self, annotator: "ACTINNAnnotator", genes: List[str],
                 gene_column: str, unassigned: bool,
                 threshold: Optional[float]) -> None:
        self.annotator = annotator
        self.genes = genes
        self.gene_column = gene_column
        self.unassigned = unassigned
        self.threshold = threshold

    def predict(self, X, cell_ids: Any) -> "Annotation":
        # one chunk, its values checked where it was read
        (result,) = self.annotator.iter_predict([(cell_ids, X)],
                                                self.genes,
                                                self.unassigned,
                                                self.threshold,
                                                gene_column=self.gene_column,
                                                checked=True)
        return result


def _predict_block(worker: _Worker,
                   X,
                   cell_ids: np.ndarray,
                   what: str,
                   allow_non_integer: bool = False) -> "Annotation":
    """One block of a Dask array, on a worker: its values checked to be
    counts (the one count check, naming the block's cells), then
    annotated."""
    from deepchem_actinn.io import check_count_values
    if not isinstance(X, np.ndarray) and hasattr(X, "tocsr"):
        X = X.tocsr()  # CSC blocks, pydata/sparse COO blocks
    check_count_values(X,
                       cell_ids,
                       what=what,
                       source="the Dask array",
                       allow_non_integer=allow_non_integer)
    return worker.predict(X, cell_ids)


def _predict_rows(worker: _Worker, path: str, start: int, chunk_size: int,
                  read_options: dict) -> "Annotation":
    """Rows ``start:start + chunk_size`` of a file, read and annotated on a
    worker."""
    from deepchem_actinn.io import iter_cell_chunks
    ((cell_ids, X),) = iter_cell_chunks(path,
                                        chunk_size,
                                        starts=[start],
                                        **read_options)
    return worker.predict(X, cell_ids)


def _ship(client, annotator: "ACTINNAnnotator", genes: Sequence[str],
          gene_column: str, unassigned: bool, threshold: Optional[float]):
    """Send the annotator to every worker, once; returns its Future."""
    worker = _Worker(annotator, [str(g) for g in genes], gene_column,
                     bool(unassigned),
                     None if threshold is None else float(threshold))
    # hash=False: a random key, so Dask does not pickle the annotator a
    # second time just to name it
    return client.scatter(worker, broadcast=True, hash=False)


def join_annotations(parts: List["Annotation"], cell_ids: np.ndarray,
                     genes_missing: int, gene_column: str) -> "Annotation":
    """The blocks' (or chunks') annotations as one (labels still as each
    block decided: see :func:`decide_unassigned`): the first block's, with
    every block's cells. ``annotate`` of a backed AnnData joins its file's
    chunks with it too.

    ``parts`` must not be empty (a Dask array has at least one block, one of
    no rows when it has no cells); each is an ``Annotation`` the annotator
    made (on a worker), so this module needs no import of the annotator
    (which imports it, for ``annotate`` of a Dask-backed AnnData).
    """
    scores = [p.novelty_score for p in parts if p.novelty_score is not None]
    reasons = [
        p.unassigned_reason for p in parts if p.unassigned_reason is not None
    ]
    return dataclasses.replace(
        parts[0],
        cell_ids=cell_ids,
        cell_types=np.concatenate([p.cell_types for p in parts]),
        confidence=np.concatenate([p.confidence for p in parts]),
        probabilities=np.concatenate([p.probabilities for p in parts]),
        genes_missing=genes_missing,
        gene_column=gene_column,
        novelty_score=np.concatenate(scores)
        if len(scores) == len(parts) else None,
        unassigned_reason=np.concatenate(reasons)
        if len(reasons) == len(parts) else None)


def decide_unassigned(result: "Annotation", annotator: "ACTINNAnnotator",
                      previous: Optional["QueryCalibration"]) -> "Annotation":
    """``result`` with the ``Unassigned`` calls of a plain run: the rule
    decided on all its cells' scores at once (or with ``previous`` for a
    small tail chunk), each cell it keeps given back its top type. Unchanged
    without novelty scores (no rule, or a confidence threshold, which looks
    at one cell at a time). ``result`` must be of a run without a hierarchy
    (Dask prediction and a backed ``annotate`` refuse one)."""
    if result.novelty_score is None:
        return result
    from deepchem_actinn.confidence import UNASSIGNED
    # without a hierarchy (which Dask prediction refuses) a cell's label is
    # its top type and the label's probability that type's
    top = result.probabilities.argmax(axis=1)
    names = np.asarray(result.type_names, dtype=object)[top]
    decision = annotator.rule_.decide(result.novelty_score, top,
                                      result.probabilities.max(axis=1),
                                      previous)
    names[decision.rejected] = UNASSIGNED
    return dataclasses.replace(result,
                               cell_types=names,
                               query_scale=decision.calibration.scale,
                               type_scales=decision.calibration.type_scales,
                               unassigned_reason=decision.reasons)


def predict_dask(annotator: "ACTINNAnnotator",
                 X: Any,
                 genes: Sequence[str],
                 cell_ids: Optional[Sequence[str]] = None,
                 *,
                 client=None,
                 unassigned: bool = False,
                 threshold: Optional[float] = None,
                 what: str = "X",
                 allow_non_integer: bool = False) -> "Annotation":
    """Annotate a Dask array of raw counts on a ``dask.distributed`` cluster.

    The annotator is sent to each worker once; each block of rows is
    normalised and scored on the worker that holds it (blocks are read there
    too when X comes from a file), and freed once scored. The labels are
    those of ``annotator.predict(X.compute(), genes, cell_ids, ...)``; the
    probabilities agree to float32 rounding (the networks run on blocks of
    another size).

    Parameters
    ----------
    annotator: ACTINNAnnotator
        A fitted annotator.
    X: dask.array.Array
        Raw counts, cells x genes, with NumPy or SciPy sparse blocks (as
        ``anndata.experimental.read_elem_lazy(f["X"])`` gives); blocks split
        by genes are joined into whole rows first. Blocks of 10,000 or more
        cells keep the per-task overhead small.
    genes: sequence of str
        The query's gene names, one per column.
    cell_ids: sequence of str, optional
        Cell ids (default ``"0"``, ``"1"``, ...).
    client: distributed.Client, optional
        The cluster to use; by default the Client already running.
    unassigned, threshold:
        As in :meth:`ACTINNAnnotator.predict`.
    what: str, default "X"
        Names the matrix in error messages (e.g. ``"layers['counts']"``).
    allow_non_integer: bool, default False
        Take non-integer values as counts on another scale (TPM); a matrix
        whose first cells look log-normalised is refused even so, on the
        client (:func:`~deepchem_actinn.io.counts.log_scale_rows`).

    Returns
    -------
    Annotation
        For every cell, in the order of X's rows.

    Raises
    ------
    ACTINNInputError
        The genes do not match the model, or the ids or gene names do not
        fit X; raised on the client before anything is computed. A block
        that does not hold raw counts (negative, NaN, infinite or
        non-integer values: the package's one count check) raises it from
        the worker, naming the cells.
    ImportError
        Dask's distributed scheduler is not installed.

    Examples
    --------
    >>> import dask.array as da
    >>> from distributed import Client, LocalCluster
    >>> from deepchem_actinn import ACTINNAnnotator, load_tabula_muris_sample
    >>> from deepchem_actinn.distributed import predict_dask
    >>> train, test = load_tabula_muris_sample()
    >>> annotator = ACTINNAnnotator(max_epochs=1, n_networks=1).fit(
    ...     train.X, train.var_names, train.obs["cell_type"])
    >>> X = da.from_array(test.X.toarray(), chunks=(250, -1))
    >>> with LocalCluster(n_workers=1, processes=False,
    ...                   dashboard_address=None) as cluster, \\
    ...         Client(cluster) as client:
    ...     result = predict_dask(annotator, X, test.var_names,
    ...                           test.obs_names, client=client)
    >>> result.probabilities.shape
    (1000, 12)
    """
    client = _client(client)
    if not is_dask_array(X) or X.ndim != 2:
        raise TypeError("predict_dask takes a 2-D dask.array.Array; for "
                        "arrays in memory use ACTINNAnnotator.predict")
    genes = [str(g) for g in genes]
    if X.shape[1] != len(genes):
        raise ACTINNInputError("%d genes in the matrix but %d gene names" %
                               (X.shape[1], len(genes)))
    if any(np.isnan(n) for n in X.shape):
        raise ACTINNInputError("the Dask array's number of cells is unknown; "
                               "call X.compute_chunk_sizes() first")
    from deepchem_actinn.io.labels import as_cell_ids
    ids = as_cell_ids(cell_ids, X.shape[0])
    positions = annotator.gene_positions(genes)  # refuses a poor match
    if allow_non_integer:
        from deepchem_actinn.io.counts import refuse_log_normalised_start
        refuse_log_normalised_start(lambda a, b: X[a:b].compute(),
                                    X.shape,
                                    ids,
                                    what=what,
                                    source="the Dask array")
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    bounds = np.cumsum((0,) + tuple(X.chunks[0]))
    shipped = _ship(client, annotator, genes, "var_names", unassigned,
                    threshold)
    # one task per block, reading it and annotating it: the scheduler frees
    # each block once annotated, so the matrix is never held whole
    import dask
    tasks = [
        dask.delayed(_predict_block,
                     pure=False)(shipped, block, ids[bounds[i]:bounds[i + 1]],
                                 what, allow_non_integer)
        for i, block in enumerate(X.to_delayed().ravel())
    ]
    futures = []
    try:
        futures = client.compute(tasks)
        parts = client.gather(futures)
    finally:
        client.cancel(futures + [shipped])
    return decide_unassigned(
        join_annotations(parts, ids, int((positions < 0).sum()), "var_names"),
        annotator, None)


def predict_file_dask(
        annotator: "ACTINNAnnotator",
        path: Union[str, os.PathLike],
        client=None,
        chunk_size: int = 50_000,
        format: Optional[str] = None,
        *,
        upper_case_genes: bool = True,
        layer: Optional[str] = None,
        use_raw: Optional[bool] = None,
        allow_non_integer: bool = False,
        orientation: Optional[str] = None,
        expected_genes: Optional[Sequence[str]] = None,
        unassigned: bool = False,
        threshold: Optional[float] = None,
        max_in_flight: Optional[int] = None) -> Iterator["Annotation"]:
    """Annotate a file on a ``dask.distributed`` cluster, chunk by chunk.

    The client reads only the gene table and the number of cells; each task
    opens ``path`` on its worker and reads its ``chunk_size`` rows
    (:func:`~deepchem_actinn.io.iter_cell_chunks` with ``starts``),
    so no counts pass through the client. The annotations come back in file
    order, the same as :meth:`ACTINNAnnotator.predict_file` with this
    ``chunk_size`` (the ``Unassigned`` rule calibrated chunk by chunk, a
    tail under 1,000 cells on the chunk before it): a command can write them
    as they arrive.

    Parameters
    ----------
    annotator: ACTINNAnnotator
        A fitted annotator.
    path: str or os.PathLike
        The query file (h5ad, ACTINN HDF5 and 10x HDF5 are read by row
        range; other formats are read whole by every task, so convert them
        first). Every worker must see it under this same path.
    client: distributed.Client, optional
        The cluster to use; by default the Client already running.
    chunk_size: int, default 50,000
        Cells per task.
    format, upper_case_genes, layer, use_raw, allow_non_integer:
        As in :func:`~deepchem_actinn.io.iter_cell_chunks`.
    orientation, expected_genes:
        How a CSV/TSV query is laid out, as in
        :meth:`ACTINNAnnotator.predict_file`: by default the axis holding
        more of ``expected_genes`` (the model's genes unless given) holds
        the genes; decided once, here, for every task.
    unassigned, threshold:
        As in :meth:`ACTINNAnnotator.predict`.
    max_in_flight: int, optional
        Chunks submitted ahead of the one being returned (default twice the
        cluster's threads), so finished chunks do not pile up on the workers
        when the caller is slower than the cluster.

    Yields
    ------
    Annotation
        One per chunk, in file order; ``gene_column`` says which gene
        identifiers were matched (as ``actinn predict`` chooses them).

    Examples
    --------
    >>> import os, tempfile
    >>> from distributed import Client, LocalCluster
    >>> from deepchem_actinn import ACTINNAnnotator, load_tabula_muris_sample
    >>> from deepchem_actinn.distributed import predict_file_dask
    >>> train, test = load_tabula_muris_sample()
    >>> annotator = ACTINNAnnotator(max_epochs=1, n_networks=1).fit(
    ...     train.X, train.var_names, train.obs["cell_type"])
    >>> path = os.path.join(tempfile.mkdtemp(), "query.h5ad")
    >>> test.write_h5ad(path)
    >>> with LocalCluster(n_workers=1, processes=False,
    ...                   dashboard_address=None) as cluster, \\
    ...         Client(cluster) as client:
    ...     sizes = [len(chunk) for chunk in predict_file_dask(
    ...         annotator, path, client, chunk_size=400)]
    >>> sizes
    [400, 400, 200]
    """
    from deepchem_actinn.io import read_cell_ids
    from deepchem_actinn.io.readers import check_cell_ids
    from deepchem_actinn.io.stream import settle_counts_matrix
    from deepchem_actinn.preprocessing.genes import (query_file_genes,
                                                     query_orientation)
    client = _client(client)
    if int(chunk_size) < 1:
        raise ACTINNInputError("chunk_size must be at least 1, got %r" %
                               (chunk_size,))
    path = os.path.abspath(os.fspath(path))
    # the tasks open the file themselves: the matrix is chosen here, once
    layer, use_raw = settle_counts_matrix(path,
                                          format,
                                          layer=layer,
                                          use_raw=use_raw,
                                          allow_non_integer=allow_non_integer)
    # a CSV/TSV query's layout, decided once: the tasks read it as given
    orientation = query_orientation(
        path, format, orientation,
        annotator.genes_ if expected_genes is None else expected_genes)
    read_options: Dict[str, Any] = dict(format=format,
                                        upper_case_genes=upper_case_genes,
                                        layer=layer,
                                        use_raw=use_raw,
                                        allow_non_integer=allow_non_integer,
                                        orientation=orientation)
    column, genes = query_file_genes(annotator.genes_,
                                     path,
                                     min_overlap=annotator.min_overlap,
                                     **read_options)
    annotator.gene_positions(genes)  # logs missing genes once
    cell_ids = read_cell_ids(path, format, orientation=orientation)
    check_cell_ids(cell_ids, path)  # the tasks read parts, and do not
    total = len(cell_ids)
    window = int(max_in_flight or max(2, 2 * sum(client.nthreads().values())))
    return _stream(client, annotator, genes, column, path, total,
                   int(chunk_size), read_options, unassigned, threshold, window)


def _stream(client, annotator, genes, column, path, total, chunk_size,
            read_options, unassigned, threshold,
            window) -> Iterator["Annotation"]:
    """The generator behind :func:`predict_file_dask` (checks run at the
    call, tasks start at the first ``next``)."""
    shipped = _ship(client, annotator, genes, column, unassigned, threshold)
    starts = iter(range(0, total, chunk_size))
    pending: Deque = collections.deque()

    def top_up() -> None:
        for start in starts:
            pending.append(
                client.submit(_predict_rows,
                              shipped,
                              path,
                              start,
                              chunk_size,
                              read_options,
                              pure=False))
            if len(pending) >= window:
                return

    # the previous chunk's calibration, for a small tail
    calibration: Optional["QueryCalibration"] = None
    try:
        top_up()
        while pending:
            try:
                block = pending.popleft().result()
            except ACTINNCellError as err:
                raise err.in_file(path) from None
            result = decide_unassigned(block, annotator, calibration)
            top_up()
            if result.novelty_score is not None:
                calibration = result.calibration
            yield result
    finally:
        client.cancel(list(pending) + [shipped])
