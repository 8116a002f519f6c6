"""The linear member: a scaled, clipped logistic regression averaged with
the networks (``linear_weight``), the same on every prediction path."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.linear_model import LogisticRegression

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.cli import main
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.models.inference import embed
from deepchem_actinn.models.linear import (CLIP, LINEAR_WEIGHT, LinearMember,
                                           averaged_probabilities, fit_linear)


@pytest.fixture(scope="module")
def averaged(tm_train):
    return ACTINNAnnotator(n_networks=2,
                           max_epochs=4,
                           early_stopping=False,
                           linear_weight=0.4,
                           seed=0).fit(tm_train["X"], tm_train["genes"],
                                       tm_train["labels"])


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_fit_linear_is_scikit_learn_on_scaled_clipped_values(class_weight):
    rng = np.random.default_rng(0)
    X = sp.random(300, 20, density=0.3, random_state=1, format="lil") * 5
    X[:, 3] = 0  # a gene that never varies
    X[0, 5] = 400.0  # a value far out, to be clipped
    X = sp.csr_matrix(X)
    y = rng.choice(3, 300, p=[0.6, 0.3, 0.1])
    member = fit_linear(X, y, 4, seed=0, class_weight=class_weight)
    dense = X.toarray()
    sd = dense.std(axis=0)
    scaled = np.minimum(
        np.divide(dense, sd, out=np.zeros_like(dense), where=sd > 0), CLIP)
    assert scaled[0, 5] == CLIP
    expected = LogisticRegression(C=1.0,
                                  max_iter=1000,
                                  class_weight=class_weight).fit(scaled, y)
    np.testing.assert_allclose(member.inv_scale[sd > 0],
                               1 / sd[sd > 0],
                               rtol=1e-5)
    assert member.inv_scale[3] == 0
    np.testing.assert_allclose(member.coef[:3], expected.coef_, atol=1e-4)
    # type 3 is absent from y: not known, so its probability stays the
    # networks' and the regression shares out the rest
    assert member.known.tolist() == [True, True, True, False]
    logits = member.logits(X)
    np.testing.assert_allclose(_softmax(logits[:, :3]),
                               expected.predict_proba(scaled),
                               atol=1e-4)
    networks = np.tile([0.1, 0.2, 0.3, 0.4], (300, 1))
    mixed = averaged_probabilities(networks, logits, 0.5, member.known)
    np.testing.assert_allclose(mixed[:, 3], 0.4)
    np.testing.assert_allclose(mixed[:, :3],
                               0.5 * networks[:, :3] +
                               0.5 * 0.6 * expected.predict_proba(scaled),
                               atol=1e-4)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0)
    np.testing.assert_allclose(member.logits(X),
                               member.logits(dense),
                               rtol=1e-5,
                               atol=1e-5)
    # one type alone: nothing known, the networks' probabilities as they are
    alone = fit_linear(X, np.zeros(300, int), 2, seed=0)
    assert not alone.known.any()
    np.testing.assert_array_equal(
        averaged_probabilities(networks[:, :2], alone.logits(X), 0.5,
                               alone.known), networks[:, :2])


def test_the_regression_weighs_types_as_the_networks(tm_train, monkeypatch):
    import deepchem_actinn.annotator.annotator as module
    seen = []
    real = module.fit_linear

    def spy(*args):
        seen.append(args[4])
        return real(*args)

    monkeypatch.setattr(module, "fit_linear", spy)
    for class_weight in ("balanced", None):
        ACTINNAnnotator(n_networks=1,
                        max_epochs=1,
                        linear_weight=0.5,
                        class_weight=class_weight).fit(tm_train["X"][:500],
                                                       tm_train["genes"],
                                                       tm_train["labels"][:500])
    assert seen == ["balanced", None]


def test_two_types_give_the_binary_regression():
    rng = np.random.default_rng(1)
    X = rng.poisson(2.0, (80, 6)).astype(float)
    y = (X[:, 0] > 2).astype(int)
    member = fit_linear(X, y, 2, seed=0)
    scaled = member.scaled(X)
    expected = LogisticRegression(C=1.0, max_iter=1000).fit(scaled, y)
    np.testing.assert_allclose(_softmax(member.logits(X)),
                               expected.predict_proba(scaled),
                               atol=1e-5)


def test_predict_averages_the_networks_and_the_regression(averaged, tm_test):
    """Against a reference computation outside the fused scorer: the
    networks' input, their calibrated softmax, the regression's softmax."""
    X = sp.csr_matrix(tm_test["X"][:300])
    values = averaged.preprocess(X, tm_test["genes"])
    _, logits = embed(averaged.ensemble_, values)
    networks = _softmax(logits.astype(np.float64) / averaged.temperature_)
    linear = _softmax(averaged.linear_.logits(values).astype(np.float64))
    expected = 0.6 * networks + 0.4 * linear
    for query in (X, X.toarray()):
        result = averaged.predict(query, tm_test["genes"])
        np.testing.assert_allclose(result.probabilities,
                                   expected,
                                   rtol=1e-4,
                                   atol=1e-5)
        assert list(result.cell_types) == [
            averaged.type_names[i] for i in expected.argmax(axis=1)
        ]
    # chunk by chunk, with genes in another order and one the model lacks
    order = np.random.default_rng(0).permutation(X.shape[1])
    genes = [tm_test["genes"][i] for i in order] + ["NOT_A_GENE"]
    shuffled = sp.hstack([X[:, order], sp.csr_matrix((300, 1))]).tocsr()
    parts = list(
        averaged.iter_predict([(None, shuffled[:120]), (None, shuffled[120:])],
                              genes))
    np.testing.assert_allclose(np.vstack([p.probabilities for p in parts]),
                               expected,
                               rtol=1e-4,
                               atol=1e-5)


def test_the_scorer_sums_the_regression_in_parts_bit_for_bit(
        averaged, tm_test, monkeypatch):
    """On the CPU the regression's logits are summed a few cells at a time
    (inference.LINEAR_ROWS): the same float32 values as in one piece, and as
    the member's own logits of the networks' input to round-off."""
    from deepchem_actinn.models import inference
    X = sp.csr_matrix(tm_test["X"][:300])
    positions = averaged.gene_positions(tm_test["genes"])

    def linear_logits(rows, block):
        monkeypatch.setattr(inference, "LINEAR_ROWS", rows)
        scorer = inference.EnsembleScorer(averaged.ensemble_,
                                          positions,
                                          X.shape[1],
                                          averaged.target_sum,
                                          averaged.log_base,
                                          block=block,
                                          linear=averaged.linear_)
        return scorer.score(X)[2]

    whole = linear_logits(10**9, 10**9)
    for rows, block in ((7, 10**9), (7, 128), (64, 100), (1, 300)):
        np.testing.assert_array_equal(linear_logits(rows, block), whole)
    values = averaged.preprocess(X, tm_test["genes"])
    np.testing.assert_allclose(whole,
                               averaged.linear_.logits(values),
                               rtol=1e-4,
                               atol=1e-4)


def test_the_average_is_as_documented():
    np.testing.assert_allclose(
        averaged_probabilities(np.array([[0.8, 0.2]]), np.log([[1.0, 3.0]]),
                               0.25),
        [[0.75 * 0.8 + 0.25 * 0.25, 0.75 * 0.2 + 0.25 * 0.75]])


def test_save_load_keeps_the_regression(averaged, tm_test, tmp_path):
    averaged.save(tmp_path / "model")
    loaded = ACTINNAnnotator.load(tmp_path / "model", device="cpu")
    assert loaded.linear_weight == 0.4
    np.testing.assert_array_equal(loaded.linear_.coef, averaged.linear_.coef)
    np.testing.assert_array_equal(
        loaded.predict(tm_test["X"], tm_test["genes"]).probabilities,
        averaged.predict(tm_test["X"], tm_test["genes"]).probabilities)
    (tmp_path / "model" / "linear.pt").unlink()
    with pytest.raises(ACTINNInputError, match="linear.pt is missing"):
        ACTINNAnnotator.load(tmp_path / "model", device="cpu")
    torch.save({"coef": torch.zeros(2, 2)}, tmp_path / "model" / "linear.pt")
    with pytest.raises(ACTINNInputError,
                       match="linear.pt is not the file this annotator was "
                       "saved with"):
        ACTINNAnnotator.load(tmp_path / "model", device="cpu")
    import json  # as saved before the checksums were kept: its shape says
    config = json.loads((tmp_path / "model" / "annotator.json").read_text())
    del config["checksums"]
    (tmp_path / "model" / "annotator.json").write_text(json.dumps(config))
    with pytest.raises(ACTINNInputError, match="damaged"):
        ACTINNAnnotator.load(tmp_path / "model", device="cpu")


@pytest.fixture
def plain(tm_train):
    """A briefly trained annotator of the networks alone."""
    return ACTINNAnnotator(n_networks=1,
                           max_epochs=1,
                           early_stopping=False,
                           linear_weight=0.0).fit(tm_train["X"][:400],
                                                  tm_train["genes"],
                                                  tm_train["labels"][:400])


def test_without_a_weight_there_is_no_regression(plain):
    assert ACTINNAnnotator().linear_weight == LINEAR_WEIGHT == 0.5
    assert plain.linear_ is None
    assert plain.get_params()["linear_weight"] == 0.0
    for bad in (-0.1, 1.0, 2):
        with pytest.raises(ValueError, match=r"linear_weight must be in"):
            ACTINNAnnotator(linear_weight=bad)


def test_member_round_trips_through_its_arrays(averaged):
    again = LinearMember.from_dict(averaged.linear_.to_dict())
    for name, array in averaged.linear_.to_dict().items():
        np.testing.assert_array_equal(getattr(again, name), array)
        assert getattr(again, name).dtype == array.dtype


def test_cli_linear_weight(tmp_path, capsys):
    from deepchem_actinn.datasets import tabula_muris_sample_paths
    paths = tabula_muris_sample_paths()
    base = [
        "train", "-trs",
        str(paths["train"]), "-trl",
        str(paths["train_labels"]), "-ne", "1", "--networks", "1", "-q",
        "--device", "cpu"
    ]
    assert main(base +
                ["-m", str(tmp_path / "m"), "--linear-weight", "0.5"]) == 0
    assert ACTINNAnnotator.load(tmp_path / "m").linear_weight == 0.5
    with pytest.raises(SystemExit):
        main(base + ["-m", str(tmp_path / "n"), "--linear-weight", "1"])
    assert "expected a number in [0, 1)" in capsys.readouterr().err
    # the help gives the annotator's own default
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(default: the annotator's, %g; 0: the networks alone" % \
        LINEAR_WEIGHT in help_text
    # the log says what was trained
    loud = [flag for flag in base if flag != "-q"]
    assert main(loud + ["-m", str(tmp_path / "d")]) == 0
    assert ("trained 1 network and a logistic regression (weight 0.5) on "
            "4000 cells") in capsys.readouterr().err
    assert main(loud + ["-m", str(tmp_path / "z"), "--linear-weight", "0"]) == 0
    assert "trained 1 network on 4000 cells" in capsys.readouterr().err
    assert ACTINNAnnotator.load(tmp_path / "z").linear_ is None


def test_demo_trains_with_the_weight(monkeypatch, tmp_path):
    seen = []

    class Stop(Exception):
        pass

    def fit(self, *args, **kwargs):
        seen.append(self.linear_weight)
        raise Stop

    monkeypatch.setattr(ACTINNAnnotator, "fit", fit)
    for flags, weight in ((["--linear-weight", "0"], 0.0), ([], 0.5)):
        with pytest.raises(Stop):
            main(["demo", "-o", str(tmp_path / "demo"), "-q", *flags])
        assert seen.pop() == weight


def test_unassigned_scores_cells_by_the_averaged_type(averaged, tm_test):
    """The rule scales each cell's distance by the type it is given: the
    average's, not the networks' alone."""
    X = sp.csr_matrix(tm_test["X"])
    result = averaged.predict(X, tm_test["genes"], unassigned=True)
    values = averaged.preprocess(X, tm_test["genes"])
    hidden, logits = embed(averaged.ensemble_, values)
    proba = averaged.probabilities(logits, averaged.linear_.logits(values))
    np.testing.assert_allclose(result.novelty_score,
                               averaged.rule_.score(hidden, logits, proba),
                               rtol=1e-4)
    differ = proba.argmax(axis=1) != logits.argmax(axis=1)
    if differ.any():  # the networks' type would give other scores there
        networks_only = averaged.rule_.score(hidden, logits)
        assert not np.allclose(result.novelty_score[differ],
                               networks_only[differ])


def test_a_weight_set_after_fitting_is_refused(plain, tm_test, tmp_path):
    plain.save(tmp_path / "plain")
    config = (tmp_path / "plain" / "annotator.json").read_text()
    assert "linear_weight" not in config  # earlier versions still load it
    # and this one loads such a directory (as those versions wrote it)
    # without a regression, whatever the default weight
    loaded = ACTINNAnnotator.load(tmp_path / "plain", device="cpu")
    assert loaded.linear_weight == 0.0 and loaded.linear_ is None
    np.testing.assert_array_equal(
        loaded.predict(tm_test["X"][:10], tm_test["genes"]).probabilities,
        plain.predict(tm_test["X"][:10], tm_test["genes"]).probabilities)
    plain.linear_weight = 0.5
    with pytest.raises(ValueError, match="fitted without a linear member"):
        plain.predict(tm_test["X"][:10], tm_test["genes"])
    with pytest.raises(ValueError, match="fitted without a linear member"):
        plain.save(tmp_path / "other")


def test_averaged_probabilities_stay_within_0_and_1():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.full(12, 0.05), size=5000).astype(np.float32)
    logits = rng.normal(0, 30, size=(5000, 12)).astype(np.float32)
    mixed = averaged_probabilities(proba, logits, 0.5)
    assert mixed.dtype == np.float32
    assert mixed.min() >= 0 and mixed.max() <= 1
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-5)
    # float32 rows sum a little over 1: the average must not pass 1
    over = np.array([[0.99999994, 2.4e-7]], np.float32)
    assert float(over.astype(np.float64).sum()) > 1
    assert averaged_probabilities(over, np.array([[60.0, 0.0]]), 0.5).max() <= 1
