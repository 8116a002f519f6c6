"""Small pieces the command groups share: the device, the main process,
the readers' orientation hints, matrix and value rule, and the command
line's words for the library's advice (:class:`CommandWords`, for the
file being read: :func:`file_role`)."""
import contextlib
import logging
from typing import Any, Dict, FrozenSet, Iterator, List, Optional, Sequence

from deepchem_actinn.errors import ANY, ACTINNInputError, Dialect

logger = logging.getLogger("deepchem_actinn")


def device(name: Optional[str]) -> Optional[str]:
    """Check a ``--device`` value; None stays None (CUDA when available).

    Raises
    ------
    ACTINNInputError
        If PyTorch does not know the name, or it names CUDA and PyTorch
        sees no GPU.
    """
    if name is None:
        return None
    from deepchem_actinn.models.device import usable_device
    try:
        usable_device(name)
    except ACTINNInputError as err:  # "device NAME: why", as the option
        raise ACTINNInputError("--%s" % err) from None
    return name


def is_main_process() -> bool:
    """False in every process but rank 0 of a ``torchrun`` job (True when
    not distributed), so that only one process writes outputs."""
    try:
        from deepchem_actinn.models import distributed
    except ImportError:
        import torch.distributed as dist
        return not (dist.is_available() and dist.is_initialized() and
                    dist.get_rank() != 0)
    return bool(distributed.is_main_process())


def value_options(args) -> Dict[str, Any]:
    """The readers' keyword for ``--allow-non-integer``: take non-integer
    values (TPM, FPKM) as counts on another scale.

    Examples
    --------
    >>> import argparse
    >>> from deepchem_actinn.cli.common import value_options
    >>> value_options(argparse.Namespace(allow_non_integer=True))
    {'allow_non_integer': True}
    """
    return {
        "allow_non_integer": bool(getattr(args, "allow_non_integer", False))
    }


#: ``--*-layer`` values that name no layer: ``X`` itself, and ``.raw.X``.
MATRIX_WORDS = {
    "X": dict(use_raw=False),
    ".raw": dict(use_raw=True),
    ".raw.X": dict(use_raw=True),
    "raw.X": dict(use_raw=True),
}


def matrix_options(value: Optional[str]) -> Dict[str, Any]:
    """The readers' ``layer=`` / ``use_raw=`` for a ``--train-layer``,
    ``--test-layer``, ``--query-layer`` or ``--input-layer`` value: a
    layer's name, ``.raw`` (``.raw.X``) or ``X`` (``X`` as it is); none when
    the option is not given (the readers then choose as
    :func:`deepchem_actinn.io.counts_source` does).

    Examples
    --------
    >>> from deepchem_actinn.cli.common import matrix_options
    >>> matrix_options("spliced"), matrix_options(".raw")
    ({'layer': 'spliced'}, {'use_raw': True})
    >>> matrix_options("X"), matrix_options(None)
    ({'use_raw': False}, {})
    """
    if value is None:
        return {}
    return dict(MATRIX_WORDS.get(value, {"layer": value}))


def settle_orientation(args, which: str, **hints: Sequence[str]) -> None:
    """Decide once which axis of a CSV/TSV reference (``which="train"``)
    or query (``"test"``) holds the genes, when ``--*-orientation`` is
    auto, and write the choice into ``args``: the readers after it then
    neither read the file's names again nor say the choice again.

    ``hints`` are ``expected_genes=`` or ``expected_cells=``, as in
    :func:`orientation_options`. Files of other formats, and an orientation
    given, are left as they are.
    """
    from deepchem_actinn.io.content import reading
    from deepchem_actinn.io.formats import FORMAT_WORDS, path_and_format
    from deepchem_actinn.io.text import SEPARATORS, text_orientation
    key = "%s_orientation" % which
    if getattr(args, key, "auto") != "auto":
        return
    with file_role(which):
        path, fmt = path_and_format(getattr(args, "%s_set" % which),
                                    getattr(args, "%s_format" % which))
        if fmt in SEPARATORS:
            options = orientation_options("auto", **hints)
            del options["orientation"]
            with reading(path, FORMAT_WORDS[fmt]):
                setattr(args, key, text_orientation(path, fmt, **options))


def orientation_options(
        orientation: str,
        expected_genes: Optional[Sequence[str]] = None,
        expected_cells: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Keyword arguments for the readers (:func:`deepchem_actinn.io.read`,
    ``read_var``, ``n_cells``, ``iter_cell_chunks``) saying how a CSV/TSV
    file is laid out: forced by ``--*-orientation``, or detected from the
    genes (or cell ids) the file should hold.

    Examples
    --------
    >>> from deepchem_actinn.cli.common import orientation_options
    >>> orientation_options("auto", expected_genes=["CD3E"])
    {'orientation': None, 'expected_genes': ['CD3E']}
    """
    options: Dict[str, Any] = {
        "orientation": None if orientation == "auto" else orientation
    }
    if expected_genes is not None:
        options["expected_genes"] = [str(g) for g in expected_genes]
    if expected_cells is not None:
        options["expected_cells"] = [str(c) for c in expected_cells]
    return options


#: The option that sets each parameter the library's advice names, for
#: each file a command reads (its role: ``train``, ``test``, ``query`` of
#: report, ``input`` of format; ``labels``, the labels file of train, run
#: and report); a parameter of no file under None.
OPTIONS: Dict[str, Dict[Optional[str], str]] = {
    "layer": {
        "train": "--train-layer",
        "test": "--test-layer",
        "query": "--query-layer",
        "input": "--input-layer"
    },
    "format": {
        "train": "--train-format",
        "test": "--test-format",
        "query": "--query-format",
        "input": "--format"
    },
    "orientation": {
        "train": "--train-orientation",
        "test": "--test-orientation"
    },
    "column": {
        "labels": "--labels-column"
    },
    "allow_non_integer": {
        None: "--allow-non-integer"
    },
    "overwrite": {
        None: "--overwrite"
    },
    "min_overlap": {
        None: "--min-overlap"
    },
    "labelled_only": {
        None: "--labelled-only"
    },
    "remove_ambient": {
        None: "--remove-ambient"
    },
}

#: Settings that are another option's value on the command line.
AS_OPTION_VALUE = {
    ("use_raw", True): ("layer", ".raw"),
    ("use_raw", False): ("layer", "X"),
}

#: The file each command reads, whose options its advice names unless a
#: read of another one says otherwise (:func:`file_role`: ``run`` reads
#: its reference as ``train``).
COMMAND_FILES = {
    "format": "input",
    "train": "train",
    "predict": "test",
    "run": "test",
    "report": "query",
}

#: How messages name the file of each role (:data:`COMMAND_FILES`).
ROLE_WORDS = {
    "train": "the reference",
    "test": "the query",
    "query": "the query",
    "input": "the input",
}


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


class CommandWords(Dialect):
    """The command line's words for the library's advice: the options of
    the file being read (``role``) that the running command has.

    Parameters
    ----------
    role: str, optional
        The file being read: ``"train"``, ``"test"``, ``"query"`` or
        ``"input"`` (:data:`OPTIONS`; an advice on the labels file says
        its own, ``"labels"``); when None, every file's option the command
        has is named.
    options: frozenset of str
        The running command's options (:meth:`of`).

    Examples
    --------
    >>> from deepchem_actinn.cli import build_parser
    >>> from deepchem_actinn.cli.common import CommandWords
    >>> from deepchem_actinn.errors import Advice, Placeholder
    >>> args = build_parser().parse_args(["run", "-trs", "r.h5ad", "-trl",
    ...                                   "l.txt", "-ts", "q.h5ad"])
    >>> words = CommandWords.of(args)  # reading the query, unless told
    >>> Advice(dict(use_raw=True)).words(words)
    'pass --test-layer .raw'
    >>> Advice(dict(layer="counts", allow_non_integer=True)).words(
    ...     words.for_role("train"))
    'pass --train-layer counts --allow-non-integer'
    >>> Advice(dict(column=Placeholder("NAME")), role="labels").words(words)
    'pass --labels-column NAME'
    """

    together = " "

    def __init__(self,
                 role: Optional[str] = None,
                 options: FrozenSet[str] = frozenset()):
        super().__init__(role)
        self.options = options

    @classmethod
    def of(cls, args) -> "CommandWords":
        """The words of the command ``args`` were parsed for, for the file
        it reads (:data:`COMMAND_FILES`)."""
        return cls(
            COMMAND_FILES.get(str(getattr(args, "command", ""))),
            frozenset(flag for flags in OPTIONS.values()
                      for flag in flags.values() if hasattr(args, _dest(flag))))

    def for_role(self, role: Optional[str]) -> "CommandWords":
        return self if role is None else CommandWords(role, self.options)

    def setting(self, name: str, value: Any,
                role: Optional[str]) -> Optional[str]:
        try:
            name, value = AS_OPTION_VALUE.get((name, value), (name, value))
        except TypeError:  # an unhashable value is no option's
            pass
        flags = OPTIONS.get(name, {})
        if None in flags:
            named = [flags[None]]
        elif role is not None:
            named = [flags[role]] if role in flags else []
        else:  # which file is not known: each one's option
            named = list(flags.values())
        named = [flag for flag in named if flag in self.options]
        if not named:
            return None
        if value is ANY or value is True:
            return " or ".join(named)
        value = "%g" % value if isinstance(value, float) else str(value)
        return " or ".join("%s %s" % (flag, value) for flag in named)

    def choices(self, said: Sequence[str]) -> Sequence[str]:
        """Each alternative once, without those an option named alone
        says already (``--test-layer`` says ``--test-layer .raw``)."""
        kept: List[str] = []
        for words in said:
            if words not in kept and not any(
                    words.startswith(other + " ") for other in said):
                kept.append(words)
        return kept

    def say(self, verb: str, said: str, python: Optional[str]) -> str:
        """The verb and the options, whatever Python's own words."""
        return super().say(verb, said, None)


#: The running command's words (set by :func:`speaking`) and the files
#: being read, innermost last (:func:`file_role`); shared by threads, as
#: a command's reading threads read its files.
_WORDS: List[CommandWords] = []
_ROLES: List[str] = []


@contextlib.contextmanager
def speaking(args) -> Iterator[None]:
    """Inside, the package's log records are said in the words of the
    command ``args`` were parsed for (:func:`current_words`)."""
    _WORDS.append(CommandWords.of(args))
    try:
        yield
    finally:
        _WORDS.pop()


def current_words() -> Optional[CommandWords]:
    """The running command's words, for the file being read; None outside
    a command."""
    if not _WORDS:
        return None
    return _WORDS[-1].for_role(_ROLES[-1] if _ROLES else None)


@contextlib.contextmanager
def file_role(role: str) -> Iterator[None]:
    """Inside, the command reads its ``role`` file (:data:`OPTIONS`): an
    :class:`~deepchem_actinn.errors.ACTINNInputError` raised is marked as
    that file's (unless a file read inside marked it first), and a record
    logged names that file's options.

    Examples
    --------
    >>> from deepchem_actinn.cli.common import file_role
    >>> from deepchem_actinn.errors import ACTINNInputError
    >>> try:
    ...     with file_role("test"):
    ...         raise ACTINNInputError("q.h5ad: no counts")
    ... except ACTINNInputError as err:
    ...     print(err.role)
    test
    """
    _ROLES.append(role)
    try:
        yield
    except ACTINNInputError as err:
        if err.role is None:
            err.role = role
        raise
    finally:
        _ROLES.pop()
