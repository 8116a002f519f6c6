"""The library's advice in the command line's words: every error line
and warning ``actinn`` prints names its options (``--test-layer .raw``,
``--allow-non-integer``, ``--overwrite``), those of the file it was
reading, never the Python keywords (``use_raw=True``) the same error
shows in Python."""
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn.cli import main

pytestmark = pytest.mark.torch

#: Python's words for advice, which no line of the command's may hold.
PYTHON_WORDS = re.compile(
    r"=True|=False|layer='|layer=\W|use_raw=|format='|"
    r"format=\W|orientation=|min_overlap|allow_non_integer|"
    r"\(actinn:|CLI:|in Python|labelled_only|overwrite=")
#: Advice of another library, which is said as it is: pandas' call that
#: writes the table the reader wants.
PANDAS_CALL = "(DataFrame.to_hdf(path, key, format='fixed'))"


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_reference):
    """A small simulated reference, a one-network annotator trained on it
    (``model``), and queries made from its cells the ways the tests below
    need."""
    import anndata
    root = tmp_path_factory.mktemp("advice")
    ref, labels = root / "ref.h5ad", root / "labels.txt"
    shutil.copy(small_reference[1], ref)
    shutil.copy(small_reference[3], labels)
    assert main([
        "train", "-trs",
        str(ref), "-trl",
        str(labels), "-m",
        str(root / "model"), "-ne", "1", "--networks", "1", "--device", "cpu",
        "-q"
    ]) == 0
    counts = anndata.read_h5ad(ref)
    counts.obs = counts.obs[[]]
    dense = counts.X.toarray() if sp.issparse(counts.X) else counts.X
    paths = {"ref": ref, "labels": labels, "model": root / "model"}

    def save(name, adata):
        paths[name] = root / name
        adata.write_h5ad(paths[name])

    logged = counts.copy()
    logged.X = sp.csr_matrix(np.log1p(dense))
    save("log.h5ad", logged)
    foo = logged.copy()  # the counts in a layer no convention names
    foo.layers["foo"] = counts.X.copy()
    save("foo.h5ad", foo)
    raw = logged.copy()
    raw.raw = counts.copy()
    save("raw_log.h5ad", raw)
    hvg = counts.copy()  # scanpy: adata.raw = adata, then X cut
    hvg.raw = counts.copy()
    save("hvg.h5ad", hvg[:, ::2].copy())
    scaled = counts[:300].copy()
    X = np.log1p(dense[:300] / dense[:300].sum(1, keepdims=True) * 1e4)
    scaled.X = (X - X.mean(0)) / (X.std(0) + 1e-9)
    save("scaled.h5ad", scaled)
    save("few_genes.h5ad", counts[:, :90].copy())
    frame = pd.DataFrame(dense.T,
                         index=counts.var_names,
                         columns=counts.obs_names)
    paths["q.csv"] = root / "q.csv"
    frame.to_csv(paths["q.csv"])
    paths["tpm.csv"] = root / "tpm.csv"
    (frame * 100.5).to_csv(paths["tpm.csv"])
    paths["names.csv"] = root / "names.csv"
    frame.rename(index=lambda g: "x" + g).to_csv(paths["names.csv"])
    paths["cells_by_genes.csv"] = root / "cells_by_genes.csv"
    frame.iloc[:4, :3].T.to_csv(paths["cells_by_genes.csv"])
    paths["series.h5"] = root / "series.h5"
    pd.Series([1, 2], index=["a", "b"]).to_hdf(paths["series.h5"], key="dge")
    paths["unknown.h5"] = root / "unknown.h5"
    import h5py
    with h5py.File(paths["unknown.h5"], "w") as f:
        f.create_group("something")
    paths["part_labels.txt"] = root / "part_labels.txt"
    lines = labels.read_text().splitlines()
    paths["part_labels.txt"].write_text("\n".join(lines[:-5]) + "\n")
    paths["taken"] = root / "taken"
    paths["taken"].with_suffix(".h5").write_text("mine\n")
    return paths


def _predict(name, *flags):
    return lambda f, out: [
        "predict", "-m",
        str(f["model"]), "-ts",
        str(f[name]), "-o",
        str(out), "--device", "cpu", *flags
    ]


#: Each bad input of the command-line tests, and of the code review's:
#: the command, and words its error line (or, exit code 0, its log) holds.
CASES = {
    # a: pandas' own advice is not the library's: said as it is
    "pandas advice": (_predict("series.h5"), 2, PANDAS_CALL),
    # b: the same file read as reference and as query: the query's option
    "same file, both roles": (lambda f, out: [
        "run", "-trs",
        str(f["foo.h5ad"]), "--train-layer", "foo", "-trl",
        str(f["labels"]), "-ts",
        str(f["foo.h5ad"]), "-o",
        str(out), "-ne", "1", "--networks", "1", "--device", "cpu"
    ], 2, "'foo' (name one with --test-layer)); if X is the natural log1p "
                              "of normalised counts"),
    "the reference's own option": (lambda f, out: [
        "run", "-trs",
        str(f["foo.h5ad"]), "-trl",
        str(f["labels"]), "-ts",
        str(f["ref"]), "-o",
        str(out), "-ne", "1", "--networks", "1", "--device", "cpu"
    ], 2, "then pass --train-layer counts --allow-non-integer"),
    # c: the expm1 way out, its end in the command's words
    "log1p only": (_predict("log.h5ad"), 2,
                   "then pass --test-layer counts --allow-non-integer"),
    # d: allow_non_integer=True, once spelled five ways
    "TPM": (_predict("tpm.csv"), 2, "such as TPM), pass --allow-non-integer"),
    # e: format has no orientation option: what it does instead
    "format, cells as rows":
        (lambda f, out:
         ["format", "-i",
          str(f["cells_by_genes.csv"]), "-o",
          str(out)], 0,
         "read as genes by cells (ACTINN's layout), 4 cells x 3 genes: "
         "format has no model's genes to tell the layout by; this command "
         "reads no other layout"),
    "existing output": (
        lambda f, out:
        ["format", "-i", str(f["q.csv"]), "-o",
         str(f["taken"])], 2, "taken.h5 exists; pass --overwrite to replace it"
    ),
    "no such layer": (_predict("foo.h5ad", "--test-layer", "unspliced"), 2,
                      "no layer 'unspliced' (layers: foo)"),
    "no .raw": (_predict("foo.h5ad", "--test-layer", ".raw"), 2,
                "no .raw to read the counts from (asked for by --test-layer "
                ".raw)"),
    "raw is no layer": (_predict("foo.h5ad", "--test-layer", "raw"), 2,
                        "for .raw.X pass --test-layer .raw"),
    "layer of a CSV file": (_predict("q.csv", "--test-layer", "foo"), 2,
                            "layers and .raw (--test-layer) are h5ad's only"),
    "counts elsewhere": (_predict("raw_log.h5ad", "--test-layer", "X"), 2,
                         "raw counts are in .raw.X: pass --test-layer .raw"),
    "format given, file of another": (_predict("ref", "--test-format", "csv"),
                                      2, "--test-format csv needs text"),
    "format given, HDF5 of another":
        (_predict("series.h5", "--test-format",
                  "h5ad"), 2, "--test-format h5ad, but the file is"),
    "unknown HDF5":
        (_predict("unknown.h5"), 2, "pass --test-format to force one"),
    "genes on neither axis": (_predict("names.csv"), 2,
                              "pass --test-orientation genes_by_cells (genes "
                              "as rows) or cells_by_genes (cells as rows)"),
    "too few genes": (_predict("few_genes.h5ad"), 2, "pass --min-overlap 0."),
    "unlabelled cells": (lambda f, out: [
        "train", "-trs",
        str(f["ref"]), "-trl",
        str(f["part_labels.txt"]), "-m",
        str(out), "-ne", "1", "--networks", "1", "--device", "cpu"
    ], 2, "(pass --labelled-only to train on the labelled cells alone)"),
    # f, g: a scaled matrix: no expm1, the values counted in the cells read
    "scaled": (_predict("scaled.h5ad"), 2,
               "negative values in its first 256 cells (of 300)"),
    # j: X's counts of some genes, .raw's of all: said, in the option's words
    "counts of more genes in .raw":
        (_predict("hvg.h5ad"), 0, "pass --test-layer .raw to read .raw.X "
         "instead"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_advice_is_in_the_command_s_words(files, tmp_path, capsys, case):
    argv, code, words = CASES[case]
    assert main(argv(files, tmp_path / "out")) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    said = lines[-1] if code else err
    assert words in said, said
    if code:
        assert said.startswith("actinn %s: error: " % argv(files, "o")[0])
    for line in lines:
        assert not PYTHON_WORDS.search(line.replace(PANDAS_CALL, "")), line


def test_the_same_errors_in_python_name_the_keywords(files):
    """What the command line says in its options, Python says in its
    keywords (``str(err)``)."""
    from deepchem_actinn.errors import ACTINNInputError
    from deepchem_actinn.io import read
    for path, named, words in (
        (files["log.h5ad"], {}, "then pass layer='counts', "
         "allow_non_integer=True"),
        (files["tpm.csv"], {}, "pass allow_non_integer=True"),
        (files["raw_log.h5ad"], dict(use_raw=False),
         "raw counts are in .raw.X: pass use_raw=True"),
        (files["q.csv"], dict(layer="foo"), "layers and .raw (layer= or "
         "use_raw=True) are h5ad's only"),
        (files["names.csv"], dict(expected_genes=["GENE00001"]),
         "pass orientation='genes_by_cells' (genes as rows) or "
         "'cells_by_genes' (cells as rows)"),
    ):
        with pytest.raises(ACTINNInputError) as err:
            read(path, **named)
        assert words in str(err.value)
        assert "--" not in str(err.value), str(err.value)
