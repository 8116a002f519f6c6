"""match_labels: every cell labelled by default, or the labelled ones only."""
import numpy as np
import pandas as pd
import pytest

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import match_labels, read_labels

LABELS = pd.Series({"c3": "T cell", "c1": "B cell"})


def test_default_refuses_unlabelled_cells_naming_them():
    with pytest.raises(ACTINNInputError) as err:
        match_labels(["c1", "c2", "c3", "c4"], LABELS, "labels.txt")
    message = str(err.value)
    assert message.startswith("labels.txt: 2 of 4 cells have no label")
    assert "c2, c4" in message and "--labelled-only" in message


def test_drop_gives_none_for_unlabelled_cells_in_row_order():
    y = match_labels(["c1", "c2", "c3", "c4"], LABELS, missing="drop")
    assert y.dtype == object
    assert y.tolist() == ["B cell", None, "T cell", None]
    np.testing.assert_array_equal(pd.notna(y), [True, False, True, False])


def test_drop_with_every_cell_labelled_equals_default():
    cells = ["c3", "c1"]
    np.testing.assert_array_equal(match_labels(cells, LABELS, missing="drop"),
                                  match_labels(cells, LABELS))


def test_drop_still_refuses_no_label_at_all_and_foreign_cells(tmp_path):
    with pytest.raises(ACTINNInputError, match="2 of 2 cells have no label"):
        match_labels(["x", "y"], LABELS, missing="drop")
    with pytest.raises(ACTINNInputError,
                       match="1 labelled cells are not in the matrix"):
        match_labels(["c1", "c2"], LABELS, missing="drop")


def test_drop_from_a_file(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("cellname\tcelltype\nc2\tB\n")
    y = match_labels(["c1", "c2"], path, missing="drop")
    assert y.tolist() == [None, "B"]
    assert read_labels(path).to_dict() == {"c2": "B"}


def test_unknown_missing_policy_is_refused():
    with pytest.raises(ValueError, match="missing must be 'error' or 'drop'"):
        match_labels(["c1"], LABELS, missing="keep")
