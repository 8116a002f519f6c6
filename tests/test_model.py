import inspect

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, roc_auc_score

from deepchem_actinn import ACTINNClassifier
from deepchem_actinn.models.network import seeded_classifier, seeded_ensemble

try:  # the DeepChem integration; where it cannot be imported, the tests
    # marked requires_deepchem are skipped (conftest.py)
    import deepchem as dc

    from deepchem_actinn import ACTINNModel
except ImportError:
    pass

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, size=(3, 40))
    y = rng.integers(0, 3, 300)
    X = (centres[y] + rng.normal(size=(300, 40))).astype(np.float32)
    return dc.data.NumpyDataset(X, y.reshape(-1, 1), ids=np.arange(300))


def _widths(net):
    linear = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    return [net.first.weight.shape[1]] + [m.out_features for m in linear]


def test_network_shapes_and_layer_sizes():
    net = ACTINNClassifier(n_features=30, n_classes=4, layer_sizes=(8, 6))
    assert net.first.weight.shape == (30, 8)
    assert _widths(net) == [8, 6, 4]
    proba, logits = net(torch.randn(5, 30))
    assert proba.shape == logits.shape == (5, 4)
    torch.testing.assert_close(proba.sum(dim=1), torch.ones(5))
    assert _widths(ACTINNClassifier(30, 4)) == [100, 50, 25, 4]
    with pytest.raises(ValueError):
        ACTINNClassifier(None, 4)


def test_networks_take_deepchems_names_in_the_models_order():
    """n_features, n_classes, layer_sizes: DeepChem's names, in the order of
    ACTINNModel's arguments (once input_size, output_dim, hidden_sizes)."""
    names = ["n_features", "n_classes", "layer_sizes"]
    assert list(inspect.signature(ACTINNClassifier).parameters) == names
    for make in (seeded_classifier, seeded_ensemble):
        assert list(inspect.signature(make).parameters)[:3] == names
    net = seeded_classifier(n_features=30, n_classes=4, layer_sizes=(8, 6))
    assert _widths(net) == [8, 6, 4] and net.first.weight.shape == (30, 8)
    ensemble = seeded_ensemble(30, 4, (8, 6), n_networks=2, seed=0)
    assert ensemble.member(1).first.weight.shape == (30, 8)
    assert ensemble.n_types == 4


@pytest.mark.parametrize("make", [
    ACTINNClassifier,
    lambda **kw: seeded_classifier(seed=3, **kw),
    lambda **kw: seeded_ensemble(n_networks=2, seed=3, **kw),
])
def test_networks_former_names_warn_and_build_the_same(make):
    torch.manual_seed(0)
    expected = make(n_features=12, n_classes=3, layer_sizes=(5,))
    torch.manual_seed(0)
    with pytest.warns(FutureWarning) as caught:
        network = make(input_size=12, output_dim=3, hidden_sizes=(5,))
    assert [str(w.message).split(":")[1] for w in caught] == [
        " pass n_features=12 (DeepChem's name)",
        " pass n_classes=3 (DeepChem's name)",
        " pass layer_sizes=(5,) (DeepChem's name)"
    ]
    assert "input_size is deprecated and will be removed" in str(
        caught[0].message)
    state = network.state_dict()
    assert state.keys() == expected.state_dict().keys()
    for name, value in expected.state_dict().items():
        assert torch.equal(state[name], value), name
    with pytest.raises(TypeError,
                       match="got layer_sizes and hidden_sizes, its former "
                       "name, for one argument: pass layer_sizes alone"):
        make(n_features=12, n_classes=3, layer_sizes=(5,), hidden_sizes=(5,))


@pytest.mark.requires_deepchem
def test_defaults_are_actinns():
    model = ACTINNModel(n_features=10, n_classes=3)
    assert model.batch_size == 128
    assert isinstance(model.loss, dc.models.losses.SparseSoftmaxCrossEntropy)
    assert isinstance(model.optimizer, dc.models.optimizers.Adam)
    schedule = model.optimizer.learning_rate
    assert isinstance(schedule, dc.models.optimizers.ExponentialDecay)
    assert (schedule.initial_rate, schedule.decay_rate,
            schedule.decay_steps) == (1e-4, 0.95, 1000)
    assert model.optimizer.weight_decay == 0.005
    # the signature's None stands for these: the docstring gives them
    for documented in ("learning_rate: float or LearningRateSchedule, "
                       "default 1e-4", "weight_decay_penalty: float, default "
                       "0.005", "decay_rate: float, default 0.95",
                       "decay_steps: int, default 1000"):
        assert documented in ACTINNModel.__doc__


@pytest.mark.requires_deepchem
@pytest.mark.parametrize("n_networks", [1, 2])
def test_predict_on_no_cells_is_an_empty_array_of_types(toy, n_networks):
    model = ACTINNModel(n_features=40,
                        n_classes=3,
                        seed=0,
                        n_networks=n_networks)
    empty = dc.data.NumpyDataset(np.zeros((0, 40), np.float32), np.zeros(
        (0, 1)), np.zeros((0, 1)))
    for _ in range(2):  # unfitted, then fitted
        proba = model.predict(empty)
        assert isinstance(proba, np.ndarray)
        assert proba.shape == (0, 3) and proba.dtype == np.float32
        model.fit(toy, nb_epoch=1)
    assert model.predict(toy).dtype == np.float32


@pytest.mark.requires_deepchem
def test_predict_is_probabilities_and_metrics_agree(toy):
    model = ACTINNModel(n_features=40, n_classes=3, seed=0, learning_rate=1e-3)
    model.fit(toy, nb_epoch=5)
    proba = model.predict(toy)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    y = toy.y.ravel()
    scores = model.evaluate(toy, [
        dc.metrics.Metric(dc.metrics.accuracy_score),
        dc.metrics.Metric(dc.metrics.roc_auc_score)
    ],
                            n_classes=3)
    assert scores["accuracy_score"] == pytest.approx(
        accuracy_score(y, proba.argmax(axis=1)))
    assert scores["roc_auc_score"] == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr"))
    assert scores["accuracy_score"] > 0.9


@pytest.mark.requires_deepchem
def test_seed_makes_training_reproducible(toy):
    runs = []
    for seed in (7, 7, 8):
        model = ACTINNModel(n_features=40, n_classes=3, seed=seed)
        model.fit(toy, nb_epoch=2)
        runs.append(model.predict(toy))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


@pytest.mark.requires_deepchem
@pytest.mark.parametrize("n_networks", [1, 3])
def test_overfit_a_tiny_dataset(n_networks):
    """DeepChem's overfitting check: a model that can learn memorises a
    handful of random samples with random labels; an ensemble's every
    member does."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(24, 50)).astype(np.float32)
    y = rng.integers(0, 4, size=(24, 1))
    data = dc.data.NumpyDataset(X, y)
    model = ACTINNModel(n_features=50,
                        n_classes=4,
                        learning_rate=0.01,
                        weight_decay_penalty=0.0,
                        batch_size=8,
                        n_networks=n_networks,
                        seed=0)
    model.fit(data, nb_epoch=150)
    scores = model.evaluate(data,
                            [dc.metrics.Metric(dc.metrics.accuracy_score)])
    assert scores["accuracy_score"] == 1.0
    assert (model.predict(data).argmax(axis=1) == y.ravel()).all()
    if n_networks > 1:
        assert len(model.model) == n_networks
        for i in range(n_networks):
            logits = model.model.member(i)(torch.from_numpy(X))[1]
            assert (logits.argmax(1).numpy() == y.ravel()).all(), i


@pytest.mark.requires_deepchem
@pytest.mark.parametrize("n_networks", [1, 2])
def test_save_and_restore_through_model_dir(toy, tmp_path, n_networks):
    """A checkpoint in model_dir, restored into a new model with other
    initial weights, gives identical predictions, every member's weights,
    and (the optimiser's state restored too) identical further training."""
    model = ACTINNModel(n_features=40,
                        n_classes=3,
                        n_networks=n_networks,
                        seed=0,
                        model_dir=str(tmp_path))
    model.fit(toy, nb_epoch=2)
    model.save_checkpoint()
    restored = ACTINNModel(n_features=40,
                           n_classes=3,
                           n_networks=n_networks,
                           seed=1,
                           model_dir=str(tmp_path))
    assert not np.allclose(restored.predict(toy), model.predict(toy))
    restored.restore()
    np.testing.assert_array_equal(model.predict(toy), restored.predict(toy))
    assert restored.get_global_step() == model.get_global_step()
    for name, value in model.model.state_dict().items():
        assert torch.equal(restored.model.state_dict()[name], value), name
    for each in (model, restored):
        each.fit(toy, nb_epoch=1, deterministic=True, checkpoint_interval=0)
    np.testing.assert_array_equal(model.predict(toy), restored.predict(toy))


@pytest.mark.requires_deepchem
def test_sample_weights_weigh_each_sample(toy):
    model = ACTINNModel(n_features=40, n_classes=3, seed=0)
    model._ensure_built()
    X, y = toy.X[:6], toy.y[:6]
    w = np.array([1.0, 0.0, 2.0, 0.0, 1.0, 0.5]).reshape(-1, 1)
    inputs, labels, weights = model._prepare_batch(([X], [y], [w]))
    _, logits = model.model(inputs[0])
    loss = model._loss_fn([logits], labels, weights)
    per_cell = torch.nn.functional.cross_entropy(logits,
                                                 torch.as_tensor(y.ravel()),
                                                 reduction="none")
    expected = (per_cell *
                torch.as_tensor(w.ravel(), dtype=torch.float32)).mean()
    torch.testing.assert_close(loss, expected)


@pytest.mark.requires_deepchem
def test_disk_dataset_training_is_seeded(toy, tmp_path):
    disk = dc.data.DiskDataset.from_numpy(toy.X,
                                          toy.y,
                                          data_dir=str(tmp_path / "d"))
    disk.reshard(64)
    runs = []
    for _ in range(2):
        model = ACTINNModel(n_features=40, n_classes=3, seed=1)
        model.fit(disk, nb_epoch=2)
        runs.append(model.predict(disk))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].shape == (300, 3)


@pytest.mark.requires_deepchem
@pytest.mark.parametrize("shard_size", [None, 30, 100, 500])
def test_shuffled_epoch_batches_do_not_depend_on_shards(toy, tmp_path,
                                                        shard_size):
    """Each epoch visits every cell once, in full batches but the last,
    however the DiskDataset is sharded (a shard's leftover rows start the
    next shard's first batch, as DeepChem's own batches do)."""
    disk = dc.data.DiskDataset.from_numpy(toy.X,
                                          toy.y,
                                          ids=toy.ids,
                                          data_dir=str(tmp_path / "d"))
    if shard_size:
        disk.reshard(shard_size)
    model = ACTINNModel(n_features=40, n_classes=3, seed=0, batch_size=64)
    batches = list(model._shuffled_epoch(disk, pad_batches=False))
    assert [len(b[0][0]) for b in batches] == [64] * 4 + [300 - 4 * 64]
    rows = np.concatenate([b[0][0] for b in batches])
    order = np.lexsort(rows.T[::-1])
    np.testing.assert_array_equal(rows[order], toy.X[np.lexsort(toy.X.T[::-1])])
    labels = np.concatenate([b[1][0] for b in batches]).ravel()
    np.testing.assert_array_equal(np.sort(labels), np.sort(toy.y.ravel()))
    padded = list(model._shuffled_epoch(disk, pad_batches=True))
    assert [len(b[0][0]) for b in padded] == [64] * 5


def test_sparse_input_matches_dense_outputs_and_gradients():
    import scipy.sparse as sp

    from deepchem_actinn.models.batches import csr_triple
    rng = np.random.default_rng(0)
    X = sp.random(16,
                  300,
                  density=0.05,
                  format="csr",
                  dtype=np.float32,
                  random_state=rng)
    net = ACTINNClassifier(n_features=300, n_classes=4)
    dense_out = net(torch.from_numpy(X.toarray()))[1]
    (dense_out**2).sum().backward()
    dense_grads = [p.grad.clone() for p in net.parameters()]
    plain = csr_triple(X)
    with_transpose = plain + csr_triple(X.T.tocsr())
    for arrays in (plain, with_transpose):
        net.zero_grad()
        sparse_out = net([torch.from_numpy(a) for a in arrays])[1]
        (sparse_out**2).sum().backward()
        torch.testing.assert_close(sparse_out, dense_out, rtol=1e-5, atol=1e-6)
        for param, expected in zip(net.parameters(), dense_grads):
            torch.testing.assert_close(param.grad,
                                       expected,
                                       rtol=1e-5,
                                       atol=1e-5)


def _toy_batches(n_batches=6, batch=16, genes=40, seed=0):
    """Sparse minibatches (with their transposes) of a toy problem."""
    import scipy.sparse as sp

    from deepchem_actinn.models.batches import minibatches
    rng = np.random.default_rng(seed)
    X = sp.random(n_batches * batch,
                  genes,
                  density=0.2,
                  random_state=seed,
                  dtype=np.float32,
                  format="csr")
    y = rng.integers(0, 3, X.shape[0])
    w = rng.uniform(0.5, 2.0, X.shape[0]).astype(np.float32)
    return list(minibatches(X, y, w, batch, np.random.default_rng(seed)))


@pytest.mark.requires_deepchem
def test_ensemble_members_train_as_they_would_alone():
    """Side by side in one pass, each member follows the updates it gets
    when trained alone on the same minibatches (same seed, same steps)."""
    batches = _toy_batches()
    kwargs = dict(n_features=40,
                  n_classes=3,
                  layer_sizes=(8, 6),
                  learning_rate=1e-2,
                  decay_steps=2)
    ensemble = ACTINNModel(n_networks=3, seed=5, **kwargs)
    assert len(ensemble.model) == 3
    ensemble.fit_generator(batches, checkpoint_interval=0)
    for i in range(3):
        alone = ACTINNModel(seed=5 + i, **kwargs)
        alone.fit_generator(batches, checkpoint_interval=0)
        state = ensemble.model.member_state(i)
        assert state.keys() == alone.model.state_dict().keys()
        for name, value in alone.model.state_dict().items():
            torch.testing.assert_close(state[name],
                                       value,
                                       rtol=1e-4,
                                       atol=1e-5,
                                       msg=name)


@pytest.mark.requires_deepchem
def test_ensemble_outputs_are_its_members_and_its_loss_their_sum():
    from deepchem_actinn.models.actinn import (ACTINNEnsemble,
                                               EnsembleCrossEntropy,
                                               seeded_classifier)
    nets = [seeded_classifier(40, 3, (8, 6), seed=s) for s in (1, 2)]
    ensemble = ACTINNEnsemble(nets)
    x = torch.rand(7, 40)
    proba, logits = ensemble(x)
    assert logits.shape == (7, 2, 3)
    for i, net in enumerate(nets):
        torch.testing.assert_close(logits[:, i], net(x)[1])
        torch.testing.assert_close(ensemble.member(i)(x)[1], net(x)[1])
    torch.testing.assert_close(proba, (nets[0](x)[0] + nets[1](x)[0]) / 2)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    loss = EnsembleCrossEntropy()._create_pytorch_loss()(logits, labels)
    expected = sum(
        torch.nn.functional.cross_entropy(net(x)[1], labels, reduction="none")
        for net in nets)
    torch.testing.assert_close(loss, expected)
    # Fresh weights are drawn under the seed, not from global state.
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    ACTINNModel(n_features=40, n_classes=3, n_networks=2, seed=9)
    assert torch.equal(torch.rand(1), before)


@pytest.mark.requires_deepchem
def test_fused_adam_takes_plain_adams_steps():
    from deepchem_actinn.models.actinn import FusedAdam
    torch.manual_seed(0)
    start = [torch.randn(30, 5), torch.randn(5)]
    grads = [[torch.randn_like(p) for p in start] for _ in range(4)]
    moved = []
    for make in (lambda ps: FusedAdam(learning_rate=0.01, weight_decay=0.005).
                 _create_pytorch_optimizer(ps), lambda ps: torch.optim.Adam(
                     ps, lr=0.01, weight_decay=0.005, foreach=False)):
        params = [torch.nn.Parameter(p.clone()) for p in start]
        optimizer = make(params)
        for step in grads:
            for p, g in zip(params, step):
                p.grad = g.clone()
            optimizer.step()
        moved.append(params)
    fused_optimizer = FusedAdam(learning_rate=0.01)._create_pytorch_optimizer(
        [torch.nn.Parameter(torch.zeros(3))])
    assert fused_optimizer.defaults["fused"]
    for fused, plain in zip(*moved):
        torch.testing.assert_close(fused, plain)


def test_missing_deepchem_is_one_clear_line():
    import subprocess
    import sys
    code = "\n".join([
        "import sys",
        "class Block:",
        "    def find_spec(self, name, path=None, target=None):",
        "        if name.split('.')[0] == 'deepchem':",
        "            raise ImportError('No module named %r' % name)",
        "sys.meta_path.insert(0, Block())",
        "from deepchem_actinn import ACTINNModel",
    ])
    result = subprocess.run([sys.executable, "-c", code],
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ACTINNModel needs DeepChem")
    from deepchem_actinn._deepchem import install_hint
    assert install_hint() in last  # what to install on this Python
