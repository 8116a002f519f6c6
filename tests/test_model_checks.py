"""What ACTINNModel refuses that DeepChem would pass to PyTorch: keywords
it would ignore, labels that are not class ids, NaN cells, unlabelled
datasets, a diverging fit, another model's checkpoint; its arguments'
names (DeepChem's, the former ones with a warning), by keyword only."""
import contextlib
import inspect

import numpy as np
import pytest
import torch

from deepchem_actinn.models.network import ACTINNEnsemble, seeded_classifier

try:  # the DeepChem integration; where it cannot be imported, the tests
    # marked requires_deepchem are skipped (conftest.py)
    import deepchem as dc

    from deepchem_actinn import (ACTINNModel, GeneFilterTransformer,
                                 SingletaskStratifiedSplitter)
except ImportError:
    pass

pytestmark = [pytest.mark.torch, pytest.mark.requires_deepchem]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = np.log1p(rng.poisson(2.0, size=(60, 6))).astype(np.float32)
    return dc.data.NumpyDataset(X,
                                np.arange(60) % 3,
                                ids=np.array(["c%d" % i for i in range(60)]))


def _model(**kwargs):
    return ACTINNModel(n_features=6, n_classes=3, seed=0, **kwargs)


@pytest.mark.parametrize("name, hint", [
    ("dropouts", "ACTINN's networks have no dropout"),
    ("weight_decay_penalty_type", "ACTINN's penalty is L2"),
    ("learnig_rate", "it takes n_features, n_classes, layer_sizes, "
     "learning_rate, weight_decay_penalty, "),
])
def test_keywords_torchmodel_would_ignore_are_refused(name, hint):
    # DeepChem's Model drops unknown keywords: a search over them would
    # train one model again and again
    with pytest.raises(TypeError,
                       match=r"unexpected keyword argument '%s' \(%s" %
                       (name, hint)):
        _model(**{name: 1})
    with pytest.raises(TypeError, match="ACTINNModel's loss is fixed"):
        _model(loss=dc.models.losses.SparseSoftmaxCrossEntropy())


# DeepChem's MultitaskClassifier's names, ACTINNModel's former ones
DEEPCHEM_NAMES = {
    "n_features": "input_size",
    "n_classes": "output_dim",
    "layer_sizes": "hidden_sizes",
    "weight_decay_penalty": "weight_decay",
}


def test_the_arguments_have_deepchems_names_by_keyword_only():
    takes = inspect.signature(ACTINNModel).parameters
    deepchems = inspect.signature(dc.models.MultitaskClassifier).parameters
    for name in list(DEEPCHEM_NAMES) + ["n_tasks"]:
        assert name in deepchems, name
        assert takes[name].kind == inspect.Parameter.KEYWORD_ONLY, name
    assert not set(DEEPCHEM_NAMES.values()) & set(takes)
    model = ACTINNModel(n_features=6,
                        n_classes=3,
                        layer_sizes=(5, 4),
                        weight_decay_penalty=0.1,
                        n_tasks=1,
                        seed=0)
    assert (model.n_features, model.n_classes, model.layer_sizes,
            model.n_tasks) == (6, 3, (5, 4), 1)
    assert model.optimizer.weight_decay == 0.1
    assert model.model.first.weight.shape == (6, 5)
    assert model.model.head.out_features == 3


def test_the_former_names_warn_and_build_the_same_model():
    new = dict(n_features=6,
               n_classes=3,
               layer_sizes=(5, 4),
               weight_decay_penalty=0.1)
    with pytest.warns(FutureWarning) as caught:
        model = ACTINNModel(seed=0,
                            **{DEEPCHEM_NAMES[k]: v for k, v in new.items()})
    assert [str(w.message) for w in caught] == [
        "ACTINNModel's %s is deprecated and will be removed: pass %s=%r "
        "(DeepChem's name)" % (DEEPCHEM_NAMES[k], k, v) for k, v in new.items()
    ]
    assert {w.filename for w in caught} == {__file__}  # the caller's line
    expected = ACTINNModel(seed=0, **new)
    assert (model.n_features, model.n_classes, model.layer_sizes,
            model.optimizer.weight_decay) == (6, 3, (5, 4), 0.1)
    for name, value in expected.model.state_dict().items():
        assert torch.equal(model.model.state_dict()[name], value), name
    # the attributes under their former names are read, with a warning
    for old, new_name in (("input_size", "n_features"),
                          ("output_dim", "n_classes"), ("hidden_sizes",
                                                        "layer_sizes")):
        with pytest.warns(FutureWarning) as caught:
            assert getattr(model, old) == getattr(model, new_name)
        assert str(caught[0].message) == (
            "ACTINNModel.%s is deprecated and will be removed: read %s" %
            (old, new_name))
        assert caught[0].filename == __file__
        with pytest.raises(AttributeError):
            setattr(model, old, 1)


@pytest.mark.parametrize("new, old", sorted(DEEPCHEM_NAMES.items()))
def test_both_names_for_one_argument_are_refused(new, old):
    kwargs = dict(n_features=6, n_classes=3, seed=0)
    kwargs.update({new: kwargs.get(new, 1), old: kwargs.get(new, 1)})
    with pytest.raises(TypeError,
                       match="ACTINNModel got %s and %s, its former name, "
                       "for one argument: pass %s alone$" % (new, old, new)):
        ACTINNModel(**kwargs)


def test_positional_arguments_are_refused():
    # once ACTINNModel(output_dim, input_size): ACTINNModel(2000, 12) made a
    # 2000-type network over 12 genes
    with pytest.raises(TypeError,
                       match=r"ACTINNModel takes its arguments by keyword, "
                       r"got 2 positional \(2000, 12\): "
                       r"ACTINNModel\(n_features=<genes>, n_classes=<cell "
                       r"types>, ...\) \(its first two were once output_dim, "
                       r"input_size, in the other order\)$"):
        ACTINNModel(2000, 12)
    with pytest.raises(TypeError,
                       match="missing 1 required keyword-only "
                       "argument: 'n_classes'"):
        ACTINNModel(n_features=2000)


def test_one_task_only(data):
    model = _model(n_tasks=1)
    assert model.n_tasks == 1
    model.fit(data, nb_epoch=1)
    for n_tasks in (2, 0, 1.0):
        with pytest.raises(ValueError,
                           match=r"ACTINNModel is single-task \(one cell "
                           r"type per cell, of n_classes types\): n_tasks "
                           r"must be 1, got %s; train one model per "
                           r"labelling" % n_tasks):
            _model(n_tasks=n_tasks)


@pytest.mark.parametrize("name, value", [("seed", -1), ("seed", 1.5),
                                         ("seed", 2**32), ("batch_size", 0),
                                         ("n_networks", 0),
                                         ("batch_size", 2.0)])
def test_settings_out_of_range_name_the_argument(name, value):
    kwargs = {"seed": 0, name: value}
    with pytest.raises(ValueError, match="%s must be a whole number" % name):
        ACTINNModel(n_features=6, n_classes=3, **kwargs)


def test_a_learning_rate_schedule_and_an_optimizer_are_used(data):
    schedule = dc.models.optimizers.ExponentialDecay(0.01, 0.5, 1)
    model = _model(learning_rate=schedule)
    assert model.optimizer.learning_rate is schedule
    model.fit(data, nb_epoch=2)
    # one step per epoch (60 cells, batch 128): the rate halves each step
    assert model._pytorch_optimizer.param_groups[0]["lr"] == pytest.approx(
        0.01 * 0.5**2)
    adam = dc.models.optimizers.Adam(learning_rate=0.1)
    model = _model(optimizer=adam)
    assert model.optimizer is adam
    before = model.model.head.weight.detach().clone()
    model.fit(data, nb_epoch=1)
    assert model._pytorch_optimizer.param_groups[0]["lr"] == 0.1
    assert not torch.equal(before, model.model.head.weight)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, bool])
def test_whole_number_x_is_refused_as_counts(data, dtype):
    # small counts pass the raw-count rule (none over 50); torch would fail
    # with "mat1 and mat2 must have the same dtype"
    counts = dc.data.NumpyDataset((data.X > 1).astype(dtype), data.y)
    for call in (lambda m: m.fit(counts, nb_epoch=1),
                 lambda m: m.predict(counts),
                 lambda m: m.predict_on_batch(counts.X)):
        with pytest.raises(ValueError,
                           match=r"ACTINNModel takes library-size normalised, "
                           r"log-transformed values, the dataset's X has "
                           r"dtype %s: counts\? Transform it with "
                           r"LibrarySizeLogTransformer first$" %
                           np.dtype(dtype).name):
            call(_model())


def test_half_precision_x_is_taken_as_float32(data):
    model = _model()
    half = model.predict(dc.data.NumpyDataset(data.X.astype(np.float16)))
    single = model.predict(
        dc.data.NumpyDataset(data.X.astype(np.float16).astype(np.float32)))
    np.testing.assert_array_equal(half, single)
    model.fit(dc.data.NumpyDataset(data.X.astype(np.float16), data.y),
              nb_epoch=1)


def test_nan_or_infinite_cells_are_refused_by_id(data, tmp_path):
    X = data.X.copy()
    X[3, 1], X[41, 2] = np.nan, -np.inf
    for bad in (dc.data.NumpyDataset(X, data.y, ids=data.ids),
                dc.data.DiskDataset.from_numpy(X,
                                               data.y,
                                               ids=data.ids,
                                               data_dir=str(tmp_path))):
        for call in (lambda m: m.fit(bad, nb_epoch=1),
                     lambda m: m.predict(bad)):
            with pytest.raises(ValueError,
                               match="takes finite values; 2 cells hold NaN "
                               "or infinite values: c3, c41$"):
                call(_model())


def test_labels_are_checked_in_fit_and_evaluate_naming_the_bad_ones(data):
    y = data.y.astype(float)
    y[[4, 9]] = np.nan
    with pytest.raises(ValueError,
                       match=r"class ids \(whole numbers\) as y; 2 labels "
                       r"are not: nan, nan \(dtype float64\)$"):
        _model().fit(dc.data.NumpyDataset(data.X, y), nb_epoch=1)
    accuracy = dc.metrics.Metric(dc.metrics.accuracy_score)
    # evaluate, and so ValidationCallback, checks them as fit does
    with pytest.raises(ValueError,
                       match=r"class ids must be in 0 .. 2 \(n_classes 3\), "
                       r"the dataset holds 20 .. 22"):
        _model().evaluate(dc.data.NumpyDataset(data.X, data.y + 20), [accuracy])
    names = np.array(["a", "b", "c"])[data.y]
    callback = dc.models.ValidationCallback(dc.data.NumpyDataset(data.X, names),
                                            interval=1,
                                            metrics=[accuracy])
    with pytest.raises(ValueError, match="the dataset's y holds a, b, c"):
        _model().fit(data, nb_epoch=1, callbacks=[callback])


def test_one_hot_labels_with_a_task_axis_are_refused(data):
    # DeepChem's one-hot layout for one task, (n_cells, 1, n_classes), is
    # several values per cell: torch would fail with a batch-size mismatch
    onehot = np.eye(3)[data.y][:, None, :]
    for call in (lambda m, d: m.fit(d, nb_epoch=1), lambda m, d: m.evaluate(
            d, [dc.metrics.Metric(dc.metrics.accuracy_score)])):
        with pytest.raises(ValueError,
                           match=r"one class id per cell \(y of shape "
                           r"\(n_cells, 1\)\); the dataset's y has shape "
                           r"\(60, 1, 3\): one-hot labels\? Pass "
                           r"y.argmax\(axis=-1\)"):
            call(_model(), dc.data.NumpyDataset(data.X, onehot))


def test_class_ids_written_as_text_are_refused(data):
    # "0", "2" convert to numbers, but torch takes no text: say so first
    digits = data.y.astype(str)
    with pytest.raises(ValueError,
                       match=r"takes class ids .* as y, the dataset's y holds "
                       r"0, 1, 2.* \(dtype <U21\)"):
        _model().fit(dc.data.NumpyDataset(data.X, digits), nb_epoch=1)


@pytest.mark.parametrize("weights, message", [
    (np.ones((60, 2)), r"one weight per cell \(w of shape \(n_cells, 1\)\); "
     r"the dataset's w has shape \(60, 2\)"),
    (np.r_[np.nan, np.ones(58), np.inf],
     r"finite weights of at least 0; 2 cells have others: c0, c59$"),
    (np.r_[np.ones(5), -1.0, np.ones(54)],
     r"finite weights of at least 0; 1 cell has others: c5$"),
])
def test_weights_are_one_finite_non_negative_value_per_cell(
        data, weights, message):
    # torch would fail with a shape error, train to NaN ("lower the
    # learning rate"), or maximise the loss of negatively weighted cells
    model = _model()
    before = model.model.head.weight.detach().clone()
    with pytest.raises(ValueError, match=message):
        model.fit(dc.data.NumpyDataset(data.X, data.y, weights, data.ids),
                  nb_epoch=1)
    assert torch.equal(before, model.model.head.weight)


def test_an_unlabelled_dataset_is_not_fitted(data):
    model = _model()
    before = model.model.head.weight.detach().clone()
    with pytest.raises(ValueError,
                       match="every cell of the dataset has weight 0, so "
                       "there is nothing to learn"):
        model.fit(dc.data.NumpyDataset(data.X), nb_epoch=1)
    assert torch.equal(before, model.model.head.weight)


def test_an_unlabelled_dataset_is_not_evaluated(data):
    # DeepChem gives a dataset made without labels y = 0 and w = 0: scoring
    # the predictions against those zeros would give a plausible accuracy
    model = _model()
    model.fit(data, nb_epoch=1)
    accuracy = [dc.metrics.Metric(dc.metrics.accuracy_score)]
    with pytest.raises(ValueError,
                       match="^every cell of the dataset has weight 0, so "
                       "there is nothing to score: it was made without "
                       "labels .*; evaluate a dataset with its cells' labels"):
        model.evaluate(dc.data.NumpyDataset(data.X), accuracy)
    assert set(model.evaluate(data, accuracy)) == {"accuracy_score"}


@pytest.mark.parametrize("given, named", [
    ({
        "learning_rate": 1e-4
    }, "learning_rate"),
    ({
        "weight_decay_penalty": 0.0
    }, "weight_decay_penalty"),
    ({
        "decay_rate": 0.5,
        "decay_steps": 10
    }, "decay_rate and decay_steps"),
    ({
        "learning_rate": 10.0,
        "weight_decay": 99.0
    }, "learning_rate and weight_decay_penalty"),
])
def test_adams_settings_beside_an_optimizer_are_refused(given, named):
    adam = dc.models.optimizers.Adam(learning_rate=1e-3)
    # weight_decay, the former name, warns and is taken as the new one
    former = "weight_decay" in given
    with pytest.warns(FutureWarning) if former else contextlib.nullcontext():
        with pytest.raises(TypeError,
                           match="^ACTINNModel got %s, which the optimizer "
                           "replaces, so it would be ignored: set it there, "
                           "or leave it out$" % named):
            _model(optimizer=adam, **given)


def test_the_decay_beside_a_schedule_is_refused():
    schedule = dc.models.optimizers.ExponentialDecay(1e-3, 0.9, 100)
    for given, named in (({
            "decay_rate": 0.95
    }, "decay_rate"), ({
            "decay_steps": 1
    }, "decay_steps")):
        with pytest.raises(TypeError,
                           match="^ACTINNModel got %s, which the schedule "
                           "given as learning_rate replaces" % named):
            _model(learning_rate=schedule, **given)
    # the weight decay is Adam's, not the schedule's: it is used
    model = _model(learning_rate=schedule, weight_decay_penalty=0.1)
    assert model.optimizer.learning_rate is schedule
    assert model.optimizer.weight_decay == 0.1
    # without an optimizer or a schedule, the defaults may be given
    model = _model(learning_rate=1e-4, decay_rate=0.95, decay_steps=1000)
    rate = model.optimizer.learning_rate
    assert (rate.initial_rate, rate.decay_rate, rate.decay_steps,
            model.optimizer.weight_decay) == (1e-4, 0.95, 1000, 0.005)


def test_a_diverging_fit_raises_instead_of_returning_nan(data):
    with pytest.raises(FloatingPointError,
                       match="training diverged: the loss is nan"):
        _model(learning_rate=1e9).fit(data, nb_epoch=3)


def test_another_models_checkpoint_is_named(data, tmp_path):
    model = _model(model_dir=str(tmp_path))
    model.fit(data, nb_epoch=1)
    model.save_checkpoint()
    for other, said in ((dict(n_features=7), r"n_features 7, n_classes 3, "
                         r"layer_sizes \[100, 50, 25\], n_networks 1"),
                        (dict(n_features=6, n_networks=2), "n_networks 2")):
        with pytest.raises(ValueError,
                           match="checkpoint in %s is another model's: .*%s" %
                           (tmp_path, said)):
            ACTINNModel(n_classes=3, model_dir=str(tmp_path), **other).restore()
    again = _model(model_dir=str(tmp_path))
    again.restore()
    np.testing.assert_array_equal(again.predict(data), model.predict(data))


def test_misuse_messages_say_what_to_give(data):
    with pytest.raises(ValueError,
                       match=r"has shape \(6,\): one cell\? Give "
                       r"it as one row, X\[None, :\]"):
        _model().predict_on_batch(data.X[0])
    with pytest.raises(TypeError,
                       match="takes one ACTINNClassifier, not ACTINNEnsemble: "
                       r"an ensemble's members are ensemble.member\(i\)"):
        ACTINNModel.from_network(
            ACTINNEnsemble([seeded_classifier(6, 3, seed=0)]))
    with pytest.raises(ValueError,
                       match=r"task_number 3, but the dataset's y has 1 "
                       r"column \(tasks 0 .. 0\)"):
        SingletaskStratifiedSplitter(task_number=3).split(data)


def test_the_gene_filter_refuses_raw_counts():
    counts = np.random.default_rng(0).poisson(40, size=(20, 10)) * 3.0
    with pytest.raises(ValueError,
                       match="GeneFilterTransformer: X holds whole numbers up "
                       "to .* LibrarySizeLogTransformer first"):
        GeneFilterTransformer(dataset=dc.data.NumpyDataset(counts),
                              genes=list("abcdefghij"))


def test_the_gene_filter_refuses_repeated_gene_names():
    X = np.log1p(np.random.default_rng(0).poisson(2.0, size=(20, 4)))
    with pytest.raises(ValueError,
                       match=r"1 gene is named more than once \(names are "
                       r"compared ignoring case and an Ensembl version\): "
                       r"Actb/ACTB;"):
        GeneFilterTransformer(dataset=dc.data.NumpyDataset(X),
                              genes=["Actb", "Cd3e", "ACTB", "Gapdh"])


def test_an_annotators_members_as_models_at_the_largest_seed(tm_train):
    from deepchem_actinn import ACTINNAnnotator
    annotator = ACTINNAnnotator(max_epochs=1,
                                early_stopping=False,
                                n_networks=2,
                                linear_weight=0,
                                seed=2**32 - 1).fit(tm_train["X"][:300],
                                                    tm_train["genes"],
                                                    tm_train["labels"][:300])
    assert [m.seed for m in annotator.models_] == [2**32 - 1, 0]


def test_to_disk_dataset_takes_a_whole_number_of_cells_per_shard(tm_train):
    import anndata

    from deepchem_actinn.datasets import to_disk_dataset
    adata = anndata.AnnData(tm_train["X"][:10].astype(np.float32))
    with pytest.raises(ValueError,
                       match="shard_size must be a whole number of at "
                       "least 1, got 1500.0"):
        to_disk_dataset(adata, label_key=None, shard_size=1500.0)
