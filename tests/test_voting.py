"""Majority voting over clusters (deepchem_actinn/voting.py)."""
import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.voting import (clusters_from_obs, default_resolution,
                                    majority_vote, over_cluster, read_clusters)

U = "Unassigned"


def test_majority_vote_exact_labels_and_table():
    labels = [
        "T cell",
        "T cell",
        "NK cell",
        U,  # c1: T cell 2/4, rescues the U
        U,
        U,
        U,
        "B cell",  # c2: 3/4 Unassigned -> new population
        "B cell",
        "Monocyte",  # c10: tie -> alphabetical, B cell
        U,
        U,  # c3: all Unassigned
    ]
    clusters = ["c1"] * 4 + ["c2"] * 4 + ["c10"] * 2 + ["c3"] * 2
    voted, table = majority_vote(labels, clusters)
    assert voted.tolist() == (["T cell"] * 4 + [U] * 4 + ["B cell"] * 2 +
                              [U] * 2)
    expected = pd.DataFrame({
        "cluster": ["c1", "c10", "c2", "c3"],
        "size": [4, 2, 4, 2],
        "majority_label": ["T cell", "B cell", "B cell", U],
        "majority_share": [0.5, 0.5, 0.25, 0.0],
        "unassigned_share": [0.25, 0.0, 0.75, 1.0],
        "possible_new_population": [False, False, True, True],
        "voted": [True, True, True, True],
        "kept_own": [0, 0, 0, 0],
    })
    pd.testing.assert_frame_equal(table, expected)


def test_majority_vote_min_share_numeric_order_and_half_unassigned():
    labels = ["A", "A", "B", U, U, "A", "B", "B", "B"]
    clusters = [10, 10, 10, 2, 2, 2, 2, 9, 9]
    voted, table = majority_vote(labels, clusters, min_share=0.6)
    # cluster 10: A 2/3 >= 0.6 -> voted; cluster 2: half Unassigned is not
    # "most", A and B 1/4 each -> A by name but 0.25 < 0.6 -> own labels.
    assert voted.tolist() == ["A", "A", "A", U, U, "A", "B", "B", "B"]
    assert table["cluster"].tolist() == ["2", "9", "10"]
    assert table["voted"].tolist() == [False, True, True]
    assert table["possible_new_population"].tolist() == [False, False, False]
    assert table["majority_share"].tolist() == pytest.approx([0.25, 1.0, 2 / 3])


def test_majority_vote_with_probabilities_keeps_confident_cells():
    labels = ["T cell", "T cell", "T cell", "NK cell", "NK cell", U, "B cell"]
    clusters = [0, 0, 0, 0, 0, 0, 1]
    proba = pd.DataFrame({
        "T cell": [0.9, 0.8, 0.7, 0.25, 0.1, 0.2, 0.0],
        "NK cell": [0.1, 0.2, 0.3, 0.75, 0.9, 0.3, 0.0],
        "B cell": [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0],
    })
    voted, table = majority_vote(labels,
                                 clusters,
                                 probabilities=proba,
                                 min_probability=0.2)
    # NK cell 0.25 >= 0.2 takes T cell; NK cell 0.1 keeps its own; the
    # Unassigned cell gives T cell exactly 0.2 and takes it
    assert voted.tolist() == [
        "T cell", "T cell", "T cell", "T cell", "NK cell", "T cell", "B cell"
    ]
    assert table["kept_own"].tolist() == [1, 0]
    assert table["voted"].tolist() == [True, True]
    # threshold 0, or no probabilities: the plain vote
    plain, plain_table = majority_vote(labels, clusters)
    assert plain.tolist() == ["T cell"] * 6 + ["B cell"]
    zero, _ = majority_vote(labels,
                            clusters,
                            probabilities=proba,
                            min_probability=0.0)
    assert zero.tolist() == plain.tolist()
    assert plain_table["kept_own"].tolist() == [0, 0]


def test_majority_vote_probabilities_must_fit():
    with pytest.raises(ACTINNInputError, match="2 cell labels but 3 rows"):
        majority_vote(["A", "A"], [0, 0],
                      probabilities=pd.DataFrame({"A": [1.0, 1.0, 1.0]}),
                      min_probability=0.2)
    with pytest.raises(ACTINNInputError, match="no probability column.*'A'"):
        majority_vote(["A", "A"], [0, 0],
                      probabilities=pd.DataFrame({"B": [1.0, 1.0]}),
                      min_probability=0.2)
    with pytest.raises(ACTINNInputError, match="min_probability must be"):
        majority_vote(["A"], [0], min_probability=1.5)


def test_a_parent_that_is_a_type_votes_with_its_own_probability():
    from deepchem_actinn.annotator.labelling import label_probabilities
    from deepchem_actinn.hierarchy import TypeHierarchy
    hierarchy = TypeHierarchy({
        "CD4 T": "T cell",
        "CD8 T": "T cell",
        "T cell": "lymphocyte",
        "B cell": "lymphocyte"
    })
    proba = np.array([[0.6, 0.1, 0.1, 0.2]])
    frame = label_probabilities(proba, ["T cell", "CD4 T", "CD8 T", "B cell"],
                                hierarchy)
    assert frame["T cell"].tolist() == pytest.approx([0.8])
    assert frame["lymphocyte"].tolist() == pytest.approx([1.0])
    assert frame["CD4 T"].tolist() == pytest.approx([0.1])


def test_majority_vote_rejects_bad_input():
    with pytest.raises(ACTINNInputError, match="3 cell labels but 2 cluster"):
        majority_vote(["a", "b", "c"], [1, 2])
    with pytest.raises(ACTINNInputError, match="min_share must be between"):
        majority_vote(["a"], [1], min_share=1.5)


def test_read_clusters_orders_by_query_and_names_bad_cells(tmp_path, caplog):
    path = tmp_path / "clusters.txt"
    path.write_text("cellname\tcluster\nc3\tx\nc1\t0\nc2\t0\n")
    assert read_clusters(path, ["c1", "c2", "c3"]).tolist() == ["0", "0", "x"]
    path.write_text("c1\t0\nc2\t0\n")  # no header
    assert read_clusters(path, ["c2", "c1"]).tolist() == ["0", "0"]
    with pytest.raises(ACTINNInputError,
                       match=r"clusters.txt: 1 query cell has no cluster: "
                       r"c3"):
        read_clusters(path, ["c1", "c2", "c3"])
    # clusters of a whole experiment: the query's own are taken
    path.write_text("c1\t0\nc2\t0\nzz\t1\n")
    with caplog.at_level("INFO", logger="deepchem_actinn"):
        assert read_clusters(path, ["c2", "c1"]).tolist() == ["0", "0"]
    assert "1 listed cell is not in the query, left out (e.g. zz)" in \
        caplog.text
    # cells outside the query may repeat (barcodes of several samples)
    path.write_text("c1\t0\nc2\t0\nzz\t1\nzz\t2\n")
    assert read_clusters(path, ["c2", "c1"]).tolist() == ["0", "0"]
    path.write_text("c1\t0\nc2\t0\nzz\t1\n")
    with pytest.raises(ACTINNInputError) as err:
        read_clusters(path, ["AAAC-1", "AAAG-1"])
    assert str(err.value) == (
        "%s: none of the query's cells is listed: the file names cells such "
        "as c2, zz, the query AAAC-1, AAAG-1" % path)  # c1: a header
    path.write_text("c1\t0\nc1\t1\n")
    with pytest.raises(ACTINNInputError, match="listed more than once: c1"):
        read_clusters(path, ["c1"])
    path.write_text("c1 0\n")
    with pytest.raises(ACTINNInputError,
                       match="clusters.txt: line 1 has no cluster .*'c1 0'"):
        read_clusters(path, ["c1"])
    path.write_text("c1\t0\nc2 1\n")
    with pytest.raises(ACTINNInputError,
                       match="clusters.txt: line 2 has no cluster .*'c2 1'"):
        read_clusters(path, ["c1", "c2"])
    path.write_text("c1\t0\tx\n")
    with pytest.raises(ACTINNInputError,
                       match="line 1 has more than two columns"):
        read_clusters(path, ["c1"])
    path.write_text("c1\t0\t\n")  # a trailing tab is not a column
    assert read_clusters(path, ["c1"]).tolist() == ["0"]
    path.write_text("c1\t0\n", encoding="utf-16")
    with pytest.raises(
            ACTINNInputError,
            match="clusters.txt: the file holds UTF-16 text .*iconv -f utf-16"):
        read_clusters(path, ["c1"])
    path.write_text("c1\t0\nc2\t1\n")
    with pytest.raises(ACTINNInputError,
                       match="clusters.txt: the query names 1 cell more "
                       "than once \\(c1\\)"):
        read_clusters(path, ["c1", "c2", "c1"])


def test_clusters_from_obs():
    adata = anndata.AnnData(np.ones((3, 1)),
                            obs=pd.DataFrame({"leiden": ["1", "0", None]},
                                             index=["a", "b", "c"]))
    with pytest.raises(ACTINNInputError, match="no cluster for 1 cell: c"):
        clusters_from_obs(adata, "leiden")
    with pytest.raises(ACTINNInputError, match="no obs column 'louvain'"):
        clusters_from_obs(adata, "louvain")
    adata.obs["leiden"] = pd.Categorical([1, 0, 1])
    assert clusters_from_obs(adata, "leiden").tolist() == ["1", "0", "1"]


def test_default_resolution_grows_with_cells():
    sizes = [100, 4_999, 5_000, 20_000, 40_000, 100_000, 200_000, 10**7]
    assert [default_resolution(n) for n in sizes
           ] == [5.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 30.0]


def test_over_cluster_finds_clear_groups_and_is_seeded():
    # Three groups of 60 cells, each with its own 30 marker genes.
    rng = np.random.default_rng(1)
    n_groups, per_group, n_genes = 3, 60, 120
    means = np.full((n_groups, n_genes), 0.5)
    for g in range(n_groups):
        means[g, g * 30:(g + 1) * 30] = 20.0
    truth = np.repeat(np.arange(n_groups), per_group)
    X = rng.poisson(means[truth]).astype(np.float32)
    clusters = over_cluster(X, resolution=0.3, seed=0)
    assert clusters.shape == (n_groups * per_group,)
    # Exactly one cluster per group, and no cluster spans two groups.
    pairs = set(zip(truth.tolist(), clusters.tolist()))
    assert len(pairs) == n_groups == len(set(clusters))
    # At the default (over-clustering) resolution: more clusters, each pure.
    fine = over_cluster(anndata.AnnData(X), seed=0)
    assert len(set(fine)) > n_groups
    for cluster in set(fine):
        assert len(set(truth[fine == cluster])) == 1
    assert over_cluster(X, seed=0).tolist() == fine.tolist()
    # Voting on the clusters mends a few wrong labels.
    labels = np.array(["g%d" % t for t in truth], dtype=object)
    labels[[0, 70, 130]] = ["g2", U, "g0"]
    voted, table = majority_vote(labels, clusters)
    assert voted.tolist() == ["g%d" % t for t in truth]
    assert not table["possible_new_population"].any()


def test_over_cluster_leaves_pytorchs_threads_as_they_were():
    """scanpy's neighbour graph set PyTorch's intra-op threads (1 -> the
    cores) and left them so: every later prediction in the process, and
    the --threads a user gave, changed under it."""
    import torch
    before = torch.get_num_threads()
    rng = np.random.default_rng(0)
    X = rng.poisson(3.0, size=(60, 40)).astype(np.float32)
    try:
        torch.set_num_threads(1)
        over_cluster(X, seed=0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_over_cluster_does_not_depend_on_the_order_of_the_cells():
    # Weak groups at the default (over-clustering) resolution: before the
    # cells were put in an order of their own, a permuted query gave 98 %
    # of its cells another cluster name (and moved some between clusters).
    rng = np.random.default_rng(2)
    means = np.full((4, 100), 1.0)
    for g in range(4):
        means[g, g * 10:(g + 1) * 10] = 3.0
    X = rng.poisson(means[np.repeat(np.arange(4), 60)]).astype(np.float32)
    perm = rng.permutation(len(X))
    clusters = over_cluster(X, seed=0)
    assert len(set(clusters)) > 4
    assert over_cluster(X[perm], seed=0).tolist() == clusters[perm].tolist()
    assert over_cluster(sp.csr_matrix(X[perm]),
                        seed=0).tolist() == clusters[perm].tolist()


def test_read_clusters_takes_csv_as_r_and_pandas_write_it(tmp_path):
    # R: write.csv(obj@meta.data["seurat_clusters"]); pandas: to_csv
    r_file = tmp_path / "seurat.csv"
    r_file.write_text('"","seurat_clusters"\n"c2","7"\n"c1","3"\n')
    assert read_clusters(r_file, ["c1", "c2"]).tolist() == ["3", "7"]
    pandas_file = tmp_path / "leiden.csv"
    pd.DataFrame({"leiden": ["0", "1"]}, index=["c1", "c2"]).to_csv(pandas_file)
    assert read_clusters(pandas_file, ["c1", "c2"]).tolist() == ["0", "1"]
    table = tmp_path / "meta.csv"
    table.write_text('"","orig.ident","seurat_clusters"\n"c1","s1","3"\n')
    with pytest.raises(ACTINNInputError, match="more than two columns"):
        read_clusters(table, ["c1"])


def test_read_clusters_reads_as_the_labels_reader_does(tmp_path):
    """Clusters are read by the one reader of two-column text: gzipped, ids
    quoted as pandas quotes them, CSV or tab-separated alike."""
    import gzip
    path = tmp_path / "clusters.txt.gz"
    path.write_bytes(gzip.compress(b'"c2"\t"7"\n"c1"\t3\n'))
    assert read_clusters(path, ["c1", "c2"]).tolist() == ["3", "7"]
    path.write_bytes(gzip.compress(b'"",leiden\n"c1","1, 2"\n'))
    assert read_clusters(path, ["c1"]).tolist() == ["1, 2"]


def test_a_missing_cluster_is_refused_as_labels_files_read_it(tmp_path):
    """``NA`` (R's missing value) and the labels files' other spellings of
    one are no cluster: refused for the query's cells, named, as an empty
    field is (it was voted on as a cluster named NA)."""
    path = tmp_path / "clusters.csv"
    path.write_text('"","leiden"\n"c1","3"\n"c2",NA\n"c3","NaN"\n"c4","3"\n'
                    '"zz",NA\n')
    with pytest.raises(ACTINNInputError) as err:
        read_clusters(path, ["c1", "c2", "c3", "c4"])
    assert str(err.value) == (
        "%s: 2 query cells have a missing value (NA, NaN) for a cluster: "
        "c2, c3 (lines 3, 4); give them a cluster, or leave them out of the "
        "query" % path)
    # a cell outside the query is left out, whatever its cluster
    assert read_clusters(path, ["c1", "c4"]).tolist() == ["3", "3"]


def test_an_obs_column_without_a_cluster_is_refused_as_labels_are():
    """An obs column's missing values, as its labels columns are read:
    NaN, and the text of one ('nan', as astype(str) leaves it)."""
    adata = anndata.AnnData(np.ones((3, 1)),
                            obs=pd.DataFrame({"leiden": ["0", "nan", None]},
                                             index=["c1", "c2", "c3"]))
    with pytest.raises(ACTINNInputError) as err:
        clusters_from_obs(adata, "leiden")
    assert str(
        err.value) == ("obs column 'leiden' has no cluster for 2 cells: c2, c3")
