"""The files ``actinn predict`` and ``actinn run`` write into ``-o``, in
publishing order (``predicted_label.txt`` last), and refusing to replace an
earlier prediction's without ``--overwrite``."""
import os
from pathlib import Path
from typing import List

from deepchem_actinn.errors import ACTINNInputError

#: Each cell's label (and confidence and the flags' columns).
LABEL_FILE = "predicted_label.txt"
#: With ``-op``: each type's probability of each cell (types x cells).
PROBABILITY_FILE = "predicted_probabilities.txt"
#: With ``--majority-voting``: each over-cluster and its majority type.
CLUSTER_FILE = "clusters.txt"
#: The record of how the labels were made (:mod:`deepchem_actinn.cli.record`).
RECORD_FILE = "prediction.json"


def output_names(args) -> List[str]:
    """The files this prediction writes, its record (``prediction.json``)
    among them, ``predicted_label.txt`` last."""
    names = []
    if args.output_probability:
        names.append(PROBABILITY_FILE)
    if args.majority_voting:
        names.append(CLUSTER_FILE)
    names += [RECORD_FILE, LABEL_FILE]
    return names


#: Every file a prediction may write, ``predicted_label.txt`` last.
ALL_OUTPUTS = [PROBABILITY_FILE, CLUSTER_FILE, RECORD_FILE, LABEL_FILE]


def outputs_to_replace(args, out_dir: Path) -> List[str]:
    """The files this prediction writes and, where ``out_dir`` holds an
    earlier prediction (its ``predicted_label.txt``, its
    ``predicted_probabilities.txt`` or its ``prediction.json``, names only
    predictions write), that one's other outputs, which this run does not
    write: replaced together (with ``--overwrite``; refused without it), so
    that a stale probabilities file, clusters table or record cannot pass
    for this run's. A directory without an earlier prediction keeps a
    ``clusters.txt`` (it is the user's)."""
    names = output_names(args)
    earlier = [
        n for n in (LABEL_FILE, PROBABILITY_FILE, RECORD_FILE)
        if os.path.lexists(out_dir / n)
    ]
    if earlier:
        names = [
            n for n in ALL_OUTPUTS if n in names or os.path.lexists(out_dir / n)
        ]
    return names


def refuse_outputs(args, out_dir: Path) -> None:
    """Refuse an output directory that is a file, or that already holds
    outputs this run would replace (without ``--overwrite``), and an input
    file (``--over-clustering``, ``--hierarchy``) that is one of them: the
    run would replace what it read, and its record would name the file it
    wrote as the one it used."""
    from deepchem_actinn.io.output import refuse_existing
    if out_dir.exists() and not out_dir.is_dir():
        raise ACTINNInputError("%s: exists and is not a directory (-o names "
                               "the output directory)" % out_dir)
    # the labels file first: the one the user knows this run writes
    names = sorted(outputs_to_replace(args, out_dir), key=LABEL_FILE.__ne__)
    written = {os.path.realpath(out_dir / n) for n in names}
    for flag in ("over_clustering", "hierarchy"):
        given = getattr(args, flag, None)
        if given and os.path.realpath(given) in written:
            raise ACTINNInputError(
                "%s: --%s names a file this prediction writes into %s; "
                "move it out of the output directory, or write elsewhere "
                "(-o)" % (given, flag.replace("_", "-"), out_dir))
    refuse_existing([out_dir / n for n in names], args.overwrite)
