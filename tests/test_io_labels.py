"""match_labels: every cell labelled by default, or the labelled ones only."""
import gzip

import numpy as np
import pandas as pd
import pytest

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import labels_from, match_labels, read_labels

LABELS = pd.Series({"c3": "T cell", "c1": "B cell"})


def test_default_refuses_unlabelled_cells_naming_them():
    with pytest.raises(ACTINNInputError) as err:
        match_labels(["c1", "c2", "c3", "c4"], LABELS, "labels.txt")
    message = str(err.value)
    assert message.startswith("labels.txt: 2 of 4 cells have no label")
    assert message.endswith("c2, c4 (pass labelled_only=True to train on the "
                            "labelled cells alone)")


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
    with pytest.raises(ACTINNInputError, match="none of its 2 cell ids is"):
        match_labels(["x", "y"], LABELS, missing="drop")
    with pytest.raises(ACTINNInputError,
                       match="1 labelled cell is not in the matrix"):
        match_labels(["c1", "c2"], LABELS, missing="drop")


def test_no_labels_at_all_are_refused():
    with pytest.raises(ACTINNInputError, match="^labels: no labels$"):
        match_labels(["c1"], pd.Series([], dtype=object))
    # the header question is for files only
    with pytest.raises(ACTINNInputError) as err:
        match_labels(["c1"], pd.Series({"x": "B", "c1": "T"}))
    assert str(err.value) == ("labels: 1 labelled cell is not in the matrix, "
                              "e.g. x")


def test_labels_that_match_no_cell_show_both_kinds_of_id():
    with pytest.raises(ACTINNInputError) as err:
        match_labels(["AAACCTG-1", "AAACGGG-1"], LABELS, "labels.txt")
    assert str(err.value) == (
        "labels.txt: none of its 2 cell ids is a cell of the matrix: it names "
        "cells such as c3, c1; the cells of the matrix are AAACCTG-1, "
        "AAACGGG-1; the two must use the same cell ids")
    # the cells of a file, named by its path
    with pytest.raises(ACTINNInputError) as err:
        match_labels(["tma_1", "tma_2"],
                     LABELS,
                     "labels.txt",
                     cells_of="../h5/train.h5ad")
    assert str(err.value) == (
        "labels.txt: none of its 2 cell ids is a cell of ../h5/train.h5ad: it "
        "names cells such as c3, c1; the cells of ../h5/train.h5ad are "
        "tma_1, tma_2; the two must use the same cell ids")


def test_pandas_headers(tmp_path):
    # pandas' header over an unnamed index is skipped
    path = tmp_path / "labels.txt"
    pd.Series(["B", "T"], index=["c1", "c2"], name="cell_type").to_csv(path,
                                                                       sep="\t")
    assert path.read_text().splitlines()[0] == "\tcell_type"
    assert read_labels(path).to_dict() == {"c1": "B", "c2": "T"}
    # a first line with a blank cell id is data, and refused as such
    path.write_text(" \tT cell\nc2\tB cell\n")
    with pytest.raises(ACTINNInputError,
                       match="line 1: expected cell id<TAB>cell type"):
        read_labels(path)
    pd.Series(["B", "T"], index=["c1", "c2"], name="cell_type").to_csv(path,
                                                                       sep="\t")
    assert read_labels(path).to_dict() == {"c1": "B", "c2": "T"}
    # a named index's header is data, but the message asks about it
    frame = pd.Series(["B", "T"],
                      index=pd.Index(["c1", "c2"], name="barcode"),
                      name="cell_type")
    frame.to_csv(path, sep="\t")
    with pytest.raises(ACTINNInputError) as err:
        match_labels(["c1", "c2"], path)
    assert str(err.value) == (
        "%s: 1 labelled cell is not in the matrix, e.g. barcode (is the first "
        "line a header? a labels file has none, or cellname<TAB>celltype)" %
        path)


def test_drop_from_a_file(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("cellname\tcelltype\nc2\tB\n")
    y = match_labels(["c1", "c2"], path, missing="drop")
    assert y.tolist() == [None, "B"]
    assert read_labels(path).to_dict() == {"c2": "B"}


def test_unknown_missing_policy_is_refused():
    with pytest.raises(ValueError, match="missing must be 'error' or 'drop'"):
        match_labels(["c1"], LABELS, missing="keep")


def test_csv_labels_as_pandas_writes_them(tmp_path):
    """``obs[["cell_type"]].to_csv(path)``: a comma-separated file under
    pandas' header, a type holding a comma quoted."""
    obs = pd.DataFrame(
        {"cell_type": ["CD4-positive, alpha-beta T cell", "B cell"]},
        index=["c1", "c2"])
    path = tmp_path / "labels.csv"
    obs.to_csv(path)
    assert path.read_text().splitlines()[:2] == [
        ",cell_type", 'c1,"CD4-positive, alpha-beta T cell"'
    ]
    assert read_labels(path).to_dict() == obs["cell_type"].to_dict()
    obs.to_csv(path, header=False)
    assert read_labels(path).to_dict() == obs["cell_type"].to_dict()
    # a tab anywhere on the first line: tab-separated, commas are data
    path.write_text("c1\tCD4-positive, alpha-beta T cell\n")
    assert read_labels(path)["c1"] == "CD4-positive, alpha-beta T cell"
    path.write_text("c1,B cell\nc2,T cell,extra\n")
    with pytest.raises(ACTINNInputError,
                       match="line 2: expected cell id<TAB>cell type "
                       r"\(or cell id,cell type\)"):
        read_labels(path)


def test_labels_from_an_obs_column(tmp_path):
    import anndata
    from deepchem_actinn.io import labels_from
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(["B cell", None, "T cell"]),
            "batch": ["a", "b", "c"]
        },
        index=["c1", "c2", "c3"])
    path = tmp_path / "ref.h5ad"
    anndata.AnnData(np.ones((3, 2), np.float32), obs=obs).write_h5ad(path)
    labels, name = labels_from("cell_type", path)
    # a cell without a value is unlabelled (match_labels then says so)
    assert labels.to_dict() == {"c1": "B cell", "c3": "T cell"}
    assert name == "%s obs['cell_type']" % path
    with pytest.raises(ACTINNInputError) as err:
        match_labels(["c1", "c2", "c3"], labels, name)
    assert str(err.value).startswith(
        "%s obs['cell_type']: 1 of 3 cells have no label, e.g. c2" % path)
    with pytest.raises(ACTINNInputError) as err:
        labels_from("celltype", path)
    assert str(err.value) == (
        "celltype: no such file or directory, nor a column of %s's obs (its "
        "columns: cell_type, batch)" % path)
    # a Series is taken as it is
    assert labels_from(LABELS)[0] is LABELS
    # names are stripped, as a labels file's; pandas' text of a missing
    # value ('nan', from obs[col].astype(str)) is no label
    obs["cell_type"] = ["B cell ", "nan", " T cell"]
    anndata.AnnData(np.ones((3, 2), np.float32), obs=obs).write_h5ad(path)
    labels, _ = labels_from("cell_type", path)
    assert list(match_labels(["c1", "c3"], labels,
                             name)) == ["B cell", "T cell"]
    assert list(labels.index) == ["c1", "c3"]
    # not an h5ad file: a labels file or nothing
    (tmp_path / "counts.tsv").write_text("gene\tc1\nG1\t1\n")
    with pytest.raises(ACTINNInputError,
                       match="nor an obs column: only an h5ad"):
        labels_from("cell_type", tmp_path / "counts.tsv")


def test_a_file_named_like_the_column_comes_first(tmp_path, monkeypatch,
                                                  caplog):
    import anndata
    from deepchem_actinn.io import labels_from
    path = tmp_path / "ref.h5ad"
    anndata.AnnData(np.ones((2, 1), np.float32),
                    obs=pd.DataFrame({"batch": ["a", "b"]},
                                     index=["c1", "c2"])).write_h5ad(path)
    monkeypatch.chdir(tmp_path)
    assert labels_from("batch", path)[0].tolist() == ["a", "b"]
    (tmp_path / "batch").mkdir()  # a directory is no labels file
    assert labels_from("batch", path)[0].tolist() == ["a", "b"]
    (tmp_path / "batch").rmdir()
    (tmp_path / "batch").write_text("c1\tX\nc2\tY\n")
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        labels, name = labels_from("batch", path)
    assert labels.tolist() == ["X", "Y"] and name == "batch"
    # a file and a column of one name: the log says which was taken
    assert caplog.messages == [
        "batch: read as a labels file (a file of the name comes first), "
        "though %s's obs has a column 'batch' too: to take the column, "
        "rename or move the file" % path
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        labels_from("batch", tmp_path / "no_such.h5ad")  # no obs to check
        labels_from("batch", path, column=None)
    assert len(caplog.messages) == 1


def test_empty_obs_values_are_no_labels(tmp_path):
    """An empty type in a column is as missing as in a labels file."""
    import anndata
    from deepchem_actinn.io import labels_from
    path = tmp_path / "ref.h5ad"
    anndata.AnnData(np.ones((3, 1), np.float32),
                    obs=pd.DataFrame({"cell_type": ["B cell", "", " "]},
                                     index=["c1", "c2", "c3"])).write_h5ad(path)
    assert labels_from("cell_type", path)[0].to_dict() == {"c1": "B cell"}
    (tmp_path / "labels.txt").write_text("c1\tB cell\nc2\t\n")
    with pytest.raises(ACTINNInputError, match="line 2: expected"):
        read_labels(tmp_path / "labels.txt")


def test_r_write_csv_header_is_skipped(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text('"","cell_type"\n"c1","B cell"\n"c2","T cell"\n')
    assert read_labels(path).to_dict() == {"c1": "B cell", "c2": "T cell"}


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    # Excel's "CSV UTF-8" and Notepad start a file with one (U+FEFF)
    from deepchem_actinn.hierarchy import TypeHierarchy
    from deepchem_actinn.io import read
    from deepchem_actinn.voting import read_clusters
    bom = "\ufeff"
    labels = tmp_path / "labels.txt"
    labels.write_text(bom + "c1\tB cell\nc2\tT cell\n", encoding="utf-8")
    assert read_labels(labels).to_dict() == {"c1": "B cell", "c2": "T cell"}
    counts = tmp_path / "counts.csv"
    counts.write_text(bom + "gene,c1,c2\nActb,3,0\nCd3e,0,2\n",
                      encoding="utf-8")
    assert list(read(counts).obs_names) == ["c1", "c2"]
    tree = tmp_path / "tree.txt"
    tree.write_text(bom + "B cell\tlymphocyte\nT cell\tlymphocyte\n",
                    encoding="utf-8")
    TypeHierarchy.from_file(tree).check_types(["B cell", "T cell"])
    clusters = tmp_path / "clusters.txt"
    clusters.write_text(bom + "c1\t0\nc2\t1\n", encoding="utf-8")
    assert list(read_clusters(clusters, ["c1", "c2"])) == ["0", "1"]


def test_matching_works_under_pandas_copy_on_write():
    # pandas 3 (Python 3.12 and 3.13 here) hands out read-only arrays; the
    # unlabelled cells' None was written into one
    with pd.option_context("mode.copy_on_write", True):
        y = match_labels(["c1", "c3", "c4"], LABELS, missing="drop")
    assert list(y) == ["B cell", "T cell", None]


def test_a_metadata_table_is_named_as_such(tmp_path):
    # R: write.csv(obj@meta.data): many columns, which one holds the types?
    path = tmp_path / "meta.csv"
    path.write_text('"","orig.ident","nCount_RNA","cell_type"\n'
                    '"c1","s1",1200,"B cell"\n')
    with pytest.raises(
            ACTINNInputError,
            match=r"meta.csv: a table of 4 columns \('', 'orig.ident', "
            r"'nCount_RNA', 'cell_type'\), not cell id<TAB>cell "
            r"type"):
        read_labels(path)


def test_a_metadata_tables_column_is_read_by_name(tmp_path):
    # Tabula Muris' annotations_facs.csv: ids in a named first column
    path = tmp_path / "annotations_facs.csv"
    path.write_text("cell,mouse.id,cell_ontology_class,tissue\n"
                    "A1.B0,3_8_M, B cell ,Lung\n"
                    "A2.B0,3_8_M,,Lung\n"
                    "A3.B0,3_9_M,T cell,Lung\n")
    labels = read_labels(path, column="cell_ontology_class")
    assert labels.to_dict() == {"A1.B0": "B cell", "A3.B0": "T cell"}
    assert labels.name == "cell_type"
    assert labels.attrs["source"] == "%s column 'cell_ontology_class'" % path


def test_a_seurat_and_an_r_write_table_column_is_read_by_name(tmp_path):
    # R: write.csv(obj@meta.data), its row names under an empty header
    # field and NA for a missing value
    meta = tmp_path / "meta.csv"
    meta.write_text('"","orig.ident","nCount_RNA","cell_type"\n'
                    '"AAAC-1","pbmc",1200,"B cell"\n'
                    '"AAAG-1","pbmc",900,NA\n'
                    '"AAAT-1","pbmc",1500,"NK cell"\n')
    assert read_labels(meta, column="cell_type").to_dict() == {
        "AAAC-1": "B cell",
        "AAAT-1": "NK cell"
    }
    # R: write.table(sep="\t", quote=FALSE): the header one field short
    table = tmp_path / "meta.tsv.gz"
    with gzip.open(table, "wt") as fh:
        fh.write("cell_type\tnCount_RNA\nc1\tB cell\t10\nc2\tT cell\t20\n")
    assert read_labels(table, column="cell_type").to_dict() == {
        "c1": "B cell",
        "c2": "T cell"
    }


def test_a_tables_wrong_column_is_refused_naming_the_columns(tmp_path):
    path = tmp_path / "meta.csv"
    path.write_text("cell,mouse.id,cell_ontology_class\nc1,M1,B cell\n"
                    "c2,M1,T cell\nc1,M2,T cell\n")
    with pytest.raises(ACTINNInputError) as err:
        read_labels(path, column="cell_type")
    assert str(err.value) == ("%s: no column 'cell_type'; its columns: "
                              "mouse.id, cell_ontology_class" % path)
    with pytest.raises(ACTINNInputError,
                       match="column 'cell' holds the cell ids"):
        read_labels(path, column="cell")
    with pytest.raises(ACTINNInputError,
                       match="1 cell id appears more than once, e.g. c1"):
        read_labels(path, column="cell_ontology_class")


def test_a_headerless_labels_file_given_a_column_is_said_to_be_one(tmp_path):
    path = tmp_path / "labels.txt"
    # the first row's type recurs below it
    path.write_text("AAAC-1\tB cell\nAAAG-1\tT cell\nAAAT-1\tB cell\n")
    with pytest.raises(ACTINNInputError) as err:
        read_labels(path, column="cell_type")
    assert str(err.value) == (
        "%s: no column 'cell_type'; the file seems to have no header row: its "
        "first row (AAAC-1, B cell) looks like data, a cell id and a cell "
        "type. A file of cell id<TAB>cell type lines needs no column named: "
        "drop column=" % path)
    # its first cell id written as the next one is, digits aside
    path.write_text("cell_7\tB cell\ncell_12\tT cell\n")
    with pytest.raises(ACTINNInputError, match="first row .cell_7, B cell."):
        read_labels(path, column="cell_type")
    # a header of two names: its columns, as for any table
    path.write_text("barcode\ttype\nAAAC-1\tB cell\n")
    with pytest.raises(ACTINNInputError) as err:
        read_labels(path, column="cell_type")
    assert str(
        err.value) == "%s: no column 'cell_type'; its columns: type" % (path)


def test_a_name_that_is_no_file_nor_an_obs_column_says_both(tmp_path):
    counts = tmp_path / "ref.csv"
    counts.write_text("gene,c1,c2\nActb,3,0\n")
    with pytest.raises(ACTINNInputError) as err:
        labels_from("cell_type", counts)
    assert str(err.value) == (
        "cell_type: no such labels file, nor an obs column: only an h5ad file "
        "has obs columns to name, and %s is a CSV matrix" % counts)


def test_a_table_without_a_column_points_to_the_option(tmp_path):
    path = tmp_path / "annotations.csv"
    path.write_text("cell,mouse.id,cell_ontology_class\nc1,M1,B cell\n")
    with pytest.raises(ACTINNInputError) as err:
        read_labels(path)
    assert str(err.value) == (
        "%s: line 1 holds 3 fields (cell, mouse.id, cell_ontology_class), "
        "not cell id<TAB>cell type: if it is a table under a header, name the "
        "column of cell types (read_labels(path, column=NAME))" % path)
    # a table pandas wrote, its index unnamed: the same advice
    path.write_text(",mouse.id,cell_ontology_class\nc1,M1,B cell\n")
    with pytest.raises(ACTINNInputError) as err:
        read_labels(path)
    assert str(err.value) == (
        "%s: a table of 3 columns ('', 'mouse.id', 'cell_ontology_class'), not "
        "cell id<TAB>cell type: name the column of cell types "
        "(read_labels(path, column=NAME))" % path)


def test_labels_from_a_table_name_the_file_and_column(tmp_path):
    path = tmp_path / "meta.tsv"
    path.write_text("\tcell_type\tbatch\nc1\tB cell\t1\nc2\tT cell\t1\n")
    labels, named = labels_from(str(path), column="cell_type")
    assert named == "%s column 'cell_type'" % path
    # the Series carries the name into the messages of whoever matches it
    assert labels_from(labels) == (labels, named)
    with pytest.raises(ACTINNInputError,
                       match=r"x.csv: no such file \(a column of cell types"):
        labels_from(str(tmp_path / "x.csv"), column="cell_type")


def test_cells_labelled_na_are_unlabelled_not_a_type(tmp_path, caplog):
    # R's write.table(quote = FALSE) of a labelling with gaps
    path = tmp_path / "labels.txt"
    path.write_text("c1\tB cell\nc2\tNA\nc3\tT cell\nc4\tnan\n")
    caplog.set_level("INFO")
    labels = read_labels(path)
    assert labels.to_dict() == {"c1": "B cell", "c3": "T cell"}
    assert "%s: 2 cells labelled NA, nan, a missing value: left " \
        "unlabelled" % path in caplog.text
    with pytest.raises(ACTINNInputError,
                       match="2 of 4 cells have no label, e.g. c2, c4"):
        match_labels(["c1", "c2", "c3", "c4"], path)
    kept = match_labels(["c1", "c2", "c3", "c4"], path, missing="drop")
    assert kept.tolist() == ["B cell", None, "T cell", None]


def test_repeated_cell_ids_cannot_be_matched_to_labels():
    labels = pd.Series({"c0": "A", "c1": "B", "c2": "A"})
    with pytest.raises(ACTINNInputError,
                       match=r"^labels: 1 cell id appears more than once in "
                       r"the matrix, so labels matched by cell id cannot "
                       r"tell those cells apart: c0; make the cell ids "
                       r"unique \(e.g. AnnData.obs_names_make_unique\(\)"):
        match_labels(["c0", "c0", "c2"], labels, missing="drop")


def test_the_refusal_of_unlabelled_cells_says_the_file_gave_them_na(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("c1\tB cell\nc2\tNA\n")
    with pytest.raises(ACTINNInputError,
                       match=r"1 of 2 cells have no label, e.g. c2 \(the "
                       r"labels give 1 of them a missing value, such as NA\)"):
        match_labels(["c1", "c2"], path)


@pytest.mark.filterwarnings("ignore:Observation names are not unique")
def test_an_obs_column_of_repeated_cell_ids_is_taken_in_row_order(tmp_path):
    """The labels in an obs column of the matrix's own file are its cells'
    in row order: cell ids that repeat (two samples of one set of
    barcodes) need no matching by id."""
    import anndata
    ids = ["AAAC-1", "AAAG-1", "AAAC-1", "AAAG-1"]
    path = tmp_path / "ref.h5ad"
    anndata.AnnData(np.ones((4, 1), np.float32),
                    obs=pd.DataFrame(
                        {"cell_type": ["B cell", "T cell", None, "NK cell"]},
                        index=ids)).write_h5ad(path)
    labels, name = labels_from("cell_type", path)
    assert match_labels(ids, labels, name, "drop").tolist() == [
        "B cell", "T cell", None, "NK cell"
    ]
    with pytest.raises(ACTINNInputError) as err:
        match_labels(ids, labels, name)
    assert str(err.value).startswith(
        "%s obs['cell_type']: 1 of 4 cells have no label, e.g. AAAC-1" % path)
    # other cells (not the file's, in its order): matched by id, refused
    with pytest.raises(ACTINNInputError,
                       match="cannot tell those cells apart: AAAG-1, AAAC-1;"):
        match_labels(ids[::-1], labels, name, "drop")


def test_read_pairs_one_reader_of_two_column_text(tmp_path):
    from deepchem_actinn.io.labels import read_pairs
    path = tmp_path / "pairs.txt.gz"
    path.write_bytes(
        gzip.compress(b'# a comment\n\n"c1"\t"B cell"\nc2\t5" cell\r\n'))
    assert read_pairs(path, "cell<TAB>type", comments=True) == [
        (3, ["c1", "B cell"], '"c1"\t"B cell"'),
        (4, ["c2", '5" cell'], 'c2\t5" cell'),
    ]
    # a comment is a line only where comments are allowed
    assert read_pairs(path,
                      "cell<TAB>type")[0] == (1, ["# a comment"], "# a comment")
    csv_file = tmp_path / "pairs.csv"
    csv_file.write_text('"","leiden"\n"c1","CD4, naive"\n')
    assert [r[1] for r in read_pairs(csv_file, "cell,cluster")
           ] == [["", "leiden"], ["c1", "CD4, naive"]]
    csv_file.write_text('c1\t"B cell\n')
    with pytest.raises(ACTINNInputError,
                       match=r"pairs.csv: line 1: a quoted field is not "
                       r"closed \(a field that starts with"):
        read_pairs(csv_file, "cell<TAB>type")
    csv_file.write_text("c1\tB cell\n", encoding="utf-16")
    with pytest.raises(ACTINNInputError) as err:
        read_pairs(csv_file, "cell<TAB>type")
    assert str(err.value) == (
        "%s: the file holds UTF-16 text (as Excel's 'Unicode Text' saves it), "
        "not UTF-8; re-encode it as UTF-8 first (e.g. iconv -f utf-16 -t "
        "utf-8 FILE > NEW, or save it as 'CSV UTF-8')" % csv_file)
    csv_file.write_bytes(bytes(range(1, 256)) * 4)
    with pytest.raises(ACTINNInputError) as err:
        read_pairs(csv_file, "cell<TAB>type")
    assert str(err.value) == (
        "%s: not a text file of cell<TAB>type lines (it is not UTF-8 text: "
        "binary or UTF-16?)" % csv_file)
    with pytest.raises(ACTINNInputError,
                       match="a directory, not a file of cell<TAB>type lines"):
        read_pairs(tmp_path, "cell<TAB>type")


#: The advice of every refusal of text that is not UTF-8.
REENCODE = ("re-encode it as UTF-8 first (e.g. iconv -f latin1 -t utf-8 FILE "
            "> NEW, or save it as 'CSV UTF-8')")


def _latin1_readers():
    from deepchem_actinn.hierarchy import TypeHierarchy
    from deepchem_actinn.io.labels import read_pairs
    from deepchem_actinn.voting import read_clusters
    return {
        "pairs": lambda p: read_pairs(p, "cell<TAB>type"),
        "labels": read_labels,
        "labels table": lambda p: read_labels(p, column="cell_type"),
        "clusters": lambda p: read_clusters(p, ["c1", "c2"]),
        "hierarchy": TypeHierarchy.from_file,
    }


@pytest.mark.parametrize("late", [False, True])
@pytest.mark.parametrize("reader", sorted(_latin1_readers()))
def test_latin1_two_column_files_are_told_apart_from_binary(
        tmp_path, reader, late):
    """Labels, clusters and hierarchy files in Latin-1 (Excel's CSV on
    Windows) get the counts files' diagnosis and advice, not "binary or
    UTF-16?"; so where the first lines are ASCII and a Latin-1 name comes
    later."""
    head = "cell\tcell_type\n" + ("c0\tT cell\n" * 800 if late else "")
    path = tmp_path / "latin1.txt"
    path.write_bytes((head + "c1\tTyp\xe9 01\nc2\tB cell\n").encode("latin-1"))
    said = ("%s: the file holds text that is not UTF-8 (Latin-1?)%s; %s" %
            (path, " beyond its first lines" if late else "", REENCODE))
    with pytest.raises(ACTINNInputError) as err:
        _latin1_readers()[reader](path)
    assert str(err.value) == said
