"""``train(adata, labels)``: a labelled AnnData trained on as ``annotate``
reads one - the counts found by the same rule, the labels from ``obs``."""
import numpy as np
import pytest
import scipy.sparse as sp

from deepchem_actinn import ACTINNAnnotator, train
from deepchem_actinn.errors import ACTINNInputError

pytestmark = pytest.mark.torch

PARAMS = dict(max_epochs=2, early_stopping=False, n_networks=1, seed=0)


@pytest.fixture(scope="module")
def counts(tm_reference):
    """600 reference cells as an AnnData of raw counts with their types."""
    return tm_reference(600)


@pytest.fixture(scope="module")
def expected(counts):
    return ACTINNAnnotator(**PARAMS).fit(counts.X, counts.var_names,
                                         counts.obs["cell_type"].to_numpy(),
                                         counts.obs_names)


def _same(a, b, X, genes):
    np.testing.assert_array_equal(
        a.predict(X, genes).probabilities,
        b.predict(X, genes).probabilities)


@pytest.mark.parametrize("where", [".raw", "counts", "X"])
def test_the_counts_are_found_as_annotate_finds_them(counts, expected, where):
    adata = counts.copy()
    if where != "X":
        if where == ".raw":
            adata.raw = counts.copy()
        else:
            adata.layers["counts"] = counts.X.copy()
        adata.X = sp.csr_matrix(np.log1p(counts.X.toarray()))
    annotator = train(adata, "cell_type", **PARAMS)
    assert annotator.type_names == expected.type_names
    _same(annotator, expected, counts.X[:100], counts.var_names)


def test_labels_as_a_sequence(counts, expected):
    annotator = train(counts, list(counts.obs["cell_type"]), **PARAMS)
    _same(annotator, expected, counts.X[:100], counts.var_names)
    # a Series indexed by cell id is matched by id, whatever its order
    shuffled = counts.obs["cell_type"].iloc[::-1]
    _same(train(counts, shuffled, **PARAMS), expected, counts.X[:100],
          counts.var_names)
    with pytest.raises(ACTINNInputError, match="1 cell has no label: "):
        train(counts, shuffled.iloc[1:], **PARAMS)
    with pytest.raises(ACTINNInputError, match="599 labels for 600 cells"):
        train(counts, list(counts.obs["cell_type"])[1:], **PARAMS)


@pytest.mark.parametrize("labelled_only", [False, True])
def test_a_series_indexed_by_none_of_the_cells_says_so(counts, labelled_only):
    """A Series of labels indexed 1..n (row numbers of a table read with
    pandas, R's 1-based ones) names no cell: said, with what to pass,
    rather than "600 cells have no label ... (pass labelled_only=True)",
    which fails again."""
    labels = counts.obs["cell_type"].reset_index(drop=True)
    labels.index = labels.index + 1
    labels.name = "type"
    with pytest.raises(ACTINNInputError) as err:
        train(counts, labels, labelled_only=labelled_only, **PARAMS)
    assert str(err.value) == (
        "labels: the Series' index names none of the obs_names (its index: "
        "1, 2, 3, ... (600 in all); obs_names: %s, ... (600 in all)): pass "
        "the name of an obs column of labels, or a Series indexed by "
        "obs_names (labels.set_axis(adata.obs_names), where it is in their "
        "order)" % ", ".join(counts.obs_names[:3]))
    labels.name = "cell_type"  # the obs column's own name: said
    with pytest.raises(ACTINNInputError) as err:
        train(counts, labels, labelled_only=labelled_only, **PARAMS)
    assert "pass the name of the obs column, 'cell_type', or a Series " \
        "indexed by obs_names" in str(err.value)


def test_unlabelled_cells_are_named_or_left_out(counts):
    adata = counts.copy()
    adata.obs["partial"] = adata.obs["cell_type"].astype(object)
    adata.obs.iloc[:2, adata.obs.columns.get_loc("partial")] = None
    adata.obs.iloc[2, adata.obs.columns.get_loc("partial")] = ""  # no type
    with pytest.raises(ACTINNInputError) as err:
        train(adata, "partial", **PARAMS)
    assert str(err.value) == (
        "3 cells have no label: %s (pass labelled_only=True to train on the "
        "labelled cells alone)" % ", ".join(adata.obs_names[:3]))
    kept = train(adata, "partial", labelled_only=True, **PARAMS)
    alone = ACTINNAnnotator(**PARAMS).fit(counts.X[3:], counts.var_names,
                                          counts.obs["cell_type"][3:],
                                          counts.obs_names[3:])
    assert kept.n_reference_cells_ == 597
    _same(kept, alone, counts.X[:100], counts.var_names)


def test_a_missing_column_lists_the_columns(counts):
    with pytest.raises(ACTINNInputError,
                       match=r"no obs column 'celltype' to take the labels "
                       r"from; the columns are: cell_type$"):
        train(counts, "celltype", **PARAMS)


def test_a_matrix_instead_of_an_anndata_says_what_to_do(counts):
    from deepchem_actinn import annotate
    for call in (lambda: train(counts.X, "cell_type", **PARAMS),
                 lambda: annotate(counts.to_df(), None)):
        with pytest.raises(TypeError,
                           match="expected an anndata.AnnData .*, got "
                           "(csr_matrix|DataFrame): wrap a matrix as "
                           "anndata.AnnData"):
            call()


@pytest.fixture(scope="module")
def two_samples(counts):
    """Two samples of one set of barcodes concatenated without
    index_unique: every cell id names two cells."""
    import warnings

    import anndata
    first, second = counts[:300].copy(), counts[300:].copy()
    second.obs_names = first.obs_names
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Observation names are not unique")
        return anndata.concat([first, second])


def test_labels_by_id_refuse_cell_ids_that_name_two_cells(two_samples):
    """Labels of the first sample, matched by id, would label each second-
    sample cell as the first-sample cell of its id: refused, naming the
    ids, as actinn train refuses them."""
    labels = two_samples.obs["cell_type"][:300]
    with pytest.raises(ACTINNInputError) as err:
        train(two_samples, labels, labelled_only=True, **PARAMS)
    assert str(err.value).startswith(
        "labels: 300 cell ids appear more than once in obs_names, so labels "
        "matched by cell id cannot tell those cells apart: %s, " %
        two_samples.obs_names[0])
    assert "make the cell ids unique (e.g. " in str(err.value)
    # the column itself, a Series of it out of order
    with pytest.raises(ACTINNInputError) as err:
        train(two_samples, two_samples.obs["cell_type"][::-1], **PARAMS)
    assert str(err.value).endswith(
        "; or pass the name of the obs column, 'cell_type': a column is "
        "taken in row order, needing no cell ids")


def test_an_obs_column_of_repeated_ids_is_taken_in_row_order(two_samples):
    """A Series indexed as the cells are (the obs column itself) is in row
    order, cell ids repeated or not, as the column's name is."""
    by_name = train(two_samples, "cell_type", **PARAMS)
    column = train(two_samples, two_samples.obs["cell_type"], **PARAMS)
    _same(by_name, column, two_samples.X[:100], two_samples.var_names)


def test_a_series_naming_a_cell_twice_is_refused_naming_it(counts):
    labels = counts.obs["cell_type"].copy()
    labels.index = [counts.obs_names[0]] + list(counts.obs_names[:-1])
    with pytest.raises(ACTINNInputError) as err:
        train(counts, labels, **PARAMS)
    assert str(err.value) == (
        "labels: 1 cell id appears more than once in the Series' index, so "
        "it cannot be matched to the cells by id: %s; or pass the name of "
        "the obs column, 'cell_type': a column is taken in row order, "
        "needing no cell ids" % counts.obs_names[0])
