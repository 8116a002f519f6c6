"""``actinn format``, ``simulate``, ``demo`` and ``sample-data``."""
import contextlib
import logging
import os
import shlex
import shutil
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from deepchem_actinn.cli.common import (ROLE_WORDS, file_role, matrix_options,
                                        value_options)
from deepchem_actinn.cli.progress import Progress, held_stderr
from deepchem_actinn.errors import ACTINNInputError

logger = logging.getLogger("deepchem_actinn")


def cmd_format(args) -> None:
    """``actinn format``: counts in any format -> ACTINN HDF5 and/or h5ad.
    ACTINN's layout upper-cases the genes (unless ``--keep-gene-case``), as
    ``actinn_format.py`` did; an h5ad, scanpy's file, keeps them as the
    input spells them, so that its species still shows."""
    from deepchem_actinn.io import read, write_actinn_h5, write_h5ad
    from deepchem_actinn.io.orientation import GENES_BY_CELLS, ROWS_ARE_CELLS
    from deepchem_actinn.io.output import refuse_existing
    outputs = format_outputs(args.output, args.to)
    refuse_existing(outputs, args.overwrite)
    text = _text_input(args)
    with file_role("input"):
        adata = read(args.input,
                     args.format,
                     upper_case_genes=False,
                     orientation=GENES_BY_CELLS if text else None,
                     **value_options(args),
                     **matrix_options(args.input_layer))
        if not adata.n_obs:
            raise ACTINNInputError("%s: %s holds no cells" %
                                   (args.input, ROLE_WORDS["input"]))
        if text:
            logger.warning(
                "%s: read as genes by cells (ACTINN's layout), %d cells x %d "
                "genes: format has no model's genes to tell the layout by; %s",
                args.input, adata.n_obs, adata.n_vars, ROWS_ARE_CELLS)
    for path in outputs:
        h5 = path.suffix == ".h5"
        # ACTINN's layout upper-cased, as the ACTINN scripts wrote it
        out = upper_cased(adata) if h5 and not args.keep_gene_case else adata
        with held_stderr():  # h5py's echoes of a full disk
            if h5:
                write_actinn_h5(out, path, overwrite=args.overwrite)
            else:
                write_h5ad(out, path, overwrite=args.overwrite)
        logger.info("wrote %s (%d cells x %d genes)", path, out.n_obs,
                    out.n_vars)


def _text_input(args) -> bool:
    """Whether ``format``'s input is a CSV/TSV file (whose layout it cannot
    tell: it has no model's genes to look for)."""
    from deepchem_actinn.io.formats import path_and_format
    from deepchem_actinn.io.text import SEPARATORS
    with file_role("input"):
        return path_and_format(args.input, args.format)[1] in SEPARATORS


def upper_cased(adata):
    """``adata`` with its genes upper-cased and the repeats that makes
    dropped, as :func:`~deepchem_actinn.io.read` upper-cases them."""
    import anndata
    import numpy as np
    import pandas as pd

    from deepchem_actinn.io import clean_gene_names
    names, keep = clean_gene_names(adata.var_names, upper_case=True)
    # the matrix is shared, not copied, when no gene is dropped
    X = adata.X if keep.all() else adata.X[:, np.flatnonzero(keep)]
    return anndata.AnnData(X=X,
                           obs=adata.obs,
                           var=adata.var[keep].set_index(
                               pd.Index(names, dtype=object)))


#: ``actinn format``'s outputs: the file suffix of each ``--to``.
FORMAT_SUFFIXES = {
    "actinn_h5": (".h5",),
    "h5ad": (".h5ad",),
    "both": (".h5", ".h5ad")
}


def format_outputs(output: str, to: Optional[str]) -> List[Path]:
    """The files ``actinn format -o OUTPUT --to TO`` writes: ``OUTPUT``
    is a prefix, or a file name whose suffix says the format (``--to``
    left out) or repeats ``--to``'s.

    Examples
    --------
    >>> from deepchem_actinn.cli.misc import format_outputs
    >>> [str(p) for p in format_outputs("out", None)]
    ['out.h5']
    >>> [str(p) for p in format_outputs("out.h5ad", None)]
    ['out.h5ad']
    >>> [str(p) for p in format_outputs("out.h5", "both")]
    ['out.h5', 'out.h5ad']
    """
    prefix = Path(output)
    if output.endswith(os.sep) or not prefix.name:
        raise ACTINNInputError(
            "%s: a directory; -o names the output file (or its prefix), "
            "e.g. %s" % (output, prefix / "sample"))
    suffix = prefix.suffix if prefix.suffix in (".h5", ".h5ad") else ""
    chosen = to or ("h5ad" if suffix == ".h5ad" else "actinn_h5")
    if suffix and suffix not in FORMAT_SUFFIXES[chosen]:
        raise ACTINNInputError(
            "%s: a %s name, and --to %s writes %s: give -o a name without "
            "its suffix, or the suffix of --to" %
            (output, suffix, chosen, " and ".join(FORMAT_SUFFIXES[chosen])))
    stem = prefix.with_suffix("") if suffix else prefix
    paths = [stem.with_name(stem.name + s) for s in FORMAT_SUFFIXES[chosen]]
    for path in paths:
        if path.is_dir():
            raise ACTINNInputError("%s: a directory, where -o %s would write "
                                   "a file" % (path, output))
    return paths


def _write_obs_labels(h5ad_path: Path, labels_path: str,
                      overwrite: bool) -> None:
    """The ``cell_type`` column of an h5ad file as a labels file."""
    import anndata

    from deepchem_actinn.io.output import atomic_output
    backed = anndata.read_h5ad(h5ad_path, backed="r")
    try:
        with atomic_output(labels_path, overwrite=overwrite) as tmp:
            with open(tmp, "w") as handle:
                for cell, kind in zip(backed.obs_names,
                                      backed.obs["cell_type"]):
                    handle.write("%s\t%s\n" % (cell, kind))
    finally:
        backed.file.close()


def cmd_simulate(args) -> None:
    """``actinn simulate``: a synthetic labelled .h5ad (and labels file)."""
    from deepchem_actinn.io.output import refuse_existing
    from deepchem_actinn.simulate import simulate_counts
    outputs = [Path(args.output)] + ([Path(args.labels)] if args.labels else [])
    refuse_existing(outputs, args.overwrite)
    bar = Progress(args.quiet,
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
        _write_obs_labels(path, args.labels, args.overwrite)
        logger.info("wrote %s (the cells' types)", args.labels)


#: What ``actinn sample-data`` copies: bundled name -> name in DIR.
SAMPLE_FILES = {
    "train": "train_sample.h5",
    "train_labels": "train_label_sample.txt",
    "test": "test_sample.h5",
    "test_labels": "test_label_sample.txt",
    "hierarchy": "hierarchy.txt",
}


def cmd_sample_data(args) -> None:
    """``actinn sample-data DIR``: the bundled files, ready to try
    ``actinn train`` and ``predict`` on, and the commands to run."""
    from deepchem_actinn.datasets import tabula_muris_sample_paths
    from deepchem_actinn.hierarchy import BUNDLED_HIERARCHY
    from deepchem_actinn.io.output import atomic_files
    paths = dict(tabula_muris_sample_paths(), hierarchy=BUNDLED_HIERARCHY)
    target = Path(args.directory)
    names = [SAMPLE_FILES[key] for key in paths]
    with atomic_files(target, names, overwrite=args.overwrite,
                      parents=True) as tmp:
        for key, source in paths.items():
            shutil.copyfile(source, tmp / SAMPLE_FILES[key])
    if args.quiet:
        return

    def q(*parts: str) -> str:  # a path under DIR as one shell word
        return shlex.quote(str(target.joinpath(*parts)))

    print("Copied the bundled Tabula Muris sample (mouse, Smart-seq2: 4,000 "
          "training and 1,000 test cells, 12 types) into %s. Next:\n"
          "  actinn train -trs %s -trl %s -m %s\n"
          "  actinn predict -m %s -ts %s -o %s -op --unassigned\n"
          "  actinn report -p %s -pr %s -l %s -m %s --query %s -o %s" %
          (target, q(SAMPLE_FILES["train"]), q(SAMPLE_FILES["train_labels"]),
           q("model"), q("model"), q(SAMPLE_FILES["test"]), q("predictions"),
           q("predictions", "predicted_label.txt"),
           q("predictions", "predicted_probabilities.txt"),
           q(SAMPLE_FILES["test_labels"]), q("model"), q(
               SAMPLE_FILES["test"]), q("report")))
    print("(--unassigned names cells unlike any reference type Unassigned.) "
          "Then the other rules beyond the best type: a parent type (%s: NK "
          "and T cells under lymphocyte, ...) where the fine type is "
          "uncertain, and majority voting over the query's clusters (needs "
          "the clustering extra):\n"
          "  actinn predict -m %s -ts %s -o %s --unassigned --hierarchy %s "
          "--majority-voting" %
          (SAMPLE_FILES["hierarchy"], q("model"), q(
              SAMPLE_FILES["test"]), q("rules"), q(SAMPLE_FILES["hierarchy"])))


def cmd_demo(args) -> None:
    """``actinn demo``: train on the bundled sample, predict its test set,
    score it and write the predictions with their record
    (``prediction.json``) and the report (with the UMAP of the test cells
    and what the record says)."""
    from deepchem_actinn.cli.outputs import (LABEL_FILE, PROBABILITY_FILE,
                                             RECORD_FILE,
                                             refuse_file_like_folder)
    from deepchem_actinn.cli.record import demo_record, write_record
    from deepchem_actinn.cli.record_report import describe_record
    from deepchem_actinn.cli.train import epochs_per_network, train_annotator
    from deepchem_actinn.datasets import (load_tabula_muris_sample,
                                          tabula_muris_sample_paths)
    from deepchem_actinn.io import write_predicted_labels, write_probabilities
    from deepchem_actinn.io.output import atomic_files, refuse_existing
    from deepchem_actinn.report import (REPORT_FILES, summary_metrics,
                                        write_report)
    refuse_file_like_folder("-o", args.output)
    out_dir = Path(args.output)
    refuse_existing([
        out_dir / name for name in (LABEL_FILE, PROBABILITY_FILE, RECORD_FILE) +
        tuple(REPORT_FILES)
    ], args.overwrite)
    train, test = load_tabula_muris_sample(
        upper_case_genes=not args.keep_gene_case)
    paths = tabula_muris_sample_paths()
    print("Bundled Tabula Muris sample: train %d cells, test %d cells, "
          "%d genes, %d cell types (%s)" %
          (train.n_obs, test.n_obs, train.n_vars,
           train.obs["cell_type"].nunique(), paths["train"].parent))
    args.labelled_only, args.out_of_core = False, False
    args.train_set, args.train_format = str(paths["train"]), None
    args.train_label = str(paths["train_labels"])  # for the training record
    start = time.perf_counter()
    annotator = train_annotator(args, train, train.obs["cell_type"].to_numpy())
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    result = annotator.predict(test.X, test.var_names, test.obs_names)
    predict_s = time.perf_counter() - start
    truth = test.obs["cell_type"].to_numpy()
    summary = summary_metrics(truth, result.cell_types, annotator.type_names)
    # the record, with the labels: an earlier prediction's goes with its own
    names = [PROBABILITY_FILE, RECORD_FILE, LABEL_FILE]
    with atomic_files(out_dir, names, overwrite=args.overwrite,
                      parents=True) as tmp:
        write_predicted_labels(tmp / LABEL_FILE,
                               result.cell_ids,
                               result.cell_types,
                               confidence=result.confidence)
        write_probabilities(tmp / PROBABILITY_FILE, result.cell_ids,
                            result.type_names, result.probabilities)
        record = demo_record(args, annotator, _demo_summary(annotator, result),
                             paths["test"], "actinn_h5", names,
                             tmp / LABEL_FILE)
        write_record(tmp, record)
    epochs = epochs_per_network(annotator.histories_)
    # the page shows the record as actinn report does, and what the demo
    # alone knows (the epochs, the calibration) after the model's line
    info: Dict[str, object] = {}
    for key, line in describe_record(record).items():
        info[key] = line
        if key == "model":
            info["epochs (best), per network"] = epochs
            info["calibration error before / after"] = "%.3f / %.3f" % (
                annotator.calibration_["ece_before"],
                annotator.calibration_["ece_after"])
    with _unsaid(logging.getLogger("deepchem_actinn.report.write"),
                 "report: wrote %s"):  # the last line names it
        write_report(out_dir,
                     result.cell_types,
                     result.confidence,
                     true_labels=truth,
                     type_names=annotator.type_names,
                     history=annotator.histories_,
                     query=test,
                     overwrite=True,
                     extra_info=info)
    print("Trained in %.1f s (epochs (best), per network: %s), predicted %d "
          "cells in %.2f s" % (fit_s, epochs, test.n_obs, predict_s))
    print("accuracy %.4f   macro F1 %.4f" %
          (summary["accuracy"], summary["macro_f1"]))
    report_files = ("report.html",) + tuple(name for name in REPORT_FILES
                                            if name != "report.html" and
                                            (out_dir / name).exists())
    print("Wrote %s: %s" %
          (out_dir, ", ".join((LABEL_FILE, PROBABILITY_FILE, RECORD_FILE) +
                              report_files)))


@contextlib.contextmanager
def _unsaid(logger_: logging.Logger, message: str) -> Iterator[None]:
    """Inside, ``logger_`` leaves out its records of ``message`` (the
    format string, before its arguments), as a line said later says it."""

    def keep(record: logging.LogRecord) -> bool:
        return record.msg != message

    logger_.addFilter(keep)
    try:
        yield
    finally:
        logger_.removeFilter(keep)


def _demo_summary(annotator, result):
    """The counts ``actinn predict`` gathers, of the demo's one prediction
    (for its record)."""
    from deepchem_actinn.cli.summary import PredictionSummary
    summary = PredictionSummary(len(annotator.genes_),
                                str(annotator.ensemble_.device),
                                annotator.rule_.min_assigned_probability)
    summary.add(result.cell_types, result.genes_missing)
    return summary
