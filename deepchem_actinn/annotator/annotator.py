"""A trained ACTINN annotator: fit on a labelled reference once, save it,
and annotate any number of new datasets with it.

A facade: this module holds its hyperparameters, fitting and saving.
Prediction: :class:`~deepchem_actinn.annotator.prediction.AnnotatorPrediction`;
the reference made training input:
:mod:`deepchem_actinn.annotator.training_input`; training:
:mod:`deepchem_actinn.models.training`; scoring:
:mod:`deepchem_actinn.models.inference`; calibration and the rule:
:mod:`deepchem_actinn.confidence`; saving:
:mod:`deepchem_actinn.annotator.persistence`.
"""
import os
from types import SimpleNamespace
from typing import (TYPE_CHECKING, Any, Callable, Dict, List, Optional,
                    Sequence, Tuple, Union)

import numpy as np
import pandas as pd

from deepchem_actinn import confidence as conf
from deepchem_actinn.annotator import fitting, provenance, training_input
from deepchem_actinn.annotator.params import (UNSAVED, Hyperparameters,
                                              model_settings, param_names,
                                              resolve, training_settings)
from deepchem_actinn.annotator.prediction import AnnotatorPrediction
from deepchem_actinn.models.batches import epoch_source
from deepchem_actinn.models.device import (DeviceLike, resolve_device,
                                           usable_device)
from deepchem_actinn.models.inference import embed
from deepchem_actinn.models.linear import LINEAR_WEIGHT, fit_linear
from deepchem_actinn.models.network import ACTINNClassifier, seeded_ensemble
from deepchem_actinn.models.training import train_ensemble
from deepchem_actinn.types import Matrix

if TYPE_CHECKING:  # DeepChem is imported only for the models_ views
    from deepchem_actinn.models.actinn import ACTINNModel


class ACTINNAnnotator(Hyperparameters, AnnotatorPrediction):
    """Train ACTINN [1]_ on a labelled reference once; annotate many queries.

    ``fit`` takes raw counts (cells x genes, dense or SciPy sparse), gene
    names and cell-type labels; it normalises (:func:`library_size_log`),
    fits the gene filter (:class:`GeneFilterTransformer`) and trains
    ``n_networks`` ACTINN networks side by side in one
    :class:`ACTINNEnsemble` (plain PyTorch), holding out a stratified
    ``validation_fraction`` of the reference for early stopping and
    temperature scaling [2]_. ``predict`` takes a query from any source,
    its genes aligned to the model's by name, missing genes set to zero.

    The parameters follow scikit-learn's conventions: kept as given
    (:meth:`get_params`, :meth:`set_params`), checked at construction and
    again by ``fit``, so that :func:`sklearn.base.clone` gives an equal,
    unfitted annotator.

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
    batch_size, learning_rate, decay_rate, decay_steps:
        As in :class:`ACTINNModel`.
    weight_decay, hidden_sizes:
        :class:`ACTINNModel`'s ``weight_decay_penalty`` and
        ``layer_sizes``.
    target_sum: float, default 10,000
        Each cell's counts in the model's genes are scaled to this total
        (:func:`library_size_log`).
    log_base: float, default 2
        Base of the ``log(x + 1)`` after scaling (``base`` of
        :func:`library_size_log`).
    total_percentiles, cv_percentiles: (float, float), default (0, 100)
        ACTINN's gene filter (:class:`GeneFilterTransformer`; ACTINN's
        ``(1, 99)``): kept genes lie within these percentiles of total
        expression and of coefficient of variation. The default keeps every
        expressed gene: the top 1 % ACTINN cuts hold rare types' markers
        (macro F1 0.957-0.971 keeping them, 0.943-0.949 cutting them).
    min_overlap: float, default 0.5
        Smallest share of the model's genes a query must hold.
    rejection_rate: float, default 0.0075
        Share of held-out reference cells the ``Unassigned`` rule rejects,
        which sets its threshold (leave-one-type-out benchmark, with the
        default rule: 0.75 % rejects 1.25 % of known cells on average, 2.91 %
        in the worst of 36 runs; the README's table).
    augment: None, True or dict, default None
        Train also on thinned copies of the training cells, as other
        technologies would measure them
        (:class:`~deepchem_actinn.preprocessing.augment.Augmentation`:
        ``copies``, ``depth``, ``capture_sigma``, ``dropout``; True for its
        defaults). Held-out cells are never augmented.
    linear_weight: float, default 0.5
        Weight of a logistic regression (:mod:`~deepchem_actinn.models.linear`:
        genes scaled to unit variance, clipped at 10, up to 20,000 training
        cells, same ``class_weight``) averaged with the networks. 0.5 beat
        the networks alone on the README's droplet and immune queries and
        the bundled split; 0 is ACTINN's networks alone, as are ``models_``.
    seed: int, default 0
        Seeds the split, the weights and the shuffling.
    device: str or torch.device, optional
        Where to train and predict; None: CUDA when available, else the
        CPU. The fitted networks stay where they trained. ``fit`` refuses a
        device PyTorch cannot use here (``ACTINNInputError``).

    Attributes
    ----------
    genes_: list of str
        The model's genes, in the networks' input order (set by ``fit``).
    labels_: CellTypeLabels
        Type names <-> class ids; ``type_names`` lists the types in order.
    ensemble_: ACTINNEnsemble
        The trained networks; ``networks_``, ``models_`` (as ACTINNModel)
        copy them one by one.
    linear_: LinearMember or None
        The logistic regression averaged in (None if ``linear_weight`` is 0).
    histories_: list of dict
        Each network's per-epoch losses; ``history_`` is the first one's.
    temperature_, calibration_, threshold_: float, dict, float
        As :func:`~deepchem_actinn.confidence.calibration.calibrate` returns;
        ``calibration_["ece_average"]`` is the calibration error of what
        ``predict`` gives (with the linear member) on the held-out cells.
    rule_: RejectionRule
        The ``Unassigned`` rule fitted on the held-out cells.
    type_profiles_: np.ndarray
        Each type's mean expression profile (types x genes).
    profile_cells_: np.ndarray or None
        The reference cells each type's profile rests on, which the
        ambient-RNA warning judges by (None in annotators saved without).
    n_reference_cells_, package_version_: int, str
        Labelled reference cells; the package version that trained it.
    training_: dict
        How it was trained: versions, device and threads, cells per type,
        the reference's source (:mod:`~deepchem_actinn.annotator.provenance`).

    Examples
    --------
    >>> from deepchem_actinn import ACTINNAnnotator, load_tabula_muris_sample
    >>> train, test = load_tabula_muris_sample()
    >>> annotator = ACTINNAnnotator(max_epochs=3).fit(
    ...     train.X, train.var_names, train.obs["cell_type"])
    >>> result = annotator.predict(test.X, test.var_names, test.obs_names)
    >>> result.probabilities.shape
    (1000, 12)
    >>> from sklearn.base import clone
    >>> clone(annotator)  # the same parameters, not fitted
    <ACTINNAnnotator: not fitted>

    References
    ----------
    .. [1] Ma, F. and Pellegrini, M. "ACTINN: automated identification of
       cell types in single cell RNA sequencing." Bioinformatics 36(2),
       533-538 (2020).
    .. [2] Guo, C., Pleiss, G., Sun, Y. and Weinberger, K. Q. "On
       calibration of modern neural networks." ICML (2017).
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
                 augment: Union[None, bool, Dict[str, Any]] = None,
                 linear_weight: float = LINEAR_WEIGHT,
                 seed: int = 0,
                 device: DeviceLike = None) -> None:
        self.n_networks = n_networks
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.max_validation_cells = max_validation_cells
        self.class_weight = class_weight
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.decay_rate = decay_rate
        self.decay_steps = decay_steps
        self.hidden_sizes = hidden_sizes
        self.target_sum = target_sum
        self.log_base = log_base
        self.total_percentiles = total_percentiles
        self.cv_percentiles = cv_percentiles
        self.min_overlap = min_overlap
        self.rejection_rate = rejection_rate
        self.augment = augment
        self.linear_weight = linear_weight
        self.seed = seed
        self.device = device
        resolve(self.get_params())  # refuse bad values now; fit checks again
        self._models: Optional[List["ACTINNModel"]] = None

    def _settings(self) -> SimpleNamespace:
        """The parameters checked and in the types fitting uses
        (:func:`~deepchem_actinn.annotator.params.resolve`): values set
        after construction are checked here."""
        return SimpleNamespace(**resolve(self.get_params()))

    # ------------------------------------------------------------------ fit
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
            Cell-type name of each cell, in row order. A pandas Series with
            an index of its own is matched to ``cell_ids`` by id when they
            are given (a cell whose id it lacks is refused, naming it), and
            taken in row order when they are not, as scikit-learn takes
            ``y``. Every cell needs one.
        cell_ids: sequence of str, optional
            Cell ids, one per row, for error messages (and the labels).
        progress: callable, optional
            Called after each epoch with a dict (``epoch``, ``max_epochs``,
            ``n_networks``, and the networks' mean ``train_loss``,
            ``valid_loss`` and ``valid_accuracy``).

        Returns
        -------
        self
        """
        hp = self._settings()
        device = usable_device(hp.device)  # before any work, one message
        X, gene_names, label_names = training_input.checked_reference(
            X, genes, labels, cell_ids)
        self.labels_, y, train_idx, valid_idx, weights = fitting.encode_labels(
            hp, label_names)
        (self.genes_, Xf, X_train, y_train, w_train,
         rows) = training_input.in_memory(hp, X, gene_names, y, weights,
                                          train_idx, cell_ids)
        epoch = epoch_source(X_train, y_train, w_train, hp.batch_size, device,
                             rows)
        ref_idx = fitting.reference_sample(y, train_idx, hp.seed)
        return self._fit_networks(hp, epoch, fitting.rows(Xf, valid_idx),
                                  y[valid_idx], y, progress,
                                  fitting.rows(Xf, ref_idx), y[ref_idx],
                                  {"out_of_core": False})

    def fit_file(self,
                 path: Union[str, os.PathLike],
                 labels: Union[pd.Series, str, os.PathLike],
                 format: Optional[str] = None,
                 upper_case_genes: bool = True,
                 block_size: int = 4096,
                 buffer_cells: int = 65536,
                 progress: Optional[Callable[[Dict[str, Any]], None]] = None,
                 labelled_only: bool = False,
                 genes: Optional[Sequence[str]] = None,
                 allow_non_integer: bool = False,
                 *,
                 layer: Optional[str] = None,
                 use_raw: Optional[bool] = None,
                 orientation: Optional[str] = None) -> "ACTINNAnnotator":
        """Train on a reference file too large for memory.

        The file is read block by block
        (:class:`~deepchem_actinn.annotator.reference_file.ReferenceFile`):
        one pass for the gene statistics and the held-out cells, then one
        shuffled pass per epoch, so memory is bounded by ``buffer_cells``
        and the held-out cells, not by the reference's size. The networks
        see the input :meth:`fit` gives them for the same cells. Under
        torchrun the processes share the reading: each pass, each process
        reads only its own blocks of the file
        (:meth:`~deepchem_actinn.annotator.reference_file.ReferenceFile.scan`,
        :meth:`~deepchem_actinn.annotator.reference_file.ReferenceFile.epoch`).

        Parameters
        ----------
        path: str or Path
            Raw counts (h5ad, ACTINN HDF5 and 10x HDF5 stream from disk).
        labels: pandas.Series, path or str
            Cell type by cell id, a labels file, or (h5ad) the name of an
            ``obs`` column holding them, as CellTypist takes ``labels``.
        format: str, optional
            Force the file format.
        upper_case_genes: bool, default True
            As in :func:`deepchem_actinn.io.read`.
        block_size: int, default 4096
            Cells read at a time.
        buffer_cells: int, default 65536
            Cells shuffled together.
        progress: callable, optional
            As in :meth:`fit`.
        labelled_only: bool, default False
            Leave out the cells ``labels`` has no label for (from the gene
            statistics, training, validation and the ``Unassigned`` rule),
            as :meth:`fit` on the labelled cells alone; by default they are
            refused.
        genes: sequence of str, optional
            Train on these of the file's genes only, as :meth:`fit` on them
            (e.g. the genes the query measures:
            :func:`~deepchem_actinn.preprocessing.genes.measured_genes`).
        allow_non_integer: bool, default False
            Take non-integer values as counts on another scale (TPM, FPKM);
            values that look log-normalised are refused even so.
        layer, use_raw:
            h5ad only: read the counts from ``layers[layer]`` or
            (``use_raw=True``) ``.raw.X``; ``use_raw=False`` insists on
            ``X``. By default ``X``, or the first of ``.raw.X`` and
            ``layers['counts']`` that holds counts when ``X`` does not, as
            :func:`deepchem_actinn.io.read` chooses.
        orientation: str, optional
            CSV/TSV only: ``"genes_by_cells"`` (ACTINN's layout, the
            default) or ``"cells_by_genes"``.
        """
        hp = self._settings()
        usable_device(hp.device)  # before reading the file, one message
        fed = training_input.from_file(hp, path, labels, format,
                                       upper_case_genes, block_size,
                                       buffer_cells, labelled_only, genes,
                                       allow_non_integer, layer, use_raw,
                                       orientation)
        self.labels_, self.genes_ = fed.labels, fed.genes
        return self._fit_networks(hp, fed.epoch, fed.X_valid, fed.y_valid,
                                  fed.y, progress, fed.X_ref, fed.y_ref,
                                  fed.source)

    def _fit_networks(self, hp: SimpleNamespace, epoch: Callable,
                      X_valid: Matrix, y_valid: np.ndarray, y: np.ndarray,
                      progress: Optional[Callable], X_ref: Optional[Matrix],
                      y_ref: Optional[np.ndarray],
                      source: Dict[str, Any]) -> "ACTINNAnnotator":
        """Train, calibrate on held-out cells, fit the ``Unassigned`` rule
        (``hp``: :meth:`_settings`; ``y``: every labelled cell's class;
        ``source``: where they came from, for ``training_``)."""
        fitting.refuse_unequal_references(self.genes_, self.labels_.type_names,
                                          len(y), X_valid, y_valid, X_ref)
        fitting.warn_small_types(self.labels_.type_names, y, y_valid)
        ensemble = seeded_ensemble(len(self.genes_), self.labels_.n_types,
                                   hp.hidden_sizes, hp.n_networks,
                                   hp.seed).to(resolve_device(hp.device))
        self.histories_ = train_ensemble(ensemble,
                                         epoch,
                                         X_valid,
                                         y_valid,
                                         progress=progress,
                                         **training_settings(hp))
        fitting.refuse_diverged(ensemble, self.histories_[0], hp.learning_rate)
        self.ensemble_ = ensemble
        self._models = None
        valid = embed(ensemble, X_valid)
        self.temperature_, self.calibration_, self.threshold_ = \
            conf.calibrate(valid[1], y_valid, hp.rejection_rate)
        self.rule_ = fitting.fit_rule(ensemble, valid, y_valid, X_ref, y_ref,
                                      hp.rejection_rate, self.temperature_,
                                      hp.seed)
        X_some, y_some = ((X_ref, y_ref) if X_ref is not None and
                          y_ref is not None else (X_valid, y_valid))
        self.type_profiles_, self.profile_cells_ = fitting.reference_profiles(
            X_some, y_some, self.labels_.n_types, hp.log_base)
        self.linear_ = fit_linear(
            X_some, y_some, self.labels_.n_types, hp.seed,
            hp.class_weight) if hp.linear_weight > 0 else None
        self.calibration_["ece_average"] = fitting.check_average_calibration(
            self, X_valid, valid[1], y_valid)
        self.n_reference_cells_ = len(y)
        self.training_ = provenance.training_record(self.labels_.type_names, y,
                                                    len(y_valid),
                                                    ensemble.device, source)
        return self

    # ------------------------------------------------------ fitted state
    @property
    def networks_(self) -> List[ACTINNClassifier]:
        """The ensemble's members as standalone networks (copies)."""
        self._check_fitted()
        return [self.ensemble_.member(i) for i in range(len(self.ensemble_))]

    @property
    def models_(self) -> List["ACTINNModel"]:
        """The members as DeepChem :class:`ACTINNModel` objects, for
        ``predict``, ``evaluate`` or further training (made on first use,
        from copies of the members' weights), on datasets made by
        :meth:`to_dataset`. Each is one network alone, uncalibrated: the
        annotator's :meth:`predict` calibrates and averages them (and, with
        ``linear_weight``, the linear member), so its probabilities differ."""
        self._check_fitted()
        if self._models is None:
            from deepchem_actinn.models.actinn import ACTINNModel
            hp = self._settings()
            self._models = [
                ACTINNModel.from_network(network,
                                         device=self.ensemble_.device,
                                         **model_settings(hp, member))
                for member, network in enumerate(self.networks_)
            ]
        return self._models

    @property
    def package_version_(self) -> str:
        """The package version that trained it (``training_``)."""
        return str(self.training_["package_version"])

    @property
    def history_(self) -> Dict[str, list]:
        """Training history (per-epoch losses) of the first network."""
        return self.histories_[0]

    @property
    def type_names(self) -> List[str]:
        """The reference cell types, in class-id order."""
        self._check_fitted()
        return list(self.labels_.type_names)

    # ------------------------------------------------------- save and load
    def save(self,
             path: Union[str, os.PathLike],
             overwrite: bool = False) -> None:
        """Write the annotator to directory ``path`` (whole or not at all),
        in format 1 (:mod:`deepchem_actinn.annotator.persistence`).

        Parameters
        ----------
        path: str or os.PathLike
            The directory to write; made if missing.
        overwrite: bool, default False
            Replace an existing annotator directory at ``path``.

        Raises
        ------
        ACTINNInputError
            ``path`` exists and ``overwrite`` is False, or holds other files.
        """
        from deepchem_actinn.annotator.persistence import save_annotator
        self._check_fitted()
        self._check_linear()
        save_annotator(self, path, overwrite)

    @classmethod
    def load(cls,
             path: Union[str, os.PathLike],
             device: DeviceLike = None) -> "ACTINNAnnotator":
        """Read an annotator written by :meth:`save`.

        Parameters
        ----------
        path: str or os.PathLike
            A directory written by :meth:`save`.
        device: str or torch.device, optional
            Where to put the networks; None: CUDA when available, else CPU.

        Returns
        -------
        ACTINNAnnotator

        Raises
        ------
        ACTINNInputError
            ``path`` is not an annotator directory, or is damaged; or
            PyTorch cannot compute on ``device`` here.
        """
        from deepchem_actinn.annotator.persistence import load_annotator
        return load_annotator(cls, path, device)


#: The parameters saved with a trained annotator, in the order saved: the
#: constructor's, all but ``device``.
PARAMS = tuple(
    name for name in param_names(ACTINNAnnotator) if name not in UNSAVED)
