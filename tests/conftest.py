"""Shared fixtures: the bundled Tabula Muris sample, read with plain pandas
so the package's own readers are not part of the reference."""
import numpy as np
import pandas as pd
import pytest

from deepchem_actinn.datasets import DATA_DIR


def _load(part: str):
    frame = pd.read_hdf(DATA_DIR / ("%s_sample.h5" % part), key="dge")
    labels = pd.read_csv(DATA_DIR / ("%s_label_sample.txt" % part),
                         sep="\t",
                         header=None)
    assert (labels[0].to_numpy() == frame.columns.to_numpy()).all()
    return {
        "X": frame.T.to_numpy(dtype=np.float32),
        "genes": frame.index.to_numpy(dtype=str),
        "ids": frame.columns.to_numpy(dtype=str),
        "labels": labels[1].to_numpy(dtype=str),
    }


@pytest.fixture(scope="session")
def tm_train():
    return _load("train")


@pytest.fixture(scope="session")
def tm_test():
    return _load("test")
