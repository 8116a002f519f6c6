"""``to_numpy_dataset`` and ``to_disk_dataset`` find the counts of a scanpy
AnnData by the package's one rule (``counts_source``), as ``annotate`` and
``train`` do: ``X`` if it holds counts, else ``.raw.X`` or
``layers['counts']``; ``layer=`` / ``use_raw=`` name one."""
import logging

import anndata
import numpy as np
import pytest
import scipy.sparse as sp

from deepchem_actinn.datasets import (load_tabula_muris_sample, to_disk_dataset,
                                      to_numpy_dataset)
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.labels import CellTypeLabels

pytestmark = [pytest.mark.torch, pytest.mark.requires_deepchem]


def _dense(X) -> np.ndarray:
    return X.toarray() if sp.issparse(X) else np.asarray(X)


def _logged(X) -> sp.csr_matrix:
    """log1p of each cell's counts scaled to 10,000, as scanpy's
    normalize_total + log1p."""
    X = sp.csr_matrix(X, dtype=np.float32)
    totals = np.asarray(X.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1e4 / totals) @ X).log1p()


@pytest.fixture(scope="module")
def scanpy_style():
    """200 test cells: X log-normalised and cut to 1,500 genes; the counts
    of all 2,000 in ``.raw`` (scanpy's ``adata.raw = adata`` before the
    cut) and of the 1,500 in ``layers['counts']``."""
    _, test = load_tabula_muris_sample()
    full = test[:200].copy()
    full.X = sp.csr_matrix(full.X, dtype=np.float32)
    counts = full.X.copy()
    full.X = _logged(full.X)
    full.raw = anndata.AnnData(counts, obs=full.obs, var=full.var)
    cut = full[:, full.var_names[:1500]].copy()
    cut.layers["counts"] = counts[:, :1500]
    return cut, counts


def test_counts_of_a_scanpy_anndata_are_found_as_annotate_finds_them(
        scanpy_style, caplog):
    adata, counts = scanpy_style
    labels = CellTypeLabels.from_labels(adata.obs["cell_type"])
    with caplog.at_level(logging.WARNING):
        found = to_numpy_dataset(adata, labels)
    # .raw first, as counts_source: its 2,000 genes, the counts exactly
    assert found.X.dtype == np.float32
    np.testing.assert_array_equal(found.X, counts.toarray())
    assert "reading the raw counts from .raw.X instead" in caplog.text
    assert ("to_numpy_dataset: the dataset's 2000 columns are the genes of "
            ".raw.X (adata.raw.var_names), not X's 1500" in caplog.text)
    np.testing.assert_array_equal(found.ids, adata.obs_names)
    np.testing.assert_array_equal(found.y.ravel(),
                                  labels.encode(adata.obs["cell_type"]))
    # a layer named: its counts, X's 1,500 genes
    layer = to_numpy_dataset(adata, labels, layer="counts")
    np.testing.assert_array_equal(layer.X, counts[:, :1500].toarray())
    np.testing.assert_array_equal(
        to_numpy_dataset(adata, labels, use_raw=True).X, found.X)
    # without .raw, layers['counts'] is the fallback
    no_raw = adata.copy()
    del no_raw.raw
    np.testing.assert_array_equal(to_numpy_dataset(no_raw, labels).X, layer.X)


def test_a_named_matrix_that_holds_no_counts_is_refused_saying_where_they_are(
        scanpy_style):
    adata, _ = scanpy_style
    with pytest.raises(ACTINNInputError,
                       match=r"^AnnData: X holds non-integer values .*raw "
                       r"counts are in \.raw\.X: pass use_raw=True"):
        to_numpy_dataset(adata, label_key=None, use_raw=False)
    with pytest.raises(ACTINNInputError,
                       match=r"^AnnData: no layer 'raw' \(layers: counts\); "
                       r"for \.raw\.X pass use_raw=True"):
        to_disk_dataset(adata, label_key=None, layer="raw")
    # counts on another scale pass only when allowed, as in annotate
    tpm = anndata.AnnData(_dense(adata.layers["counts"]) * 1.5 + 0.25)
    with pytest.raises(ACTINNInputError, match="X holds non-integer values"):
        to_numpy_dataset(tpm, label_key=None)
    np.testing.assert_array_equal(
        to_numpy_dataset(tpm, label_key=None, allow_non_integer=True).X,
        tpm.X.astype(np.float32))


def test_to_disk_dataset_reads_the_counts_of_a_backed_scanpy_file(
        scanpy_style, tmp_path):
    adata, counts = scanpy_style
    labels = CellTypeLabels.from_labels(adata.obs["cell_type"])
    adata.write_h5ad(tmp_path / "ref.h5ad")
    backed = anndata.read_h5ad(tmp_path / "ref.h5ad", backed="r")
    disk = to_disk_dataset(backed,
                           labels,
                           data_dir=str(tmp_path / "ds"),
                           shard_size=64)
    assert disk.get_number_shards() == 4
    np.testing.assert_array_equal(disk.X, counts.toarray())
    memory = to_numpy_dataset(adata, labels, layer="counts")
    layer = to_disk_dataset(backed,
                            labels,
                            layer="counts",
                            data_dir=str(tmp_path / "layer"),
                            shard_size=64)
    for name in ("X", "y", "w", "ids"):
        np.testing.assert_array_equal(getattr(layer, name),
                                      getattr(memory, name))


def test_to_disk_dataset_refuses_a_later_shard_that_holds_no_counts(tmp_path):
    _, test = load_tabula_muris_sample()
    adata = test[:100].copy()
    X = _dense(adata.X).astype(np.float32)
    X[70, 5] = -1.0
    adata.X = X
    adata.write_h5ad(tmp_path / "bad.h5ad")
    backed = anndata.read_h5ad(tmp_path / "bad.h5ad", backed="r")
    with pytest.raises(ACTINNInputError,
                       match="^AnnData: X holds 1 negative value.*%s" %
                       adata.obs_names[70]):
        to_disk_dataset(backed,
                        label_key=None,
                        data_dir=str(tmp_path / "ds"),
                        shard_size=50)
