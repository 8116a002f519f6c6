"""Training from disk (``fit_file``, ``actinn train --out-of-core``) gives
the networks exactly what the in-memory ``fit`` gives them for the same
cells: the genes, the training, held-out and kNN-reference rows, also with
ACTINN's 1-99 % gene filter and with labels for only some cells."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from deepchem_actinn import ACTINNAnnotator, load_tabula_muris_sample
from deepchem_actinn.annotator.fitting import (dropped_genes_hold_counts,
                                               split_indices)
from deepchem_actinn.errors import ACTINNInputError
from deepchem_actinn.models.inference import model_gene_log
from deepchem_actinn.preprocessing.gene_filter import GeneFilter
from deepchem_actinn.preprocessing.genes import gene_positions
from deepchem_actinn.preprocessing.normalise import library_size_log

#: ACTINN's own gene filter: it drops genes that hold counts.
ACTINN_FILTER = dict(total_percentiles=(1, 99), cv_percentiles=(1, 99))


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """The bundled training set written to an h5ad file, and its labels."""
    train, test = load_tabula_muris_sample()
    root = tmp_path_factory.mktemp("ooc")
    train.write_h5ad(root / "train.h5ad")
    labels = pd.Series(train.obs["cell_type"].astype(str).to_numpy(),
                       index=train.obs_names)
    return train, test, root / "train.h5ad", labels


def handed_over(monkeypatch, fit):
    """What ``fit()`` hands to the training loop, which is not run."""
    seen = {}

    def fit_networks(self, hp, epoch, X_valid, y_valid, y, progress, X_ref,
                     y_ref, source):
        seen.update(epoch=epoch,
                    X_valid=X_valid,
                    y_valid=y_valid,
                    n_cells=len(y),
                    X_ref=X_ref,
                    y_ref=y_ref)
        return self

    with monkeypatch.context() as m:
        m.setattr(ACTINNAnnotator, "_fit_networks", fit_networks)
        annotator = fit()
    return annotator, seen


def epoch_rows(epoch, n_genes):
    """The rows and class ids of one training epoch, in a canonical order
    (sorted by a random projection of the row)."""
    X, y = [], []
    for inputs, (y_b,), _ in epoch(np.random.default_rng(0)):
        y_b = np.asarray(y_b).ravel()
        first = np.asarray(inputs[0])
        if first.ndim == 2:  # dense rows
            X.append(first)
        else:  # a CSR batch: column indices, row offsets, values
            values, offsets = np.asarray(inputs[2]), np.asarray(inputs[1])
            X.append(
                sp.csr_matrix((values, first, np.append(offsets, len(first))),
                              shape=(len(y_b), n_genes)).toarray())
        y.append(y_b)
    X, y = np.vstack(X), np.concatenate(y)
    order = np.argsort(X @ np.random.default_rng(1).random(n_genes))
    return X[order], y[order]


def assert_same_input(from_file, in_memory):
    """The two annotators would train on the same data."""
    (a, seen_a), (b, seen_b) = from_file, in_memory
    assert a.genes_ == b.genes_
    assert a.labels_.type_names == b.labels_.type_names
    assert seen_a["n_cells"] == seen_b["n_cells"]
    for key in ("X_valid", "X_ref"):
        assert seen_a[key].shape == seen_b[key].shape
        np.testing.assert_allclose(seen_a[key].toarray(),
                                   seen_b[key].toarray(),
                                   rtol=1e-6,
                                   atol=1e-6)
    for key in ("y_valid", "y_ref"):
        np.testing.assert_array_equal(seen_a[key], seen_b[key])
    X_a, y_a = epoch_rows(seen_a["epoch"], len(a.genes_))
    X_b, y_b = epoch_rows(seen_b["epoch"], len(b.genes_))
    np.testing.assert_array_equal(y_a, y_b)
    np.testing.assert_allclose(X_a, X_b, rtol=1e-6, atol=1e-6)


def test_actinn_filter_drops_expressed_genes(bundled):
    """The case where normalising over all genes differs from prediction."""
    train = bundled[0]
    gene_filter = GeneFilter(**ACTINN_FILTER).fit(library_size_log(train.X))
    assert dropped_genes_hold_counts(gene_filter)


@pytest.mark.parametrize("params", [{}, ACTINN_FILTER],
                         ids=["keep-all", "actinn-1-99"])
def test_fit_file_trains_on_what_fit_trains_on(bundled, monkeypatch, params):
    train, _, path, labels = bundled
    kwargs = dict(params, seed=0)
    from_file = handed_over(
        monkeypatch, lambda: ACTINNAnnotator(**kwargs).fit_file(
            path, labels, upper_case_genes=False, block_size=700))
    in_memory = handed_over(
        monkeypatch, lambda: ACTINNAnnotator(**kwargs).fit(
            train.X, train.var_names, labels.to_numpy(), train.obs_names))
    assert_same_input(from_file, in_memory)


def test_the_held_out_cells_are_normalised_over_the_model_genes(
        bundled, monkeypatch):
    """With the 1-99 % filter the held-out input is what prediction gives
    for those cells (each cell scaled by its counts in the model's genes)."""
    train, _, path, labels = bundled
    annotator, seen = handed_over(
        monkeypatch, lambda: ACTINNAnnotator(seed=0, **ACTINN_FILTER).fit_file(
            path, labels, upper_case_genes=False, block_size=700))
    y = annotator.labels_.encode(list(labels))
    valid = split_indices(y, 0.1, 20000, 0)[1]
    expected = model_gene_log(train.X[valid],
                              gene_positions(annotator.genes_, train.var_names),
                              1e4, 2.0)
    np.testing.assert_allclose(seen["X_valid"].toarray(),
                               expected.toarray(),
                               rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_array_equal(seen["y_valid"], y[valid])


def partial_labels(labels):
    """Labels for 3 cells in 4 (every fourth cell unlabelled)."""
    keep = np.arange(len(labels)) % 4 != 3
    return labels[keep], keep


def test_fit_file_labelled_only_is_fit_on_the_labelled_cells(
        bundled, monkeypatch, caplog):
    train, _, path, labels = bundled
    part, keep = partial_labels(labels)
    kwargs = dict(ACTINN_FILTER, seed=0)
    with caplog.at_level("WARNING"):
        from_file = handed_over(
            monkeypatch,
            lambda: ACTINNAnnotator(**kwargs).fit_file(path,
                                                       part,
                                                       upper_case_genes=False,
                                                       block_size=700,
                                                       labelled_only=True))
    assert ("labels: 1000 of 4000 cells have no label and were left out "
            "(--labelled-only); training on 3000") in caplog.text
    sub = train[keep]
    in_memory = handed_over(
        monkeypatch, lambda: ACTINNAnnotator(**kwargs).fit(
            sub.X, sub.var_names, part.to_numpy(), sub.obs_names))
    assert from_file[1]["n_cells"] == 3000
    assert_same_input(from_file, in_memory)


def test_fit_file_refuses_unlabelled_cells_by_default(bundled):
    _, _, path, labels = bundled
    part, keep = partial_labels(labels)
    with pytest.raises(ACTINNInputError, match="1000 of 4000 cells") as error:
        ACTINNAnnotator().fit_file(path, part, upper_case_genes=False)
    assert labels.index[~keep][0] in str(error.value)


def test_fit_file_genes_is_fit_on_those_genes(bundled, monkeypatch):
    """``genes=``: as if the file held only those genes (named here in
    another case, and with one the file lacks)."""
    train, _, path, labels = bundled
    names = list(train.var_names)
    wanted = [g.lower() for g in names[::3]] + ["NOT-A-GENE"]
    kwargs = dict(ACTINN_FILTER, seed=0)
    from_file = handed_over(
        monkeypatch, lambda: ACTINNAnnotator(**kwargs).fit_file(
            path, labels, upper_case_genes=False, block_size=700, genes=wanted))
    sub = train[:, names[::3]]
    in_memory = handed_over(
        monkeypatch, lambda: ACTINNAnnotator(**kwargs).fit(
            sub.X, sub.var_names, labels.to_numpy(), train.obs_names))
    assert set(from_file[0].genes_) <= set(names[::3])
    assert_same_input(from_file, in_memory)


def _counts_elsewhere(train, where):
    """The bundled counts kept in a layer (``X`` log-normalised), or in
    ``.raw`` beside an ``X`` of half the genes (which holds counts too, so
    that only ``use_raw=True`` reads ``.raw``)."""
    kept = train.copy()
    if where == "layer":
        kept.X = sp.csr_matrix(np.log1p(train.X.toarray()))
        kept.layers["spliced"] = train.X
        return kept, {"layer": "spliced"}
    kept.raw = train
    return kept[:, ::2].copy(), {"use_raw": True}


@pytest.mark.parametrize("where", ["layer", "raw"])
def test_fit_file_reads_the_named_matrix(bundled, monkeypatch, tmp_path, where):
    """``layer=`` / ``use_raw=True``: trained on that matrix (and, for
    ``.raw``, its genes) as if it were the file's ``X``."""
    train, _, path, labels = bundled
    kept, named = _counts_elsewhere(train, where)
    kept.write_h5ad(tmp_path / "kept.h5ad")
    from_layer = handed_over(
        monkeypatch,
        lambda: ACTINNAnnotator(seed=0).fit_file(tmp_path / "kept.h5ad",
                                                 labels,
                                                 upper_case_genes=False,
                                                 block_size=700,
                                                 **named))
    plain = handed_over(
        monkeypatch, lambda: ACTINNAnnotator(seed=0).fit_file(
            path, labels, upper_case_genes=False, block_size=700))
    assert len(from_layer[0].genes_) == len(plain[0].genes_)
    assert_same_input(from_layer, plain)
