import warnings

import numpy as np
import pandas as pd
import pytest

from deepchem_actinn import CellTypeLabels
from deepchem_actinn.io.labels import label_names
from deepchem_actinn.errors import ACTINNInputError


def test_mapping_is_made_from_training_labels_and_reused():
    train = ["T cell", "B cell", "NK cell", "B cell"]
    mapping = CellTypeLabels.from_labels(train)
    assert mapping.type_names == ["B cell", "NK cell", "T cell"]
    # A test set without NK cells keeps the training ids.
    np.testing.assert_array_equal(mapping.encode(["T cell", "B cell"]), [2, 0])
    np.testing.assert_array_equal(
        mapping.decode(mapping.encode(train)).astype(str), train)


def test_unknown_types_are_reported_not_renumbered():
    mapping = CellTypeLabels.from_labels(["B cell", "T cell"])
    with pytest.raises(ACTINNInputError) as info:
        mapping.encode(["B cell", "Neuron", "Astrocyte", "Neuron"])
    message = str(info.value)
    assert "2 cell types are not in the reference: Astrocyte, Neuron" in (
        message)
    assert mapping.unknown(["B cell", "Neuron"]) == ["Neuron"]


def test_empty_types_rejected():
    with pytest.raises(ACTINNInputError):
        CellTypeLabels([])


def test_decode_refuses_ids_outside_the_types():
    mapping = CellTypeLabels.from_labels(["B cell", "T cell"])
    for bad in ([-1], [2]):
        with pytest.raises(ValueError, match="class ids must be in 0 .. 1"):
            mapping.decode(bad)


def test_names_are_stripped_and_missing_ones_refused():
    # as every labels reader strips them: "B cell " is the type "B cell"
    mapping = CellTypeLabels.from_labels(["B cell ", " T cell", "B cell"])
    assert mapping.type_names == ["B cell", "T cell"]
    np.testing.assert_array_equal(mapping.encode(["T cell ", "B cell"]), [1, 0])
    for missing in (None, float("nan"), "", "nan"):
        with pytest.raises(ACTINNInputError,
                           match="a missing label .* is not a cell type"):
            CellTypeLabels(["B cell", missing])


@pytest.mark.parametrize("infer_string", [False, True], ids=["object", "str"])
def test_labels_series_is_matched_to_cells_by_id(infer_string):
    """A labels Series indexed by the cell ids in another order is matched to
    the cells by id, whether pandas holds its index as object (pandas 2) or
    str (pandas 3, future.infer_string)."""
    with pd.option_context("future.infer_string", infer_string):
        labels = pd.Series({"c2": "T cell", "c3": "NK cell", "c1": "B cell"})
    assert list(label_names(labels, ["c1", "c2", "c3"])) == \
        ["B cell", "T cell", "NK cell"]


def test_a_series_is_matched_to_cell_ids_by_id_or_refused():
    """With cell ids, a Series with an index is matched by id, every cell
    needing its own (extra labels are no cell's and are left out); an id it
    lacks is named, never answered by falling back to row order."""
    labels = pd.Series({"c2": "T", "c1": "B", "zz": "NK"})
    assert label_names(labels, ["c1", "c2"]).tolist() == ["B", "T"]
    off = labels.rename(index={"c2": "renamed"})
    with pytest.raises(ACTINNInputError) as err:
        label_names(off, ["c1", "c2"])
    assert str(err.value) == (
        "labels: 1 of 2 cells have no label: their ids are not in the "
        "Series' index (labels are matched to cell_ids by id), e.g. c2; its "
        "index names 2 ids that no cell has, e.g. renamed, zz")
    with pytest.raises(ACTINNInputError) as err:
        label_names(pd.Series(["B", "T"], index=[7, 3]), ["7", "5"])
    assert str(err.value).startswith("labels: 1 of 2 cells have no label: "
                                     "their ids are not in the Series' index")
    with pytest.raises(ACTINNInputError) as err:
        label_names(pd.Series(["B", "T"], index=["c1", "c1"]), ["c1", "c2"])
    assert str(err.value) == (
        "labels: 1 cell id appears more than once in the Series' index, so "
        "it cannot be matched to the cells by id: c1")
    with pytest.raises(ACTINNInputError,
                       match="^labels: 1 cell id appears more than once in "
                       "cell_ids, so labels matched by cell id cannot tell "
                       "those cells apart: c1;"):
        label_names(pd.Series(["B", "T"], index=["c1", "c2"]), ["c1", "c1"])


def test_a_series_in_row_order_needs_no_ids():
    """pandas' own index (0 .. n-1), an index that is the cell ids as they
    are (repeats included), and an integer index that numbers no cell
    (cell ids that are not numbers) are taken in row order."""
    repeated_ids = ["c1", "c1", "c2"]
    same = pd.Series(["B", "T", "NK"], index=repeated_ids)
    assert label_names(same, repeated_ids).tolist() == ["B", "T", "NK"]
    filtered = pd.Series(["B", "T", "NK"], index=[0, 2, 5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert label_names(filtered, ["c1", "c2", "c3"]).tolist() == \
            ["B", "T", "NK"]
        assert label_names(filtered).tolist() == ["B", "T", "NK"]
        assert label_names(pd.Series(["B", "T"])).tolist() == ["B", "T"]
        assert label_names(pd.Series(["B", "T"], index=["0", "1"])).tolist() \
            == ["B", "T"]
        # by number where the cell ids are numbers too (AnnData's default)
        assert label_names(filtered, ["5", "0", "2"]).tolist() == \
            ["NK", "B", "T"]


def test_anndata_default_obs_names_are_matched_as_ids():
    """AnnData's default obs_names, the text "0" .. "n-1", are cell ids:
    a reordered subset's ids find their own labels; where the cell ids are
    other names, the index is taken as the row numbers it reads as."""
    labels = pd.Series(["A", "B", "C"], index=["0", "1", "2"])
    assert label_names(labels, ["2", "0", "1"]).tolist() == ["C", "A", "B"]
    assert label_names(labels, ["1", "2"]).tolist() == ["B", "C"]
    assert label_names(labels, ["c1", "c2", "c3"]).tolist() == ["A", "B", "C"]
    # integers are row numbers, whatever the cell ids
    numbers = pd.Series(["A", "B", "C"], index=[0, 1, 2])
    assert label_names(numbers, ["2", "0", "1"]).tolist() == ["A", "B", "C"]


def test_a_series_without_cell_ids_is_taken_in_row_order():
    """Without cell ids, a Series indexed by cell ids is taken in row order,
    as scikit-learn takes y (the README's ``fit(X, genes,
    obs["cell_type"])``), without a warning; one whose row numbers are out
    of order (``Series.sample``) warns."""
    labels = pd.Series({"c2": "T", "c1": "B"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert label_names(labels).tolist() == ["T", "B"]
    shuffled = pd.Series(["B", "T", "NK"]).sample(frac=1, random_state=0)
    with pytest.warns(
            UserWarning,
            match=r"^labels: a pandas Series whose index \(\d, \d, \d\) "
            r"is out of order: it is taken in row order, its index "
            r"unused"):
        label_names(shuffled)
    # pandas 3.1's Series.sample leaves a RangeIndex running backwards
    backwards = pd.Series(["NK", "T", "B"], index=pd.RangeIndex(2, -1, -1))
    with pytest.warns(UserWarning,
                      match=r"^labels: a pandas Series whose index \(2, 1, "
                      r"0\) is out of order"):
        assert label_names(backwards).tolist() == ["NK", "T", "B"]


def test_unlabelled_cells_are_called_what_they_are():
    with pytest.raises(ACTINNInputError) as err:
        label_names(["B", None], ["c1", "c2"])
    assert str(err.value).startswith("1 cell has no label (None, NaN, empty "
                                     "or 'nan'): c2;")
    with pytest.raises(ACTINNInputError,
                       match="^2 reference cells have no label"):
        label_names([None, "nan"], cells="reference cell")
