"""The plain-PyTorch training loop against DeepChem's ``fit_generator``."""
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deepchem_actinn.models.batches import minibatches
from deepchem_actinn.models.network import seeded_classifier, seeded_ensemble
from deepchem_actinn.models.training import (EnsembleTrainer, member_scores,
                                             train_ensemble)
from deepchem_actinn.preprocessing.normalise import library_size_log

OPTIONS = dict(learning_rate=3e-3,
               weight_decay=0.005,
               decay_rate=0.5,
               decay_steps=3)  # a few decays within the test's steps


@pytest.fixture(scope="module")
def data(tm_train):
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(tm_train["labels"]), 500, replace=False))
    X = library_size_log(tm_train["X"][rows][:, :300])
    keep = np.asarray(X.sum(axis=1)).ravel() > 0
    y = np.unique(tm_train["labels"][rows], return_inverse=True)[1]
    w = rng.uniform(0.5, 2.0, len(y)).astype(np.float32)
    return X[keep], y[keep], w[keep], int(y.max()) + 1


def _epochs(X, y, w, n_epochs, seed=5):
    rng = np.random.default_rng(seed)
    return [list(minibatches(X, y, w, 64, rng)) for _ in range(n_epochs)]


def _deepchem_weights(network_kwargs, epochs):
    from deepchem_actinn.models.actinn import ACTINNModel
    options = dict(OPTIONS)  # ACTINNModel's (DeepChem's) name for it
    options["weight_decay_penalty"] = options.pop("weight_decay")
    model = ACTINNModel(**network_kwargs,
                        batch_size=64,
                        device="cpu",
                        log_frequency=1,
                        **options)
    losses = []
    for batches in epochs:
        model.fit_generator(iter(batches),
                            checkpoint_interval=0,
                            all_losses=losses)
    return model.model.state_dict(), losses


@pytest.mark.requires_deepchem
@pytest.mark.parametrize("n_networks, sparse", [(3, True), (2, False),
                                                (1, True)])
def test_loop_gives_deepchems_weights_bit_for_bit(data, n_networks, sparse):
    X, y, w, n_types = data
    X = sp.csr_matrix(X) if sparse else np.asarray(X.todense()) \
        if sp.issparse(X) else X
    epochs = _epochs(X, y, w, 3)
    kwargs = dict(n_features=X.shape[1],
                  n_classes=n_types,
                  layer_sizes=(20, 10),
                  n_networks=n_networks,
                  seed=7)
    expected, expected_losses = _deepchem_weights(kwargs, epochs)
    if n_networks == 1:  # ACTINNModel trains a single ACTINNClassifier
        network = seeded_classifier(X.shape[1], n_types, (20, 10), seed=7)
    else:
        network = seeded_ensemble(X.shape[1],
                                  n_types, (20, 10),
                                  n_networks,
                                  seed=7)
    trainer = EnsembleTrainer(network, **OPTIONS)
    losses = [loss for batches in epochs for loss in trainer.epoch(batches)]
    assert trainer.global_step == sum(len(b) for b in epochs)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(
        OPTIONS["learning_rate"] * 0.5**(trainer.global_step // 3))
    assert losses == expected_losses
    state = network.state_dict()
    assert list(state) == list(expected)
    for name, value in expected.items():
        assert torch.equal(state[name], value), name


def test_train_ensemble_without_early_stopping_is_plain_epochs(data):
    """train_ensemble draws each epoch from one generator seeded with
    ``seed`` and steps the same trainer through them."""
    X, y, w, n_types = data
    X = sp.csr_matrix(X)
    ensemble = seeded_ensemble(X.shape[1], n_types, (20, 10), 2, seed=1)
    seen = []
    histories = train_ensemble(ensemble,
                               lambda rng: minibatches(X, y, w, 64, rng),
                               X[:50],
                               y[:50],
                               max_epochs=3,
                               early_stopping=False,
                               seed=5,
                               progress=seen.append,
                               **OPTIONS)
    reference = seeded_ensemble(X.shape[1], n_types, (20, 10), 2, seed=1)
    trainer = EnsembleTrainer(reference, **OPTIONS)
    for batches in _epochs(X, y, w, 3, seed=5):
        trainer.epoch(batches)
    for a, b in zip(ensemble.parameters(), reference.parameters()):
        assert torch.equal(a, b)
    assert [s["epoch"] for s in seen] == [1, 2, 3]
    assert len(histories) == 2 and histories[0]["best_epoch"] == [3]
    assert len(histories[1]["valid_loss"]) == 3


def test_each_member_keeps_the_weights_of_its_best_epoch(data):
    X, y, w, n_types = data
    X = sp.csr_matrix(X)
    ensemble = seeded_ensemble(X.shape[1], n_types, (20, 10), 2, seed=2)
    snapshots = []

    def progress(state):
        snapshots.append(ensemble.member_states())

    histories = train_ensemble(ensemble,
                               lambda rng: minibatches(X, y, w, 64, rng),
                               X[:80],
                               y[:80],
                               max_epochs=12,
                               patience=2,
                               seed=0,
                               progress=progress,
                               learning_rate=0.05)
    for i, history in enumerate(histories):
        best = history["best_epoch"][0]
        losses = history["valid_loss"]
        assert losses[best - 1] == pytest.approx(min(losses), abs=1e-4)
        for name, value in snapshots[best - 1][i].items():
            assert torch.equal(ensemble.member_state(i)[name], value)
        assert member_scores(ensemble, X[:80],
                             y[:80])[i][0] == pytest.approx(losses[best - 1],
                                                            rel=1e-6)


def test_training_loop_and_prediction_import_no_deepchem():
    """The loop, the ensemble and the prediction path are plain PyTorch, so
    they run where DeepChem cannot be installed."""
    code = (
        "import sys, numpy as np\n"
        "from deepchem_actinn.models.batches import minibatches\n"
        "from deepchem_actinn.models.inference import embed\n"
        "from deepchem_actinn.models.network import seeded_ensemble\n"
        "from deepchem_actinn.models.training import train_ensemble\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.random((60, 8)).astype(np.float32)\n"
        "y = np.arange(60) % 2\n"
        "ensemble = seeded_ensemble(8, 2, (6, 4), 2, seed=0)\n"
        "train_ensemble(ensemble, lambda r: minibatches(X, y, rng=r), X, y,\n"
        "               max_epochs=2)\n"
        "embed(ensemble, X)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == "
        "'deepchem'))\n")
    out = subprocess.run([sys.executable, "-c", code],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("sparse, pad", [(True, False), (False, True)])
def test_minibatches_of_a_row_subset_equal_those_of_its_copy(data, sparse, pad):
    X, y, w, _ = data
    rows = np.sort(np.random.default_rng(1).choice(len(y), 300, False))
    whole = X.toarray() if sp.issparse(X) else np.asarray(X)
    if sparse:
        whole = sp.csr_matrix(whole)
    subset = whole[rows]
    expected = minibatches(subset, y[rows], w[rows], 64,
                           np.random.default_rng(2), pad)
    got = minibatches(whole, y, w, 64, np.random.default_rng(2), pad, rows=rows)
    n_batches = 0
    for a, b in zip(expected, got, strict=True):
        for part_a, part_b in zip(a, b, strict=True):
            assert len(part_a) == len(part_b)
            for array_a, array_b in zip(part_a, part_b):
                np.testing.assert_array_equal(array_a, array_b)
                assert array_a.dtype == array_b.dtype
        n_batches += 1
    assert n_batches == 5
