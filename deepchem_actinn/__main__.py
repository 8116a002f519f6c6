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

from deepchem_actinn.cli import leave, main
from deepchem_actinn.models import distributed

#: The commands whose training torchrun spreads over its processes.
TRAINING_COMMANDS = ("train", "run")
#: The commands refused under torchrun: they would run once per process,
#: each writing the same outputs.
ONE_PROCESS = ("predict", "format", "report", "simulate", "demo", "sample-data")


def run() -> None:
    """The ``actinn`` command, in a process group when torchrun started
    it. A process that fails leaves the group without waiting for the
    others (they may be waiting for it), so the job ends instead of
    hanging."""
    if not distributed.launched_by_torchrun():
        leave(main())
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if command in ONE_PROCESS:
        if os.environ.get("RANK") == "0":
            print("actinn %s runs in one process; torchrun is for the "
                  "commands that train (%s): run it without torchrun%s" %
                  (command, ", ".join(TRAINING_COMMANDS),
                   " (to spread a query over machines: --scheduler)"
                   if command == "predict" else ""),
                  file=sys.stderr)
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
