"""``actinn predict`` and ``actinn run``: annotate a query, write the files.

Three ways to the same files:

- streaming (the default): the query is read and annotated chunk by chunk
  (``ACTINNAnnotator.predict_file``), so memory is bounded by
  ``--chunk-size``;
- ``--scheduler ADDRESS``: the chunks are annotated on a dask.distributed
  cluster (:func:`deepchem_actinn.distributed.predict_file_dask`) and come
  back in the query's order;
- whole (``--majority-voting``, ``--over-clustering``, ``--hierarchy``,
  ``--remove-ambient``): the query is read at once and annotated by one
  ``ACTINNAnnotator.predict``, since voting needs the whole query's
  neighbour graph and the ambient RNA's profile is the whole query's; so
  is an h5ad query that holds no counts but whose ``X`` or ``.raw.X`` is
  provably the natural log1p of per-cell normalised counts, annotated
  through its expm1 (read by
  :func:`~deepchem_actinn.cli.query_checks.check_query_counts`).

Every way writes ``predicted_label.txt`` with one writer
(:mod:`deepchem_actinn.io.predictions`), and a query whose cell ids a line
cannot hold is refused before any work.

The outputs (``predicted_label.txt``, its record ``prediction.json``, with
``-op`` ``predicted_probabilities.txt``, with voting ``clusters.txt``) are
built in a hidden directory and appear together at the end, or not at all:
a failed or stopped run leaves nothing, not even an output directory it
created.
"""
import concurrent.futures
import contextlib
import logging
import os
from pathlib import Path
from typing import (Any, Dict, Generator, Iterator, List, Optional, Sequence,
                    Tuple, Type)

import numpy as np

from deepchem_actinn.cli.common import (device, file_role, is_main_process,
                                        orientation_options, settle_orientation,
                                        value_options)
from deepchem_actinn.cli.progress import Progress
from deepchem_actinn.cli.outputs import (CLUSTER_FILE, LABEL_FILE,
                                         PROBABILITY_FILE, outputs_to_replace,
                                         output_names, refuse_file_like_folder,
                                         refuse_output_in_model, refuse_outputs)
from deepchem_actinn.cli.query_checks import (check_query_counts,
                                              check_query_files, hierarchy_file,
                                              query_matrix, refuse_empty_query)
from deepchem_actinn.cli.record import prediction_record, write_record
from deepchem_actinn.cli.summary import PredictionSummary, matched_by
from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError

logger = logging.getLogger("deepchem_actinn")


def check_outputs(args, out_dir: Path) -> None:
    """Refuse, before any work, flags that do not go together, and an
    output directory that is the annotator's (or inside it), a file, or
    already holds outputs (without ``--overwrite``), and a new one named
    like a data file."""
    refuse_file_like_folder("-o", args.output)
    refuse_output_in_model(args, out_dir)
    if args.vote_min_probability is not None and not args.majority_voting:
        raise ACTINNInputError("%s: --vote-min-probability sets the vote of "
                               "--majority-voting; pass that too" %
                               args.test_set)
    if args.over_clustering and not args.majority_voting:
        raise ACTINNInputError("%s: --over-clustering gives the clusters for "
                               "--majority-voting; pass that too" %
                               args.over_clustering)
    if args.scheduler and _whole_query(args):
        raise ACTINNInputError(
            "--scheduler annotates chunks on a cluster, and "
            "--majority-voting, --hierarchy and --remove-ambient need the "
            "whole query in one process: leave out --scheduler, or those")
    refuse_outputs(args, out_dir)


def _whole_query(args) -> bool:
    """Whether the query must be read at once (see the module notes)."""
    return bool(args.majority_voting or args.over_clustering or
                args.hierarchy or args.remove_ambient)


def _whole_query_options(args, cell_ids,
                         type_names: Sequence[str]) -> Dict[str, Any]:
    """``ACTINNAnnotator.predict`` keywords for the flags that read the
    whole query (voting, hierarchy, ambient RNA; none when none is given)."""
    options: Dict[str, Any] = {}
    if args.remove_ambient:
        options["remove_ambient"] = True
    if args.majority_voting:
        options["majority_voting"] = True
        if args.vote_min_probability is not None:
            options["vote_min_probability"] = args.vote_min_probability
        if args.over_clustering:
            from deepchem_actinn.voting import read_clusters
            options["over_clustering"] = read_clusters(args.over_clustering,
                                                       cell_ids)
    if args.hierarchy:
        options["hierarchy"] = hierarchy_file(args, type_names)
    return options


def _query_genes(args, annotator, var) -> Tuple[str, List[str]]:
    """The query identifier column that matches the model's genes best, and
    its names (:func:`~deepchem_actinn.preprocessing.genes.query_genes`,
    said as every prediction path says it); a query that matches too few
    is refused naming its file, its names as the file spells them."""
    from deepchem_actinn.preprocessing.genes import query_file_genes
    return query_file_genes(annotator.genes_,
                            args.test_set,
                            args.test_format,
                            annotator.min_overlap,
                            upper_case_genes=not args.keep_gene_case,
                            var=var,
                            **value_options(args),
                            **_query_options(args, annotator))


def _query_options(args, annotator, matrix: bool = True) -> Dict[str, Any]:
    """The readers' keywords for the query: its orientation and (unless
    ``matrix=False``, for the readers of cell ids and counts of cells, and
    of chunks, given the matrix settled once: :func:`_settle_query`) the
    matrix ``--test-layer`` names."""
    options = orientation_options(args.test_orientation,
                                  expected_genes=annotator.genes_)
    if matrix:
        options.update(query_matrix(args))
    return options


class _Outputs:
    """Writes the annotations of one prediction into ``directory``: a
    temporary one, where ``named`` (``-o``, as messages name the files)
    is given, that takes its place at the end."""

    def __init__(self,
                 args,
                 directory: Path,
                 type_names: List[str],
                 named: Optional[Path] = None) -> None:
        self.args = args
        self.directory = directory
        self.named = directory if named is None else named
        self.type_names = type_names
        self.ids: List[np.ndarray] = []
        self.probabilities: List[np.ndarray] = []

    def keep_probabilities(self, result) -> None:
        if self.args.output_probability:
            self.ids.append(result.cell_ids)
            self.probabilities.append(result.probabilities)

    def write_probabilities(self) -> None:
        from deepchem_actinn.io import write_probabilities
        if self.args.output_probability:
            write_probabilities(self.directory / PROBABILITY_FILE,
                                np.concatenate(self.ids),
                                self.type_names,
                                np.concatenate(self.probabilities),
                                name=self.named / PROBABILITY_FILE)

    def label_writer(self):
        """The writer of ``predicted_label.txt``, its messages naming the
        file as ``-o`` does."""
        from deepchem_actinn.io import PredictedLabelWriter
        return PredictedLabelWriter(self.directory / LABEL_FILE,
                                    name=self.named / LABEL_FILE)

    def write_whole(self, result) -> None:
        """``predicted_label.txt`` with the voting and hierarchy columns, and
        ``clusters.txt``."""
        import pandas as pd
        with self.label_writer() as writer:
            writer.write_annotation(result)
        table = getattr(result, "cluster_table", None)
        if self.args.majority_voting:
            if table is None:
                raise ACTINNInputError(
                    "%s: the annotator gave no cluster table for "
                    "--majority-voting" % self.args.model)
            if not isinstance(table.index, pd.RangeIndex):
                table = table.reset_index()
            table.to_csv(self.directory / CLUSTER_FILE,
                         sep="\t",
                         index=False,
                         lineterminator="\n")
        self.keep_probabilities(result)
        self.write_probabilities()


def _chunks(args, annotator) -> Generator[Any, None, None]:
    """The query's annotations chunk by chunk, here
    (``ACTINNAnnotator.predict_file``) or on a cluster
    (:func:`~deepchem_actinn.distributed.predict_file_dask`)."""
    upper = not args.keep_gene_case
    if args.scheduler:
        from deepchem_actinn.distributed import (predict_file_dask,
                                                 require_distributed)
        try:  # without Dask, the library's message: which extra to install
            distributed = require_distributed()
        except ImportError as err:
            raise ACTINNInputError("--scheduler %s: %s" %
                                   (args.scheduler, err)) from None
        logger.info("annotating on the dask scheduler %s", args.scheduler)
        try:
            client = distributed.Client(args.scheduler, timeout="30s")
        except ValueError as err:  # e.g. an unknown address scheme
            raise ACTINNInputError("--scheduler %s: not a Dask scheduler "
                                   "address (%s)" %
                                   (args.scheduler, err)) from None
        except OSError as err:
            raise ACTINNInputError(
                "--scheduler %s: cannot reach the Dask scheduler there (%s)" %
                (args.scheduler, err)) from None
        with _cluster_lost(args.scheduler), client:
            # as predict_file_dask names the query: by its absolute path
            settled = _settle_query(args, os.path.abspath(args.test_set))
            yield from predict_file_dask(annotator,
                                         args.test_set,
                                         client,
                                         args.chunk_size,
                                         args.test_format,
                                         upper_case_genes=upper,
                                         unassigned=args.unassigned,
                                         threshold=args.threshold,
                                         **value_options(args),
                                         **_query_options(args,
                                                          annotator,
                                                          matrix=False),
                                         **settled)
        return
    yield from annotator.predict_file(args.test_set,
                                      args.test_format,
                                      args.chunk_size,
                                      upper_case_genes=upper,
                                      unassigned=args.unassigned,
                                      threshold=args.threshold,
                                      **value_options(args),
                                      **_settle_query(args, args.test_set),
                                      orientation=_query_options(
                                          args, annotator)["orientation"])


def _settle_query(args, path) -> Dict[str, Any]:
    """The ``layer=`` / ``use_raw=`` of the matrix of the query (at
    ``path``, as the reader is given it) that every chunk reads, chosen
    here once and said once
    (:func:`~deepchem_actinn.io.h5ad.settle_matrix`); the matrix that
    look opened is kept for the record (``args.test_matrix_read``)."""
    from deepchem_actinn.io.h5ad import settle_matrix
    settled = settle_matrix(path, args.test_format, **query_matrix(args),
                            **value_options(args))
    args.test_matrix_read = settled.matrix
    return dict(layer=settled.layer, use_raw=settled.use_raw)


@contextlib.contextmanager
def _cluster_lost(address: str) -> Iterator[None]:
    """A cluster that stops answering mid-way (its scheduler stopped, its
    connection lost) as one line instead of Dask's traceback."""
    from distributed.comm.core import CommClosedError
    lost: Tuple[Type[BaseException],
                ...] = (CommClosedError, concurrent.futures.CancelledError)
    try:  # distributed from 2024.5 on; earlier, concurrent.futures' own
        from distributed.client import FutureCancelledError
        lost += (FutureCancelledError,)
    except ImportError:
        pass
    try:
        yield
    except lost as err:
        raise ACTINNInputError(
            "--scheduler %s: the Dask cluster stopped answering during the "
            "prediction (%s%s); nothing was written" %
            (address, type(err).__name__,
             ": %s" % err if str(err) else "")) from None


def _stream(args, annotator, outputs: _Outputs,
            summary: PredictionSummary) -> str:
    """Annotate chunk by chunk, writing labels as they come; returns the
    gene column used."""
    from deepchem_actinn.io import n_cells
    bar = Progress(args.quiet,
                   total=n_cells(args.test_set, args.test_format,
                                 **_query_options(args, annotator, False)),
                   unit="cells",
                   desc="annotating",
                   unit_scale=True)
    column = "var_names"
    try:
        # closing: a stop mid-run (Ctrl-C, SIGTERM) ends the reading
        # thread and closes the query file here, not at interpreter exit
        with outputs.label_writer() as writer, \
                contextlib.closing(_chunks(args, annotator)) as results:
            for result in results:
                writer.write_annotation(result)
                column = result.gene_column
                summary.add(result.cell_types, result.genes_missing,
                            *_rule_facts(result))
                outputs.keep_probabilities(result)
                bar.update(len(result))
        outputs.write_probabilities()
    finally:
        bar.close()
    return column


def _whole(args, annotator, outputs: _Outputs,
           summary: PredictionSummary) -> str:
    """Read the query at once and annotate it with one ``predict``."""
    from deepchem_actinn.io.readers import read_with_matrix
    # the record names the matrix this read took the counts from; the
    # expm1 of a log1p query is read already (query_checks._expm1_query)
    kept = getattr(args, "query_read", None)
    args.query_read = None
    adata, args.test_matrix_read = kept or read_with_matrix(
        args.test_set,
        args.test_format,
        upper_case_genes=not args.keep_gene_case,
        log1p=True,
        **value_options(args),
        **_query_options(args, annotator))
    column, genes = _query_genes(args, annotator, adata.var)
    options = _whole_query_options(args, adata.obs_names, annotator.type_names)
    result = annotator.predict(adata.X,
                               genes,
                               adata.obs_names,
                               unassigned=args.unassigned,
                               threshold=args.threshold,
                               gene_column=column,
                               **options)
    outputs.write_whole(result)
    summary.add(result.cell_types, result.genes_missing, *_rule_facts(result))
    if result.levels is not None:
        summary.add_levels(result.cell_types, result.levels)
    if result.majority_cell_types is not None:
        summary.add_vote(result.cell_types, result.majority_cell_types,
                         len(result.cluster_table))
    return column


def _rule_facts(result) -> tuple:
    """Why the Unassigned rule marked a result's cells and its query
    calibration (the query's divisor, each type's when it is shifted), when
    the rule judged it (``--unassigned``), for the summary; none with
    ``--threshold``, which has no calibration (its reasons, all
    ``low_probability``, are the labels' confidences under it)."""
    if result.unassigned_reason is None or result.novelty_score is None:
        return None, None, None
    return result.unassigned_reason, result.query_scale, result.type_scales


def predict_and_write(args,
                      annotator,
                      out_dir: Path,
                      trained: bool = False) -> None:
    """Annotate the query of ``args`` and publish the outputs together,
    with their record (``trained``: the annotator was trained by this run;
    ``--min-overlap``, when given, replaces the annotator's own)."""
    from deepchem_actinn.io.output import atomic_files
    if args.min_overlap is not None:
        annotator.min_overlap = args.min_overlap
    names = output_names(args)
    summary = PredictionSummary(
        len(annotator.genes_),
        "a dask cluster" if args.scheduler else str(annotator.ensemble_.device),
        annotator.rule_.min_assigned_probability,
        rule=bool(args.unassigned or args.threshold is not None))
    with atomic_files(out_dir,
                      outputs_to_replace(args, out_dir),
                      overwrite=args.overwrite,
                      parents=True) as tmp:
        outputs = _Outputs(args, tmp, list(annotator.type_names), out_dir)
        whole = _whole_query(args) or getattr(args, "query_read", None)
        run = _whole if whole else _stream
        try:
            column = run(args, annotator, outputs, summary)
        except ACTINNCellError as err:
            raise err.in_file(args.test_set) from None
        write_record(
            tmp,
            prediction_record(args, annotator, summary, column, names,
                              tmp / LABEL_FILE, trained))
    from deepchem_actinn.io.formats import path_and_format
    h5ad = path_and_format(args.test_set, args.test_format)[1] == "h5ad"
    # (the query's genes were said as they were matched: query_genes)
    summary.log(annotator.genes_, [], matched_by(column, h5ad),
                [str(out_dir / n) for n in reversed(names)])


def cmd_predict(args) -> None:
    """``actinn predict``: load an annotator, annotate the query (a CSV/TSV
    query's names read once, for its layout, cells and genes alike:
    :func:`~deepchem_actinn.io.shared_reads.shared_text_reads`)."""
    from deepchem_actinn.annotator import ACTINNAnnotator
    from deepchem_actinn.io.shared_reads import shared_text_reads
    out_dir = Path(args.output)
    check_outputs(args, out_dir)
    annotator = ACTINNAnnotator.load(args.model, device=device(args.device))
    refuse_unwritable_types(args.model, annotator.type_names)
    with shared_text_reads():
        check_query_files(args, annotator.type_names, annotator.genes_)
        settle_orientation(args, "test", expected_genes=annotator.genes_)
        refuse_empty_query(args, annotator.genes_)
        from deepchem_actinn.io.formats import path_and_format
        if path_and_format(args.test_set, args.test_format)[1] == "h5ad":
            check_query_counts(args)  # before its genes: its matrix decides
        predict_and_write(args, annotator, out_dir)


def refuse_unwritable_types(model: str, type_names: Sequence[str]) -> None:
    """Refuse, before the query is read, an annotator (fitted in Python:
    ``actinn train`` refuses such labels) with a type the prediction files
    cannot hold (a line break in its name), which would be found only when
    a cell is given it; naming the annotator's directory (``-m``)."""
    from deepchem_actinn.io.predictions import refuse_unwritable
    refuse_unwritable(type_names, "-m %s" % model, "cell type")


def _genes_to_train_on(args, reference: Sequence[str]) -> Optional[List[str]]:
    """The ``reference`` genes the query measures, or None for all of them
    (``--all-reference-genes``, or the query measures every one). A query
    that matches too few is refused here, before training, with
    ``--all-reference-genes`` too (its annotator would refuse the query
    after training)."""
    from deepchem_actinn.io import read_var
    from deepchem_actinn.preprocessing.genes import (gene_candidates,
                                                     measured_genes)
    query = read_var(  # as spelled, for messages: matching ignores case
        args.test_set, args.test_format, False, **query_matrix(args),
        **orientation_options(args.test_orientation, expected_genes=reference))
    try:
        overlap = {} if args.min_overlap is None else {
            "min_overlap": args.min_overlap
        }
        genes = measured_genes(reference, gene_candidates(query.index, query),
                               **overlap)
    except ACTINNInputError as err:
        raise ACTINNInputError("%s: %s", args.test_set, err) from None
    if args.all_reference_genes or len(genes) == len(reference):
        return None
    logger.info(
        "training on the %d of the reference's %d genes that the query "
        "measures (--all-reference-genes: all of them)", len(genes),
        len(reference))
    return genes


def cmd_run(args) -> None:
    """``actinn run``: train on the reference, on the genes the query
    measures, then annotate the query (the main process only, under
    torchrun). A CSV/TSV file's names are read once, and the query's parse
    that is checked before training is the one annotated after it (by the
    process that annotates it here: a cluster reads its own):
    :func:`~deepchem_actinn.io.shared_reads.shared_text_reads`."""
    from deepchem_actinn.cli.progress import process_tag
    from deepchem_actinn.io.shared_reads import shared_text_reads
    out_dir = Path(args.output)
    check_outputs(args, out_dir)
    annotated_here = not (args.scheduler or process_tag())
    with shared_text_reads((args.test_set,) if annotated_here else ()):
        _run(args, out_dir)


def _run(args, out_dir: Path) -> None:
    """:func:`cmd_run` once its outputs are checked."""
    from deepchem_actinn.cli.train import (check_model_dir, file_orientation,
                                           out_of_core, read_reference,
                                           save_model, train_annotator,
                                           train_matrix)
    from deepchem_actinn.io import read_gene_names
    if args.save_model:
        check_model_dir(args.save_model, args.overwrite, args)
    adata = labels = None
    if out_of_core(args):
        with file_role("train"):  # the command's other reads are the query's
            reference = read_gene_names(args.train_set, args.train_format,
                                        False, **train_matrix(args),
                                        **file_orientation(args))
    else:
        adata, labels = read_reference(args)
        reference = adata.var_names
    settle_orientation(args, "test", expected_genes=list(reference))
    check_query_files(
        args, None if labels is None else sorted({str(t) for t in labels}),
        list(reference))
    refuse_empty_query(args, list(reference))
    check_query_counts(args)
    annotator = train_annotator(args, adata, labels,
                                _genes_to_train_on(args, list(reference)))
    if is_main_process():
        if args.save_model:
            save_model(annotator, args.save_model, args.overwrite)
        predict_and_write(args, annotator, out_dir, trained=True)
