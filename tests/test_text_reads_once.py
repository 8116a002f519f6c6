"""A CSV/TSV query is read as few times as a command can: ``actinn
predict`` and ``actinn run`` parse it once, and read its row names (the
genes of ACTINN's layout, which tell the layout and are matched to the
model's) in one more pass, whatever asks for them
(:func:`~deepchem_actinn.io.shared_reads.shared_text_reads`); and what they keep of
a file is never served once it has changed."""
import gzip
import os
import threading

import numpy as np
import pandas as pd
import pytest

from deepchem_actinn.cli import main
from deepchem_actinn.datasets import (load_tabula_muris_sample,
                                      tabula_muris_sample_paths)
from deepchem_actinn.io import shared_reads, text
from deepchem_actinn.io.prefetch import prefetch
from deepchem_actinn.io.shared_reads import shared_text_reads
from deepchem_actinn.io.text import read_text

PATHS = tabula_muris_sample_paths()
TRAIN = ["-trs", str(PATHS["train"]), "-trl", str(PATHS["train_labels"])]
QUICK = [
    "-ne", "2", "--networks", "1", "--seed", "0", "--device", "cpu", "-q",
    "--threads", "1"
]


class _Handle:
    """A text handle that counts the characters read through it, and
    whether pandas parsed them (``read``) or a reader went line by line."""

    def __init__(self, fh, record):
        self._fh = fh
        self._record = record

    def _note(self, text, how):
        self._record["chars"] += len(text)
        self._record["parsed"] |= how == "read"
        return text

    def read(self, size=-1):
        return self._note(self._fh.read(size), "read")

    def readline(self, size=-1):
        return self._note(self._fh.readline(size), "lines")

    def __iter__(self):
        for line in self._fh:
            yield self._note(line, "lines")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def close(self):
        self._fh.close()


@pytest.fixture
def passes(monkeypatch):
    """A function giving, for a file, its full passes (handles the text
    readers opened on it that read all of it) and how many of them pandas
    parsed, counted since the test began."""
    opened = []
    real = text.open_text

    def counting(path):
        record = {"path": os.path.realpath(path), "chars": 0, "parsed": False}
        opened.append(record)
        return _Handle(real(path), record)

    monkeypatch.setattr(text, "open_text", counting)

    def count(path):
        with real(path) as fh:
            whole = len(fh.read())
        full = [
            r for r in opened
            if r["path"] == os.path.realpath(path) and r["chars"] >= whole
        ]
        return len(full), sum(r["parsed"] for r in full)

    return count


@pytest.fixture(scope="module")
def queries(tmp_path_factory):
    """The bundled test cells (the first 300) as CSV, TSV, gzipped CSV in
    ACTINN's layout (genes as rows, named as the reference names them) and
    as CSV with cells as rows."""
    root = tmp_path_factory.mktemp("queries")
    _, test = load_tabula_muris_sample()
    test = test[:300]
    X = test.X.toarray() if hasattr(test.X, "toarray") else test.X
    cells = pd.DataFrame(X.astype(int),
                         index=test.obs_names,
                         columns=test.var_names)
    cells.T.to_csv(root / "query.csv")
    cells.T.to_csv(root / "query.tsv", sep="\t")
    with gzip.open(root / "query.csv.gz", "wt") as fh:
        cells.T.to_csv(fh)
    cells.to_csv(root / "cells.csv")
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("model")
    assert main(["train", *TRAIN, "-m", str(root / "model"), *QUICK]) == 0
    return root / "model"


@pytest.mark.parametrize(
    "name", ["query.csv", "query.tsv", "query.csv.gz", "cells.csv"])
def test_predict_parses_a_text_query_once(model, queries, tmp_path, passes,
                                          name):
    query = queries / name
    assert main([
        "predict", "-m",
        str(model), "-ts",
        str(query), "-o",
        str(tmp_path / "out"), *QUICK[-5:]
    ]) == 0
    # the row names read once (the layout, the cells or genes), one parse
    assert passes(query) == (2, 1)


def test_predict_with_majority_voting_parses_once(model, queries, tmp_path,
                                                  passes):
    pytest.importorskip("leidenalg")
    query = queries / "query.csv"
    assert main([
        "predict", "-m",
        str(model), "-ts",
        str(query), "-o",
        str(tmp_path / "out"), "--majority-voting", *QUICK[-5:]
    ]) == 0
    assert passes(query) == (2, 1)


@pytest.mark.parametrize("name", ["query.csv", "cells.csv"])
def test_run_annotates_the_parse_it_checked(queries, tmp_path, passes, name):
    """The query read whole before training (to fail fast) is the one
    annotated after it, and its names, asked for by the layout, the genes
    to train on and the genes to match, are read once."""
    query = queries / name
    assert main([
        "run", *TRAIN, "-ts",
        str(query), "-o",
        str(tmp_path / "out"), "-op", *QUICK
    ]) == 0
    assert passes(query) == (2, 1)
    labels = pd.read_csv(tmp_path / "out" / "predicted_label.txt", sep="\t")
    assert len(labels) == 300


def test_a_file_changed_between_reads_is_read_again(tmp_path, passes):
    """Written again to the same size, its modification time set back: its
    names and values are those written last."""
    path = tmp_path / "counts.csv"
    path.write_text("gene,c1,c2\nActb,3,0\nCd3e,0,1\n")
    with shared_text_reads(keep_parsed=[path]):
        assert list(text.text_row_names(path, "csv")) == ["Actb", "Cd3e"]
        assert list(text.text_row_names(path, "csv")) == ["Actb", "Cd3e"]
        assert passes(path) == (1, 0)
        first = read_text(path, orientation="genes_by_cells")
        before = path.stat()
        path.write_text("gene,c1,c2\nActa,5,0\nCd3d,0,1\n")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert path.stat().st_size == before.st_size
        assert list(text.text_row_names(path, "csv")) == ["Acta", "Cd3d"]
        again = read_text(path, orientation="genes_by_cells")
    assert first.X.toarray().tolist() == [[3, 0], [0, 1]]
    assert list(again.var_names) == ["Acta", "Cd3d"]
    assert again.X.toarray().tolist() == [[5, 0], [0, 1]]


def test_a_parse_is_kept_for_the_files_asked_and_serves_one_read(
        tmp_path, passes):
    kept, other = tmp_path / "kept.csv", tmp_path / "other.csv"
    for path in (kept, other):
        path.write_text("gene,c1,c2\nActb,3,0\nCd3e,0,1\n")
    with shared_text_reads(keep_parsed=[str(kept)]):
        for _ in range(3):
            for path in (kept, other):
                adata = read_text(path, orientation="genes_by_cells")
                assert adata.X.toarray().tolist() == [[3, 0], [0, 1]]
        # the layout not given: it is chosen (and said) by each read
        read_text(kept, expected_genes=["ACTB"])
    # the first parse served the second read; the third parsed again
    assert passes(kept) == (3, 3)
    assert passes(other) == (3, 3)


def test_outside_a_command_nothing_is_kept(tmp_path, passes):
    path = tmp_path / "counts.csv"
    path.write_text("gene,c1\nActb,3\nCd3e,0\n")
    with shared_text_reads(keep_parsed=[path]):
        text.text_row_names(path, "csv")
        read_text(path, orientation="genes_by_cells")
    text.text_row_names(path, "csv")
    read_text(path, orientation="genes_by_cells")
    assert passes(path) == (4, 2)


def test_the_names_of_a_few_files_are_kept(tmp_path, passes, monkeypatch):
    paths = [tmp_path / ("counts%d.csv" % i) for i in range(3)]
    for i, path in enumerate(paths):
        path.write_text("gene,c1\nG%d,3\nActb,1\n" % i)
    monkeypatch.setattr(shared_reads._SharedReads, "MAX_NAMES", 2)
    with shared_text_reads():
        for path in paths + paths[::-1]:
            names = text.text_row_names(path, "csv")
            names[0] = "changed"  # a copy: what is kept stays
        assert list(text.text_row_names(paths[2], "csv")) == ["G2", "Actb"]
    # the last two kept: the first read again, once
    assert [passes(p) for p in paths] == [(2, 0), (1, 0), (1, 0)]
    assert np.array_equal(text.text_row_names(paths[0], "csv"), ["G0", "Actb"])


def _in_thread(work):
    """Run ``work`` in a thread of its own; what it returned (or raised)."""
    done = {}

    def target():
        try:
            done["value"] = work()
        except BaseException as err:  # raised again in the test
            done["error"] = err

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in done:
        raise done["error"]
    return done["value"]


def test_a_block_keeps_nothing_for_another_thread(tmp_path, passes):
    """A thread outside any block (a library call beside a command running
    in another) reads the file itself: it is not handed the command's
    parse, nor its names."""
    path = tmp_path / "counts.csv"
    path.write_text("gene,c1,c2\nActb,3,0\nCd3e,0,1\n")
    with shared_text_reads(keep_parsed=[path]):
        kept = read_text(path, orientation="genes_by_cells")
        text.text_row_names(path, "csv")
        mine = _in_thread(lambda: read_text(path, orientation="genes_by_cells"))
        _in_thread(lambda: text.text_row_names(path, "csv"))
        mine.X.data[:] = 0  # the caller's own object
        again = read_text(path, orientation="genes_by_cells")
    assert mine is not kept and again is kept
    assert again.X.toarray().tolist() == [[3, 0], [0, 1]]
    assert passes(path) == (4, 2)


def test_blocks_overlapping_in_two_threads_each_keep_their_own(tmp_path):
    """Two commands in two threads: the first to end its block leaves the
    other's in place, and none is left once both have ended."""
    path = tmp_path / "counts.csv"
    path.write_text("gene,c1\nActb,3\nCd3e,0\n")
    first_in, second_in, first_out = (threading.Event() for _ in range(3))
    seen = {}

    def first():
        with shared_text_reads():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second():
        first_in.wait(10)
        with shared_text_reads(keep_parsed=[path]):
            kept = read_text(path, orientation="genes_by_cells")
            second_in.set()
            first_out.wait(10)
            seen["kept"] = read_text(path, orientation="genes_by_cells") is kept

    threads = [threading.Thread(target=f) for f in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"kept": True}
    one = read_text(path, orientation="genes_by_cells")
    assert read_text(path, orientation="genes_by_cells") is not one


def test_a_commands_reading_thread_shares_its_block(tmp_path, passes):
    """What :func:`~deepchem_actinn.io.prefetch.prefetch` reads ahead in
    its thread is read within the block of the command iterating it."""
    path = tmp_path / "counts.csv"
    path.write_text("gene,c1\nActb,3\nCd3e,0\n")

    def reads():
        for _ in range(3):
            yield list(text.text_row_names(path, "csv"))

    with shared_text_reads():
        names = list(prefetch(reads()))
    assert names == [["Actb", "Cd3e"]] * 3
    assert passes(path) == (1, 0)
