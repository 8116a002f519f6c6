"""ACTINN's pandas HDF5 files are read as plain arrays: nothing unpickled."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import (detect_format, iter_cell_chunks, n_cells, read,
                                read_actinn_h5)

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
