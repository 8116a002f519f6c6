"""``python -m deepchem_actinn`` runs the ``actinn`` command."""
import sys

from deepchem_actinn.cli import main

sys.exit(main())
