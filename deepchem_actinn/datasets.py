"""The bundled Tabula Muris sample, and conversion to DeepChem datasets.

The sample is a subset of the Tabula Muris Smart-seq2 (FACS) atlas of mouse
tissues as preprocessed for ACTINN and published with DeepChem's scRNA-seq
cell-type tutorial: 2,000 genes, 4,000 training and 1,000 test cells of 12
types. Tabula Muris data are CC BY 4.0 (Tabula Muris Consortium, Nature
562:367-372, 2018); see ``data/tabula_muris_sample/README.md``. Nothing is
downloaded.
"""
import logging
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

logger = logging.getLogger(__name__)

#: Directory of the bundled files.
DATA_DIR = Path(__file__).resolve().parent / "data" / "tabula_muris_sample"


def tabula_muris_sample_paths() -> Dict[str, Path]:
    """Paths of the bundled files, in the original ACTINN formats.

    Returns
    -------
    dict of str to pathlib.Path
        Keys ``train`` and ``test`` (ACTINN ``.h5`` count matrices) and
        ``train_labels`` and ``test_labels`` (ACTINN label files).

    Examples
    --------
    >>> from deepchem_actinn.datasets import tabula_muris_sample_paths
    >>> paths = tabula_muris_sample_paths()
    >>> paths["train"].name, paths["train"].exists()
    ('train_sample.h5', True)
    """
    return {
        "train": DATA_DIR / "train_sample.h5",
        "train_labels": DATA_DIR / "train_label_sample.txt",
        "test": DATA_DIR / "test_sample.h5",
        "test_labels": DATA_DIR / "test_label_sample.txt",
    }


def load_tabula_muris_sample(upper_case_genes: bool = False) -> Tuple:
    """The bundled training and test sets as AnnData, labels attached.

    Parameters
    ----------
    upper_case_genes: bool, default False
        Upper-case gene names, as the ``actinn`` command does by default.

    Returns
    -------
    (train, test): tuple of anndata.AnnData
        Cells x genes, raw counts in ``X``, cell type in
        ``obs["cell_type"]``.

    Examples
    --------
    >>> from deepchem_actinn import load_tabula_muris_sample
    >>> train, test = load_tabula_muris_sample()
    >>> train.shape, test.shape
    ((4000, 2000), (1000, 2000))
    >>> train.obs["cell_type"].nunique()
    12
    """
    from deepchem_actinn.io import match_labels, read, read_labels
    paths = tabula_muris_sample_paths()
    out = []
    for part in ("train", "test"):
        adata = read(paths[part],
                     format="actinn_h5",
                     upper_case_genes=upper_case_genes)
        labels = read_labels(paths[part + "_labels"])
        adata.obs["cell_type"] = match_labels(adata.obs_names, labels,
                                              str(paths[part + "_labels"]))
        out.append(adata)
    return out[0], out[1]


def to_numpy_dataset(adata,
                     labels=None,
                     label_key: Optional[str] = "cell_type",
                     layer: Optional[str] = None,
                     use_raw: Optional[bool] = None,
                     allow_non_integer: bool = False):
    """An AnnData's raw counts as a ``dc.data.NumpyDataset`` (dense float32
    X), every cell with a label; needs DeepChem.

    The counts are chosen by the package's one rule
    (:func:`~deepchem_actinn.io.counts_source`, as
    :func:`~deepchem_actinn.annotate` and :func:`~deepchem_actinn.train`
    choose them): ``layer=`` or ``use_raw=`` when given; otherwise ``X``
    when it holds counts, else ``.raw``, else a counts layer
    (``layers['counts']``), with a warning in the log, else an
    :class:`~deepchem_actinn.ACTINNInputError` saying what was found. The
    dataset's columns are the genes of the matrix chosen: ``var_names``,
    or ``raw.var_names`` for ``.raw`` (said in the log where they differ);
    pass those to :class:`~deepchem_actinn.GeneFilterTransformer` as
    ``genes=``.

    Parameters
    ----------
    adata: anndata.AnnData
        Cells x genes.
    labels: CellTypeLabels, optional
        Mapping from type names to class ids. Pass the training data's
        mapping for every dataset a model is trained on or scored with: when
        None, one is made from this data's own types (with a warning), and a
        test set lacking one of the training types would get other class
        ids.
    label_key: str or None
        Column of ``obs`` with cell types; None for unlabelled data.
    layer: str, optional
        Read the counts from ``adata.layers[layer]``.
    use_raw: bool, optional
        True reads ``adata.raw``; False insists on ``X``; None follows the
        rule above.
    allow_non_integer: bool, default False
        Take non-integer values as counts on another scale (such as TPM);
        values that look log-normalised are refused all the same.

    Returns
    -------
    dc.data.NumpyDataset
        ``X`` the counts as dense float32 (cells x genes), ``y`` the class
        ids as an int64 column, ``ids`` the cell ids
        (``adata.obs_names``). Without labels (``label_key=None``) DeepChem
        fills ``y`` and ``w`` with zeros: a query, which ``ACTINNModel.fit``
        refuses.

    Raises
    ------
    ACTINNInputError
        No counts found (or the matrix named holds none), ``label_key`` is
        not a column of ``obs``, a cell has no label, or a label is not one
        of ``labels``.

    Examples
    --------
    >>> from deepchem_actinn import CellTypeLabels, load_tabula_muris_sample
    >>> from deepchem_actinn.datasets import to_numpy_dataset
    >>> train, test = load_tabula_muris_sample()
    >>> labels = CellTypeLabels.from_labels(train.obs["cell_type"])
    >>> ds = to_numpy_dataset(train, labels)
    >>> ds.X.shape, ds.y.shape, ds.ids[0]
    ((4000, 2000), (4000, 1), 'tma_facs_14301')
    >>> to_numpy_dataset(test, labels).y[:3].ravel()  # the training ids
    array([ 0,  2, 10])
    """
    import scipy.sparse as sp

    from deepchem_actinn._deepchem import require_deepchem
    dc = require_deepchem("to_numpy_dataset")
    chosen = _counts(adata, layer, use_raw, allow_non_integer,
                     "to_numpy_dataset")
    matrix: Any = chosen.matrix
    X = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
    y = _class_ids(adata, labels, label_key, "to_numpy_dataset")
    return dc.data.NumpyDataset(X.astype(np.float32),
                                None if y is None else y.reshape(-1, 1),
                                ids=np.asarray(adata.obs_names))


def to_disk_dataset(adata,
                    labels=None,
                    label_key: Optional[str] = "cell_type",
                    data_dir: Optional[str] = None,
                    shard_size: int = 4096,
                    layer: Optional[str] = None,
                    use_raw: Optional[bool] = None,
                    allow_non_integer: bool = False):
    """An AnnData's raw counts as a DeepChem ``DiskDataset``, written shard
    by shard, for a reference too large for :func:`to_numpy_dataset`.

    Only one shard of cells is dense in memory at a time: ``adata`` may be
    backed (``anndata.read_h5ad(path, backed="r")``), so that the counts
    are read from the file block by block too. The counts are chosen as
    :func:`to_numpy_dataset` chooses them (``layer=``, ``use_raw=``, else
    ``X``, ``.raw``, ``layers['counts']``), the first shard's cells
    deciding where ``adata`` is backed; each later shard of a backed
    ``adata`` is checked as it is read, so values that are not counts there
    are refused then, the shards before it left in ``data_dir``. The
    dataset is what :func:`to_numpy_dataset` gives (dense float32 counts,
    class ids, cell ids), in shards of ``shard_size`` cells; DeepChem's
    transformers and :class:`~deepchem_actinn.models.actinn.ACTINNModel`
    work through it shard by shard (``transform(..., out_dir=...)`` keeps
    it on disk). The shards are dense, 4 bytes per cell and gene on disk
    (80 GB for a million cells of 20,000 genes): keep the genes the model
    needs first (``adata[:, genes]``) where the reference holds many more.

    Parameters
    ----------
    adata: anndata.AnnData
        Cells x genes, in memory or backed.
    labels: CellTypeLabels, optional
        As in :func:`to_numpy_dataset`.
    label_key: str or None, default "cell_type"
        Column of ``obs`` with cell types; None for unlabelled data.
    data_dir: str, optional
        Where to write the dataset (a new temporary directory when None).
    shard_size: int, default 4096
        Cells per shard.
    layer, use_raw, allow_non_integer:
        Where the counts are, as in :func:`to_numpy_dataset`.

    Returns
    -------
    dc.data.DiskDataset

    Raises
    ------
    ACTINNInputError
        No counts found (or the matrix named holds none), ``label_key`` is
        not a column of ``obs``, a cell has no label, or a label is not one
        of ``labels``.

    Examples
    --------
    >>> import tempfile
    >>> from deepchem_actinn import CellTypeLabels, load_tabula_muris_sample
    >>> from deepchem_actinn.datasets import to_disk_dataset
    >>> train, _ = load_tabula_muris_sample()
    >>> labels = CellTypeLabels.from_labels(train.obs["cell_type"])
    >>> ds = to_disk_dataset(train, labels, data_dir=tempfile.mkdtemp(),
    ...                      shard_size=1500)
    >>> ds.get_number_shards(), [int(n) for n in ds.get_shape()[0]]
    (3, [4000, 2000])
    """
    import scipy.sparse as sp

    from deepchem_actinn._deepchem import require_deepchem
    from deepchem_actinn.io.counts import check_count_values
    dc = require_deepchem("to_disk_dataset")
    if not (isinstance(shard_size, (int, np.integer)) and shard_size >= 1):
        raise ValueError("shard_size must be a whole number of at least 1, "
                         "got %r" % (shard_size,))
    backed = bool(getattr(adata, "isbacked", False))
    chosen = _counts(adata, layer, use_raw, allow_non_integer,
                     "to_disk_dataset", shard_size if backed else None)
    matrix: Any = chosen.matrix
    y = _class_ids(adata, labels, label_key, "to_disk_dataset")
    ids = np.asarray(adata.obs_names)

    def shards():
        for start in range(0, adata.n_obs, shard_size):
            stop = min(start + shard_size, adata.n_obs)
            block = matrix[start:stop]
            if backed and start:  # the first shard was checked above
                check_count_values(block,
                                   ids[start:stop],
                                   what=chosen.description,
                                   source="AnnData",
                                   allow_non_integer=allow_non_integer,
                                   part=(start, stop, adata.n_obs))
            X = block.toarray() if sp.issparse(block) else np.asarray(block)
            n = stop - start  # without labels y = w = 0, as NumpyDataset's
            yield (X.astype(np.float32), np.zeros(
                (n, 1)) if y is None else y[start:stop].reshape(-1, 1),
                   np.full((n, 1), float(y is not None),
                           np.float32), ids[start:stop])

    return dc.data.DiskDataset.create_dataset(shards(),
                                              data_dir=data_dir,
                                              tasks=[label_key or "task"])


def _counts(adata,
            layer: Optional[str],
            use_raw: Optional[bool],
            allow_non_integer: bool,
            caller: str,
            first_rows: Optional[int] = None):
    """The counts :func:`~deepchem_actinn.io.counts_source` chooses, judged
    on the ``first_rows`` cells only where given (a backed matrix), saying
    when the dataset's columns are not ``var_names``."""
    from deepchem_actinn.io.count_matrix import counts_source
    from deepchem_actinn.io.counts import scan_values

    def scan(matrix):
        return scan_values(matrix if first_rows is None else
                           matrix[:min(first_rows, adata.n_obs)])

    chosen = counts_source(adata,
                           layer,
                           use_raw,
                           allow_non_integer=allow_non_integer,
                           source="AnnData",
                           scan=scan)
    if not chosen.var.index.equals(adata.var_names):
        logger.warning(
            "%s: the dataset's %d columns are the genes of %s "
            "(adata.raw.var_names), not X's %d; pass those as genes= to "
            "GeneFilterTransformer", caller, len(chosen.var.index),
            chosen.description, adata.n_vars)
    return chosen


def _class_ids(adata, labels, label_key: Optional[str],
               caller: str) -> Optional[np.ndarray]:
    """The class ids of ``obs[label_key]`` (None without a key), by
    ``labels`` or, with a warning, by this data's own types."""
    from deepchem_actinn.errors import ACTINNInputError, examples
    from deepchem_actinn.io.labels import label_names
    from deepchem_actinn.labels import CellTypeLabels
    if label_key is None:
        return None
    if label_key not in adata.obs:
        raise ACTINNInputError(
            "AnnData: no obs column %r with the cell types (its columns: "
            "%s); pass label_key=, or None for unlabelled cells" %
            (label_key, examples(list(adata.obs.columns))))
    names = label_names(adata.obs[label_key].to_numpy(), list(adata.obs_names))
    if labels is None:
        labels = CellTypeLabels.from_labels(names)
        logger.warning(
            "%s: class ids from this data's own %d types; pass labels= "
            "(CellTypeLabels.from_labels of the training labels) for every "
            "dataset of one model, or a set lacking a type gets other ids",
            caller, labels.n_types)
    return labels.encode(names)
