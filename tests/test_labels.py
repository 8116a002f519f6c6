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
