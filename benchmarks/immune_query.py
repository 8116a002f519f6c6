#!/usr/bin/env python
"""A droplet query shaped like the real held-out set: five immune types.

The real cross-technology query (issue 13; not in this repository) holds
1,000 10x cells of five immune types - B, T and NK cells, monocytes and
granulocytes - and is annotated with the bundled Smart-seq2 sample, all
twelve types, as the reference. Its commonest error is NK cells called T
cells. The bundled test cells hold only 12 NK cells, too few to see it, so
this query takes every immune cell of the bundled training and test files
(1,957, 62 of them NK cells), makes them droplet-like together
(``technologies.DROPLET``: one seed, one query, one set of capture factors
and missing genes) and labels each with an annotator that never saw it:
the bundled cells are split into five folds stratified by type
(:func:`cross_fitted_folds`), and the immune cells of each fold are one
query for an annotator trained, as ``actinn run`` trains, on the genes the
query measures of the other four folds (about 4,000 cells of all twelve
types, the size of the bundled reference).

Majority voting needs the whole query at once: the query is over-clustered
once (:func:`deepchem_actinn.voting.over_cluster`) and the vote
(:func:`deepchem_actinn.voting.majority_vote`, as ``majority_voting=True``
calls it) uses each cell's label and probabilities from its own fold's
annotator.

Two more rows say what bounds the figures: annotators trained on the same
folds as the simulated droplet technology measured them (same capture
factors, missing genes and depth), and the best any vote over the query's
over-clusters can do (each cluster given its true majority type). The
simulated query's own structure is weaker than a real droplet file's (its
unseen genes carry no cell type), so both votes are also given over two
clusterings a real query might have: Leiden clusters of the same cells at
the reference's own depth, and those clusters split by true type (pure).

Peers (``--peers celltypist,actinn_jax``, after ``python
benchmarks/compare.py --setup --tools celltypist,actinn_jax``) are
cross-fitted the same way, each trained on the same folds and the same genes
with its own recipe (``benchmarks/tools/run_<tool>.py``), and each annotates
the query file as it is and the query with its genes first intersected with
the reference's (as the original ACTINN does).

Macro F1 is given two ways: over the five types of the query, and over
every label given (scikit-learn's default), where a type the query does not
hold but some cells were given (a stray label) counts with F1 0.

Usage::

    python benchmarks/immune_query.py               # held-out seeds
    python benchmarks/immune_query.py --seeds 0,1,2
    python benchmarks/immune_query.py --peers celltypist,actinn_jax
"""
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import peers  # noqa: E402
import technologies  # noqa: E402
from droplet_bound import cluster_majority  # noqa: E402

from deepchem_actinn.models.linear import LINEAR_WEIGHT  # noqa: E402

#: The types of the real held-out droplet query.
IMMUNE_TYPES = ("B cell", "Granulocyte", "Monocyte", "NK cell", "T cell")


def cross_fitted_folds(labels: Sequence[str],
                       n_folds: int = 5,
                       seed: int = 0) -> np.ndarray:
    """Each cell's fold, ``0 .. n_folds - 1``: folds stratified by type
    (every type with at least ``n_folds`` cells is in every fold).

    Examples
    --------
    >>> folds = cross_fitted_folds(["a"] * 5 + ["b"] * 10, n_folds=5)
    >>> [sorted(folds[:5].tolist()), np.bincount(folds[5:]).tolist()]
    [[0, 1, 2, 3, 4], [2, 2, 2, 2, 2]]
    """
    from sklearn.model_selection import StratifiedKFold
    labels = np.asarray(labels)
    folds = np.empty(len(labels), dtype=np.int64)
    split = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    for fold, (_, cells) in enumerate(split.split(np.zeros(len(labels)),
                                                  labels)):
        folds[cells] = fold
    return folds


def fold_splits(folds: np.ndarray, query: np.ndarray):
    """Per fold: ``(fold, training cells, query positions)``, the cells of
    the other folds (rows of ``folds``) and the positions in ``query`` (rows
    of ``folds``) of the query cells in this fold.

    Examples
    --------
    >>> [(f, t.tolist(), q.tolist())
    ...  for f, t, q in fold_splits(np.array([0, 1, 0, 1]), np.array([1, 2]))]
    [(0, [1, 3], [1]), (1, [0, 2], [0])]
    """
    for fold in np.unique(folds):
        yield (int(fold), np.flatnonzero(folds != fold),
               np.flatnonzero(folds[query] == fold))


def scores(truth: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
    """Accuracy, macro F1 over the immune types and over every label, the
    share Unassigned and the accuracy of the rest, NK cells called T cells.

    Examples
    --------
    >>> s = scores(np.array(["NK cell", "T cell", "B cell", "B cell"]),
    ...            np.array(["T cell", "T cell", "Hepatocyte", "Unassigned"]))
    >>> s["accuracy"], s["unassigned"], s["assigned_accuracy"], s["nk_as_t"]
    (0.25, 0.25, 0.3333333333333333, 1)
    """
    from sklearn.metrics import f1_score
    assigned = labels != "Unassigned"
    return {
        "accuracy":
            float((labels == truth).mean()),
        "f1_types":
            float(
                f1_score(truth,
                         labels,
                         average="macro",
                         labels=list(IMMUNE_TYPES),
                         zero_division=0)),
        "f1_all":
            float(f1_score(truth, labels, average="macro", zero_division=0)),
        "unassigned":
            float((~assigned).mean()),
        "assigned_accuracy":
            float((labels == truth)[assigned].mean()),
        "nk_as_t":
            int(((truth == "NK cell") & (labels == "T cell")).sum()),
    }


def peer_labels(tool: str, work: Path, seed: int, *, Xq, genes: Sequence[str],
                shared: Sequence[str], X, columns: Sequence[int], y: np.ndarray,
                immune: np.ndarray, folds: np.ndarray,
                threads: Optional[int]) -> Dict[str, np.ndarray]:
    """The labels a peer gives the immune query, cross-fitted as
    :func:`annotate` does.

    Parameters
    ----------
    tool: str
        The peer (:data:`peers.PEERS`).
    work: Path
        Where its venv is (``work/venvs``); its runs go to
        ``work/immune/seed<seed>/fold<k>``.
    seed: int
        The query's seed (names the runs).
    Xq, genes:
        The query (the ``immune`` cells) and its genes, ``shared`` first.
    shared, X, columns, y:
        The reference's genes the query measures, all bundled cells' counts,
        those genes' columns in ``X``, every cell's type.
    immune, folds:
        The query cells' rows in ``X``; every cell's fold.
    threads: int, optional
        The peer's compute threads.

    Returns
    -------
    dict
        Form (:data:`peers.QUERY_FORMS`) -> each query cell's label: from
        the peer trained on the other folds (:func:`peers.run_peer`).
    """
    labels = {
        form: np.empty(len(immune), dtype=object) for form in peers.QUERY_FORMS
    }
    for fold, train, rows in fold_splits(folds, immune):
        given = peers.run_peer(
            tool, work, work / "immune" / ("seed%d" % seed) / ("fold%d" % fold),
            X[train][:, columns], y[train], shared, Xq[rows], genes, threads)
        for form, values in given.items():
            labels[form][rows] = values
    return {form: values.astype(str) for form, values in labels.items()}


def annotate(X,
             reference: Sequence[str],
             y: np.ndarray,
             immune: np.ndarray,
             folds: np.ndarray,
             seed: int,
             vote_min_probability: float,
             other_clusters: Optional[Dict[str, np.ndarray]] = None,
             peer_tools: Sequence[str] = (),
             work: Optional[Path] = None,
             threads: Optional[int] = None,
             linear_weight: float = LINEAR_WEIGHT) -> Dict[str, np.ndarray]:
    """The runs of one query seed (the ``immune`` cells of ``X``, genes
    ``reference``, made droplet-like with ``seed``): each cell's labels, by
    run name. ``other_clusters``: more clusterings of the query cells to
    vote over (by name), both votes each. ``peer_tools``: peers to run
    beside (:func:`peer_labels`; venvs and runs under ``work``).
    ``linear_weight``: the annotators' (this package's runs and the
    same-technology bound alike)."""
    import pandas as pd

    from deepchem_actinn import ACTINNAnnotator
    from deepchem_actinn.annotator.labelling import label_probabilities
    from deepchem_actinn.preprocessing.genes import (columns_of,
                                                     gene_candidates,
                                                     measured_genes)
    from deepchem_actinn.voting import majority_vote, over_cluster
    reference = list(reference)
    Xq, genes, _ = technologies.make_query(X[immune], reference,
                                           technologies.DROPLET, seed)
    Xq = sp.csr_matrix(Xq)
    shared = measured_genes(reference, gene_candidates(genes))
    columns = columns_of(reference, shared)
    n = len(immune)
    plain = np.empty(n, dtype=object)
    marked = np.empty(n, dtype=object)
    proba: Optional[pd.DataFrame] = None
    for _, train, rows in fold_splits(folds, immune):
        annotator = ACTINNAnnotator(seed=0, linear_weight=linear_weight).fit(
            X[train][:, columns], shared, y[train])
        result = annotator.predict(Xq[rows], genes)
        plain[rows] = result.cell_types
        marked[rows] = annotator.predict(Xq[rows], genes,
                                         unassigned=True).cell_types
        fold_proba = label_probabilities(result.probabilities,
                                         result.type_names, None)
        if proba is None:
            proba = pd.DataFrame(0.0,
                                 index=range(n),
                                 columns=fold_proba.columns)
        proba.iloc[rows] = fold_proba[proba.columns].to_numpy()
    # The bound: references measured by the same simulated technology (the
    # same seed draws the same capture factors and missing genes), trained
    # on the genes it keeps.
    if list(genes[:len(shared)]) != list(shared):
        raise RuntimeError("the query's kept genes do not lead its columns")
    same = sp.csr_matrix(
        technologies.make_query(X, reference, technologies.DROPLET,
                                seed)[0])[:, :len(shared)]
    bound = np.empty(n, dtype=object)
    for _, train, rows in fold_splits(folds, immune):
        annotator = ACTINNAnnotator(seed=0, linear_weight=linear_weight).fit(
            same[train], shared, y[train])
        bound[rows] = annotator.predict(Xq[rows], genes).cell_types
    clusters = over_cluster(Xq, seed=0)
    voted, _ = majority_vote(plain,
                             clusters,
                             probabilities=proba,
                             min_probability=vote_min_probability)
    plain_vote, _ = majority_vote(plain, clusters)
    other_votes = {}
    for name, given in (other_clusters or {}).items():
        other_votes["--majority-voting over %s" % name] = majority_vote(
            plain,
            given,
            probabilities=proba,
            min_probability=vote_min_probability)[0]
        other_votes["CellTypist's vote over %s" % name] = majority_vote(
            plain, given)[0]
    peer_rows = {}
    for tool in peer_tools:
        given = peer_labels(tool,
                            work,
                            seed,
                            Xq=Xq,
                            genes=genes,
                            shared=shared,
                            X=X,
                            columns=columns,
                            y=y,
                            immune=immune,
                            folds=folds,
                            threads=threads)
        peer_rows["%s, the query file as it is" % tool] = given["as is"]
        peer_rows["%s, the query's genes intersected with the reference's "
                  "first" % tool] = given["intersected"]
        peer_rows["%s (genes intersected) + CellTypist's vote over the "
                  "query's over-clusters" % tool] = majority_vote(
                      given["intersected"], clusters)[0]
    return {
        "actinn run":
            plain.astype(str),
        "--unassigned":
            marked.astype(str),
        "--majority-voting":
            voted,
        "--majority-voting --vote-min-probability 0 (CellTypist's vote)":
            plain_vote,
        **other_votes,
        **peer_rows,
        "annotator trained on the same technology (bound)":
            bound.astype(str),
        "best vote over these over-clusters (true majority)":
            cluster_majority(np.asarray(y[immune]).astype(object),
                             clusters).astype(str),
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = technologies.seed_parser(__doc__)
    parser.add_argument("--linear-weight",
                        type=float,
                        default=LINEAR_WEIGHT,
                        help="the annotator's linear_weight (its default, "
                        "%g; 0: the networks alone)" % LINEAR_WEIGHT)
    peers.add_arguments(parser, HERE / ".work")
    args = parser.parse_args(argv)
    chosen, work = peers.from_args(parser, args)
    import torch

    from deepchem_actinn.datasets import load_tabula_muris_sample
    from deepchem_actinn.voting import MIN_VOTE_PROBABILITY, over_cluster
    torch.set_num_threads(args.threads)
    train, test = load_tabula_muris_sample(upper_case_genes=False)
    X = sp.vstack([sp.csr_matrix(train.X), sp.csr_matrix(test.X)]).tocsr()
    y = np.concatenate([
        train.obs["cell_type"].astype(str).to_numpy(),
        test.obs["cell_type"].astype(str).to_numpy()
    ])
    immune = np.flatnonzero(np.isin(y, IMMUNE_TYPES))
    truth = y[immune]
    folds = cross_fitted_folds(y)
    # Clusterings a real query might give, to vote over: the cells' own
    # clusters at the reference's depth (a query whose own structure is as
    # clear as the reference technology's), and those split by true type
    # (pure clusters, as from a user's own careful clustering).
    deep = over_cluster(X[immune], seed=0)
    other_clusters = {
        "clusters of the cells at the reference's depth":
            deep,
        "pure clusters (those split by true type)":
            np.array([c + "|" + t for c, t in zip(deep, truth)]),
    }
    print("query: %d immune cells (%s)" % (len(immune), ", ".join(
        "%s %d" % (t, (truth == t).sum()) for t in IMMUNE_TYPES)),
          flush=True)
    rows: Dict[str, List[Dict[str, float]]] = {}
    for seed in args.seeds:
        runs = annotate(X, list(train.var_names), y, immune, folds, seed,
                        MIN_VOTE_PROBABILITY, other_clusters, chosen, work,
                        args.threads, args.linear_weight)
        for name, labels in runs.items():
            rows.setdefault(name, []).append(scores(truth, labels))
            s = rows[name][-1]
            print("seed %d  %s: accuracy %.3f  macro F1 %.3f (five types) "
                  "%.3f (every label)  Unassigned %.1f %%  assigned "
                  "accuracy %.3f  NK cells called T cells %d" %
                  (seed, name, s["accuracy"], s["f1_types"], s["f1_all"],
                   100 * s["unassigned"], s["assigned_accuracy"], s["nk_as_t"]),
                  flush=True)
    print("\n| immune query, seeds %s | accuracy | macro F1, five types | "
          "macro F1, every label | Unassigned | accuracy of the cells "
          "given a type | NK cells called T cells (of %d) |\n"
          "| --- | --- | --- | --- | --- | --- | --- |" %
          (",".join(map(str, args.seeds)), (truth == "NK cell").sum()))
    for name, values in rows.items():
        mean = {k: np.mean([v[k] for v in values]) for k in values[0]}
        print("| %s | %.3f | %.3f | %.3f | %.1f %% | %.3f | %.1f |" %
              (name, mean["accuracy"], mean["f1_types"], mean["f1_all"], 100 *
               mean["unassigned"], mean["assigned_accuracy"], mean["nk_as_t"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
