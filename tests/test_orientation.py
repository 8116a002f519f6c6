"""Text matrices with cells as rows (CellTypist's samples, scanpy.read_csv)
are read the right way round: forced, or detected from the genes or the
cell ids the caller expects."""

import logging

import numpy as np
import pandas as pd
import pytest

import deepchem_actinn.io as dio
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io.orientation import choose_orientation

N_GENES, N_CELLS = 30, 12


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Genes x cells counts, mixed-case gene names."""
    rng = np.random.default_rng(1)
    return pd.DataFrame(rng.poisson(1.5, size=(N_GENES, N_CELLS)),
                        index=["Gene%d" % i for i in range(N_GENES)],
                        columns=["AAAC-%d" % i for i in range(N_CELLS)])


@pytest.fixture(scope="module")
def files(tmp_path_factory, frame):
    root = tmp_path_factory.mktemp("orientation")
    out = {
        "genes_by_cells": root / "genes_by_cells.csv",
        "cells_by_genes": root / "cells_by_genes.csv",
        "cells_by_genes_tsv_gz": root / "cells_by_genes.tsv.gz",
        "no_corner": root / "no_corner.csv",
    }
    frame.to_csv(out["genes_by_cells"])
    frame.T.to_csv(out["cells_by_genes"])
    frame.T.to_csv(out["cells_by_genes_tsv_gz"], sep="\t")
    # scanpy / R style: the header one field shorter than the rows
    text = out["cells_by_genes"].read_text().split("\n", 1)
    out["no_corner"].write_text(text[0].split(",", 1)[1] + "\n" + text[1])
    return out


def _assert_same(adata, frame):
    """adata holds frame (genes x cells) as cells x genes, exactly."""
    assert list(adata.obs_names) == list(frame.columns)
    assert list(adata.var_names) == [g.upper() for g in frame.index]
    np.testing.assert_array_equal(adata.X.toarray(), frame.T.to_numpy())


@pytest.mark.parametrize(
    "name", ["cells_by_genes", "cells_by_genes_tsv_gz", "no_corner"])
def test_forced_cells_by_genes(files, frame, name):
    _assert_same(dio.read(files[name], orientation="cells_by_genes"), frame)


def test_forced_genes_by_cells_is_actinn_layout(files, frame):
    _assert_same(
        dio.read(files["genes_by_cells"], orientation="genes_by_cells"), frame)
    _assert_same(dio.read(files["genes_by_cells"]), frame)


def test_default_without_hints_is_genes_as_rows(files, frame, caplog):
    with caplog.at_level(logging.INFO, logger="deepchem_actinn.io"):
        adata = dio.read(files["cells_by_genes"])
    # read as ACTINN's layout: the cells become genes, and the log says how
    assert list(adata.var_names) == [c.upper() for c in frame.columns]
    assert "if rows are cells, pass orientation='cells_by_genes'" in caplog.text


@pytest.mark.parametrize("name,counts", [
    ("genes_by_cells", "15 of the expected genes in the rows, 0 in the"),
    ("cells_by_genes", "0 of the expected genes in the rows, 15 in the"),
])
def test_detected_from_expected_genes(files, frame, name, counts, caplog):
    model_genes = [g.upper() for g in frame.index[::2]] + ["NOT_IN_DATA"]
    with caplog.at_level(logging.INFO, logger="deepchem_actinn.io"):
        adata = dio.read(files[name], expected_genes=model_genes)
    _assert_same(adata, frame)
    assert counts in caplog.text
    assert "reading it as %s" % name.replace("_", " ") in caplog.text


@pytest.mark.parametrize("name", ["genes_by_cells", "cells_by_genes"])
def test_detected_from_expected_cells(files, frame, name):
    label_ids = list(frame.columns[:5])
    _assert_same(dio.read(files[name], expected_cells=label_ids), frame)


def test_cells_decide_when_genes_match_nothing(files, frame):
    adata = dio.read(files["cells_by_genes"],
                     expected_genes=["CD3E"],
                     expected_cells=list(frame.columns))
    _assert_same(adata, frame)


def test_forced_orientation_beats_hints(files, frame):
    adata = dio.read(files["cells_by_genes"],
                     orientation="genes_by_cells",
                     expected_genes=list(frame.index))
    assert list(adata.obs_names) == list(frame.index)


@pytest.mark.parametrize("hint,words", [
    ({
        "expected_genes": ["CD3E", "CD19"]
    }, "the expected genes"),
    ({
        "expected_cells": ["x1", "x2"]
    }, "the expected cell ids"),
])
def test_neither_axis_matches(files, hint, words):
    path = files["cells_by_genes"]
    for entry in (lambda: dio.read(path, **hint),
                  lambda: dio.n_cells(path, **hint),
                  lambda: dio.read_var(path, **hint),
                  lambda: dio.read_cell_ids(path, **hint),
                  lambda: list(dio.iter_cell_chunks(path, **hint))):
        with pytest.raises(ACTINNInputError) as err:
            entry()
        message = str(err.value)
        assert message.startswith("%s: neither the rows nor the columns "
                                  "match %s" % (path, words))
        assert "rows look like AAAC-0, AAAC-1, AAAC-2, ... (12 in all)" in (
            message)
        assert "columns like Gene0, Gene1, Gene2, ... (30 in all)" in message
        assert "pass orientation='genes_by_cells'" in message
        assert "\n" not in message


@pytest.mark.parametrize("hints", [
    {
        "orientation": "cells_by_genes"
    },
    {
        "expected_genes": ["GENE1", "GENE3"]
    },
    {
        "expected_cells": ["AAAC-3"]
    },
])
def test_streaming_agrees_with_read(files, frame, hints):
    path = files["cells_by_genes"]
    whole = dio.read(path, **hints)
    _assert_same(whole, frame)
    assert dio.n_cells(path, **hints) == N_CELLS
    assert list(dio.read_cell_ids(path, **hints)) == list(frame.columns)
    assert list(dio.read_var(path, **hints).index) == list(whole.var_names)
    assert list(dio.read_gene_names(path, **hints)) == list(whole.var_names)
    chunks = list(dio.iter_cell_chunks(path, chunk_size=5, **hints))
    assert [len(ids) for ids, _ in chunks] == [5, 5, 2]
    np.testing.assert_array_equal(np.vstack([X.toarray() for _, X in chunks]),
                                  whole.X.toarray())


def test_unknown_orientation(files):
    with pytest.raises(ACTINNInputError, match="unknown orientation 'rows'"):
        dio.read(files["cells_by_genes"], orientation="rows")
    with pytest.raises(ACTINNInputError, match="unknown orientation 'rows'"):
        dio.n_cells(files["cells_by_genes"], orientation="rows")


def test_orientation_only_for_text(tmp_path, frame):
    import anndata
    import scipy.sparse as sp
    path = tmp_path / "counts.h5ad"
    anndata.AnnData(sp.csr_matrix(frame.T.to_numpy(),
                                  dtype=np.float32)).write_h5ad(path)
    with pytest.raises(ACTINNInputError, match="CSV/TSV files only"):
        dio.read(path, orientation="cells_by_genes")
    with pytest.raises(ACTINNInputError, match="CSV/TSV files only"):
        dio.iter_cell_chunks(path, orientation="genes_by_cells")
    # hints are only hints: other formats ignore them
    assert dio.read(path, expected_genes=["X"]).shape == (N_CELLS, N_GENES)


def test_non_numeric_names_a_gene_when_genes_are_columns(tmp_path):
    path = tmp_path / "cells.csv"
    path.write_text(",Actb,Cd3e\nc1,1,x\nc2,0,1\n")
    with pytest.raises(ACTINNInputError) as err:
        dio.read(path, orientation="cells_by_genes")
    assert str(err.value) == (
        "%s: 1 value is not a number, e.g. 'x' in data row 1 (cell 'c1'), "
        "column of gene Cd3e; every value must be a number (a count)" % path)


def test_choose_orientation_ties_keep_actinn_layout(tmp_path):
    path = tmp_path / "x.csv"
    assert choose_orientation(path, ["A", "c1"], ["a", "c2"],
                              expected_genes=["A"]) == "genes_by_cells"
    assert choose_orientation(path, ["c1"], ["c1"],
                              expected_cells=["c1"]) == "genes_by_cells"
    assert choose_orientation(path, ["c1", "c2"], ["c1"],
                              expected_cells=["c1", "c2"]) == "cells_by_genes"


@pytest.mark.parametrize("given,layout,words", [
    ("genes_by_cells", "cells_by_genes", "the labels name the file's rows, "
     "which --train-orientation genes_by_cells reads as genes: give "
     "cells_by_genes"),
    ("cells_by_genes", "genes_by_cells", "the labels name the file's "
     "columns, which --train-orientation cells_by_genes reads as genes: "
     "give genes_by_cells"),
])
@pytest.mark.parametrize("reading", [[], ["--out-of-core"]],
                         ids=["in memory", "out of core"])
def test_a_wrong_train_orientation_is_named(files, tmp_path, capsys, given,
                                            layout, words, reading):
    """The labels match no cell because --train-orientation was the wrong
    way round: the error says so, in memory and out of core."""
    from deepchem_actinn.cli import main
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(
        "AAAC-%d\t%s\n" % (i, "ab"[i % 2]) for i in range(N_CELLS)))
    base = [
        "train", "-trs",
        str(files[layout]), "-trl",
        str(labels), "-m",
        str(tmp_path / "model"), "-ne", "1", "--networks", "1", "-q",
        "--device", "cpu", *reading
    ]
    assert main(base + ["--train-orientation", given]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "none of its %d cell ids is a cell of %s" % (N_CELLS,
                                                        files[layout]) in err
    assert err.endswith("(%s, or leave the option out and the layout is "
                        "detected)" % words)
    assert err.count("the labels name") == 1
    assert not (tmp_path / "model").exists()
    # the right layout trains
    assert main(base + ["--train-orientation", layout]) == 0
