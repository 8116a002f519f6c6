"""Saving and loading a trained annotator (format 1).

A saved annotator is a directory: ``annotator.json`` (hyperparameters,
genes, type names, calibration, histories, versions), ``weights.pt`` (a list
with one :class:`~deepchem_actinn.models.network.ACTINNClassifier` state
dict per ensemble member), ``rejection.pt`` (the ``Unassigned`` rule) and
``profiles.pt`` (each type's mean share of each model gene's counts, for
``remove_ambient``; absent in annotators saved before it; the cells each
type's profile rests on are ``profile_cells`` in ``annotator.json``), and with
``linear_weight`` ``linear.pt`` (the linear member's arrays).
Weights are read with ``weights_only=True``: loading runs no pickled code.
Everything loaded is checked first
(:mod:`deepchem_actinn.annotator.saved_state`): the checksums catch files
swapped by accident, the checks an annotator edited on purpose.
"""
import json
import logging
import os
import pickle
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Type, Union

import numpy as np
import torch

from deepchem_actinn._version import __version__
from deepchem_actinn.annotator.params import UNSAVED, resolve
from deepchem_actinn.annotator.provenance import check_record, legacy_record
from deepchem_actinn.annotator.saved_state import (check_config,
                                                   check_profile_cells,
                                                   check_rule, check_states,
                                                   inside, load_tensors,
                                                   refuse_nonfinite)
from deepchem_actinn.confidence import RejectionRule
from deepchem_actinn.errors import ACTINNInputError, examples, first_line
from deepchem_actinn.labels import CellTypeLabels
from deepchem_actinn.models.device import DeviceLike, usable_device
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
OURS = (CONFIG_FILE, WEIGHTS_FILE, RULE_FILE, PROFILE_FILE, LINEAR_FILE)
#: What file browsers and notebooks leave, deleted with an overwritten
#: annotator (as are macOS's ``._*`` files).
HARMLESS = (".DS_Store", ".ipynb_checkpoints", ".gitkeep", ".keep")


def refuse_foreign_files(path: Union[str, os.PathLike],
                         overwrite: bool) -> None:
    """Refuse a path that names a file (or a link to one), overwrite or
    not: an annotator is a directory, and overwriting would delete the file
    (the training input itself, with ``-m`` given the reference's name).
    Overwriting replaces the whole directory: refuse one that holds
    anything but an annotator's files (and what file browsers and notebooks
    leave: ``.DS_Store``, ``._*``, ``.ipynb_checkpoints``, and the
    placeholders ``.gitkeep`` and ``.keep``), hidden ones
    such as ``.git`` included, rather than delete it.

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.annotator.persistence import refuse_foreign_files
    >>> from deepchem_actinn.errors import ACTINNInputError
    >>> path = os.path.join(tempfile.mkdtemp(), "ref.h5ad")
    >>> _ = open(path, "w").write("counts")
    >>> try:
    ...     refuse_foreign_files(path, overwrite=True)
    ... except ACTINNInputError as err:
    ...     print(str(err).replace(path, "ref.h5ad"))
    ref.h5ad names a file, not an annotator's directory (an annotator is saved as a directory, which would take the file's place); save it under another name
    """
    if os.path.exists(path) and not os.path.isdir(path):
        link = (" (a link to %s)" %
                os.path.realpath(path) if os.path.islink(path) else "")
        raise ACTINNInputError(
            "%s names a file%s, not an annotator's directory (an annotator "
            "is saved as a directory, which would take the file's place); "
            "save it under another name" % (path, link))
    if not overwrite or not os.path.isdir(path):
        return
    foreign = sorted(name for name in set(os.listdir(path)) - set(OURS)
                     if name not in HARMLESS and not name.startswith("._"))
    if foreign:
        raise ACTINNInputError(
            "%s holds files that are not an annotator's (%s); overwriting "
            "replaces the whole directory, so it replaces only an earlier "
            "annotator: save elsewhere, or move those files" %
            (path, examples(foreign)))


def _saved_params(annotator: "ACTINNAnnotator") -> Dict[str, Any]:
    """The hyperparameters to save, all but ``device``, checked and in plain
    types (:func:`~deepchem_actinn.annotator.params.resolve`; sequences as
    lists); without ``linear_weight`` when it is 0, so that versions
    before it still load such an annotator."""
    params = {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in resolve(annotator.get_params()).items()
        if name not in UNSAVED
    }
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
        "training": annotator.training_,
    }
    cells = annotator.profile_cells_
    if cells is not None and annotator.type_profiles_ is not None:
        config["profile_cells"] = [int(n) for n in cells]
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
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_files(path: str, config: Dict[str, Any]) -> None:
    """Refuse files that are not those the annotator was saved with (from
    another annotator, or changed since), checksums naming other files than
    an annotator's, and an annotator file the checksums leave out.
    Annotators saved before the checksums were kept load with a warning
    that their files are not verified."""
    checksums = config.get("checksums")
    if checksums is None or checksums == {}:
        logger.warning(
            "%s has no checksums (saved by a version before them, or "
            "edited): its files are not verified", path)
        checksums = {}
    if not isinstance(checksums, dict):
        raise ACTINNInputError(
            "%s is damaged: its checksums are %s, not an "
            "object" %
            (os.path.join(path, CONFIG_FILE), type(checksums).__name__))
    strangers = sorted(set(checksums) - set(OURS[1:]))
    if strangers:
        raise ACTINNInputError(
            "%s: its checksums name %s, not an annotator's files; the "
            "annotator.json was edited: save or train the annotator again" %
            (path, examples(strangers)))
    unchecked = [
        name for name in OURS[1:] if checksums and name not in checksums and
        os.path.lexists(os.path.join(path, name))
    ]
    if unchecked:
        raise ACTINNInputError(
            "%s: %s is not among the files this annotator was saved with "
            "(the annotator.json has no checksum for it); save or train the "
            "annotator again" % (path, unchecked[0]))
    for name in OURS[1:]:
        if os.path.lexists(os.path.join(path, name)):
            inside(path, name)
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
    ``device`` (CUDA when available for None; one PyTorch cannot compute on
    here is refused, naming the device, before the weights are read)."""
    path = os.fspath(path)
    config = _read_config(path)
    _check_files(path, config)
    # a device PyTorch cannot compute on is refused as such, not as a
    # damaged directory; the files are read on the CPU
    target = usable_device(device)
    try:
        annotator = _load(cls, path, config, device)
    except (KeyError, TypeError, AttributeError, ValueError, OSError,
            pickle.UnpicklingError, RuntimeError) as err:
        if isinstance(err, ACTINNInputError):
            raise
        raise ACTINNInputError(
            "%s: the annotator directory is damaged or incomplete (%s: %s); "
            "save or train it again" %
            (path, type(err).__name__, first_line(err))) from None
    try:
        annotator.ensemble_ = annotator.ensemble_.to(target)
    except RuntimeError as err:  # out of memory, say: the device's problem
        raise ACTINNInputError(
            "device %s: the annotator's networks cannot be put there (%s: %s)" %
            (device, type(err).__name__, first_line(err))) from None
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
    check_config(os.path.join(path, CONFIG_FILE), config)
    for name in ("hidden_sizes", "total_percentiles", "cv_percentiles"):
        if isinstance(params.get(name), list):  # JSON has no tuples
            params[name] = tuple(params[name])
    annotator = cls(**params, device=device)
    annotator.labels_ = CellTypeLabels.in_order(config["type_names"])
    annotator.genes_ = list(config["genes"])
    annotator.temperature_ = float(config["temperature"])
    annotator.threshold_ = float(config["threshold"])
    annotator.calibration_ = config.get("calibration", {})
    annotator.histories_ = config.get("histories", [{}])
    n_cells: Any = config.get("n_reference_cells")  # absent in old files
    annotator.n_reference_cells_ = n_cells
    annotator.training_ = config.get("training") or legacy_record(
        config.get("package_version"))  # absent before 0.1.0's records
    check_record(os.path.join(path, CONFIG_FILE), annotator.training_)
    weights_path = os.path.join(path, WEIGHTS_FILE)
    states = load_tensors(weights_path)
    check_states(weights_path, states, len(annotator.genes_),
                 annotator.labels_.n_types, annotator.hidden_sizes)
    rule_path = os.path.join(path, RULE_FILE)
    rule = load_tensors(rule_path)
    check_rule(rule_path, rule,
               int(annotator.hidden_sizes[-1]) * len(states),
               annotator.labels_.n_types)
    annotator.rule_ = RejectionRule.from_dict(rule)
    annotator.type_profiles_ = _profiles(path, annotator)
    cells: Any = config.get("profile_cells")  # absent in older annotators
    check_profile_cells(os.path.join(path, CONFIG_FILE), cells,
                        annotator.labels_.n_types)
    annotator.profile_cells_ = (None if cells is None or
                                annotator.type_profiles_ is None else
                                np.asarray(cells, dtype=np.int64))
    annotator.linear_ = _linear(path, annotator)
    annotator.ensemble_ = _ensemble(states, len(annotator.genes_),
                                    annotator.labels_.n_types,
                                    annotator.hidden_sizes, path)
    return annotator


def _profiles(path: str, annotator: "ACTINNAnnotator") -> Optional[np.ndarray]:
    """The saved per-type gene profiles (None when the file is absent:
    annotators saved before it existed)."""
    profile_path = os.path.join(path, PROFILE_FILE)
    if not os.path.isfile(profile_path):  # saved without (the checksums
        return None  # say when it should be there)
    table = load_tensors(profile_path)
    shape = (annotator.labels_.n_types, len(annotator.genes_))
    if not isinstance(table, torch.Tensor) or tuple(table.shape) != shape:
        raise ACTINNInputError(
            "%s does not hold a %d x %d table of gene profiles per type; "
            "the directory is damaged" % (profile_path, shape[0], shape[1]))
    refuse_nonfinite(profile_path, {"the profiles": table})
    if bool((table < 0).any()):
        raise ACTINNInputError(
            "%s: the profiles hold negative shares of counts; the directory "
            "is damaged" % profile_path)
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
    arrays = load_tensors(linear_path)
    if not isinstance(arrays, dict) or not all(
            isinstance(t, torch.Tensor) for t in arrays.values()):
        raise ACTINNInputError(
            "%s does not hold the regression's arrays; the directory is "
            "damaged" % linear_path)
    refuse_nonfinite(linear_path, arrays)
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
                "network (%s); retrain the annotator" % (path, first_line(err)))
        members.append(network)
    return ACTINNEnsemble(members)
