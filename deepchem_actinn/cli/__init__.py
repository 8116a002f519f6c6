"""The ``actinn`` command: format, train, predict, run, report, simulate,
demo, sample-data.

Argument parsing (:mod:`~deepchem_actinn.cli.parser`), progress and the
command's set-up (:mod:`~deepchem_actinn.cli.progress`) and one module per
command group (:mod:`~deepchem_actinn.cli.train`,
:mod:`~deepchem_actinn.cli.predict`, with the files it writes in
:mod:`~deepchem_actinn.cli.outputs`, its checks of the query in
:mod:`~deepchem_actinn.cli.query_checks` and its record in
:mod:`~deepchem_actinn.cli.record`, read back by
:mod:`~deepchem_actinn.cli.record_report`; :mod:`~deepchem_actinn.cli.report`,
:mod:`~deepchem_actinn.cli.misc`); the work is done by the annotator, the
readers and writers, the report and the simulator, through their public
names.

A problem with the user's input ends the command with one line on stderr
naming the file and the problem, exit code 2, and no output left behind;
Ctrl-C (SIGINT) and SIGTERM stop it the same way, with exit codes 130 and
143.
"""
import importlib
import logging
import os
import sys
import time
import zlib
from typing import Callable, List, Optional, Sequence

from deepchem_actinn.cli.common import CommandWords, speaking
from deepchem_actinn.cli.parser import build_parser, deprecation_warnings
from deepchem_actinn.cli.values import FORMAT_ALIASES
from deepchem_actinn.cli.progress import command_session, process_tag
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.signals import Terminated

logger = logging.getLogger("deepchem_actinn")

__all__ = ["main", "build_parser", "FORMAT_ALIASES"]

#: Command name -> "module:function" that runs it.
COMMANDS = {
    "format": "misc:cmd_format",
    "train": "train:cmd_train",
    "predict": "predict:cmd_predict",
    "run": "predict:cmd_run",
    "report": "report:cmd_report",
    "simulate": "misc:cmd_simulate",
    "demo": "misc:cmd_demo",
    "sample-data": "misc:cmd_sample_data",
}

#: Arguments naming input files, for messages about unreadable input.
_INPUTS = ("train_set", "train_label", "test_set", "model", "input",
           "predictions", "labels", "probabilities", "query", "over_clustering",
           "hierarchy")


def _command(name: str) -> Callable:
    module, function = COMMANDS[name].split(":")
    return getattr(importlib.import_module("deepchem_actinn.cli." + module),
                   function)


def _inputs(args) -> List[str]:
    """The input files the command was given, as ``-flag PATH``."""
    given = []
    for name in _INPUTS:
        value = getattr(args, name, None)
        if isinstance(value, str):
            given.append(value)
    return given


def _one_line(err: BaseException, args) -> str:
    """An error as one line that names the file."""
    if isinstance(err, ACTINNInputError):
        text = err.words(CommandWords.of(args))
    elif isinstance(err, OSError) and err.filename is not None:
        why = str(err.strerror or err)
        text = "%s: %s" % (err.filename, why[:1].lower() + why[1:])
        if err.filename2 is not None:
            text += " (%s)" % err.filename2
    else:
        text = "cannot read the input (%s: %s); inputs: %s" % (
            type(err).__name__, err, ", ".join(_inputs(args)) or "none")
    return " ".join(text.split())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The ``actinn`` command on ``argv``; returns the exit code (the
    console script, :func:`deepchem_actinn.__main__.run`, exits with it).

    Parameters
    ----------
    argv: sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for a problem with the input (one line on stderr),
        130 after Ctrl-C, 143 after SIGTERM.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.cli import main
    >>> out = os.path.join(tempfile.mkdtemp(), "sim.h5ad")
    >>> main(["simulate", "-o", out, "--cells", "20", "--genes", "30",
    ...       "--types", "2", "-q"])
    0
    """
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the record's
    prefix = "actinn %s%s" % (args.command, process_tag())
    try:
        with command_session(args.quiet, getattr(args, "threads", None)):
            for line in deprecation_warnings(args):
                logger.warning("%s", line)
            with speaking(args):
                _command(args.command)(args)
    except KeyboardInterrupt:
        print("%s: interrupted; no partial outputs were kept" % prefix,
              file=sys.stderr)
        return 130
    except Terminated:
        if not process_tag():  # process 0 speaks for a torchrun job
            print("%s: terminated; no partial outputs were kept" % prefix,
                  file=sys.stderr)
        return 143
    except (ACTINNInputError, OSError, UnicodeDecodeError, EOFError,
            zlib.error) as err:
        if process_tag():  # process 0 meets most errors too: let it say
            _wait_for_process_0()  # them (torchrun then stops this one)
        print("%s: error: %s" % (prefix, _one_line(err, args)), file=sys.stderr)
        return 2
    except RuntimeError as err:
        if not lost_peer(err):
            raise
        print("%s: error: another process of this torchrun job stopped or "
              "did not answer in time (%s), so this one cannot go on; its own "
              "message says why" %
              (prefix,
               next((words for words in LOST_PEER if words in str(err)),
                    type(err).__name__)),
              file=sys.stderr)
        return 1
    return 0


#: Seconds process N > 0 of a torchrun job waits, after an error, for
#: process 0 to meet it too and end the job. Processes start together but
#: need not reach the error together: on a loaded CI machine process 0 came
#: to it more than 2 s after process 1.
WAIT_FOR_PROCESS_0 = 15.0


def _wait_for_process_0() -> None:
    """Wait :data:`WAIT_FOR_PROCESS_0` seconds, ready to be stopped by
    torchrun without a word: SIGTERM ends this process at once (not the
    command's "terminated" line). An error process 0 does not meet is said
    by this process after the wait."""
    import signal
    import threading
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    time.sleep(WAIT_FOR_PROCESS_0)


def lost_peer(err: BaseException, world_size: Optional[int] = None) -> bool:
    """Whether ``err`` is PyTorch's report that another process of a
    torchrun job is gone (its connection closed or silent in a
    collective), rather than a fault of this process's own.

    Parameters
    ----------
    err: BaseException
        What the command raised.
    world_size: int, optional
        Processes in the job; by default torchrun's ``WORLD_SIZE``.

    Returns
    -------
    bool

    Examples
    --------
    >>> from deepchem_actinn.cli import lost_peer
    >>> gone = RuntimeError("[pair.cc:534] Connection closed by peer")
    >>> lost_peer(gone, world_size=2), lost_peer(gone, world_size=1)
    (True, False)
    >>> lost_peer(RuntimeError("out of memory"), world_size=2)
    False
    """
    if world_size is None:
        world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    return world_size > 1 and (type(err).__name__ == "DistNetworkError" or
                               any(words in str(err) for words in LOST_PEER))


#: What PyTorch's collectives say when another process is gone.
LOST_PEER = ("Connection closed by peer", "Connection reset by peer",
             "Broken pipe", "Timed out waiting")


def leave(code: int) -> None:
    """End the process with ``code``.

    A command that failed, or was stopped by Ctrl-C or SIGTERM, has
    already removed its partial outputs and said so; it then leaves at once
    (``os._exit``) instead of tearing the interpreter down around the
    computation it left (HDF5 files, PyTorch), a teardown that CI once saw
    end in SIGSEGV instead of exit code 143, and h5py did after a full disk
    instead of exit code 2. Success exits normally.
    """
    if code != 0:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
