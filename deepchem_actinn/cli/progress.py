"""Progress bars, and what a command sets up and restores around its work.

:class:`Progress` is a tqdm bar on stderr (nothing with ``-q``).
:func:`command_session` configures the ``deepchem_actinn`` logger, PyTorch's
threads and the Ctrl-C and SIGTERM handlers for the length of one command, and puts
them back after, so that calling :func:`deepchem_actinn.cli.main` in a
Python process leaves that process as it was.
"""
import contextlib
import io
import logging
import os
import sys
import time
import warnings
from typing import Any, Iterator, Optional

from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.signals import raise_if_stopped, stop_on_signals

logger = logging.getLogger("deepchem_actinn")


class Progress:
    """A tqdm bar on stderr, or nothing when ``quiet`` or when stderr is
    not a terminal (a pipeline's log file would fill with its redraws).

    The bar is drawn at the first :meth:`update`, so that what is logged
    before any progress (reading the files, the gene filter) comes on lines
    of its own, not after an empty bar.

    Examples
    --------
    >>> from deepchem_actinn.cli.progress import Progress
    >>> bar = Progress(True, total=10)
    >>> bar.update(5, loss="0.1")
    >>> bar.close()
    """

    def __init__(self, quiet: bool, **kwargs: Any) -> None:
        self.bar: Any = None
        self.quiet = quiet
        self.kwargs = kwargs
        self.started = time.time()

    def update(self, n: int = 1, **postfix: Any) -> None:
        """Advance by ``n``, showing ``postfix`` beside the bar; a stop
        signal whose exception was swallowed is raised here again
        (:func:`deepchem_actinn.signals.raise_if_stopped`)."""
        raise_if_stopped()
        if self.bar is None and not self.quiet and _on_terminal():
            from tqdm.auto import tqdm
            self.bar = tqdm(file=sys.stderr, **self.kwargs)
            # the time and rate count from the start of the work
            self.bar.start_t = self.bar.last_print_t = self.started
        if self.bar is not None:
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(n)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()


def _on_terminal() -> bool:
    """Whether stderr is a terminal, where a bar redraws in place."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


@contextlib.contextmanager
def torch_threads(n: Optional[int]) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``n`` (unchanged when None), and
    restored after, so in-process callers keep their setting."""
    if n is None:
        yield
        return
    if n < 1:
        raise ACTINNInputError("--threads must be at least 1, got %d" % n)
    import torch
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


class _InCommandWords(logging.Filter):
    """Say a record's advice in the running command's words, for the file
    it is reading (:func:`~deepchem_actinn.cli.common.current_words`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from deepchem_actinn.cli.common import current_words
        from deepchem_actinn.errors import in_words
        words = current_words()
        if words is None:
            return True
        try:
            if isinstance(record.args, tuple):
                args = tuple(in_words(a, words) for a in record.args)
                message = record.msg % args if args else str(record.msg)
            else:
                message = record.getMessage()
        except (TypeError, ValueError):  # logging reports it as it is
            return True
        record.msg, record.args = message, ()
        return True


class _SayOnce(logging.Filter):
    """Let each message through once per command: a file is opened several
    times (its genes, its cells, its rows), and what is true of it need be
    said only once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def process_tag() -> str:
    """``" (process N)"`` in process N > 0 of a torchrun job, else ``""``:
    what the command's messages carry after ``actinn``, so that the lines
    of the other processes can be told from process 0's.

    Examples
    --------
    >>> import os
    >>> from deepchem_actinn.cli.progress import process_tag
    >>> "RANK" in os.environ or process_tag() == ""
    True
    """
    rank = os.environ.get("RANK", "0")
    several = os.environ.get("WORLD_SIZE", "1") not in ("", "0", "1")
    return " (process %s)" % rank if several and rank not in ("", "0") else ""


@contextlib.contextmanager
def package_logging(quiet: bool) -> Iterator[None]:
    """The package's messages as ``actinn: ...`` lines on stderr (warnings
    only with ``quiet``; each message once); DeepChem's import chatter off.
    In processes other than 0 of a torchrun job only errors are logged,
    tagged with the process (:func:`process_tag`): process 0 says what
    every process would say. The logger's handlers and level are restored
    after."""
    saved = (list(logger.handlers), logger.propagate, logger.level)
    # the writers write into hidden directories the command publishes at
    # the end; the command's summary names the published files instead
    writers = logging.getLogger("deepchem_actinn.io.writers")
    writers_level = writers.level
    writers.setLevel(logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    tag = process_tag()
    handler.setFormatter(logging.Formatter("actinn%s: %%(message)s" % tag))
    handler.addFilter(_InCommandWords())
    handler.addFilter(_SayOnce())
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(
        logging.ERROR if tag else logging.WARNING if quiet else logging.INFO)
    for name in ("deepchem", "rdkit", "tensorflow", "jax"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        yield
    finally:
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
        writers.setLevel(writers_level)


@contextlib.contextmanager
def command_session(quiet: bool, threads: Optional[int]) -> Iterator[None]:
    """Everything a command runs inside: logging, threads, SIGTERM, and
    library deprecation warnings and full-disk echoes silenced."""
    with package_logging(quiet), stop_on_signals(), \
            warnings.catch_warnings(), quiet_full_disk():
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        with torch_threads(threads):
            yield


@contextlib.contextmanager
def held_stderr() -> Iterator[None]:
    """What is printed to stderr inside, held back and then passed on,
    unless the block failed on a full disk: h5py then prints a traceback
    for each object it frees, and the command's one error that names the
    output says it all. For a command's own writes (one thread)."""
    from deepchem_actinn.io.output import is_full_disk
    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held):
            yield
    except BaseException as err:
        if not is_full_disk(err):
            sys.stderr.write(held.getvalue())
        raise
    sys.stderr.write(held.getvalue())


@contextlib.contextmanager
def quiet_full_disk() -> Iterator[None]:
    """Drop the "Exception ignored" tracebacks that h5py's objects print,
    one per object, as they are freed after a write failed on a full disk:
    the command says it once, naming the output
    (:func:`~deepchem_actinn.io.output.full_disk`)."""
    previous = sys.unraisablehook

    from deepchem_actinn.io.output import is_full_disk

    def hook(unraisable: Any) -> None:
        if not is_full_disk(unraisable.exc_value):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
