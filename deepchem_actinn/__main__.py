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

from deepchem_actinn.cli import leave, main

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
    from deepchem_actinn.models import distributed  # imports PyTorch
    if not distributed.launched_by_torchrun():
        leave(main())
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
            time.sleep(2)
        leave(2)
    distributed.init_from_env()
    code = 1
    try:
        code = main()
    finally:
        distributed.teardown(wait=code == 0)
    leave(code)


if __name__ == "__main__":
    run()
