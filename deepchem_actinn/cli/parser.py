"""The ``actinn`` argument parser: every command and flag, nothing else.

``actinn run`` keeps the flags of the original ``actinn_predict.py`` (short
and long forms, ``-op True`` as well as a bare ``-op``), so existing scripts
port by changing the command name. Every multi-word long flag is taken with
``_`` as well as ``-`` between its words (``--majority_voting``, as the
original's ``--train_set``), and only in full: no command takes a flag
cut short, which argparse would otherwise read as the one flag it begins
(CellTypist's ``--mode`` as ``--model``, ``-t`` as ``-ts``):
``cli/full_flags.py``.
"""
import argparse
from typing import List

from deepchem_actinn._version import __version__
from deepchem_actinn.cli.full_flags import (FullFlagParser,
                                            spell_with_underscores)
from deepchem_actinn.cli.values import (FORMAT_CHOICES, ORIENTATIONS,
                                        format_name, boolean, overlap_share,
                                        probability, linear_weight,
                                        positive_int, positive_float,
                                        seed_value)


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


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device",
                   default=None,
                   help="where PyTorch computes: cpu, cuda, cuda:1 ... "
                   "(default: CUDA when PyTorch sees a GPU, else the CPU)")


def _add_linear_weight(p: argparse.ArgumentParser) -> None:
    p.add_argument("--linear-weight",
                   type=linear_weight,
                   default=None,
                   metavar="W",
                   help="average the networks with a logistic regression on "
                   "the same scaled values, W of it (default: the "
                   "annotator's, 0.5; 0: the "
                   "networks alone, as ACTINN)")


def _add_epochs(p: argparse.ArgumentParser) -> None:
    p.add_argument("-ne",
                   "--num_epochs",
                   "--num-epochs",
                   type=positive_int,
                   default=None,
                   help="train exactly this many epochs, as the original "
                   "(the held-out 10%% still calibrates and fits the "
                   "Unassigned rule, so the networks learn from 90%%); by "
                   "default early stopping on that 10%% decides")


def _add_networks(p: argparse.ArgumentParser) -> None:
    p.add_argument("--networks",
                   type=positive_int,
                   default=None,
                   help="networks in the ensemble (default: the "
                   "annotator's, 3); 1: one network, as "
                   "the original (README, Defaults: what else differs)")


def _add_labels_column(p: argparse.ArgumentParser, flag: str) -> None:
    p.add_argument("--labels-column",
                   "--labels_column",
                   default=None,
                   metavar="NAME",
                   help="%s is a table with a header (CSV or TSV, e.g. R's "
                   "write.csv(obj@meta.data) or Tabula Muris' "
                   "annotations_facs.csv): its first column holds the cell "
                   "ids and column NAME the cell types (cells with no value "
                   "there are unlabelled)" % flag)


def _add_training(p: argparse.ArgumentParser) -> None:
    p.add_argument("-trs",
                   "--train_set",
                   "--train-set",
                   required=True,
                   help="reference counts (any readable format)")
    p.add_argument("-trl",
                   "--train_label",
                   "--train-label",
                   required=True,
                   help="reference labels: a file of cell id <TAB> cell "
                   "type lines (or CSV), a table with --labels-column, or "
                   "the name of an obs column of an h5ad reference")
    _add_labels_column(p, "-trl")
    p.add_argument("--labelled-only",
                   action="store_true",
                   help="train on the labelled cells only when the labels "
                   "cover some of the reference's cells (by default every "
                   "cell needs a label)")
    p.add_argument("-lr",
                   "--learning_rate",
                   "--learning-rate",
                   type=positive_float,
                   default=None,
                   help="initial learning rate (default: the annotator's, "
                   "1e-4)")
    _add_epochs(p)
    p.add_argument("-ms",
                   "--minibatch_size",
                   "--minibatch-size",
                   type=positive_int,
                   default=None,
                   help="minibatch size (default: the annotator's, 128)")
    p.add_argument("--seed",
                   type=seed_value,
                   default=None,
                   help="random seed (default: the annotator's, 0)")
    _add_networks(p)
    _add_linear_weight(p)
    p.add_argument("--train-format",
                   type=format_name,
                   default=None,
                   metavar="FORMAT",
                   help="force the reference's format: " + FORMAT_CHOICES)
    p.add_argument("--train-orientation",
                   choices=ORIENTATIONS,
                   default="auto",
                   help="CSV/TSV reference: genes as rows (genes_by_cells, "
                   "ACTINN's layout) or cells as rows; auto decides by which "
                   "axis holds the labels' cell ids")
    _add_layer(p, "--train-layer", "reference")
    p.add_argument("--out-of-core",
                   action="store_true",
                   help="train from disk block by block (automatic when the "
                   "reference file exceeds a quarter of the memory)")


def _add_prediction(p: argparse.ArgumentParser) -> None:
    p.add_argument("-ts",
                   "--test_set",
                   "--test-set",
                   required=True,
                   help="query counts (any readable format)")
    p.add_argument("-o",
                   "--output",
                   default=".",
                   help="output directory (current directory): writes "
                   "predicted_label.txt (cellname, celltype, confidence, "
                   "and the columns of the flags below), prediction.json "
                   "(how they were made: settings, versions), with -op "
                   "predicted_probabilities.txt (types x cells), with "
                   "--majority-voting clusters.txt")
    p.add_argument("-op",
                   "--output_probability",
                   "--output-probability",
                   type=boolean,
                   nargs="?",
                   const=True,
                   default=False,
                   help="also write predicted_probabilities.txt (types x "
                   "cells; -op alone, or -op True, as actinn_predict.py "
                   "took it; -op False does not)")
    p.add_argument("--min-overlap",
                   type=overlap_share,
                   default=None,
                   metavar="F",
                   help="refuse a query that holds fewer than this share of "
                   "the model's genes (default: the annotator's, 0.5); "
                   "lower it to annotate such a query anyway")
    rule = p.add_mutually_exclusive_group()
    rule.add_argument("--unassigned",
                      action="store_true",
                      help="mark cells that match no reference type well "
                      "'Unassigned' (off by default; this is the rule to "
                      "choose first); adds the column unassigned_reason: "
                      "novel or low_probability, empty when assigned")
    rule.add_argument("--threshold",
                      type=probability,
                      default=None,
                      help="mark cells below this calibrated confidence "
                      "'Unassigned' instead (unassigned_reason "
                      "low_probability)")
    p.add_argument("--majority-voting",
                   action="store_true",
                   help="also label each over-cluster of the query by its "
                   "majority (columns over_clustering and majority_voting, "
                   "and clusters.txt); reads the whole query; clusters it "
                   "with scanpy and leidenalg (the clustering extra) unless "
                   "--over-clustering gives the clusters")
    p.add_argument("--vote-min-probability",
                   type=probability,
                   default=None,
                   metavar="P",
                   help="in --majority-voting, a cell takes its cluster's "
                   "majority type only if it gives that type at least this "
                   "probability (default 0.2; 0 votes every cell, as "
                   "CellTypist)")
    p.add_argument("--over-clustering",
                   default=None,
                   metavar="FILE",
                   help="the query's clusters for --majority-voting: cell id "
                   "<TAB> cluster (default: over-cluster the query's own "
                   "neighbour graph)")
    p.add_argument("--hierarchy",
                   default=None,
                   metavar="FILE",
                   help="cell-type hierarchy, child <TAB> parent: a cell "
                   "whose fine type is uncertain, its top two probabilities "
                   "less than 0.2 apart (hierarchy.HIERARCHY_MARGIN), is "
                   "given the two types' nearest common ancestor, if they "
                   "have one (column level)")
    p.add_argument("--remove-ambient",
                   action="store_true",
                   help="subtract each droplet cell's estimated ambient RNA "
                   "(soup) before the final scoring (column "
                   "ambient_fraction); reads the whole query")
    p.add_argument("--test-format",
                   type=format_name,
                   default=None,
                   metavar="FORMAT",
                   help="force the query's format: " + FORMAT_CHOICES)
    p.add_argument("--test-orientation",
                   choices=ORIENTATIONS,
                   default="auto",
                   help="CSV/TSV query: genes as rows (genes_by_cells) or "
                   "cells as rows; auto decides by which axis holds the "
                   "model's genes")
    _add_layer(p, "--test-layer", "query")
    p.add_argument("--chunk-size",
                   type=positive_int,
                   default=50_000,
                   help="cells read and annotated at a time (50,000)")
    p.add_argument("--scheduler",
                   default=None,
                   metavar="ADDRESS",
                   help="annotate the query's chunks on this dask.distributed "
                   "scheduler (e.g. tcp://host:8786); every worker must "
                   "read the query under the same path")


def _add_layer(p: argparse.ArgumentParser, flag: str, what: str) -> None:
    p.add_argument(flag,
                   default=None,
                   metavar="NAME",
                   help="where the %s's counts are: a layer of an h5ad "
                   "file, or .raw (.raw.X), or X as it is (default: X when it "
                   "holds counts, else the first of .raw.X, layers['counts'] "
                   "and layers['raw_counts'] that does)" % what)


def _add_values(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-non-integer",
                   action="store_true",
                   help="take non-integer values (TPM, FPKM, corrected "
                   "counts) as counts on another scale; values that look "
                   "log-normalised are refused even so")


def _add_common(p: argparse.ArgumentParser,
                genes: bool = True,
                threads: bool = True,
                trains_from_disk: bool = False) -> None:
    """-q and --overwrite; --keep-gene-case for commands that read genes,
    --threads for those that run PyTorch (with a word on training from
    disk for those that can)."""
    p.add_argument("-q",
                   "--quiet",
                   action="store_true",
                   help="no progress bars, progress messages or summary; "
                   "warnings and errors still print")
    p.add_argument("--overwrite",
                   action="store_true",
                   help="replace existing outputs")
    if genes:
        _add_gene_case(p)
    if threads:
        _add_threads(p, trains_from_disk)


def _add_gene_case(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keep-gene-case",
                   action="store_true",
                   help="keep gene names as the files spell them (ACTINN "
                   "upper-cases them; genes are matched ignoring case "
                   "either way)")


def _add_threads(p: argparse.ArgumentParser, trains_from_disk: bool) -> None:
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="PyTorch compute threads (default: PyTorch's, one "
        "per core). On a busy machine 1 can be much faster" +
        ("; training one network from disk on 2 cores, 1 leaves "
         "a core to reading and is faster" if trains_from_disk else "") + ".")


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
    _add_layer(p, "--input-layer", "input")
    _add_values(p)
    _add_common(p, threads=False)

    p = _command(sub, "train", help="train an annotator and save it")
    _add_training(p)
    p.add_argument("-m",
                   "--model",
                   required=True,
                   help="directory to save the annotator in")
    _add_device(p)
    _add_values(p)
    _add_common(p, trains_from_disk=True)

    p = _command(sub,
                 "predict",
                 help="annotate a query with a saved "
                 "annotator")
    p.add_argument("-m",
                   "--model",
                   required=True,
                   help="annotator directory (from actinn train)")
    _add_prediction(p)
    _add_device(p)
    _add_values(p)
    _add_common(p)

    p = _command(sub,
                 "run",
                 help="train and predict in one step, as "
                 "actinn_predict.py did")
    _add_training(p)
    p.add_argument("-pc",
                   "--print_cost",
                   "--print-cost",
                   type=boolean,
                   nargs="?",
                   const=True,
                   default=True,
                   help="show the cost while training (True)")
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
    _add_prediction(p)
    _add_device(p)
    _add_values(p)
    _add_common(p, trains_from_disk=True)


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
    _add_labels_column(p, "-l")
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
    _add_layer(p, "--query-layer", "--query file")
    p.add_argument("-o",
                   "--output",
                   required=True,
                   help="report directory: writes report.html, its PNG "
                   "figures, summary.txt (metric <TAB> value) and, with -l, "
                   "per_type_metrics.txt")
    _add_values(p)
    _add_common(p)

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
    _add_common(p, genes=False, threads=False)

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
    _add_epochs(p)
    _add_networks(p)
    _add_linear_weight(p)
    _add_device(p)
    _add_common(p)

    p = _command(sub,
                 "sample-data",
                 help="copy the bundled Tabula Muris training "
                 "and test files into a directory and print the "
                 "actinn commands to try on them")
    p.add_argument("directory", help="where to copy the files (created)")
    _add_common(p, genes=False, threads=False)


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
