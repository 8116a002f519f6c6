"""The tutorial's plain DeepChem loop: dense NumpyDataset, fixed epochs.

As DeepChem's scRNA-seq cell-type tutorial (and this package's README, "In
Python, the DeepChem way") does it: the whole reference densified into a
``dc.data.NumpyDataset``, ``LibrarySizeLogTransformer`` (10,000 per cell,
log2(x + 1)), ``GeneFilterTransformer`` fit on it, an ``ACTINNModel``
trained with DeepChem's own ``model.fit(dataset, nb_epoch=E)`` (no
validation split, no early stopping, no class weights, no calibration),
then ``model.predict`` on the densified query. Runs in the main
environment.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

DEFAULT_EPOCHS = 7  # the tutorial's


def fit(args, clock):
    import json
    import warnings

    import anndata
    import joblib
    import torch
    import deepchem_actinn as da
    from deepchem_actinn.datasets import to_numpy_dataset
    warnings.filterwarnings("ignore")
    epochs = args.epochs or DEFAULT_EPOCHS
    train = anndata.read_h5ad(args.train)
    _common.attach_labels(train, args.train_labels)
    clock.lap("read")
    labels = da.CellTypeLabels.from_labels(train.obs["cell_type"])
    train_ds = to_numpy_dataset(train, labels)  # dense float32
    genes = list(train.var_names)
    del train
    clock.lap("densify")
    train_ds = da.LibrarySizeLogTransformer().transform(train_ds)
    gene_filter = da.GeneFilterTransformer(dataset=train_ds, genes=genes)
    train_ds = gene_filter.transform(train_ds)
    clock.lap("normalise_filter")
    model = da.ACTINNModel(n_features=len(gene_filter.kept_genes),
                           n_classes=labels.n_types,
                           seed=0)
    model.fit(train_ds, nb_epoch=epochs)
    clock.lap("fit")
    torch.save(model.model.state_dict(), os.path.join(args.model, "weights.pt"))
    joblib.dump(gene_filter, os.path.join(args.model, "gene_filter.joblib"))
    with open(os.path.join(args.model, "config.json"), "w") as handle:
        json.dump(
            {
                "type_names": list(labels.type_names),
                "n_genes": len(gene_filter.kept_genes)
            }, handle)
    clock.lap("save")
    return {
        "epochs": int(epochs),
        "n_cells": int(len(train_ds)),
        "settings": {
            "genes_used": len(gene_filter.kept_genes),
            "batch_size": model.batch_size
        }
    }


def predict(args, clock):
    import json
    import warnings

    import anndata
    import joblib
    import torch
    import deepchem_actinn as da
    from deepchem_actinn.datasets import to_numpy_dataset
    warnings.filterwarnings("ignore")
    with open(os.path.join(args.model, "config.json")) as handle:
        config = json.load(handle)
    gene_filter = joblib.load(os.path.join(args.model, "gene_filter.joblib"))
    model = da.ACTINNModel(n_features=config["n_genes"],
                           n_classes=len(config["type_names"]))
    model.model.load_state_dict(
        torch.load(os.path.join(args.model, "weights.pt"), weights_only=True))
    test = anndata.read_h5ad(args.query)
    clock.lap("read")
    test_ds = to_numpy_dataset(test, label_key=None)
    clock.lap("densify")
    test_ds = da.LibrarySizeLogTransformer().transform(test_ds)
    test_ds = gene_filter.transform(test_ds, genes=list(test.var_names))
    clock.lap("normalise_filter")
    proba = model.predict(test_ds)
    clock.lap("predict")
    names = config["type_names"]
    _common.write_predictions(args.predictions, test.obs_names,
                              [names[i] for i in proba.argmax(axis=1)])
    clock.lap("write")
    return {"n_cells": int(test.n_obs)}


if __name__ == "__main__":
    _common.main(fit, predict,
                 ["deepchem", "deepchem-actinn", "torch", "numpy"])
