"""UMAP of the annotated cells, coloured by predicted type and by
confidence. Needs scanpy (``pip install scanpy``), which is optional: the
rest of the report works without it.

:func:`plot_umap` draws an AnnData whose ``obs`` holds the predictions;
:func:`umap_figure` is what :func:`~deepchem_actinn.report.write_report`
uses: it takes the query's expression (an AnnData or a cells x genes
matrix) next to the predictions and says in one line why it drew nothing
when it cannot draw.
"""
import logging
from types import ModuleType
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp
from matplotlib.figure import Figure

from deepchem_actinn.confidence import UNASSIGNED
from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.report._canvas import UNASSIGNED_COLOUR, new_figure
from deepchem_actinn.report._checks import as_confidence, as_labels
from deepchem_actinn.report.metrics import type_counts
from deepchem_actinn.types import Matrix

if TYPE_CHECKING:
    import anndata

#: A report's UMAP is computed on at most this many cells, chosen at random
#: with a fixed seed, so that a report of a million cells stays quick.
MAX_UMAP_CELLS = 50_000

#: What :func:`umap_figure` accepts: an AnnData or a cells x genes matrix.
Query = Union["anndata.AnnData", Matrix]

_MIN_CELLS, _MIN_GENES = 4, 3

logger = logging.getLogger(__name__)


def _import_scanpy() -> ModuleType:
    """Import scanpy or raise an ImportError that says how to get it."""
    try:
        import scanpy
    except ImportError as err:
        raise ImportError(
            "plot_umap needs scanpy, which is not installed; install it with "
            "`pip install scanpy` (or `pip install deepchem-actinn[umap]`)"
        ) from err
    return scanpy


def _umap_coordinates(adata: "anndata.AnnData", sc: ModuleType) -> np.ndarray:
    """``adata.obsm['X_umap']``, or a UMAP of a log-normalised copy of its
    counts (``X``, else ``.raw.X`` or ``layers['counts']``, as the
    annotator takes them: :func:`~deepchem_actinn.io.counts_source`; TPM-
    like values are taken as they are, a log-normalised or scaled ``X``
    without counts beside it is refused)."""
    if "X_umap" in adata.obsm:
        return np.asarray(adata.obsm["X_umap"], dtype=float)[:, :2]
    if adata.n_obs < _MIN_CELLS or adata.n_vars < _MIN_GENES:
        raise ACTINNInputError(
            "plot_umap: need at least %d cells and %d "
            "genes to compute a UMAP (got %d x %d)" %
            (_MIN_CELLS, _MIN_GENES, adata.n_obs, adata.n_vars))
    import anndata

    from deepchem_actinn.io.count_matrix import counts_source
    counts = counts_source(adata.to_memory() if adata.isbacked else adata,
                           allow_non_integer=True,
                           source="query")
    if counts.description != "X":
        logger.info("report: the UMAP drawn from the query's %s",
                    counts.description)
    matrix: Any = counts.matrix
    work = anndata.AnnData(matrix.astype(np.float32))
    sc.pp.normalize_total(work, target_sum=1e4)
    sc.pp.log1p(work)
    n_comps = min(50, work.n_obs - 1, work.n_vars - 1)
    sc.pp.pca(work, n_comps=n_comps)
    sc.pp.neighbors(work, n_neighbors=min(15, work.n_obs - 1), n_pcs=n_comps)
    sc.tl.umap(work)
    return np.asarray(work.obsm["X_umap"], dtype=float)[:, :2]


def _type_colours(names: List[str]) -> Dict[str, Any]:
    """A colour per type name; ``Unassigned`` grey."""
    from matplotlib import colormaps
    cmap = colormaps["tab20" if len(names) > 10 else "tab10"]
    others = [n for n in names if n != UNASSIGNED]
    colours: Dict[str,
                  Any] = {n: cmap(k % cmap.N) for k, n in enumerate(others)}
    colours[UNASSIGNED] = UNASSIGNED_COLOUR
    return colours


def _draw(xy: np.ndarray, pred: np.ndarray, conf: np.ndarray) -> Figure:
    """Two panels of the same coordinates: by type, by confidence."""
    fig = new_figure(13.0, 5.6)
    type_ax, conf_ax = fig.subplots(1, 2)
    counts = type_counts(pred)
    colours = _type_colours(list(counts.index))
    size = float(np.clip(12000 / max(len(pred), 1), 2, 40))
    for name in counts.index:
        mask = pred == name
        type_ax.scatter(xy[mask, 0],
                        xy[mask, 1],
                        s=size,
                        color=colours[name],
                        linewidths=0,
                        label="%s (%d)" % (name, counts.loc[name, "cells"]),
                        rasterized=True)
    type_ax.set_title("Predicted cell type")
    type_ax.legend(loc="center left",
                   bbox_to_anchor=(1.0, 0.5),
                   frameon=False,
                   fontsize=9,
                   markerscale=max(1, 20 / size))
    order = np.argsort(conf)
    points = conf_ax.scatter(xy[order, 0],
                             xy[order, 1],
                             c=conf[order],
                             cmap="viridis",
                             vmin=0,
                             vmax=1,
                             s=size,
                             linewidths=0,
                             rasterized=True)
    fig.colorbar(points, ax=conf_ax, shrink=0.8, label="confidence")
    conf_ax.set_title("Confidence")
    for ax in (type_ax, conf_ax):
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def plot_umap(adata: "anndata.AnnData",
              predicted_key: str = "actinn_cell_type",
              confidence_key: str = "actinn_confidence") -> Figure:
    """UMAP of the cells, coloured by predicted type and by confidence.

    Needs scanpy. Uses ``adata.obsm["X_umap"]`` when present; otherwise
    computes PCA, neighbours and UMAP on a library-size-normalised,
    log1p-transformed copy of the counts (``X``, else ``.raw.X`` or
    ``layers['counts']``, chosen as the annotator chooses them; ``adata``
    itself is not changed).

    Parameters
    ----------
    adata: anndata.AnnData
        Cells x genes counts with the predictions in ``adata.obs``.
    predicted_key: str, default "actinn_cell_type"
        Column of ``adata.obs`` holding the predicted type.
    confidence_key: str, default "actinn_confidence"
        Column of ``adata.obs`` holding the confidence.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels.

    Raises
    ------
    ImportError
        If scanpy is not installed.

    Examples
    --------
    >>> import anndata, numpy as np
    >>> from deepchem_actinn.report import plot_umap
    >>> ad = anndata.AnnData(np.ones((3, 2), dtype=np.float32))
    >>> ad.obs["actinn_cell_type"] = ["B", "T", "T"]
    >>> ad.obs["actinn_confidence"] = [0.9, 0.8, 0.7]
    >>> ad.obsm["X_umap"] = np.array([[0.0, 0], [1, 1], [1, 0]])
    >>> try:
    ...     fig = plot_umap(ad)
    ... except ImportError:
    ...     fig = None  # scanpy not installed
    """
    sc = _import_scanpy()
    for key in (predicted_key, confidence_key):
        if key not in adata.obs:
            raise ACTINNInputError("plot_umap: adata.obs has no column %r "
                                   "(columns: %s)" %
                                   (key, examples(list(adata.obs.columns))))
    pred = as_labels(adata.obs[predicted_key].to_numpy(), predicted_key)
    conf = as_confidence(adata.obs[confidence_key].to_numpy())
    return _draw(_umap_coordinates(adata, sc), pred, conf)


def check_query(query: Optional[Query],
                n_cells: int) -> Optional["anndata.AnnData"]:
    """The query as an AnnData of ``n_cells`` cells (``None`` stays None).

    A matrix is wrapped in an AnnData without copying; anything else, or a
    query with another number of cells than the predictions, is refused.
    """
    if query is None:
        return None
    import anndata
    if isinstance(query, anndata.AnnData):
        adata = query
    elif isinstance(query, np.ndarray) or sp.issparse(query):
        if query.ndim != 2:
            raise ACTINNInputError("query: expected a cells x genes matrix, "
                                   "got %d dimension(s)" % query.ndim)
        matrix = sp.csr_matrix(query) if sp.issparse(query) else query
        adata = anndata.AnnData(matrix)
    else:
        raise ACTINNInputError("query: expected an AnnData or a cells x "
                               "genes matrix, got %s" % type(query).__name__)
    if adata.n_obs != n_cells:
        raise ACTINNInputError("query has %d cells but predicted_labels has "
                               "%d" % (adata.n_obs, n_cells))
    return adata


def umap_figure(
    query: Optional["anndata.AnnData"],
    predicted: np.ndarray,
    confidence: np.ndarray,
    max_cells: int = MAX_UMAP_CELLS,
    seed: int = 0,
) -> Tuple[Optional[Figure], str]:
    """The report's UMAP, or ``None`` and the reason why not, in a few words.

    Parameters
    ----------
    query: anndata.AnnData or None
        The annotated cells' counts, from :func:`check_query`; its
        ``obsm["X_umap"]`` is used when present.
    predicted: numpy.ndarray
        Predicted type per cell, in the query's order.
    confidence: numpy.ndarray
        Confidence per cell, in the query's order.
    max_cells: int, default MAX_UMAP_CELLS
        Larger queries are drawn for this many cells, chosen at random.
    seed: int, default 0
        Seed of that choice.

    Returns
    -------
    tuple of (matplotlib.figure.Figure or None, str)
        The figure and a note for its caption (empty, or how many cells
        were drawn), or ``None`` and why nothing was drawn (such as
        ``"scanpy is not installed (pip install scanpy)"``).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.report.umap import umap_figure
    >>> umap_figure(None, np.array(["B"]), np.array([0.9]))
    (None, 'no query expression matrix was given')
    """
    if query is None:
        return None, "no query expression matrix was given"
    try:
        sc = _import_scanpy()
    except ImportError:
        return None, "scanpy is not installed (pip install scanpy)"
    has_umap = "X_umap" in query.obsm
    if not has_umap and (query.n_obs < _MIN_CELLS or query.n_vars < _MIN_GENES):
        return None, ("it needs at least %d cells and %d genes; the query "
                      "has %d x %d" %
                      (_MIN_CELLS, _MIN_GENES, query.n_obs, query.n_vars))
    note = ""
    if query.n_obs > max_cells:
        rows = np.sort(
            np.random.default_rng(seed).choice(query.n_obs,
                                               max_cells,
                                               replace=False))
        note = "Drawn for {:,} of {:,} cells, chosen at random.".format(
            max_cells, query.n_obs)
        query, predicted, confidence = (query[rows], predicted[rows],
                                        confidence[rows])
    try:
        xy = _umap_coordinates(query, sc)
    except ACTINNInputError as err:  # no counts to draw from: the rest stays
        return None, "no raw counts to compute it from (%s)" % err
    return _draw(xy, predicted, confidence), note
