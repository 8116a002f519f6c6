"""A trained ACTINN annotator: fit on a labelled reference once, save it,
and annotate any number of new datasets with it.

The annotator holds everything needed to name the cells of a new
experiment: the network weights, the genes it uses in order, the
preprocessing parameters, the cell-type names, the calibration temperature,
the ``Unassigned`` threshold and the package version that trained it.
"""
import json
import logging
import os
import warnings
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator,
                    List, Optional, Sequence, Tuple, Union)

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from deepchem_actinn import confidence as conf
from deepchem_actinn._version import __version__
from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.io.prefetch import prefetch
from deepchem_actinn.labels import CellTypeLabels
from deepchem_actinn.models.network import (ACTINNClassifier, ACTINNEnsemble,
                                            seeded_classifier)
from deepchem_actinn.models.batches import minibatches, network_input
from deepchem_actinn.models.inference import EnsembleScorer
from deepchem_actinn.stats import gene_statistics
from deepchem_actinn.preprocessing.gene_filter import (select_genes,
                                                       take_columns)
from deepchem_actinn.preprocessing.genes import (choose_gene_column,
                                                 gene_candidates,
                                                 gene_positions)
from deepchem_actinn.preprocessing.normalise import library_size_log
from deepchem_actinn.types import Matrix

if TYPE_CHECKING:  # DeepChem is imported only to train
    from deepchem_actinn.models.actinn import ACTINNModel

logger = logging.getLogger(__name__)

#: Version of the saved-annotator layout; loading another version fails.
FORMAT_VERSION = 1
CONFIG_FILE = "annotator.json"
WEIGHTS_FILE = "weights.pt"
#: Cells per block at prediction time (bounds memory for wide matrices).
PREDICT_BLOCK = 4096
#: Training cells the ``Unassigned`` rule may compare queries with (it keeps
#: a stratified sample of at most ``RejectionRule.max_reference`` of them).
REJECTION_SAMPLE = 20000
RULE_FILE = "rejection.pt"


@dataclass
class Annotation:
    """Predicted cell types of one dataset (or one chunk of it).

    Attributes
    ----------
    cell_ids: np.ndarray
        Cell ids, in input order.
    cell_types: np.ndarray
        Predicted type names (``Unassigned`` where the rule rejects a cell).
    confidence: np.ndarray
        Calibrated probability of the top type, float32.
    probabilities: np.ndarray
        Calibrated probabilities, cells x ``type_names``, float32.
    type_names: list of str
        Reference cell types, the columns of ``probabilities``.
    genes_missing: int
        Model genes absent from the query (set to zero).
    gene_column: str
        Which query gene identifiers were matched to the model's genes.
    """
    cell_ids: np.ndarray
    cell_types: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray
    type_names: List[str]
    genes_missing: int = 0
    gene_column: str = "var_names"

    def to_frame(self) -> pd.DataFrame:
        """One row per cell: ``cell_type``, ``confidence``, probabilities."""
        frame = pd.DataFrame(self.probabilities,
                             index=pd.Index(self.cell_ids, name="cellname"),
                             columns=self.type_names)
        frame.insert(0, "confidence", self.confidence)
        frame.insert(0, "cell_type", self.cell_types)
        return frame

    def __len__(self) -> int:
        return len(self.cell_ids)


class ACTINNAnnotator:
    """Train ACTINN on a labelled reference once; annotate many queries.

    ``fit`` takes raw counts (cells x genes, dense or SciPy sparse), gene
    names and cell-type labels; it normalises (:func:`library_size_log`),
    fits the gene filter (:class:`GeneFilterTransformer`) and trains an
    ensemble of ``n_networks`` ACTINN networks side by side in one
    :class:`ACTINNModel`, holding out a stratified ``validation_fraction``
    of the reference to stop each network when its validation loss stops
    improving and to calibrate the probabilities (temperature scaling).
    ``predict`` takes a query from any source: its genes are aligned to the
    model's by name, missing genes set to zero.

    Parameters
    ----------
    n_networks: int, default 3
        Networks in the ensemble (seeds ``seed``, ``seed + 1``, ...), trained
        side by side on the same minibatches, their probabilities averaged;
        1 is the original ACTINN.
    max_epochs: int, default 200
        Upper bound on training epochs.
    early_stopping: bool, default True
        Stop when the validation loss has not improved for ``patience``
        epochs, and keep the best weights. When False, train ``max_epochs``.
    patience: int, default 10
        Epochs without improvement before stopping.
    validation_fraction: float, default 0.1
        Share of each cell type held out for early stopping and calibration.
    max_validation_cells: int, default 20,000
        Cap on the held-out cells (a smaller share for large references).
    class_weight: {"balanced", None}, default "balanced"
        Weight the loss by inverse type frequency so rare types count.
    batch_size, learning_rate, weight_decay, decay_rate, decay_steps,
    hidden_sizes:
        As in :class:`ACTINNModel`.
    target_sum, log_base:
        As in :func:`library_size_log`.
    total_percentiles, cv_percentiles, min_overlap:
        As in :class:`GeneFilterTransformer`.
    rejection_rate: float, default 0.0075
        Share of held-out reference cells the ``Unassigned`` rule rejects;
        it sets the rule's threshold (0.75 %: in the leave-one-type-out
        benchmark 1 % rejected up to 3.1 % of known cells in one run of 36,
        0.75 % at most 2.5 %).
    seed: int, default 0
        Seeds the split, the weights and the shuffling.
    device: str or torch.device, optional
        Where to train and predict (``"cuda"`` when available and wanted).

    Examples
    --------
    >>> from deepchem_actinn import ACTINNAnnotator, load_tabula_muris_sample
    >>> train, test = load_tabula_muris_sample()
    >>> annotator = ACTINNAnnotator(max_epochs=3).fit(
    ...     train.X, train.var_names, train.obs["cell_type"])
    >>> result = annotator.predict(test.X, test.var_names, test.obs_names)
    >>> result.probabilities.shape
    (1000, 12)
    """

    def __init__(self,
                 n_networks: int = 3,
                 max_epochs: int = 200,
                 early_stopping: bool = True,
                 patience: int = 10,
                 validation_fraction: float = 0.1,
                 max_validation_cells: int = 20000,
                 class_weight: Optional[str] = "balanced",
                 batch_size: int = 128,
                 learning_rate: float = 1e-4,
                 weight_decay: float = 0.005,
                 decay_rate: float = 0.95,
                 decay_steps: int = 1000,
                 hidden_sizes: Sequence[int] = (100, 50, 25),
                 target_sum: float = 1e4,
                 log_base: float = 2.0,
                 total_percentiles: Tuple[float, float] = (0.0, 100.0),
                 cv_percentiles: Tuple[float, float] = (0.0, 100.0),
                 min_overlap: float = 0.5,
                 rejection_rate: float = 0.0075,
                 seed: int = 0,
                 device: Optional[Union[str, torch.device]] = None) -> None:
        if class_weight not in ("balanced", None):
            raise ValueError("class_weight must be 'balanced' or None")
        if not 0 <= validation_fraction < 1:
            raise ValueError("validation_fraction must be in [0, 1)")
        if n_networks < 1:
            raise ValueError("n_networks must be at least 1")
        self.n_networks = int(n_networks)
        self.max_epochs = int(max_epochs)
        self.early_stopping = bool(early_stopping)
        self.patience = int(patience)
        self.validation_fraction = float(validation_fraction)
        self.max_validation_cells = int(max_validation_cells)
        self.class_weight = class_weight
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.decay_rate = float(decay_rate)
        self.decay_steps = int(decay_steps)
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.target_sum = float(target_sum)
        self.log_base = float(log_base)
        self.total_percentiles: Tuple[float,
                                      float] = (float(total_percentiles[0]),
                                                float(total_percentiles[1]))
        self.cv_percentiles: Tuple[float, float] = (float(cv_percentiles[0]),
                                                    float(cv_percentiles[1]))
        self.min_overlap = float(min_overlap)
        self.rejection_rate = float(rejection_rate)
        self.seed = int(seed)
        self.device = device
        self._models: Optional[List["ACTINNModel"]] = None

    # ------------------------------------------------------------------ fit
    def _params(self) -> Dict[str, Any]:
        return {
            "n_networks": self.n_networks,
            "max_epochs": self.max_epochs,
            "early_stopping": self.early_stopping,
            "patience": self.patience,
            "validation_fraction": self.validation_fraction,
            "max_validation_cells": self.max_validation_cells,
            "class_weight": self.class_weight,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "decay_rate": self.decay_rate,
            "decay_steps": self.decay_steps,
            "hidden_sizes": list(self.hidden_sizes),
            "target_sum": self.target_sum,
            "log_base": self.log_base,
            "total_percentiles": list(self.total_percentiles),
            "cv_percentiles": list(self.cv_percentiles),
            "min_overlap": self.min_overlap,
            "rejection_rate": self.rejection_rate,
            "seed": self.seed,
        }

    def _training_options(self) -> Dict[str, Any]:
        """The optimiser settings this annotator's ACTINNModels use."""
        return dict(learning_rate=self.learning_rate,
                    weight_decay=self.weight_decay,
                    decay_rate=self.decay_rate,
                    decay_steps=self.decay_steps,
                    batch_size=self.batch_size)

    def _new_model(self, n_genes: int, n_types: int) -> "ACTINNModel":
        """The ensemble of ``n_networks`` networks, to train side by side."""
        from deepchem_actinn.models.actinn import ACTINNModel
        return ACTINNModel(output_dim=n_types,
                           input_size=n_genes,
                           hidden_sizes=self.hidden_sizes,
                           n_networks=self.n_networks,
                           seed=self.seed,
                           device=_device(self.device),
                           log_frequency=1,
                           **self._training_options())

    def fit(
        self,
        X: Matrix,
        genes: Sequence[str],
        labels: Sequence[str],
        cell_ids: Optional[Sequence[str]] = None,
        progress: Optional[Callable[[Dict[str, Any]], None]] = None
    ) -> "ACTINNAnnotator":
        """Train on raw counts of a labelled reference.

        Parameters
        ----------
        X: np.ndarray or scipy.sparse matrix
            Raw counts, cells x genes.
        genes: sequence of str
            Gene names, one per column.
        labels: sequence of str
            Cell-type name of each cell.
        cell_ids: sequence of str, optional
            Cell ids, for error messages.
        progress: callable, optional
            Called after each epoch with a dict (``epoch``, ``max_epochs``,
            ``n_networks``, and the networks' mean ``train_loss``,
            ``valid_loss`` and ``valid_accuracy``).

        Returns
        -------
        self
        """
        label_names = np.asarray([str(t) for t in labels], dtype=object)
        gene_names = [str(g) for g in genes]
        if X.shape[0] != len(label_names):
            raise ACTINNInputError("%d cells but %d labels" %
                                   (X.shape[0], len(label_names)))
        if X.shape[1] != len(gene_names):
            raise ACTINNInputError("%d genes in the matrix but %d gene names" %
                                   (X.shape[1], len(gene_names)))
        self.labels_ = CellTypeLabels.from_labels(label_names)
        if self.labels_.n_types < 2:
            raise ACTINNInputError(
                "the reference needs at least 2 cell types, found %s" %
                examples(self.labels_.type_names))
        y = self.labels_.encode(label_names)
        Xn = library_size_log(X, self.target_sum, self.log_base, cell_ids)
        mask = select_genes(gene_statistics(Xn), self.total_percentiles,
                            self.cv_percentiles)
        self.genes_ = [
            str(g) for g in np.asarray(gene_names, dtype=object)[mask]
        ]
        Xf = take_columns(Xn, np.flatnonzero(mask))
        del Xn
        train_idx, valid_idx = self._split(y)
        weights = self._class_weights(y)
        X_train, y_train, w_train = _rows(Xf, train_idx), y[train_idx], \
            weights[train_idx]

        def epoch(rng: np.random.Generator):
            return minibatches(X_train, y_train, w_train, self.batch_size, rng)

        ref_idx = self._reference_sample(y, train_idx)
        return self._fit_networks(epoch, _rows(Xf, valid_idx), y[valid_idx],
                                  len(y), progress, _rows(Xf, ref_idx),
                                  y[ref_idx])

    def fit_file(
        self,
        path: Union[str, os.PathLike],
        labels: Union[pd.Series, str, os.PathLike],
        format: Optional[str] = None,
        upper_case_genes: bool = True,
        block_size: int = 4096,
        buffer_cells: int = 65536,
        progress: Optional[Callable[[Dict[str, Any]], None]] = None
    ) -> "ACTINNAnnotator":
        """Train on a reference file too large for memory.

        The file is read block by block (:class:`ReferenceFile`): one pass
        for the gene statistics and the held-out cells, then one shuffled
        pass per epoch, so memory is bounded by ``buffer_cells`` and the
        held-out cells, not by the size of the reference.

        Parameters
        ----------
        path: str or Path
            Raw counts (h5ad, ACTINN HDF5 and 10x HDF5 stream from disk).
        labels: pandas.Series or path
            Cell type by cell id, or a labels file.
        format: str, optional
            Force the file format.
        upper_case_genes: bool, default True
            As in :func:`deepchem_actinn.io.readers.read`.
        block_size: int, default 4096
            Cells read at a time.
        buffer_cells: int, default 65536
            Cells shuffled together.
        progress: callable, optional
            As in :meth:`fit`.
        """
        from deepchem_actinn.reference_file import ReferenceFile
        ref = ReferenceFile(os.fspath(path), labels, format, upper_case_genes,
                            self.target_sum, self.log_base, block_size)
        self.labels_ = CellTypeLabels.from_labels(ref.labels)
        if self.labels_.n_types < 2:
            raise ACTINNInputError(
                "the reference needs at least 2 cell types, found %s" %
                examples(self.labels_.type_names))
        y = self.labels_.encode(list(ref.labels))
        train_idx, valid_idx = self._split(y)
        ref_idx = self._reference_sample(y, train_idx)
        both = np.union1d(valid_idx, ref_idx)
        stats, rows = ref.scan(both)
        valid_rows = rows[np.searchsorted(both, valid_idx)]
        ref_rows = rows[np.searchsorted(both, ref_idx)]
        mask = select_genes(stats, self.total_percentiles, self.cv_percentiles)
        columns = np.flatnonzero(mask)
        self.genes_ = [str(g) for g in ref.genes[mask]]
        weights = self._class_weights(y)
        train = np.zeros(len(y), dtype=bool)
        train[train_idx] = True

        def epoch(rng: np.random.Generator):
            return ref.epoch(rng, columns, y, weights, train, self.batch_size,
                             buffer_cells)

        return self._fit_networks(epoch, valid_rows[:, columns], y[valid_idx],
                                  len(y), progress, ref_rows[:, columns],
                                  y[ref_idx])

    def _split(self, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Stratified training and held-out indices (held-out capped at
        ``max_validation_cells``)."""
        fraction = min(self.validation_fraction,
                       self.max_validation_cells / max(len(y), 1))
        if fraction <= 0:
            return np.arange(len(y)), np.zeros(0, np.int64)
        from deepchem_actinn.stratify import stratified_indices
        train_idx, valid_idx = stratified_indices(y, [1 - fraction, fraction],
                                                  self.seed)
        return train_idx, valid_idx

    def _reference_sample(self, y: np.ndarray,
                          train_idx: np.ndarray) -> np.ndarray:
        """Up to ``REJECTION_SAMPLE`` training cells, stratified, sorted: the
        cells the ``Unassigned`` rule compares queries with."""
        if len(train_idx) <= REJECTION_SAMPLE:
            return train_idx
        from deepchem_actinn.stratify import stratified_indices
        part = stratified_indices(y[train_idx], [
            REJECTION_SAMPLE / len(train_idx),
            1 - REJECTION_SAMPLE / len(train_idx)
        ], self.seed)[0]
        return train_idx[part]

    def _fit_networks(self,
                      epoch: Callable,
                      X_valid: Matrix,
                      y_valid: np.ndarray,
                      n_cells: int,
                      progress: Optional[Callable],
                      X_ref: Optional[Matrix] = None,
                      y_ref: Optional[np.ndarray] = None) -> "ACTINNAnnotator":
        """Train the ensemble, calibrate on the held-out cells and fit the
        ``Unassigned`` rule (kNN in the networks' hidden layers over
        ``X_ref``, threshold from the held-out cells)."""
        ensemble = self._new_model(len(self.genes_), self.labels_.n_types)
        states, self.histories_ = self._train(ensemble, epoch, X_valid, y_valid,
                                              progress)
        self.networks_ = []
        for member, state in enumerate(states):
            network = self._new_network(member)
            network.load_state_dict(state)
            self.networks_.append(network)
        self._models = None
        del ensemble
        valid_logits = self._logits(X_valid)
        self.temperature_ = conf.fit_temperature(valid_logits, y_valid) \
            if len(y_valid) else 1.0
        proba_raw = conf.calibrated_probabilities(valid_logits, 1.0)
        proba = conf.calibrated_probabilities(valid_logits, self.temperature_)
        self.calibration_ = {
            "ece_before":
                conf.expected_calibration_error(proba_raw, y_valid)
                if len(y_valid) else None,
            "ece_after":
                conf.expected_calibration_error(proba, y_valid)
                if len(y_valid) else None,
            "n_cells":
                int(len(y_valid)),
        }
        self.threshold_ = conf.threshold_for_rejection(proba.max(axis=1),
                                                       self.rejection_rate)
        self.rule_ = self._fit_rule(X_valid, y_valid, X_ref, y_ref)
        self.n_reference_cells_ = int(n_cells)
        self.package_version_ = __version__
        return self

    def _fit_rule(self, X_valid: Matrix, y_valid: np.ndarray,
                  X_ref: Optional[Matrix],
                  y_ref: Optional[np.ndarray]) -> conf.RejectionRule:
        if X_ref is None or y_ref is None or len(
                y_valid) == 0 or len(y_ref) < 2:
            rule = conf.RejectionRule(method="max_probability")
            valid_logits = self._logits(X_valid)
            return rule.fit(None, valid_logits, y_valid, self.rejection_rate,
                            self.temperature_)
        f_ref, l_ref = self._embed(X_ref)
        f_val, l_val = self._embed(X_valid)
        return conf.RejectionRule(method="knn", seed=self.seed).fit(
            np.vstack([f_ref, f_val]),
            np.vstack([l_ref, l_val]),
            np.concatenate([y_ref, y_valid]),
            rejection_rate=self.rejection_rate,
            temperature=self.temperature_,
            heldout=np.arange(len(y_ref),
                              len(y_ref) + len(y_valid)))

    def _class_weights(self, y: np.ndarray) -> np.ndarray:
        if self.class_weight is None:
            return np.ones(len(y), dtype=np.float32)
        counts = np.bincount(y, minlength=self.labels_.n_types)
        per_class = len(y) / (self.labels_.n_types * np.maximum(counts, 1))
        return per_class[y].astype(np.float32)

    def _train(
        self, model: "ACTINNModel", epoch_batches: Callable, X_valid: Matrix,
        y_valid: np.ndarray, progress: Optional[Callable]
    ) -> Tuple[List[Dict[str, torch.Tensor]], List[Dict[str, list]]]:
        """Train the ensemble side by side, each member with its own early
        stopping; returns each member's best weights and its history.

        ``epoch_batches(rng)`` yields one epoch of minibatches. Training
        stops when every member has gone ``patience`` epochs without a
        better validation loss (or at ``max_epochs``); each member keeps
        the weights of its best epoch.
        """
        network = model.model
        n = model.n_networks
        rng = np.random.default_rng(self.seed)
        histories: List[Dict[str, list]] = [{
            "train_loss": [],
            "valid_loss": [],
            "valid_accuracy": []
        } for _ in range(n)]
        best_loss = [np.inf] * n
        best_epoch = [0] * n
        best_state: List[Optional[Dict[str, torch.Tensor]]] = [None] * n
        stopping = self.early_stopping and len(y_valid) > 0
        for epoch in range(1, self.max_epochs + 1):
            losses: List[float] = []
            with warnings.catch_warnings():
                # DeepChem's loop converts its running loss tensor to float.
                warnings.filterwarnings("ignore", "Converting a tensor",
                                        UserWarning)
                model.fit_generator(prefetch(epoch_batches(rng), depth=4),
                                    checkpoint_interval=0,
                                    all_losses=losses)
            # the loss is summed over the members: report their mean
            train_loss = float(np.mean(losses)) / n
            valid = self._member_scores(network, X_valid, y_valid)
            for i, history in enumerate(histories):
                history["train_loss"].append(train_loss)
                if valid:
                    history["valid_loss"].append(valid[i][0])
                    history["valid_accuracy"].append(valid[i][1])
            if progress is not None:
                state: Dict[str, Any] = {
                    "n_networks": n,
                    "epoch": epoch,
                    "max_epochs": self.max_epochs,
                    "train_loss": train_loss
                }
                if valid:
                    state["valid_loss"] = float(np.mean([v[0] for v in valid]))
                    state["valid_accuracy"] = float(
                        np.mean([v[1] for v in valid]))
                progress(state)
            if not stopping:
                continue
            for i in range(n):
                if valid[i][0] < best_loss[i] - 1e-4:
                    best_loss[i], best_epoch[i] = valid[i][0], epoch
                    best_state[i] = _member_state(network, i)
            if all(epoch - b >= self.patience for b in best_epoch):
                break
        states = [
            state if state is not None else _member_state(network, i)
            for i, state in enumerate(best_state)
        ]
        for i, history in enumerate(histories):
            history["best_epoch"] = [
                best_epoch[i] or len(history["train_loss"])
            ]
        return states, histories

    @staticmethod
    def _member_scores(network: torch.nn.Module, X: Matrix,
                       y: np.ndarray) -> List[Tuple[float, float]]:
        """Each member's mean cross-entropy and accuracy on normalised,
        aligned cells ``X`` (empty when there are none)."""
        if len(y) == 0:
            return []
        parts = []
        network.eval()
        with torch.inference_mode():
            for _, block in _input_blocks(X, next(network.parameters()).device):
                logits = network(block)[1]
                if logits.dim() == 2:  # a single network
                    logits = logits[:, None]
                parts.append(torch.log_softmax(logits, -1).cpu())
        network.train()
        logp = torch.cat(parts).numpy()  # cells x members x types
        rows = np.arange(len(y))
        return [(float(-logp[rows, i, y].mean()),
                 float((logp[:, i].argmax(1) == y).mean()))
                for i in range(logp.shape[1])]

    # -------------------------------------------------------------- predict
    def _new_network(self, member: int) -> ACTINNClassifier:
        """An untrained network of this annotator's shape (seed
        ``seed + member``), on its device."""
        network = seeded_classifier(len(self.genes_), self.labels_.n_types,
                                    self.hidden_sizes, self.seed + member)
        return network.to(_device(self.device) or "cpu")

    @property
    def models_(self) -> List["ACTINNModel"]:
        """The trained networks as DeepChem :class:`ACTINNModel` objects
        (made on first use; they share the weights of ``networks_``)."""
        self._check_fitted()
        if self._models is None:
            from deepchem_actinn.models.actinn import ACTINNModel
            self._models = [
                ACTINNModel.from_network(network,
                                         seed=self.seed + member,
                                         device=next(
                                             network.parameters()).device,
                                         **self._training_options())
                for member, network in enumerate(self.networks_)
            ]
        return self._models

    def _check_fitted(self) -> None:
        if not hasattr(self, "networks_"):
            raise RuntimeError("this annotator is not fitted: call fit() or "
                               "ACTINNAnnotator.load()")

    def _logits(self, X: Matrix) -> np.ndarray:
        """Network outputs for normalised, aligned cells, block by block."""
        return self._embed(X)[1]

    @property
    def history_(self) -> Dict[str, list]:
        """Training history (per-epoch losses) of the first network."""
        return self.histories_[0]

    def _embed(
        self,
        X: Matrix,
        networks: Optional[List[ACTINNClassifier]] = None
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Hidden features and ensemble logits, block by block.

        ``X`` is normalised and aligned to ``genes_``; a sparse X goes
        through the networks' sparse first layer, never densified. The
        features are the last hidden layers of the networks side by side;
        the logits are ``log`` of the networks' mean probabilities, so that
        one network gives its own logits up to a constant.
        """
        networks = self.networks_ if networks is None else networks
        width = sum(network.head.in_features for network in networks)
        hidden = np.zeros((X.shape[0], width), dtype=np.float32)
        logits = np.zeros((X.shape[0], self.labels_.n_types), dtype=np.float32)
        for network in networks:
            network.eval()
        with torch.inference_mode():
            for start, block in _input_blocks(
                    X,
                    next(networks[0].parameters()).device):
                features: List[torch.Tensor] = []
                proba = torch.zeros(())
                for network in networks:
                    h = network.features(block)
                    features.append(h)
                    proba = proba + torch.softmax(network.head(h), -1)
                stop = start + features[0].shape[0]
                hidden[start:stop] = torch.cat(features, 1).cpu().numpy()
                logits[start:stop] = torch.log(
                    torch.clamp(proba / len(networks),
                                min=1e-30)).cpu().numpy()
        return hidden, logits

    def scorer(self, positions: np.ndarray,
               n_query_genes: int) -> EnsembleScorer:
        """The fused sparse scorer for a query whose genes sit at
        ``positions`` (see :meth:`gene_positions`)."""
        self._check_fitted()
        return EnsembleScorer(self.networks_, positions, n_query_genes,
                              self.target_sum, self.log_base,
                              next(self.networks_[0].parameters()).device)

    def preprocess(self,
                   X: Matrix,
                   genes: Sequence[str],
                   cell_ids: Optional[Sequence[str]] = None) -> Matrix:
        """Raw query counts -> normalised, in the model's gene order."""
        Xn = library_size_log(X, self.target_sum, self.log_base, cell_ids)
        return take_columns(Xn, self.gene_positions(genes))

    def gene_positions(self, genes: Sequence[str]) -> np.ndarray:
        """Index of each model gene in ``genes`` (-1 where missing).

        See :func:`deepchem_actinn.preprocessing.genes.gene_positions`:
        case-insensitive; refuses a query with fewer than ``min_overlap`` of
        the model's genes.
        """
        self._check_fitted()
        return gene_positions(self.genes_, genes, self.min_overlap)

    def predict(self,
                X: Matrix,
                genes: Sequence[str],
                cell_ids: Optional[Sequence[str]] = None,
                unassigned: bool = False,
                threshold: Optional[float] = None,
                gene_column: str = "var_names") -> Annotation:
        """Annotate raw counts of a query (cells x genes, any gene order).

        Parameters
        ----------
        X: np.ndarray or scipy.sparse matrix
            Raw counts, cells x genes.
        genes: sequence of str
            The query's gene names.
        cell_ids: sequence of str, optional
            Cell ids (default ``"0"``, ``"1"``, ...).
        unassigned: bool, default False
            Mark cells ``Unassigned`` by the default rule
            (:class:`~deepchem_actinn.confidence.RejectionRule`: the distance
            to the nearest reference cells in the networks' hidden layers,
            relative to the predicted type's spread, beyond the level that
            rejects ``rejection_rate`` of held-out reference cells).
        threshold: float, optional
            Mark cells ``Unassigned`` below this confidence instead.
        """
        return self._annotate(X, self.gene_positions(genes), cell_ids,
                              unassigned, threshold, gene_column)

    def iter_predict(self,
                     chunks: Iterable[Tuple[Sequence[str], Matrix]],
                     genes: Sequence[str],
                     unassigned: bool = False,
                     threshold: Optional[float] = None) -> Iterator[Annotation]:
        """Annotate a query that arrives in ``(cell_ids, counts)`` chunks.

        Genes are matched once; memory is bounded by the chunk size.
        """
        positions = self.gene_positions(genes)
        scorer = self.scorer(positions, len(genes))
        for cell_ids, X in chunks:
            yield self._annotate(X, positions, cell_ids, unassigned, threshold,
                                 "var_names",
                                 scorer if sp.issparse(X) else None)

    def _annotate(self,
                  X: Matrix,
                  positions: np.ndarray,
                  cell_ids: Optional[Sequence[str]],
                  unassigned: bool,
                  threshold: Optional[float],
                  gene_column: str,
                  scorer: Optional[EnsembleScorer] = None,
                  checked: bool = False) -> Annotation:
        # checked: the counts were already checked for negative, NaN and
        # infinite values (chunks from iter_cell_chunks are)
        self._check_fitted()
        if positions.max(initial=-1) >= X.shape[1]:
            raise ACTINNInputError(
                "the query matrix has %d genes, fewer than its gene names "
                "say" % X.shape[1])
        ids = np.asarray([str(i) for i in range(X.shape[0])]
                         if cell_ids is None else [str(c) for c in cell_ids],
                         dtype=object)
        if len(ids) != X.shape[0]:
            raise ACTINNInputError("%d cells but %d cell ids" %
                                   (X.shape[0], len(ids)))
        if sp.issparse(X):
            scorer = scorer or self.scorer(positions, X.shape[1])
            hidden, logits = scorer(X, ids, check=not checked)
        else:
            Xn = library_size_log(X, self.target_sum, self.log_base, ids)
            hidden, logits = self._embed(take_columns(Xn, positions))
        proba = conf.calibrated_probabilities(logits, self.temperature_)
        top = proba.max(axis=1)
        names = self.labels_.decode(proba.argmax(axis=1))
        if threshold is not None:
            names = conf.assign(names, top, threshold)
        elif unassigned:
            names = np.asarray(names, dtype=object)
            names[self.rule_.reject(hidden, logits)] = conf.UNASSIGNED
        return Annotation(cell_ids=ids,
                          cell_types=names,
                          confidence=top,
                          probabilities=proba,
                          type_names=list(self.labels_.type_names),
                          genes_missing=int((positions < 0).sum()),
                          gene_column=gene_column)

    @property
    def type_names(self) -> List[str]:
        """The reference cell types, in class-id order."""
        self._check_fitted()
        return list(self.labels_.type_names)

    # ------------------------------------------------------- save and load
    def save(self,
             path: Union[str, os.PathLike],
             overwrite: bool = False) -> None:
        """Write the annotator to directory ``path`` (whole or not at all)."""
        from deepchem_actinn.io.output import atomic_output_dir
        self._check_fitted()
        config = {
            "format_version": FORMAT_VERSION,
            "package_version": __version__,
            "params": self._params(),
            "genes": self.genes_,
            "type_names": list(self.labels_.type_names),
            "temperature": self.temperature_,
            "threshold": self.threshold_,
            "calibration": self.calibration_,
            "histories": self.histories_,
            "n_reference_cells": self.n_reference_cells_,
        }
        with atomic_output_dir(path, overwrite=overwrite) as tmp:
            with open(os.path.join(tmp, CONFIG_FILE), "w") as handle:
                json.dump(config, handle, indent=1)
            torch.save([network.state_dict() for network in self.networks_],
                       os.path.join(tmp, WEIGHTS_FILE))
            torch.save(self.rule_.to_dict(), os.path.join(tmp, RULE_FILE))

    @classmethod
    def load(
            cls,
            path: Union[str, os.PathLike],
            device: Optional[Union[str,
                                   torch.device]] = None) -> "ACTINNAnnotator":
        """Read an annotator written by :meth:`save`."""
        path = os.fspath(path)
        config_path = os.path.join(path, CONFIG_FILE)
        if not os.path.isdir(path):
            raise ACTINNInputError("%s: no such annotator directory" % path)
        if not os.path.isfile(config_path) or not os.path.isfile(
                os.path.join(path, WEIGHTS_FILE)):
            raise ACTINNInputError(
                "%s is not an ACTINN annotator directory (it has no %s and "
                "%s); make one with `actinn train` or "
                "ACTINNAnnotator.save()" % (path, CONFIG_FILE, WEIGHTS_FILE))
        try:
            with open(config_path) as handle:
                config = json.load(handle)
        except ValueError as err:
            raise ACTINNInputError("%s is damaged: %s" % (config_path, err))
        version = config.get("format_version")
        if version != FORMAT_VERSION:
            raise ACTINNInputError(
                "%s was written in annotator format %r by deepchem-actinn %s; "
                "this is deepchem-actinn %s, which reads format %d: retrain "
                "it or install the version that wrote it" %
                (path, version, config.get("package_version",
                                           "?"), __version__, FORMAT_VERSION))
        params = dict(config["params"])
        annotator = cls(**params, device=device)
        annotator.labels_ = CellTypeLabels(config["type_names"])
        annotator.genes_ = list(config["genes"])
        annotator.temperature_ = float(config["temperature"])
        annotator.threshold_ = float(config["threshold"])
        annotator.calibration_ = config.get("calibration", {})
        annotator.histories_ = config.get("histories", [{}])
        annotator.n_reference_cells_ = config.get("n_reference_cells")
        annotator.package_version_ = str(config.get("package_version"))
        states = torch.load(os.path.join(path, WEIGHTS_FILE),
                            map_location=_device(device) or "cpu",
                            weights_only=True)
        if not isinstance(states, list) or not all(
                isinstance(state, dict) for state in states):
            raise ACTINNInputError(
                "%s: %s does not hold a list of network weights; the "
                "directory is damaged or was not written by "
                "ACTINNAnnotator.save()" % (path, WEIGHTS_FILE))
        annotator.rule_ = conf.RejectionRule.from_dict(
            torch.load(os.path.join(path, RULE_FILE), weights_only=True))
        annotator.networks_ = []
        for member, state in enumerate(states):
            network = annotator._new_network(member)
            try:
                network.load_state_dict(state)
            except RuntimeError as err:
                raise ACTINNInputError(
                    "%s: the network weights do not fit this version's "
                    "network (%s); retrain the annotator" %
                    (path, str(err).splitlines()[0]))
            annotator.networks_.append(network)
        annotator._models = None
        return annotator


def _input_blocks(X: Matrix, device: torch.device) -> Iterator[Tuple[int, Any]]:
    """``(first row, network input)`` for blocks of ``PREDICT_BLOCK`` cells:
    a dense tensor, or for sparse X a CSR triple of tensors."""
    sparse = sp.issparse(X)
    for start in range(0, X.shape[0], PREDICT_BLOCK):
        block = [
            torch.from_numpy(a).to(device)
            for a in network_input(X, slice(start, start +
                                            PREDICT_BLOCK), sparse)
        ]
        yield start, (block if sparse else block[0])


def _member_state(network: torch.nn.Module, i: int) -> Dict[str, torch.Tensor]:
    """Copy of member ``i``'s weights, as a single network's state dict."""
    if isinstance(network, ACTINNEnsemble):
        return network.member_state(i)
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


def _device(device) -> Optional[torch.device]:
    return None if device is None else torch.device(device)


def _rows(X: Matrix, idx: np.ndarray) -> Matrix:
    return X[idx] if not sp.issparse(X) else sp.csr_matrix(X)[idx]


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=1, keepdims=True)
    return top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True))


def annotate(adata,
             annotator: ACTINNAnnotator,
             layer: Optional[str] = None,
             use_raw: bool = False,
             unassigned: bool = False,
             threshold: Optional[float] = None,
             key_added: str = "actinn") -> Annotation:
    """Annotate an AnnData in place, the way scanpy tools do.

    Writes ``obs[key_added + "_cell_type"]`` (categorical),
    ``obs[key_added + "_confidence"]``, ``obsm[key_added + "_probabilities"]``
    (cells x types) and ``uns[key_added]`` (type names, genes matched, model
    version), so predictions can be plotted on a UMAP straight away. Counts
    are read from ``X``, ``layers[layer]`` or ``.raw``; gene identifiers from
    ``var_names`` or whichever string column of ``var`` matches the model's
    genes best.

    Returns
    -------
    Annotation
    """
    if use_raw:
        if adata.raw is None:
            raise ACTINNInputError("use_raw=True but this AnnData has no .raw")
        X, var = adata.raw.X, adata.raw.var
        var_names = adata.raw.var_names
    elif layer is not None:
        if layer not in adata.layers:
            raise ACTINNInputError(
                "no layer %r; layers are: %s" %
                (layer, examples(list(adata.layers)) or "none"))
        X, var, var_names = adata.layers[layer], adata.var, adata.var_names
    else:
        X, var, var_names = adata.X, adata.var, adata.var_names
    candidates = gene_candidates(var_names, var)
    column, matched = choose_gene_column(annotator.genes_, candidates,
                                         annotator.min_overlap)
    if column != "var_names":
        logger.warning("matched genes through %s (%d of the model's %d genes)",
                       column, matched, len(annotator.genes_))
    result = annotator._annotate(X,
                                 annotator.gene_positions(candidates[column]),
                                 adata.obs_names, unassigned, threshold, column)
    adata.obs[key_added + "_cell_type"] = pd.Categorical(result.cell_types)
    adata.obs[key_added + "_confidence"] = result.confidence
    adata.obsm[key_added + "_probabilities"] = result.probabilities
    adata.uns[key_added] = {
        "type_names": result.type_names,
        "genes_missing": result.genes_missing,
        "gene_column": column,
        "package_version": __version__,
    }
    return result
