"""Naming the matrix that holds the counts: ``--train-layer`` and
``--test-layer`` on the command line, ``layer=`` / ``use_raw=`` of
``fit_file`` and ``predict_file``. Each reads that matrix as if it were the
file's ``X``: the same labels as the counts stored plainly."""
import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn import ACTINNAnnotator, load_tabula_muris_sample
from deepchem_actinn.cli import main
from deepchem_actinn.errors import ACTINNInputError

pytestmark = pytest.mark.torch

QUICK = ["-ne", "2", "--networks", "1", "--seed", "0", "--device", "cpu"]


def _kept(adata, where):
    """``adata``'s counts in ``layers['spliced']`` (``X`` log-normalised),
    or in ``.raw`` beside an ``X`` of half the genes (counts too, so that
    only ``.raw`` gives every gene)."""
    kept = adata.copy()
    if where == "spliced":
        kept.X = sp.csr_matrix(np.log1p(adata.X.toarray()))
        kept.layers["spliced"] = adata.X
        return kept
    kept.raw = adata
    return kept[:, ::2].copy()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The bundled split as plain h5ad files and with the counts kept in a
    layer or in ``.raw``; the labels file. Half the training cells
    (every second: each type kept), 300 test cells: the tests compare the
    labels read through one matrix and another, not how good they are."""
    root = tmp_path_factory.mktemp("layers")
    train, test = load_tabula_muris_sample(upper_case_genes=False)
    train, test = train[::2].copy(), test[:300].copy()
    paths = {}
    for name, adata in (("train", train), ("test", test)):
        adata.write_h5ad(root / ("%s.h5ad" % name))
        paths[name] = root / ("%s.h5ad" % name)
        for where in ("spliced", ".raw"):
            path = root / ("%s_%s.h5ad" % (name, where.strip(".")))
            _kept(adata, where).write_h5ad(path)
            paths[name, where] = path
    paths["labels"] = root / "labels.txt"
    train.obs["cell_type"].to_csv(paths["labels"], sep="\t", header=False)
    return paths


@pytest.fixture(scope="module")
def model(files, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model"
    assert main([
        "train", "-trs",
        str(files["train"]), "-trl",
        str(files["labels"]), "-m",
        str(path), *QUICK, "-q"
    ]) == 0
    return path


def labels_of(out):
    return pd.read_csv(out / "predicted_label.txt", sep="\t")


def predict(model, query, out, *flags):
    return main([
        "predict", "-m",
        str(model), "-ts",
        str(query), "-o",
        str(out), "--device", "cpu", "-q", *flags
    ])


@pytest.mark.parametrize("where", ["spliced", ".raw"])
@pytest.mark.parametrize("reading", [[], ["--remove-ambient"]],
                         ids=["streamed", "whole"])
def test_test_layer_annotates_that_matrix(model, files, tmp_path, where,
                                          reading):
    assert predict(model, files["test"], tmp_path / "plain", *reading) == 0
    assert predict(model, files["test", where], tmp_path / "kept",
                   "--test-layer", where, *reading) == 0
    pd.testing.assert_frame_equal(labels_of(tmp_path / "kept"),
                                  labels_of(tmp_path / "plain"))


def test_the_error_names_the_layer_and_the_option(model, files, tmp_path,
                                                  capsys):
    assert predict(model, files["test", "spliced"], tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert ("other layers, not looked in: 'spliced' (name one with "
            "--test-layer)") in err
    assert not (tmp_path / "out").exists()


def test_run_names_the_option_of_the_file_at_fault(files, tmp_path, capsys):
    """The advice names the option of the file at fault, in the running
    command's words (layer= and the list of every command's options are
    the Python API's)."""
    spliced = str(files["train", "spliced"])
    assert main([
        "run", "-trs", spliced, "-trl",
        str(files["labels"]), "-ts",
        str(files["test"]), "-o",
        str(tmp_path / "out"), *QUICK, "-q"
    ]) == 2
    err = capsys.readouterr().err
    assert ("%s: X holds" % spliced) in err
    assert "(name one with --train-layer));" in err
    assert err.strip().endswith(
        "then pass --train-layer counts --allow-non-integer")
    assert "layer=" not in err


def test_test_layer_x_reads_x_only(model, files, tmp_path, capsys):
    """``X`` is log-normalised, the counts are in ``.raw``: by default
    ``.raw.X`` is read; ``--test-layer X`` insists on ``X`` and refuses."""
    import anndata
    adata = anndata.read_h5ad(files["test"])
    logged = adata.copy()
    logged.X = sp.csr_matrix(np.log1p(adata.X.toarray()))
    logged.raw = adata
    logged.write_h5ad(tmp_path / "logged.h5ad")
    assert predict(model, tmp_path / "logged.h5ad", tmp_path / "auto") == 0
    assert predict(model, files["test"], tmp_path / "plain") == 0
    pd.testing.assert_frame_equal(labels_of(tmp_path / "auto"),
                                  labels_of(tmp_path / "plain"))
    capsys.readouterr()
    assert predict(model, tmp_path / "logged.h5ad", tmp_path / "x",
                   "--test-layer", "X") == 2
    err = capsys.readouterr().err
    assert "%s: X holds" % (tmp_path / "logged.h5ad") in err
    # the advice says where this file's counts are, not where they usually are
    assert err.endswith("it looks log-normalised; raw counts are in .raw.X: "
                        "pass --test-layer .raw\n")
    assert not (tmp_path / "x").exists()
    # the library alike, read whole or in chunks
    from deepchem_actinn.io import iter_cell_chunks, read
    for reading in (
            read,
            lambda path, **named: list(iter_cell_chunks(path, 100, **named))):
        with pytest.raises(ACTINNInputError,
                           match=r"log-normalised; raw counts are in \.raw\.X:"
                           r" pass use_raw=True$"):
            reading(tmp_path / "logged.h5ad", use_raw=False)


@pytest.mark.parametrize("query,value,message", [
    ("spliced", "unspliced", "no layer 'unspliced' (layers: spliced)"),
    ("spliced", ".raw", "there is no .raw to read the counts from (asked for "
     "by --test-layer .raw)"),
    ("csv", "spliced", "layers and .raw (--test-layer) are h5ad's only, not "
     "csv's"),
])
def test_test_layer_errors(model, files, tmp_path, capsys, query, value,
                           message):
    path = files["test", "spliced"]
    if query == "csv":
        import anndata
        adata = anndata.read_h5ad(files["test"])
        path = tmp_path / "q.csv"
        pd.DataFrame(adata.X.toarray().T,
                     index=adata.var_names,
                     columns=adata.obs_names).to_csv(path)
    assert predict(model, path, tmp_path / "out", "--test-layer", value) == 2
    assert "%s: %s" % (path, message) in capsys.readouterr().err


def test_train_and_run_read_the_named_layers(model, files, tmp_path):
    """``train --train-layer`` trains the same model as on the plain file;
    ``run --train-layer --test-layer`` (in memory and out of core, a layer
    and ``.raw``) labels as ``run`` on the plain files, with the same
    probabilities."""
    assert main([
        "train", "-trs",
        str(files["train", "spliced"]), "-trl",
        str(files["labels"]), "-m",
        str(tmp_path / "kept"), "--train-layer", "spliced", *QUICK, "-q"
    ]) == 0
    assert predict(model, files["test"], tmp_path / "plain", "-op") == 0
    assert predict(tmp_path / "kept", files["test"], tmp_path / "again",
                   "-op") == 0
    for name in ("predicted_label.txt", "predicted_probabilities.txt"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "again" / name, sep="\t"),
            pd.read_csv(tmp_path / "plain" / name, sep="\t"))
    for source, kept in (([], "spliced"), (["--out-of-core"], ".raw")):
        runs = {}
        for name, train, test, flags in (
            ("run_plain", files["train"], files["test"], []),
            ("run_kept", files["train", kept], files["test", ".raw"],
             ["--train-layer", kept, "--test-layer", ".raw"]),
        ):
            out = tmp_path / (name + "".join(source))
            assert main([
                "run", "-trs",
                str(train), "-trl",
                str(files["labels"]), "-ts",
                str(test), "-o",
                str(out), *QUICK, "-q", "-op", *flags, *source
            ]) == 0
            runs[name] = out
        for name in ("predicted_label.txt", "predicted_probabilities.txt"):
            pd.testing.assert_frame_equal(
                pd.read_csv(runs["run_kept"] / name, sep="\t"),
                pd.read_csv(runs["run_plain"] / name, sep="\t"))


def test_predict_file_layer_and_use_raw(model, files):
    annotator = ACTINNAnnotator.load(model, device="cpu")

    def labels(path, **named):
        return np.concatenate([
            a.cell_types
            for a in annotator.predict_file(path, chunk_size=128, **named)
        ])

    plain = labels(files["test"])
    np.testing.assert_array_equal(
        labels(files["test", "spliced"], layer="spliced"), plain)
    np.testing.assert_array_equal(labels(files["test", ".raw"], use_raw=True),
                                  plain)
    # the raw file's X holds half the genes: read without use_raw, too few
    # of the model's (the test is not blind to the choice)
    with pytest.raises(ACTINNInputError, match="genes do not match"):
        labels(files["test", ".raw"])


def test_test_layer_on_a_dask_cluster(model, files, tmp_path):
    distributed = pytest.importorskip("distributed")
    assert predict(model, files["test"], tmp_path / "plain", "-op") == 0
    with distributed.LocalCluster(n_workers=1,
                                  processes=True,
                                  threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        assert predict(model, files["test", ".raw"], tmp_path / "dask",
                       "--test-layer", ".raw", "-op", "--chunk-size", "128",
                       "--scheduler", cluster.scheduler_address) == 0
    for name in ("predicted_label.txt", "predicted_probabilities.txt"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "dask" / name, sep="\t"),
            pd.read_csv(tmp_path / "plain" / name, sep="\t"))


def test_format_and_report_name_the_matrix_too(model, files, tmp_path, capsys):
    """``format --input-layer`` and ``report --query-layer`` read that
    matrix as ``X``; without them the error names the layer and the option."""
    import anndata

    from deepchem_actinn.cli.report import read_query
    plain = anndata.read_h5ad(files["test"])
    out = tmp_path / "converted"
    base = ["format", "-i", str(files["test", "spliced"]), "--to", "h5ad"]
    assert main(base + ["-o", str(tmp_path / "refused"), "-q"]) == 2
    assert "(name one with --input-layer)" in capsys.readouterr().err
    assert main(base + ["-o", str(out), "--input-layer", "spliced", "-q"]) == 0
    converted = anndata.read_h5ad(str(out) + ".h5ad")
    np.testing.assert_array_equal(converted.X.toarray(), plain.X.toarray())
    cells = list(plain.obs_names[::-1])
    query = read_query(str(files["test", ".raw"]),
                       None,
                       cells,
                       False,
                       layer=".raw")
    np.testing.assert_array_equal(query.X.toarray(), plain[cells].X.toarray())
    assert list(query.var_names) == list(plain.var_names)
    assert predict(model, files["test"], tmp_path / "out", "-op") == 0
    report = [
        "report", "-p",
        str(tmp_path / "out" / "predicted_label.txt"), "--query",
        str(files["test", "spliced"]), "-q"
    ]
    assert main(report + ["-o", str(tmp_path / "r0")]) == 2
    assert "'spliced'" in capsys.readouterr().err
    pytest.importorskip("scanpy")
    assert main(report +
                ["-o", str(tmp_path / "r1"), "--query-layer", "spliced"]) == 0
    assert (tmp_path / "r1" / "umap.png").exists()


def test_x_is_every_formats_matrix(model, files, tmp_path, capsys):
    """``--test-layer X`` takes a CSV file's only matrix; ``raw`` (not a
    layer) is pointed to ``.raw``."""
    import anndata
    adata = anndata.read_h5ad(files["test"])
    path = tmp_path / "q.csv"
    pd.DataFrame(adata.X.toarray().T,
                 index=adata.var_names,
                 columns=adata.obs_names).to_csv(path)
    assert predict(model, path, tmp_path / "x", "--test-layer", "X") == 0
    assert predict(model, files["test"], tmp_path / "plain") == 0
    pd.testing.assert_frame_equal(labels_of(tmp_path / "x"),
                                  labels_of(tmp_path / "plain"))
    capsys.readouterr()
    assert predict(model, files["test", "spliced"], tmp_path / "raw",
                   "--test-layer", "raw") == 2
    assert ("%s: no layer 'raw' (layers: spliced); for .raw.X pass "
            "--test-layer .raw\n" %
            files["test", "spliced"]) in capsys.readouterr().err


def test_run_refuses_a_query_without_counts_before_training(
        files, tmp_path, capsys):
    assert main([
        "run", "-trs",
        str(files["train"]), "-trl",
        str(files["labels"]), "-ts",
        str(files["test", "spliced"]), "-o",
        str(tmp_path / "out"), *QUICK
    ]) == 2
    err = capsys.readouterr().err
    assert "%s: X holds non-integer values" % files["test", "spliced"] in err
    assert "'spliced' (name one with --test-layer)" in err
    assert "trained" not in err and "gene filter" not in err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def scanpy_files(files, tmp_path_factory):
    """The bundled split as scanpy leaves it: ``X`` log-normalised, the
    counts in ``.raw`` (found by the fallback, not named)."""
    import anndata
    root = tmp_path_factory.mktemp("scanpy")
    paths = {}
    for name in ("train", "test"):
        counts = anndata.read_h5ad(files[name])
        adata = counts.copy()
        adata.raw = counts
        adata.X = sp.csr_matrix(np.log1p(counts.X.toarray()))
        adata.write_h5ad(root / ("%s.h5ad" % name))
        paths[name] = root / ("%s.h5ad" % name)
    return paths


FALLBACK = "reading the raw counts from .raw.X instead"


def _said(caplog):
    return sum(FALLBACK in r.getMessage() for r in caplog.records)


def test_every_pass_reads_the_matrix_chosen_once(model, files, scanpy_files,
                                                 caplog):
    """fit_file and predict_file make several passes over a file; the
    fallback to .raw.X is decided (and said) once, not once per pass."""
    annotator = ACTINNAnnotator.load(model, device="cpu")
    plain = np.concatenate(
        [a.cell_types for a in annotator.predict_file(files["test"])])
    caplog.set_level("WARNING")
    chunks = list(annotator.predict_file(scanpy_files["test"], chunk_size=100))
    assert len(chunks) == 3
    np.testing.assert_array_equal(
        np.concatenate([a.cell_types for a in chunks]), plain)
    assert _said(caplog) == 1
    caplog.clear()
    ACTINNAnnotator(n_networks=1, max_epochs=2, early_stopping=False,
                    seed=0).fit_file(scanpy_files["train"], files["labels"])
    assert _said(caplog) == 1


def test_dask_tasks_read_the_matrix_chosen_once(model, scanpy_files, caplog):
    distributed = pytest.importorskip("distributed")
    from deepchem_actinn.distributed import predict_file_dask
    annotator = ACTINNAnnotator.load(model, device="cpu")
    caplog.set_level("WARNING")
    with distributed.LocalCluster(n_workers=1,
                                  processes=False,
                                  threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        chunks = list(
            predict_file_dask(annotator,
                              scanpy_files["test"],
                              client,
                              chunk_size=100))
    assert [len(a) for a in chunks] == [100, 100, 100]
    assert _said(caplog) == 1


@pytest.mark.parametrize("stored", ["dense", "by columns"])
@pytest.mark.parametrize("where,choice", [(".raw", (None, True)),
                                          ("counts", ("counts", None)),
                                          ("X", (None, None))])
def test_settle_counts_matrix_names_the_choice(tmp_path, where, choice, stored):
    """The choice is made once, also where the matrices are stored by
    columns (CSC: no chunk of cells is read alone, so the file is read
    whole to choose) and the record names the matrix."""
    import anndata
    import scipy.sparse as sp
    from deepchem_actinn.io.h5ad import settle_matrix
    from deepchem_actinn.io.stream import settle_counts_matrix
    counts = np.array([[3.0, 0.0], [1.0, 2.0], [0.0, 5.0]], np.float32)
    kind = sp.csc_matrix if stored == "by columns" else np.asarray
    adata = anndata.AnnData(kind(counts))
    if where == ".raw":
        adata.raw = adata.copy()
    elif where == "counts":
        adata.layers["counts"] = kind(counts)
    if where != "X":
        adata.X = kind(np.log1p(counts))
    adata.write_h5ad(tmp_path / "a.h5ad")
    assert settle_counts_matrix(tmp_path / "a.h5ad") == choice
    assert settle_matrix(tmp_path / "a.h5ad").matrix == {
        ".raw": ".raw.X",
        "counts": "layers['counts']",
        "X": "X"
    }[where]
    # named, or not an h5ad file: as given
    assert settle_counts_matrix(tmp_path / "a.h5ad",
                                layer="counts") == ("counts", None)
    pd.DataFrame(counts, columns=["g1", "g2"]).to_csv(tmp_path / "a.csv")
    assert settle_counts_matrix(tmp_path / "a.csv") == (None, None)


def test_command_words_do_not_depend_on_how_the_path_is_spelled(tmp_path):
    """A message naming the file by its absolute path (as the Dask path
    does) is put in the command's words too: the words follow the file the
    command reads, not the message's text."""
    from deepchem_actinn.cli.common import CommandWords
    from deepchem_actinn.cli.parser import build_parser
    from deepchem_actinn.io.count_matrix import other_layers
    args = build_parser().parse_args(
        ["predict", "-m", "m", "-ts", "q.h5ad", "-o", "o"])
    hint, = other_layers(["spliced"])
    for path in ("q.h5ad", str(tmp_path / "q.h5ad"), "elsewhere.h5ad"):
        err = ACTINNInputError("%s: X holds ... (%s)", path, hint)
        text = err.words(CommandWords.of(args))
        assert text.endswith("(name one with --test-layer))"), text


def test_a_raw_normalised_with_x_is_said_before_genes(model, files, tmp_path,
                                                      capsys):
    # scanpy's trap: adata.raw = adata shares X's matrix (anndata 0.12), so
    # normalising X normalises .raw too; X then cut to some genes. The
    # query has no counts left: said as such, not as a query of few genes
    import anndata
    adata = anndata.read_h5ad(files["test"])
    adata.raw = adata
    adata.raw.X.data[:] = np.log1p(adata.X.data)  # as if shared
    adata.X = adata.raw.X.copy()
    adata = adata[:, ::4].copy()
    path = tmp_path / "scanpy_trap.h5ad"
    adata.write_h5ad(path)
    assert predict(model, path, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "%s: X holds non-integer values" % path in err
    assert ".raw.X holds non-integer values: a .raw set with adata.raw = " \
           "adata may share X's matrix" in err
    assert "holds only" not in err and "min-overlap" not in err
    assert not (tmp_path / "out").exists()


def test_half_precision_counts_are_read_as_float32(model, files, tmp_path):
    # float16 cells' totals overflow (inf: "no counts") and SciPy has no
    # sparse float16: the counts are taken as float32, same labels
    import anndata

    from deepchem_actinn import ACTINNAnnotator, annotate
    adata = anndata.read_h5ad(files["test"])
    half = adata.copy()
    half.X = np.minimum(adata.X.toarray(), 2000).astype(np.float16)
    path = tmp_path / "half.h5ad"
    half.write_h5ad(path)
    plain = adata.copy()
    plain.X = sp.csr_matrix(half.X.astype(np.float32))
    plain.write_h5ad(tmp_path / "plain.h5ad")
    for name, flags in (("streamed", []), ("whole", ["--remove-ambient"])):
        assert predict(model, tmp_path / "plain.h5ad",
                       tmp_path / "plain" / name, *flags) == 0
        assert predict(model, path, tmp_path / name, *flags) == 0
        pd.testing.assert_frame_equal(labels_of(tmp_path / name),
                                      labels_of(tmp_path / "plain" / name))
    expected = labels_of(tmp_path / "plain" / "streamed")
    annotator = ACTINNAnnotator.load(model)
    annotate(half, annotator)
    np.testing.assert_array_equal(half.obs["actinn_cell_type"],
                                  expected["celltype"])


def _without_x(source, path, raw=False):
    """``source``'s counts in ``layers['spliced']`` beside their log in
    ``layers['log']``, and no X (anndata writes an AnnData of X=None
    without one); with ``raw``, the counts in .raw too."""
    import anndata
    adata = anndata.read_h5ad(source)
    kept = anndata.AnnData(X=None,
                           obs=adata.obs,
                           var=adata.var,
                           layers={
                               "spliced": adata.X,
                               "log": sp.csr_matrix(np.log1p(adata.X))
                           })
    if raw:
        kept.raw = adata
    kept.write_h5ad(path)
    return path


def test_an_h5ad_without_x_is_h5ad_and_its_layers_are_named(
        model, files, tmp_path, capsys):
    """An h5ad file without X is read as h5ad, not refused as an unknown
    HDF5 layout: without a layer named, the refusal says X is absent and
    lists the layers to pick from, with the option to pick one by (.raw
    too where there is one)."""
    from deepchem_actinn.io import detect_format, read
    path = _without_x(files["test"], tmp_path / "no_x.h5ad")
    assert detect_format(path) == "h5ad"
    said = ("%s: X is absent (an AnnData of X=None); its layers: log, "
            "spliced: name the one that holds the counts with %%s" % path)
    with pytest.raises(ACTINNInputError) as err:
        read(path)
    assert str(err.value) == said % "layer=NAME"
    for command, option in (("predict", "--test-layer"), ("train",
                                                          "--train-layer")):
        source = (
            ["-m", str(model), "-ts", str(path), "-o"] if command == "predict"
            else ["-trs", str(path), "-trl",
                  str(files["labels"]), "-m"])
        assert main(
            [command, *source,
             str(tmp_path / "out"), "--device", "cpu"]) == 2
        assert ("actinn %s: error: %s\n" % (command, said %
                                            ("%s NAME" % option))
                in capsys.readouterr().err), command
        assert not (tmp_path / "out").exists()


def test_an_h5ad_without_x_is_read_from_its_counts(model, files, tmp_path,
                                                   caplog):
    """Without X and with no matrix named, the conventional places of
    counts are read in its stead, as where X holds no counts: .raw.X, then
    layers['counts'] (said in the log); the labels are those of the plain
    file."""
    import anndata
    from deepchem_actinn.io import read
    for reading in ([], ["--remove-ambient"]):  # streamed, whole
        assert predict(model, files["test"],
                       tmp_path / ("plain%d" % len(reading)), *reading) == 0
    plain = anndata.read_h5ad(files["test"])
    in_raw = _without_x(files["test"], tmp_path / "raw.h5ad", raw=True)
    with caplog.at_level(logging.INFO):
        got = read(in_raw)
    assert "%s: X is absent; reading the counts from .raw.X" % in_raw \
        in caplog.text
    np.testing.assert_array_equal(got.X.toarray(), plain.X.toarray())
    counted = anndata.read_h5ad(_without_x(files["test"], tmp_path / "x.h5ad"))
    counted.layers["counts"] = counted.layers.pop("spliced")
    counted.write_h5ad(tmp_path / "counts.h5ad")
    for path in (in_raw, tmp_path / "counts.h5ad"):
        for reading in ([], ["--remove-ambient"]):  # streamed, whole
            out = tmp_path / ("%s%d" % (path.stem, len(reading)))
            assert predict(model, path, out, *reading) == 0
            pd.testing.assert_frame_equal(
                labels_of(out),
                labels_of(tmp_path / ("plain%d" % len(reading))))


@pytest.mark.parametrize("reading", [[], ["--remove-ambient"]],
                         ids=["streamed", "whole"])
def test_the_layer_of_an_h5ad_without_x_is_read(model, files, tmp_path,
                                                reading):
    """--test-layer and --train-layer read a layer of an h5ad file without
    X as they read one beside X: the same model, the same labels."""
    query = _without_x(files["test"], tmp_path / "query.h5ad")
    assert predict(model, files["test"], tmp_path / "plain", *reading) == 0
    assert predict(model, query, tmp_path / "kept", "--test-layer", "spliced",
                   *reading) == 0
    pd.testing.assert_frame_equal(labels_of(tmp_path / "kept"),
                                  labels_of(tmp_path / "plain"))
    if reading:
        return
    reference = _without_x(files["train"], tmp_path / "reference.h5ad")
    assert main([
        "train", "-trs",
        str(reference), "-trl",
        str(files["labels"]), "-m",
        str(tmp_path / "model"), "--train-layer", "spliced", *QUICK, "-q"
    ]) == 0
    assert predict(tmp_path / "model", files["test"], tmp_path / "again") == 0
    pd.testing.assert_frame_equal(labels_of(tmp_path / "again"),
                                  labels_of(tmp_path / "plain"))


@pytest.mark.parametrize("reading", [[], ["--remove-ambient"]],
                         ids=["streamed", "whole"])
def test_without_x_a_counts_layer_of_logs_is_refused_saying_x_is_absent(
        model, files, tmp_path, capsys, reading):
    """Without X, and log1p values where counts conventionally live
    (layers['counts']): the refusal says X is absent, and the expm1 way
    out is worded for the layer read, never for the X there is not (read,
    annotate, actinn predict). An AnnData without X whose counts layer
    holds counts is annotated as the file is read: from that layer."""
    import anndata
    from deepchem_actinn import annotate
    from deepchem_actinn.io import read
    adata = anndata.read_h5ad(_without_x(files["test"], tmp_path / "x.h5ad"))
    counts = adata.layers.pop("spliced")
    adata.layers["counts"] = adata.layers.pop("log")
    path = tmp_path / "logs.h5ad"
    adata.write_h5ad(path)
    messages = []
    for refuse in (lambda: read(path),
                   lambda: annotate(adata, ACTINNAnnotator.load(model))):
        with pytest.raises(ACTINNInputError) as err:
            refuse()
        messages.append(str(err.value))
    assert predict(model, path, tmp_path / "out", *reading) == 2
    messages.append(capsys.readouterr().err)
    for message, then in zip(messages, [
            "then pass layer='counts', allow_non_integer=True",
            "then layer='counts', allow_non_integer=True",
            "then pass --test-layer counts --allow-non-integer"
    ]):
        assert "layers['counts'] holds non-integer values" in message
        assert "X is absent" in message, message
        assert "adata.X" not in message and "if X is" not in message, message
        assert "np.expm1(adata.layers['counts'])" in message, message
        assert then in message, message
    in_memory = anndata.AnnData(X=None,
                                obs=adata.obs,
                                var=adata.var,
                                layers={"counts": counts})
    plain = anndata.AnnData(counts, obs=adata.obs, var=adata.var)
    annotator = ACTINNAnnotator.load(model)
    np.testing.assert_array_equal(
        annotate(in_memory, annotator).cell_types,
        annotate(plain, annotator).cell_types)
    assert in_memory.uns["actinn"]["counts"] == "layers['counts']"


def test_x_named_in_an_h5ad_without_x_is_refused_saying_so(
        model, files, tmp_path, capsys, caplog):
    """``--test-layer X`` (``use_raw=False``) on a file without X: refused
    at once saying X is absent and naming its layers, with no word of
    reading the file whole (its X is not stored by rows: there is none)."""
    from deepchem_actinn.io import iter_cell_chunks
    path = _without_x(files["test"], tmp_path / "no_x.h5ad")
    said = ("%s: X is absent (an AnnData of X=None); its layers: log, "
            "spliced: name the one that holds the counts with %%s" % path)
    assert main([
        "predict", "-m",
        str(model), "-ts",
        str(path), "-o",
        str(tmp_path / "out"), "--device", "cpu", "--test-layer", "X"
    ]) == 2
    err = capsys.readouterr().err
    assert "actinn predict: error: %s\n" % (said % "--test-layer NAME") in err
    assert "whole file" not in err and "stored by rows" not in err, err
    with caplog.at_level(logging.INFO), pytest.raises(ACTINNInputError) as e:
        list(iter_cell_chunks(path, 100, use_raw=False))
    assert str(e.value) == said % "layer=NAME"
    assert "whole file" not in caplog.text, caplog.text
