"""The ``actinn`` argument parser: every command and flag, nothing else.

``actinn run`` keeps the flags of the original ``actinn_predict.py`` (short
and long forms, ``-op True`` as well as a bare ``-op``), so existing scripts
port by changing the command name. Every multi-word long flag is taken with
``_`` as well as ``-`` between its words (``--majority_voting``, as the
original's ``--train_set``), and only in full: no command takes a flag
cut short, which argparse would otherwise read as the one flag it begins
(CellTypist's ``--mode`` as ``--model``, ``-t`` as ``-ts``):
``cli/full_flags.py``. The groups of flags several commands share (the
reference and training settings, the query with its Unassigned rule and
voting, ...) are in ``cli/shared_flags.py``; this module builds each
command from them and its own flags.
"""
import argparse
from typing import List

from deepchem_actinn._version import __version__
from deepchem_actinn.cli.full_flags import (FullFlagParser,
                                            spell_with_underscores)
from deepchem_actinn.cli.shared_flags import (add_common, add_device,
                                              add_epochs, add_labels_column,
                                              add_layer, add_linear_weight,
                                              add_networks, add_prediction,
                                              add_training, add_values)
from deepchem_actinn.cli.values import (FORMAT_CHOICES, format_name, boolean,
                                        positive_int, seed_value)


class Deprecated(argparse.Action):
    """An old spelling of an option, still taken (its value stored as the
    new one's, ``instead``) and noted in ``args.deprecated``, for the
    command to warn about (:func:`deprecation_warnings`); ``why`` says why
    it went."""

    def __init__(self, option_strings, dest, instead: str, why: str,
                 **kwargs) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.instead = instead
        self.why = why

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        said = list(getattr(namespace, "deprecated", []))
        namespace.deprecated = said + [
            "%s %s is deprecated (%s): use %s; %s will be removed" %
            (parser.prog.split()[-1], option_string, self.why, self.instead,
             option_string)
        ]


def deprecation_warnings(args: argparse.Namespace) -> List[str]:
    """What to say about the old spellings of options ``args`` was given
    with (:class:`Deprecated`).

    Examples
    --------
    >>> from deepchem_actinn.cli.parser import (build_parser,
    ...                                         deprecation_warnings)
    >>> deprecation_warnings(build_parser().parse_args(
    ...     ["report", "-p", "predicted_label.txt", "-op", "probs.txt",
    ...      "-o", "report"]))
    ['report -op is deprecated (predict and run take -op for yes or no): use -pr FILE (--probabilities FILE); -op will be removed']
    """
    return list(getattr(args, "deprecated", []))


def _add_commands(sub) -> None:
    p = _command(sub,
                 "format",
                 help="convert counts to the ACTINN HDF5 "
                 "layout (or .h5ad), as actinn_format.py did")
    p.add_argument("-i", "--input", required=True, help="input counts")
    p.add_argument("-o",
                   "--output",
                   required=True,
                   help="output prefix: writes PREFIX.h5 (and/or .h5ad); "
                   "a name ending in .h5 or .h5ad is the file itself")
    p.add_argument("-f",
                   "--format",
                   type=format_name,
                   default=None,
                   metavar="FORMAT",
                   help="input format: " + FORMAT_CHOICES)
    p.add_argument("--to",
                   choices=["actinn_h5", "h5ad", "both"],
                   default=None,
                   help="output format (actinn_h5, or h5ad for -o "
                   "NAME.h5ad); an h5ad keeps the genes as the input spells "
                   "them, ACTINN's layout upper-cases them unless "
                   "--keep-gene-case")
    add_layer(p, "--input-layer", "input")
    add_values(p)
    add_common(p, threads=False)

    p = _command(sub, "train", help="train an annotator and save it")
    add_training(p)
    p.add_argument("-m",
                   "--model",
                   required=True,
                   help="directory to save the annotator in")
    add_device(p)
    add_values(p)
    add_common(p, trains_from_disk=True)

    p = _command(sub,
                 "predict",
                 help="annotate a query with a saved "
                 "annotator")
    p.add_argument("-m",
                   "--model",
                   required=True,
                   help="annotator directory (from actinn train)")
    add_prediction(p)
    add_device(p)
    add_values(p)
    add_common(p)

    p = _command(sub,
                 "run",
                 help="train and predict in one step, as "
                 "actinn_predict.py did")
    add_training(p)
    p.add_argument("-pc",
                   "--print_cost",
                   "--print-cost",
                   type=boolean,
                   nargs="?",
                   const=True,
                   default=True,
                   help="show the training progress bar and its cost (the "
                   "default; -pc False hides them)")
    p.add_argument("--all-reference-genes",
                   action="store_true",
                   help="train on every reference gene; by default only on "
                   "those the query measures, as the original ACTINN does, "
                   "so the networks do not rely on genes the query lacks")
    p.add_argument("-m",
                   "--model",
                   dest="save_model",
                   default=None,
                   metavar="MODEL",
                   help="also save the trained annotator in this directory, "
                   "for actinn predict on more queries (trained on this "
                   "query's genes unless --all-reference-genes)")
    add_prediction(p)
    add_device(p)
    add_values(p)
    add_common(p, trains_from_disk=True)


def _add_tools(sub) -> None:
    p = _command(sub,
                 "report",
                 help="figures and an HTML page from "
                 "predictions")
    p.add_argument("-p",
                   "--predictions",
                   required=True,
                   help="predicted_label.txt from predict or run, or the "
                   "directory they wrote it in")
    p.add_argument("-l",
                   "--labels",
                   default=None,
                   help="true labels, to score: a file of cell id <TAB> "
                   "cell type lines (or CSV), a table with --labels-column, "
                   "or the name of an obs column of the --query h5ad")
    add_labels_column(p, "-l")
    p.add_argument("--labelled-only",
                   action="store_true",
                   help="report on the labelled cells only when -l labels "
                   "some of the predicted cells (by default every cell "
                   "needs a label)")
    p.add_argument("-m",
                   "--model",
                   default=None,
                   help="annotator directory, for its training curves")
    p.add_argument("-pr",
                   "--probabilities",
                   default=None,
                   metavar="FILE",
                   help="predicted_probabilities.txt: the confidence of "
                   "predictions without a confidence column (the original "
                   "ACTINN's; else the file beside them); with one, only "
                   "checked to go with them")
    p.add_argument(
        "-op",  # predict's and run's -op is a yes/no flag
        dest="probabilities",
        action=Deprecated,
        instead="-pr FILE (--probabilities FILE)",
        why="predict and run take -op for yes or no",
        help=argparse.SUPPRESS)
    p.add_argument("--use-as-prediction",
                   default="celltype",
                   choices=("celltype", "majority_voting"),
                   help="the predictions' column to report: each cell's own "
                   "label (default) or the label after --majority-voting, "
                   "as CellTypist's use_as_prediction")
    p.add_argument("--query",
                   default=None,
                   metavar="FILE",
                   help="the query's counts (any readable format), for the "
                   "UMAP (drawn when scanpy is installed)")
    p.add_argument("--query-format",
                   type=format_name,
                   default=None,
                   metavar="FORMAT",
                   help="force the --query file's format: " + FORMAT_CHOICES)
    add_layer(p, "--query-layer", "--query file")
    p.add_argument("-o",
                   "--output",
                   required=True,
                   help="report directory: writes report.html, its PNG "
                   "figures, summary.txt (metric <TAB> value) and, with -l, "
                   "per_type_metrics.txt")
    add_values(p)
    add_common(p)

    p = _command(sub,
                 "simulate",
                 help="write a synthetic labelled "
                 "dataset (.h5ad) for tests and benchmarks")
    p.add_argument("-o", "--output", required=True, help="output .h5ad")
    p.add_argument("--cells",
                   type=positive_int,
                   default=10_000,
                   help="cells to simulate (10,000)")
    p.add_argument("--genes",
                   type=positive_int,
                   default=20_000,
                   help="genes (20,000)")
    p.add_argument("--types",
                   type=positive_int,
                   default=10,
                   help="cell types (10)")
    p.add_argument("--density",
                   type=float,
                   default=0.065,
                   help="share of non-zero counts, in (0, 1) (0.065: about "
                   "1,300 genes detected per cell of 20,000)")
    p.add_argument("--seed",
                   type=seed_value,
                   default=0,
                   help="random seed; the same seed and settings give the "
                   "same file (0)")
    p.add_argument("--labels",
                   default=None,
                   help="also write the labels to this file")
    add_common(p, genes=False, threads=False)

    p = _command(sub,
                 "demo",
                 help="train on the bundled Tabula Muris "
                 "sample, predict its test set and score it")
    p.add_argument("-o",
                   "--output",
                   default="actinn_demo_output",
                   help="output directory (actinn_demo_output)")
    p.add_argument("--seed",
                   type=seed_value,
                   default=None,
                   help="seed of the training (default: the annotator's, "
                   "0)")
    add_epochs(p)
    add_networks(p)
    add_linear_weight(p)
    add_device(p)
    add_common(p)

    p = _command(sub,
                 "sample-data",
                 help="copy the bundled Tabula Muris training "
                 "and test files into a directory and print the "
                 "actinn commands to try on them")
    p.add_argument("directory", help="where to copy the files (created)")
    add_common(p, genes=False, threads=False)


def _command(sub, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand whose own ``--help`` opens with its one-line summary."""
    return sub.add_parser(name,
                          help=help,
                          description=help[0].upper() + help[1:] + ".")


def build_parser() -> argparse.ArgumentParser:
    """The ``actinn`` argument parser.

    Examples
    --------
    >>> from deepchem_actinn.cli import build_parser
    >>> args = build_parser().parse_args(
    ...     ["predict", "-m", "model", "-ts", "query.h5ad", "--device",
    ...      "cpu", "--majority-voting"])
    >>> args.command, args.device, args.majority_voting
    ('predict', 'cpu', True)
    """
    parser = FullFlagParser(
        prog="actinn",
        description="ACTINN automated cell-type identification for "
        "scRNA-seq counts (deepchem-actinn %s)." % __version__,
        epilog="New here? `actinn demo` trains on the bundled Tabula Muris "
        "sample and scores its test set; `actinn sample-data DIR` copies "
        "those files and prints the commands to try on them. Each "
        "command's --help lists its options, each taken in full only; "
        "a multi-word one with _ or - between its words.")
    parser.add_argument("--version",
                        action="version",
                        version="deepchem-actinn %s" % __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_commands(sub)
    _add_tools(sub)
    for command in sub.choices.values():
        spell_with_underscores(command)
    return parser
