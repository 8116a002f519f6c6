"""The type hierarchy: reading, validation and the parent for uncertain
cells (deepchem_actinn/hierarchy.py)."""
import numpy as np
import pandas as pd
import pytest

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.hierarchy import BUNDLED_HIERARCHY, TypeHierarchy

TYPES = ["NK cell", "T cell", "B cell", "Monocyte", "Granulocyte"]
PAIRS = [("NK cell", "lymphocyte"), ("T cell", "lymphocyte"),
         ("B cell", "lymphocyte"), ("Monocyte", "myeloid cell"),
         ("Granulocyte", "myeloid cell"), ("lymphocyte", "immune cell"),
         ("myeloid cell", "immune cell")]


def test_resolve_exact_labels_levels_and_probabilities():
    hierarchy = TypeHierarchy.from_pairs(PAIRS)
    P = np.array([
        [0.50, 0.40, 0.05, 0.03, 0.02],  # NK/T tie -> lymphocyte
        [0.90, 0.05, 0.03, 0.01, 0.01],  # confident NK cell
        [0.10, 0.05, 0.05, 0.42, 0.38],  # Monocyte/Granulocyte -> myeloid
        [0.45, 0.02, 0.03, 0.40, 0.10],  # NK/Monocyte -> immune cell
        [0.25, 0.05, 0.05, 0.10, 0.55],  # gap 0.3 > margin: fine type kept
    ])
    out = hierarchy.resolve(P, TYPES, margin=0.2)
    assert out["label"].tolist() == [
        "lymphocyte", "NK cell", "myeloid cell", "immune cell", "Granulocyte"
    ]
    assert out["level"].tolist() == [
        "parent", "type", "parent", "parent", "type"
    ]
    np.testing.assert_allclose(out["probability"],
                               [0.95, 0.90, 0.80, 1.0, 0.55])
    # margin 0: never uncertain, always the argmax.
    plain = hierarchy.resolve(P, TYPES, margin=0.0)
    assert plain["label"].tolist() == [TYPES[j] for j in P.argmax(axis=1)]
    assert set(plain["level"]) == {"type"}


def test_types_outside_the_hierarchy_and_group_named_types():
    # "Erythrocyte" has no parent: a tie with it keeps the fine type.
    hierarchy = TypeHierarchy({"NK cell": "lymphocyte", "T cell": "lymphocyte"})
    out = hierarchy.resolve(np.array([[0.5, 0.1, 0.4]]),
                            ["NK cell", "T cell", "Erythrocyte"])
    assert out.iloc[0].tolist() == ["NK cell", "type", 0.5]
    # A type that is itself a group counts its own probability too.
    nested = TypeHierarchy({"CD8 T cell": "T cell", "T cell": "lymphocyte"})
    out = nested.resolve(np.array([[0.45, 0.40, 0.15]]),
                         ["CD8 T cell", "T cell", "B cell"])
    assert out["label"].tolist() == ["T cell"]
    assert out["level"].tolist() == ["parent"]
    assert out["probability"].tolist() == pytest.approx([0.85])


def test_validation_errors_name_the_problem(tmp_path):
    with pytest.raises(ACTINNInputError, match="cycle: a -> b -> c -> a"):
        TypeHierarchy({"a": "b", "b": "c", "c": "a"})
    with pytest.raises(ACTINNInputError, match="'x' is its own parent"):
        TypeHierarchy({"x": "x"})
    with pytest.raises(ACTINNInputError, match="'T cell' has two parents"):
        TypeHierarchy.from_pairs([("T cell", "lymphocyte"),
                                  ("T cell", "myeloid cell")])
    hierarchy = TypeHierarchy({"NK cells": "lymphocyte"})
    with pytest.raises(ACTINNInputError,
                       match="1 type the model does not know: NK cells"):
        hierarchy.resolve(np.ones((1, 2)) / 2, ["NK cell", "T cell"])
    with pytest.raises(ACTINNInputError, match="do not match 3 type names"):
        hierarchy.resolve(np.ones((1, 2)) / 2, ["a", "b", "c"])
    bad = tmp_path / "h.txt"
    bad.write_text("# comment\n\nT cell\tlymphocyte\nNK cell lymphocyte\n")
    with pytest.raises(ACTINNInputError,
                       match="h.txt: line 4: expected child<TAB>parent"):
        TypeHierarchy.from_file(bad)
    cyclic = tmp_path / "cyclic.txt"
    cyclic.write_text("a\tb\nb\ta\n")
    with pytest.raises(ACTINNInputError, match="cyclic.txt: .*a -> b -> a"):
        TypeHierarchy.from_file(cyclic)
    with pytest.raises(ACTINNInputError,
                       match="none.txt: no such file or directory$"):
        TypeHierarchy.from_file(tmp_path / "none.txt")
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text("T cell\tlymphocyte\n", encoding="utf-16")
    with pytest.raises(
            ACTINNInputError,
            match="utf16.txt: the file holds UTF-16 text .*iconv -f utf-16"):
        TypeHierarchy.from_file(utf16)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n")
    with pytest.raises(ACTINNInputError,
                       match="empty.txt: no child<TAB>parent lines"):
        TypeHierarchy.from_file(empty)
    for pair in ({"B cell": "Unassigned"}, {"Unassigned": "lymphocyte"}):
        with pytest.raises(ACTINNInputError,
                           match="'Unassigned' is the label of the cells no "
                           "type fits"):
            TypeHierarchy(pair)


def test_bundled_hierarchy_covers_the_bundled_types():
    types = sorted(
        pd.read_csv(BUNDLED_HIERARCHY.parent / "train_label_sample.txt",
                    sep="\t",
                    header=None)[1].unique())
    assert len(types) == 12
    hierarchy = TypeHierarchy.from_file(BUNDLED_HIERARCHY)
    hierarchy.check_types(types)
    children = [c for c in hierarchy.parents if c in types]
    assert len(children) == 10  # all but Cardiac Muscle and Erythrocyte
    assert hierarchy.children("lymphocyte") == ["B cell", "NK cell", "T cell"]
    assert hierarchy.ancestors("Monocyte") == ["myeloid cell", "immune cell"]


def test_a_hierarchy_file_may_be_gzipped_or_csv(tmp_path):
    """Read by the one reader of two-column text, as labels are."""
    import gzip
    path = tmp_path / "h.txt.gz"
    path.write_bytes(
        gzip.compress(b'# types\n"NK cell"\tlymphocyte\nT cell\tlymphocyte\n'))
    assert TypeHierarchy.from_file(path).parents == {
        "NK cell": "lymphocyte",
        "T cell": "lymphocyte"
    }
    path = tmp_path / "h.csv"
    path.write_text('# types, as R writes them\n"CD4, naive",T cell\n')
    assert TypeHierarchy.from_file(path).parents == {"CD4, naive": "T cell"}
