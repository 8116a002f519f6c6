"""Small pieces the command groups share: the device, the main process,
and the readers' orientation hints, matrix and value rule."""
import logging
from typing import Any, Dict, Optional, Sequence

from deepchem_actinn.errors import ACTINNInputError

logger = logging.getLogger("deepchem_actinn")


def device(name: Optional[str]) -> Optional[str]:
    """Check a ``--device`` value; None stays None (CUDA when available).

    Raises
    ------
    ACTINNInputError
        If PyTorch does not know the name, or it names CUDA and PyTorch
        sees no GPU.
    """
    if name is None:
        return None
    import torch
    try:
        chosen = torch.device(name)
    except (RuntimeError, ValueError) as err:
        raise ACTINNInputError("--device %s: not a device PyTorch knows (%s)" %
                               (name, str(err).splitlines()[0])) from None
    from deepchem_actinn.models.device import missing_gpu
    why = missing_gpu(chosen)
    if why:
        raise ACTINNInputError("--device %s: %s" % (name, why))
    return name


def is_main_process() -> bool:
    """False in every process but rank 0 of a ``torchrun`` job (True when
    not distributed), so that only one process writes outputs."""
    try:
        from deepchem_actinn.models import distributed
    except ImportError:
        import torch.distributed as dist
        return not (dist.is_available() and dist.is_initialized() and
                    dist.get_rank() != 0)
    return bool(distributed.is_main_process())


def value_options(args) -> Dict[str, Any]:
    """The readers' keyword for ``--allow-non-integer``: take non-integer
    values (TPM, FPKM) as counts on another scale.

    Examples
    --------
    >>> import argparse
    >>> from deepchem_actinn.cli.common import value_options
    >>> value_options(argparse.Namespace(allow_non_integer=True))
    {'allow_non_integer': True}
    """
    return {
        "allow_non_integer": bool(getattr(args, "allow_non_integer", False))
    }


#: ``--*-layer`` values that name no layer: ``X`` itself, and ``.raw.X``.
MATRIX_WORDS = {
    "X": dict(use_raw=False),
    ".raw": dict(use_raw=True),
    ".raw.X": dict(use_raw=True),
    "raw.X": dict(use_raw=True),
}


def matrix_options(value: Optional[str]) -> Dict[str, Any]:
    """The readers' ``layer=`` / ``use_raw=`` for a ``--train-layer``,
    ``--test-layer``, ``--query-layer`` or ``--input-layer`` value: a
    layer's name, ``.raw`` (``.raw.X``) or ``X`` (``X`` as it is); none when
    the option is not given (the readers then choose as
    :func:`deepchem_actinn.io.counts_source` does).

    Examples
    --------
    >>> from deepchem_actinn.cli.common import matrix_options
    >>> matrix_options("spliced"), matrix_options(".raw")
    ({'layer': 'spliced'}, {'use_raw': True})
    >>> matrix_options("X"), matrix_options(None)
    ({'use_raw': False}, {})
    """
    if value is None:
        return {}
    return dict(MATRIX_WORDS.get(value, {"layer": value}))


def settle_orientation(args, which: str, **hints: Sequence[str]) -> None:
    """Decide once which axis of a CSV/TSV reference (``which="train"``)
    or query (``"test"``) holds the genes, when ``--*-orientation`` is
    auto, and write the choice into ``args``: the readers after it then
    neither read the file's names again nor say the choice again.

    ``hints`` are ``expected_genes=`` or ``expected_cells=``, as in
    :func:`orientation_options`. Files of other formats, and an orientation
    given, are left as they are.
    """
    from deepchem_actinn.io.content import reading
    from deepchem_actinn.io.formats import FORMAT_WORDS, path_and_format
    from deepchem_actinn.io.text import SEPARATORS, text_orientation
    key = "%s_orientation" % which
    if getattr(args, key, "auto") != "auto":
        return
    path, fmt = path_and_format(getattr(args, "%s_set" % which),
                                getattr(args, "%s_format" % which))
    if fmt in SEPARATORS:
        options = orientation_options("auto", **hints)
        del options["orientation"]
        with reading(path, FORMAT_WORDS[fmt]):
            setattr(args, key, text_orientation(path, fmt, **options))


def orientation_options(
        orientation: str,
        expected_genes: Optional[Sequence[str]] = None,
        expected_cells: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Keyword arguments for the readers (:func:`deepchem_actinn.io.read`,
    ``read_var``, ``n_cells``, ``iter_cell_chunks``) saying how a CSV/TSV
    file is laid out: forced by ``--*-orientation``, or detected from the
    genes (or cell ids) the file should hold.

    Examples
    --------
    >>> from deepchem_actinn.cli.common import orientation_options
    >>> orientation_options("auto", expected_genes=["CD3E"])
    {'orientation': None, 'expected_genes': ['CD3E']}
    """
    options: Dict[str, Any] = {
        "orientation": None if orientation == "auto" else orientation
    }
    if expected_genes is not None:
        options["expected_genes"] = [str(g) for g in expected_genes]
    if expected_cells is not None:
        options["expected_cells"] = [str(c) for c in expected_cells]
    return options
