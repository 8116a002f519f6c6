"""Write count matrices and predictions, atomically.

Every writer builds its output under a temporary name in the target's
directory and renames it into place only once it is complete, so an
interrupted run never leaves a truncated file behind, and an existing
output is only replaced when asked (``overwrite=True``, on the command line
``--overwrite``).

The prediction files' writers (and readers) are in
:mod:`~deepchem_actinn.io.predictions`, one module for their format; they
are imported here too, where they were first written.
"""

from __future__ import annotations

import logging
from typing import Optional

import anndata
import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepchem_actinn.io.output import (  # noqa: F401
    atomic_output, atomic_output_dir, check_target)
from deepchem_actinn.io.predictions import (  # noqa: F401
    PredictedLabelWriter, format_confidence, write_predicted_labels,
    write_probabilities)
from deepchem_actinn.types import PathLike

logger = logging.getLogger(__name__)


def write_actinn_h5(adata: anndata.AnnData,
                    path: PathLike,
                    overwrite: bool = False,
                    *,
                    key: str = "dge",
                    complevel: int = 4) -> None:
    """Write counts in the original ACTINN layout: pandas HDF5, genes x
    cells.

    A DataFrame indexed by gene names with one column per cell id is stored
    under ``key`` in pandas' fixed format, as the ACTINN scripts expect
    (``pd.read_hdf(path, "dge")``). The format is dense: the whole matrix
    is held in memory while writing, and compressed in the file (zlib, which
    every HDF5 reader has), so that its zeros take little room.

    Parameters
    ----------
    adata: anndata.AnnData
        Cells x genes; ``X`` dense or sparse.
    path: str or os.PathLike
        The ``.h5`` file to write.
    overwrite: bool, default False
        Replace ``path`` if it exists.
    key: str, default "dge"
        The HDF5 key.
    complevel: int, default 4
        zlib compression level, 0 (none) to 9.

    Examples
    --------
    >>> import os, tempfile
    >>> import anndata, numpy as np, pandas as pd
    >>> from deepchem_actinn.io.writers import write_actinn_h5
    >>> adata = anndata.AnnData(np.array([[1, 0, 2], [0, 5, 0]]))
    >>> adata.obs_names, adata.var_names = ["c1", "c2"], ["A", "B", "C"]
    >>> path = os.path.join(tempfile.mkdtemp(), "train.h5")
    >>> write_actinn_h5(adata, path)
    >>> pd.read_hdf(path, "dge").shape  # genes x cells
    (3, 2)
    """
    if complevel not in range(10):
        raise ValueError("complevel must be a whole number from 0 to 9, got "
                         "%r" % (complevel,))
    with atomic_output(path, overwrite) as tmp:
        X = adata.X
        dense = X.toarray() if sp.issparse(X) else np.asarray(X)
        frame = pd.DataFrame(dense.T,
                             index=pd.Index(adata.var_names.astype(str),
                                            dtype=object),
                             columns=pd.Index(adata.obs_names.astype(str),
                                              dtype=object))
        frame.to_hdf(tmp,
                     key=key,
                     mode="w",
                     format="fixed",
                     complib="zlib",
                     complevel=complevel)
    logger.info("wrote %d genes x %d cells to %s", frame.shape[0],
                frame.shape[1], path)


def write_h5ad(adata: anndata.AnnData,
               path: PathLike,
               overwrite: bool = False,
               *,
               compression: Optional[str] = None) -> None:
    """Write an AnnData file atomically, keeping sparse matrices sparse.

    Parameters
    ----------
    adata: anndata.AnnData
        What to write.
    path: str or os.PathLike
        The ``.h5ad`` file to write.
    overwrite: bool, default False
        Replace ``path`` if it exists.
    compression: str, optional
        ``"gzip"`` or ``"lzf"``, passed to :meth:`anndata.AnnData.write_h5ad`.

    Examples
    --------
    >>> import os, tempfile
    >>> import anndata, scipy.sparse as sp
    >>> from deepchem_actinn.io.writers import write_h5ad
    >>> path = os.path.join(tempfile.mkdtemp(), "counts.h5ad")
    >>> write_h5ad(anndata.AnnData(sp.csr_matrix([[1.0, 0.0]])), path)
    >>> sp.issparse(anndata.read_h5ad(path).X)
    True
    """
    with atomic_output(path, overwrite) as tmp:
        adata.write_h5ad(tmp, compression=compression)
    logger.info("wrote %d cells x %d genes to %s", adata.n_obs, adata.n_vars,
                path)
