"""``prediction.json``: how ``actinn predict``, ``actinn run`` and ``actinn
demo`` made the labels beside it (what ``actinn report`` shows of it is
:mod:`~deepchem_actinn.cli.record_report`).

The record is written with the prediction's other files, in the same
atomic step (before ``predicted_label.txt``, which appears last), so a
directory's record always describes the labels beside it. It holds the
command line and when it finished, the versions of the package, Python and the
numerical libraries, the query (file, format, matrix), the model (its
directory, or trained by this ``actinn run`` or ``demo``, with its training
record),
the ``Unassigned`` rule and how many cells it marked and why, the type
hierarchy, the majority vote, the ambient RNA removal, the genes matched,
how the query was read (whole, chunk by chunk, on Dask), the cells per
label, the files written, and the size and SHA-256 of
``predicted_label.txt``, by which ``actinn report`` tells that the record
is of the predictions it is given. Options not used are ``null`` (or
``false``): the record says only what was done.
"""
import datetime
import hashlib
import json
import logging
import math
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from deepchem_actinn.cli.outputs import LABEL_FILE, RECORD_FILE

logger = logging.getLogger("deepchem_actinn")

#: What the record's ``format`` key says it is.
RECORD_FORMAT = "deepchem-actinn prediction record"

#: The version of the record's layout (its ``format_version`` key); a
#: report reads this version only.
RECORD_VERSION = 1


def _plain(value: Any) -> Any:
    """``value`` as plain JSON values: numpy numbers and arrays as Python
    ones, paths as text, a number that is not finite as None (the record
    holds no NaN)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _plain(value.tolist())
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _file(path: Any) -> Dict[str, str]:
    """A file as given on the command line, and made absolute."""
    return {"file": os.fspath(path), "absolute": os.path.abspath(path)}


def file_digest(path: Any) -> Dict[str, Any]:
    """The size in bytes and SHA-256 (hex) of a file.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.cli.record import file_digest
    >>> path = os.path.join(tempfile.mkdtemp(), "labels.txt")
    >>> _ = open(path, "wb").write(b"cellname\\tcelltype\\n")
    >>> file_digest(path)["bytes"], file_digest(path)["sha256"][:12]
    (18, '371b457bc24e')
    """
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest()}


def _command(args) -> List[str]:
    """The arguments the command was given (``actinn`` left out)."""
    given = getattr(args, "argv", None)
    return [str(a) for a in (sys.argv[1:] if given is None else given)]


def _unassigned(args, annotator, summary) -> Dict[str, Any]:
    """The ``Unassigned`` rule used and the cells it marked, by reason."""
    from deepchem_actinn.confidence import UNASSIGNED
    marked = int(summary.type_counts.get(UNASSIGNED, 0))
    threshold = getattr(args, "threshold", None)  # demo takes neither
    if getattr(args, "unassigned", False):
        least = float(annotator.rule_.min_assigned_probability)
        found: Dict[str, Any] = dict(mode="rule",
                                     min_assigned_probability=least,
                                     cells=marked,
                                     novel=summary.novel,
                                     low_probability=summary.uncertain)
        if summary.scales:  # the novelty rule's divisors, as the summary
            found["query_scale"] = {
                "min": min(summary.scales),
                "max": max(summary.scales),
                "by_type": summary.by_type
            }
        return found
    if threshold is not None:  # its one reason: under the threshold
        return {
            "mode": "threshold",
            "threshold": float(threshold),
            "cells": marked,
            "low_probability": marked
        }
    return {"mode": "none", "cells": marked}


def _voting(args, annotator, summary) -> Optional[Dict[str, Any]]:
    """The majority vote's clusters, least probability and labels (each
    with its number of cells, as ``labels`` counts the cells' own), or
    None."""
    if not args.majority_voting:
        return None
    from deepchem_actinn.voting import MIN_VOTE_PROBABILITY
    n_cells = summary.n_cells
    found: Dict[str, Any] = {
        "vote_min_probability":
            float(MIN_VOTE_PROBABILITY if args.vote_min_probability is None else
                  args.vote_min_probability),
        "labels":
            dict(
                sorted(summary.vote_counts.items(),
                       key=lambda kv: (-kv[1], kv[0])))
    }
    if args.over_clustering:
        found["over_clustering"] = _file(args.over_clustering)
    else:  # labelling.vote: over_cluster's default resolution, the seed
        from deepchem_actinn.clustering import default_resolution
        found["over_clustering"] = {
            "method": "leiden",
            "resolution": default_resolution(n_cells),
            "seed": int(annotator.seed)
        }
    return found


def model_fingerprint(annotator) -> str:
    """SHA-256 of what makes an annotator's labels: its genes, types and
    weights (the networks' and the linear member's), so that a report can
    tell whether ``-m`` is the model a record names.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn import ACTINNAnnotator
    >>> from deepchem_actinn.cli.record import model_fingerprint
    >>> rng = np.random.default_rng(0)
    >>> X = rng.poisson(2.0, (60, 30)).astype(np.float32)
    >>> genes = ["g%d" % i for i in range(30)]
    >>> labels = np.repeat(["A", "B"], 30)
    >>> def fit(seed):
    ...     return ACTINNAnnotator(n_networks=1, max_epochs=2, seed=seed,
    ...                            device="cpu").fit(X, genes, labels)
    >>> model_fingerprint(fit(0)) == model_fingerprint(fit(0))
    True
    >>> model_fingerprint(fit(0)) == model_fingerprint(fit(1))
    False
    """
    import numpy as np
    digest = hashlib.sha256()
    for names in (annotator.genes_, annotator.type_names):
        digest.update(json.dumps([str(n) for n in names]).encode())
    for name, tensor in sorted(annotator.ensemble_.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    linear = getattr(annotator, "linear_", None)
    if linear is not None:
        for name, value in sorted(vars(linear).items()):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _matrix(args, fmt: str) -> Optional[str]:
    """The matrix of an h5ad query that was read (``X``, ``.raw.X`` or a
    layer), as the read that took the counts named it
    (``args.test_matrix_read``: the one ``--test-layer`` names, else the
    one the reader chose by its first cells); None for the other formats
    (one matrix each)."""
    if fmt != "h5ad":
        return None
    return getattr(args, "test_matrix_read", None)


def _model(args, annotator, trained: bool) -> Dict[str, Any]:
    """The model: its directory (loaded from, or with ``actinn run -m``
    saved to; None for one saved nowhere, as ``actinn demo``'s), what it is (its settings in words and its parameters), its
    fingerprint, the types, its training record."""
    from deepchem_actinn.annotator.inspection import model_words
    where = getattr(args, "save_model", None) if trained else args.model
    return {
        "directory": None if where is None else os.fspath(where),
        "absolute": None if where is None else os.path.abspath(where),
        "trained_in_this_run": bool(trained),
        "fingerprint": model_fingerprint(annotator),
        "model": model_words(annotator),
        "params": annotator.get_params(),
        "type_names": [str(t) for t in annotator.type_names],
        "training": dict(getattr(annotator, "training_", None) or {}),
    }


def prediction_record(args,
                      annotator,
                      summary,
                      gene_column: str,
                      files: Sequence[str],
                      labels_path: Any,
                      trained: bool = False) -> Dict[str, Any]:
    """The record of one prediction, as plain JSON values.

    Parameters
    ----------
    args: argparse.Namespace
        The command's arguments (``actinn predict`` or ``actinn run``).
    annotator: ACTINNAnnotator
        The annotator that made the labels.
    summary: PredictionSummary
        The counts gathered while predicting.
    gene_column: str
        The query's gene identifiers matched to the model's.
    files: sequence of str
        The files the prediction writes, in publishing order.
    labels_path: str or os.PathLike
        The ``predicted_label.txt`` written, whose size and SHA-256 the
        record keeps.
    trained: bool, default False
        The annotator was trained by this run (``actinn run``).

    Returns
    -------
    dict
        What :func:`write_record` writes.
    """
    from deepchem_actinn.hierarchy import HIERARCHY_MARGIN
    from deepchem_actinn.cli.predict import _whole_query
    from deepchem_actinn.io.formats import path_and_format
    from deepchem_actinn.io.text import SEPARATORS
    fmt = path_and_format(args.test_set, args.test_format)[1]
    query = dict(
        _file(args.test_set),
        format=fmt,
        layer=getattr(args, "test_layer", None),
        matrix=_matrix(args, fmt),
        orientation=args.test_orientation if fmt in SEPARATORS else None,
        upper_case_genes=not args.keep_gene_case,
        allow_non_integer=bool(getattr(args, "allow_non_integer", False)))
    mode = ("dask"
            if args.scheduler else "whole" if _whole_query(args) else "chunks")
    reading = dict(mode=mode,
                   chunk_size=None if mode == "whole" else args.chunk_size,
                   scheduler=args.scheduler)
    hierarchy = None if not args.hierarchy else dict(_file(args.hierarchy),
                                                     margin=HIERARCHY_MARGIN)
    return _record(args,
                   summary,
                   files,
                   labels_path,
                   query=query,
                   reading=reading,
                   model=_model(args, annotator, trained),
                   genes=_genes(annotator, summary, gene_column),
                   unassigned=_unassigned(args, annotator, summary),
                   hierarchy=hierarchy,
                   majority_voting=_voting(args, annotator, summary),
                   remove_ambient=bool(args.remove_ambient))


def demo_record(args, annotator, summary, query: Any, query_format: str,
                files: Sequence[str], labels_path: Any) -> Dict[str, Any]:
    """The record of ``actinn demo``'s prediction: the bundled ``query``
    (of ``query_format``), read whole, labelled by the annotator the demo
    trained and saved nowhere (no model directory: ``null``), with its
    genes matched through ``var_names``, without an ``Unassigned`` rule (the
    demo takes neither ``--unassigned`` nor ``--threshold``), no hierarchy,
    vote or ambient RNA removal; the other arguments are those of
    :func:`prediction_record`.

    Returns
    -------
    dict
        What :func:`write_record` writes, of the layout
        :func:`prediction_record` gives.
    """
    query_fields = dict(_file(query),
                        format=query_format,
                        layer=None,
                        matrix=None,
                        orientation=None,
                        upper_case_genes=not args.keep_gene_case,
                        allow_non_integer=False)
    return _record(args,
                   summary,
                   files,
                   labels_path,
                   query=query_fields,
                   reading=dict(mode="whole", chunk_size=None, scheduler=None),
                   model=_model(args, annotator, True),
                   genes=_genes(annotator, summary, "var_names"),
                   unassigned=_unassigned(args, annotator, summary),
                   hierarchy=None,
                   majority_voting=None,
                   remove_ambient=False)


def _genes(annotator, summary, gene_column: str) -> Dict[str, Any]:
    """The model's genes, those the query matched and how."""
    return dict(model=summary.n_model_genes,
                matched=summary.n_model_genes - summary.genes_missing,
                missing=summary.genes_missing,
                gene_column=gene_column,
                min_overlap=float(annotator.min_overlap))


def _record(args, summary, files: Sequence[str], labels_path: Any,
            **parts: Any) -> Dict[str, Any]:
    """A record: what every prediction records (the command, where and
    when it ran, the versions, the device, the cells and labels, the files
    written and the labels file's digest) around the ``parts`` that say
    how this one was made (query, reading, model, genes, the rules)."""
    from deepchem_actinn._version import __version__
    from deepchem_actinn.annotator.provenance import environment
    argv = _command(args)
    counts = sorted(summary.type_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    outputs = {
        "files": [str(f) for f in files if f != RECORD_FILE],
        LABEL_FILE: file_digest(labels_path)
    }
    now = datetime.datetime.now(datetime.timezone.utc)
    record = dict(format=RECORD_FORMAT,
                  format_version=RECORD_VERSION,
                  command=" ".join(shlex.quote(a) for a in ["actinn"] + argv),
                  argv=argv,
                  directory=os.getcwd(),
                  time=now.isoformat(timespec="seconds"),
                  package_version=__version__,
                  **environment(),
                  device=summary.device,
                  **parts,
                  cells=summary.n_cells,
                  labels=dict(counts),
                  outputs=outputs)
    return _plain(record)


def write_record(directory: Any, record: Dict[str, Any]) -> Path:
    """Write ``record`` as ``directory/prediction.json`` (no NaN: refused
    rather than written as JSON cannot hold it)."""
    path = Path(directory) / RECORD_FILE
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, allow_nan=False)
        handle.write("\n")
    return path
