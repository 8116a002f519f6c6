"""The ``actinn`` command: the console script and ``python -m
deepchem_actinn`` alike.

Started by ``torchrun`` (``RANK`` and ``WORLD_SIZE`` > 1 in the
environment), either way, each process first joins the process group
(:func:`deepchem_actinn.models.distributed.init_from_env`) and leaves it
at the end, so ``actinn train`` trains one annotator with
``DistributedDataParallel`` and only process 0 writes.
"""
import os
import sys
import time
from typing import Optional

from deepchem_actinn.cli import WAIT_FOR_PROCESS_0, leave, main
# torchrun's rule without PyTorch: --help and --version stay fast
from deepchem_actinn.models.torchrun import \
    launched_by_torchrun as _launched_by_torchrun

#: The commands torchrun may start: their training is spread over its
#: processes, and process 0 alone writes. Others are refused under torchrun,
#: where each process would write the same outputs.
TRAINING_COMMANDS = ("train", "run")
_HELP = ("-h", "--help", "--version")


def run() -> None:
    """The ``actinn`` command, in a process group when torchrun started
    it. A process that fails leaves the group without waiting for the
    others (they may be waiting for it), so the job ends instead of
    hanging. Ctrl-C while the command starts (importing PyTorch, before it
    can say so itself) ends it at once with code 130, as later."""
    try:
        _run()
    except KeyboardInterrupt:
        print("actinn: interrupted", file=sys.stderr)
        leave(130)


def _run() -> None:
    if not _launched_by_torchrun():
        leave(main())
    from deepchem_actinn.models import distributed  # imports PyTorch
    # the top-level parser's only options (-h, --version) take no value
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if command not in TRAINING_COMMANDS and not set(_HELP) & set(sys.argv):
        if os.environ.get("RANK") == "0":
            print("actinn %s runs in one process; torchrun is for %s: run "
                  "it without torchrun%s" %
                  (command, " and ".join(TRAINING_COMMANDS),
                   " (to spread a query over machines: --scheduler)"
                   if command == "predict" else ""),
                  file=sys.stderr)
        else:  # torchrun stops process 0 as soon as another one ends
            time.sleep(WAIT_FOR_PROCESS_0)
        leave(2)
    first = os.environ.get("RANK", "0") == "0"
    done = _parsed(sys.argv[1:], quiet=not first)  # before the group waits
    if done is not None:  # for every process: process 0 shows the usage
        if done and not first:
            time.sleep(WAIT_FOR_PROCESS_0)
        leave(done)
    distributed.init_from_env()
    code = 1
    try:
        code = main()
    finally:
        # no barrier: a command that succeeds has passed its last
        # collective (after training), and process 0 may predict for longer
        # than any barrier would wait; one that fails must not hang the
        # others, which may be waiting for it in a collective
        distributed.teardown(wait=False)
    leave(code)


def _parsed(argv, quiet: bool) -> Optional[int]:
    """None when the command line parses; else the exit code, after
    argparse printed the help (0) or the usage and the error (2), unless
    ``quiet`` (in processes other than 0)."""
    import contextlib
    import io

    from deepchem_actinn.cli.parser import build_parser
    sink = io.StringIO()
    try:
        with contextlib.redirect_stderr(sink if quiet else sys.stderr), \
                contextlib.redirect_stdout(sink if quiet else sys.stdout):
            build_parser().parse_args(argv)
    except SystemExit as stop:
        return 0 if stop.code is None else int(stop.code)
    return None


if __name__ == "__main__":
    run()
