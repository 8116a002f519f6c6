"""``actinn train``: fit an annotator on a labelled reference and save it.

Under ``torchrun`` every process trains and only the main process writes.
"""
import logging
import os
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

from deepchem_actinn.cli.common import (device, file_role, is_main_process,
                                        matrix_options, orientation_options,
                                        settle_orientation, value_options)
from deepchem_actinn.cli.progress import Progress
from deepchem_actinn.errors import ACTINNCellError, ACTINNInputError
from deepchem_actinn.preprocessing.genes import columns_of, gene_key

logger = logging.getLogger("deepchem_actinn")


def out_of_core(args) -> bool:
    """Whether to train from disk: asked for, or the file is large."""
    if args.out_of_core:
        return True
    try:
        size = os.path.getsize(args.train_set)
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return False
    return size > memory / 4


def original_case(genes: Sequence[str], raw_names: Sequence[str]) -> list:
    """``genes`` (upper-cased names) spelled as the file spells them.

    Matching is case-insensitive, so this changes no prediction; it keeps
    the reference's own spelling (``Cd3e`` or ``CD3E``) in the saved
    annotator, which is what tells a mouse reference from a human one.
    Names are paired by the matching rule
    (:func:`~deepchem_actinn.preprocessing.genes.gene_key`), and the first
    spelling of each gene wins, as when the names were cleaned.

    Examples
    --------
    >>> from deepchem_actinn.cli.train import original_case
    >>> original_case(["CD3E", "ACTB"], ["Actb", "Cd3e", "ACTB"])
    ['Cd3e', 'Actb']
    """
    spelling: Dict[str, str] = {}
    for name in raw_names:
        spelling.setdefault(gene_key(name), str(name))
    return [spelling.get(gene_key(g), str(g)) for g in genes]


def file_orientation(args) -> Dict[str, Any]:
    """The reference's layout for the readers that take it from disk (out
    of core): ``--train-orientation``, or decided once from the labels'
    cell ids (:func:`~deepchem_actinn.cli.common.settle_orientation`)."""
    from deepchem_actinn.io.formats import path_and_format
    from deepchem_actinn.io.text import SEPARATORS
    text = path_and_format(args.train_set, args.train_format)[1] in SEPARATORS
    if text and getattr(args, "train_orientation", "auto") == "auto":
        # a text file's labels are a file (it has no obs)
        settle_orientation(args,
                           "train",
                           expected_cells=reference_labels(args).index)
    chosen = getattr(args, "train_orientation", "auto")
    return {} if chosen == "auto" else {"orientation": chosen}


def reference_labels(args) -> Any:
    """The reference's labels as ``-trl`` and ``--labels-column`` give
    them (:func:`~deepchem_actinn.io.labels_from`; ``attrs["source"]``
    names them in messages), read once per command."""
    from deepchem_actinn.io import labels_from
    read = getattr(args, "_reference_labels", None)
    if read is None:
        read = labels_from(args.train_label, args.train_set, args.train_format,
                           args.labels_column)[0]
        args._reference_labels = read
    return read


def train_matrix(args) -> Dict[str, Any]:
    """The readers' ``layer=`` / ``use_raw=`` for ``--train-layer``."""
    return matrix_options(getattr(args, "train_layer", None))


def orientation_hint(err: ACTINNInputError, args) -> ACTINNInputError:
    """``err`` with a hint when ``--train-orientation`` was given for a
    CSV/TSV reference and the layout the labels' cell ids point to
    (:func:`~deepchem_actinn.io.text.text_orientation`) is the other one."""
    from deepchem_actinn.io.formats import path_and_format
    from deepchem_actinn.io.orientation import GENES_BY_CELLS
    from deepchem_actinn.io.text import text_orientation
    given = getattr(args, "train_orientation", "auto")
    path, fmt = path_and_format(args.train_set, args.train_format)
    if given == "auto" or fmt not in ("csv", "tsv"):
        return err
    try:
        pointed = text_orientation(path,
                                   fmt,
                                   expected_cells=reference_labels(args).index)
    except ACTINNInputError:  # the labels match neither axis
        return err
    if pointed == given:
        return err
    return ACTINNInputError(
        "%s (the labels name the file's %s, which --train-orientation %s "
        "reads as genes: give %s, or leave the option out and the layout "
        "is detected)", err, "rows" if given == GENES_BY_CELLS else "columns",
        given, pointed)


def labels_named(args) -> str:
    """The words naming the reference labels in messages: their file (or
    ``PATH obs['column']``), as read."""
    read = getattr(args, "_reference_labels", None)
    source = None if read is None else read.attrs.get("source")
    return str(source or getattr(args, "train_label", None) or
               "the reference labels")


def check_reference_types(args, labels) -> None:
    """Refuse, before any training and naming the labels' file (or obs
    column), reference labels that name fewer than two types or a type
    read as ``Unassigned`` (the annotator refuses both, without the file,
    which it does not know), and types that the prediction files cannot
    hold (:func:`~deepchem_actinn.io.predictions.refuse_unwritable`: a line
    break in one), which an annotator may be fitted on in Python (its
    results hold any text) but the command line would write."""
    import pandas as pd

    from deepchem_actinn.annotator.fitting import TOO_FEW_TYPES
    from deepchem_actinn.errors import examples
    from deepchem_actinn.io.predictions import refuse_unwritable
    from deepchem_actinn.labels import refuse_unassigned, type_name
    raw = pd.unique(pd.Series(np.asarray(labels, dtype=object)).astype(str))
    names = sorted({type_name(t) for t in raw})
    try:
        refuse_unassigned(names)
    except ACTINNInputError as err:
        raise ACTINNInputError("%s: %s", labels_named(args), err) from None
    if len(names) < 2:
        raise ACTINNInputError("%s: " + TOO_FEW_TYPES, labels_named(args),
                               examples(names))
    refuse_unwritable(names, labels_named(args), "cell type")


def labels_error(err: ACTINNInputError, args) -> ACTINNInputError:
    """``err`` naming the labels' file when it is the annotator's refusal
    of labels of too few types (those of the cells the file holds), else
    ``err`` itself."""
    from deepchem_actinn.annotator.fitting import TOO_FEW_TYPES
    if err.args and err.args[0] is TOO_FEW_TYPES:
        return ACTINNInputError("%s: %s", labels_named(args), err)
    return err


def reference_spelling(args) -> Optional[Sequence[str]]:
    """The reference's gene names as its file spells them (for
    :func:`original_case`), read before any training so that a file whose
    names cannot be read fails first; None with ``--keep-gene-case`` (the
    names are kept as spelled) or no reference file."""
    from deepchem_actinn.io import read_var
    if args.keep_gene_case or not getattr(args, "train_set", None):
        return None
    # the orientation of a text file is settled by now (read_reference,
    # file_orientation): no hint needed
    return list(
        read_var(
            args.train_set, args.train_format, False, **train_matrix(args),
            **orientation_options(getattr(args, "train_orientation",
                                          "auto"))).index)


def read_reference(args):
    """The reference counts and labels named in ``args`` (labelled cells
    only with ``--labelled-only``)."""
    with file_role("train"):
        return _read_reference(args)


def _read_reference(args):
    from deepchem_actinn.io import match_labels
    from deepchem_actinn.io.readers import read_with_matrix
    labels = reference_labels(args)
    named = str(labels.attrs.get("source", args.train_label))
    settle_orientation(args, "train", expected_cells=labels.index)
    adata, args.train_matrix_read = read_with_matrix(
        args.train_set,
        args.train_format,
        upper_case_genes=not args.keep_gene_case,
        **value_options(args),
        **train_matrix(args),
        **orientation_options(args.train_orientation,
                              expected_cells=labels.index),
        log1p=True)
    missing = "drop" if args.labelled_only else "error"
    try:
        y = match_labels(adata.obs_names,
                         labels,
                         named,
                         missing,
                         cells_of=args.train_set)
    except ACTINNInputError as err:
        raise orientation_hint(err, args) from None
    keep = np.asarray([v is not None for v in y])
    if not keep.all():
        logger.warning(
            "%s: %d of %d cells have no label and were left out "
            "(--labelled-only); training on %d", named, int((~keep).sum()),
            len(keep), int(keep.sum()))
        adata = adata[keep].copy()
        y = y[keep]
    return adata, y


#: Training flags and the annotator parameter each sets; a flag left out
#: (None) leaves the annotator's default.
TRAINING_FLAGS = {
    "networks": "n_networks",
    "learning_rate": "learning_rate",
    "minibatch_size": "batch_size",
    "linear_weight": "linear_weight",
    "seed": "seed",
}


def training_params(args) -> Dict[str, Any]:
    """The :class:`~deepchem_actinn.annotator.ACTINNAnnotator` parameters
    the training flags in ``args`` set: only the flags given (the
    annotator's defaults are the command's); ``-ne N`` trains exactly N
    epochs, without early stopping.

    Examples
    --------
    >>> from argparse import Namespace
    >>> from deepchem_actinn.cli.train import training_params
    >>> training_params(Namespace(num_epochs=None, networks=None, seed=0))
    {'seed': 0, 'device': None}
    >>> training_params(Namespace(num_epochs=50, networks=1, seed=0))  # doctest: +NORMALIZE_WHITESPACE
    {'n_networks': 1, 'seed': 0, 'max_epochs': 50, 'early_stopping': False,
     'device': None}
    """
    params = {
        param: getattr(args, flag)
        for flag, param in TRAINING_FLAGS.items()
        if getattr(args, flag, None) is not None
    }
    if getattr(args, "num_epochs", None) is not None:
        params.update(max_epochs=args.num_epochs, early_stopping=False)
    params["device"] = device(getattr(args, "device", None))
    return params


def epochs_per_network(histories) -> str:
    """Each network's epochs and, in brackets, the epoch whose weights it
    kept, from an annotator's ``histories_``.

    Examples
    --------
    >>> from deepchem_actinn.cli.train import epochs_per_network
    >>> epochs_per_network([{"train_loss": [0.9] * 104, "best_epoch": [94]},
    ...                     {"train_loss": [0.9] * 80, "best_epoch": [71]}])
    '104 (94), 80 (71)'
    """
    words = []
    for history in histories:
        best = history.get("best_epoch")  # the annotator's: a 1-element list
        best = best[0] if isinstance(best, (list, tuple)) and best else best
        words.append("%d (%s)" %
                     (len(history.get("train_loss",
                                      ())), "-" if best is None else best))
    return ", ".join(words)


def train_annotator(args,
                    adata=None,
                    labels=None,
                    genes: Optional[Sequence[str]] = None):
    """Train an annotator on ``adata`` and ``labels`` when given, else on
    the reference files named in ``args``; on the reference's ``genes``
    only when given (names as the reference spells them)."""
    with file_role("train"):
        return _train_annotator(args, adata, labels, genes)


def _train_annotator(args, adata, labels, genes: Optional[Sequence[str]]):
    from deepchem_actinn.annotator import ACTINNAnnotator
    from deepchem_actinn.annotator.inspection import model_words
    annotator = ACTINNAnnotator(**training_params(args))
    show_cost = getattr(args, "print_cost", True)
    bar = Progress(args.quiet or not show_cost or not is_main_process(),
                   unit="epoch",
                   desc="training")

    def progress(state: Dict[str, Any]) -> None:
        cost = {"cost": "%.4f" % state["train_loss"]}
        if "valid_loss" in state:
            cost["valid"] = "%.4f" % state["valid_loss"]
        bar.update(1, **cost)

    try:
        if adata is None and out_of_core(args):
            logger.info("training from disk, block by block: %s",
                        args.train_set)
            labels = reference_labels(args)
            orientation = file_orientation(args)
            check_reference_types(args, labels)
            spelling = reference_spelling(args)
            try:
                annotator.fit_file(args.train_set,
                                   labels,
                                   args.train_format,
                                   upper_case_genes=not args.keep_gene_case,
                                   progress=progress,
                                   labelled_only=args.labelled_only,
                                   genes=genes,
                                   **value_options(args),
                                   **train_matrix(args),
                                   **orientation)
            except ACTINNCellError:
                raise
            except ACTINNInputError as err:
                raise orientation_hint(labels_error(err, args), args) from None
        else:
            if adata is None:
                adata, labels = read_reference(args)
            check_reference_types(args, labels)
            spelling = reference_spelling(args)
            if genes is not None:
                adata = adata[:, columns_of(adata.var_names, genes)]
            try:
                annotator.fit(adata.X,
                              adata.var_names,
                              labels,
                              adata.obs_names,
                              progress=progress)
            except ACTINNCellError:
                raise
            except ACTINNInputError as err:
                raise labels_error(err, args) from None
    except ACTINNCellError as err:
        raise err.in_file(args.train_set) from None
    finally:
        bar.close()
    from deepchem_actinn.models import distributed
    distributed.synchronise()  # the last collective: each process may leave
    if not is_main_process():  # nothing may fail here now that 0 goes on
        return annotator
    if spelling is not None:
        annotator.genes_ = original_case(annotator.genes_, spelling)
    record_command(annotator, args, genes)
    logger.info(
        "trained %s on %d cells, %d genes, %d types, on %s; epochs (best) "
        "per network: %s", model_words(annotator), annotator.n_reference_cells_,
        len(annotator.genes_), len(annotator.type_names),
        annotator.ensemble_.device, epochs_per_network(annotator.histories_))
    return annotator


def record_command(annotator, args, genes: Optional[Sequence[str]]) -> None:
    """Add to the annotator's training record (``training_``) the command
    line, the directory it ran in (where its relative paths start) and the
    reference files and reading options it was given, with the format
    detected and, for an h5ad file, the matrix read (as ``prediction.json``
    names a query's: ``"X"``, ``".raw.X"`` or ``"layers['counts']"``)."""
    import shlex
    import sys

    from deepchem_actinn.annotator.provenance import file_source
    from deepchem_actinn.io.formats import path_and_format
    record = annotator.training_
    if getattr(args, "train_set", None):
        layer = getattr(args, "train_layer", None)
        labels = getattr(args, "train_label", None)
        fmt = path_and_format(args.train_set, getattr(args, "train_format",
                                                      None))[1]
        read = record["reference"]
        matrix = read.get("matrix") if read.get("out_of_core") else getattr(
            args, "train_matrix_read", None)
        record["reference"] = file_source(
            args.train_set,
            format=fmt,
            matrix=matrix if fmt == "h5ad" else None,
            layer=layer,
            labels=None if labels is None else os.fspath(labels),
            labels_column=getattr(args, "labels_column", None),
            out_of_core=bool(record["reference"].get("out_of_core")),
            labelled_only=bool(getattr(args, "labelled_only", False)),
            allow_non_integer=value_options(args)["allow_non_integer"],
            genes_given=None if genes is None else len(genes))
    given = getattr(args, "argv", None)
    record["command"] = " ".join(
        shlex.quote(str(a))
        for a in ["actinn"] + (sys.argv[1:] if given is None else given))
    record["directory"] = os.getcwd()


#: The files a command reads, by option, and the words for each: ``-m``
#: may name none of them.
INPUTS = (
    ("train_set", "the reference counts (-trs)"),
    ("train_label", "the reference labels (-trl)"),
    ("test_set", "the query (-ts)"),
    ("hierarchy", "the --hierarchy file"),
    ("over_clustering", "the --over-clustering file"),
)


def check_model_inputs(args, path: Optional[str]) -> None:
    """Refuse an annotator directory ``path`` (``-m``) that is one of the
    command's inputs, which saving it would replace. ``-trl`` is an input
    only when it names a file: it may name an obs column of ``-trs``."""
    if path is None or not os.path.exists(path):
        return
    for dest, words in INPUTS:
        given = getattr(args, dest, None)
        if not isinstance(given, (str, os.PathLike)) or \
                not os.path.exists(given):
            continue
        if dest == "train_label" and not os.path.isfile(given):
            continue  # a column's name, or a directory no labels are in
        if os.path.samefile(path, given):
            raise ACTINNInputError(
                "-m %s is %s: save the annotator in a directory of its own" %
                (path, words))


def check_model_dir(path: str, overwrite: bool, args=None) -> None:
    """Before any training: refuse ``-m`` naming a file, or (with
    ``args``, the command's) one of its inputs, a directory that holds
    files other than an annotator's (a prediction's, say: overwriting
    would delete them, so ``--overwrite`` cannot help), and an annotator
    directory that exists (unless ``overwrite``, or it is empty, as
    ``mkdir -p`` leaves it) or cannot be written, and a new one named like
    a data file."""
    from deepchem_actinn.annotator.persistence import refuse_foreign_files
    from deepchem_actinn.cli.outputs import refuse_file_like_folder
    refuse_file_like_folder("-m", path)
    from deepchem_actinn.io.output import refuse_existing
    try:  # a file first: "exists; pass --overwrite" would mislead
        refuse_foreign_files(path, overwrite=False)
    except ACTINNInputError as err:
        raise ACTINNInputError("-m %s", err) from None
    if args is not None:
        check_model_inputs(args, path)
    try:  # other files, whether or not --overwrite: it would not do
        refuse_foreign_files(path, overwrite=True)
    except ACTINNInputError as err:
        raise ACTINNInputError("-m %s", err) from None
    refuse_existing([Path(path)], overwrite)


def save_model(annotator, path: str, overwrite: bool) -> None:
    """Save the annotator, making its directory's parents as ``-o`` does."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    annotator.save(path, overwrite=overwrite)
    logger.info("saved the annotator to %s", path)


def cmd_train(args) -> None:
    """``actinn train``: fit, then save (the main process only)."""
    check_model_dir(args.model, args.overwrite, args)
    annotator = train_annotator(args)
    if is_main_process():
        save_model(annotator, args.model, args.overwrite)
