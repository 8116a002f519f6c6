"""Type names as the labels and hierarchy readers read them: CSV quoting,
spaces and Unicode forms, comments, Unassigned, and names in messages."""
import logging
import re

import numpy as np
import pandas as pd
import pytest

from deepchem_actinn import CellTypeLabels
from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.hierarchy import TypeHierarchy
from deepchem_actinn.io import match_labels, read_labels
from deepchem_actinn.io.writers import write_predicted_labels

#: Names a large atlas holds, each a trap for a naive reader.
AWKWARD = {
    "c1": 'Macrophage "M2"',
    'q"uote': "CD4-positive, alpha-beta T cell",
    "c3": '5" cell',
    "c4": '=HYPERLINK("x")',
    "c5": "B cell/plasmablast",
    "c6": "M\u00fcller glia",
    "c7": "#hash cell",
    "cell,comma": "tab\tcell",
}
NFD = "Mu\u0308ller glia"
NFC = "M\u00fcller glia"


def test_a_pandas_labels_file_reads_back_every_name(tmp_path):
    # as the README says: obs["cell_type"].to_csv(path, sep="\t")
    path = tmp_path / "labels.tsv"
    given = pd.Series(AWKWARD, name="cell_type")
    given.to_csv(path, sep="\t")
    assert '"Macrophage ""M2"""' in path.read_text()  # pandas quotes it
    assert read_labels(path).to_dict() == AWKWARD
    # and in the CSV pandas writes without sep
    given.to_frame().to_csv(tmp_path / "labels.csv")
    assert read_labels(tmp_path / "labels.csv").to_dict() == AWKWARD


def test_predicted_labels_score_one_against_themselves(tmp_path):
    path = tmp_path / "predicted_label.txt"
    write_predicted_labels(path, list(AWKWARD), list(AWKWARD.values()))
    truth = match_labels(list(AWKWARD), read_labels(path), str(path))
    assert truth.tolist() == list(AWKWARD.values())


def test_an_unquoted_field_keeps_its_quotes(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text('c1\t5" cell\nc2\tMacrophage "M2"\nc3\ta""b\n')
    assert read_labels(path).to_dict() == {
        "c1": '5" cell',
        "c2": 'Macrophage "M2"',
        "c3": 'a""b'
    }


@pytest.mark.parametrize("line", ['c2\t"Macrophage M2\n', 'c2\t"M2" cell\n'])
def test_a_quote_not_closed_is_named_by_file_and_line(tmp_path, line):
    path = tmp_path / "labels.txt"
    path.write_text("c1\tB cell\n" + line)
    with pytest.raises(ACTINNInputError) as info:
        read_labels(path)
    assert str(info.value) == (
        '%s: line 2: a quoted field is not closed (a field that starts with '
        '" is quoted: it ends with " just before the next separator on '
        'the same line (a name may not hold a line break), and a '
        '" inside it is doubled, as pandas writes one ("Macrophage '
        '""M2""")): got %r' % (path, line.rstrip("\n")))
    hierarchy = tmp_path / "hierarchy.txt"
    hierarchy.write_text('B cell\tlymphocyte\n"M2 macrophage\tmyeloid\n')
    with pytest.raises(ACTINNInputError,
                       match=re.escape("hierarchy.txt: line 2: a quoted "
                                       "field is not closed (a field that "
                                       "starts")):
        TypeHierarchy.from_file(hierarchy)


def test_a_hierarchy_reads_quoted_names(tmp_path):
    path = tmp_path / "hierarchy.txt"
    pd.DataFrame({
        "child": ['Macrophage "M2"', "CD4-positive, alpha-beta T cell"],
        "parent": ["macrophage", 'T "cell"']
    }).to_csv(path, sep="\t", index=False, header=False)
    assert TypeHierarchy.from_file(path).parents == {
        'Macrophage "M2"': "macrophage",
        "CD4-positive, alpha-beta T cell": 'T "cell"'
    }


def test_names_differing_by_spaces_are_merged_with_a_warning(tmp_path, caplog):
    path = tmp_path / "labels.txt"
    path.write_text("".join("c%d\tT cell \n" % i for i in range(3)) +
                    "c3\tT cell\nc4\tB cell\n")
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn"):
        labels = read_labels(path)
    assert labels.tolist() == ["T cell"] * 4 + ["B cell"]
    assert caplog.messages == [
        "%s: names that differ only by spaces around them or by their "
        "Unicode form are one type: 'T cell' (1 cell) and 'T cell ' "
        "(3 cells) are 'T cell'; rename one of them if they are different "
        "types" % path
    ]


def test_the_reference_labels_of_fit_warn_of_merged_names(caplog):
    # ACTINNAnnotator.fit() and actinn train fix their types here
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn"):
        labels = CellTypeLabels.from_labels(["T cell "] * 2 +
                                            ["T cell", NFD, NFC, "B cell"])
    assert labels.type_names == ["B cell", NFC, "T cell"]
    assert caplog.messages == [
        "the reference labels: names that differ only by spaces around them "
        "or by their Unicode form are one type: %r (1 cell, not in Unicode "
        "NFC) and %r (1 cell) are %r; 'T cell' (1 cell) and 'T cell ' "
        "(2 cells) are 'T cell'; rename one of them if they are different "
        "types" % (NFD, NFC, NFC)
    ]
    np.testing.assert_array_equal(labels.encode([NFD, " T cell"]), [1, 2])


def test_obs_labels_are_read_as_type_names(caplog):
    labels = pd.Series([NFD, "B cell "], index=["c1", "c2"])
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn"):
        y = match_labels(["c2", "c1"], labels, "ref.h5ad obs['cell_type']")
    assert y.tolist() == ["B cell", NFC]
    assert caplog.messages == []  # nothing merged


def test_labels_and_hierarchy_names_are_unicode_nfc(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("c1\t%s\nc2\tB cell\n" % NFD)
    assert read_labels(path).tolist() == [NFC, "B cell"]
    hierarchy = tmp_path / "hierarchy.txt"
    hierarchy.write_text("%s\tglia\n" % NFD)
    parsed = TypeHierarchy.from_file(hierarchy)
    assert parsed.parents == {NFC: "glia"}
    parsed.check_types([NFC, "B cell"])  # the model's (NFC) name: known


def test_a_hierarchy_keeps_links_whose_child_starts_with_a_hash(tmp_path):
    path = tmp_path / "hierarchy.txt"
    path.write_text("# groups of the atlas\n  # indented comment\n"
                    "#hash cell\tspecial group\n+plus cell\tspecial group\n")
    assert TypeHierarchy.from_file(path).parents == {
        "#hash cell": "special group",
        "+plus cell": "special group"
    }
    # a link commented out is a link to a type no model knows: refused
    path.write_text("# T cell\tlymphocyte\nB cell\tlymphocyte\n")
    with pytest.raises(ACTINNInputError,
                       match="does not know: # T cell; the model's nearest: "
                       "# T cell -> T cell "):
        TypeHierarchy.from_file(path).check_types(["B cell", "T cell"])


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


@pytest.mark.parametrize("name", ["unassigned", "UNASSIGNED", " Unassigned "])
def test_unassigned_in_any_case_is_refused_as_a_type(name):
    said = name.strip()
    with pytest.raises(ACTINNInputError) as info:
        CellTypeLabels.from_labels(["B cell", name, "T cell"])
    assert str(info.value) == (
        "the reference labels name a type %r, %sthe label given to cells no "
        "type fits; rename that type so that the two cannot be confused" %
        (said, "" if said == "Unassigned" else "which reads as 'Unassigned', "))
    with pytest.raises(ACTINNInputError) as info:
        TypeHierarchy.from_pairs([("B cell", name)])
    assert str(info.value) == (
        "type hierarchy: %r %sis the label of the cells no type fits, not a "
        "type or a group (pair 'B cell' -> %r)" %
        (said, "" if said == "Unassigned" else "reads as 'Unassigned', which ",
         said))


def test_fit_refuses_unassigned_in_any_case(tm_train):
    from deepchem_actinn import ACTINNAnnotator
    with pytest.raises(ACTINNInputError,
                       match="name a type 'unassigned', which reads as "
                       "'Unassigned', the label given to cells no type fits"):
        ACTINNAnnotator().fit(tm_train["X"][:6], tm_train["genes"],
                              ["B cell", "unassigned"] * 3)


def test_fit_warns_of_types_with_few_reference_cells(tm_train, caplog):
    from deepchem_actinn import ACTINNAnnotator
    labels = np.array(["B cell"] * 150 + ["T cell"] * 147 + ["Rare"] * 3)
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn"):
        annotator = ACTINNAnnotator(max_epochs=1, n_networks=1,
                                    linear_weight=0).fit(
                                        tm_train["X"][:300], tm_train["genes"],
                                        labels)
    assert annotator.type_names == ["B cell", "Rare", "T cell"]
    # (the stratified split holds one of the three out; the doctest of
    # small_types_message shows a type none of whose cells is held out)
    assert (
        "1 type has under 10 reference cells: Rare (3); they are learned from few examples and called less reliably "
        "(train on more of their cells, or merge them into a broader "
        "type)") in caplog.messages
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn"):
        ACTINNAnnotator(max_epochs=1, n_networks=1, linear_weight=0).fit(
            tm_train["X"][:300], tm_train["genes"],
            np.array(["B cell"] * 150 + ["T cell"] * 150))
    assert not any("reference cells" in m for m in caplog.messages)


def test_to_frame_refuses_a_type_named_as_one_of_its_columns():
    from deepchem_actinn.annotator.annotation import Annotation
    result = Annotation(cell_ids=np.array(["c1", "c2"]),
                        cell_types=np.array(["confidence", "T cell"]),
                        confidence=np.array([0.9, 0.8]),
                        probabilities=np.array([[0.9, 0.1], [0.2, 0.8]]),
                        type_names=["T cell", "confidence"],
                        genes_missing=0,
                        gene_column="var_names")
    with pytest.raises(ACTINNInputError) as err:
        result.to_frame()
    assert str(err.value) == (
        "to_frame: type names that are the names of the frame's own "
        "columns: confidence; their probabilities would not be told apart "
        "from those columns: take them from .probabilities (columns in "
        ".type_names order)")
    result.type_names = ["T cell", "Confidence"]
    assert list(result.to_frame().columns) == [
        "cell_type", "confidence", "T cell", "Confidence"
    ]
    # the reasons' column too, whether or not the result holds reasons
    result.type_names = ["T cell", "unassigned_reason"]
    with pytest.raises(ACTINNInputError, match="own columns: unassigned_rea"):
        result.to_frame()


def test_an_annotator_saved_with_a_name_in_another_unicode_form_keeps_its_outputs(
        tm_train, tmp_path):
    # Saved before names were read in NFC: "Mu\u0308ller glia" sorted
    # between "A cell" and "Mz cell"; in NFC it sorts after "Mz cell", and
    # re-sorting on load gave its outputs to "Mz cell" and back (accuracy
    # 1.0 -> 0.33 on its own training cells)
    import json

    from deepchem_actinn import ACTINNAnnotator
    y = np.array(["A cell", "Mv cell", "Mz cell"] * 100)
    annotator = ACTINNAnnotator(max_epochs=2, n_networks=1,
                                linear_weight=0).fit(tm_train["X"][:300],
                                                     tm_train["genes"], y)
    expected = annotator.predict(tm_train["X"][:300],
                                 tm_train["genes"]).cell_types
    annotator.save(tmp_path / "m")
    path = tmp_path / "m" / "annotator.json"
    config = json.loads(path.read_text())
    assert config["type_names"] == ["A cell", "Mv cell", "Mz cell"]
    config["type_names"][1] = NFD
    path.write_text(json.dumps(config))
    loaded = ACTINNAnnotator.load(tmp_path / "m", device="cpu")
    assert loaded.type_names == ["A cell", NFC, "Mz cell"]
    got = loaded.predict(tm_train["X"][:300], tm_train["genes"]).cell_types
    assert got.tolist() == [NFC if t == "Mv cell" else t for t in expected]


def test_report_reads_predicted_names_as_the_labels_are_read(tmp_path):
    # -l's names are read in NFC; the predictions' were read as written,
    # so the same decomposed name scored as wrong (accuracy 0.5)
    from deepchem_actinn.cli import main
    ids = ["c%d" % i for i in range(20)]
    names = [NFD, "T cell"] * 10
    write_predicted_labels(tmp_path / "predicted_label.txt",
                           ids,
                           names,
                           confidence=np.full(20, 0.9))
    pd.Series(names, index=ids).to_csv(tmp_path / "truth.txt",
                                       sep="\t",
                                       header=False)
    assert main([
        "report", "-p",
        str(tmp_path / "predicted_label.txt"), "-l",
        str(tmp_path / "truth.txt"), "-o",
        str(tmp_path / "r"), "-q"
    ]) == 0
    summary = pd.read_csv(tmp_path / "r" / "summary.txt",
                          sep="\t",
                          header=None,
                          index_col=0)[1]
    assert float(summary["accuracy"]) == 1.0
