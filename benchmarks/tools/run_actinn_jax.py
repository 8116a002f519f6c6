"""actinn-jax (the JAX port of ACTINN on PyPI), CPU, with its defaults.

``actinn_jax.train_reference`` takes raw counts in ``X`` (it normalises to
10,000 per cell, log2(x + 1), and applies ACTINN's gene filter itself) and
trains for its default 50 epochs with its automatic batch size;
``actinn_jax.predict`` annotates in chunks of 50,000 cells. Runs in
``benchmarks/.work/venvs/actinn_jax``.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402


def fit(args, clock):
    import anndata
    import actinn_jax
    from actinn_jax import actinn_utils
    adata = anndata.read_h5ad(args.train)
    _common.attach_labels(adata, args.train_labels, key="celltype")
    clock.lap("read")
    kwargs = {}
    if args.epochs is not None:
        kwargs["num_epochs"] = args.epochs
    epochs = kwargs.get("num_epochs", actinn_utils.DEFAULT_NUM_EPOCHS)
    model = actinn_jax.train_reference(adata,
                                       train_label_name="celltype",
                                       print_cost=False,
                                       **kwargs)
    clock.lap("fit")
    model.save(os.path.join(args.model, "reference"))
    clock.lap("save")
    return {
        "epochs": int(epochs),
        "settings": {
            "batch_size":
                "auto (%d)" % actinn_utils.auto_batch_size(adata.n_obs),
            "genes_used":
                int(len(model.select_idx))
        },
        "n_cells": int(adata.n_obs)
    }


def predict(args, clock):
    import anndata
    import actinn_jax
    model = actinn_jax.ReferenceModel.load(os.path.join(args.model,
                                                        "reference"))
    adata = anndata.read_h5ad(args.query)
    clock.lap("read")
    adata, _ = actinn_jax.predict(adata,
                                  model,
                                  output_label_name="actinn_jax_type")
    clock.lap("predict")
    _common.write_predictions(args.predictions, adata.obs_names,
                              adata.obs["actinn_jax_type"].astype(str))
    clock.lap("write")
    return {"n_cells": int(adata.n_obs)}


if __name__ == "__main__":
    _common.main(fit, predict,
                 ["actinn-jax", "jax", "jaxlib", "anndata", "scanpy", "numpy"])
