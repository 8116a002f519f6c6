"""The steps of fitting an annotator around the training loop: the held-out
split, the class weights, the cells the ``Unassigned`` rule keeps, and the
rule itself."""
import logging
import math
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from deepchem_actinn.confidence import (UNASSIGNED, RejectionRule,
                                        expected_calibration_error)
from deepchem_actinn.errors import ACTINNInputError, counted, examples
from deepchem_actinn.labels import CellTypeLabels
from deepchem_actinn.models.inference import embed, model_gene_log
from deepchem_actinn.models.network import ACTINNEnsemble
from deepchem_actinn.preprocessing.augment import Augmentation
from deepchem_actinn.preprocessing.gene_filter import GeneFilter, take_columns
from deepchem_actinn.preprocessing.normalise import (check_normalisation,
                                                     library_size_log)
from deepchem_actinn.types import MAX_SEED, Matrix

logger = logging.getLogger(__name__)

#: Training cells the ``Unassigned`` rule may compare queries with (it keeps
#: a stratified sample of at most ``RejectionRule.max_reference`` of them).
REJECTION_SAMPLE = 20000


def check_params(class_weight: Optional[str],
                 validation_fraction: float,
                 n_networks: int,
                 batch_size: int = 128,
                 max_epochs: int = 1,
                 rejection_rate: float = 0.0075) -> None:
    """Refuse hyperparameters no annotator can be fitted with."""
    if class_weight not in ("balanced", None):
        raise ValueError("class_weight must be 'balanced' or None")
    if not 0 <= validation_fraction < 1:
        raise ValueError("validation_fraction must be in [0, 1)")
    if n_networks < 1:
        raise ValueError("n_networks must be at least 1")
    if batch_size < 1 or max_epochs < 1:
        raise ValueError("batch_size and max_epochs must be at least 1, got "
                         "%r and %r" % (batch_size, max_epochs))
    if not 0 < rejection_rate < 1:
        raise ValueError("rejection_rate must be in (0, 1), got %r" %
                         (rejection_rate,))


def check_numbers(learning_rate: float, weight_decay: float, seed: int,
                  min_overlap: float, target_sum: float,
                  log_base: float) -> None:
    """Refuse numbers outside their range, at construction rather than as
    an optimiser's or a random generator's error deep inside ``fit``.

    Examples
    --------
    >>> from deepchem_actinn.annotator.fitting import check_numbers
    >>> check_numbers(1e-4, 0.005, 0, 0.5, 1e4, 2.0)
    >>> check_numbers(-1, 0.005, 0, 0.5, 1e4, 2.0)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must be a number above 0, got -1
    """
    for name, value, low, high, closed in (
        ("learning_rate", learning_rate, 0, math.inf, False),
        ("weight_decay", weight_decay, 0, math.inf, True),
        ("min_overlap", min_overlap, 0, 1, True),
    ):
        if not (math.isfinite(value) and
                (value >= low if closed else value > low) and value <= high):
            raise ValueError(
                "%s must be a number %s %g%s, got %r" %
                (name, "of at least" if closed else "above", low,
                 "" if high == math.inf else " and at most %g" % high, value))
    check_normalisation(target_sum, log_base, "log_base")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError("seed must be a whole number from 0 to %d (the "
                         "largest seed scikit-learn takes), got %r" %
                         (MAX_SEED, seed))


def refuse_diverged(ensemble: ACTINNEnsemble, history: dict,
                    learning_rate: float) -> None:
    """Refuse networks whose training diverged (weights NaN or infinite),
    rather than save or use a model that gives every cell the same type."""
    import torch
    if all(bool(torch.isfinite(p).all()) for p in ensemble.parameters()):
        return
    losses = list(history.get("train_loss", []))
    first = next(
        (i for i, value in enumerate(losses) if not math.isfinite(value)), None)
    raise ACTINNInputError(
        "training diverged: the networks' weights became NaN or infinite%s; "
        "lower the learning rate (now %g)" %
        ("" if first is None else " (the cost was %s from epoch %d)" %
         (losses[first], first + 1), learning_rate))


#: The refusal of reference labels that name fewer than two types (a
#: template: the command line, which knows the labels' file, names it).
TOO_FEW_TYPES = "the reference needs at least 2 cell types, found %s"


def encode_labels(params: Any, label_names: Any) -> Tuple[Any, ...]:
    """The type names fixed from the reference labels, the class ids, the
    training and held-out indices and the sample weights (``params``: the
    annotator, for its split and class-weight settings)."""
    labels = CellTypeLabels.from_labels(label_names)
    if UNASSIGNED in labels.type_names:
        raise ACTINNInputError(
            "the reference labels name a type %r, the label given to cells "
            "no type fits; rename that type so that the two cannot be "
            "confused" % UNASSIGNED)
    if labels.n_types < 2:
        raise ACTINNInputError(TOO_FEW_TYPES, examples(labels.type_names))
    y = labels.encode(list(label_names))
    train_idx, valid_idx = split_indices(y, params.validation_fraction,
                                         params.max_validation_cells,
                                         params.seed)
    return labels, y, train_idx, valid_idx, class_weights(
        y, labels.n_types, params.class_weight)


#: A type with fewer reference cells than this is named in a warning.
FEW_CELLS = 10


def warn_small_types(type_names: Sequence[str], y: np.ndarray,
                     y_valid: np.ndarray) -> None:
    """Log :func:`small_types_message` as a warning (process 0 only)."""
    from deepchem_actinn.models import distributed
    message = small_types_message(type_names, y, y_valid)
    if message and distributed.is_main_process():
        logger.warning("%s", message)


def small_types_message(type_names: Sequence[str], y: np.ndarray,
                        y_valid: np.ndarray) -> Optional[str]:
    """What to say of the types with under :data:`FEW_CELLS` reference
    cells (None when there are none): few examples to learn from, and,
    where none of their cells is held out, nothing to calibrate their
    confidence or their part of the ``Unassigned`` rule with (``y``: every
    labelled cell's class, ``y_valid``: the held-out cells').

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.annotator.fitting import small_types_message
    >>> print(small_types_message(["B", "T"], np.array([0] * 30 + [1] * 3),
    ...                           np.array([0, 0, 0])))  # doctest: +ELLIPSIS
    1 type has under 10 reference cells: T (3), none of them held out ...
    """
    counts = np.bincount(y, minlength=len(type_names))
    small = np.flatnonzero(counts < FEW_CELLS).tolist()
    if not small:
        return None
    held = np.bincount(y_valid, minlength=len(type_names))
    unseen = [type_names[i] for i in small if held[i] == 0]
    if len(unseen) == len(small):
        held_out = ", none of them held out"
    elif unseen:
        held_out = ", %d of them with no cell held out" % len(unseen)
    else:
        held_out = ""
    return ("%s under %d reference cells: %s%s%s; they are learned from few "
            "examples and called less reliably (train on more of their "
            "cells, or merge them into a broader type)" %
            (counted(len(small), "type", "has/have"), FEW_CELLS,
             examples(["%s (%d)" % (type_names[i], counts[i]) for i in small],
                      limit=8), held_out,
             " to calibrate their confidence or the Unassigned rule"
             if unseen else ""))


def split_indices(y: np.ndarray, validation_fraction: float,
                  max_validation_cells: int,
                  seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Stratified training and held-out indices (held-out capped at
    ``max_validation_cells``).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.annotator.fitting import split_indices
    >>> train, valid = split_indices(np.repeat([0, 1], 10), 0.2, 100, 0)
    >>> len(train), len(valid)
    (16, 4)
    """
    fraction = min(validation_fraction, max_validation_cells / max(len(y), 1))
    if fraction <= 0:
        return np.arange(len(y)), np.zeros(0, np.int64)
    from deepchem_actinn.stratify import stratified_indices
    train_idx, valid_idx = stratified_indices(y, [1 - fraction, fraction], seed)
    return train_idx, valid_idx


def model_input(X: Matrix, Xn: Matrix, gene_filter: GeneFilter,
                target_sum: float, log_base: float) -> Matrix:
    """The training cells as the networks see them: the kept genes, each
    cell scaled by its counts in those genes (the rule of prediction,
    :func:`~deepchem_actinn.models.inference.model_gene_log`).

    ``Xn`` is X normalised over all its genes, which the gene filter was
    fitted on. When the filter keeps every gene that holds counts (the
    default), the two library sizes are the same and ``Xn``'s kept columns
    are returned; when it drops expressed genes (e.g. ACTINN's 1-99 %
    percentiles), the kept genes are normalised again over themselves.
    """
    return model_rows(X, gene_filter.get_support(indices=True),
                      dropped_genes_hold_counts(gene_filter), target_sum,
                      log_base, Xn)


def model_rows(X: Matrix,
               columns: np.ndarray,
               over_columns: bool,
               target_sum: float,
               log_base: float,
               Xn: Optional[Matrix] = None) -> Matrix:
    """Raw counts ``X`` -> the networks' input, columns ``columns``: each
    cell normalised over all its genes (``Xn`` when already computed), or
    with ``over_columns`` over its counts in ``columns``
    (:func:`~deepchem_actinn.models.inference.model_gene_log`). The one
    rule of :func:`model_input`, also for references read from disk.
    """
    if over_columns:
        return model_gene_log(X, columns, target_sum, log_base, check=False)
    if Xn is None:
        Xn = library_size_log(X, target_sum, log_base, check=False)
    return take_columns(Xn, columns)


def dropped_genes_hold_counts(gene_filter: GeneFilter) -> bool:
    """Whether the fitted filter drops a gene that holds counts in the
    cells it was fitted on: then each cell's library size over the kept
    genes differs from that over all genes, and the model's input is the
    kept genes normalised over themselves (:func:`model_input`).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.annotator.fitting import dropped_genes_hold_counts
    >>> from deepchem_actinn.preprocessing import GeneFilter
    >>> X = np.array([[1., 0., 3., 5.], [2., 0., 2., 6.], [4., 0., 1., 9.]])
    >>> keep_all = GeneFilter((0, 100), (0, 100)).fit(X)
    >>> dropped_genes_hold_counts(keep_all)  # drops only the empty gene
    False
    >>> top_half = GeneFilter((50, 100), (0, 100)).fit(X)
    >>> top_half.get_support(indices=True), dropped_genes_hold_counts(top_half)
    (array([0, 3]), True)
    """
    # a dropped gene holds counts exactly when its normalised total does
    return bool((gene_filter.stats_.total[~gene_filter.support_] > 0).any())


def augmented_rows(X: Matrix, train_idx: np.ndarray, columns: np.ndarray,
                   augmentation: Augmentation, target_sum: float,
                   log_base: float, seed: int) -> Matrix:
    """The training cells' augmented copies (raw ``X``, rows ``train_idx``)
    as the networks see them: the model's genes ``columns``, normalised
    over themselves (:func:`model_gene_log`). Seeded by ``seed``."""
    rng = np.random.default_rng([int(seed), 13])
    copies = augmentation.apply(rows(X, train_idx), rng)
    return model_gene_log(copies, columns, target_sum, log_base, check=False)


def stack(top: Matrix, bottom: Matrix) -> Matrix:
    """Rows of ``top`` then ``bottom`` (sparse when either is)."""
    if sp.issparse(top) or sp.issparse(bottom):
        return sp.vstack(
            [sp.csr_matrix(top), sp.csr_matrix(bottom)], format="csr")
    return np.vstack([top, bottom])


def reference_sample(y: np.ndarray,
                     train_idx: np.ndarray,
                     seed: int,
                     size: int = REJECTION_SAMPLE) -> np.ndarray:
    """Up to ``size`` training cells, stratified, sorted: the cells the
    ``Unassigned`` rule compares queries with."""
    if len(train_idx) <= size:
        return train_idx
    from deepchem_actinn.stratify import stratified_indices
    part = stratified_indices(
        y[train_idx], [size / len(train_idx), 1 - size / len(train_idx)],
        seed)[0]
    return train_idx[part]


def reference_profiles(X: Matrix, y: np.ndarray, n_types: int,
                       log_base: float) -> Tuple[np.ndarray, np.ndarray]:
    """Each type's mean profile over the model's genes
    (:func:`~deepchem_actinn.preprocessing.ambient.type_profiles`) from the
    networks' input ``X`` (``log(1 + counts * scale)``, undone here: within a
    cell the values are then proportional to its counts), and how many cells
    each type's profile rests on (int64): a profile of few cells misses
    genes the type expresses at a low level."""
    from deepchem_actinn.preprocessing.ambient import type_profiles
    linear = sp.csr_matrix(X, dtype=np.float64, copy=True)
    linear.data = np.expm1(linear.data * np.log(log_base))
    return (type_profiles(linear, y, n_types),
            np.bincount(np.asarray(y), minlength=n_types).astype(np.int64))


def class_weights(y: np.ndarray, n_types: int,
                  class_weight: Optional[str]) -> np.ndarray:
    """Per-cell loss weights: inverse type frequency for ``"balanced"``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.annotator.fitting import class_weights
    >>> class_weights(np.array([0, 0, 0, 1]), 2, "balanced").tolist()
    [0.6666666865348816, 0.6666666865348816, 0.6666666865348816, 2.0]
    """
    if class_weight is None:
        return np.ones(len(y), dtype=np.float32)
    counts = np.bincount(y, minlength=n_types)
    per_class = len(y) / (n_types * np.maximum(counts, 1))
    return per_class[y].astype(np.float32)


def fit_rule(ensemble: ACTINNEnsemble, valid: Tuple[np.ndarray, np.ndarray],
             y_valid: np.ndarray, X_ref: Optional[Matrix],
             y_ref: Optional[np.ndarray], rejection_rate: float,
             temperature: float, seed: int) -> RejectionRule:
    """The ``Unassigned`` rule: kNN in the networks' hidden layers over the
    reference sample ``X_ref``, its threshold from the held-out cells
    (``valid`` is their :func:`embed`); the max-probability rule when there
    are too few cells for that."""
    f_val, l_val = valid
    if X_ref is None or y_ref is None or len(y_valid) == 0 or len(y_ref) < 2:
        return RejectionRule(method="max_probability").fit(
            None, l_val, y_valid, rejection_rate, temperature)
    f_ref, l_ref = embed(ensemble, X_ref)
    return RejectionRule(method="knn",
                         seed=seed).fit(np.vstack([f_ref, f_val]),
                                        np.vstack([l_ref, l_val]),
                                        np.concatenate([y_ref, y_valid]),
                                        rejection_rate=rejection_rate,
                                        temperature=temperature,
                                        heldout=np.arange(
                                            len(y_ref),
                                            len(y_ref) + len(y_valid)))


#: How far, on the held-out cells, the mean confidence of what prediction
#: gives may lie from its accuracy before fitting warns that the confidence
#: is not calibrated; judged on at least :data:`CALIBRATION_CELLS` cells
#: (on fewer, chance alone moves the two that far).
CALIBRATION_WARNING = 0.05
CALIBRATION_CELLS = 200


def check_average_calibration(annotator: Any, X_valid: Matrix,
                              valid_logits: np.ndarray,
                              y_valid: np.ndarray) -> Optional[float]:
    """The calibration error of the probabilities ``annotator.predict``
    gives (the networks' calibrated ones, averaged with the linear member's
    where there is one) on the held-out cells, which neither member learned
    from; None without held-out cells. Where their mean confidence lies
    more than :data:`CALIBRATION_WARNING` from their accuracy it warns,
    with the figures (networks cut short by a few epochs, averaged with a
    regression that is right more often, give confidences well under their
    accuracy)."""
    if len(y_valid) == 0:
        return None
    linear = annotator.linear_
    proba = annotator.probabilities(
        valid_logits, None if linear is None else linear.logits(X_valid))
    ece = expected_calibration_error(proba, y_valid)
    confidence = float(proba.max(axis=1).mean())
    accuracy = float((proba.argmax(axis=1) == y_valid).mean())
    if len(y_valid) >= CALIBRATION_CELLS and \
            abs(confidence - accuracy) > CALIBRATION_WARNING:
        logger.warning(
            "the confidence is not calibrated: on the %s its mean is %.3f "
            "and the accuracy %.3f (calibration error %.3f), so a "
            "confidence threshold leaves out cells the model labels right "
            "(or keeps wrong ones); train until early stopping ends it "
            "(the default, without -ne / max_epochs), which calibrates it",
            counted(len(y_valid), "held-out cell"), confidence, accuracy, ece)
    return ece


def rows(X: Matrix, idx: np.ndarray) -> Matrix:
    """Rows ``idx`` of a dense or sparse matrix (sparse as CSR)."""
    return X[idx] if not sp.issparse(X) else sp.csr_matrix(X)[idx]


def training_set(
        X: Matrix, Xf: Matrix, y: np.ndarray, weights: np.ndarray,
        train_idx: np.ndarray, augmentation: Optional[Augmentation],
        support: np.ndarray, target_sum: float, log_base: float, seed: int
) -> Tuple[Matrix, np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """What the epochs draw minibatches from: ``(X, y, w, rows)``.

    Without augmentation the epochs read the training rows of the model's
    input ``Xf`` in place (``rows``: no copy of them); with it, the training
    rows and their augmented copies (raw counts ``X``, the kept gene columns
    ``support``) are stacked into a new matrix.
    """
    if augmentation is None:
        return Xf, y, weights, train_idx
    X_train = stack(
        rows(Xf, train_idx),
        augmented_rows(X, train_idx, support, augmentation, target_sum,
                       log_base, seed))
    copies = augmentation.copies + 1
    return (X_train, np.tile(y[train_idx],
                             copies), np.tile(weights[train_idx], copies), None)


def digest(*parts: Any) -> str:
    """A SHA-256 hex digest of arrays, sparse matrices and lists (of
    anything, as text), None skipped: what processes compare to be sure
    they read the same reference.

    Examples
    --------
    >>> from deepchem_actinn.annotator.fitting import digest
    >>> digest(["a", "b"]) == digest(("a", "b")) != digest(["b", "a"])
    True
    """
    import hashlib
    h = hashlib.sha256()
    for part in parts:
        if part is None:
            continue
        if sp.issparse(part):
            part = sp.csr_matrix(part)
            arrays = [part.data, part.indices, part.indptr]
        elif isinstance(part, (list, tuple)):
            arrays = [np.asarray([str(p) for p in part], dtype=str)]
        else:
            arrays = [np.asarray(part)]
        for array in arrays:
            h.update(np.ascontiguousarray(array).data)  # no copy
    return h.hexdigest()


def refuse_unequal_references(genes: Any, type_names: Any, n_cells: int,
                              X_valid: Matrix, y_valid: np.ndarray,
                              X_ref: Optional[Matrix]) -> None:
    """Under torchrun, refuse to train unless every process read the same
    reference (and warn when torchrun started processes that joined no
    group): the same number of cells, genes kept, types, and held-out
    and rule cells (their values; the held-out cells are drawn by row, so
    rows in another order give others). A no-op in one process.

    Parameters
    ----------
    genes, type_names:
        The genes kept and the types, in order.
    n_cells: int
        Labelled reference cells.
    X_valid, y_valid:
        The held-out cells' model input and class ids.
    X_ref: matrix, optional
        The ``Unassigned`` rule's reference cells.
    """
    from deepchem_actinn.models import distributed
    if not distributed.is_distributed():
        if distributed.launched_by_torchrun():
            logger.warning(
                "started by torchrun, but this process joined no process "
                "group, so each process trains the whole model alone: call "
                "deepchem_actinn.models.distributed.init_from_env() before "
                "fit (and save on process 0 only)")
        return
    distributed.refuse_unequal(
        {
            "number of cells": str(n_cells),
            "genes": digest(list(genes)),
            "cell types": digest(list(type_names)),
            "held-out cells": digest(X_valid, y_valid),
            "Unassigned rule's cells": digest(X_ref),
        }, "reference")
