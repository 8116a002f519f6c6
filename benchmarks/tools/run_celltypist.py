"""CellTypist: logistic regression on log1p(counts per 10,000).

The usual recipe: ``scanpy.pp.normalize_total(target_sum=1e4)`` then
``scanpy.pp.log1p``; ``celltypist.train(adata, labels=..., n_jobs=<all
CPUs>, feature_selection=False)``; ``celltypist.annotate(adata, model=...)``
(best match, no majority voting). References of more than
``SGD_ABOVE`` cells use CellTypist's large-data mode, mini-batch SGD
(``use_SGD=True, mini_batch=True, epochs=5``); smaller ones its default
``LogisticRegression``. Both centre the genes (CellTypist's default
``with_mean=True``), which densifies the whole reference in ``train``; and
``annotate`` scales the query densely in float64. (``with_mean=False``
would keep the reference sparse, but CellTypist 1.7.1's ``annotate`` then
fails with SciPy 1.17: ``'coo_matrix' object does not support item
assignment``.) Runs in ``benchmarks/.work/venvs/celltypist`` (CellTypist
1.7.1 needs scikit-learn < 1.8).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

SGD_ABOVE = int(os.environ.get("BENCH_CELLTYPIST_SGD_ABOVE", "50000"))
SGD_EPOCHS = 5


def _normalise(adata):
    import scanpy as sc
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)


def fit(args, clock):
    import anndata
    import celltypist
    adata = anndata.read_h5ad(args.train)
    _common.attach_labels(adata, args.train_labels)
    clock.lap("read")
    _normalise(adata)
    clock.lap("normalise")
    n_jobs = int(
        os.environ.get("BENCH_THREADS") or len(os.sched_getaffinity(0)))
    settings = {"feature_selection": False, "n_jobs": n_jobs}
    if adata.n_obs > SGD_ABOVE:
        settings.update(use_SGD=True, mini_batch=True, epochs=SGD_EPOCHS)
    if args.epochs is not None and settings.get("mini_batch"):
        settings["epochs"] = args.epochs
    model = celltypist.train(adata, labels="cell_type", **settings)
    clock.lap("fit")
    model.write(os.path.join(args.model, "celltypist.pkl"))
    clock.lap("save")
    info = {"settings": settings, "n_cells": int(adata.n_obs)}
    if settings.get("mini_batch"):
        info["epochs"] = settings["epochs"]
    return info


def predict(args, clock):
    import anndata
    import celltypist
    from celltypist import models
    model = models.Model.load(os.path.join(args.model, "celltypist.pkl"))
    adata = anndata.read_h5ad(args.query)
    clock.lap("read")
    _normalise(adata)
    clock.lap("normalise")
    result = celltypist.annotate(adata, model=model, majority_voting=False)
    clock.lap("predict")
    labels = result.predicted_labels["predicted_labels"].astype(str)
    _common.write_predictions(args.predictions, labels.index, labels)
    clock.lap("write")
    return {"n_cells": int(adata.n_obs)}


if __name__ == "__main__":
    _common.main(fit, predict,
                 ["celltypist", "scikit-learn", "scanpy", "anndata", "numpy"])
