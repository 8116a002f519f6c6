"""The annotator's scikit-learn manners: ``get_params`` names exactly the
constructor's parameters, as given; ``set_params`` sets them (or names the
one it does not know); ``sklearn.base.clone`` gives an unfitted copy."""
import inspect
import json
import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from deepchem_actinn import ACTINNAnnotator
from deepchem_actinn.annotator import persistence
from deepchem_actinn.annotator.annotator import PARAMS

SIGNATURE = inspect.signature(ACTINNAnnotator.__init__).parameters
NAMES = [name for name in SIGNATURE if name != "self"]
#: Settings unlike the defaults, in forms the constructor does not keep
#: as they are if it converts them (a list, an int for a float, True).
GIVEN = dict(max_epochs=2,
             early_stopping=False,
             n_networks=1,
             learning_rate=1,
             hidden_sizes=[40, 20],
             total_percentiles=[0, 100],
             augment=True,
             linear_weight=0.25,
             seed=np.int64(5),
             device="cpu")


@pytest.fixture(scope="module")
def fitted(tm_train):
    """A quickly trained annotator with the settings of ``GIVEN``."""
    return ACTINNAnnotator(**GIVEN).fit(tm_train["X"][:300], tm_train["genes"],
                                        tm_train["labels"][:300])


def test_params_are_the_constructors_and_saved_ones_all_but_device():
    assert NAMES[-1] == "device"
    assert PARAMS == tuple(NAMES[:-1])
    assert list(ACTINNAnnotator().get_params()) == NAMES
    assert ACTINNAnnotator().get_params() == {
        name: SIGNATURE[name].default for name in NAMES
    }


def test_get_params_returns_each_setting_as_given():
    annotator = ACTINNAnnotator(**GIVEN)
    for deep in (True, False):
        params = annotator.get_params(deep=deep)
        assert set(params) == set(NAMES)
        for name, value in GIVEN.items():
            assert params[name] is value, name


def test_clone_of_an_unfitted_annotator_has_equal_params():
    annotator = ACTINNAnnotator(**GIVEN)
    copy = clone(annotator)
    assert type(copy) is ACTINNAnnotator and copy is not annotator
    assert copy.get_params() == annotator.get_params()
    assert clone(ACTINNAnnotator()).get_params() == \
        ACTINNAnnotator().get_params()


def test_clone_of_a_fitted_annotator_is_unfitted(fitted, tm_test):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "ensemble_") and not hasattr(copy, "genes_")
    with pytest.raises(RuntimeError, match="not fitted"):
        copy.predict(tm_test["X"][:5], tm_test["genes"])
    # the original stays fitted
    assert len(fitted.predict(tm_test["X"][:5], tm_test["genes"]).cell_types) \
        == 5


def test_sklearn_check_is_fitted_tells_fitted_from_not(fitted):
    """It reads the estimator tags (scikit-learn >= 1.6) and the attributes
    ending in ``_``: an unfitted annotator has none."""
    check_is_fitted(fitted)
    for unfitted in (ACTINNAnnotator(), clone(fitted)):
        with pytest.raises(NotFittedError):
            check_is_fitted(unfitted)
        assert unfitted.linear_ is None


def test_clone_of_a_loaded_annotator(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    loaded = ACTINNAnnotator.load(tmp_path / "m", device="cpu")
    params = loaded.get_params()
    # JSON has no tuples: the sequences load as the defaults' tuples
    assert params["hidden_sizes"] == (40, 20)
    assert params["total_percentiles"] == (0.0, 100.0)
    assert params["augment"]["copies"] == 1  # saved as the whole dict
    assert clone(loaded).get_params() == params


def test_set_params_sets_and_returns_self():
    annotator = ACTINNAnnotator()
    assert annotator.set_params() is annotator
    assert annotator.set_params(max_epochs=7, hidden_sizes=[8]) is annotator
    assert annotator.max_epochs == 7 and annotator.hidden_sizes == [8]
    assert annotator.get_params()["hidden_sizes"] == [8]


def test_set_params_names_an_unknown_parameter():
    annotator = ACTINNAnnotator()
    with pytest.raises(ValueError) as err:
        annotator.set_params(max_epochs=3, random_state=1)
    assert str(err.value) == (
        "Invalid parameter 'random_state' for estimator ACTINNAnnotator. "
        "Valid parameters are: %r." % sorted(NAMES))
    assert annotator.max_epochs == 200  # nothing set


def test_set_params_refuses_a_bad_value_and_changes_nothing():
    annotator = ACTINNAnnotator(max_epochs=3)
    with pytest.raises(ValueError,
                       match=re.escape("learning_rate must be a number above "
                                       "0, got -1")):
        annotator.set_params(max_epochs=5, learning_rate=-1)
    assert annotator.get_params() == ACTINNAnnotator(max_epochs=3).get_params()
    with pytest.raises(ValueError, match="linear_weight must be in"):
        annotator.set_params(linear_weight=1.0)


def test_an_infinite_count_is_a_value_error_naming_it():
    for name in ("n_networks", "patience", "max_validation_cells"):
        with pytest.raises(ValueError,
                           match="%s must be a whole number, got inf" % name):
            ACTINNAnnotator().set_params(**{name: float("inf")})
    with pytest.raises(ValueError, match="seed must be a whole number"):
        ACTINNAnnotator(seed=float("nan"))


def test_fit_checks_a_setting_assigned_directly(tm_train):
    annotator = ACTINNAnnotator(max_epochs=1)
    annotator.learning_rate = -1
    with pytest.raises(ValueError,
                       match=re.escape("learning_rate must be a number above "
                                       "0, got -1")):
        annotator.fit(tm_train["X"][:300], tm_train["genes"],
                      tm_train["labels"][:300])


def test_set_params_on_a_fitted_annotator_keeps_the_fit_until_refit(
        fitted, tm_train, tm_test):
    annotator = clone(fitted).fit(tm_train["X"][:300], tm_train["genes"],
                                  tm_train["labels"][:300])
    ensemble = annotator.ensemble_
    before = annotator.predict(tm_test["X"][:50], tm_test["genes"])
    annotator.set_params(max_epochs=3, hidden_sizes=(30,))
    assert annotator.ensemble_ is ensemble
    after = annotator.predict(tm_test["X"][:50], tm_test["genes"])
    np.testing.assert_array_equal(after.probabilities, before.probabilities)
    annotator.fit(tm_train["X"][:300], tm_train["genes"],
                  tm_train["labels"][:300])
    assert len(annotator.history_["train_loss"]) == 3
    assert annotator.networks_[0].head.in_features == 30


def test_repr_is_the_annotators_own_and_a_clone_is_not_fitted(fitted):
    assert repr(ACTINNAnnotator(**GIVEN)) == "<ACTINNAnnotator: not fitted>"
    assert repr(fitted) == (
        "<ACTINNAnnotator: %d cell types, %d genes, 1 network and a logistic "
        "regression (weight 0.25)>" %
        (len(fitted.type_names), len(fitted.genes_)))
    assert repr(clone(fitted)) == "<ACTINNAnnotator: not fitted>"


def test_saved_settings_are_as_before_and_json(fitted):
    saved = persistence._saved_params(fitted)
    assert list(saved) == list(PARAMS)
    assert saved["hidden_sizes"] == [40, 20]
    assert saved["total_percentiles"] == [0.0, 100.0]
    assert saved["learning_rate"] == 1.0
    assert type(saved["learning_rate"]) is float
    assert type(saved["seed"]) is int and saved["seed"] == 5
    assert saved["augment"]["copies"] == 1
    json.dumps(saved)


@pytest.mark.parametrize("given, said", [
    (dict(hidden_sizes=(0,)), "hidden_sizes must be a non-empty sequence of "
     "whole numbers of at least 1 (each hidden layer's width), got (0,)"),
    (dict(hidden_sizes=(-3,)), "hidden_sizes must be a non-empty sequence of "
     "whole numbers of at least 1 (each hidden layer's width), got (-3,)"),
    (dict(hidden_sizes=(2.7,)), "hidden_sizes must be a non-empty sequence "
     "of whole numbers of at least 1 (each hidden layer's width), got (2.7,)"),
    (dict(hidden_sizes=()), "hidden_sizes must be a non-empty sequence of "
     "whole numbers of at least 1 (each hidden layer's width), got ()"),
    (dict(hidden_sizes=5), "hidden_sizes must be a non-empty sequence of "
     "whole numbers of at least 1 (each hidden layer's width), got 5"),
    (dict(hidden_sizes=("a",)), "hidden_sizes must be a non-empty sequence "
     "of whole numbers of at least 1 (each hidden layer's width), "
     "got ('a',)"),
    (dict(decay_steps=0), "decay_steps must be a whole number of at least 1, "
     "got 0"),
    (dict(patience=-1), "patience must be a whole number of at least 0, "
     "got -1"),
    (dict(n_networks=2.5), "n_networks must be a whole number, got 2.5"),
    (dict(total_percentiles=(90, 10)), "total_percentiles must be two "
     "percentiles (low, high), 0 <= low <= high <= 100, got (90, 10)"),
    (dict(cv_percentiles=(0, 150)), "cv_percentiles must be two "
     "percentiles (low, high), 0 <= low <= high <= 100, got (0, 150)"),
    (dict(cv_percentiles=(5,)), "cv_percentiles must be two percentiles "
     "(low, high), 0 <= low <= high <= 100, got (5,)"),
])
def test_settings_no_annotator_can_be_fitted_with_are_refused(given, said):
    # hidden_sizes=(0,) fitted networks of a constant output (the linear
    # model hid it), 2.7 was taken as 2 and n_networks=2.5 as 2; a negative
    # width, decay_steps=0 and reversed percentiles failed inside fit with
    # PyTorch's, Python's or the gene filter's words
    with pytest.raises(ValueError) as err:
        ACTINNAnnotator(**given)
    assert str(err.value) == said
    assert ACTINNAnnotator(hidden_sizes=[8.0], n_networks=2.0,
                           patience=0).get_params()["hidden_sizes"] == [8.0]
