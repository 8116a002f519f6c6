"""The flags several ``actinn`` commands share, one function a group: the
reference to train on and the training settings (``train``, ``run``), the
query to annotate with its Unassigned rule, voting and outputs
(``predict``, ``run``), and the smaller groups (device, counts' layer,
values, quiet and overwrite, ...) that ``cli/parser.py`` adds to each of
its commands."""
import argparse

from deepchem_actinn.cli.values import (FORMAT_CHOICES, ORIENTATIONS,
                                        format_name, boolean, overlap_share,
                                        probability, linear_weight,
                                        positive_int, positive_float,
                                        seed_value)


def add_device(p: argparse.ArgumentParser) -> None:
    """``--device``: where PyTorch computes."""
    p.add_argument("--device",
                   default=None,
                   help="where PyTorch computes: cpu, cuda, cuda:1 ... "
                   "(default: CUDA when PyTorch sees a GPU, else the CPU)")


def add_linear_weight(p: argparse.ArgumentParser) -> None:
    """``--linear-weight``: the logistic regression's share of the
    ensemble."""
    p.add_argument("--linear-weight",
                   type=linear_weight,
                   default=None,
                   metavar="W",
                   help="average the networks with a logistic regression on "
                   "the same scaled values, W of it (default: the "
                   "annotator's, 0.5; 0: the "
                   "networks alone, as ACTINN)")


def add_epochs(p: argparse.ArgumentParser) -> None:
    """``-ne``: a fixed number of epochs instead of early stopping."""
    p.add_argument("-ne",
                   "--num_epochs",
                   "--num-epochs",
                   type=positive_int,
                   default=None,
                   help="train exactly this many epochs, as the original "
                   "(the held-out 10%% still calibrates and fits the "
                   "Unassigned rule, so the networks learn from 90%%); by "
                   "default early stopping on that 10%% decides")


def add_networks(p: argparse.ArgumentParser) -> None:
    """``--networks``: the ensemble's size."""
    p.add_argument("--networks",
                   type=positive_int,
                   default=None,
                   help="networks in the ensemble (default: the "
                   "annotator's, 3); 1: one network, as "
                   "the original (README, Defaults: what else differs)")


def add_labels_column(p: argparse.ArgumentParser, flag: str) -> None:
    """``--labels-column``: the column of a labels table (given by
    ``flag``) that holds the cell types."""
    p.add_argument("--labels-column",
                   "--labels_column",
                   default=None,
                   metavar="NAME",
                   help="%s is a table with a header (CSV or TSV, e.g. R's "
                   "write.csv(obj@meta.data) or Tabula Muris' "
                   "annotations_facs.csv): its first column holds the cell "
                   "ids and column NAME the cell types (cells with no value "
                   "there are unlabelled)" % flag)


def add_training(p: argparse.ArgumentParser) -> None:
    """The reference to train on, how to read it, and the training
    settings (``train`` and ``run``)."""
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
    add_labels_column(p, "-trl")
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
    add_epochs(p)
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
    add_networks(p)
    add_linear_weight(p)
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
    add_layer(p, "--train-layer", "reference")
    p.add_argument("--out-of-core",
                   action="store_true",
                   help="train from disk block by block (automatic when the "
                   "reference file exceeds a quarter of the memory)")


def add_prediction(p: argparse.ArgumentParser) -> None:
    """The query to annotate, how to read it, the outputs, the Unassigned
    rule, majority voting and the other columns (``predict`` and
    ``run``)."""
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
    add_layer(p, "--test-layer", "query")
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


def add_layer(p: argparse.ArgumentParser, flag: str, what: str) -> None:
    """``flag``: where in an h5ad file the counts of ``what`` are."""
    p.add_argument(flag,
                   default=None,
                   metavar="NAME",
                   help="where the %s's counts are: a layer of an h5ad "
                   "file, or .raw (.raw.X), or X as it is (default: X when it "
                   "holds counts, else the first of .raw.X, layers['counts'] "
                   "and layers['raw_counts'] that does)" % what)


def add_values(p: argparse.ArgumentParser) -> None:
    """``--allow-non-integer``: take values that are not counts."""
    p.add_argument("--allow-non-integer",
                   action="store_true",
                   help="take non-integer values (TPM, FPKM, corrected "
                   "counts) as counts on another scale; values that look "
                   "log-normalised are refused even so")


def add_common(p: argparse.ArgumentParser,
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
    """``--keep-gene-case``."""
    p.add_argument("--keep-gene-case",
                   action="store_true",
                   help="keep gene names as the files spell them (ACTINN "
                   "upper-cases them; genes are matched ignoring case "
                   "either way)")


def _add_threads(p: argparse.ArgumentParser, trains_from_disk: bool) -> None:
    """``--threads``, with a word on training from disk if
    ``trains_from_disk``."""
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="PyTorch compute threads (default: PyTorch's, one "
        "per core). On a busy machine 1 can be much faster" +
        ("; training one network from disk on 2 cores, 1 leaves "
         "a core to reading and is faster" if trains_from_disk else "") + ".")
