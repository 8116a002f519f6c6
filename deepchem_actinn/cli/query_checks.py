"""What ``actinn predict`` and ``actinn run`` check of the query and the
files beside it before any work (a bad file fails in seconds, not after
the networks are trained)."""
from typing import Any, Dict, Optional, Sequence

import numpy as np

from deepchem_actinn.cli.common import (ROLE_WORDS, file_role, matrix_options,
                                        orientation_options, settle_orientation,
                                        value_options)
from deepchem_actinn.errors import ACTINNInputError


def query_matrix(args) -> Dict[str, Any]:
    """The readers' ``layer=`` / ``use_raw=`` for ``--test-layer``."""
    return matrix_options(getattr(args, "test_layer", None))


def check_query_files(args, type_names: Optional[Sequence[str]],
                      expected_genes: Sequence[str]) -> None:
    """Read ``--hierarchy`` (against ``type_names`` when known) and
    ``--over-clustering`` (against the query's cells) before any training,
    so that a bad file fails in seconds, not after the networks are
    trained."""
    if args.hierarchy:
        hierarchy_file(args, type_names)
    if args.majority_voting and not args.over_clustering:
        from deepchem_actinn.voting import (INSTALL_CLUSTERING,
                                            missing_clustering)
        missing = missing_clustering()
        if missing:
            raise ACTINNInputError(
                "--majority-voting: %s (%s not installed), or give the "
                "query's clusters with --over-clustering FILE" %
                (INSTALL_CLUSTERING, " and ".join(missing)))
    if args.over_clustering and args.majority_voting:
        from deepchem_actinn.io import read_cell_ids
        from deepchem_actinn.io._common import existing
        from deepchem_actinn.voting import read_clusters
        existing(args.over_clustering)  # before the query's names are read
        settle_orientation(args, "test", expected_genes=expected_genes)
        with file_role("test"):
            cells = read_cell_ids(
                args.test_set, args.test_format,
                **orientation_options(args.test_orientation,
                                      expected_genes=expected_genes))
        read_clusters(args.over_clustering, [str(c) for c in cells])


def refuse_empty_query(args, expected_genes: Sequence[str]) -> None:
    """Refuse, before any training (once its orientation is settled:
    nothing said twice), a query without cells, and one whose cell ids
    the prediction files cannot hold (a line break in one), naming its
    file and the cells
    (:func:`~deepchem_actinn.io.predictions.refuse_unwritable`): its cell
    ids read once for both."""
    from deepchem_actinn.io import read_cell_ids
    from deepchem_actinn.io.predictions import refuse_unwritable
    with file_role("test"):
        cells = read_cell_ids(
            args.test_set, args.test_format,
            **orientation_options(args.test_orientation,
                                  expected_genes=expected_genes))
    if not len(cells):
        raise ACTINNInputError("%s: %s holds no cells" %
                               (args.test_set, ROLE_WORDS["test"]))
    refuse_unwritable(cells, args.test_set)


def hierarchy_file(args, type_names: Optional[Sequence[str]]):
    """The ``--hierarchy`` file, its types checked against ``type_names``
    (when given); errors name the file."""
    from deepchem_actinn.hierarchy import TypeHierarchy
    hierarchy = TypeHierarchy.from_file(args.hierarchy)
    if type_names is not None:
        try:
            hierarchy.check_types(type_names)
        except ACTINNInputError as err:
            raise ACTINNInputError("%s: %s", args.hierarchy, err) from None
    return hierarchy


def check_query_counts(args) -> None:
    """Look at the query's values before any training, so that a query that
    can never be annotated (values that are not counts, cells without
    counts, counts in a matrix not named) fails in seconds, not after the
    networks are trained: the first cells of a file read in chunks; the
    whole of a CSV/TSV file (``actinn run`` only: ``predict`` reads such a
    file once, as it annotates it; ``run`` annotates the parse read here,
    which it keeps: :func:`~deepchem_actinn.io.shared_reads.shared_text_reads`);
    an h5ad query whose first cells hold no counts is read whole, and kept
    for the annotation, where it is provably the natural log1p of per-cell
    normalised counts (the rule of :func:`~deepchem_actinn.annotate`)."""
    with file_role("test"):
        _first_cells(args)


def _first_cells(args) -> None:
    from deepchem_actinn.errors import ACTINNCellError
    from deepchem_actinn.io import iter_cell_chunks
    from deepchem_actinn.io.formats import path_and_format
    from deepchem_actinn.io.text import SEPARATORS
    from deepchem_actinn.preprocessing.normalise import refuse_empty_cells
    if path_and_format(args.test_set, args.test_format)[1] in SEPARATORS:
        _whole_text_query(args)
        return
    chunks = iter_cell_chunks(
        args.test_set,
        256,
        args.test_format,
        upper_case_genes=not args.keep_gene_case,
        starts=[0],  # a look, not a pass: not logged
        **value_options(args),
        **query_matrix(args))
    try:
        first = next(chunks, None)
    except ACTINNInputError:
        if not _expm1_query(args):
            raise  # as said: the whole file holds no provable log1p either
        return
    finally:
        getattr(chunks, "close", lambda: None)()
    # before training only: predict refuses them as it annotates, after
    # what is wrong with the genes, if anything, is said
    if first is not None and getattr(args, "command", None) == "run":
        ids, X = first
        try:
            refuse_empty_cells(np.asarray(X.sum(axis=1)).ravel(), ids)
        except ACTINNCellError as err:
            raise err.in_file(args.test_set) from None


def _expm1_query(args) -> bool:
    """Whether an h5ad query whose first cells hold no counts is, read
    whole, provably the natural log1p of per-cell normalised counts (in
    ``X`` or else ``.raw.X``: :func:`~deepchem_actinn.io.counts_source`'s
    ``log1p``, as :func:`~deepchem_actinn.annotate` reads one); its expm1,
    said in the log, is then kept for the annotation
    (``args.query_read``: the counts and ``"expm1(.raw.X)"``), which reads
    no chunks. ``--remove-ambient`` (each cell's depth, lost) and
    ``--scheduler`` (chunks, of a file read whole here) are refused with
    it; with ``actinn run``, cells without counts too."""
    from deepchem_actinn.errors import ACTINNCellError
    from deepchem_actinn.io.count_matrix import (CountsSource, read_from,
                                                 refuse_without_depth)
    from deepchem_actinn.io.formats import path_and_format
    from deepchem_actinn.io.h5ad_rows import may_be_log1p
    from deepchem_actinn.io.readers import read_with_matrix
    from deepchem_actinn.preprocessing.normalise import refuse_empty_cells
    path, format = path_and_format(args.test_set, args.test_format)
    if format != "h5ad" or not may_be_log1p(path):
        return False  # not read whole to be refused: a file may be large
    try:
        adata, matrix = read_with_matrix(
            args.test_set,
            args.test_format,
            upper_case_genes=not args.keep_gene_case,
            log1p=True,
            **value_options(args),
            **query_matrix(args))
    except ACTINNInputError:
        return False
    if read_from(matrix) == matrix:  # no expm1: the first cells' word holds
        return False
    source = str(args.test_set)
    refuse_without_depth(CountsSource(None, None, matrix), source,
                         **{"--remove-ambient": args.remove_ambient})
    if getattr(args, "scheduler", None):
        raise ACTINNInputError(
            "%s: --scheduler annotates chunks on a cluster, and the query's "
            "%s is taken of the whole file in one process: leave out "
            "--scheduler" % (source, matrix))
    if getattr(args, "command", None) == "run":
        try:
            refuse_empty_cells(
                np.asarray(adata.X.sum(axis=1)).ravel(), adata.obs_names)
        except ACTINNCellError as err:
            raise err.in_file(args.test_set) from None
    args.query_read = (adata, matrix)
    return True


def _whole_text_query(args) -> None:
    """A CSV/TSV query read whole and checked as the annotation checks it
    (values that are counts, every cell with an id and some counts); what
    it warns of is said once (the command's log says each message once)."""
    from deepchem_actinn.errors import ACTINNCellError
    from deepchem_actinn.io import read
    from deepchem_actinn.io.readers import check_cell_ids
    from deepchem_actinn.preprocessing.normalise import refuse_empty_cells
    adata = read(
        args.test_set,
        args.test_format,
        upper_case_genes=not args.keep_gene_case,
        warn_repeated=False,  # its log line is the annotation's
        **value_options(args),
        **query_matrix(args),
        **orientation_options(args.test_orientation))
    check_cell_ids(adata.obs_names, str(args.test_set))
    try:
        refuse_empty_cells(
            np.asarray(adata.X.sum(axis=1)).ravel(), adata.obs_names)
    except ACTINNCellError as err:
        raise err.in_file(args.test_set) from None
