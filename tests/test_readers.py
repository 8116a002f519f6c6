"""Tests for deepchem_actinn.io.readers: every format reads back exactly."""

import gzip
import logging
import re
import shutil
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

import deepchem_actinn
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io.counts import EXPM1_FILE_HINT
import deepchem_actinn.io as readers
from deepchem_actinn.io import file_rows, stream

DATA = Path(deepchem_actinn.__file__).parent / "data" / "tabula_muris_sample"
N_TEXT_CELLS = 300  # text formats use the first cells only, to stay fast


def _gzip(path: Path) -> Path:
    out = path.with_name(path.name + ".gz")
    with open(path, "rb") as src, gzip.open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()
    return out


def _gene_ids(n):
    return ["ENSMUSG%011d" % i for i in range(n)]


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    """The bundled test sample: 2000 genes x 1000 cells, int64."""
    return pd.read_hdf(DATA / "test_sample.h5", "dge")


@pytest.fixture(scope="module")
def counts(source) -> sp.csr_matrix:
    """The sample as cells x genes CSR."""
    return sp.csr_matrix(source.to_numpy().T)


def _lognorm(X: sp.csr_matrix) -> sp.csr_matrix:
    X = sp.csr_matrix(X, dtype=np.float64)
    totals = np.asarray(X.sum(axis=1)).ravel()
    X = sp.diags(1e4 / np.maximum(totals, 1)) @ X
    return sp.csr_matrix(X.log1p(), dtype=np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory, source, counts):
    """One file (or directory) per format, all holding the sample."""
    root = tmp_path_factory.mktemp("formats")
    genes = list(source.index)
    cells = list(source.columns)
    out = {"actinn_h5": DATA / "test_sample.h5"}

    v2 = root / "v2"
    v2.mkdir()
    scipy.io.mmwrite(str(v2 / "matrix.mtx"), sp.coo_matrix(source.to_numpy()))
    (v2 / "genes.tsv").write_text("".join(
        "%s\t%s\n" % pair for pair in zip(_gene_ids(len(genes)), genes)))
    (v2 / "barcodes.tsv").write_text("".join(c + "\n" for c in cells))
    out["10x_v2"] = v2

    v3 = root / "v3"
    v3.mkdir()
    scipy.io.mmwrite(str(v3 / "matrix.mtx"), sp.coo_matrix(source.to_numpy()))
    _gzip(v3 / "matrix.mtx")
    (v3 / "features.tsv").write_text("".join(
        "%s\t%s\tGene Expression\n" % pair
        for pair in zip(_gene_ids(len(genes)), genes)))
    _gzip(v3 / "features.tsv")
    (v3 / "barcodes.tsv").write_text("".join(c + "\n" for c in cells))
    _gzip(v3 / "barcodes.tsv")
    out["10x_v3"] = v3

    csc = sp.csc_matrix(source.to_numpy())  # genes x cells
    path = root / "filtered_feature_bc_matrix.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g["data"], g["indices"], g["indptr"] = csc.data, csc.indices, csc.indptr
        g["shape"] = np.array(csc.shape, dtype=np.int32)
        g["barcodes"] = np.array(cells, dtype="S")
        g["features/id"] = np.array(_gene_ids(len(genes)), dtype="S")
        g["features/name"] = np.array(genes, dtype="S")
        g["features/feature_type"] = np.array(["Gene Expression"] * len(genes),
                                              dtype="S")
    out["10x_h5"] = path

    obs = pd.DataFrame(index=cells)
    var = pd.DataFrame(index=genes)
    adata = anndata.AnnData(sp.csr_matrix(counts, dtype=np.float32), obs, var)
    adata.write_h5ad(root / "counts.h5ad")
    out["h5ad"] = root / "counts.h5ad"

    lognorm = _lognorm(counts)
    with_raw = anndata.AnnData(lognorm, obs, var)
    with_raw.raw = anndata.AnnData(sp.csr_matrix(counts, dtype=np.float32), obs,
                                   var)
    with_raw.write_h5ad(root / "with_raw.h5ad")
    out["h5ad_raw"] = root / "with_raw.h5ad"

    with_layer = anndata.AnnData(lognorm, obs, var)
    with_layer.layers["counts"] = sp.csr_matrix(counts, dtype=np.float32)
    with_layer.write_h5ad(root / "with_layer.h5ad")
    out["h5ad_layer"] = root / "with_layer.h5ad"

    anndata.AnnData(lognorm, obs, var).write_h5ad(root / "lognorm.h5ad")
    out["h5ad_lognorm"] = root / "lognorm.h5ad"

    dense = anndata.AnnData(counts.toarray().astype(np.float32), obs, var)
    dense.write_h5ad(root / "dense.h5ad")
    out["h5ad_dense"] = root / "dense.h5ad"

    small = source.iloc[:, :N_TEXT_CELLS]
    small.to_csv(root / "counts.csv")
    small.to_csv(root / "counts.tsv", sep="\t")
    small.to_csv(root / "counts.txt", sep="\t")
    small.to_csv(root / "counts.csv.gz")
    out["csv"] = root / "counts.csv"
    out["tsv"] = root / "counts.tsv"
    out["txt"] = root / "counts.txt"
    out["csv_gz"] = root / "counts.csv.gz"
    return out


DETECTED = {
    "actinn_h5": "actinn_h5",
    "10x_v2": "10x_mtx",
    "10x_v3": "10x_mtx",
    "10x_h5": "10x_h5",
    "h5ad": "h5ad",
    "h5ad_raw": "h5ad",
    "h5ad_dense": "h5ad",
    "csv": "csv",
    "tsv": "tsv",
    "txt": "tsv",
    "csv_gz": "csv",
}


def _assert_same(adata, source, counts, n_cells=None):
    """adata equals the source matrix exactly, with ids and upper genes."""
    n_cells = counts.shape[0] if n_cells is None else n_cells
    assert sp.isspmatrix_csr(adata.X)
    assert adata.X.dtype == np.float32
    assert adata.shape == (n_cells, counts.shape[1])
    assert (adata.X != counts[:n_cells]).nnz == 0
    assert list(adata.obs_names) == list(source.columns[:n_cells])
    assert list(adata.var_names) == [g.upper() for g in source.index]


@pytest.mark.parametrize("name", sorted(DETECTED))
def test_detect_format(files, name):
    assert readers.detect_format(files[name]) == DETECTED[name]


def test_detect_format_mtx_file_itself(files):
    assert readers.detect_format(files["10x_v2"] / "matrix.mtx") == "10x_mtx"
    assert readers.detect_format(files["10x_v3"] / "matrix.mtx.gz") == "10x_mtx"


@pytest.mark.parametrize("name", sorted(DETECTED))
def test_read_equals_source(files, source, counts, name):
    n = N_TEXT_CELLS if name in ("csv", "tsv", "txt", "csv_gz") else None
    _assert_same(readers.read(files[name]), source, counts, n)


def test_read_mtx_file_path(files, source, counts):
    adata = readers.read(files["10x_v3"] / "matrix.mtx.gz")
    _assert_same(adata, source, counts)


@pytest.mark.parametrize("name", ["10x_v2", "10x_v3", "10x_h5"])
def test_10x_gene_columns(files, source, name):
    adata = readers.read(files[name])
    assert list(adata.var["gene_ids"]) == _gene_ids(len(source.index))
    assert list(adata.var["gene_symbols"]) == list(source.index)


def test_per_format_readers_keep_source(files, source, counts):
    for adata in (readers.read_actinn_h5(files["actinn_h5"]),
                  readers.read_10x_mtx(files["10x_v2"]),
                  readers.read_10x_h5(files["10x_h5"])):
        assert (adata.X != counts).nnz == 0
        assert adata.X.dtype.kind == "i"
        assert list(adata.var_names) == list(source.index)
    text = readers.read_text(files["tsv"])
    assert (text.X != counts[:N_TEXT_CELLS]).nnz == 0


def test_10x_v3_drops_other_features(tmp_path):
    d = tmp_path / "cite"
    d.mkdir()
    scipy.io.mmwrite(str(d / "matrix.mtx"),
                     sp.coo_matrix(np.array([[1, 2], [3, 0], [7, 7]])))
    (d / "features.tsv").write_text("E1\tA\tGene Expression\n"
                                    "E2\tB\tGene Expression\n"
                                    "AB1\tCD3\tAntibody Capture\n")
    (d / "barcodes.tsv").write_text("c1\nc2\n")
    adata = readers.read(d)
    assert list(adata.var_names) == ["A", "B"]
    assert adata.X.toarray().tolist() == [[1, 3], [2, 0]]
    assert list(readers.read_gene_names(d)) == ["A", "B"]


@pytest.mark.parametrize("part", ["barcodes.tsv", "features.tsv"])
def test_10x_blank_line_inside_a_table_is_named(tmp_path, part):
    """A blank line between a 10x table's rows was skipped, so the table
    came out one row short and the error said only that the counts did
    not match; it names the line now. A blank last line is no row."""
    d = tmp_path / "mtx"
    d.mkdir()
    scipy.io.mmwrite(str(d / "matrix.mtx"), sp.coo_matrix(np.ones((3, 3))))
    (d / "features.tsv").write_text("E1\tA\nE2\tB\nE3\tC\n\n")
    (d / "barcodes.tsv").write_text("c1\nc2\nc3\n\n")
    assert readers.read(d).shape == (3, 3)
    text = (d / part).read_text().splitlines()
    (d / part).write_text("\n".join(text[:1] + [""] + text[1:]) + "\n")
    with pytest.raises(ACTINNInputError,
                       match=r"%s: line 2 is empty" % re.escape(part)):
        readers.read(d)


def test_forced_format(tmp_path, files, source, counts):
    path = tmp_path / "counts.dat"
    shutil.copy(files["csv"], path)
    with pytest.raises(ACTINNInputError, match="accepted formats"):
        readers.detect_format(path)
    _assert_same(readers.read(path, format="csv"), source, counts, N_TEXT_CELLS)
    with pytest.raises(ACTINNInputError, match="unknown format 'xls'"):
        readers.read(path, format="xls")


def test_txt_with_commas_is_csv(tmp_path):
    path = tmp_path / "counts.txt"
    path.write_text("gene,c1\nActb,2\n")
    assert readers.detect_format(path) == "csv"
    assert readers.read(path).X.toarray().tolist() == [[2.0]]


def test_missing_path_named(tmp_path):
    missing = tmp_path / "nope.h5"
    with pytest.raises(ACTINNInputError, match="nope.h5"):
        readers.read(missing)
    with pytest.raises(ACTINNInputError, match="nope.h5"):
        readers.detect_format(missing)


def test_unknown_hdf5_layout(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["values"] = np.zeros(3)
    with pytest.raises(ACTINNInputError, match="other.h5.*10x_h5"):
        readers.detect_format(path)


def test_repeated_cell_ids_of_an_h5ad_are_said_in_our_words(tmp_path, caplog):
    """anndata's warning about names that are not unique (of the cells and
    of .raw's) is not passed on: the readers say which ids repeat."""
    import warnings
    adata = anndata.AnnData(sp.csr_matrix(np.arange(1, 7.0).reshape(3, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata's, on making the file
        adata.obs_names = ["c1", "c2", "c1"]
        adata.raw = adata.copy()
        adata.layers["counts"] = adata.X.copy()
        adata.write_h5ad(tmp_path / "twice.h5ad")
    said = "%s: 1 cell id appears more than once, e.g. c1; outputs name " \
        "cells by id, so make them unique first (anndata: " \
        "obs_names_make_unique)" % (tmp_path / "twice.h5ad")
    cases = [(readers.read, dict()), (readers.read, dict(use_raw=True)),
             (readers.read, dict(layer="counts")), (readers.read_h5ad, dict()),
             (readers.read_h5ad, dict(use_raw=True))]
    for read, options in cases:
        caplog.clear()
        with warnings.catch_warnings(record=True) as warned, \
                caplog.at_level(logging.WARNING, logger="deepchem_actinn"):
            warnings.simplefilter("always")
            got = read(tmp_path / "twice.h5ad", **options)
        # none of anndata's of names not unique (with pandas 3.1 it also
        # warns of a pandas option of its own: not ours to say)
        assert [
            str(w.message) for w in warned if "not unique" in str(w.message)
        ] == [], (read, options)
        assert [r.getMessage() for r in caplog.records] == [said]
        assert list(got.obs_names) == ["c1", "c2", "c1"]


def test_layer_only_for_h5ad(files):
    for named in ({"layer": "counts"}, {"use_raw": True}):
        with pytest.raises(ACTINNInputError, match="are h5ad's only, not csv"):
            readers.read(files["csv"], **named)
    # X, every format's only matrix, may be named
    np.testing.assert_array_equal(
        readers.read(files["csv"], use_raw=False).X.toarray(),
        readers.read(files["csv"]).X.toarray())


@pytest.fixture
def dup_csv(tmp_path):
    path = tmp_path / "dups.csv"
    path.write_text("gene,c1,c2,c3\n"
                    "Actb,1,0,2\n"
                    "ACTB,5,5,5\n"
                    "Gapdh,0,3,0\n"
                    "Gapdh,9,9,9\n"
                    "Cd3e,4,0,1\n")
    return path


def test_upper_case_and_dedup(dup_csv, caplog):
    with caplog.at_level(logging.INFO, logger="deepchem_actinn.io"):
        adata = readers.read(dup_csv)
    assert list(adata.var_names) == ["ACTB", "GAPDH", "CD3E"]
    assert adata.X.toarray().tolist() == [[1, 0, 4], [0, 3, 0], [2, 0, 1]]
    assert "dropped 2 duplicated gene names" in caplog.text


@pytest.mark.filterwarnings("ignore:Variable names are not unique")
def test_dropped_genes_are_a_warning_naming_the_file(dup_csv, tmp_path, caplog):
    """Genes dropped change the data: a warning (said under -q), naming the
    file, and the cells x genes read count the genes kept."""
    said = "%s: dropped 2 duplicated gene names (kept the first of each), " \
        "e.g. ACTB, Gapdh" % dup_csv
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn.io"):
        readers.read(dup_csv)
    assert caplog.text.count(said) == 1
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="deepchem_actinn.io"):
        readers.read_var(dup_csv)
        list(readers.iter_cell_chunks(dup_csv, chunk_size=2))
    assert {(r.levelname, r.getMessage())
            for r in caplog.records
            if "orientation" not in r.name
           } == {("WARNING", said),
                 ("INFO", "%s: read 3 cells x 3 genes (csv)" % dup_csv)}
    # an h5ad file read in chunks alike
    adata = anndata.AnnData(np.ones((2, 3), dtype=np.float32))
    adata.var_names = ["Cts7", "Actb", "Cts7"]
    path = tmp_path / "dup.h5ad"
    adata.write_h5ad(path)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="deepchem_actinn.io"):
        readers.read_var(path)
        list(readers.iter_cell_chunks(path, chunk_size=2))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "%s: dropped 1 duplicated gene name (kept the first of "
         "each), e.g. Cts7" % path),
        ("INFO", "%s: read 2 cells x 2 genes (h5ad, X, in chunks)" % path)
    ]


def test_keep_case_still_dedups(dup_csv):
    # the names keep their spelling; a repeat is still one gene by the rule
    # genes are matched with (ignoring case), so ACTB goes as in upper case
    adata = readers.read(dup_csv, upper_case_genes=False)
    assert list(adata.var_names) == ["Actb", "Gapdh", "Cd3e"]
    assert adata.X.toarray().tolist() == [[1, 0, 4], [0, 3, 0], [2, 0, 1]]


def test_clean_gene_names():
    names, keep = readers.clean_gene_names(["a", "B", "A", "b", "c"])
    assert list(names) == ["A", "B", "C"]
    assert keep.tolist() == [True, True, False, False, True]
    # a repeat is a name spelled again, whatever the names' case
    names, keep = readers.clean_gene_names(["a", "A", "b"], upper_case=False)
    assert list(names) == ["a", "b"]
    assert keep.tolist() == [True, False, True]
    # two versions of one Ensembl id are both kept: matching takes the
    # model's own version (so a file and an array give a model gene the
    # same column), and training refuses a reference with both
    versions = ["ENSMUSG00000000001.4", "ENSMUSG00000000001.5", "Ensmusg2"]
    names, keep = readers.clean_gene_names(versions, upper_case=False)
    assert list(names) == versions and keep.all()


def test_genes_without_a_name_are_left_out_and_said(tmp_path, caplog):
    # no model gene can match a blank name; its counts are left out, saying
    # where it was
    names, keep = readers.clean_gene_names(["a", " ", "b", ""])
    assert list(names) == ["A", "B"] and keep.tolist() == [1, 0, 1, 0]
    path = tmp_path / "blank.csv"
    path.write_text("gene,c1,c2\nActb,1,0\n,5,5\nCd3e,0,2\n")
    caplog.set_level("WARNING")
    adata = readers.read(path)
    assert list(adata.var_names) == ["ACTB", "CD3E"]
    assert adata.X.toarray().tolist() == [[1, 0], [0, 2]]
    assert caplog.text.count("1 gene without a name left out (no model "
                             "gene can match it), at gene positions 2") == 1
    chunks = list(readers.iter_cell_chunks(path, chunk_size=1))
    assert [X.toarray().tolist() for _, X in chunks] == [[[1, 0]], [[0, 2]]]


@pytest.mark.filterwarnings("ignore:Variable names are not unique")
def test_gene_names_and_chunks_agree_with_dups(dup_csv, tmp_path):
    adata = readers.read(dup_csv, upper_case_genes=False)
    path = tmp_path / "dups.h5ad"
    raw = readers.read_text(dup_csv)
    raw.X = sp.csr_matrix(raw.X, dtype=np.float32)
    raw.write_h5ad(path)
    for upper in (True, False):
        expected = readers.read(path, upper_case_genes=upper)
        names = readers.read_gene_names(path, upper_case_genes=upper)
        assert list(names) == list(expected.var_names)
        chunks = list(readers.iter_cell_chunks(path, 2, upper_case_genes=upper))
        stacked = sp.vstack([X for _, X in chunks])
        assert (stacked != expected.X).nnz == 0
    assert list(readers.read_gene_names(dup_csv, upper_case_genes=False)) == \
        list(adata.var_names)


def test_h5ad_falls_back_to_raw(files, source, counts, caplog):
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn.io"):
        adata = readers.read(files["h5ad_raw"])
    _assert_same(adata, source, counts)
    assert ".raw.X" in caplog.text and "non-integer" in caplog.text


def test_h5ad_falls_back_to_counts_layer(files, source, counts, caplog):
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn.io"):
        adata = readers.read(files["h5ad_layer"])
    _assert_same(adata, source, counts)
    assert "layers['counts']" in caplog.text


def test_h5ad_explicit_sources(files, source, counts):
    _assert_same(readers.read(files["h5ad_layer"], layer="counts"), source,
                 counts)
    _assert_same(readers.read(files["h5ad_raw"], use_raw=True), source, counts)
    with pytest.raises(ACTINNInputError, match="non-integer"):
        readers.read(files["h5ad_raw"], use_raw=False)
    with pytest.raises(ACTINNInputError, match="no .raw"):
        readers.read(files["h5ad"], use_raw=True)
    with pytest.raises(ACTINNInputError, match="no layer 'spliced'"):
        readers.read(files["h5ad_layer"], layer="spliced")


def test_h5ad_normalised_only_is_an_error(files):
    path = files["h5ad_lognorm"]
    with pytest.raises(ACTINNInputError) as err:
        readers.read(path)
    message = str(err.value)
    assert str(path) in message
    assert "non-integer values" in message
    assert "log-normalised" in message
    # a log scale is not counts: allow_non_integer is offered only for the
    # expm1 of it, written into a layer
    hint = str(EXPM1_FILE_HINT)
    assert message.endswith(hint)
    assert "allow_non_integer" not in message[:-len(hint)]
    # nor on another scale: allowing non-integer values does not take it
    with pytest.raises(ACTINNInputError) as err:
        readers.read(path, allow_non_integer=True)
    assert str(err.value) == message


def test_counts_on_another_scale_may_be_allowed(tmp_path):
    path = tmp_path / "tpm.csv"
    path.write_text("gene,c1,c2\nA,120.5,0\nB,3.25,80\n")
    with pytest.raises(ACTINNInputError,
                       match="normalised, not raw counts; .*pass "
                       r"allow_non_integer=True$"):
        readers.read(path)
    assert readers.read(path, allow_non_integer=True).X[0, 0] == 120.5


def test_negative_counts_error(tmp_path):
    path = tmp_path / "neg.csv"
    path.write_text("gene,c1,c2,c3\nA,1,-2,0\nB,0,3,-1\n")
    with pytest.raises(ACTINNInputError) as err:
        readers.read(path, allow_non_integer=True)
    message = str(err.value)
    assert "2 negative values" in message
    assert "c2, c3" in message and "neg.csv" in message


def test_nan_counts_error(tmp_path):
    # the reader names a missing value (nan) with its gene; the check of
    # counts refuses infinite ones, naming the cells
    path = tmp_path / "nan.tsv"
    path.write_text("gene\tc1\tc2\tc3\nA\t1\tnan\t0\nB\t0\t3\tinf\n")
    with pytest.raises(ACTINNInputError) as err:
        readers.read(path, allow_non_integer=True)
    assert str(err.value) == (
        "%s: 1 value is missing (NA, NaN, NULL or the like), e.g. 'nan' in "
        "data row 1 (gene 'A'), column of cell c2; every value must be a "
        "number (a count)" % path)
    path.write_text("gene\tc1\tc2\tc3\nA\t1\t-inf\t0\nB\t0\t3\tinf\n")
    with pytest.raises(ACTINNInputError) as err:
        readers.read(path, allow_non_integer=True)
    assert str(err.value) == ("%s: X holds 2 NaN or infinite values, e.g. in "
                              "cells c2, c3" % path)


def test_non_numeric_text_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("gene,c1,c2\nA,1,x\n")
    with pytest.raises(ACTINNInputError) as err:
        readers.read(path)
    assert str(err.value) == (
        "%s: 1 value is not a number, e.g. 'x' in data row 1 (gene 'A'), "
        "column of cell c2; every value must be a number (a count)" % path)


@pytest.mark.parametrize("text, words", [
    ("gene,c1,c2,c3\nActb,3,0,1\nCd3e,0,2\n", "1 value is empty (rows cut "
     "short, or empty fields), e.g. in data row 2 (gene 'Cd3e'), column of "
     "cell c3; every row needs a value in each of the 3 columns"),
    ("gene,c1,c2\nActb,3,\nCd3e,0,2\n", "1 value is empty (rows cut "
     "short, or empty fields), e.g. in data row 1 (gene 'Actb'), column of "
     "cell c2; every row needs a value in each of the 2 columns"),
])
@pytest.mark.parametrize("infer_string", [False, True], ids=["object", "str"])
def test_empty_fields_are_named_not_called_nan(tmp_path, text, words,
                                               infer_string):
    """Text columns hold object dtype in pandas 2 and str in pandas 3
    (future.infer_string): an empty field is named in either."""
    path = tmp_path / "cut.csv"
    path.write_text(text)
    with pytest.raises(ACTINNInputError) as err, \
            pd.option_context("future.infer_string", infer_string):
        readers.read(path)
    assert str(err.value) == "%s: %s" % (path, words)


def test_text_ids_stay_as_written(tmp_path):
    # numeric-looking cell ids keep their zeros; a separator closing every
    # line adds no column
    rows = tmp_path / "cells.csv"
    rows.write_text(",Actb,Cd3e\n00001,3,0\n00002,0,1\n")
    adata = readers.read(rows, orientation="cells_by_genes")
    assert list(adata.obs_names) == ["00001", "00002"]
    trailing = tmp_path / "trailing.tsv"
    trailing.write_text("gene\t00001\t00002\t\nActb\t3\t0\t\n"
                        "Cd3e\t0\t2\t\n")
    adata = readers.read(trailing)
    assert list(adata.obs_names) == ["00001", "00002"]
    np.testing.assert_array_equal(adata.X.toarray(), [[3, 0], [0, 2]])
    # and every reader of the file agrees
    assert readers.n_cells(trailing) == 2
    assert list(readers.read_cell_ids(trailing)) == ["00001", "00002"]
    chunks = list(readers.iter_cell_chunks(trailing, chunk_size=1))
    assert [list(ids) for ids, _ in chunks] == [["00001"], ["00002"]]


STREAMED = ("h5ad", "h5ad_dense", "h5ad_raw", "actinn_h5", "10x_h5")


def _no_whole_read(*args, **kwargs):
    raise AssertionError("streaming must not read the whole file")


@pytest.mark.parametrize(
    "name",
    ["h5ad", "h5ad_dense", "h5ad_raw", "actinn_h5", "10x_h5", "10x_v2", "csv"])
def test_chunks_concatenate_to_read(files, name, monkeypatch):
    expected = readers.read(files[name])
    if name in STREAMED:  # these must be read piece by piece, not whole
        monkeypatch.setattr(file_rows, "read", _no_whole_read)
        monkeypatch.setattr(pd, "read_hdf", _no_whole_read)
    chunks = list(readers.iter_cell_chunks(files[name], chunk_size=333))
    sizes = [X.shape[0] for _, X in chunks]
    assert sizes[:-1] == [333] * (len(sizes) - 1) and sizes[-1] <= 333
    stacked = sp.vstack([X for _, X in chunks]).tocsr()
    assert all(
        sp.isspmatrix_csr(X) and X.dtype == np.float32 for _, X in chunks)
    assert (stacked != expected.X).nnz == 0
    ids = np.concatenate([ids for ids, _ in chunks])
    assert list(ids) == list(expected.obs_names)
    assert list(readers.read_gene_names(files[name])) == \
        list(expected.var_names)
    assert readers.n_cells(files[name]) == expected.n_obs


def test_nullable_string_names_stream(files, tmp_path, monkeypatch):
    """anndata with pandas 3 writes string names as a nullable-string-array
    group (values and a mask): still streamed, with the same names. A file
    that holds the group already (anndata 0.13 on pandas 3 writes one) is
    used as it is; a string array is turned into the group here."""
    path = tmp_path / "nullable.h5ad"
    shutil.copy(files["h5ad"], path)
    with h5py.File(path, "r+") as f:
        for table in ("obs", "var"):
            key = f[table].attrs.get("_index", "_index")
            if isinstance(f[table][key], h5py.Group):  # written as one
                assert f[table][key].attrs["encoding-type"] == \
                    "nullable-string-array"
                continue
            names = f[table][key].asstr()[()]
            del f[table][key]
            group = f[table].create_group(key)
            group.attrs["encoding-type"] = "nullable-string-array"
            group.attrs["encoding-version"] = "0.1.0"
            values = group.create_dataset("values",
                                          data=names.astype(object),
                                          dtype=h5py.string_dtype())
            mask = group.create_dataset("mask", data=np.zeros(len(names), bool))
            values.attrs.update({
                "encoding-type": "string-array",
                "encoding-version": "0.2.0"
            })
            mask.attrs.update({
                "encoding-type": "array",
                "encoding-version": "0.2.0"
            })
    expected = readers.read(files["h5ad"])
    monkeypatch.setattr(file_rows, "read", _no_whole_read)
    chunks = list(readers.iter_cell_chunks(path, chunk_size=333))
    assert list(np.concatenate([ids for ids, _ in chunks])) == \
        list(expected.obs_names)
    assert (sp.vstack([X for _, X in chunks]) != expected.X).nnz == 0
    assert list(readers.read_gene_names(path)) == list(expected.var_names)
    assert readers.n_cells(path) == expected.n_obs


@pytest.mark.filterwarnings("ignore:Observation names are not unique")
@pytest.mark.parametrize("streamed", [True, False])
def test_repeated_cell_ids_are_told_once_naming_the_file(
        tmp_path, caplog, streamed):
    """Read whole or streamed straight from an h5ad file, a query whose
    cell ids repeat is warned about, by file and id, once."""
    adata = anndata.AnnData(sp.csr_matrix(np.ones((4, 3), np.float32)))
    adata.obs_names = ["c1", "c2", "c1", "c3"]
    adata.var_names = ["G1", "G2", "G3"]
    path = tmp_path / "twice.h5ad"
    adata.write_h5ad(path)
    with caplog.at_level("WARNING", logger="deepchem_actinn"):
        if streamed:
            assert len(list(readers.iter_cell_chunks(path, 2))) == 2
        else:
            readers.read(path)
    assert caplog.text.count("1 cell id appears more than once, e.g. c1") == 1
    assert str(path) in caplog.text


def test_chunks_check_values(tmp_path):
    X = sp.csr_matrix(np.array([[1.0, 0.0], [2.0, 0.0], [0.0, -3.0]]))
    adata = anndata.AnnData(X)
    adata.obs_names = ["c1", "c2", "c3"]
    adata.var_names = ["A", "B"]
    path = tmp_path / "neg.h5ad"
    adata.write_h5ad(path)
    chunks = readers.iter_cell_chunks(path, chunk_size=2)
    first = next(chunks)
    assert list(first[0]) == ["c1", "c2"]
    with pytest.raises(ACTINNInputError, match="negative.*c3"):
        next(chunks)


def test_iter_chunks_bad_arguments(files, tmp_path):
    with pytest.raises(ACTINNInputError, match="chunk_size"):
        readers.iter_cell_chunks(files["h5ad"], chunk_size=0)
    with pytest.raises(ACTINNInputError, match="missing.h5ad"):
        readers.iter_cell_chunks(tmp_path / "missing.h5ad")


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------


def _write_labels(path, pairs):
    path.write_text("".join("%s\t%s\n" % pair for pair in pairs))
    return path


def test_labels_matched_by_id(tmp_path, source):
    truth = pd.read_csv(DATA / "test_label_sample.txt",
                        sep="\t",
                        header=None,
                        index_col=0).iloc[:, 0]
    shuffled = truth.sample(frac=1.0, random_state=0)
    path = _write_labels(tmp_path / "labels.txt", shuffled.items())
    labels = readers.read_labels(path)
    assert labels.name == "cell_type"
    assert list(labels.index) == list(shuffled.index)
    matched = readers.match_labels(source.columns, labels, str(path))
    assert list(matched) == list(truth.reindex(source.columns))
    assert list(readers.match_labels(source.columns, path)) == list(matched)


def test_labels_gzip_and_header(tmp_path):
    path = tmp_path / "labels.txt.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("cellname\tcelltype\nc1\tB cell\r\nc2\tT cell\n\n")
    assert readers.read_labels(path).to_dict() == {
        "c1": "B cell",
        "c2": "T cell"
    }


def test_labels_whose_ids_differ_only_in_case_say_so(tmp_path):
    """Ids are matched exactly; where a labels file's ids differ from the
    cells' only in case, each refusal says so, with a pair."""
    path = _write_labels(tmp_path / "l.txt", [("C1", "A"), ("c2", "B")])
    with pytest.raises(ACTINNInputError,
                       match=r"1 of 2 cells have no label, e.g. c1; 1 "
                       r"labelled id differs only in case from a cell's "
                       r"\('C1' and 'c1'\): cell ids are matched exactly"):
        readers.match_labels(["c1", "c2"], path)
    with pytest.raises(ACTINNInputError,
                       match=r"is not in the matrix, e.g. C1; 1 labelled id "
                       r"differs only in case"):
        readers.match_labels(["c1", "c2"], path, missing="drop")
    upper = _write_labels(tmp_path / "u.txt", [("C1", "A"), ("C2", "B")])
    with pytest.raises(ACTINNInputError,
                       match=r"the two must use the same cell ids; 2 "
                       r"labelled ids differ only in case"):
        readers.match_labels(["c1", "c2"], upper)


def test_labels_missing_cells(tmp_path):
    path = _write_labels(tmp_path / "l.txt", [("c1", "A"), ("c2", "B")])
    with pytest.raises(ACTINNInputError) as err:
        readers.match_labels(["c1", "c2", "c3", "c4"], path)
    message = str(err.value)
    assert "l.txt" in message and "2 of 4 cells have no label" in message
    assert "c3, c4" in message


def test_labels_extra_ids(tmp_path):
    path = _write_labels(tmp_path / "l.txt", [("c1", "A"), ("c2", "B"),
                                              ("x9", "B")])
    with pytest.raises(ACTINNInputError,
                       match="l.txt: 1 labelled cell is not in the matrix"
                       ", e.g. x9"):
        readers.match_labels(["c1", "c2"], path)


def test_labels_duplicated_ids(tmp_path):
    path = _write_labels(tmp_path / "l.txt", [("c1", "A"), ("c2", "B"),
                                              ("c1", "B")])
    with pytest.raises(ACTINNInputError,
                       match="l.txt: 1 cell id appears more than once, e.g."
                       " c1"):
        readers.read_labels(path)


def test_labels_empty(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("")
    with pytest.raises(ACTINNInputError,
                       match="empty.txt: the labels file is empty"):
        readers.read_labels(path)


def test_labels_malformed_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("c1\tA\nc2 B\nc3\tC\n")
    with pytest.raises(ACTINNInputError, match="bad.txt: line 2.*c2 B"):
        readers.read_labels(path)


@pytest.mark.parametrize("name", ["10x_v2", "10x_v3", "10x_h5", "h5ad"])
def test_read_var_matches_read(files, name):
    expected = readers.read(files[name])
    var = readers.read_var(files[name])
    assert list(var.index) == list(expected.var_names)
    for column in ("gene_ids", "gene_symbols"):
        if column in expected.var:
            assert list(var[column]) == list(expected.var[column])


def test_h5ad_cell_names_are_decoded_only_when_used(files, monkeypatch):
    """read_var reads an h5ad file's genes without decoding its cell names
    (10^6 of them take about 0.5 s, and actinn predict reads the genes
    twice); a pass over the cells decodes them once, as before."""
    from deepchem_actinn.io import h5ad_rows
    decoded = []
    real = h5ad_rows.index_names

    def counting(group):
        decoded.append(group.name)
        return real(group)

    monkeypatch.setattr(h5ad_rows, "index_names", counting)
    readers.read_var(files["h5ad"])
    assert "/obs" not in decoded
    ids = [
        i for chunk, _ in readers.iter_cell_chunks(files["h5ad"], 400)
        for i in chunk
    ]
    assert decoded.count("/obs") == 1
    assert ids == list(readers.read(files["h5ad"]).obs_names)


def test_read_var_h5ad_columns(tmp_path):
    adata = anndata.AnnData(sp.csr_matrix(np.array([[1.0, 2.0]])))
    adata.var_names = ["Actb", "Cd3e"]
    adata.var["gene_ids"] = ["E1", "E2"]
    path = tmp_path / "v.h5ad"
    adata.write_h5ad(path)
    var = readers.read_var(path)
    assert var["gene_ids"].to_dict() == {"ACTB": "E1", "CD3E": "E2"}


@pytest.mark.parametrize("name", ["counts.txt", "counts.csv"])
def test_space_separated_text_is_named(tmp_path, name):
    # R's write.table default: quoted names, fields separated by spaces
    path = tmp_path / name
    path.write_text('"c1" "c2"\n"Actb" 3 0\n"Cd3e" 0 2\n')
    with pytest.raises(ACTINNInputError,
                       match="separated by spaces .as R's write.table"):
        readers.read(path)
    with pytest.raises(ACTINNInputError, match="separated by spaces"):
        readers.n_cells(path)


def test_a_part_of_a_10x_folder_or_an_archive_is_named(tmp_path):
    d = tmp_path / "filtered_feature_bc_matrix"
    d.mkdir()
    scipy.io.mmwrite(str(d / "matrix.mtx"), sp.coo_matrix(np.ones((2, 1))))
    (d / "features.tsv").write_text("E1\tA\tGene Expression\n"
                                    "E2\tB\tGene Expression\n")
    (d / "barcodes.tsv").write_text("c1\n")
    for part, what in (("features.tsv", "gene names"), ("barcodes.tsv",
                                                        "barcodes")):
        with pytest.raises(ACTINNInputError,
                           match="%s: the %s of a 10x matrix, not its counts: "
                           "pass its folder" % (part, what)):
            readers.read(d / part)
    assert readers.read(d).n_obs == 1
    scipy.io.mmwrite(str(d / "matrix.mtx"), sp.coo_matrix(np.ones((1, 2))))
    with pytest.raises(ACTINNInputError,
                       match="the matrix is 1 x 2 but there are 2 features .* "
                       "and 1 barcodes .*; it is transposed: a 10x matrix "
                       "holds the genes as rows"):
        readers.read(d)
    archive = tmp_path / "filtered_feature_bc_matrix.tar.gz"
    with gzip.open(archive, "wb") as fh:
        fh.write(bytes(range(256)) * 4)
    with pytest.raises(ACTINNInputError,
                       match="it looks like an archive: unpack it first"):
        readers.read(archive)
    r_object = tmp_path / "seurat.rds"
    with gzip.open(r_object, "wb") as fh:
        fh.write(b"X\n\x00\x00\x00\x03" + bytes(range(256)))
    with pytest.raises(ACTINNInputError,
                       match="it looks like an R object: export its counts"):
        readers.read(r_object)


def test_a_file_without_layers_is_not_told_of_layers(tmp_path):
    # a 10x folder or a CSV holds one matrix: no .raw or layers to look in
    d = tmp_path / "normalised"
    d.mkdir()
    scipy.io.mmwrite(str(d / "matrix.mtx"),
                     sp.coo_matrix(np.array([[1.5, 2], [3, 0]])))
    (d / "features.tsv").write_text("E1\tA\tGene Expression\n"
                                    "E2\tB\tGene Expression\n")
    (d / "barcodes.tsv").write_text("c1\nc2\n")
    text = tmp_path / "normalised.csv"
    text.write_text("gene,c1\nA,0.5\n")
    for path, read in ((d, readers.read), (d, _all_chunks), (text,
                                                             readers.read)):
        with pytest.raises(ACTINNInputError) as err:
            read(path)
        assert str(err.value).endswith(
            "give the counts as the pipeline wrote them (Cell Ranger's "
            "matrix, a counts table), not a normalised export"), err.value
        assert ".raw" not in str(err.value)


def _all_chunks(path):
    return list(readers.iter_cell_chunks(path, 10))


def test_a_separator_closing_the_rows_only_is_refused_not_guessed(tmp_path):
    # "gene,c1,c2" over "Actb,3,0,": the rows end with a separator the header
    # lacks - or the header has no corner and cell c2's column is empty
    closed = tmp_path / "closed.csv"
    closed.write_text("gene,c1,c2\nActb,3,0,\nCd3e,0,2,\n")
    with pytest.raises(ACTINNInputError,
                       match="closed.csv: the first row has one field more "
                       "than the header, an empty one at its end"):
        readers.read(closed)
    # without the empty field, a header one field short has no corner
    no_corner = tmp_path / "no_corner.csv"
    no_corner.write_text("c1,c2\nActb,3,0\nCd3e,0,2\n")
    adata = readers.read(no_corner)
    assert list(adata.obs_names) == ["c1", "c2"]
    np.testing.assert_array_equal(adata.X.toarray(), [[3, 0], [0, 2]])


def test_a_cell_without_an_id_is_refused_naming_the_file(tmp_path):
    # a blank header field, as a spreadsheet leaves it
    path = tmp_path / "counts.csv"
    rows = ["gene,c0,,c2,c3"] + ["G%d,1,2,3,4" % g for g in range(5)]
    path.write_text("\n".join(rows) + "\n")
    message = ("^%s: 1 cell has no id \\(an empty name\\): the 2nd; outputs "
               "and labels name cells by id, so give every cell one$" %
               re.escape(str(path)))
    with pytest.raises(ACTINNInputError, match=message):
        readers.read(path)
    with pytest.raises(ACTINNInputError, match=message):
        list(stream.iter_cell_chunks(path, 2))


def test_a_file_and_an_array_give_a_model_gene_the_same_column(tmp_path):
    # two versions of one id in a query file: both columns are read, so
    # the model's own version is matched as it is in an array
    from deepchem_actinn.preprocessing.genes import gene_positions
    path = tmp_path / "versions.csv"
    path.write_text("gene,c1,c2\nENSMUSG00000000001.4,1,2\n"
                    "ENSMUSG00000000001.5,7,9\nCd3e,0,1\n")
    adata = readers.read(path, upper_case_genes=False)
    model = ["ENSMUSG00000000001.5", "Cd3e"]
    names = ["ENSMUSG00000000001.4", "ENSMUSG00000000001.5", "Cd3e"]
    assert list(adata.var_names) == names
    positions = gene_positions(model, adata.var_names)
    assert positions.tolist() == gene_positions(model, names).tolist() == [1, 2]
    assert adata.X.toarray()[:, positions].tolist() == [[7, 0], [9, 1]]
