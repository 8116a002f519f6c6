"""``python -m deepchem_actinn`` runs the ``actinn`` command.

Started by ``torchrun`` (``RANK`` and ``WORLD_SIZE`` > 1 in the
environment), each process first joins the process group
(:func:`deepchem_actinn.models.distributed.init_from_env`) and leaves it
cleanly at the end, so ``actinn train`` trains one annotator with
``DistributedDataParallel``.
"""
from deepchem_actinn.cli import leave, main
from deepchem_actinn.models import distributed

if distributed.launched_by_torchrun():
    distributed.init_from_env()
    try:
        code = main()
    finally:
        distributed.teardown()
    leave(code)
leave(main())
