"""The one home of the file formats (``io/registry.py``): every list of
formats, every name the command line takes for one and the words messages
use are read from it."""
import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.io import FORMATS, detect_format
from deepchem_actinn.io import formats, readers, registry
from deepchem_actinn.cli import values

ROOT = Path(__file__).resolve().parents[1]
NAMES = [f.name for f in registry.REGISTRY]


def test_formats_are_the_registry_s_names_in_its_order():
    assert FORMATS == ("actinn_h5", "10x_mtx", "10x_h5", "h5ad", "csv", "tsv")
    assert list(FORMATS) == NAMES
    assert formats.FORMATS is registry.FORMATS
    assert list(formats.FORMAT_WORDS) == NAMES
    assert formats.FORMAT_WORDS["10x_mtx"] == "a 10x matrix directory"
    assert len(set(NAMES)) == len(NAMES)


def test_every_name_the_command_takes_is_a_registry_format():
    assert values.FORMAT_ALIASES["auto"] is None
    others = {k: v for k, v in values.FORMAT_ALIASES.items() if k != "auto"}
    assert others == {
        "actinn_h5": "actinn_h5",
        "h5": "actinn_h5",
        "10x_mtx": "10x_mtx",
        "10x_v2": "10x_mtx",
        "10x_v3": "10x_mtx",
        "10x_h5": "10x_h5",
        "h5ad": "h5ad",
        "csv": "csv",
        "tsv": "tsv",
        "txt": "tsv",
    }
    assert set(others.values()) == set(FORMATS)
    for f in registry.REGISTRY:
        for name in (f.name,) + f.aliases:
            assert values.format_name(name) == f.name
            assert values.format_name(name.upper()) == f.name
    assert values.format_name("Auto") is None


def test_no_name_is_taken_by_two_formats():
    taken = [
        n.lower() for f in registry.REGISTRY for n in (f.name,) + f.aliases
    ]
    assert len(taken) == len(set(taken)) == len(registry.FORMAT_NAMES)


def test_an_unknown_format_lists_the_names_the_command_takes():
    with pytest.raises(argparse.ArgumentTypeError) as err:
        values.format_name("xls")
    assert str(err.value) == (
        "unknown format 'xls'; choose from 10x_h5, 10x_mtx, 10x_v2, 10x_v3, "
        "actinn_h5, auto, csv, h5, h5ad, tsv, txt")


def test_the_messages_list_every_format_as_before():
    assert formats.FORMAT_HELP == (
        "actinn_h5 (pandas HDF5 .h5, key 'dge', genes x cells), "
        "10x_mtx (directory with matrix.mtx[.gz], barcodes.tsv[.gz] and "
        "genes.tsv[.gz] or features.tsv[.gz]), "
        "10x_h5 (Cell Ranger .h5), h5ad (AnnData), "
        "csv / tsv (genes x cells text: .csv, .tsv, .txt, optionally .gz)")


def test_an_unknown_format_given_lists_every_format(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("gene,c1\nActb,2\n")
    with pytest.raises(ACTINNInputError) as err:
        formats.path_and_format(path, "xls")
    assert str(
        err.value) == "%s: unknown format 'xls'; accepted formats: %s" % (
            path, registry.FORMAT_HELP)
    for name in FORMATS:
        assert name in str(err.value)


def test_the_options_help_names_every_format_and_alias():
    assert values.FORMAT_CHOICES == (
        "actinn_h5 (or h5), 10x_mtx (or 10X_V2, 10X_V3: a 10x matrix "
        "directory), 10x_h5, h5ad, csv, tsv (or txt); detected from the file "
        "when omitted")
    for f in registry.REGISTRY:
        for name in (f.name,) + f.aliases:
            assert name in values.FORMAT_CHOICES


def test_listed_names_formats_with_one_note_together():
    assert registry.listed([("a", "x"), ("b", "y"), ("c", "y"), ("d", ""),
                            ("e", ""), ("f", "x")]) == \
        "a (x), b / c (y), d, e, f (x)"
    assert registry.listed([]) == ""


def test_every_format_has_a_reader():
    assert set(readers.READERS) | set(registry.SEPARATORS) == set(FORMATS)
    assert not set(readers.READERS) & set(registry.SEPARATORS)
    assert registry.SEPARATORS == {"csv": ",", "tsv": "\t"}


def test_every_format_is_described_in_the_registry_s_docstring():
    for name in FORMATS:
        assert "``%s``" % name in registry.__doc__, name


@pytest.mark.parametrize("f", [f for f in registry.REGISTRY if f.suffixes],
                         ids=lambda f: f.name)
def test_a_registry_suffix_names_its_format(tmp_path, caplog, f):
    """A file named with a format's ending but holding something else is
    read by its content, the warning saying what its name promised."""
    for suffix in f.suffixes:
        for name in ("counts" + suffix, "counts" + suffix.upper() + ".gz"):
            assert formats._format_by_name(Path(name)) == f.name
    other = "csv" if f.name != "csv" else "tsv"
    path = tmp_path / ("counts" + f.suffixes[0])
    path.write_text("gene%sc1\nActb%s2\n" % ((registry.SEPARATORS[other],) * 2))
    if f.name == "10x_mtx":  # a lone matrix.mtx is taken for the matrix
        assert detect_format(path) == "10x_mtx"
        return
    caplog.clear()
    assert detect_format(path) == other
    assert "named like %s" % f.suffix_words in caplog.text


def test_a_file_format_given_for_a_directory_is_refused(tmp_path):
    for f in registry.REGISTRY:
        if f.directory:
            continue
        with pytest.raises(ACTINNInputError,
                           match="format=%r needs a file, not a directory" %
                           f.name):
            formats.path_and_format(tmp_path, f.name)


def test_the_command_line_reads_the_registry_without_heavy_imports():
    """``actinn --help`` lists the formats: the registry it reads them from
    loads neither h5py nor anndata."""
    run = subprocess.run([
        sys.executable, "-c", "import sys, deepchem_actinn.cli.values\n"
        "print(sorted({'h5py', 'anndata', 'pandas', 'scipy'} & "
        "set(sys.modules)))"
    ],
                         capture_output=True,
                         text=True,
                         cwd=ROOT,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
