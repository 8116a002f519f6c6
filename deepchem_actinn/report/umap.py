"""UMAP of the annotated cells, coloured by predicted type and by
confidence. Needs scanpy (the ``report`` extra), which is optional: the
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
from deepchem_actinn.errors import ACTINNInputError, examples, install_extra
from deepchem_actinn.report._canvas import (UNASSIGNED_COLOUR, marked_names,
                                            new_figure)
from deepchem_actinn.report._checks import as_confidence, as_labels
from deepchem_actinn.report.metrics import type_counts
from deepchem_actinn.types import Matrix, Strings
from deepchem_actinn.torch_threads import keeps_torch_threads

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
        raise ImportError("plot_umap needs scanpy, which is not installed; " +
                          install_extra("report")) from err
    return scanpy


@keeps_torch_threads
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


#: Up to this many types, the UMAP's legend is one column beside the
#: types' panel; more go in as many columns as fit under both panels.
SIDE_LEGEND_TYPES = 24

#: Beyond this many types, no legend: each type's name is written at the
#: centre of its cells.
MAX_LEGEND_TYPES = 200

_LEGEND_FONT = 8
_INCH_PER_CHAR, _INCH_PER_ROW = 0.068, 0.18  # at _LEGEND_FONT points

#: The types' colours up to 20 types, most common type first: ten strong
#: colours of distinct hues, then lighter and darker ones, so that types
#: next to each other in number of cells (and in the legend) never share a
#: hue family; no grey (Unassigned's) and no two browns.
TYPE_COLOURS = (
    "#1f77b4",  # blue
    "#ff7f0e",  # orange
    "#2ca02c",  # green
    "#d62728",  # red
    "#9467bd",  # purple
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#17becf",  # cyan
    "#bcbd22",  # olive
    "#aec7e8",  # light blue
    "#ffbb78",  # light orange
    "#98df8a",  # light green
    "#ff9896",  # salmon
    "#c5b0d5",  # lavender
    "#f7b6d2",  # light pink
    "#9edae5",  # light cyan
    "#dbdb8d",  # khaki
    "#ad494a",  # brick
    "#8c6d31",  # ochre
    "#393b79",  # navy
)


def _spread_colours(n: int) -> List[str]:
    """``n`` colours for types beyond :data:`TYPE_COLOURS`: hues a golden
    angle apart (each far from the one before), in three strengths of
    lightness and saturation taken in turn."""
    import colorsys

    from matplotlib.colors import to_hex
    strengths = ((0.45, 0.75), (0.68, 0.65), (0.30, 0.80))
    colours = []
    for k in range(n):
        lightness, saturation = strengths[k % 3]
        hue = (0.07 + k * 0.381966) % 1.0
        colours.append(to_hex(colorsys.hls_to_rgb(hue, lightness, saturation)))
    return colours


def _type_colours(names: List[str]) -> Dict[str, Any]:
    """A colour per type name, each type its own: :data:`TYPE_COLOURS` in
    order, then (beyond 20 types) :func:`_spread_colours`; ``Unassigned``
    grey."""
    others = [n for n in names if n != UNASSIGNED]
    palette = list(TYPE_COLOURS)
    palette += _spread_colours(max(0, len(others) - len(palette)))
    colours: Dict[str, Any] = dict(zip(others, palette))
    colours[UNASSIGNED] = UNASSIGNED_COLOUR
    return colours


def _legend_columns(labels: List[str], width: float) -> int:
    """How many legend columns of ``labels`` fit across ``width`` inches."""
    column = 0.45 + _INCH_PER_CHAR * max(len(t) for t in labels)
    return max(1, min(len(labels), int(width // column)))


def _draw(xy: np.ndarray,
          pred: np.ndarray,
          conf: np.ndarray,
          parents: Optional[Strings] = None) -> Figure:
    """Two panels of the same coordinates: by type, by confidence; the
    types' legend beside them, under them in columns, or (beyond
    :data:`MAX_LEGEND_TYPES` types) each name at the centre of its cells;
    the names of ``parents`` marked ``[parent]``."""
    counts = type_counts(pred)
    labels = [
        "%s (%s)" % (text, "{:,}".format(int(counts.loc[name, "cells"])))
        for name, text in zip(counts.index, marked_names(counts.index, parents))
    ]
    n, width, height = len(labels), 13.0, 5.6
    under = SIDE_LEGEND_TYPES < n <= MAX_LEGEND_TYPES
    ncol = _legend_columns(labels, width - 0.4) if under else 1
    rows = -(-n // ncol)
    below = rows * _INCH_PER_ROW + 0.3 if under else 0.0
    fig = new_figure(width, height + below)
    grid = fig.add_gridspec(2 if under else 1,
                            2,
                            height_ratios=[height, below] if under else None)
    type_ax = fig.add_subplot(grid[0, 0])
    conf_ax = fig.add_subplot(grid[0, 1])
    colours = _type_colours(list(counts.index))
    size = float(np.clip(12000 / max(len(pred), 1), 2, 40))
    # the legend's entries handed over as they are: asked of the axes,
    # matplotlib leaves out a label that starts with "_" (a type "_x")
    handles = [
        type_ax.scatter(xy[pred == name, 0],
                        xy[pred == name, 1],
                        s=size,
                        color=colours[name],
                        linewidths=0,
                        label=label,
                        rasterized=True)
        for name, label in zip(counts.index, labels)
    ]
    type_ax.set_title("Predicted cell type")
    style: Dict[str, Any] = dict(frameon=False,
                                 markerscale=max(1, 20 / size),
                                 handletextpad=0.3)
    if n <= SIDE_LEGEND_TYPES:
        type_ax.legend(handles,
                       labels,
                       loc="center left",
                       bbox_to_anchor=(1.0, 0.5),
                       fontsize=9,
                       **style)
    elif under:
        place = fig.add_subplot(grid[1, :])
        place.axis("off")
        place.legend(handles,
                     labels,
                     loc="upper center",
                     bbox_to_anchor=(0.5, 1.0),
                     ncol=ncol,
                     fontsize=_LEGEND_FONT,
                     columnspacing=1.0,
                     borderaxespad=0.0,
                     **style)
    else:
        _label_centres(type_ax, xy, pred, counts.index, parents)
    # the cells to review on top: the most confident drawn first, the
    # least confident over them, the Unassigned last of all
    order = np.lexsort((-conf, pred == UNASSIGNED))
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


def _label_centres(ax: Any,
                   xy: np.ndarray,
                   pred: np.ndarray,
                   names: Any,
                   parents: Optional[Strings] = None) -> None:
    """Each type's name (shortened) at the median of its cells."""
    names = [name for name in names if name != UNASSIGNED]
    for name, text in zip(names, marked_names(names, parents, 24)):
        x, y = np.median(xy[pred == name], axis=0)
        ax.text(x,
                y,
                text,
                fontsize=6,
                ha="center",
                va="center",
                bbox=dict(boxstyle="round,pad=0.1",
                          facecolor="white",
                          alpha=0.6,
                          linewidth=0))


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
    parents: Optional[Strings] = None,
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
    parents: sequence of str, optional
        Names given as parent types (a type hierarchy's), marked
        ``[parent]`` in the legend.

    Returns
    -------
    tuple of (matplotlib.figure.Figure or None, str)
        The figure and a note for its caption (empty, or how many cells
        were drawn), or ``None`` and why nothing was drawn (such as
        ``"scanpy is not installed (install the report extra: ...)"``).

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
        return None, "scanpy is not installed (%s)" % install_extra("report")
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
    labels = set(predicted.tolist())  # as _draw counts them
    n_types = len(labels - {UNASSIGNED})
    if len(labels) > MAX_LEGEND_TYPES:
        note = " ".join(
            filter(None, [
                note,
                "The %d types are too many for a legend: each name is "
                "written at the centre of its cells." % n_types
            ]))
    return _draw(xy, predicted, confidence, parents), note
