"""Damaged .h5ad files: every reading path refuses them in one line naming
the file and what is wrong (an element anndata has no reader for, a
dataset where a group belongs, a sparse matrix without its index
pointers) rather than with a traceback; an index of numbers is read as
anndata reads it, as strings; what the readers do not need (obsm, uns) is
not read, so that an awkward array there (a scirpy file) stops nothing
(``read_h5ad``, which reads the whole object, leaves it out, saying so)."""
import re
import shutil
import warnings
from pathlib import Path

import anndata
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn.cli import main
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import (iter_cell_chunks, n_cells, read, read_cell_ids,
                                read_var)
from deepchem_actinn.io.h5ad import h5ad_obs, h5ad_umap, read_h5ad

N_CELLS, N_GENES = 40, 30


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    """A sound h5ad file of counts (with a UMAP and a labels column) and
    its labels file: the files below are damaged copies of it."""
    root = tmp_path_factory.mktemp("sound")
    rng = np.random.default_rng(0)
    types = np.array(["A", "B"] * (N_CELLS // 2))
    X = rng.poisson(1.0, (N_CELLS, N_GENES)).astype(np.float32)
    X[:, 0] += 1  # no cell without counts
    X[types == "B", :10] += 6
    adata = anndata.AnnData(
        sp.csr_matrix(X),
        obs=pd.DataFrame({"cell_type": types},
                         index=["c%d" % i for i in range(N_CELLS)]),
        var=pd.DataFrame(index=["G%d" % i for i in range(N_GENES)]))
    adata.obsm["X_umap"] = rng.normal(size=(N_CELLS, 2))
    adata.write_h5ad(root / "sound.h5ad")
    labels = root / "labels.txt"
    labels.write_text("".join(
        "c%d\t%s\n" % (i, t) for i, t in enumerate(types)))
    return root


def _unknown_encoding(f):
    f["X"].attrs["encoding-type"] = "evil_matrix"


def _obs_dataset(f):
    del f["obs"]
    f["obs"] = np.arange(3)


def _var_dataset(f):
    del f["var"]
    f["var"] = np.arange(3)


def _no_indptr(f):
    del f["X/indptr"]


def _data_group(f):
    del f["X/data"]
    f.create_group("X/data")


def _obs_index_group(f):
    del f["obs/_index"]
    f.create_group("obs/_index")


def _layers_dataset(f):
    del f["layers"]
    f["layers"] = np.arange(3)


def _no_encoding(f):
    for name in list(f["X"].attrs):
        del f["X"].attrs[name]


def _no_index_attr(f):
    del f["obs"].attrs["_index"]


#: Each damage and what the message must say of it.
DAMAGE = {
    "unknown encoding": (_unknown_encoding, "its X is stored as 'evil_matrix'"
                         " (encoding version 0.1.0), which anndata"),
    "obs a dataset": (_obs_dataset, "its obs is a dataset of int64 values, "
                      "where an h5ad file keeps a table (a group)"),
    "var a dataset": (_var_dataset, "its var is a dataset of int64 values, "
                      "where an h5ad file keeps a table (a group)"),
    "X without indptr": (_no_indptr, "its X, a sparse matrix, has no "
                         "'indptr' array"),
    "X data a group": (_data_group, "its X, a sparse matrix, holds a group "
                       "'data' where its values belong (an array)"),
    "obs index a group": (_obs_index_group, "its obs index ('_index') is a "
                          "group, not an array of names"),
    "X without encoding": (_no_encoding, "its X is a group that does not "
                           "say what matrix it holds (no encoding-type)"),
    "layers a dataset": (_layers_dataset, "its layers is a dataset of int64 "
                         "values, where an h5ad file keeps a group"),
}


def damaged(sound: Path, tmp_path: Path, case: str) -> Path:
    path = tmp_path / ("%s.h5ad" % case.replace(" ", "_"))
    shutil.copy(sound / "sound.h5ad", path)
    with h5py.File(path, "r+") as f:
        DAMAGE[case][0](f)
    return path


def cannot_read(path: Path, what: str) -> str:
    """A pattern for the one-line refusal of ``path``."""
    return "^%s: cannot be read as an h5ad file: %s" % (re.escape(
        str(path)), re.escape(what))


def _read(path):
    return read(path)


def _stream(path):
    return list(iter_cell_chunks(path, chunk_size=7))


def _var(path):
    return read_var(path)


#: The readers a damaged file reaches: whole, in chunks, its genes alone.
READERS = [_read, _stream, _var]


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_h5ad_is_refused_in_one_line(sound, tmp_path, case, reader):
    path = damaged(sound, tmp_path, case)
    with pytest.raises(ACTINNInputError,
                       match=cannot_read(path, DAMAGE[case][1])):
        reader(path)


def test_an_unknown_encoding_elsewhere_names_the_element(sound, tmp_path):
    """In a layer (a matrix that may hold the counts) it is refused; in
    uns, which the readers do not read, it stops nothing, and read_h5ad
    reads the file without it, saying so."""
    path = tmp_path / "uns.h5ad"
    shutil.copy(sound / "sound.h5ad", path)
    with h5py.File(path, "r+") as f:
        f.create_group("uns/weird").attrs["encoding-type"] = "mystery"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read(path).n_obs == N_CELLS
    with pytest.warns(UserWarning,
                      match="^%s: its uns/weird is stored as 'mystery' .*; "
                      "read without its obsm, varm, obsp, varp and uns" %
                      re.escape(str(path))):
        assert read_h5ad(path).n_obs == N_CELLS
    with h5py.File(path, "r+") as f:
        f.create_group("layers/weird").attrs["encoding-type"] = "mystery"
    with pytest.raises(ACTINNInputError,
                       match=cannot_read(
                           path, "its layers/weird is stored as "
                           "'mystery'")):
        read(path)


def test_an_obs_without_its_index_attribute_is_refused(sound, tmp_path):
    path = tmp_path / "no_index_attr.h5ad"
    shutil.copy(sound / "sound.h5ad", path)
    with h5py.File(path, "r+") as f:
        _no_index_attr(f)
    with pytest.raises(ACTINNInputError,
                       match=cannot_read(
                           path, "its obs does not say which "
                           "of its arrays is its index")):
        read(path)


def test_the_obs_table_alone_and_the_umap_refuse_a_damaged_file(
        sound, tmp_path):
    path = damaged(sound, tmp_path, "obs a dataset")
    with pytest.raises(ACTINNInputError,
                       match=cannot_read(path, DAMAGE["obs a dataset"][1])):
        h5ad_obs(path)
    path = tmp_path / "umap.h5ad"
    shutil.copy(sound / "sound.h5ad", path)
    with h5py.File(path, "r+") as f:
        f["obsm/X_umap"].attrs["encoding-type"] = "riddle"
    with pytest.raises(ACTINNInputError,
                       match=cannot_read(
                           path, "its obsm/X_umap is stored as "
                           "'riddle'")):
        h5ad_umap(path)


@pytest.mark.parametrize("which", ["var", "obs"])
def test_an_index_of_numbers_reads_as_anndata_reads_it(sound, tmp_path, which):
    """anndata reads an index stored as integers as their decimal strings
    (with a warning): so do the readers, whole and in chunks."""
    path = tmp_path / "numbers.h5ad"
    shutil.copy(sound / "sound.h5ad", path)
    n = N_GENES if which == "var" else N_CELLS
    with h5py.File(path, "r+") as f:
        del f["%s/_index" % which]
        f["%s/_index" % which] = np.arange(n)
    with pytest.warns(UserWarning, match="Transforming to str index"):
        theirs = anndata.read_h5ad(path)
    names = [str(i) for i in range(n)]
    assert list(getattr(theirs, "%s_names" % which)) == names
    ours = read(path, upper_case_genes=False)
    assert list(getattr(ours, "%s_names" % which)) == names
    if which == "var":
        assert list(read_var(path, upper_case_genes=False).index) == names
    else:
        assert list(read_cell_ids(path)) == names
        assert n_cells(path) == N_CELLS
        assert [
            c for ids, _ in iter_cell_chunks(path, chunk_size=7) for c in ids
        ] == names
    expected = theirs.X.toarray()
    chunks = np.vstack([X.toarray() for _, X in iter_cell_chunks(path, 7)])
    np.testing.assert_array_equal(chunks, expected)


def test_n_cells_reads_the_shape_not_the_cell_ids(sound, monkeypatch):
    """n_cells answers for an h5ad file from its shape alone: neither the
    cell ids nor the matrix are read."""
    from deepchem_actinn.io import file_axes, file_rows

    def unread(*args, **kwargs):
        raise AssertionError("n_cells read more than the shape")

    monkeypatch.setattr(file_axes, "h5ad_cell_ids", unread)
    monkeypatch.setattr(file_rows, "H5adRows", unread)
    assert n_cells(sound / "sound.h5ad") == N_CELLS
    with pytest.raises(AssertionError, match="more than the shape"):
        read_cell_ids(sound / "sound.h5ad")


def _cli(sound, path, out, mode):
    labels = str(sound / "labels.txt")
    quick = ["-ne", "1", "--networks", "1", "--device", "cpu", "-q"]
    return {
        "predict": [
            "predict", "-m",
            str(sound / "model"), "-ts",
            str(path), "-o",
            str(out), "-q"
        ],
        "train": [
            "train", "-trs",
            str(path), "-trl", labels, "-m",
            str(out), *quick
        ],
        "train --out-of-core": [
            "train", "-trs",
            str(path), "-trl", labels, "-m",
            str(out), "--out-of-core", *quick
        ],
        "run": [
            "run", "-trs",
            str(sound / "sound.h5ad"), "-trl", labels, "-ts",
            str(path), "-o",
            str(out), *quick
        ],
    }[mode]


@pytest.fixture(scope="module")
def with_model(sound):
    assert main([
        "train", "-trs",
        str(sound / "sound.h5ad"), "-trl",
        str(sound / "labels.txt"), "-m",
        str(sound / "model"), "-ne", "1", "--networks", "1", "--device", "cpu",
        "-q"
    ]) == 0
    return sound


@pytest.mark.parametrize("mode",
                         ["predict", "train", "train --out-of-core", "run"])
@pytest.mark.parametrize("case", ["unknown encoding", "obs a dataset"])
def test_the_commands_refuse_a_damaged_h5ad_in_one_line(with_model, tmp_path,
                                                        capsys, case, mode):
    path = damaged(with_model, tmp_path, case)
    out = tmp_path / "out"
    assert main(_cli(with_model, path, out, mode)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert re.search(cannot_read(path, DAMAGE[case][1])[1:], err[0]), err[0]
    assert not out.exists()


@pytest.mark.parametrize("mode", ["train", "train --out-of-core"])
def test_a_reference_with_numbered_genes_trains_and_keeps_them(
        with_model, tmp_path, mode):
    path = tmp_path / "numbers.h5ad"
    shutil.copy(with_model / "sound.h5ad", path)
    with h5py.File(path, "r+") as f:
        del f["var/_index"]
        f["var/_index"] = np.arange(N_GENES)
    out = tmp_path / "model"
    assert main(_cli(with_model, path, out, mode)) == 0
    from deepchem_actinn import ACTINNAnnotator
    genes = ACTINNAnnotator.load(out).genes_
    assert genes and set(genes) <= {str(i) for i in range(N_GENES)}


def _awkward(group: h5py.Group, key: str, n: int) -> None:
    """An awkward array of ``n`` integers as anndata writes one (scirpy
    keeps its receptor data so in ``obsm['airr']``): readable only with
    the awkward package installed."""
    elem = group.create_group(key)
    elem.attrs.update({
        "encoding-type": "awkward-array",
        "encoding-version": "0.1.0",
        "form": '{"class": "NumpyArray", "primitive": "int64"}',
        "length": np.int64(n)
    })
    elem["node0-data"] = np.arange(n, dtype=np.int64)


@pytest.fixture(scope="module")
def scirpy_like(with_model):
    """The sound file with an awkward array in obsm."""
    path = with_model / "airr.h5ad"
    shutil.copy(with_model / "sound.h5ad", path)
    with h5py.File(path, "r+") as f:
        _awkward(f["obsm"], "airr", N_CELLS)
    return path


def test_an_awkward_array_in_obsm_does_not_stop_the_readers(sound, scirpy_like):
    """The readers need X (or a layer, .raw), obs and var: where anndata
    cannot read the rest without a package (scirpy's awkward arrays), it
    is left out, saying so; a sound file is read whole."""
    assert read_h5ad(sound / "sound.h5ad").obsm["X_umap"].shape == (N_CELLS, 2)
    with pytest.warns(UserWarning) as said:
        whole = read_h5ad(scirpy_like)
    assert [str(w.message) for w in said] == [
        "%s: its obsm/airr is stored as 'awkward-array' (encoding version "
        "0.1.0), which anndata reads only with the awkward package "
        "installed: pip install awkward; read without its obsm, varm, obsp, "
        "varp and uns (the counts and the tables of cells and genes are "
        "read)" % scirpy_like
    ]
    assert list(whole.obsm) == [] and whole.n_obs == N_CELLS
    expected = read(sound / "sound.h5ad")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # read needs none of it: no word
        got = read(scirpy_like)
    assert list(got.obs_names) == list(expected.obs_names)
    assert list(got.var_names) == list(expected.var_names)
    assert list(got.obs["cell_type"]) == list(expected.obs["cell_type"])
    np.testing.assert_array_equal(got.X.toarray(), expected.X.toarray())
    assert list(read_var(scirpy_like).index) == list(expected.var_names)
    assert list(h5ad_obs(scirpy_like)["cell_type"]) == list(
        expected.obs["cell_type"])
    assert h5ad_umap(scirpy_like)[0].tolist() == list(expected.obs_names)


def test_the_commands_read_a_file_with_an_awkward_array(with_model, scirpy_like,
                                                        tmp_path, capsys):
    labels = str(with_model / "labels.txt")
    quick = ["-ne", "1", "--networks", "1", "--device", "cpu", "-q"]
    assert main([
        "train", "-trs",
        str(scirpy_like), "-trl", labels, "-m",
        str(tmp_path / "model"), *quick
    ]) == 0
    assert main([
        "train", "-trs",
        str(scirpy_like), "-trl", "cell_type", "-m",
        str(tmp_path / "by_column"), *quick
    ]) == 0
    assert main([
        "format", "-i",
        str(scirpy_like), "-o",
        str(tmp_path / "formatted.h5")
    ]) == 0
    assert main([
        "predict", "-m",
        str(tmp_path / "model"), "-ts",
        str(scirpy_like), "-o",
        str(tmp_path / "out"), "-q"
    ]) == 0
    assert main([
        "report", "-p",
        str(tmp_path / "out"), "-l", labels, "--query",
        str(scirpy_like), "-o",
        str(tmp_path / "report"), "-q"
    ]) == 0
    assert (tmp_path / "report" / "umap.png").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_an_element_that_needs_a_missing_package_is_named_in_one_line(
        sound, tmp_path):
    """Where the element read needs a package anndata lacks (the UMAP
    itself an awkward array), one line names the file, the element and
    what to install."""
    pytest.importorskip("anndata")
    try:
        import awkward  # noqa: F401
        pytest.skip("awkward is installed: anndata reads the element")
    except ImportError:
        pass
    path = tmp_path / "umap.h5ad"
    shutil.copy(sound / "sound.h5ad", path)
    with h5py.File(path, "r+") as f:
        del f["obsm/X_umap"]
        _awkward(f["obsm"], "X_umap", N_CELLS)
    with pytest.raises(ACTINNInputError,
                       match=cannot_read(
                           path, "its obsm/X_umap is stored as "
                           "'awkward-array' (encoding version 0.1.0), which "
                           "anndata reads only with the awkward package "
                           "installed: pip install awkward") + "$"):
        h5ad_umap(path)
