"""The annotator and DeepChem: ``models_`` as DeepChem views of the
networks, ``to_dataset`` feeding them, and prediction without importing
DeepChem."""

import warnings

import numpy as np
import torch
import pytest
import scipy.sparse as sp

from deepchem_actinn.errors import ACTINNInputError


@pytest.mark.requires_deepchem
def test_models_are_deepchem_views_of_the_networks(quick, tm_test):
    """``models_`` wraps the ensemble's members as ACTINNModel, so
    DeepChem's predict gives each member's probabilities."""
    import deepchem as dc

    from deepchem_actinn import ACTINNModel
    from deepchem_actinn.preprocessing.gene_filter import take_columns
    from deepchem_actinn.preprocessing.normalise import library_size_log
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        models = quick.models_
    # made with ACTINNModel's names, not its former ones
    assert not [w for w in caught if "ACTINNModel's" in str(w.message)]
    assert models[0].optimizer.weight_decay == quick.weight_decay
    assert all(isinstance(m, ACTINNModel) for m in models)
    assert len(models) == len(quick.ensemble_) == 2
    assert quick.models_ is models  # made once
    X = take_columns(library_size_log(tm_test["X"][:50]),
                     quick.gene_positions(tm_test["genes"]))
    proba = models[1].predict(dc.data.NumpyDataset(X))
    with torch.no_grad():
        expected = quick.ensemble_(torch.from_numpy(X))[1][:, 1].softmax(-1)
    np.testing.assert_allclose(proba, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_annotating_needs_no_deepchem(tmp_path):
    """Loading an annotator and predicting (the ``actinn predict`` path)
    imports neither DeepChem nor its start-up cost."""
    import subprocess
    import sys
    code = ("import sys, deepchem_actinn.annotator, deepchem_actinn.cli, "
            "deepchem_actinn.io.writers, deepchem_actinn.io.readers; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == "
            "'deepchem'))")
    out = subprocess.run([sys.executable, "-c", code],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.requires_deepchem
def test_to_dataset_feeds_the_deepchem_models(quick, tm_test):
    """The networks' input as a dense dc.data.NumpyDataset with the
    annotator's class ids: what models_ evaluate, from sparse counts too."""
    import deepchem as dc
    import torch
    X = sp.csr_matrix(tm_test["X"][:50])
    labels = tm_test["labels"][:50]
    data = quick.to_dataset(X, tm_test["genes"], labels, tm_test["ids"][:50])
    expected = quick.preprocess(X, tm_test["genes"])
    np.testing.assert_array_equal(data.X, expected.toarray())
    assert data.X.dtype == np.float32
    np.testing.assert_array_equal(data.y.ravel(),
                                  [quick.type_names.index(t) for t in labels])
    np.testing.assert_array_equal(data.ids, tm_test["ids"][:50])
    model = quick.models_[0]
    with torch.no_grad():
        own = quick.networks_[0](torch.from_numpy(data.X))[0].numpy()
    np.testing.assert_allclose(model.predict(data), own, rtol=1e-5, atol=1e-6)
    scores = model.evaluate(data,
                            [dc.metrics.Metric(dc.metrics.accuracy_score)])
    assert scores["accuracy_score"] == pytest.approx(
        (own.argmax(axis=1) == data.y.ravel()).mean())
    np.testing.assert_array_equal(
        quick.to_dataset(X, tm_test["genes"]).X,
        data.X)  # unlabelled: DeepChem's zero y
    with pytest.raises(ACTINNInputError, match="not in the reference: Neuron"):
        quick.to_dataset(X[:1], tm_test["genes"], ["Neuron"])
