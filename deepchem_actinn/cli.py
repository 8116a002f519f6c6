"""The ``actinn`` command: format, train, predict, run, report, simulate, demo.

Argument parsing, progress and one-line errors only; the work is done by
the annotator, the readers and writers, the report and the simulator.
``actinn run`` takes the flags of the original ``actinn_predict.py`` (short
and long forms), so existing scripts port by changing the command name.
"""
import argparse
import contextlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from deepchem_actinn._version import __version__
from deepchem_actinn.errors import ACTINNInputError

logger = logging.getLogger("deepchem_actinn")

#: ``-f`` values of the original actinn_format.py, and this package's names.
FORMAT_ALIASES = {
    "10x_v2": "10x_mtx",
    "10x_v3": "10x_mtx",
    "10x_mtx": "10x_mtx",
    "10x_h5": "10x_h5",
    "h5": "actinn_h5",
    "actinn_h5": "actinn_h5",
    "h5ad": "h5ad",
    "txt": "tsv",
    "tsv": "tsv",
    "csv": "csv",
    "auto": None,
}
LABEL_FILE = "predicted_label.txt"
PROBABILITY_FILE = "predicted_probabilities.txt"


def _format(value: str) -> Optional[str]:
    key = value.lower()
    if key not in FORMAT_ALIASES:
        raise argparse.ArgumentTypeError(
            "unknown format %r; choose from %s" %
            (value, ", ".join(sorted(FORMAT_ALIASES))))
    return FORMAT_ALIASES[key]


def _bool(value: str) -> bool:
    """The original scripts' ``-op True``; a bare ``-op`` also means True."""
    if value.lower() in ("true", "t", "yes", "y", "1"):
        return True
    if value.lower() in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError("expected True or False, got %r" % value)


def _probability(value: str) -> float:
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError("a probability is in [0, 1]")
    return p


# ---------------------------------------------------------------- parsing
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
                   help="reference labels: cell id <TAB> cell type")
    p.add_argument("-lr",
                   "--learning_rate",
                   "--learning-rate",
                   type=float,
                   default=1e-4,
                   help="initial learning rate (1e-4)")
    p.add_argument("-ne",
                   "--num_epochs",
                   "--num-epochs",
                   type=int,
                   default=None,
                   help="train exactly this many epochs, as the original; "
                   "by default early stopping on a held-out 10%% decides")
    p.add_argument("-ms",
                   "--minibatch_size",
                   "--minibatch-size",
                   type=int,
                   default=128,
                   help="minibatch size (128)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--networks",
                   type=int,
                   default=3,
                   help="networks in the ensemble (3); 1 is the original")
    p.add_argument("--train-format",
                   type=_format,
                   default=None,
                   help="force the reference's format")
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
                   help="output directory (current directory)")
    p.add_argument("-op",
                   "--output_probability",
                   "--output-probability",
                   type=_bool,
                   nargs="?",
                   const=True,
                   default=False,
                   help="also write %s" % PROBABILITY_FILE)
    p.add_argument("--unassigned",
                   action="store_true",
                   help="mark cells that match no reference type well "
                   "'Unassigned' (the default rule)")
    p.add_argument("--threshold",
                   type=_probability,
                   default=None,
                   help="mark cells below this calibrated confidence "
                   "'Unassigned'")
    p.add_argument("--test-format",
                   type=_format,
                   default=None,
                   help="force the query's format")
    p.add_argument("--chunk-size",
                   type=int,
                   default=50_000,
                   help="cells read and annotated at a time (50,000)")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q",
                   "--quiet",
                   action="store_true",
                   help="no progress bars or log messages")
    p.add_argument("--overwrite",
                   action="store_true",
                   help="replace existing outputs")
    p.add_argument("--keep-gene-case",
                   action="store_true",
                   help="do not upper-case gene names")
    p.add_argument("--threads",
                   type=int,
                   default=None,
                   metavar="N",
                   help="PyTorch compute threads (default: PyTorch's, one "
                   "per core). On a busy machine 1 can be much faster; "
                   "training one network from disk on 2 cores, 1 leaves a "
                   "core to reading and is faster")


def build_parser() -> argparse.ArgumentParser:
    """The ``actinn`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="actinn",
        description="ACTINN automated cell-type identification for "
        "scRNA-seq counts (deepchem-actinn %s)." % __version__)
    parser.add_argument("--version",
                        action="version",
                        version="deepchem-actinn %s" % __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("format",
                       help="convert counts to the ACTINN HDF5 "
                       "layout (or .h5ad), as actinn_format.py did")
    p.add_argument("-i", "--input", required=True, help="input counts")
    p.add_argument("-o",
                   "--output",
                   required=True,
                   help="output prefix: writes PREFIX.h5 (and/or .h5ad)")
    p.add_argument("-f",
                   "--format",
                   type=_format,
                   default=None,
                   help="input format: 10X_V2, 10X_V3, 10x_h5, h5ad, h5, "
                   "txt, csv (detected when omitted)")
    p.add_argument("--to",
                   choices=["actinn_h5", "h5ad", "both"],
                   default="actinn_h5",
                   help="output format (actinn_h5)")
    _add_common(p)

    p = sub.add_parser("train", help="train an annotator and save it")
    _add_training(p)
    p.add_argument("-m",
                   "--model",
                   required=True,
                   help="directory to save the annotator in")
    _add_common(p)

    p = sub.add_parser("predict",
                       help="annotate a query with a saved "
                       "annotator")
    p.add_argument("-m",
                   "--model",
                   required=True,
                   help="annotator directory (from actinn train)")
    _add_prediction(p)
    _add_common(p)

    p = sub.add_parser("run",
                       help="train and predict in one step, as "
                       "actinn_predict.py did")
    _add_training(p)
    p.add_argument("-pc",
                   "--print_cost",
                   "--print-cost",
                   type=_bool,
                   nargs="?",
                   const=True,
                   default=True,
                   help="show the cost while training (True)")
    _add_prediction(p)
    _add_common(p)

    p = sub.add_parser("report",
                       help="figures and an HTML page from "
                       "predictions")
    p.add_argument("-p",
                   "--predictions",
                   required=True,
                   help="predicted_label.txt from predict or run")
    p.add_argument("-l",
                   "--labels",
                   default=None,
                   help="true labels (cell id <TAB> cell type), to score")
    p.add_argument("-m",
                   "--model",
                   default=None,
                   help="annotator directory, for its training curves")
    p.add_argument("-op",
                   "--probabilities",
                   default=None,
                   help="predicted_probabilities.txt, for the confidence "
                   "(else read from predicted_label.txt)")
    p.add_argument("-o", "--output", required=True, help="report directory")
    _add_common(p)

    p = sub.add_parser("simulate",
                       help="write a synthetic labelled "
                       "dataset (.h5ad) for tests and benchmarks")
    p.add_argument("-o", "--output", required=True, help="output .h5ad")
    p.add_argument("--cells", type=int, default=10_000)
    p.add_argument("--genes", type=int, default=20_000)
    p.add_argument("--types", type=int, default=10)
    p.add_argument("--density", type=float, default=0.065)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels",
                   default=None,
                   help="also write the labels to this file")
    _add_common(p)

    p = sub.add_parser("demo",
                       help="train on the bundled Tabula Muris "
                       "sample, predict its test set and score it")
    p.add_argument("-o",
                   "--output",
                   default="actinn_demo_output",
                   help="output directory (actinn_demo_output)")
    p.add_argument("--seed", type=int, default=0)
    _add_common(p)
    return parser


# --------------------------------------------------------------- helpers
class _Progress:
    """A tqdm bar, or nothing when quiet."""

    def __init__(self, quiet: bool, **kwargs: Any) -> None:
        self.bar = None
        if not quiet:
            from tqdm.auto import tqdm
            self.bar = tqdm(file=sys.stderr, **kwargs)

    def update(self, n: int = 1, **postfix: Any) -> None:
        if self.bar is not None:
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _refuse_existing(paths: Sequence[Path], overwrite: bool) -> None:
    """Fail before any work if an output exists and may not be replaced."""
    if overwrite:
        return
    for path in paths:
        if path.exists():
            raise ACTINNInputError("%s exists; pass --overwrite to replace it" %
                                   path)


@contextlib.contextmanager
def _torch_threads(n: Optional[int]) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``n`` (unchanged when None), and
    restored after, so in-process callers keep their setting."""
    if n is None:
        yield
        return
    if n < 1:
        raise ACTINNInputError("--threads must be at least 1, got %d" % n)
    import torch
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _out_of_core(args) -> bool:
    """Whether to train from disk: asked for, or the file is large."""
    if args.out_of_core:
        return True
    try:
        size = os.path.getsize(args.train_set)
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return False
    return size > memory / 4


def _train(args, adata=None, labels=None):
    """Train an annotator on ``adata`` and ``labels`` when given, else on
    the reference files named in ``args``."""
    from deepchem_actinn.annotator import ACTINNAnnotator
    fixed = args.num_epochs is not None
    annotator = ACTINNAnnotator(n_networks=args.networks,
                                max_epochs=args.num_epochs if fixed else 200,
                                early_stopping=not fixed,
                                learning_rate=args.learning_rate,
                                batch_size=args.minibatch_size,
                                seed=args.seed)
    show_cost = getattr(args, "print_cost", True)
    bar = _Progress(args.quiet or not show_cost, unit="epoch", desc="training")

    def progress(state: Dict[str, Any]) -> None:
        cost = {"cost": "%.4f" % state["train_loss"]}
        if "valid_loss" in state:
            cost["valid"] = "%.4f" % state["valid_loss"]
        bar.update(1, **cost)

    try:
        if adata is not None:
            annotator.fit(adata.X,
                          adata.var_names,
                          labels,
                          adata.obs_names,
                          progress=progress)
        elif _out_of_core(args):
            logger.info("training from disk, block by block: %s",
                        args.train_set)
            annotator.fit_file(args.train_set,
                               args.train_label,
                               args.train_format,
                               upper_case_genes=not args.keep_gene_case,
                               progress=progress)
        else:
            from deepchem_actinn.io import match_labels, read, read_labels
            adata = read(args.train_set,
                         args.train_format,
                         upper_case_genes=not args.keep_gene_case)
            labels = match_labels(adata.obs_names,
                                  read_labels(args.train_label),
                                  args.train_label)
            annotator.fit(adata.X,
                          adata.var_names,
                          labels,
                          adata.obs_names,
                          progress=progress)
    finally:
        bar.close()
    history = annotator.history_
    logger.info(
        "trained %d network%s on %d cells, %d genes, %d types; first "
        "network: %d epochs (best %d)", annotator.n_networks,
        "" if annotator.n_networks == 1 else "s", annotator.n_reference_cells_,
        len(annotator.genes_), len(annotator.type_names),
        len(history["train_loss"]), history["best_epoch"][0])
    return annotator


def _query_genes(path: str, fmt: Optional[str], args) -> Dict[str, List[str]]:
    """Identifier columns of the query, for choosing how to match genes."""
    from deepchem_actinn.preprocessing.genes import gene_candidates
    from deepchem_actinn.io import read_var
    var = read_var(path, fmt, not args.keep_gene_case)
    return gene_candidates(var.index, var)


def _predict(args, annotator, out_dir: Path) -> None:
    """Annotate the query chunk by chunk, writing labels as it goes."""
    import numpy as np

    from deepchem_actinn.preprocessing.genes import choose_gene_column
    from deepchem_actinn.io import (PredictedLabelWriter, iter_cell_chunks,
                                    n_cells, write_probabilities)
    from deepchem_actinn.io.prefetch import prefetch
    candidates = _query_genes(args.test_set, args.test_format, args)
    column, matched = choose_gene_column(annotator.genes_, candidates,
                                         annotator.min_overlap)
    if column != "var_names":
        logger.warning(
            "matching genes through the query's %s (%d of the "
            "model's %d genes)", column, matched, len(annotator.genes_))
    positions = annotator.gene_positions(candidates[column])
    total = n_cells(args.test_set, args.test_format)
    bar = _Progress(args.quiet,
                    total=total,
                    unit="cells",
                    desc="annotating",
                    unit_scale=True)
    ids, probabilities = [], []
    counts: Dict[str, int] = {}
    labels_path = out_dir / LABEL_FILE
    try:
        with PredictedLabelWriter(labels_path,
                                  overwrite=args.overwrite) as writer:
            chunks = prefetch(
                iter_cell_chunks(args.test_set,
                                 args.chunk_size,
                                 args.test_format,
                                 upper_case_genes=not args.keep_gene_case))
            for result in annotator.iter_predict(chunks,
                                                 candidates[column],
                                                 args.unassigned,
                                                 args.threshold,
                                                 gene_column=column,
                                                 checked=True):
                writer.write(result.cell_ids, result.cell_types)
                for name in result.cell_types:
                    counts[name] = counts.get(name, 0) + 1
                if args.output_probability:
                    ids.append(result.cell_ids)
                    probabilities.append(result.probabilities)
                bar.update(len(result))
            if args.output_probability:
                write_probabilities(out_dir / PROBABILITY_FILE,
                                    np.concatenate(ids),
                                    annotator.type_names,
                                    np.concatenate(probabilities),
                                    overwrite=args.overwrite)
    finally:
        bar.close()
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:5]
    logger.info("annotated %d cells into %s: %s", sum(counts.values()),
                labels_path, ", ".join("%s %d" % kv for kv in top))
    if (positions < 0).any():
        logger.warning(
            "%d of the model's %d genes were missing from the "
            "query and set to zero", int((positions < 0).sum()), len(positions))


def _prediction_outputs(args, out_dir: Path) -> List[Path]:
    outputs = [out_dir / LABEL_FILE]
    if args.output_probability:
        outputs.append(out_dir / PROBABILITY_FILE)
    return outputs


# -------------------------------------------------------------- commands
def cmd_format(args) -> None:
    from deepchem_actinn.io import read, write_actinn_h5, write_h5ad
    prefix = Path(args.output)
    targets = {
        "actinn_h5": [prefix.with_name(prefix.name + ".h5")],
        "h5ad": [prefix.with_name(prefix.name + ".h5ad")],
    }
    targets["both"] = targets["actinn_h5"] + targets["h5ad"]
    outputs = targets[args.to]
    _refuse_existing(outputs, args.overwrite)
    adata = read(args.input,
                 args.format,
                 upper_case_genes=not args.keep_gene_case)
    for path in outputs:
        writer = write_actinn_h5 if path.suffix == ".h5" else write_h5ad
        writer(adata, path, overwrite=args.overwrite)
        logger.info("wrote %s (%d cells x %d genes)", path, adata.n_obs,
                    adata.n_vars)


def cmd_train(args) -> None:
    _refuse_existing([Path(args.model)], args.overwrite)
    annotator = _train(args)
    annotator.save(args.model, overwrite=args.overwrite)
    logger.info("saved the annotator to %s", args.model)


def cmd_predict(args) -> None:
    out_dir = Path(args.output)
    _refuse_existing(_prediction_outputs(args, out_dir), args.overwrite)
    from deepchem_actinn.annotator import ACTINNAnnotator
    annotator = ACTINNAnnotator.load(args.model)
    out_dir.mkdir(parents=True, exist_ok=True)
    _predict(args, annotator, out_dir)


def cmd_run(args) -> None:
    out_dir = Path(args.output)
    _refuse_existing(_prediction_outputs(args, out_dir), args.overwrite)
    annotator = _train(args)
    out_dir.mkdir(parents=True, exist_ok=True)
    _predict(args, annotator, out_dir)


def _read_predictions(path: str):
    import pandas as pd
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str)
    except (OSError, ValueError) as err:
        raise ACTINNInputError("%s: cannot read predictions (%s)" % (path, err))
    if list(frame.columns[:2]) != ["cellname", "celltype"]:
        raise ACTINNInputError(
            "%s is not a predicted_label.txt: its header is %s, expected "
            "cellname<TAB>celltype" % (path, "\t".join(frame.columns[:3])))
    return frame


def cmd_report(args) -> None:
    import numpy as np
    import pandas as pd

    from deepchem_actinn.io import match_labels, read_labels
    from deepchem_actinn.report import write_report
    _refuse_existing([Path(args.output) / "report.html"], args.overwrite)
    frame = _read_predictions(args.predictions)
    cells = frame["cellname"].to_numpy()
    if args.probabilities:
        proba = pd.read_csv(args.probabilities, sep="\t", index_col=0)
        missing = set(cells) - set(proba.columns)
        if missing:
            raise ACTINNInputError("%s lacks %d of the predicted cells" %
                                   (args.probabilities, len(missing)))
        confidence = proba[cells].max(axis=0).to_numpy(dtype=float)
    elif "confidence" in frame.columns:
        confidence = frame["confidence"].astype(float).to_numpy()
    else:
        raise ACTINNInputError(
            "no confidence for the report: pass -op "
            "predicted_probabilities.txt (written by predict -op)")
    truth = None
    if args.labels:
        truth = match_labels(cells, read_labels(args.labels), args.labels)
    history, type_names, info = None, None, {}
    if args.model:
        from deepchem_actinn.annotator import ACTINNAnnotator
        annotator = ACTINNAnnotator.load(args.model)
        history, type_names = annotator.history_, annotator.type_names
        info = {
            "model": args.model,
            "trained by": "deepchem-actinn %s" % annotator.package_version_
        }
    path = write_report(args.output,
                        frame["celltype"].to_numpy(),
                        np.asarray(confidence),
                        true_labels=truth,
                        type_names=type_names,
                        history=history,
                        overwrite=args.overwrite,
                        extra_info=info or None)
    logger.info("wrote %s", path)


def cmd_simulate(args) -> None:
    from deepchem_actinn.simulate import simulate_counts
    outputs = [Path(args.output)] + ([Path(args.labels)] if args.labels else [])
    _refuse_existing(outputs, args.overwrite)
    bar = _Progress(args.quiet,
                    total=args.cells,
                    unit="cells",
                    desc="simulating",
                    unit_scale=True)
    done = [0]

    def progress(cells_done: int) -> None:
        bar.update(cells_done - done[0])
        done[0] = cells_done

    try:
        path = simulate_counts(args.output,
                               n_cells=args.cells,
                               n_genes=args.genes,
                               n_types=args.types,
                               density=args.density,
                               seed=args.seed,
                               overwrite=args.overwrite,
                               progress=progress)
    finally:
        bar.close()
    if args.labels:
        import anndata

        from deepchem_actinn.io.output import atomic_output
        backed = anndata.read_h5ad(path, backed="r")
        try:
            with atomic_output(args.labels, overwrite=args.overwrite) as tmp:
                with open(tmp, "w") as handle:
                    for cell, kind in zip(backed.obs_names,
                                          backed.obs["cell_type"]):
                        handle.write("%s\t%s\n" % (cell, kind))
        finally:
            backed.file.close()
    logger.info("wrote %s", path)


def cmd_demo(args) -> None:
    from deepchem_actinn.datasets import (load_tabula_muris_sample,
                                          tabula_muris_sample_paths)
    from deepchem_actinn.io import write_probabilities
    from deepchem_actinn.report import summary_metrics, write_report
    out_dir = Path(args.output)
    _refuse_existing([
        out_dir / LABEL_FILE, out_dir / PROBABILITY_FILE,
        out_dir / "report.html"
    ], args.overwrite)
    train, test = load_tabula_muris_sample(
        upper_case_genes=not args.keep_gene_case)
    paths = tabula_muris_sample_paths()
    print("Bundled Tabula Muris sample: train %d cells, test %d cells, "
          "%d genes, %d cell types (%s)" %
          (train.n_obs, test.n_obs, train.n_vars,
           train.obs["cell_type"].nunique(), paths["train"].parent))
    args.num_epochs, args.learning_rate, args.minibatch_size = None, 1e-4, 128
    args.networks = 3
    start = time.perf_counter()
    annotator = _train(args, train, train.obs["cell_type"].to_numpy())
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    result = annotator.predict(test.X, test.var_names, test.obs_names)
    predict_s = time.perf_counter() - start
    truth = test.obs["cell_type"].to_numpy()
    summary = summary_metrics(truth, result.cell_types, annotator.type_names)
    out_dir.mkdir(parents=True, exist_ok=True)
    from deepchem_actinn.io import write_predicted_labels
    write_predicted_labels(out_dir / LABEL_FILE,
                           result.cell_ids,
                           result.cell_types,
                           overwrite=args.overwrite)
    write_probabilities(out_dir / PROBABILITY_FILE,
                        result.cell_ids,
                        result.type_names,
                        result.probabilities,
                        overwrite=args.overwrite)
    report = write_report(
        out_dir,
        result.cell_types,
        result.confidence,
        true_labels=truth,
        type_names=annotator.type_names,
        history=annotator.history_,
        overwrite=True,
        extra_info={
            "genes used":
                len(annotator.genes_),
            "epochs (best)":
                "%d (%d)" % (len(annotator.history_["train_loss"]),
                             annotator.history_["best_epoch"][0]),
            "calibration error before / after":
                "%.3f / %.3f" % (annotator.calibration_["ece_before"],
                                 annotator.calibration_["ece_after"]),
        })
    print("Trained in %.1f s (%d epochs, best %d), predicted %d cells in "
          "%.2f s" %
          (fit_s, len(annotator.history_["train_loss"]),
           annotator.history_["best_epoch"][0], test.n_obs, predict_s))
    print("accuracy %.4f   macro F1 %.4f" %
          (summary["accuracy"], summary["macro_f1"]))
    print("Wrote %s, %s and %s" %
          (out_dir / LABEL_FILE, out_dir / PROBABILITY_FILE, report))


def _configure_logging(quiet: bool) -> None:
    """Our messages as ``actinn: ...`` lines; DeepChem's import chatter off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("actinn: %(message)s"))
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    for name in ("deepchem", "rdkit", "tensorflow", "jax"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


COMMANDS = {
    "format": cmd_format,
    "train": cmd_train,
    "predict": cmd_predict,
    "run": cmd_run,
    "report": cmd_report,
    "simulate": cmd_simulate,
    "demo": cmd_demo,
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``actinn`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    saved = (list(logger.handlers), logger.propagate, logger.level)
    _configure_logging(args.quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            with _torch_threads(getattr(args, "threads", None)):
                COMMANDS[args.command](args)
    except ACTINNInputError as err:
        print("actinn %s: error: %s" % (args.command, err), file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError) as err:
        print("actinn %s: error: %s" % (args.command, err), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("actinn %s: interrupted; no partial outputs were kept" %
              args.command,
              file=sys.stderr)
        return 130
    finally:
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
