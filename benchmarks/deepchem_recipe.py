"""Figures for the README's DeepChem-path section (issue 15).

Run from a checkout:  OMP_NUM_THREADS=1 python benchmarks/deepchem_recipe.py
Prints: fit() with DeepChem's default 10 epochs; the tutorial's 7 epochs with
the rare types' recall and mean probability of their true type; the balanced,
early-stopped recipe for seeds 0-2; two variants of seed 0 that move the
recipe towards the annotator (all expressed genes; the annotator's weight scale).
"""
import io
import tempfile
from typing import Any, NamedTuple

import deepchem as dc
import numpy as np
import torch
from sklearn.metrics import f1_score, log_loss

import deepchem_actinn as da
from deepchem_actinn.datasets import load_tabula_muris_sample, to_numpy_dataset

RARE = ["Erythrocyte", "Cardiac Muscle"]


class Data(NamedTuple):
    """The bundled sample, its labels and the normalised datasets."""
    train_a: Any
    test_a: Any
    labels: Any
    full: Any
    test: Any


def load() -> Data:
    train_a, test_a = load_tabula_muris_sample()
    labels = da.CellTypeLabels.from_labels(train_a.obs["cell_type"])
    norm = da.LibrarySizeLogTransformer()
    return Data(train_a, test_a, labels,
                norm.transform(to_numpy_dataset(train_a, labels)),
                norm.transform(to_numpy_dataset(test_a, labels)))


def report(labels, name, model, te):
    proba = model.predict(te)
    y, p = te.y.ravel(), proba.argmax(1)
    rare = []
    for t in RARE:
        k = labels.type_names.index(t)
        rare.append("%s recall %.2f (%d cells), mean p(true) %.2f" %
                    (t, np.mean(p[y == k] == k), np.sum(y == k),
                     proba[y == k, k].mean()))
    print("%-48s accuracy %.3f  macro F1 %.3f | %s" %
          (name, np.mean(p == y), f1_score(y, p,
                                           average="macro"), "; ".join(rare)))


def plain(d: Data, epochs):
    train_a, test_a, labels, full, test = d
    genes = da.GeneFilterTransformer(dataset=full, genes=train_a.var_names)
    tr = genes.transform(full)
    te = genes.transform(test, genes=test_a.var_names)
    m = da.ACTINNModel(n_features=len(genes.kept_genes),
                       n_classes=labels.n_types,
                       seed=0)
    m.fit(tr, nb_epoch=epochs)
    report(labels, "fit(train, nb_epoch=%d), seed 0" % epochs, m, te)


def recipe(d: Data, seed, all_genes=False, weight_scale=1.0, nb_epoch=100):
    train_a, test_a, labels, full, test = d
    tr, va = da.SingletaskStratifiedSplitter().train_test_split(full,
                                                                frac_train=0.9,
                                                                seed=seed)
    bounds = dict(total_percentiles=(0, 100),
                  cv_percentiles=(0, 100)) if all_genes else {}
    genes = da.GeneFilterTransformer(dataset=tr,
                                     genes=train_a.var_names,
                                     **bounds)
    tr, va = genes.transform(tr), genes.transform(va)
    te = genes.transform(test, genes=test_a.var_names)
    tr = dc.trans.BalancingTransformer(dataset=tr).transform(tr)
    if weight_scale != 1.0:
        tr = dc.data.NumpyDataset(tr.X, tr.y, tr.w * weight_scale, tr.ids)
    m = da.ACTINNModel(n_features=len(genes.kept_genes),
                       n_classes=labels.n_types,
                       seed=seed)
    steps = int(np.ceil(len(tr) / m.batch_size))
    loss = dc.metrics.Metric(log_loss,
                             mode="classification",
                             classification_handling_mode="direct")
    best = tempfile.mkdtemp()
    out = io.StringIO()
    cb = dc.models.ValidationCallback(va,
                                      steps, [loss],
                                      output_file=out,
                                      save_dir=best,
                                      save_on_minimum=True)
    m.fit(tr, nb_epoch=nb_epoch, callbacks=[cb])
    m.restore(model_dir=best)
    vals = [
        float(line.split("=")[-1])
        for line in out.getvalue().split("\n")
        if line
    ]
    report(
        labels, "recipe seed %d%s%s, best epoch %d/%d" %
        (seed, ", all genes" if all_genes else "",
         ", weights x%.3g" % weight_scale if weight_scale != 1 else "",
         int(np.argmin(vals)) + 1, nb_epoch), m, te)


def main() -> None:
    torch.set_num_threads(1)
    d = load()
    plain(d, 10)
    plain(d, 7)
    for seed in (0, 1, 2):
        recipe(d, seed)
    recipe(d, 0, all_genes=True)
    recipe(d, 0, weight_scale=1 / d.labels.n_types)


if __name__ == "__main__":
    main()
