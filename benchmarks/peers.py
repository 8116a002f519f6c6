"""Peers run from inside a benchmark, on the same reference and query.

CellTypist, actinn-jax and scikit-learn's LinearSVC are trained and run as
``benchmarks/compare.py`` runs them (``benchmarks/tools/run_<peer>.py``, in
their own venvs where they need one), here on matrices a benchmark already
holds: a reference on the genes a query measures (as ``actinn run`` trains)
and the query twice, as the file it is and with its genes first intersected
with the reference's (as the original ACTINN does, so that a peer that
normalises over all of a file's genes is given the chance to do otherwise).

Examples
--------
>>> peer_choices(["celltypist", "linearsvc"])
['celltypist', 'linearsvc']
"""
import argparse
from pathlib import Path
from typing import Dict, List, Optional, Sequence

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
    """``--peers`` and ``--work-dir`` on a benchmark's ``parser``."""
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
    """The peers ``names`` (empty names dropped), checked: each a known peer
    and, with ``work``, with its venv set up under ``work/venvs``.

    Raises
    ------
    ValueError
        An unknown peer, or one whose venv is missing (with the command
        that sets it up).
    """
    chosen = [n.strip() for n in names if n.strip()]
    for tool in chosen:
        if tool not in PEERS:
            raise ValueError("unknown peer %r (choose from %s)" %
                             (tool, ", ".join(PEERS)))
        if (work is not None and tool in compare.VENV_TOOLS and
                not compare.venv_python(work, tool).exists()):
            raise ValueError("%s has no venv under %s: run python "
                             "benchmarks/compare.py --setup --tools %s" %
                             (tool, work / "venvs", tool))
    return chosen


def _run(command: Sequence, log: Path, env: Dict[str, str]) -> None:
    """Run one step of a peer, its output in ``log`` (and ``log``.err)."""
    step = harness.run_step([str(c) for c in command], str(log),
                            str(log) + ".err", None, None, env)
    if not step.ok:
        raise RuntimeError("%s failed (%s): see %s.err" %
                           (" ".join(map(str, command[:3])), step.status, log))


def annotate(tool: str, work: Path, data: Path, reference, reference_labels, Xq,
             genes: Sequence[str], n_shared: int,
             threads: Optional[int]) -> Dict[str, np.ndarray]:
    """Train ``tool`` on ``reference`` (cells x the query's first
    ``n_shared`` ``genes``) and label the query ``Xq`` (cells x ``genes``)
    in both :data:`QUERY_FORMS`: each form's labels, in query order.

    ``work`` holds the venvs (``work/venvs``); the files, the model and
    the logs go to ``data``.
    """
    import anndata
    import pandas as pd
    shared = [str(g) for g in genes[:n_shared]]
    data.mkdir(parents=True, exist_ok=True)
    anndata.AnnData(
        X=sp.csr_matrix(reference, dtype=np.float32),
        obs=pd.DataFrame(
            index=["ref%06d" % i for i in range(reference.shape[0])]),
        var=pd.DataFrame(index=shared)).write_h5ad(data / "reference.h5ad")
    with open(data / "reference_labels.txt", "w") as handle:
        for i, label in enumerate(reference_labels):
            handle.write("ref%06d\t%s\n" % (i, label))
    env = compare.tool_env(tool, work, threads)
    steps = compare.step_commands(tool, work, data, data / tool, None)
    (data / tool / "out").mkdir(parents=True, exist_ok=True)
    _run(steps["fit"], data / tool / "fit.log", env)
    ids = ["cell%06d" % i for i in range(Xq.shape[0])]
    forms = {
        "as is": (Xq, [str(g) for g in genes]),
        "intersected": (sp.csr_matrix(Xq)[:, :n_shared], shared)
    }
    labels = {}
    for form, (counts, names) in forms.items():
        stem = form.replace(" ", "_")
        path, out = data / ("query_%s.h5ad" % stem), data / tool / ("%s.txt" %
                                                                    stem)
        anndata.AnnData(X=sp.csr_matrix(counts, dtype=np.float32),
                        obs=pd.DataFrame(index=ids),
                        var=pd.DataFrame(index=names)).write_h5ad(path)
        swap = {
            str(data / "query.h5ad"): str(path),
            str(steps["predictions"]): str(out)
        }
        _run([swap.get(str(c), str(c)) for c in steps["predict"]],
             data / tool / ("%s.log" % stem), env)
        given = harness.read_predictions(str(out))
        labels[form] = np.array([given[c] for c in ids], dtype=object)
    return labels
