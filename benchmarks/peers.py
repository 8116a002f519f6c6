"""Peers run from inside a benchmark, on the same reference and query.

CellTypist, actinn-jax and scikit-learn's LinearSVC are trained and run as
``benchmarks/compare.py`` runs them (``benchmarks/tools/run_<peer>.py``, in
their own venvs where they need one), here on matrices a benchmark already
holds: a reference on the genes a query measures (as ``actinn run`` trains)
and the query twice, as the file it is and with its genes first intersected
with the reference's (as the original ACTINN does, so that a peer that
normalises over all of a file's genes is given the chance to do otherwise).

Usage, from a benchmark's ``main``::

    peers.add_arguments(parser, HERE / ".work")
    args = parser.parse_args(argv)
    chosen, work = peers.from_args(parser, args)
    labels = peers.run_peer("celltypist", work, work / "mine", reference,
                            reference_labels, shared, Xq, genes, threads=1)
"""
import argparse
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

import compare
import harness

#: The peers a benchmark's ``--peers`` can name.
PEERS = ("celltypist", "actinn_jax", "linearsvc")

#: The two ways a peer is given the query: the file as it is, and only the
#: genes it shares with the reference (then normalised by the peer).
QUERY_FORMS = ("as is", "intersected")


def add_arguments(parser: argparse.ArgumentParser, default_work: Path) -> None:
    """Add ``--peers`` and ``--work-dir`` (default ``default_work``) to a
    benchmark's ``parser``."""
    parser.add_argument("--peers",
                        default="",
                        help="comma-separated peers to run beside this "
                        "package: celltypist, actinn_jax (their venvs: "
                        "python benchmarks/compare.py --setup), linearsvc")
    parser.add_argument("--work-dir",
                        default=str(default_work),
                        help="where the peers' venvs are (WORK/venvs) and "
                        "their runs go")


def peer_choices(names: Sequence[str],
                 work: Optional[Path] = None) -> List[str]:
    """The peers named, checked.

    Parameters
    ----------
    names: sequence of str
        Peer names (blank ones are dropped).
    work: Path, optional
        Where the venvs are (``work/venvs``); when given, a peer that needs
        a venv must have one.

    Returns
    -------
    list of str
        The peers, in the order named.

    Raises
    ------
    ValueError
        An unknown peer, or one whose venv is missing (with the command
        that sets it up).

    Examples
    --------
    >>> peer_choices(["celltypist", " ", "linearsvc"])
    ['celltypist', 'linearsvc']
    """
    chosen = [n.strip() for n in names if n.strip()]
    for tool in chosen:
        if tool not in PEERS:
            raise ValueError("unknown peer %r (choose from %s)" %
                             (tool, ", ".join(PEERS)))
        if (work is not None and tool in compare.VENV_TOOLS and
                not compare.venv_python(work, tool).exists()):
            raise ValueError("%s has no venv under %s: run python "
                             "benchmarks/compare.py --setup --tools %s "
                             "--work-dir %s" %
                             (tool, work / "venvs", tool, work))
    return chosen


def from_args(parser: argparse.ArgumentParser,
              args: argparse.Namespace) -> Tuple[List[str], Path]:
    """The peers and the work directory of parsed ``args``
    (:func:`add_arguments`); a bad choice is the ``parser``'s error."""
    work = Path(args.work_dir).resolve()
    try:
        return peer_choices(args.peers.split(","), work), work
    except ValueError as err:
        parser.error(str(err))
        raise  # parser.error exits; for type checkers


def _run(command: Sequence, log: Path, env: Dict[str, str]) -> None:
    """Run one step of a peer, its output in ``log`` (and ``log``.err)."""
    step = harness.run_step([str(c) for c in command], str(log),
                            str(log) + ".err", None, None, env)
    if not step.ok:
        raise RuntimeError("%s failed (%s): see %s.err" %
                           (" ".join(map(str, command[:3])), step.status, log))


def _write_h5ad(path: Path, X, cells: Sequence[str],
                genes: Sequence[str]) -> None:
    import anndata
    import pandas as pd
    anndata.AnnData(X=sp.csr_matrix(X, dtype=np.float32),
                    obs=pd.DataFrame(index=list(cells)),
                    var=pd.DataFrame(index=list(genes))).write_h5ad(path)


def run_peer(tool: str,
             work: Path,
             data: Path,
             reference,
             reference_labels: Sequence[str],
             shared: Sequence[str],
             Xq,
             genes: Sequence[str],
             threads: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Train a peer on a reference and label a query in both
    :data:`QUERY_FORMS`.

    Parameters
    ----------
    tool: str
        One of :data:`PEERS`.
    work: Path
        Where the venvs are (``work/venvs``).
    data: Path
        Where the files, the model and the logs go (``data/<tool>`` is
        emptied first).
    reference: array or sparse matrix
        Raw counts, reference cells x ``shared`` genes.
    reference_labels: sequence of str
        One type per reference cell.
    shared: sequence of str
        The reference's genes: the query's genes they lead.
    Xq: array or sparse matrix
        Raw counts, query cells x ``genes``.
    genes: sequence of str
        The query's genes, ``shared`` first, in the same order.
    threads: int, optional
        The peer's compute threads.

    Returns
    -------
    dict
        Form (``"as is"``, ``"intersected"``) -> each query cell's label,
        in query order.

    Raises
    ------
    ValueError
        When ``genes`` do not start with ``shared``.
    RuntimeError
        When a step of the peer fails (naming its log).
    """
    shared = [str(g) for g in shared]
    genes = [str(g) for g in genes]
    if genes[:len(shared)] != shared or reference.shape[1] != len(shared):
        raise ValueError("the query's genes must start with the reference's "
                         "%d genes, in the same order" % len(shared))
    run = data / tool
    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    cells = ["ref%06d" % i for i in range(reference.shape[0])]
    _write_h5ad(data / "reference.h5ad", reference, cells, shared)
    with open(data / "reference_labels.txt", "w") as handle:
        for cell, label in zip(cells, reference_labels):
            handle.write("%s\t%s\n" % (cell, label))
    env = compare.tool_env(tool, work, threads)
    steps = compare.step_commands(tool, work, data, run, None)
    _run(steps["fit"], run / "fit.log", env)
    ids = ["cell%06d" % i for i in range(Xq.shape[0])]
    forms = {
        "as is": (Xq, genes),
        "intersected": (sp.csr_matrix(Xq)[:, :len(shared)], shared)
    }
    labels = {}
    for form, (counts, names) in forms.items():
        stem = form.replace(" ", "_")
        path, out = data / ("query_%s.h5ad" % stem), run / ("%s.txt" % stem)
        _write_h5ad(path, counts, ids, names)
        swap = {
            str(data / "query.h5ad"): str(path),
            str(steps["predictions"]): str(out),
            str(run / "predict_info.json"): str(run / ("%s.json" % stem)),
        }
        _run([swap.get(str(c), str(c)) for c in steps["predict"]],
             run / ("%s.log" % stem), env)
        given = harness.read_predictions(str(out))
        labels[form] = np.array([given[c] for c in ids], dtype=object)
    return labels
