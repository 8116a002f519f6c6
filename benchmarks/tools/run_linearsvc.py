"""scikit-learn's LinearSVC on log1p(counts per 10,000), kept sparse.

A strong, simple linear baseline: every gene, no filtering, one-vs-rest
linear SVM (``dual="auto"``: the primal problem when there are more cells
than genes). Runs in the main environment.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402


def _log_cp10k(X):
    import numpy as np
    import scipy.sparse as sp
    X = sp.csr_matrix(X, dtype=np.float32)
    totals = np.asarray(X.sum(axis=1)).ravel()
    scale = np.divide(1e4, totals, out=np.zeros_like(totals),
                      where=totals > 0).astype(np.float32)
    X = sp.csr_matrix(sp.diags(scale) @ X)
    np.log1p(X.data, out=X.data)
    return X


def fit(args, clock):
    import anndata
    import joblib
    from sklearn.svm import LinearSVC
    adata = anndata.read_h5ad(args.train)
    _common.attach_labels(adata, args.train_labels)
    clock.lap("read")
    X = _log_cp10k(adata.X)
    clock.lap("normalise")
    model = LinearSVC(dual="auto", random_state=0)
    model.fit(X, adata.obs["cell_type"].to_numpy())
    clock.lap("fit")
    joblib.dump({
        "model": model,
        "genes": list(adata.var_names)
    }, os.path.join(args.model, "linearsvc.joblib"))
    clock.lap("save")
    return {
        "settings": {
            "C": model.C,
            "dual": "auto",
            "n_iter": int(model.n_iter_),
            "input": "log1p(CP10k), all genes, sparse"
        },
        "n_cells": int(adata.n_obs)
    }


def predict(args, clock):
    import anndata
    import joblib
    import numpy as np
    import pandas as pd
    saved = joblib.load(os.path.join(args.model, "linearsvc.joblib"))
    adata = anndata.read_h5ad(args.query)
    clock.lap("read")
    # Align the query's genes to the model's by name (missing genes = 0).
    pos = pd.Index(adata.var_names).get_indexer(saved["genes"])
    X = _log_cp10k(adata.X)
    if not np.array_equal(pos, np.arange(X.shape[1])):
        import scipy.sparse as sp
        present = np.flatnonzero(pos >= 0)
        scatter = sp.csr_matrix(
            (np.ones(len(present), np.float32), (pos[present], present)),
            shape=(X.shape[1], len(pos)))
        X = sp.csr_matrix(X @ scatter)
    clock.lap("normalise")
    labels = saved["model"].predict(X)
    clock.lap("predict")
    _common.write_predictions(args.predictions, adata.obs_names, labels)
    clock.lap("write")
    return {"n_cells": int(adata.n_obs)}


if __name__ == "__main__":
    _common.main(fit, predict, ["scikit-learn", "anndata", "numpy", "scipy"])
