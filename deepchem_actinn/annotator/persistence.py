"""Saving and loading a trained annotator (format 1).

A saved annotator is a directory: ``annotator.json`` (hyperparameters,
genes, type names, calibration, histories, versions), ``weights.pt`` (a list
with one :class:`~deepchem_actinn.models.network.ACTINNClassifier` state
dict per ensemble member), ``rejection.pt`` (the ``Unassigned`` rule) and
``profiles.pt`` (each type's mean share of each model gene's counts, for
``remove_ambient``; absent in annotators saved before it), and with
``linear_weight`` ``linear.pt`` (the linear member's arrays).
Weights are read with ``weights_only=True``: loading runs no pickled code.
"""
import json
import logging
import os
import pickle
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Type, Union

import numpy as np
import torch

from deepchem_actinn._version import __version__
from deepchem_actinn.confidence import RejectionRule
from deepchem_actinn.errors import ACTINNInputError, examples
from deepchem_actinn.labels import CellTypeLabels
from deepchem_actinn.models.device import (DeviceLike, missing_gpu,
                                           resolve_device)
from deepchem_actinn.models.linear import LinearMember
from deepchem_actinn.models.network import ACTINNEnsemble, seeded_classifier

if TYPE_CHECKING:
    from deepchem_actinn.annotator.annotator import ACTINNAnnotator

logger = logging.getLogger(__name__)

#: Version of the saved-annotator layout; loading another version fails.
FORMAT_VERSION = 1
CONFIG_FILE = "annotator.json"
WEIGHTS_FILE = "weights.pt"
RULE_FILE = "rejection.pt"
PROFILE_FILE = "profiles.pt"
LINEAR_FILE = "linear.pt"


def refuse_foreign_files(path: Union[str, os.PathLike],
                         overwrite: bool) -> None:
    """Overwriting replaces the whole directory: refuse one that holds
    anything but an annotator's files (hidden ones aside, such as
    ``.DS_Store``), rather than delete it."""
    if not overwrite or not os.path.isdir(path):
        return
    ours = {CONFIG_FILE, WEIGHTS_FILE, RULE_FILE, PROFILE_FILE, LINEAR_FILE}
    foreign = sorted(name for name in set(os.listdir(path)) - ours
                     if not name.startswith("."))
    if foreign:
        raise ACTINNInputError(
            "%s holds files that are not an annotator's (%s); overwriting "
            "replaces the whole directory, so it replaces only an earlier "
            "annotator: save elsewhere, or move those files" %
            (path, examples(foreign)))


def _saved_params(annotator: "ACTINNAnnotator") -> Dict[str, Any]:
    """The hyperparameters to save: without ``linear_weight`` when it is 0,
    so that versions before it still load such an annotator."""
    params = annotator.get_params()
    if not params.get("linear_weight"):
        params.pop("linear_weight", None)
    return params


def save_annotator(annotator: "ACTINNAnnotator",
                   path: Union[str, os.PathLike],
                   overwrite: bool = False) -> None:
    """Write a fitted annotator to directory ``path`` (whole or not at
    all); see :meth:`ACTINNAnnotator.save`."""
    from deepchem_actinn.io.output import atomic_output_dir
    config = {
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "params": _saved_params(annotator),
        "genes": annotator.genes_,
        "type_names": list(annotator.labels_.type_names),
        "temperature": annotator.temperature_,
        "threshold": annotator.threshold_,
        "calibration": annotator.calibration_,
        "histories": annotator.histories_,
        "n_reference_cells": annotator.n_reference_cells_,
    }
    refuse_foreign_files(path, overwrite)
    with atomic_output_dir(path, overwrite=overwrite) as tmp:
        torch.save(annotator.ensemble_.member_states(),
                   os.path.join(tmp, WEIGHTS_FILE))
        torch.save(annotator.rule_.to_dict(), os.path.join(tmp, RULE_FILE))
        if annotator.type_profiles_ is not None:
            torch.save(
                torch.from_numpy(
                    np.asarray(annotator.type_profiles_, np.float32)),
                os.path.join(tmp, PROFILE_FILE))
        if annotator.linear_ is not None and annotator.linear_weight > 0:
            torch.save(
                {
                    name: torch.from_numpy(array)
                    for name, array in annotator.linear_.to_dict().items()
                }, os.path.join(tmp, LINEAR_FILE))
        config["checksums"] = {
            name: _checksum(os.path.join(tmp, name))
            for name in sorted(os.listdir(tmp))
        }
        with open(os.path.join(tmp, CONFIG_FILE), "w") as handle:
            json.dump(config, handle, indent=1)


def _checksum(path: str) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    import hashlib
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _check_files(path: str, config: Dict[str, Any]) -> None:
    """Refuse files that are not those the annotator was saved with (from
    another annotator, or changed since): annotators saved before the
    checksums were kept are not checked."""
    checksums = config.get("checksums", {})
    if not isinstance(checksums, dict):
        raise ACTINNInputError(
            "%s is damaged: its checksums are %s, not an "
            "object" %
            (os.path.join(path, CONFIG_FILE), type(checksums).__name__))
    for name, digest in sorted(checksums.items()):
        file_path = os.path.join(path, name)
        if not os.path.isfile(file_path):
            raise ACTINNInputError(
                "%s: %s is missing; the directory is damaged or incomplete: "
                "save or train the annotator again" % (path, name))
        if _checksum(file_path) != digest:
            raise ACTINNInputError(
                "%s: %s is not the file this annotator was saved with (its "
                "checksum differs: from another annotator, or changed "
                "since); save or train the annotator again" % (path, name))


def load_annotator(cls: Type["ACTINNAnnotator"],
                   path: Union[str, os.PathLike],
                   device: DeviceLike = None) -> "ACTINNAnnotator":
    """Read an annotator written by :func:`save_annotator`, its networks on
    ``device`` (:func:`resolve_device`: CUDA when available for None)."""
    path = os.fspath(path)
    config = _read_config(path)
    _check_files(path, config)
    target = resolve_device(device)  # a bad device is not a damaged model
    why = missing_gpu(target)
    if why:
        raise ACTINNInputError("device %s: %s" % (target, why))
    try:
        annotator = _load(cls, path, config, device)
    except (KeyError, TypeError, AttributeError, ValueError, OSError,
            pickle.UnpicklingError, RuntimeError) as err:
        if isinstance(err, ACTINNInputError):
            raise
        raise ACTINNInputError(
            "%s: the annotator directory is damaged or incomplete (%s: %s); "
            "save or train it again" %
            (path, type(err).__name__,
             str(err).splitlines()[0] if str(err) else "")) from None
    saved_by = config.get("package_version")
    if saved_by != __version__:
        logger.warning(
            "%s was saved by deepchem-actinn %s, this is %s: the format is the "
            "same, but how cells are normalised or judged Unassigned may "
            "differ between the two; retrain to be sure its labels are this "
            "version's", path, saved_by or "(an earlier version)", __version__)
    return annotator


def _load(cls: Type["ACTINNAnnotator"], path: str, config: Dict[str, Any],
          device: DeviceLike) -> "ACTINNAnnotator":
    """The annotator of a read config, its networks on ``device``."""
    import inspect
    params = dict(config["params"])
    unknown = sorted(set(params) - set(inspect.signature(cls).parameters))
    if unknown:
        raise ACTINNInputError(
            "%s was saved by deepchem-actinn %s with settings this version "
            "(%s) does not know: %s; install the version that wrote it, or "
            "retrain" % (path, config.get("package_version",
                                          "?"), __version__, examples(unknown)))
    params.setdefault("linear_weight", 0.0)  # saved without a regression
    annotator = cls(**params, device=device)
    annotator.labels_ = CellTypeLabels(config["type_names"])
    annotator.genes_ = list(config["genes"])
    annotator.temperature_ = float(config["temperature"])
    annotator.threshold_ = float(config["threshold"])
    annotator.calibration_ = config.get("calibration", {})
    annotator.histories_ = config.get("histories", [{}])
    n_cells: Any = config.get("n_reference_cells")  # absent in old files
    annotator.n_reference_cells_ = n_cells
    annotator.package_version_ = str(config.get("package_version"))
    target = resolve_device(device)
    states = torch.load(os.path.join(path, WEIGHTS_FILE),
                        map_location=target,
                        weights_only=True)
    if not isinstance(states, list) or not states or not all(
            isinstance(state, dict) for state in states):
        raise ACTINNInputError(
            "%s: %s does not hold a list of network weights; the "
            "directory is damaged or was not written by "
            "ACTINNAnnotator.save()" % (path, WEIGHTS_FILE))
    annotator.rule_ = RejectionRule.from_dict(
        torch.load(os.path.join(path, RULE_FILE), weights_only=True))
    annotator.type_profiles_ = _profiles(path, annotator)
    annotator.linear_ = _linear(path, annotator)
    annotator.ensemble_ = _ensemble(states, len(annotator.genes_),
                                    annotator.labels_.n_types,
                                    annotator.hidden_sizes, path).to(target)
    return annotator


def _profiles(path: str, annotator: "ACTINNAnnotator") -> Optional[np.ndarray]:
    """The saved per-type gene profiles (None when the file is absent:
    annotators saved before it existed)."""
    profile_path = os.path.join(path, PROFILE_FILE)
    if not os.path.isfile(profile_path):  # saved without (the checksums
        return None  # say when it should be there)
    table = torch.load(profile_path, map_location="cpu", weights_only=True)
    shape = (annotator.labels_.n_types, len(annotator.genes_))
    if not isinstance(table, torch.Tensor) or tuple(table.shape) != shape:
        raise ACTINNInputError(
            "%s does not hold a %d x %d table of gene profiles per type; "
            "the directory is damaged" % (profile_path, shape[0], shape[1]))
    return table.numpy()


def _linear(path: str, annotator: "ACTINNAnnotator") -> Optional[LinearMember]:
    """The saved linear member (None for an annotator without one)."""
    linear_path = os.path.join(path, LINEAR_FILE)
    if annotator.linear_weight == 0:
        return None
    if not os.path.isfile(linear_path):
        raise ACTINNInputError(
            "%s: linear_weight is %g but %s is missing; the directory is "
            "damaged" % (path, annotator.linear_weight, LINEAR_FILE))
    arrays = torch.load(linear_path, map_location="cpu", weights_only=True)
    member = LinearMember.from_dict(
        {name: tensor.numpy() for name, tensor in arrays.items()})
    shape = (annotator.labels_.n_types, len(annotator.genes_))
    if (member.coef.shape != shape or member.intercept.shape != shape[:1] or
            member.inv_scale.shape != shape[1:] or
            member.known.shape != shape[:1]):
        raise ACTINNInputError(
            "%s does not hold a regression over %d genes and %d types; the "
            "directory is damaged" % (linear_path, shape[1], shape[0]))
    return member


def _read_config(path: str) -> Dict[str, Any]:
    config_path = os.path.join(path, CONFIG_FILE)
    if os.path.isfile(path):
        raise ACTINNInputError(
            "%s is a file; an annotator is a directory, as `actinn train -m "
            "DIR` or ACTINNAnnotator.save(DIR) writes it" % path)
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
    if not isinstance(config, dict):
        raise ACTINNInputError("%s is damaged: it holds %s, not an object" %
                               (config_path, type(config).__name__))
    version = config.get("format_version")
    if version is None:
        raise ACTINNInputError(
            "%s is damaged: it has no format_version, so it was not written "
            "by ACTINNAnnotator.save() (or was edited since); retrain the "
            "annotator" % config_path)
    if version != FORMAT_VERSION:
        raise ACTINNInputError(
            "%s was written in annotator format %r by deepchem-actinn %s; "
            "this is deepchem-actinn %s, which reads format %d: retrain "
            "it or install the version that wrote it" %
            (path, version, config.get("package_version",
                                       "?"), __version__, FORMAT_VERSION))
    return config


def _ensemble(states: List[Dict[str, torch.Tensor]], n_genes: int, n_types: int,
              hidden_sizes, path: str) -> ACTINNEnsemble:
    """The ensemble whose members hold ``states`` (checked against the
    annotator's shape)."""
    members = []
    for state in states:
        network = seeded_classifier(n_genes, n_types, hidden_sizes, seed=0)
        try:
            network.load_state_dict(state)
        except RuntimeError as err:
            raise ACTINNInputError(
                "%s: the network weights do not fit this version's "
                "network (%s); retrain the annotator" %
                (path, str(err).splitlines()[0]))
        if not all(bool(torch.isfinite(t).all()) for t in state.values()):
            raise ACTINNInputError(
                "%s: the network weights hold NaN or infinite values (a "
                "training that diverged?); train the annotator again" % path)
        members.append(network)
    return ACTINNEnsemble(members)
