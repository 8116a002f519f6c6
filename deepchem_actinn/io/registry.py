"""The file formats the readers know, one entry each: :data:`REGISTRY`.

``actinn_h5``
    pandas HDF5 as used by the original ACTINN scripts: key ``dge``, a
    DataFrame of genes (rows) x cells (columns).
``10x_mtx``
    a Cell Ranger matrix directory: ``matrix.mtx[.gz]``, ``barcodes.tsv[.gz]``
    and ``genes.tsv`` (V2) or ``features.tsv.gz`` (V3).
``10x_h5``
    a Cell Ranger HDF5 file (V2 or V3 layout).
``h5ad``
    an AnnData file.
``csv`` / ``tsv``
    text, genes x cells: a header row of cell ids, then one row per gene
    starting with the gene name (``.csv``, ``.tsv`` or ``.txt``, optionally
    gzipped).

Everything the package says about a format is read from its entry: the
names :func:`~deepchem_actinn.io.detect_format` returns (:data:`FORMATS`),
the list of accepted formats in messages, the words messages use for a
format, the name endings that suggest it, the other names the ``actinn``
command takes for it (the original ACTINN script's ``-f`` values) and the
command's help. A new format is one entry here, its reader in a module of
its own, and its entry in :func:`~deepchem_actinn.io.read_format`'s
``READERS`` table (text formats share one reader).

This module imports nothing heavy, so that ``actinn --help`` (which lists
the formats) stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple


@dataclass(frozen=True)
class FileFormat:
    """One format the readers know, as every message and option names it.

    Examples
    --------
    >>> from deepchem_actinn.io.registry import REGISTRY
    >>> tsv = REGISTRY[-1]
    >>> tsv.name, tsv.words, tsv.aliases, tsv.separator
    ('tsv', 'a TSV matrix', ('txt',), '\\t')
    """

    #: The name :func:`~deepchem_actinn.io.detect_format` returns and
    #: ``format=`` takes.
    name: str
    #: The format in words, for messages (``"a CSV matrix"``).
    words: str
    #: Its note in the list of accepted formats; formats next to each other
    #: with the same note are named together (``csv / tsv (...)``).
    help: str
    #: What its files hold by their first bytes: ``"hdf5"`` or ``"text"``.
    holds: str
    #: Other names the ``actinn`` command takes for it (the original ACTINN
    #: script's ``-f`` values), spelled as its help shows them; any case
    #: is accepted.
    aliases: Tuple[str, ...] = ()
    #: Name endings (before a ``.gz``) that say a file is in this format.
    suffixes: Tuple[str, ...] = ()
    #: What a file with one of those endings is, for messages (``"a CSV
    #: file"``).
    suffix_words: str = ""
    #: Whether it may be a directory, the format's files found inside.
    directory: bool = False
    #: A text table's field separator (CSV / TSV); None for other formats.
    separator: Optional[str] = None


_TABLE_HELP = "genes x cells text: .csv, .tsv, .txt, optionally .gz"

#: Every format the readers know, in the order messages list them.
REGISTRY: Tuple[FileFormat, ...] = (
    FileFormat("actinn_h5",
               words="an ACTINN (pandas) HDF5 file",
               help="pandas HDF5 .h5, key 'dge', genes x cells",
               holds="hdf5",
               aliases=("h5",)),
    FileFormat("10x_mtx",
               words="a 10x matrix directory",
               help="directory with matrix.mtx[.gz], barcodes.tsv[.gz] and "
               "genes.tsv[.gz] or features.tsv[.gz]",
               holds="text",
               aliases=("10X_V2", "10X_V3"),
               suffixes=(".mtx",),
               suffix_words="a Matrix Market file",
               directory=True),
    FileFormat("10x_h5",
               words="a 10x HDF5 file",
               help="Cell Ranger .h5",
               holds="hdf5"),
    FileFormat("h5ad",
               words="an h5ad file",
               help="AnnData",
               holds="hdf5",
               suffixes=(".h5ad",),
               suffix_words="an h5ad file"),
    FileFormat("csv",
               words="a CSV matrix",
               help=_TABLE_HELP,
               holds="text",
               suffixes=(".csv",),
               suffix_words="a CSV file",
               separator=","),
    FileFormat("tsv",
               words="a TSV matrix",
               help=_TABLE_HELP,
               holds="text",
               aliases=("txt",),
               suffixes=(".tsv",),
               suffix_words="a TSV file",
               separator="\t"),
)

#: Each format's entry, by its name.
BY_NAME: Dict[str, FileFormat] = {f.name: f for f in REGISTRY}
#: The formats :func:`~deepchem_actinn.io.detect_format` tells apart.
FORMATS = tuple(BY_NAME)
#: Each format in words, for messages.
FORMAT_WORDS = {f.name: f.words for f in REGISTRY}
#: Every name a format goes by, lower-case: its own and its aliases.
FORMAT_NAMES = {
    name.lower(): f.name for f in REGISTRY for name in (f.name,) + f.aliases
}
#: The field separator of each text format.
SEPARATORS = {f.name: f.separator for f in REGISTRY if f.separator}


def listed(notes: Iterable[Tuple[str, str]]) -> str:
    """Formats and their notes as one line, ``name (note)`` each; formats
    next to each other with the same note are named together.

    Examples
    --------
    >>> from deepchem_actinn.io.registry import listed
    >>> listed([("h5ad", "AnnData"), ("csv", "text"), ("tsv", "text"),
    ...         ("10x_h5", "")])
    'h5ad (AnnData), csv / tsv (text), 10x_h5'
    """
    groups: List[Tuple[List[str], str]] = []
    for name, note in notes:
        if note and groups and groups[-1][1] == note:
            groups[-1][0].append(name)
        else:
            groups.append(([name], note))
    return ", ".join(" / ".join(names) + (" (%s)" % note if note else "")
                     for names, note in groups)


#: The accepted formats, for messages.
FORMAT_HELP = listed((f.name, f.help) for f in REGISTRY)
