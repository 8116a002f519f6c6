"""What a saved annotator's files must hold before they are used.

An annotator directory may come from a colleague or the internet. Its
checksums catch files swapped or damaged by accident, not a file edited on
purpose (anyone can recompute them), so everything loaded is checked as
training would have made it: tensors only (no pickled objects), stored
uncompressed (a small file cannot expand to gigabytes), every shape agreeing
with the genes, types and hidden sizes before any network is built, every
number finite, gene and type names unique and no type named
``Unassigned``. Each refusal names the file and what is wrong in it.
"""
import math
import os
import pickle
import warnings
import zipfile
from typing import Any, Dict, Sequence, Tuple

import numpy as np
import torch

from deepchem_actinn.confidence import UNASSIGNED
from deepchem_actinn.errors import (ACTINNInputError, counted, examples,
                                    repeated)
from deepchem_actinn.preprocessing.genes import refuse_repeated_genes

#: How much larger than its file a saved ``.pt`` file's tensors may be
#: (``torch.save`` stores them uncompressed; the rest is the zip's
#: headers and the pickled layout).
MAX_EXPANSION = 1.05


def inside(path: str, name: str) -> str:
    """The path of file ``name`` of directory ``path``, refusing a name that
    is not a plain file name and a link to a file outside the directory."""
    if os.path.basename(name) != name or name in ("", ".", ".."):
        raise ACTINNInputError(
            "%s: its checksums name %r, which is not a file of the "
            "directory; the annotator.json was edited: save or train the "
            "annotator again" % (path, name))
    file_path = os.path.join(path, name)
    home = os.path.realpath(path)
    if os.path.commonpath([home, os.path.realpath(file_path)]) != home:
        raise ACTINNInputError(
            "%s: %s is a link to %s, outside the annotator directory; "
            "copy the file in instead of linking it" %
            (path, name, os.path.realpath(file_path)))
    return file_path


def load_tensors(file_path: str, map_location: Any = "cpu") -> Any:
    """``torch.load`` of a saved annotator's file, tensors and plain values
    only (no pickled code runs), refusing a file whose stored tensors would
    expand beyond :data:`MAX_EXPANSION` times its size."""
    size = os.path.getsize(file_path)
    try:
        with zipfile.ZipFile(file_path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        entries = None  # torch.load says what it is
    if entries is not None:
        packed = [e.filename for e in entries if e.compress_type != 0]
        unpacked = sum(e.file_size for e in entries)
        if packed or unpacked > MAX_EXPANSION * size + 65536:
            raise ACTINNInputError(
                "%s holds %s (%d bytes in a file of %d); torch.save writes "
                "tensors uncompressed: it was not written by "
                "ACTINNAnnotator.save(), refused unread" %
                (file_path, "compressed entries"
                 if packed else "more data than its size", unpacked, size))
    # held back until it loads: torch's warnings about a file it then
    # refuses (a raw pickle's protocol) would come before the one line
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded = torch.load(file_path,
                                map_location=map_location,
                                weights_only=True)
        except pickle.UnpicklingError:
            refused = True
        else:
            refused = False
    if refused:
        raise ACTINNInputError(
            "%s holds objects that are not tensors or plain values; it was "
            "not written by ACTINNAnnotator.save(), refused unread (none of "
            "its code was run)" % file_path)
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category,
                               warning.filename, warning.lineno)
    return loaded


def _finite(values: Any) -> bool:
    array = (values.detach().cpu().numpy() if isinstance(values, torch.Tensor)
             else np.asarray(values, dtype=float))
    return bool(np.isfinite(array).all())


def refuse_nonfinite(file_path: str, arrays: Dict[str, Any]) -> None:
    """Refuse a file whose named values hold NaN or infinite numbers."""
    bad = sorted(name for name, values in arrays.items()
                 if values is not None and not _finite(values))
    if bad:
        raise ACTINNInputError(
            "%s: %s NaN or infinite values; the annotator is damaged or was "
            "edited: save or train it again" %
            (file_path, ", ".join(bad) +
             (" holds" if len(bad) == 1 else " hold")))


def check_config(config_path: str, config: Dict[str, Any]) -> None:
    """Refuse an ``annotator.json`` whose genes, types or calibration are
    not what training makes: lists of unique names (genes by the rule they
    are matched with, ignoring case and an Ensembl version),
    at least two types and none named ``Unassigned``, a temperature above
    0 and a confidence threshold from 0 to 1."""
    genes, types = config.get("genes"), config.get("type_names")
    for name, values in (("genes", genes), ("type_names", types)):
        if not isinstance(values, list) or not all(
                isinstance(v, str) and v for v in values):
            raise ACTINNInputError("%s is damaged: %s is not a list of names" %
                                   (config_path, name))
    assert isinstance(genes, list) and isinstance(types, list)
    refuse_repeated_genes(genes, damaged=config_path)
    twice = repeated(types)
    if twice:
        raise ACTINNInputError(
            "%s is damaged: %s more than once: %s; a type names one label" %
            (config_path, counted(len(twice), "type name",
                                  "appears/appear"), examples(twice)))
    if len(types) < 2 or UNASSIGNED in types:
        raise ACTINNInputError(
            "%s is damaged: its types are %s; an annotator knows at least 2 "
            "and none named %r (the label of cells no type fits)" %
            (config_path, examples(types), UNASSIGNED))
    for name, low, high in (("temperature", 0.0, math.inf), ("threshold", 0.0,
                                                             1.0)):
        value = config.get(name)
        ok = (isinstance(value, (int, float)) and
              not isinstance(value, bool) and math.isfinite(value) and
              low <= value <= high and (value > 0 or name != "temperature"))
        if not ok:
            raise ACTINNInputError(
                "%s is damaged: %s is %r; it must be a number %s" %
                (config_path, name, value,
                 "above 0" if name == "temperature" else "from 0 to 1"))


def check_profile_cells(config_path: str, cells: Any, n_types: int) -> None:
    """Refuse an ``annotator.json`` whose ``profile_cells`` (the reference
    cells each type's gene profile rests on; absent, None, in annotators
    saved without them) are not whole numbers >= 0, one per type."""
    if cells is None:
        return
    if not isinstance(cells, list) or len(cells) != n_types:
        raise ACTINNInputError(
            "%s is damaged: profile_cells is %s, not a list of %d numbers "
            "(one per type)" %
            (config_path, "a list of %d" % len(cells) if isinstance(
                cells, list) else type(cells).__name__, n_types))
    bad = [
        n for n in cells
        if isinstance(n, bool) or not isinstance(n, (int, float)) or
        not (isinstance(n, int) or
             (math.isfinite(n) and n.is_integer())) or n < 0
    ]
    if bad:
        raise ACTINNInputError(
            "%s is damaged: profile_cells holds %r; each must be a whole "
            "number from 0 up (the reference cells of a type's profile)" %
            (config_path, bad[0]))


def expected_shapes(n_genes: int, n_types: int,
                    hidden_sizes: Sequence[int]) -> Dict[str, Tuple[int, ...]]:
    """The shape of each tensor of one network's state, computed without
    allocating it (the network is built on PyTorch's meta device)."""
    from deepchem_actinn.models.network import ACTINNClassifier
    with torch.device("meta"):
        network = ACTINNClassifier(n_genes, n_types, hidden_sizes)
    return {
        name: tuple(tensor.shape)
        for name, tensor in network.state_dict().items()
    }


def check_states(file_path: str, states: Any, n_genes: int, n_types: int,
                 hidden_sizes: Sequence[int]) -> None:
    """Refuse network weights that are not a list of states of the shapes
    the genes, types and hidden sizes give, or that hold NaN or infinite
    values, before any network is built from them."""
    if not isinstance(states, list) or not states or not all(
            isinstance(state, dict) for state in states):
        raise ACTINNInputError(
            "%s does not hold a list of network weights; the directory is "
            "damaged or was not written by ACTINNAnnotator.save()" % file_path)
    shapes = expected_shapes(n_genes, n_types, hidden_sizes)
    for i, state in enumerate(states):
        got = {
            name: tuple(t.shape) if isinstance(t, torch.Tensor) else None
            for name, t in state.items()
        }
        if got != shapes:
            wrong = sorted(set(got) ^ set(shapes)) or sorted(
                name for name in shapes if got[name] != shapes[name])
            name = wrong[0]
            raise ACTINNInputError(
                "%s: network %d's %s is %s, but %d genes, %d types and "
                "hidden sizes %s make it %s; the annotator.json and the "
                "weights are not one annotator's: save or train it again" %
                (file_path, i + 1, name, "missing" if name not in got else
                 got[name] or "not a tensor", n_genes, n_types,
                 list(hidden_sizes), shapes.get(name, "absent")))
        if not all(bool(torch.isfinite(t).all()) for t in state.values()):
            raise ACTINNInputError(
                "%s: the network weights hold NaN or infinite values (a "
                "training that diverged?); train the annotator again" %
                file_path)


def check_rule(file_path: str, state: Any, width: int, n_types: int) -> None:
    """Refuse an ``Unassigned`` rule that is not a dict of finite values,
    or whose reference cells are not ``width`` features wide (the networks'
    last hidden layers)."""
    if not isinstance(state, dict):
        raise ACTINNInputError(
            "%s does not hold the Unassigned rule; the directory is damaged" %
            file_path)
    numbers = {
        name: value
        for name, value in state.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    arrays = {name: state.get(name) for name in ("scales", "reference")}
    refuse_nonfinite(file_path, {**numbers, **arrays})
    scales = state.get("scales")
    if scales is not None and np.shape(scales) != (n_types,):
        raise ACTINNInputError(
            "%s: the rule holds %s scales, for %d types; the files are not "
            "one annotator's: save or train it again" %
            (file_path, np.shape(scales), n_types))
    reference = state.get("reference")
    if reference is not None:
        shape = np.shape(reference)
        if len(shape) != 2 or shape[1] != width:
            raise ACTINNInputError(
                "%s: the rule's reference cells are %s features wide, the "
                "networks give %d; the files are not one annotator's: save "
                "or train it again" %
                (file_path, shape[1] if len(shape) == 2 else "not", width))
