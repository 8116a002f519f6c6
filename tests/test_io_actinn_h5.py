"""ACTINN's pandas HDF5 files are read as plain arrays: nothing unpickled."""

import os
import re
import subprocess
import sys

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import (detect_format, iter_cell_chunks, n_cells, read,
                                read_actinn_h5, write_actinn_h5)

# Writes a DataFrame whose object cell unpickles to os.system("touch ...").
_EVIL = """
import os, sys, pandas as pd
class Payload:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))
pd.DataFrame({"c1": [Payload()], "c2": [1]}, index=["Actb"]).to_hdf(
    sys.argv[1], key="dge")
"""


@pytest.fixture
def evil(tmp_path):
    path, marker = tmp_path / "evil.h5", tmp_path / "MARKER"
    subprocess.run(
        [sys.executable, "-c", _EVIL,
         str(path), str(marker)],
        check=True,
        capture_output=True)
    assert path.exists() and not marker.exists()
    return path, marker


def test_pickled_block_is_refused_unread(evil):
    path, marker = evil
    assert detect_format(path) == "actinn_h5"
    with pytest.raises(ACTINNInputError, match="evil.h5.*refused unread"):
        read(path)
    with pytest.raises(ACTINNInputError, match="evil.h5.*refused unread"):
        list(iter_cell_chunks(path, chunk_size=1))
    with pytest.raises(ACTINNInputError, match="evil.h5.*refused unread"):
        n_cells(path)
    assert not marker.exists()
    assert not os.path.exists("MARKER")


@pytest.mark.filterwarnings("ignore::pandas.errors.PerformanceWarning")
def test_pickled_index_is_refused(tmp_path):
    path = tmp_path / "odd_index.h5"
    frame = pd.DataFrame([[1, 2]],
                         index=[("tuple", "gene")],
                         columns=["a", "b"])
    frame.to_hdf(path, key="dge")
    with pytest.raises(ACTINNInputError, match="odd_index.h5.*refused"):
        read(path)


def test_mixed_dtype_blocks(tmp_path):
    """A frame of int and float columns (two blocks) reads and streams."""
    frame = pd.DataFrame(
        {
            "c1": [1, 0, 2],
            "c2": [0.0, 4.0, 1.0],
            "c3": [5, 5, 0],
            "c4": [1.0, 0.0, 0.0]
        },
        index=["Actb", "Cd3e", "Gapdh"])
    path = tmp_path / "mixed.h5"
    frame.to_hdf(path, key="dge")
    expected = frame.to_numpy().T.astype(np.float32)
    adata = read(path)
    assert list(adata.obs_names) == ["c1", "c2", "c3", "c4"]
    np.testing.assert_array_equal(adata.X.toarray(), expected)
    chunks = list(iter_cell_chunks(path, chunk_size=3))
    np.testing.assert_array_equal(
        sp.vstack([X for _, X in chunks]).toarray(), expected)
    assert [list(ids) for ids, _ in chunks] == [["c1", "c2", "c3"], ["c4"]]


def test_other_key_and_series_named(tmp_path):
    path = tmp_path / "other.h5"
    pd.DataFrame([[1]], index=["A"], columns=["c1"]).to_hdf(path, key="x")
    with pytest.raises(ACTINNInputError, match="other.h5: no key 'dge'.*x"):
        read_actinn_h5(path)
    pd.Series([1, 2]).to_hdf(path, key="dge", mode="w")
    with pytest.raises(ACTINNInputError, match="other.h5.*not a DataFrame"):
        read_actinn_h5(path)


@pytest.mark.filterwarnings("ignore::pandas.errors.PerformanceWarning")
def test_string_values_refused(tmp_path):
    path = tmp_path / "text.h5"
    frame = pd.DataFrame({"c1": np.array([b"x", b"y"])}, index=["A", "B"])
    frame.to_hdf(path, key="dge")
    with pytest.raises(ACTINNInputError, match="text.h5"):
        read(path)


def test_a_pickled_block_is_named_with_its_file_once(evil):
    path, marker = evil
    with pytest.raises(
            ACTINNInputError,
            match="^%s$" %
            re.escape("%s: key 'dge' stores Python objects in "
                      "block0_values (pandas pickles them; reading could "
                      "run code hidden in the file): refused unread" % path)):
        read_actinn_h5(path)
    assert not marker.exists()


@pytest.mark.parametrize("writer", ["pandas", "write_actinn_h5"])
def test_a_frame_without_cells_or_genes_reads_as_such(tmp_path, writer):
    """pandas stores an empty axis of text as objects, which read as
    pickled content: 'stores Python objects in axis0 ... refused unread'
    for a file ``actinn format`` had written."""
    no_cells = pd.DataFrame(np.zeros((3, 0), dtype=np.int64),
                            index=pd.Index(["A", "B", "C"], dtype=object),
                            columns=pd.Index([], dtype=object))
    no_genes = pd.DataFrame(np.zeros((0, 2), dtype=np.int64),
                            index=pd.Index([], dtype=object),
                            columns=pd.Index(["c1", "c2"], dtype=object))
    for name, frame in [("no_cells.h5", no_cells), ("no_genes.h5", no_genes)]:
        path = tmp_path / name
        if writer == "pandas":
            frame.to_hdf(path, key="dge", format="fixed")
        else:
            write_actinn_h5(
                anndata.AnnData(X=frame.to_numpy().T,
                                obs=pd.DataFrame(index=frame.columns),
                                var=pd.DataFrame(index=frame.index)), path)
        adata = read_actinn_h5(path)
        assert adata.shape == frame.shape[::-1]
        assert list(adata.obs_names) == list(frame.columns)
        assert list(adata.var_names) == list(frame.index)
        assert n_cells(path) == frame.shape[1]
        chunks = list(iter_cell_chunks(path, chunk_size=5))
        assert [(list(ids), X.shape) for ids, X in chunks
               ] == ([] if frame.shape[1] == 0 else [(["c1", "c2"], (2, 0))])
