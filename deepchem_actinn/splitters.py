"""A stratified splitter that keeps every cell, for NumpyDataset and DiskDataset.

It needs DeepChem; :func:`~deepchem_actinn.stratify.apportioned_indices`, the
rule it applies, does not.
"""
import logging
import tempfile
from typing import List, Optional, Tuple

import numpy as np
import pandas as pd

from deepchem_actinn._deepchem import require_deepchem
from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.stratify import (  # noqa: F401
    apportioned_indices, stratified_indices)

require_deepchem("SingletaskStratifiedSplitter")
from deepchem.data import Dataset, DiskDataset  # noqa: E402
from deepchem.splits import Splitter  # noqa: E402

logger = logging.getLogger(__name__)


class SingletaskStratifiedSplitter(Splitter):
    """Stratified splits of a classification dataset that keep every sample.

    Takes the place of ``dc.splits.SingletaskStratifiedSplitter`` (the same
    ``split``, ``train_test_split`` and ``train_valid_test_split``; see the
    Notes for ``k_fold_split``) and works on ``NumpyDataset`` and
    ``DiskDataset`` alike. The splits' sizes follow the requested
    fractions (largest remainder: each within one sample of its share),
    each class is shuffled and divided among the splits as evenly as it can
    be (each split gets its share of the class, rounded up or down), so
    class proportions are kept in every split, and every sample lands in
    exactly one split (the rule of ``stratify.apportioned_indices``).
    A class with fewer samples than there are splits cannot be in every
    split: a class of one sample is in one split only. Samples without a
    label (NaN) are refused, naming them, rather than dropped.

    Parameters
    ----------
    task_number: int, default 0
        Column of ``y`` holding the class labels.

    Examples
    --------
    >>> import numpy as np
    >>> import deepchem as dc
    >>> from deepchem_actinn import SingletaskStratifiedSplitter
    >>> y = np.array([0] * 8 + [1] * 2)
    >>> ds = dc.data.NumpyDataset(np.arange(10).reshape(-1, 1), y)
    >>> train, test = SingletaskStratifiedSplitter().train_test_split(
    ...     ds, frac_train=0.5, seed=0)
    >>> sorted(train.y.tolist()), sorted(test.y.tolist())
    ([0, 0, 0, 0, 1], [0, 0, 0, 0, 1])

    Notes
    -----
    ``k_fold_split`` follows the contract of DeepChem's base ``Splitter``: it
    returns ``k`` pairs ``(train, cv)``, each fold stratified.
    DeepChem's ``SingletaskStratifiedSplitter.k_fold_split`` returns the ``k``
    folds alone, cut from samples sorted by label, so they are not stratified.
    """

    def __init__(self, task_number: int = 0) -> None:
        self.task_number = task_number

    def _labels(self, dataset: Dataset) -> np.ndarray:
        """The class labels, refusing a bad ``task_number`` and samples
        without a label (NaN), named by id (or position)."""
        y = np.asarray(dataset.y)
        if y.ndim == 1:
            y = y[:, None]
        if not 0 <= self.task_number < y.shape[1]:
            raise ValueError(
                "task_number %r, but the dataset's y has %d column%s (tasks "
                "0 .. %d)" % (self.task_number, y.shape[1], "s" *
                              (y.shape[1] != 1), y.shape[1] - 1))
        y = y[:, self.task_number]
        missing = np.flatnonzero(pd.isna(y))
        if len(missing):
            ids = dataset.ids
            names = (np.asarray(ids)[missing]
                     if ids is not None and len(ids) == len(y) else
                     ["position %d" % i for i in missing])
            raise ACTINNInputError(
                "%d cell%s no label (NaN in task %d of y): %s; label every "
                "cell, or leave the unlabelled ones out before splitting" %
                (len(missing), " has" if len(missing) == 1 else "s have",
                 self.task_number, examples(names)))
        return y

    def split(self,
              dataset: Dataset,
              frac_train: float = 0.8,
              frac_valid: float = 0.1,
              frac_test: float = 0.1,
              seed: Optional[int] = None,
              log_every_n: Optional[int] = None,
              **kwargs) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Index arrays (int64, sorted) of the train, valid and test splits.

        Parameters
        ----------
        dataset: dc.data.Dataset
            Dataset whose ``y`` holds class labels.
        frac_train, frac_valid, frac_test: float
            Fractions, summing to 1.
        seed: int, optional
            Seed for the ties and the shuffle within each class.
        log_every_n: int, optional
            Unused; accepted for DeepChem's ``Splitter.split`` signature.
        **kwargs
            Unused, as in DeepChem's splitters.

        Returns
        -------
        (train, valid, test): tuple of np.ndarray
            Row indices of each split, int64 and sorted; every row is in
            exactly one of them.

        Raises
        ------
        ACTINNInputError
            Some samples have no label (NaN); the message names them.

        Examples
        --------
        >>> import numpy as np
        >>> import deepchem as dc
        >>> from deepchem_actinn import SingletaskStratifiedSplitter
        >>> ds = dc.data.NumpyDataset(np.zeros((10, 1)), np.arange(10) % 2)
        >>> train, valid, test = SingletaskStratifiedSplitter().split(
        ...     ds, 0.6, 0.2, 0.2, seed=0)
        >>> len(train), len(valid), len(test)
        (6, 2, 2)
        """
        train, valid, test = apportioned_indices(
            self._labels(dataset), [frac_train, frac_valid, frac_test], seed)
        return train, valid, test

    def k_fold_split(  # type: ignore[override]
            self,
            dataset: Dataset,
            k: int,
            directories: Optional[List[str]] = None,
            seed: Optional[int] = None,
            **kwargs) -> List[Tuple[Dataset, Dataset]]:
        """``k`` stratified ``(train, cv)`` pairs; each sample is in one cv fold.

        Parameters
        ----------
        dataset: dc.data.Dataset
            Dataset to split.
        k: int
            Number of folds.
        directories: list of str, optional
            ``2 * k`` directories for the DiskDatasets made from a DiskDataset.
        seed: int, optional
            Seed for the shuffle within each class.
        **kwargs
            Unused, as in DeepChem's splitters.

        Returns
        -------
        list of (train, cv) tuples of dc.data.Dataset
            ``k`` pairs, fold ``i``'s cells as ``cv`` and the rest as
            ``train``; each is a dataset of ``dataset``'s type.

        Raises
        ------
        ValueError
            ``k`` is under 2, or ``directories`` does not hold ``2 * k`` paths.
        ACTINNInputError
            Some samples have no label (NaN); the message names them.

        Examples
        --------
        >>> import numpy as np
        >>> import deepchem as dc
        >>> from deepchem_actinn import SingletaskStratifiedSplitter
        >>> data = dc.data.NumpyDataset(np.zeros((12, 2)), np.arange(12) % 3)
        >>> folds = SingletaskStratifiedSplitter().k_fold_split(data, 4, seed=0)
        >>> [(len(train), len(cv)) for train, cv in folds]
        [(9, 3), (9, 3), (9, 3), (9, 3)]
        >>> [sorted(cv.y.ravel().tolist()) for _, cv in folds][0]
        [0, 1, 2]
        """
        if k < 2:
            raise ValueError("k must be at least 2")
        y = self._labels(dataset)
        rng = np.random.default_rng(seed)
        fold_of = np.empty(len(y), dtype=np.int64)
        offset = 0
        for cls in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == cls))
            fold_of[members] = (np.arange(len(members)) + offset) % k
            offset += len(members)
        if directories is None:
            directories = [None] * (2 * k)  # type: ignore[list-item]
        elif len(directories) != 2 * k:
            raise ValueError("directories must hold 2 * k paths")
        pairs = []
        for fold in range(k):
            train_dir, cv_dir = directories[2 * fold], directories[2 * fold + 1]
            if isinstance(dataset, DiskDataset):
                train_dir = train_dir or tempfile.mkdtemp()
                cv_dir = cv_dir or tempfile.mkdtemp()
            pairs.append(
                (dataset.select(np.flatnonzero(fold_of != fold), train_dir),
                 dataset.select(np.flatnonzero(fold_of == fold), cv_dir)))
        return pairs
