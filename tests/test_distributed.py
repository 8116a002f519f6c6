"""Data-parallel training: two gloo processes started by torchrun on this
machine, against one process."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from deepchem_actinn.models.batches import (DeviceBatches, batch_rows,
                                            minibatches)
from deepchem_actinn.models.network import seeded_ensemble
from deepchem_actinn.models.training import train_ensemble
from deepchem_actinn.preprocessing.normalise import library_size_log

N_CELLS = 470  # 15 per-process batches of 32: one process has one more
OPTIONS = dict(learning_rate=3e-3,
               weight_decay=0.005,
               decay_rate=0.5,
               decay_steps=3)

WORKER = textwrap.dedent('''
    import json, logging, sys
    import numpy as np, pandas as pd, scipy.sparse as sp, torch
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(1)
    from deepchem_actinn.models import distributed
    info = distributed.init_from_env()
    from deepchem_actinn import ACTINNAnnotator, load_tabula_muris_sample
    from deepchem_actinn.annotator.reference_file import ReferenceFile
    from deepchem_actinn.models.batches import DeviceBatches, minibatches
    from deepchem_actinn.models.network import seeded_ensemble
    from deepchem_actinn.models.training import train_ensemble
    out, ref_path = sys.argv[1], sys.argv[2]
    reads, blocks = [], ReferenceFile._blocks

    def recorded(self, *args, **kwargs):
        """The first row of each block this process reads, per pass."""
        read = []
        reads.append(read)
        for start, X in blocks(self, *args, **kwargs):
            read.append(int(start))
            yield start, X

    ReferenceFile._blocks = recorded
    X, y, w, n_types = (np.load(out + "/data.npz", allow_pickle=True)[k]
                        for k in ("X", "y", "w", "n_types"))
    X = X.item()
    res = {"rank": info.rank, "world": info.world_size,
           "backend": info.backend, "main": distributed.is_main_process()}
    ids = np.arange(X.shape[0])
    rng = np.random.default_rng(3)
    res["seen"] = [np.concatenate([b[1][0].ravel() for b in
                                   minibatches(X, ids, w, 64, rng)]).tolist()
                   for _ in range(2)]
    source = DeviceBatches(X, ids, w, 64, "cpu")
    res["seen_device"] = [np.concatenate([b[1][0].ravel().numpy() for b in
                                          source.epoch(rng)]).tolist()
                          for _ in range(2)]
    labels = pd.read_csv(ref_path + ".labels", sep="\\t", header=None,
                         index_col=0)[1]
    ref = ReferenceFile(ref_path, labels, block_size=50)
    train = np.arange(len(ref)) % 7 != 0
    res["seen_file"] = [np.concatenate([
        b[1][0].ravel() for b in ref.epoch(rng, np.arange(5),
                                           np.arange(len(ref)),
                                           np.ones(len(ref)), train, 64, 120)
    ]).tolist() for _ in range(2)]
    res["read_file"], reads[:] = reads[:], []
    stats, rows = ref.scan(np.array([0, 5, 49, 50, 120, 346]))
    res["scan"] = [stats.n_cells, stats.total.tolist(), stats.sum_sq.tolist(),
                   rows.toarray().tolist()]
    res["read_scan"], reads[:] = reads[:], []
    fitted = ACTINNAnnotator(max_epochs=6, patience=1, seed=0, n_networks=1
                             ).fit_file(out + "/tm.h5ad", out + "/tm.txt",
                                        upper_case_genes=False, block_size=512,
                                        buffer_cells=1500)
    res["read_fit"], reads[:] = reads[:], []
    tr, te = load_tabula_muris_sample()
    pred = fitted.predict(te.X, te.var_names)
    res["fit_accuracy"] = float((pred.cell_types == te.obs["cell_type"]).mean())
    res["fit_labels"] = list(pred.cell_types)
    res["fit_epochs"] = len(fitted.histories_[0]["train_loss"])
    res["fit_temperature"] = fitted.temperature_
    np.savez(out + "/fit_weights%d.npz" % info.rank,
             **{k: v.numpy() for k, v in fitted.ensemble_.state_dict().items()})
    ensemble = seeded_ensemble(X.shape[1], int(n_types), (20, 10), 2, seed=1)
    train_ensemble(ensemble, lambda r: minibatches(X, y, w, 64, r), X[:50],
                   y[:50], max_epochs=2, early_stopping=False, seed=5,
                   learning_rate=3e-3, weight_decay=0.005, decay_rate=0.5,
                   decay_steps=3)
    np.savez(out + "/weights%d.npz" % info.rank,
             **{k: v.numpy() for k, v in ensemble.state_dict().items()})
    a = ACTINNAnnotator(max_epochs=6, patience=1, seed=0).fit(
        tr.X, tr.var_names, tr.obs["cell_type"])
    pred = a.predict(te.X, te.var_names, unassigned=True)
    res["accuracy"] = float((pred.cell_types == te.obs["cell_type"]).mean())
    res["labels"] = list(pred.cell_types)
    res["best_epoch"] = [h["best_epoch"][0] for h in a.histories_]
    res["valid_loss"] = a.histories_[0]["valid_loss"]
    res["temperature"] = a.temperature_
    json.dump(res, open(out + "/rank%d.json" % info.rank, "w"))
    del a, ensemble, fitted
    distributed.teardown()
''')


@pytest.fixture(scope="module")
def data(tm_train):
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(tm_train["labels"]), 600, replace=False))
    X = library_size_log(tm_train["X"][rows][:, :300])
    keep = np.flatnonzero(np.asarray(X.sum(axis=1)).ravel() > 0)[:N_CELLS]
    y = np.unique(tm_train["labels"][rows], return_inverse=True)[1][keep]
    w = rng.uniform(0.5, 2.0, len(rows)).astype(np.float32)[keep]
    return sp.csr_matrix(X[keep]), y, w, int(y.max()) + 1


@pytest.fixture(scope="module")
def ranks(data, tm_train, tmp_path_factory):
    """Run the worker on 2 gloo processes; each rank's results."""
    anndata = pytest.importorskip("anndata")
    out = tmp_path_factory.mktemp("ddp")
    _bundled_file(tm_train, out / "tm.h5ad", out / "tm.txt")
    X, y, w, n_types = data
    np.savez(out / "data.npz",
             X=np.array(X, dtype=object),
             y=y,
             w=w,
             n_types=n_types)
    ids = ["c%d" % i for i in range(347)]  # 7 blocks of 50, the last short
    counts = sp.csr_matrix(
        np.random.default_rng(0).poisson(3.0, (347, 5)).astype(np.float32) + 1)
    ref = str(out / "ref.h5ad")
    anndata.AnnData(counts,
                    obs=pd.DataFrame(index=ids),
                    var=pd.DataFrame(index=list("ABCDE"))).write_h5ad(ref)
    pd.Series(["T", "B"] * 173 + ["T"], index=ids).to_csv(ref + ".labels",
                                                          sep="\t",
                                                          header=False)
    (out / "worker.py").write_text(WORKER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc-per-node", "2",
        str(out / "worker.py"),
        str(out), ref
    ],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [
        json.loads((out / ("rank%d.json" % r)).read_text()) for r in (0, 1)
    ]
    weights = [dict(np.load(out / ("weights%d.npz" % r))) for r in (0, 1)]
    return results, weights, proc.stderr, out


def _bundled_file(tm_train, path, labels):
    """The bundled training cells as h5ad, sorted by type, and labels."""
    import anndata
    order = np.argsort(tm_train["labels"], kind="stable")
    anndata.AnnData(sp.csr_matrix(tm_train["X"][order]),
                    obs=pd.DataFrame(index=tm_train["ids"][order]),
                    var=pd.DataFrame(index=tm_train["genes"])).write_h5ad(path)
    pd.Series(tm_train["labels"], index=tm_train["ids"]).to_csv(labels,
                                                                sep="\t",
                                                                header=False)


def test_processes_join_one_gloo_group(ranks):
    results, _, stderr, _ = ranks
    assert [(r["rank"], r["world"], r["backend"], r["main"]) for r in results
           ] == [(0, 2, "gloo", True), (1, 2, "gloo", False)]
    assert "distributed: 2 processes, gloo" in stderr


@pytest.mark.parametrize("key", ["seen", "seen_device"])
def test_every_cell_is_trained_on_once_per_epoch(ranks, key):
    results, _, _, _ = ranks
    for epoch in range(2):
        a, b = results[0][key][epoch], results[1][key][epoch]
        assert len(a) == 7 * 32 + 22 and len(b) == 7 * 32
        assert sorted(a + b) == list(range(N_CELLS))


def test_every_file_cell_is_trained_on_once_per_epoch(ranks):
    results, _, _, _ = ranks
    train = [i for i in range(347) if i % 7 != 0]
    for epoch in range(2):
        a, b = (results[r]["seen_file"][epoch] for r in (0, 1))
        assert sorted(a + b) == train
        assert a and b
    assert results[0]["seen_file"][0] != results[0]["seen_file"][1]


def test_each_process_reads_its_own_blocks_each_epoch(ranks):
    """Out of core the processes share the reading: in each epoch every
    block of the file is read by one process (4 of the 7 blocks by process
    0, 3 by process 1, in a new order each epoch), which trains on that
    block's training cells and no others."""
    results, _, _, _ = ranks
    for epoch in range(2):
        read = [results[r]["read_file"][epoch] for r in (0, 1)]
        assert sorted(read[0] + read[1]) == list(range(0, 347, 50))
        assert [len(blocks) for blocks in read] == [4, 3]
        for rank in (0, 1):
            cells = [
                i for start in read[rank]
                for i in range(start, min(start + 50, 347)) if i % 7 != 0
            ]
            assert sorted(results[rank]["seen_file"][epoch]) == sorted(cells)
    assert results[0]["read_file"][0] != results[0]["read_file"][1]


def test_the_statistics_pass_is_shared(ranks):
    """The gene statistics pass: each process reads a run of consecutive
    blocks, and both end with one process's statistics and kept rows."""
    from deepchem_actinn.annotator.reference_file import ReferenceFile
    results, _, _, out = ranks
    assert [results[r]["read_scan"] for r in (0, 1)] == \
        [[[0, 50, 100, 150]], [[200, 250, 300]]]
    labels = pd.read_csv(str(out / "ref.h5ad") + ".labels",
                         sep="\t",
                         header=None,
                         index_col=0)[1]
    stats, rows = ReferenceFile(out / "ref.h5ad", labels, block_size=50).scan(
        np.array([0, 5, 49, 50, 120, 346]))
    assert results[0]["scan"] == results[1]["scan"]
    n_cells, total, sum_sq, kept = results[0]["scan"]
    assert n_cells == stats.n_cells == 347
    np.testing.assert_allclose(total, stats.total, rtol=1e-12)
    np.testing.assert_allclose(sum_sq, stats.sum_sq, rtol=1e-12)
    np.testing.assert_array_equal(kept, rows.toarray())


def test_two_processes_fit_from_disk_reading_half_each(ranks, tm_test):
    """``fit_file`` on the bundled cells (8 blocks of 512, sorted by type)
    in 2 processes: every pass over the file, the statistics' and each
    epoch's, reads each block in exactly one process, and each process 4
    blocks; the processes end with the same annotator; its accuracy on the
    bundled test cells is one process's within 0.01 (over seeds 0-9 the two
    were at most 0.006 apart, both 0.985-0.993)."""
    from deepchem_actinn import ACTINNAnnotator
    results, _, _, out = ranks
    passes = [results[r]["read_fit"] for r in (0, 1)]
    assert len(passes[0]) == len(passes[1]) == 1 + results[0]["fit_epochs"]
    for first, second in zip(*passes):
        assert sorted(first + second) == list(range(0, 4000, 512))
        assert len(first) == len(second) == 4
    for key in ("fit_labels", "fit_epochs", "fit_temperature"):
        assert results[0][key] == results[1][key], key
    weights = [dict(np.load(out / ("fit_weights%d.npz" % r))) for r in (0, 1)]
    for name, value in weights[0].items():
        np.testing.assert_array_equal(value, weights[1][name], err_msg=name)
    torch.set_num_threads(1)
    one = ACTINNAnnotator(max_epochs=6, patience=1, seed=0,
                          n_networks=1).fit_file(out / "tm.h5ad",
                                                 out / "tm.txt",
                                                 upper_case_genes=False,
                                                 block_size=512,
                                                 buffer_cells=1500)
    pred = one.predict(sp.csr_matrix(tm_test["X"]), tm_test["genes"])
    accuracy = float((pred.cell_types == tm_test["labels"]).mean())
    assert results[0]["fit_accuracy"] == pytest.approx(accuracy, abs=0.01)


def test_two_processes_follow_the_single_process_updates(data, ranks):
    """2 processes x 32 cells per step are 1 process x 64 cells (the last,
    short global batch on one process, its weights rescaled)."""
    X, y, w, n_types = data
    ensemble = seeded_ensemble(X.shape[1], n_types, (20, 10), 2, seed=1)
    train_ensemble(ensemble,
                   lambda r: minibatches(X, y, w, 64, r),
                   X[:50],
                   y[:50],
                   max_epochs=2,
                   early_stopping=False,
                   seed=5,
                   **OPTIONS)
    _, weights, _, _ = ranks
    for name, value in ensemble.state_dict().items():
        for rank in (0, 1):
            np.testing.assert_allclose(weights[rank][name],
                                       value.numpy(),
                                       atol=2e-5,
                                       err_msg=name)
        np.testing.assert_array_equal(weights[0][name], weights[1][name])


def test_two_processes_make_the_same_annotator_as_one(ranks, tm_train, tm_test):
    from deepchem_actinn import ACTINNAnnotator
    results, _, _, _ = ranks
    for key in ("labels", "best_epoch", "valid_loss", "temperature"):
        assert results[0][key] == results[1][key], key
    torch.set_num_threads(1)
    a = ACTINNAnnotator(max_epochs=6, patience=1,
                        seed=0).fit(sp.csr_matrix(tm_train["X"]),
                                    tm_train["genes"], tm_train["labels"])
    pred = a.predict(sp.csr_matrix(tm_test["X"]),
                     tm_test["genes"],
                     unassigned=True)
    accuracy = float((pred.cell_types == tm_test["labels"]).mean())
    assert results[0]["accuracy"] == pytest.approx(accuracy, abs=0.01)
    assert results[0]["best_epoch"] == [
        h["best_epoch"][0] for h in a.histories_
    ]


def test_shards_partition_each_global_batch():
    one = [r.tolist() for r, _ in batch_rows(10, 4, shard=(0, 1))]
    two = [
        [r.tolist() for r, _ in batch_rows(10, 4, shard=(k, 2))] for k in (0, 1)
    ]
    assert two[0] == [[0, 1], [4, 5], [8, 9]] and two[1] == [[2, 3], [6, 7]]
    assert [sorted(a + b) for a, b in zip(two[0], two[1] + [[]])] == one
    scales = [s for _, s in batch_rows(10, 4, shard=(0, 2))]
    assert scales == [1.0, 1.0, 2.0]  # the last batch: 2 cells, all here


def test_device_batches_are_the_cpu_batches(data):
    """The on-device builder (run here on the CPU) gives the batches of
    :func:`minibatches`, transpose included, from the same generator."""
    X, y, w, _ = data
    cpu = minibatches(X, y, w, 64, np.random.default_rng(1), shard=(1, 2))
    source = DeviceBatches(X, y, w, 64, "cpu")
    dev = source.epoch(np.random.default_rng(1), shard=(1, 2))
    n = 0
    for (xa, ya, wa), (xb, yb, wb) in zip(cpu, dev):
        assert len(xa) == len(xb) == 6
        for a, b in zip(xa, xb):
            assert b.dtype == torch.from_numpy(a).dtype
            np.testing.assert_array_equal(a, b.numpy())
        np.testing.assert_array_equal(ya[0], yb[0].numpy())
        np.testing.assert_array_equal(wa[0], wb[0].numpy())
        n += 1
    assert n == 7
    dense = DeviceBatches(X.toarray(), y, w, 64, "cpu").batch(np.arange(3))
    np.testing.assert_array_equal(dense[0][0].numpy(), X[:3].toarray())


def test_epoch_source_on_and_off_the_device_give_the_same_batches(data):
    """The annotator's batch source: training rows drawn in place (rows=),
    on the device (forced here, on the CPU) or cut on the host in a reader
    thread: the same batches."""
    from deepchem_actinn.models.batches import epoch_source
    X, y, w, _ = data
    rows = np.arange(0, X.shape[0], 3)
    host = epoch_source(X, y, w, 16, "cpu", rows, on_device=False)
    device = epoch_source(X, y, w, 16, "cpu", rows, on_device=True)
    pairs = list(
        zip(host(np.random.default_rng(2)), device(np.random.default_rng(2))))
    assert len(pairs) == -(-len(rows) // 16)
    seen = []
    for (xa, ya, wa), (xb, yb, wb) in pairs:
        for a, b in zip(xa, xb):
            np.testing.assert_array_equal(np.asarray(a), b.numpy())
        np.testing.assert_array_equal(ya[0], yb[0].numpy())
        np.testing.assert_array_equal(wa[0], wb[0].numpy())
        seen.extend(np.asarray(ya[0]).ravel().tolist())
    assert sorted(seen) == sorted(y[rows].tolist())
    # the automatic choice on the CPU: the host
    assert epoch_source(X, y, w, 16, "cpu").__name__ == "host"


def _own_copy_worker(path):
    """A script that runs ``actinn train -trs A`` on process 0 and ``-trs
    B`` on the others (``script A B rest...``): each process its own copy
    of the reference."""
    path.write_text(
        textwrap.dedent('''
        import os, sys
        from deepchem_actinn import __main__ as entry
        sys.argv = ["actinn", "train", "-trs", sys.argv[1] if
                    os.environ["RANK"] == "0" else sys.argv[2], *sys.argv[3:]]
        entry.run()
        '''))
    return path


def _torchrun(*args, timeout=240):
    """Two gloo processes started by torchrun; the finished process. On a
    timeout torchrun is stopped, and stops its workers (each in a session
    of its own), and the test fails."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc-per-node", "2", *args
    ],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            text=True,
                            env=env,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # torchrun sends its workers SIGTERM
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("torchrun %s was still running after %d s" %
                    (" ".join(args), timeout))
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout,
                                       stderr)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """60 reference cells: one global batch of 64, so process 1 has no
    batch at all in an epoch."""
    anndata = pytest.importorskip("anndata")
    out = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    means = np.repeat(np.where(np.arange(40) // 20 == 0, 20.0, 1.0)[None, :],
                      60,
                      axis=0)
    means[30:] = means[30:, ::-1]
    ids = ["c%d" % i for i in range(60)]
    anndata.AnnData(
        sp.csr_matrix(rng.poisson(means).astype(np.float32)),
        obs=pd.DataFrame(index=ids),
        var=pd.DataFrame(index=["g%d" % i for i in range(40)])).write_h5ad(
            out / "ref.h5ad")
    pd.Series(["A"] * 30 + ["B"] * 30, index=ids).to_csv(out / "labels.txt",
                                                         sep="\t",
                                                         header=False)
    return out


def test_a_process_without_batches_trains_with_the_others(tiny, actinn_process):
    # the actinn script itself, as torchrun's training script
    script = shutil.which("actinn")
    assert script is not None
    train = [
        "train", "-trs",
        str(tiny / "ref.h5ad"), "-trl",
        str(tiny / "labels.txt"), "-ne", "3", "--networks", "1", "--seed", "0",
        "-q", "--threads", "1"
    ]
    proc = _torchrun(script, *train, "-m", str(tiny / "ddp"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the same command in one process (forked: see conftest.py)
    one = actinn_process(*train, "-m", str(tiny / "one"))
    assert one.returncode == 0, one.stderr
    ddp = torch.load(tiny / "ddp" / "weights.pt", weights_only=True)
    one = torch.load(tiny / "one" / "weights.pt", weights_only=True)
    assert [list(member) for member in ddp] == [list(m) for m in one]
    for member, alone in zip(ddp, one):
        for name, value in member.items():
            torch.testing.assert_close(value, alone[name], atol=1e-6, rtol=0)


def test_a_failing_process_ends_the_job_instead_of_hanging(tmp_path):
    worker = tmp_path / "fails.py"
    worker.write_text(
        textwrap.dedent('''
        import numpy as np, scipy.sparse as sp, torch
        from deepchem_actinn.__main__ import run
        from deepchem_actinn.models import distributed
        from deepchem_actinn.models.batches import minibatches
        from deepchem_actinn.models.network import seeded_ensemble
        from deepchem_actinn.models.training import train_ensemble
        torch.set_num_threads(1)
        info = distributed.init_from_env()
        X = sp.csr_matrix(np.ones((200, 30), np.float32))
        y, w = np.arange(200) % 3, np.ones(200, np.float32)
        epochs = []

        def batches(rng):
            epochs.append(rng)
            if info.rank == 1 and len(epochs) == 2:
                raise RuntimeError("process 1 fails in epoch 2")
            return minibatches(X, y, w, 64, rng)

        ok = False
        try:
            train_ensemble(seeded_ensemble(30, 3, (8, 4), 1, seed=1), batches,
                           X[:5], y[:5], max_epochs=50, early_stopping=False)
            ok = True
        finally:
            distributed.teardown(wait=ok)
        '''))
    proc = _torchrun(str(worker), timeout=120)
    assert proc.returncode != 0
    assert "process 1 fails in epoch 2" in proc.stderr


def test_a_command_that_fails_in_one_process_ends_the_job(tmp_path):
    # process 1's command fails before a collective that process 0 waits in:
    # the actinn entry point must leave without a barrier
    worker = tmp_path / "refuses.py"
    worker.write_text(
        textwrap.dedent('''
        import os, sys
        from deepchem_actinn import __main__ as entry
        from deepchem_actinn.models import distributed

        def main():
            if os.environ["RANK"] == "1":
                print("process 1 refuses its input", file=sys.stderr)
                return 2
            distributed.broadcast_object("for a process that has left")
            return 0

        entry.main = main
        sys.argv = ["actinn", "train", "-trs", "ref", "-trl", "labels", "-m",
                    "model"]
        entry.run()
        '''))
    proc = _torchrun(str(worker), timeout=120)
    assert proc.returncode != 0
    assert "process 1 refuses its input" in proc.stderr


def test_commands_that_do_not_train_are_refused_under_torchrun(tiny):
    proc = _torchrun("-m", "deepchem_actinn", "predict", "-m",
                     str(tiny / "model"), "-ts", str(tiny / "ref.h5ad"), "-o",
                     str(tiny / "out"))
    assert proc.returncode != 0
    assert proc.stderr.count(
        "actinn predict runs in one process; torchrun is for train and run: "
        "run it without torchrun (to spread a query over machines: "
        "--scheduler)") == 1
    assert not (tiny / "out").exists()


def test_process_0_late_to_the_entry_point_still_speaks_for_all(tiny):
    """The usage, and the refusal of a command that does not train, come
    before the processes meet: process 0 may come to them seconds after
    process 1, which waits for it to say them."""
    late = tiny / "late_entry.py"
    late.write_text(
        textwrap.dedent('''
        import os, sys, time
        if os.environ["RANK"] == "0":
            time.sleep(5)
        from deepchem_actinn import __main__ as entry
        sys.argv = ["actinn", *sys.argv[1:]]
        entry.run()
        '''))
    proc = _torchrun(str(late), "train", "-trs", str(tiny / "ref.h5ad"), "-trl",
                     str(tiny / "labels.txt"))
    assert proc.returncode != 0
    assert proc.stderr.count("usage: actinn train") == 1, proc.stderr[-3000:]
    proc = _torchrun(str(late), "predict", "-m", str(tiny / "model"), "-ts",
                     str(tiny / "ref.h5ad"), "-o", str(tiny / "late_out"))
    assert proc.returncode != 0
    assert proc.stderr.count("actinn predict runs in one process") == 1, \
        proc.stderr[-3000:]


def test_each_message_comes_once_and_errors_name_the_process(tiny):
    """Process 0 logs what every process would; the others log only their
    errors, tagged with the process."""
    train = [
        "-m", "deepchem_actinn", "train", "-trs",
        str(tiny / "ref.h5ad"), "-trl",
        str(tiny / "labels.txt"), "-ne", "2", "--networks", "1", "--threads",
        "1", "-m"
    ]
    proc = _torchrun(*train, str(tiny / "logged"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for line in ("actinn: %s: read 60 cells x 40 genes (h5ad, X)" %
                 (tiny / "ref.h5ad"), "actinn: distributed: 2 processes, gloo",
                 "actinn: saved the annotator to %s" % (tiny / "logged")):
        assert proc.stderr.count(line) == 1, proc.stderr[-3000:]
    assert "(process 1)" not in proc.stderr
    # process 1 alone is given a file that does not exist: its error says
    # which process it comes from
    worker = _own_copy_worker(tiny / "one_fails.py")
    proc = _torchrun(str(worker), str(tiny / "ref.h5ad"), str(tiny / "none"),
                     *train[5:], str(tiny / "refused"))
    assert proc.returncode != 0
    assert ("actinn train (process 1): error: %s: no such file" %
            (tiny / "none")) in proc.stderr, proc.stderr[-3000:]


def test_process_0_may_predict_longer_than_a_barrier_waits(tiny, tmp_path):
    """``actinn run`` under torchrun: the other processes leave once
    training is done, so process 0's prediction is not cut short by their
    waiting for it (a barrier's timeout, 30 minutes with gloo, here 10 s,
    would end the job and lose the trained model)."""
    worker = tmp_path / "slow_prediction.py"
    worker.write_text(
        textwrap.dedent('''
        import datetime, functools, sys, time
        import torch.distributed as dist
        from deepchem_actinn import __main__ as entry
        from deepchem_actinn.cli import predict
        dist.init_process_group = functools.partial(
            dist.init_process_group, timeout=datetime.timedelta(seconds=10))
        write = predict.predict_and_write

        def slow(*args, **kwargs):
            time.sleep(20)
            return write(*args, **kwargs)

        predict.predict_and_write = slow
        sys.argv = ["actinn", "run", *sys.argv[1:]]
        entry.run()
        '''))
    out = tmp_path / "out"
    proc = _torchrun(str(worker), "-trs", str(tiny / "ref.h5ad"), "-trl",
                     str(tiny / "labels.txt"), "-ts", str(tiny / "ref.h5ad"),
                     "-o", str(out), "-ne", "2", "--networks", "1", "--threads",
                     "1", "-q")
    assert proc.returncode == 0, proc.stderr[-3000:]
    labels = pd.read_csv(out / "predicted_label.txt", sep="\t")
    assert len(labels) == 60


def test_processes_that_read_different_references_are_refused(tiny):
    """Each process reads its own copy of the reference: a copy whose rows
    are in another order (same cells, same labels by id) is refused on
    every process, naming what differs, before any training."""
    import anndata
    ref = anndata.read_h5ad(tiny / "ref.h5ad")
    ref[np.random.default_rng(1).permutation(60)].copy().write_h5ad(
        tiny / "shuffled.h5ad")
    worker = _own_copy_worker(tiny / "own_copy.py")
    proc = _torchrun(str(worker), str(tiny / "ref.h5ad"),
                     str(tiny / "shuffled.h5ad"), "-trl",
                     str(tiny / "labels.txt"), "-ne", "2", "--networks", "1",
                     "--threads", "1", "-q", "-m", str(tiny / "mixed"))
    assert proc.returncode != 0
    assert proc.stderr.count(
        "actinn train: error: the reference differs between the processes "
        "(process 1's held-out cells, Unassigned rule's cells); every "
        "process must read the same reference: give each one the same "
        "file") == 1, proc.stderr[-3000:]
    assert "(process 1)" not in proc.stderr  # process 0 says it for all
    assert not (tiny / "mixed").exists()


def test_a_process_killed_mid_training_leaves_one_line_not_a_traceback(
        tiny, tmp_path):
    worker = tmp_path / "killed.py"
    worker.write_text(
        textwrap.dedent('''
        import os, signal, sys
        from deepchem_actinn import __main__ as entry
        from deepchem_actinn.cli import train

        class Killed(train.Progress):
            def update(self, *args, **kwargs):
                if os.environ["RANK"] == "1":
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().update(*args, **kwargs)

        train.Progress = Killed
        sys.argv = ["actinn", "train", *sys.argv[1:]]
        entry.run()
        '''))
    proc = _torchrun(str(worker), "-trs", str(tiny / "ref.h5ad"), "-trl",
                     str(tiny / "labels.txt"), "-ne", "20", "--networks", "1",
                     "--threads", "1", "-q", "-m", str(tmp_path / "model"))
    assert proc.returncode != 0
    assert "[rank0]:" not in proc.stderr, proc.stderr[-3000:]
    assert ("actinn train: error: another process of this torchrun job "
            "stopped or did not answer in time (" in proc.stderr or
            "actinn train: terminated" in proc.stderr), proc.stderr[-3000:]
    assert not (tmp_path / "model").exists()


def test_errors_every_process_meets_are_said_by_process_0_once(tiny):
    train = [
        "-m", "deepchem_actinn", "train", "-trs",
        str(tiny / "ref.h5ad"), "-trl",
        str(tiny / "labels.txt"), "--threads", "1"
    ]
    proc = _torchrun(*train)  # no -m: the usage, from process 0 alone
    assert proc.returncode != 0
    assert proc.stderr.count("usage: actinn train") == 1, proc.stderr[-3000:]
    assert ("actinn train: error: the following arguments are required: "
            "-m/--model") in proc.stderr
    (tiny / "taken").mkdir(exist_ok=True)
    (tiny / "taken" / "notes.txt").write_text("mine")
    proc = _torchrun(*train, "-m", str(tiny / "taken"))
    assert proc.returncode != 0
    assert ("actinn train: error: -m %s holds files that are not an "
            "annotator's (notes.txt)" % (tiny / "taken")) in proc.stderr, \
        proc.stderr[-3000:]
    assert "(process 1)" not in proc.stderr
    # process 0 may come to the error seconds after process 1 (a loaded
    # machine): process 1 still leaves it to process 0
    late = tiny / "late_process_0.py"
    late.write_text(
        textwrap.dedent('''
        import os, sys, time
        from deepchem_actinn import __main__ as entry
        from deepchem_actinn.cli import train
        check = train.check_model_dir

        def late_check(*args):
            if os.environ["RANK"] == "0":
                time.sleep(5)
            check(*args)

        train.check_model_dir = late_check
        sys.argv = ["actinn", *sys.argv[1:]]
        entry.run()
        '''))
    proc = _torchrun(str(late), *train[2:], "-m", str(tiny / "taken"))
    assert proc.returncode != 0
    assert ("actinn train: error: -m %s holds files that are not an "
            "annotator's (notes.txt)" % (tiny / "taken")) in proc.stderr, \
        proc.stderr[-3000:]
    assert "(process 1)" not in proc.stderr, proc.stderr[-3000:]


def test_fit_in_a_script_under_torchrun_without_a_group_says_so(tmp_path):
    worker = tmp_path / "script.py"
    worker.write_text(
        textwrap.dedent('''
        import logging, numpy as np
        from deepchem_actinn import ACTINNAnnotator
        logging.basicConfig()
        rng = np.random.default_rng(0)
        X = rng.poisson(np.repeat([[20.0] * 10 + [1.0] * 10,
                                   [1.0] * 10 + [20.0] * 10], 30, axis=0))
        ACTINNAnnotator(max_epochs=1, n_networks=1, early_stopping=False,
                        linear_weight=0).fit(
            X, ["g%d" % i for i in range(20)], ["A"] * 30 + ["B"] * 30)
        '''))
    proc = _torchrun(str(worker))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count(
        "started by torchrun, but this process joined no process group, so "
        "each process trains the whole model alone: call "
        "deepchem_actinn.models.distributed.init_from_env() before fit") == 2


@pytest.fixture(scope="module")
def blocks_file(tmp_path_factory):
    """347 cells x 5 genes in an h5ad file (7 blocks of 50, the last short),
    and its labels."""
    anndata = pytest.importorskip("anndata")
    from deepchem_actinn.annotator.reference_file import ReferenceFile
    out = tmp_path_factory.mktemp("blocks")
    ids = ["c%d" % i for i in range(347)]
    counts = np.random.default_rng(1).poisson(3.0, (347, 5)) + 1
    anndata.AnnData(sp.csr_matrix(counts.astype(np.float32)),
                    obs=pd.DataFrame(index=ids),
                    var=pd.DataFrame(index=list("ABCDE"))).write_h5ad(
                        out / "ref.h5ad")
    labels = pd.Series(["T", "B"] * 173 + ["T"], index=ids)
    return ReferenceFile(out / "ref.h5ad", labels, block_size=50)


def _file_steps(ref, shard, epochs=2, monkeypatch=None):
    """Each training step of ``epochs`` epochs from one generator, as this
    process sees it: ``{file row: (input row, weight)}`` per step (the rows
    are the class ids here); with ``monkeypatch``, also the first row of
    each block the process read, per epoch."""
    read = []
    if monkeypatch is not None:
        blocks = type(ref)._blocks

        def recorded(self, *args, **kwargs):
            read.append([])
            for start, X in blocks(self, *args, **kwargs):
                read[-1].append(int(start))
                yield start, X

        monkeypatch.setattr(type(ref), "_blocks", recorded)
    n = len(ref)
    train = np.arange(n) % 7 != 0
    w = np.random.default_rng(2).uniform(0.5, 2.0, n).astype(np.float32)
    rng = np.random.default_rng(3)
    steps = []
    for _ in range(epochs):
        batches = []
        for inputs, (y,), (weights,) in ref.epoch(rng,
                                                  np.arange(5),
                                                  np.arange(n),
                                                  w,
                                                  train,
                                                  32,
                                                  buffer_cells=120,
                                                  shard=shard):
            cols, offsets, values = (np.asarray(a) for a in inputs[:3])
            X = sp.csr_matrix((values, cols, np.append(offsets, len(cols))),
                              shape=(len(y), 5)).toarray()
            batches.append({
                int(cell): (X[i], float(weights[i, 0]))
                for i, cell in enumerate(np.asarray(y).ravel())
            })
        steps.append(batches)
    if monkeypatch is not None:
        monkeypatch.undo()
    return (steps, read) if monkeypatch is not None else steps


def test_file_shards_are_blocks_and_each_step_is_a_mean(blocks_file,
                                                        monkeypatch):
    """Out of core (``ReferenceFile.epoch``, several blocks and buffers per
    epoch), each of 2 processes reads its own blocks and trains on their
    training cells, in batches of 16 (the last of each short), with the
    input one process gives them; the weights make DDP's average of the 2
    mean losses of each step the mean loss over the step's cells."""
    one = _file_steps(blocks_file, (0, 1))
    two = [
        _file_steps(blocks_file, (rank, 2), monkeypatch=monkeypatch)
        for rank in (0, 1)
    ]
    train = [i for i in range(347) if i % 7 != 0]
    for epoch in range(2):
        alone = {c: v for b in one[epoch] for c, v in b.items()}
        assert sorted(alone) == train
        read = [two[rank][1][epoch] for rank in (0, 1)]
        assert sorted(read[0] + read[1]) == list(range(0, 347, 50))
        shares = [two[rank][0][epoch] for rank in (0, 1)]
        for rank, batches in enumerate(shares):
            assert [len(b) for b in batches[:-1]] == [16] * (len(batches) - 1)
            assert sorted(c for b in batches for c in b) == [
                i for start in sorted(read[rank])
                for i in range(start, min(start + 50, 347)) if i % 7 != 0
            ]
            for batch in batches:
                for cell, (x, _) in batch.items():
                    np.testing.assert_array_equal(x, alone[cell][0])
        for step in range(max(len(b) for b in shares)):
            batches = [b[step] for b in shares if step < len(b)]
            n = sum(len(b) for b in batches)
            for batch in batches:
                for cell, (_, weight) in batch.items():
                    # DDP: the mean over the 2 processes of each mean loss
                    assert weight / (2 * len(batch)) == pytest.approx(
                        alone[cell][1] / n, rel=1e-6)
    assert two[0][1][0] != two[0][1][1]


def test_processes_reading_different_files_out_of_core_are_refused(tiny):
    """Out of core each process reads only its part of the file, so the
    parts must be of one file: before the first pass the processes compare
    their files' cell ids, genes and labels, and a copy in another row
    order is refused, by process 0 for all, before any block is read. (A
    process with no block of the 60-cell file to read trains with the
    other.)"""
    import anndata
    train = [
        "-trl",
        str(tiny / "labels.txt"), "-ne", "2", "--networks", "1", "--threads",
        "1", "-q", "--out-of-core", "-m"
    ]
    proc = _torchrun("-m", "deepchem_actinn", "train", "-trs",
                     str(tiny / "ref.h5ad"), *train, str(tiny / "ooc"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tiny / "ooc" / "weights.pt").exists()
    ref = anndata.read_h5ad(tiny / "ref.h5ad")
    ref[np.random.default_rng(2).permutation(60)].copy().write_h5ad(
        tiny / "reordered.h5ad")
    worker = _own_copy_worker(tiny / "own_file.py")
    proc = _torchrun(str(worker), str(tiny / "ref.h5ad"),
                     str(tiny / "reordered.h5ad"), *train,
                     str(tiny / "ooc_mixed"))
    assert proc.returncode != 0
    assert proc.stderr.count(
        "actinn train: error: the reference differs between the processes "
        "(process 1's cell ids, labels); every process must read the same "
        "reference: give each one the same file") == 1, proc.stderr[-3000:]
    assert "(process 1)" not in proc.stderr
    assert not (tiny / "ooc_mixed").exists()
