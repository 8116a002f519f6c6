"""Which matrix holds the counts, the one count check, near-integer floats."""

import logging

import anndata
import numpy as np
import pytest
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import (check_count_values, counts_source,
                                iter_cell_chunks, read, round_near_whole)
from deepchem_actinn.io.counts import (EXPM1_FILE_HINT, EXPM1_HINT,
                                       refuse_log_normalised, rows_where,
                                       scan_values)

COUNTS = np.array([[3.0, 0.0, 1.0], [0.0, 2.0, 5.0], [1.0, 1.0, 0.0],
                   [4.0, 0.0, 0.0]])


def _adata(X, **layers):
    adata = anndata.AnnData(sp.csr_matrix(X))
    adata.obs_names = ["c%d" % i for i in range(X.shape[0])]
    adata.var_names = ["A", "B", "C"]
    for name, value in layers.items():
        adata.layers[name] = sp.csr_matrix(value)
    return adata


def test_decide_uses_x_when_counts():
    assert counts_source(_adata(COUNTS)).description == "X"


@pytest.mark.parametrize("layer", ["counts", "raw_counts"])
def test_decide_falls_back_to_a_counts_layer(layer):
    src = counts_source(_adata(np.log1p(COUNTS), **{layer: COUNTS}))
    assert src.description == "layers[%r]" % layer
    assert (src.matrix != sp.csr_matrix(COUNTS)).nnz == 0


def test_the_chosen_matrix_says_how_many_values_need_rounding():
    assert counts_source(_adata(COUNTS)).n_rounded == 0
    near = COUNTS.copy()
    near[0, 0], near[1, 2] = 3.0 + 1e-9, 5.0 - 1e-9
    assert counts_source(_adata(near)).n_rounded == 2
    # a fallback reports its own
    src = counts_source(_adata(np.log1p(COUNTS), counts=near))
    assert (src.description, src.n_rounded) == ("layers['counts']", 2)


def test_decide_prefers_raw():
    adata = _adata(np.log1p(COUNTS), counts=COUNTS * 2)
    adata.raw = _adata(COUNTS)
    assert counts_source(adata).description == ".raw.X"


def test_no_counts_anywhere_says_where_it_looked():
    with pytest.raises(ACTINNInputError) as err:
        counts_source(_adata(np.log1p(COUNTS)), source="pbmc")
    message = str(err.value)
    assert message.startswith("pbmc: X holds non-integer values")
    assert ("X is not raw counts and no raw counts were found in .raw.X, "
            "layers['counts'], layers['raw_counts']") in message


@pytest.mark.parametrize("in_file", [False, True])
def test_no_counts_anywhere_says_why_each_place_was_passed_over(
        in_file, tmp_path):
    # a scanpy object whose counts layer took one NaN, and a raw of its
    # own normalised values: neither is mistaken for missing
    counts = COUNTS.copy()
    counts[1, 2] = np.nan
    adata = _adata(np.log1p(COUNTS), counts=counts, raw=COUNTS)
    adata.raw = _adata(np.log1p(COUNTS))
    with pytest.raises(ACTINNInputError) as err:
        if in_file:
            adata.write_h5ad(tmp_path / "q.h5ad")
            read(tmp_path / "q.h5ad")
        else:
            counts_source(adata, source="pbmc")
    assert str(err.value).endswith(
        "X is not raw counts and no raw counts were found in .raw.X, "
        "layers['counts'], layers['raw_counts'] (.raw.X holds non-integer "
        "values: a .raw set with adata.raw = adata may share X's matrix, "
        "which normalising X then changes too: keep the counts with "
        "adata.raw = adata.copy() or adata.layers['counts'] = adata.X.copy() "
        "before normalising; layers['counts'] holds NaN or infinite values; "
        "other "
        "layers, not looked in: 'raw' (name one with layer=))" +
        str(EXPM1_FILE_HINT))  # how to annotate log1p values anyway
    if not in_file:  # an AnnData the caller holds: how to annotate it anyway
        with pytest.raises(ACTINNInputError) as err:
            counts_source(adata, source="pbmc", expm1_hint=True)
        assert str(err.value).endswith(str(EXPM1_HINT))


def test_explicit_choice_wins():
    adata = _adata(np.log1p(COUNTS), counts=COUNTS)
    with pytest.raises(ACTINNInputError) as err:  # saying where counts are
        counts_source(adata, use_raw=False)
    assert str(err.value).endswith(
        "it looks log-normalised; raw counts are in layers['counts']: pass "
        "layer='counts'")
    # and where they usually are when none of those places holds them
    with pytest.raises(ACTINNInputError, match="raw counts usually live"):
        counts_source(_adata(np.log1p(COUNTS)), use_raw=False)
    assert counts_source(adata, layer="counts").description == \
        "layers['counts']"


def test_check_count_values_names_cells():
    X = sp.csr_matrix(COUNTS)
    assert check_count_values(X) == 0
    X.data[-1] = -1.0
    with pytest.raises(ACTINNInputError,
                       match="f.h5ad: X holds 1 negative "
                       "value, e.g. in cells c3"):
        check_count_values(X, ["c0", "c1", "c2", "c3"], source="f.h5ad")
    with pytest.raises(ACTINNInputError, match="row 3"):
        check_count_values(X)


def test_near_integers_are_counts():
    X = np.array([[0.999999999999999, 3.0000000001], [2.0, 0.0]])
    assert check_count_values(X) == 2
    rounded, n = round_near_whole(X)
    assert n == 2 and rounded.toarray().tolist() == [[1.0, 3.0], [2.0, 0.0]]
    with pytest.raises(ACTINNInputError, match="non-integer.*2.5"):
        check_count_values(np.array([[2.5, 1.0]]))
    with pytest.raises(ACTINNInputError, match="non-integer.*1.001"):
        check_count_values(np.array([[1.001]]))
    assert check_count_values(np.array([[2.5]]), allow_non_integer=True) == 0


def _rounded_warnings(caplog):
    return [r for r in caplog.records if "rounded" in r.getMessage()]


def test_read_rounds_float_counts_once(tmp_path, caplog):
    path = tmp_path / "floats.csv"
    path.write_text("gene,c1,c2,c3\n"
                    "A,0.999999999999999,0,2\n"
                    "B,3.0000000001,1,0.9999999999\n")
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn.io"):
        adata = read(path)
    assert adata.X.toarray().tolist() == [[1, 3], [0, 1], [2, 1]]
    records = _rounded_warnings(caplog)
    assert len(records) == 1 and "rounded 3 values" in records[0].getMessage()


def test_read_refuses_clearly_non_integer(tmp_path):
    path = tmp_path / "half.csv"
    path.write_text("gene,c1,c2\nA,0.5,1\nB,3,1\n")
    with pytest.raises(ACTINNInputError, match="half.csv.*non-integer"):
        read(path)


def test_stream_rounds_float_counts_with_one_warning(tmp_path, caplog):
    X = np.tile(COUNTS, (3, 1))  # 12 cells
    noisy = X + np.where(X > 0, 1e-12, 0.0)  # every stored value off by a bit
    adata = _adata(noisy)
    path = tmp_path / "noisy.h5ad"
    adata.write_h5ad(path)
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn.io"):
        chunks = list(iter_cell_chunks(path, chunk_size=5))
    assert len(chunks) == 3
    stacked = sp.vstack([chunk for _, chunk in chunks]).toarray()
    np.testing.assert_array_equal(stacked, X)
    records = _rounded_warnings(caplog)
    assert len(records) == 1
    assert "rounded %d values" % np.count_nonzero(X) in records[0].getMessage()


def test_stream_without_counts_says_where_it_looked(tmp_path):
    path = tmp_path / "lognorm.h5ad"
    _adata(np.log1p(COUNTS)).write_h5ad(path)
    with pytest.raises(ACTINNInputError,
                       match="lognorm.h5ad: X holds non-integer.*no raw "
                       "counts were found in .raw.X"):
        next(iter_cell_chunks(path, chunk_size=2))


def test_stream_falls_back_to_raw_counts_layer(tmp_path):
    path = tmp_path / "layer.h5ad"
    _adata(np.log1p(COUNTS), raw_counts=COUNTS).write_h5ad(path)
    stacked = sp.vstack([X for _, X in iter_cell_chunks(path, chunk_size=3)])
    np.testing.assert_array_equal(stacked.toarray(), COUNTS)


def test_stream_says_why_it_reads_a_file_whole(tmp_path, caplog):
    path = tmp_path / "csc.h5ad"
    adata = _adata(COUNTS)
    adata.X = sp.csc_matrix(adata.X)
    adata.write_h5ad(path)
    with caplog.at_level("INFO", logger="deepchem_actinn"):
        stacked = sp.vstack(
            [X for _, X in iter_cell_chunks(path, chunk_size=3)])
    np.testing.assert_array_equal(stacked.toarray(), COUNTS)
    assert ("%s: reading the whole file into memory (its X is not stored by "
            "rows (CSR or dense))" % path) in caplog.text


def test_a_damaged_sparse_matrix_in_memory_is_named():
    # the scan refuses it before scipy reads past its arrays, naming which
    # matrix of the AnnData it is
    damaged = sp.csr_matrix(COUNTS)
    damaged.indices[1] = 99
    adata = _adata(np.log1p(COUNTS), counts=damaged)
    with pytest.raises(ACTINNInputError,
                       match=r"^data: layers\['counts'\]: the sparse matrix is "
                       "damaged: its column indices reach 99"):
        counts_source(adata)


def test_scan_values_without_the_whole_number_test():
    X = np.array([[0.5, -1.0], [np.inf, 2.0]])
    full, values = scan_values(X), scan_values(X, whole=False)
    assert full.nonint_row == 0 and values.nonint_row == -1
    for report in (full, values):
        assert (report.n_nonfinite, report.n_negative) == (1, 1)
        assert list(report.nonfinite_rows) == [1]
        assert list(report.negative_rows) == [0]
    # whole numbers of an integer type: negatives found, all counted
    ints = scan_values(np.array([[3, -2], [-1, 0]], dtype=np.int32))
    assert (ints.n_negative, list(ints.negative_rows)) == (2, [0, 1])
    assert ints.max_value == 3.0


def test_rows_where_names_every_row_of_any_layout():
    X = np.array([[1.0, -2.0, 0.0], [0.0, 0.0, 0.0], [-1.0, 0.0, -3.0]])
    for matrix in (X, np.asfortranarray(X), sp.csr_matrix(X), sp.csc_matrix(X),
                   sp.coo_matrix(X)):
        np.testing.assert_array_equal(rows_where(matrix, lambda v: v < 0),
                                      [0, 2])
    assert rows_where(X, np.isnan).size == 0


def test_refuse_log_normalised_returns_its_scan():
    report = refuse_log_normalised(np.array([[120.5, -1.0]]))
    assert (report.max_value, report.n_negative) == (120.5, 1)


def _scaled(n_cells=12):
    """A scanpy object after normalize_total, log1p and scale: every cell
    holds negative values, none above the log scale's largest; the counts
    are kept nowhere."""
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(n_cells, 3)).astype(float) + 1.0
    logged = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    scaled = (logged - logged.mean(axis=0)) / logged.std(axis=0)
    scaled[:, 0] = -np.abs(scaled[:, 0]) - 0.1  # each cell one negative
    scaled[:, 1:] = np.abs(scaled[:, 1:]) + 0.1
    adata = anndata.AnnData(scaled)
    adata.obs_names = ["c%d" % i for i in range(n_cells)]
    adata.var_names = ["A", "B", "C"]
    return adata


def test_scaled_values_are_not_offered_the_expm1_way_out(tmp_path):
    """Negative values are scaled or centred, which no expm1 turns back
    into counts: the error says so and where the counts must come from,
    in memory and in a file."""
    adata = _scaled()
    adata.write_h5ad(tmp_path / "scaled.h5ad")
    for refuse in (lambda: counts_source(adata, source="pbmc", expm1_hint=True),
                   lambda: read(tmp_path / "scaled.h5ad")):
        with pytest.raises(ACTINNInputError) as err:
            refuse()
        message = str(err.value)
        assert "expm1" not in message and "allow_non_integer" not in message
        assert ("no count is negative, and values scaled or centred (as by "
                "scanpy's pp.scale) cannot be turned back into counts") \
            in message
        assert message.endswith(
            "keep the raw counts in .raw or layers['counts'] before "
            "normalising and scaling (adata.layers['counts'] = "
            "adata.X.copy())")


def test_a_counts_layer_at_fault_is_not_pointed_to_itself():
    """Following the expm1 advice on a scaled X leaves negative values in
    layers['counts']: its refusal does not send the reader back to it."""
    adata = _scaled()
    adata.layers["counts"] = np.expm1(adata.X)
    with pytest.raises(ACTINNInputError) as err:
        counts_source(adata, layer="counts", allow_non_integer=True)
    message = str(err.value)
    assert message.startswith("data: layers['counts'] holds 12 negative")
    assert message.endswith("raw counts usually live in .raw")


def test_negative_values_name_several_cells():
    """Every cell holds negative values: a few are named, not the first
    one only (the first values found are all in that cell's row)."""
    with pytest.raises(ACTINNInputError,
                       match="12 negative values, e.g. in cells c0, c1, c2, "
                       "c3, c4:"):
        check_count_values(_scaled().X, ["c%d" % i for i in range(12)])
    report = scan_values(-np.ones((6, 4)), limit=3)
    assert report.n_negative == 24
    assert report.negative_rows.tolist() == [0, 1, 2]


def test_values_counted_in_a_chunk_are_said_to_be_its_cells(tmp_path):
    """The stream checks one chunk at a time: the values it counts are
    said to be those of the chunk's cells, not of the whole file."""
    adata = _scaled(n_cells=10)
    adata.write_h5ad(tmp_path / "scaled.h5ad")
    with pytest.raises(ACTINNInputError,
                       match=r"X holds 4 negative values in its first 4 "
                       r"cells \(of 10\), e.g. in cells c0, c1, c2, c3:"):
        next(iter_cell_chunks(tmp_path / "scaled.h5ad", chunk_size=4))
    with pytest.raises(ACTINNInputError,
                       match=r"X holds 10 negative values, e.g."):
        read(tmp_path / "scaled.h5ad")  # the whole file: no cells to say


def test_a_value_near_a_whole_number_is_shown_with_its_digits():
    """1971.000002 is not 1971: the message shows the digits that say so
    (as stored: a float32 is not shown with a float64's digits)."""
    with pytest.raises(ACTINNInputError,
                       match=r"\(e\.g\. 1971\.000002 in cell c0\)"):
        check_count_values(np.array([[1971.000002, 3.0]]), ["c0"])
    with pytest.raises(ACTINNInputError,
                       match=r"\(e\.g\. 0\.6931472 in cell c0\)"):
        check_count_values(np.log1p(np.ones((1, 2), dtype=np.float32)), ["c0"])


@pytest.mark.parametrize("in_file", [False, True])
def test_counts_of_more_genes_in_raw_are_said(in_file, tmp_path, caplog):
    """scanpy's adata.raw = adata, then X cut to some genes, no
    normalising: X holds counts and is read, as before, with a warning
    saying how many genes .raw.X holds that X lacks and how to read it."""
    adata = _adata(COUNTS)
    adata.raw = adata.copy()
    adata = adata[:, ["A", "C"]].copy()
    with caplog.at_level(logging.WARNING, logger="deepchem_actinn"):
        if in_file:
            adata.write_h5ad(tmp_path / "hvg.h5ad")
            assert read(tmp_path / "hvg.h5ad").n_vars == 2  # X's genes
            chunks = list(iter_cell_chunks(tmp_path / "hvg.h5ad"))
            assert chunks[0][1].shape == (4, 2)
            description = "X"
        else:
            description = counts_source(adata, source="pbmc").description
    assert description == "X"
    source = str(tmp_path / "hvg.h5ad") if in_file else "pbmc"
    assert ("%s: X holds the counts of 2 genes and .raw.X those of 3, 1 of "
            "them not in X; reading X, as it holds counts: a gene only .raw.X "
            "holds is missing to the annotator; pass use_raw=True to read "
            ".raw.X instead" % source) in caplog.text
    caplog.clear()  # not when .raw holds no more genes, or no counts
    for raw in (COUNTS[:, [0, 2]], np.log1p(COUNTS)):
        other = _adata(COUNTS)
        other.raw = _adata(raw) if raw.shape[1] == 3 else anndata.AnnData(
            raw, var=other.var.iloc[[0, 2]])
        with caplog.at_level(logging.WARNING, logger="deepchem_actinn"):
            counts_source(other[:, ["A", "C"]].copy())
        assert "not in X" not in caplog.text


def _celltypist_like(total=1e4, log=np.log1p, raw_genes=None):
    """CellTypist's usual object: X scaled (negative values), ``.raw`` the
    ``log`` of each cell's counts scaled to ``total`` (of ``raw_genes``
    only where given: an HVG subset), no counts kept; and the counts."""
    rng = np.random.default_rng(1)
    counts = rng.poisson(3.0, size=(6, 5)).astype(float)
    counts[:, 0] += 1.0  # no empty cell
    logged = log(counts / counts.sum(axis=1, keepdims=True) * total)
    raw = anndata.AnnData(sp.csr_matrix(logged))
    raw.obs_names = ["c%d" % i for i in range(6)]
    raw.var_names = ["G%d" % i for i in range(5)]
    if raw_genes is not None:
        raw = raw[:, raw_genes].copy()
    adata = raw[:, :3].copy()
    adata.raw = raw
    X = adata.X.toarray()
    adata.X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-3)
    adata.X[:, 0] = -np.abs(adata.X[:, 0]) - 0.1
    return adata, counts


@pytest.mark.parametrize("total", [1e4, 1234.5])
def test_log1p_of_normalised_raw_is_read_through_expm1(total, caplog):
    """X scaled, .raw the natural log1p of counts normalised to a common
    total: with log1p=True the rule takes expm1(.raw.X), a copy, with
    .raw's genes, and says so; without it, refused as before."""
    adata, counts = _celltypist_like(total)
    before = adata.raw.X.copy()
    with caplog.at_level(logging.INFO, logger="deepchem_actinn"):
        src = counts_source(adata, source="AnnData", log1p=True)
    assert src.description == "expm1(.raw.X)"
    assert list(src.var.index) == list(adata.raw.var_names)
    expected = counts / counts.sum(axis=1, keepdims=True) * total
    np.testing.assert_allclose(sp.csr_matrix(src.matrix).toarray(),
                               expected,
                               rtol=1e-6)
    assert (adata.raw.X != before).nnz == 0  # the user's .raw untouched
    said = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert ("AnnData: no raw counts found; .raw.X holds the natural log1p "
            "of counts normalised to %g per cell (expm1 sums agree): reading "
            "expm1(.raw.X) as the counts" % total) in said, said
    with pytest.raises(ACTINNInputError, match="X holds .* negative"):
        counts_source(adata, source="AnnData")


def test_log1p_of_normalised_x_is_read_through_expm1():
    """X itself the log1p of normalised counts (dense), before a .raw
    that is not: X is taken first."""
    counts = COUNTS + 1.0
    logged = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    adata = anndata.AnnData(logged.copy())
    src = counts_source(adata, allow_non_integer=True, log1p=True)
    assert src.description == "expm1(X)"
    np.testing.assert_allclose(src.matrix.sum(axis=1), 1e4, rtol=1e-9)
    np.testing.assert_array_equal(adata.X, logged)
    # named with use_raw=False it is X all the same
    assert counts_source(adata, use_raw=False,
                         log1p=True).description == "expm1(X)"


@pytest.mark.parametrize("case", ["hvg", "log2"])
def test_log_values_not_provably_log1p_are_refused_with_advice(case):
    """An HVG subset of log1p values (its expm1 sums differ between cells)
    or log2 values are refused, .raw.X getting the expm1 advice too, in
    memory and in a file; the message one line."""
    adata, _ = (_celltypist_like(raw_genes=[0, 1, 2, 3]) if case == "hvg" else
                _celltypist_like(log=lambda v: np.log2(v + 1)))
    with pytest.raises(ACTINNInputError) as err:
        counts_source(adata, source="AnnData", expm1_hint=True, log1p=True)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("AnnData: X holds ")
    assert "negative values, e.g. in cells" in message
    assert message.endswith(
        "adata.X.copy()); if "
        ".raw.X is the natural log1p of normalised counts (scanpy's "
        "normalize_total then log1p), its expm1 is each cell's counts up "
        "to a factor, which the annotator's own per-cell normalisation "
        "removes: r = adata.raw.to_adata(), r.layers['counts'] = "
        "np.expm1(r.X) (r.X.expm1() if sparse), then annotate r with "
        "layer='counts', allow_non_integer=True"), message
    with pytest.raises(ACTINNInputError) as err:
        counts_source(adata, source="q.h5ad", log1p=False)
    assert str(err.value).endswith(
        "if .raw.X is the natural log1p of normalised counts (an h5ad file "
        "read whole, by actinn or by anndata.read_h5ad then "
        "deepchem_actinn.annotate, is taken so where every cell's expm1 sums "
        "to one total), its expm1 can stand for them in a file: r = "
        "adata.raw.to_adata(), r.layers['counts'] = "
        "np.expm1(r.X), r.write_h5ad(...), then pass layer='counts', "
        "allow_non_integer=True")


def test_a_file_of_log1p_values_says_to_read_it_into_memory(tmp_path):
    """The file readers keep refusing log1p values (their rule reads no
    expm1), saying that annotate on the AnnData in memory takes them."""
    adata, _ = _celltypist_like()
    adata.write_h5ad(tmp_path / "q.h5ad")
    with pytest.raises(ACTINNInputError) as err:
        read(tmp_path / "q.h5ad")
    assert ("; if .raw.X is the natural log1p of normalised counts (an h5ad "
            "file read whole, by actinn or by anndata.read_h5ad then "
            "deepchem_actinn.annotate, is taken so where every cell's expm1 "
            "sums to one total)") in str(err.value)
