"""Majority voting over clusters of the query's own cells.

A cell's label is decided alone; its neighbours in the query often know
better. Majority voting, as CellTypist made familiar [1]_, over-clusters
the query on its own neighbour graph with Leiden [2]_ (many small
clusters, so that no cluster spans two types) and gives the cells of a
cluster the label most of its cells received. A cluster whose cells are mostly Unassigned is not voted
into a known type: it is reported as a possible new population.

Over-clusters are not always pure: a rare type of a few cells shares its
cluster with a common one, and a plain vote renames it. So the annotator
votes with the networks' probabilities: a cell takes its cluster's majority
label only where it gives that label a probability of at least
:data:`MIN_VOTE_PROBABILITY` (0.2), that is where the networks found the
majority type plausible for it; a cell confident of another type keeps its
own. ``min_probability=0`` is CellTypist's plain vote. On the cross-
technology benchmark's development seeds (``benchmarks/cross_technology.py``)
the plain vote lowered macro F1 on every query (e.g. 0.961 -> 0.825 on the
bundled test cells, whose rarest types have 4-12 cells), the vote with
probabilities kept or raised it.

Three steps, each usable alone:

* :func:`over_cluster` - Leiden clusters of the query (scanpy and
  leidenalg, the optional extra ``clustering``), or
  :func:`over_cluster_graph` of the neighbour graph the user built;
* :func:`read_clusters` / :func:`clusters_from_obs` - the user's own
  clusters, from a ``cell<TAB>cluster`` file or an ``obs`` column;
* :func:`majority_vote` - per-cell voted labels and a per-cluster table.

Examples
--------
>>> from deepchem_actinn.voting import majority_vote
>>> voted, table = majority_vote(
...     ["T cell", "T cell", "NK cell", "Unassigned", "Unassigned", "B cell"],
...     ["a", "a", "a", "b", "b", "b"])
>>> voted.tolist()
['T cell', 'T cell', 'T cell', 'Unassigned', 'Unassigned', 'Unassigned']
>>> table[["cluster", "size", "majority_label", "possible_new_population"]]
  cluster  size majority_label  possible_new_population
0       a     3         T cell                    False
1       b     3         B cell                     True

References
----------
.. [1] Dominguez Conde, C. et al. "Cross-tissue immune cell analysis
   reveals tissue-specific features in humans." Science 376 (2022).
.. [2] Traag, V. A., Waltman, L. and van Eck, N. J. "From Louvain to
   Leiden: guaranteeing well-connected communities." Scientific Reports 9,
   5233 (2019).
"""
import logging
from collections import Counter
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from deepchem_actinn.clustering import (  # noqa: F401 (voting's API)
    CLUSTERING_MODULES, INSTALL_CLUSTERING, RESOLUTION_STEPS, content_order,
    default_resolution, missing_clustering, over_cluster, over_cluster_graph)
from deepchem_actinn.errors import (ACTINNInputError, counted, examples,
                                    repeated)

#: Least probability a cell must give its cluster's majority label to take
#: it in the annotator's vote (see the module notes).
MIN_VOTE_PROBABILITY = 0.2

logger = logging.getLogger(__name__)


def majority_vote(
        cell_labels: Sequence[str],
        clusters: Sequence,
        unassigned_label: str = "Unassigned",
        min_share: float = 0.0,
        new_population_share: float = 0.5,
        probabilities: Optional[pd.DataFrame] = None,
        min_probability: float = 0.0) -> Tuple[np.ndarray, pd.DataFrame]:
    """Give the cells of each cluster the label most of them received.

    Per cluster: the majority label is the most frequent label other than
    ``unassigned_label`` (ties: the first in alphabetical order) and its
    share is its count over the cluster's size. A cluster in which more than
    ``new_population_share`` of the cells are Unassigned is flagged
    ``possible_new_population`` and its cells are voted Unassigned. Any
    other cluster whose majority share reaches ``min_share`` gives its cells
    the majority label (Unassigned ones included: a known type among its own
    kind) - with ``probabilities``, only the cells that give the majority
    label a probability of at least ``min_probability``; the others, and all
    cells of a cluster below ``min_share``, keep their own labels.

    Parameters
    ----------
    cell_labels: sequence of str
        Each cell's own label (Unassigned allowed).
    clusters: sequence
        Each cell's cluster (any hashable; compared as strings).
    unassigned_label: str, default "Unassigned"
    min_share: float, default 0.0
        Smallest majority share for which a cluster is voted.
    new_population_share: float, default 0.5
        Share of Unassigned cells above which a cluster is flagged.
    probabilities: pandas.DataFrame, optional
        Cells x labels, rows in the order of ``cell_labels``: each cell's
        probability of each label a cluster may vote for (the annotator's
        calibrated probabilities; a parent type's is its types' sum).
    min_probability: float, default 0.0
        With ``probabilities``: the least probability of the majority label
        for which a cell takes it. 0 gives every cell of a voted cluster its
        majority label, as CellTypist's majority voting does.

    Returns
    -------
    (voted, table)
        ``voted``: numpy array of str, each cell's label after the vote.
        ``table``: pandas DataFrame, one row per cluster (in natural order
        of the cluster names) with columns ``cluster``, ``size``,
        ``majority_label``, ``majority_share``, ``unassigned_share``,
        ``possible_new_population``, ``voted`` (whether the cluster's
        cells were given the vote's label) and ``kept_own`` (cells of a
        voted cluster that kept another label because they gave the
        majority label less than ``min_probability``).

    Raises
    ------
    ACTINNInputError
        Labels, clusters and probabilities of different lengths, a share
        outside [0, 1], or a majority label with no probability column.

    Examples
    --------
    >>> from deepchem_actinn.voting import majority_vote
    >>> voted, table = majority_vote(["B cell", "T cell", "T cell", "B cell"],
    ...                              [1, 1, 1, 2], min_share=0.7)
    >>> voted.tolist()
    ['B cell', 'T cell', 'T cell', 'B cell']
    >>> table[["cluster", "majority_label", "majority_share", "voted"]]
      cluster majority_label  majority_share  voted
    0       1         T cell        0.666667  False
    1       2         B cell        1.000000   True

    A rare type keeps its cells where they are confident of it:

    >>> import pandas as pd
    >>> proba = pd.DataFrame({"T cell": [0.9, 0.8, 0.7, 0.3, 0.05],
    ...                       "NK cell": [0.1, 0.2, 0.3, 0.7, 0.95]})
    >>> voted, table = majority_vote(
    ...     ["T cell", "T cell", "T cell", "NK cell", "NK cell"],
    ...     [0, 0, 0, 0, 0], probabilities=proba, min_probability=0.2)
    >>> voted.tolist(), int(table["kept_own"][0])
    (['T cell', 'T cell', 'T cell', 'T cell', 'NK cell'], 1)
    """
    labels = np.asarray([str(label) for label in cell_labels], dtype=object)
    groups = np.asarray([str(c) for c in clusters], dtype=object)
    if len(labels) != len(groups):
        raise ACTINNInputError("%d cell labels but %d cluster assignments" %
                               (len(labels), len(groups)))
    for name, value in (("min_share", min_share), ("new_population_share",
                                                   new_population_share),
                        ("min_probability", min_probability)):
        check_share(value, name)
    if probabilities is not None and len(probabilities) != len(labels):
        raise ACTINNInputError("%d cell labels but %d rows of probabilities" %
                               (len(labels), len(probabilities)))
    voted = labels.copy()
    rows = []
    for cluster in sorted(set(groups), key=natural_key):
        members = np.flatnonzero(groups == cluster)
        tally = Counter(labels[members])
        size = len(members)
        n_unassigned = tally.pop(unassigned_label, 0)
        if tally:
            top = max(tally.values())
            majority = min(k for k, v in tally.items() if v == top)
        else:
            top, majority = 0, unassigned_label
        share = top / size
        new_population = n_unassigned / size > new_population_share
        kept = 0
        if new_population:
            voted[members] = unassigned_label
            is_voted = True
        elif share >= min_share and tally:
            takers = members[_plausible(probabilities, members, majority,
                                        min_probability)]
            voted[takers] = majority
            kept = int((labels[members] != majority).sum() -
                       (labels[takers] != majority).sum())
            is_voted = True
        else:
            is_voted = False
        rows.append({
            "cluster": cluster,
            "size": size,
            "majority_label": majority,
            "majority_share": share,
            "unassigned_share": n_unassigned / size,
            "possible_new_population": bool(new_population),
            "voted": is_voted,
            "kept_own": kept,
        })
    table = pd.DataFrame(rows,
                         columns=[
                             "cluster", "size", "majority_label",
                             "majority_share", "unassigned_share",
                             "possible_new_population", "voted", "kept_own"
                         ])
    return voted.astype(str), table


def check_share(value: Any, name: str) -> None:
    """Refuse a share or probability ``value`` outside [0, 1] (or not a
    number), naming it ``name`` as the caller's parameter is named.

    Examples
    --------
    >>> from deepchem_actinn.voting import check_share
    >>> check_share(2, "vote_min_probability")
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: vote_min_probability must be between 0 and 1, got 2
    """
    try:
        inside = 0.0 <= float(value) <= 1.0
    except (TypeError, ValueError):
        inside = False
    if not inside:
        raise ACTINNInputError("%s must be between 0 and 1, got %r" %
                               (name, value))


def _plausible(probabilities: Optional[pd.DataFrame], members: np.ndarray,
               label: str, min_probability: float) -> Any:
    """Which ``members`` give ``label`` at least ``min_probability`` (all of
    them without probabilities or with a threshold of 0)."""
    if probabilities is None or min_probability <= 0.0:
        return slice(None)
    if label not in probabilities.columns:
        raise ACTINNInputError(
            "no probability column for the majority label %r; the columns "
            "are: %s" % (label, examples(list(probabilities.columns))))
    column = probabilities[label].to_numpy()
    return column[members] >= min_probability


def read_clusters(path: Union[str, Path],
                  cell_ids: Sequence[str]) -> np.ndarray:
    """The user's clusters from a ``cell<TAB>cluster`` file, in query order.

    A first line naming no query cell (e.g. ``cellname<TAB>cluster``) is
    taken as a header. The file is read as labels files are (the package's
    one reader of two-column text, ``io.labels.read_pairs``): a file whose
    first line holds a comma and no tab is read as CSV (``cell,cluster``),
    as R's ``write.csv`` and pandas' ``to_csv`` write a column of cluster
    ids; a field may be quoted (``"c1"``); a gzipped file is read
    gunzipped. Every query cell must appear once; other cells (the file
    clusters a whole experiment, the query is a part of it) are left out,
    and the log says how many.

    Parameters
    ----------
    path: str or Path
        Tab- or comma-separated file, one cell per line.
    cell_ids: sequence of str
        The query's cell ids, in the query's order.

    Returns
    -------
    numpy.ndarray of str
        The cluster of each cell of ``cell_ids``.

    Raises
    ------
    ACTINNInputError
        A line without a cluster or of more than two columns, a query cell
        whose cluster is a missing value (``NA``, as labels files read it:
        ``io.cell_labels.missing_value``), a file that is not text, a cell
        listed twice, query cells the file does not list, or a query whose
        cell ids repeat (the message names the file and the line or the
        cells).

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.voting import read_clusters
    >>> path = os.path.join(tempfile.mkdtemp(), "clusters.txt")
    >>> with open(path, "w") as handle:
    ...     _ = handle.write("cellname\\tcluster\\nc2\\t7\\nc1\\t3\\n")
    >>> read_clusters(path, ["c1", "c2"]).tolist()
    ['3', '7']
    """
    path = Path(path)
    ids = [str(c) for c in cell_ids]
    known = set(ids)
    if len(known) < len(ids):
        twice = repeated(ids)
        raise ACTINNInputError(
            "%s: the query names %s more than once (%s), so its cells "
            "cannot be matched to clusters by id; make the ids unique" %
            (path, counted(len(twice), "cell"), examples(twice)))
    from deepchem_actinn.io.cell_labels import missing_value  # h5py: on use
    from deepchem_actinn.io.labels import read_pairs
    found = {}
    duplicates: List[str] = []
    unclustered: List[Tuple[str, int, str]] = []  # NA: cell, line, value
    rows = read_pairs(path, "cell<TAB>cluster")
    if rows and len(rows[0][1]) > 1 and rows[0][1][0].strip() not in known:
        header = rows[0][1][0].strip()
        if not any(r[1][0].strip() == header for r in rows[1:]):
            rows = rows[1:]
    for number, given, line in rows:
        fields = [f.strip() for f in given]
        while len(fields) > 2 and not fields[-1]:
            fields.pop()  # a trailing tab is not a column
        if len(fields) < 2 or not fields[1]:
            raise ACTINNInputError(
                "%s: line %d has no cluster (expected cell<TAB>cluster): got "
                "%r" % (path, number, line[:60]))
        if len(fields) > 2:
            raise ACTINNInputError(
                "%s: line %d has more than two columns (expected cell<TAB>"
                "cluster: which column is the cluster?): got %r" %
                (path, number, line[:60]))
        cell = fields[0]
        if cell in found and cell in known:  # others are left out anyway
            duplicates.append(cell)
        found[cell] = fields[1]
        if cell in known and missing_value(fields[1]):  # as labels files
            unclustered.append((cell, number, fields[1]))
    if duplicates:
        raise ACTINNInputError(
            "%s: %s more than once: %s" %
            (path, counted(len(duplicates), "cell",
                           "is listed/are listed"), examples(duplicates)))
    if unclustered:
        raise ACTINNInputError(
            "%s: %s a missing value (%s) for a cluster: %s (%s %s); give "
            "them a cluster, or leave them out of the query" %
            (path, counted(len(unclustered), "query cell", "has/have"),
             ", ".join(sorted({v for _, _, v in unclustered})),
             examples([c for c, _, _ in unclustered
                      ]), "line" if len(unclustered) == 1 else "lines",
             examples([str(n) for _, n, _ in unclustered])))
    missing = [c for c in ids if c not in found]
    if found and len(missing) == len(ids):
        raise ACTINNInputError(
            "%s: none of the query's cells is listed: the file names cells "
            "such as %s, the query %s" %
            (path, examples(list(found)), examples(ids)))
    unknown = [c for c in found if c not in known]
    if unknown:
        # clusters of a whole experiment, of which the query is a part
        logger.info("%s: %s not in the query, left out (e.g. %s)", path,
                    counted(len(unknown), "listed cell", "is/are"),
                    examples(unknown))
    if missing:
        raise ACTINNInputError(
            "%s: %s no cluster: %s" %
            (path, counted(len(missing), "query cell",
                           "has/have"), examples(missing)))
    return np.asarray([found[c] for c in ids], dtype=str)


def clusters_from_obs(adata, key: str) -> np.ndarray:
    """The user's clusters from an ``obs`` column of an AnnData.

    Parameters
    ----------
    adata: anndata.AnnData
        The query, cells x genes.
    key: str
        The ``obs`` column holding each cell's cluster.

    Returns
    -------
    np.ndarray
        Each cell's cluster as text, in ``adata``'s cell order.

    Raises
    ------
    ACTINNInputError
        ``key`` is not a column of ``obs``, or some cells have no cluster.

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd
    >>> from deepchem_actinn.voting import clusters_from_obs
    >>> adata = anndata.AnnData(np.ones((2, 1)),
    ...                         obs=pd.DataFrame({"leiden": ["0", "1"]},
    ...                                          index=["c1", "c2"]))
    >>> clusters_from_obs(adata, "leiden").tolist()
    ['0', '1']
    """
    if key not in adata.obs.columns:
        raise ACTINNInputError(
            "no obs column %r to take clusters from; the columns are: %s" %
            (key, examples(list(adata.obs.columns)) or "none"))
    from deepchem_actinn.io.cell_labels import has_label  # h5py: on use
    column = adata.obs[key]
    empty = ~has_label(column)  # as an obs column of labels is read
    if empty.any():
        raise ACTINNInputError("obs column %r has no cluster for %s: %s" %
                               (key, counted(int(empty.sum()), "cell"),
                                examples(adata.obs_names[empty])))
    return column.astype(str).to_numpy()


def natural_key(name: str) -> Tuple[int, float, str]:
    """Sort key putting "2" before "10" and numbers before words.

    Examples
    --------
    >>> from deepchem_actinn.voting import natural_key
    >>> sorted(["10", "B", "2", "1.5", "A"], key=natural_key)
    ['1.5', '2', '10', 'A', 'B']
    """
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)
