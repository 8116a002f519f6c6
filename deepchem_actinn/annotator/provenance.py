"""How an annotator was trained, saved with it for a methods section.

``ACTINNAnnotator.training_`` is a plain dict (:func:`training_record`): the
package version that trained it, the versions of Python and the numerical
libraries, where it trained (device, threads), how many reference cells of
each type it learned from and how many were held out, and where the
reference came from (:func:`file_source`: the file, its size, the matrix
read, whether it was trained from disk block by block; from ``actinn``, the
command line too). It is written into ``annotator.json`` and kept as it is
when a loaded annotator is saved again, so the directory alone says how its
weights were made. The hyperparameters are saved beside it (``params``);
fixed constants of the method (the logistic regression's ``C``, the
clipping, sample sizes) are those of the package version named.
"""
import math
import os
import platform
from typing import Any, Dict, Optional, Sequence

import numpy as np

from deepchem_actinn._version import __version__
from deepchem_actinn.errors import ACTINNInputError

#: Modules whose versions the record names.
LIBRARIES = ("torch", "numpy", "scipy", "sklearn", "pandas")

#: The record's keys that hold text.
TEXT_KEYS = ("python", "platform", "torch", "numpy", "scipy", "scikit-learn",
             "pandas", "device", "command", "directory")

#: The most characters of one text value a loaded record may hold.
MAX_TEXT = 100_000


def environment() -> Dict[str, str]:
    """The versions of Python and the libraries training ran with, and the
    operating system.

    Examples
    --------
    >>> from deepchem_actinn.annotator.provenance import environment
    >>> sorted(environment())[:3]
    ['numpy', 'pandas', 'platform']
    """
    import importlib.metadata
    import sys
    found = {"python": platform.python_version(), "platform": platform.system()}
    for name in LIBRARIES:
        key = "scikit-learn" if name == "sklearn" else name
        module = sys.modules.get(name)
        if module is not None:
            found[key] = str(getattr(module, "__version__", "?"))
            continue
        try:  # not imported: its installed version, without importing it
            found[key] = importlib.metadata.version(key)
        except importlib.metadata.PackageNotFoundError:
            found[key] = "?"
    return found


def training_record(type_names: Sequence[str], y: np.ndarray, n_held_out: int,
                    device: Any, source: Dict[str, Any]) -> Dict[str, Any]:
    """The record of one training run (``ACTINNAnnotator.training_``).

    Parameters
    ----------
    type_names: sequence of str
        The types, in class-id order.
    y: np.ndarray
        The class id of every labelled reference cell (held out included).
    n_held_out: int
        Cells held out for early stopping, calibration and the rule.
    device: str or torch.device
        Where the networks trained.
    source: dict
        Where the cells came from (:func:`file_source`, or
        ``{"out_of_core": False}`` for cells given in memory, to which
        :func:`~deepchem_actinn.train` adds the AnnData's ``matrix``).

    Examples
    --------
    >>> import numpy as np
    >>> from deepchem_actinn.annotator.provenance import training_record
    >>> record = training_record(["B", "T"], np.array([0, 1, 1]), 1, "cpu",
    ...                          {"out_of_core": False})
    >>> record["cells_per_type"], record["held_out_cells"]
    ({'B': 1, 'T': 2}, 1)
    """
    import torch
    counts = np.bincount(np.asarray(y, dtype=np.int64),
                         minlength=len(type_names))
    return {
        "package_version": __version__,
        **environment(),
        "device": str(device),
        "threads": int(torch.get_num_threads()),
        "cells_per_type": {
            str(name): int(n) for name, n in zip(type_names, counts)
        },
        "held_out_cells": int(n_held_out),
        "reference": dict(source),
    }


def file_source(path: Any, **options: Any) -> Dict[str, Any]:
    """Where a reference file's cells came from: its path as given, its size
    in bytes, and the reading ``options`` that were set (None ones left
    out).

    Examples
    --------
    >>> import os, tempfile
    >>> from deepchem_actinn.annotator.provenance import file_source
    >>> path = os.path.join(tempfile.mkdtemp(), "ref.csv")
    >>> _ = open(path, "w").write("gene,c1\\n")
    >>> file_source(path, layer=None, out_of_core=False)["bytes"]
    8
    """
    path = os.fspath(path)
    try:
        size: Optional[int] = os.path.getsize(path)
    except OSError:
        size = None
    return {
        "file": path,
        "bytes": size,
        **{name: value for name, value in options.items() if value is not None}
    }


def describe(record: Dict[str, Any]) -> Dict[str, str]:
    """A training record in a few lines for a report: who trained it, with
    what, on which reference, by which command (what the record holds).

    Examples
    --------
    >>> from deepchem_actinn.annotator.provenance import describe
    >>> describe({"package_version": "0.1.0", "python": "3.11.7",
    ...           "torch": "2.13.0", "device": "cpu", "threads": 1,
    ...           "cells_per_type": {"B": 30, "T": 70}, "held_out_cells": 10,
    ...           "reference": {"file": "ref.h5ad", "bytes": 2048}})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'trained by': 'deepchem-actinn 0.1.0 (Python 3.11.7, PyTorch 2.13.0,
    on cpu, 1 thread)', 'reference': 'ref.h5ad (2,048 bytes): 100 cells of
    2 types, 10 held out'}
    """
    setting = ", ".join(text for text in (
        "Python %s" % record["python"] if "python" in record else "",
        "PyTorch %s" % record["torch"] if "torch" in record else "", "on %s" %
        record["device"] if "device" in record else "", "%d thread%s" %
        (record["threads"],
         "" if record["threads"] == 1 else "s") if "threads" in record else "")
                        if text)
    lines = {
        "trained by":
            "deepchem-actinn %s%s" %
            (record["package_version"], " (%s)" % setting if setting else "")
    }
    cells = record.get("cells_per_type")
    source = record.get("reference") or {}
    if cells:
        where = ("%s (%s bytes): " %
                 (source["file"], format(source["bytes"], ","))
                 if source.get("file") and isinstance(source.get("bytes"), int)
                 else "")
        lines["reference"] = "%s%s cells of %d types, %s held out" % (
            where, format(sum(cells.values()), ","), len(cells),
            format(record.get("held_out_cells", 0), ","))
    if record.get("command"):
        lines["training command"] = str(record["command"])
        if record.get("directory"):  # where its relative paths start
            lines["training command"] += " (in %s)" % record["directory"]
    return lines


def legacy_record(package_version: Any) -> Dict[str, Any]:
    """The record of an annotator saved before records were kept: only the
    version that saved it, which saving it again keeps.

    Examples
    --------
    >>> from deepchem_actinn.annotator.provenance import legacy_record
    >>> legacy_record("0.0.9"), legacy_record(None)
    ({'package_version': '0.0.9'}, {'package_version': 'unknown'})
    """
    return {"package_version": str(package_version or "unknown")}


def check_record(config_path: str, record: Any) -> None:
    """Refuse a saved record that is not plain JSON values (objects of
    texts, numbers, booleans and lists, finite numbers, texts of at most
    :data:`MAX_TEXT` characters), names no package version, or holds a
    value of another kind than training writes under one of its keys
    (``threads`` a whole number, ``cells_per_type`` an object of whole
    numbers, ...). It decides nothing, but the report prints it.

    Examples
    --------
    >>> from deepchem_actinn.annotator.provenance import check_record
    >>> check_record("annotator.json", {"package_version": "0.1.0"})
    >>> check_record("annotator.json", {"package_version": "0.1.0",
    ...                                 "threads": "4"})
    ... # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ACTINNInputError: annotator.json is damaged: its training record ...
    """

    def plain(value: Any, depth: int) -> bool:
        if value is None or isinstance(value, bool):
            return True
        if isinstance(value, (int, float)):
            return math.isfinite(value)
        if isinstance(value, str):
            return len(value) <= MAX_TEXT
        if depth >= 4 or not isinstance(value, (list, dict)):
            return False
        items = value.values() if isinstance(value, dict) else value
        return all(plain(item, depth + 1) for item in items)

    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def kinds_right(record: Dict[str, Any]) -> bool:
        """What the record's own keys hold, where present."""
        counts = record.get("cells_per_type", {})
        numbers = [record.get(k, 0) for k in ("threads", "held_out_cells")]
        texts = [record.get(k, "") for k in TEXT_KEYS]
        return (all(whole(n) for n in numbers) and
                all(isinstance(t, str) for t in texts) and
                isinstance(record.get("reference", {}), dict) and
                isinstance(counts, dict) and
                all(whole(n) for n in counts.values()))

    if not (isinstance(record, dict) and
            isinstance(record.get("package_version"), str) and
            plain(record, 0) and kinds_right(record)):
        raise ACTINNInputError(
            "%s is damaged: its training record is not what ACTINNAnnotator "
            "saves (an object of plain values naming the package version)" %
            config_path)
