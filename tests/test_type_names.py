"""Type names as the labels and hierarchy readers read them: CSV quoting,
spaces and Unicode forms, comments, Unassigned, and names in messages."""
import pytest

from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.hierarchy import TypeHierarchy


def test_names_with_commas_are_quoted_in_messages():
    assert examples(["B cell", "T cell"]) == "B cell, T cell"
    assert examples(["CD8-positive, alpha beta T cell", "B cell"
                    ]) == ("'CD8-positive, alpha beta T cell', 'B cell'")
    assert examples(["T cell ", ""]) == "'T cell ', ''"


def test_unknown_hierarchy_types_get_the_nearest_model_type():
    hierarchy = TypeHierarchy({
        "CD4-positive alpha-beta T cell": "T",
        "CD8-positive, alpha beta T cell": "T",
        "Xyz": "T"
    })
    model = [
        "CD4-positive, alpha-beta T cell", "CD8-positive, alpha-beta T cell"
    ] + ["type %02d" % i for i in range(87)]
    with pytest.raises(ACTINNInputError) as info:
        hierarchy.check_types(model)
    assert str(info.value) == (
        "type hierarchy names 3 types the model does not know: "
        "'CD4-positive alpha-beta T cell', 'CD8-positive, alpha beta T cell', "
        "'Xyz'; the model's nearest: 'CD4-positive alpha-beta T cell' -> "
        "'CD4-positive, alpha-beta T cell', 'CD8-positive, alpha beta T cell' "
        "-> 'CD8-positive, alpha-beta T cell' (the model's types: "
        "'CD4-positive, alpha-beta T cell', 'CD8-positive, alpha-beta T cell', "
        "'type 00', 'type 01', 'type 02', ... (89 in all))")
