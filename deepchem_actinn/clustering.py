"""Over-clusters of the query: Leiden (Traag et al., 2019; the references
of :mod:`deepchem_actinn.voting`) on the query's own neighbour graph, or on
one the user built, for majority voting (:mod:`deepchem_actinn.voting`,
which re-exports these names).

Many small clusters are the point (the resolution grows with the query, as
CellTypist's does), so that no cluster spans two types. The cells are
clustered in an order of their own (:func:`content_order`): PCA and Leiden
depend on the order they are given the cells in, and a cell's cluster
should not depend on where it sits in the query file.
"""
from typing import List, Optional

import numpy as np
import pandas as pd

from deepchem_actinn.errors import (ACTINNCellError, ACTINNInputError,
                                    install_extra)
from deepchem_actinn.torch_threads import keeps_torch_threads

#: (fewest cells, resolution): the over-clustering resolution grows with the
#: query, in the steps CellTypist users know (5 below 5,000 cells, up to 30
#: from 200,000 cells on).
RESOLUTION_STEPS = ((200_000, 30.0), (100_000, 25.0), (40_000, 20.0),
                    (20_000, 15.0), (5_000, 10.0), (0, 5.0))

INSTALL_CLUSTERING = ("over-clustering needs scanpy and leidenalg: " +
                      install_extra("clustering"))

#: What Leiden over-clustering imports (the ``clustering`` extra).
CLUSTERING_MODULES = ("scanpy", "leidenalg", "igraph")


def missing_clustering() -> List[str]:
    """The libraries :func:`over_cluster` needs that are not installed
    (none with the ``clustering`` extra): a command checks them before it
    reads or trains anything."""
    import importlib.util
    return [
        name for name in CLUSTERING_MODULES
        if importlib.util.find_spec(name) is None
    ]


def default_resolution(n_cells: int) -> float:
    """The Leiden resolution used to over-cluster ``n_cells`` cells.

    More cells, more clusters: 5 below 5,000 cells, then 10, 15, 20 and 25
    from 5,000, 20,000, 40,000 and 100,000 cells, 30 from 200,000.

    Parameters
    ----------
    n_cells: int
        Number of query cells.

    Returns
    -------
    float
        The resolution for :func:`over_cluster`.

    Examples
    --------
    >>> from deepchem_actinn.clustering import default_resolution
    >>> default_resolution(1_000), default_resolution(30_000)
    (5.0, 15.0)
    >>> default_resolution(1_000_000)
    30.0
    """
    for fewest, resolution in RESOLUTION_STEPS:
        if n_cells >= fewest:
            return resolution
    return RESOLUTION_STEPS[-1][1]


@keeps_torch_threads
def over_cluster(X_or_adata,
                 resolution: Optional[float] = None,
                 seed: int = 0,
                 n_neighbors: int = 15,
                 n_pcs: int = 50,
                 n_top_genes: int = 2000,
                 counts: bool = True) -> np.ndarray:
    """Leiden clusters of the query on its own neighbour graph.

    The usual scanpy recipe, on a copy (the input is not changed), with
    the cells in an order of their own (:func:`content_order`), so that
    each cell's cluster does not depend on the query's order: counts
    per 10,000 and ``log1p`` (unless ``counts=False``: the input is already
    log-normalised), the ``n_top_genes`` most variable genes, PCA, a
    ``n_neighbors`` nearest-neighbour graph and Leiden at ``resolution``
    (scanpy's igraph implementation, 2 iterations).

    Parameters
    ----------
    X_or_adata: array, sparse matrix or anndata.AnnData
        The query, cells x genes (an AnnData's ``X``).
    resolution: float, optional
        Leiden resolution; by default :func:`default_resolution` of the
        number of cells (high: over-clustering is the point).
    seed: int, default 0
        Seed of the PCA and of Leiden.
    n_neighbors, n_pcs, n_top_genes: int
        Graph settings (capped by the data's size).
    counts: bool, default True
        Whether ``X`` holds raw counts to normalise first.

    Returns
    -------
    numpy.ndarray of str
        The cluster of each cell, ``"0"``, ``"1"``, ... (largest first).

    Raises
    ------
    ImportError
        When scanpy or leidenalg is missing (the message says how to
        install them).
    ACTINNCellError
        Fewer than 3 cells.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.clustering import over_cluster
    >>> rng = np.random.default_rng(0)
    >>> means = np.where(np.arange(40)[None, :] // 20 == np.arange(2)[:, None],
    ...                  30.0, 1.0)
    >>> X = rng.poisson(np.repeat(means, 50, axis=0)).astype(np.float32)
    >>> clusters = over_cluster(X, resolution=0.2)
    >>> len(set(clusters[:50])), len(set(clusters[50:]))
    (1, 1)
    >>> clusters[0] != clusters[50]
    True
    """
    sc = _scanpy()
    import anndata
    import scipy.sparse as sp
    X = getattr(X_or_adata, "X", X_or_adata)
    X = X.astype(np.float32) if sp.issparse(X) else np.asarray(X, np.float32)
    n_cells, n_genes = X.shape
    if n_cells < 3:
        raise ACTINNCellError("over-clustering needs at least 3 cells, got "
                              "%d" % n_cells)
    order = content_order(X)  # the clusters must not depend on cell order
    adata = anndata.AnnData(X=X[order])
    if counts:
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
    if n_genes > n_top_genes:
        sc.pp.highly_variable_genes(adata, n_top_genes=n_top_genes)
        adata = adata[:, adata.var["highly_variable"].to_numpy()].copy()
    n_comps = max(1, min(n_pcs, n_cells - 1, adata.n_vars - 1))
    sc.pp.pca(adata, n_comps=n_comps, random_state=seed)
    sc.pp.neighbors(adata,
                    n_neighbors=min(n_neighbors, n_cells - 1),
                    random_state=seed)
    clusters = np.empty(n_cells, dtype=object)
    clusters[order] = _leiden(adata, resolution, seed)
    return clusters.astype(str)


def content_order(X) -> np.ndarray:
    """An order of the rows of ``X`` that depends on what each row holds,
    not on where it sits: rows sorted by a fixed random projection of their
    values (computed row by row, so the same row always gives the same
    number), then by their totals. PCA and Leiden depend on the order of
    the cells they are given; clustering in this order gives every cell
    the same cluster however the query's cells are ordered (rows exactly
    alike keep their order among themselves).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.clustering import content_order
    >>> X = np.array([[0, 5], [3, 1], [2, 2]])
    >>> perm = np.array([2, 0, 1])
    >>> bool((X[content_order(X)] == X[perm][content_order(X[perm])]).all())
    True
    """
    import scipy.sparse as sp
    rows = sp.csr_matrix(X, dtype=np.float64)
    direction = np.random.default_rng(0).standard_normal(rows.shape[1])
    projection = rows.dot(direction)
    totals = np.asarray(rows.sum(axis=1)).ravel()
    return np.lexsort((totals, projection))


@keeps_torch_threads
def over_cluster_graph(connectivities,
                       resolution: Optional[float] = None,
                       seed: int = 0) -> np.ndarray:
    """Leiden clusters of a neighbour graph the user already built, as
    CellTypist's majority voting takes one: scanpy's
    ``obsp["connectivities"]`` after ``sc.pp.neighbors``.

    Parameters
    ----------
    connectivities: scipy.sparse matrix
        Cells x cells, the graph's weights.
    resolution, seed:
        As in :func:`over_cluster`.

    Returns
    -------
    numpy.ndarray of str
        The cluster of each cell, ``"0"``, ``"1"``, ... (largest first).

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from deepchem_actinn.clustering import over_cluster_graph
    >>> two = sp.block_diag([np.ones((4, 4)), np.ones((3, 3))]).tocsr()
    >>> over_cluster_graph(two, resolution=0.5).tolist()
    ['0', '0', '0', '0', '1', '1', '1']
    """
    import anndata
    import scipy.sparse as sp
    _scanpy()
    graph = sp.csr_matrix(connectivities)
    n_cells = graph.shape[0]
    if graph.shape != (n_cells, n_cells):
        raise ACTINNInputError(
            "a neighbour graph is cells x cells, got shape %s" % (graph.shape,))
    if n_cells < 3:
        raise ACTINNCellError("over-clustering needs at least 3 cells, got "
                              "%d" % n_cells)
    holder = anndata.AnnData(obs=pd.DataFrame(
        index=pd.Index([str(i) for i in range(n_cells)])))
    holder.obsp["connectivities"] = graph
    return _leiden(holder, resolution, seed, graph)


def _scanpy():
    """scanpy, once leidenalg and igraph are known to be there too."""
    import importlib
    try:
        modules = [importlib.import_module(m) for m in CLUSTERING_MODULES]
    except ImportError as err:
        raise ImportError(INSTALL_CLUSTERING) from err
    return modules[0]


def _leiden(adata,
            resolution: Optional[float],
            seed: int,
            adjacency=None) -> np.ndarray:
    """Leiden clusters of ``adata``'s neighbour graph (or ``adjacency``)."""
    sc = _scanpy()
    if resolution is None:
        resolution = default_resolution(adata.n_obs)
    sc.tl.leiden(adata,
                 resolution=resolution,
                 random_state=seed,
                 flavor="igraph",
                 n_iterations=2,
                 directed=False,
                 adjacency=adjacency,
                 key_added="over_clustering")
    return adata.obs["over_clustering"].astype(str).to_numpy()
