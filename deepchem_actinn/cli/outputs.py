"""The files ``actinn predict`` and ``actinn run`` write into ``-o``, in
publishing order (``predicted_label.txt`` last), and refusing to replace an
earlier prediction's without ``--overwrite``; and the check every command's
output folder to create (``-o``, or ``-m`` for an annotator) passes first:
not named like a data file."""
import os
from pathlib import Path
from typing import List, Sequence, Set, Tuple

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


#: The files ``predict`` and ``run`` read, by attribute, and their flags.
INPUT_FLAGS = (
    ("test_set", "-ts"),
    ("train_set", "-trs"),
    ("train_label", "-trl"),
    ("over_clustering", "--over-clustering"),
    ("hierarchy", "--hierarchy"),
)


def refuse_inputs_among(args, flags: Sequence[Tuple[str, str]],
                        written: Set[str], out_dir: Path, writer: str) -> None:
    """Refuse an input file, ``args``' attribute of one of ``flags``
    (``(attribute, flag)`` pairs), that is among the files ``written``
    (real paths) into ``out_dir``: ``--overwrite`` would replace what the
    command read.

    Examples
    --------
    >>> import argparse, os
    >>> from pathlib import Path
    >>> from deepchem_actinn.cli.outputs import refuse_inputs_among
    >>> args = argparse.Namespace(labels="out/summary.txt")
    >>> written = {os.path.realpath("out/report.html")}
    >>> refuse_inputs_among(args, [("labels", "-l")], written, Path("out"),
    ...                     "the report")
    >>> written.add(os.path.realpath("out/summary.txt"))
    >>> refuse_inputs_among(args, [("labels", "-l")], written, Path("out"),
    ...                     "the report")
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: out/summary.txt: -l names a file the report writes into out; move it out of the output directory, or write elsewhere (-o)
    """
    for dest, flag in flags:
        given = getattr(args, dest, None)
        if isinstance(given, (str, os.PathLike)) and \
                os.path.realpath(given) in written:
            raise ACTINNInputError(
                "%s: %s names a file %s writes into %s; move it out of the "
                "output directory, or write elsewhere (-o)" %
                (given, flag, writer, out_dir))


def refuse_outputs(args, out_dir: Path) -> None:
    """Refuse an output directory that is a file, or that already holds
    outputs this run would replace (without ``--overwrite``), and an input
    file (the query, ``run``'s reference and labels, ``--over-clustering``,
    ``--hierarchy``) that is one of them: the run would replace what it
    read (with ``--overwrite``), and its record would name the file it
    wrote as the one it used."""
    from deepchem_actinn.io.output import refuse_existing
    if out_dir.exists() and not out_dir.is_dir():
        raise ACTINNInputError("%s: exists and is not a directory (-o names "
                               "the output directory)" % out_dir)
    # the labels file first: the one the user knows this run writes
    names = sorted(outputs_to_replace(args, out_dir), key=LABEL_FILE.__ne__)
    written = {os.path.realpath(out_dir / n) for n in names}
    refuse_inputs_among(args, INPUT_FLAGS, written, out_dir, "this prediction")
    refuse_existing([out_dir / n for n in names], args.overwrite)


def _same_or_inside(path: Path, directory: Path) -> bool:
    """Whether ``path`` is ``directory`` or lies inside it (links followed;
    the same file where both exist, as a file system that ignores case
    sees it), whether or not ``path`` exists yet."""
    target = Path(os.path.realpath(directory))
    here = Path(os.path.realpath(path))
    for candidate in (here, *here.parents):
        if candidate == target:
            return True
        if candidate.exists() and target.exists() and \
                os.path.samefile(candidate, target):
            return True
    return False


def refuse_output_in_model(args, out_dir: Path) -> None:
    """Refuse an output directory (``-o``) that is the annotator's
    directory (``-m``: the one ``predict`` reads, the one ``run`` saves
    in) or lies inside it: the predictions would be left among the
    annotator's files, which no later ``train`` or ``run -m`` could then
    replace (``--overwrite`` replaces only an annotator). A ``-m`` of
    ``predict`` that holds no annotator is left to loading it, which says
    so.

    Examples
    --------
    >>> import argparse
    >>> from pathlib import Path
    >>> from deepchem_actinn.cli.outputs import refuse_output_in_model
    >>> run = argparse.Namespace(save_model="m")
    >>> refuse_output_in_model(run, Path("out"))
    >>> refuse_output_in_model(run, Path("m/out"))
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: -o m/out is inside the annotator's directory (-m m): write the predictions in a directory of their own
    """
    from deepchem_actinn.annotator.persistence import CONFIG_FILE
    saves = hasattr(args, "save_model")  # run; predict reads -m
    model = args.save_model if saves else getattr(args, "model", None)
    if model is None or not _same_or_inside(out_dir, Path(model)):
        return
    if not saves and not (Path(model) / CONFIG_FILE).is_file():
        return
    same = _same_or_inside(Path(model), out_dir)
    raise ACTINNInputError(
        "-o %s %s the annotator's directory (-m %s): write the predictions "
        "in a directory of their own" %
        (out_dir, "is" if same else "is inside", model))


#: Endings of data files (lower-case): a folder ``-o`` or ``-m`` is to
#: create is not named so, unless the user says it is a folder (``NAME/``).
FILE_SUFFIXES = frozenset(
    (".csv", ".tsv", ".txt", ".tab", ".h5ad", ".h5", ".hdf5", ".loom", ".mtx",
     ".json", ".html", ".htm", ".xlsx", ".xls", ".gz", ".bz2", ".xz", ".zip",
     ".tar", ".tgz", ".pkl", ".pickle", ".pt", ".pth", ".npy", ".npz", ".rds",
     ".png", ".pdf", ".svg"))


def refuse_file_like_folder(flag: str, path: str) -> None:
    """Refuse a folder to create (``-o`` of predict, run, report and demo,
    ``-m`` of train and run) named like a data file (``preds.csv``), where
    the user most likely meant a file and would find a folder of that name:
    before any work. A name given with a trailing ``/`` is taken as it is,
    and one that exists is left to the command's other checks (a folder of
    that name is used; a file, refused as such).

    Examples
    --------
    >>> from deepchem_actinn.cli.outputs import refuse_file_like_folder
    >>> refuse_file_like_folder("-o", "results")
    >>> refuse_file_like_folder("-o", "preds.csv/")
    >>> refuse_file_like_folder("-o", "preds.csv")
    Traceback (most recent call last):
    ...
    deepchem_actinn.errors.ACTINNInputError: -o preds.csv names a folder to create, and the name looks like a file's (.csv): name a folder (the files are written inside it), or end the name with / to create it as given
    """
    given = os.fspath(path)
    suffix = Path(given).suffix
    if (suffix.lower() not in FILE_SUFFIXES or given.endswith(("/", os.sep)) or
            os.path.exists(given)):
        return
    raise ACTINNInputError(
        "%s %s names a folder to create, and the name looks like a file's "
        "(%s): name a folder (the files are written inside it), or end the "
        "name with / to create it as given" % (flag, given, suffix))
