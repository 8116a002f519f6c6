"""Reading and writing the file formats scRNA-seq data comes in.

One module per format (:mod:`~deepchem_actinn.io.tenx`,
:mod:`~deepchem_actinn.io.h5ad`, :mod:`~deepchem_actinn.io.actinn_h5`,
:mod:`~deepchem_actinn.io.text`), :mod:`~deepchem_actinn.io.registry` with
one entry per format (its names, and the words messages use for it),
:mod:`~deepchem_actinn.io.formats` and
:mod:`~deepchem_actinn.io.content` to tell them apart (by their bytes, not
their names), :mod:`~deepchem_actinn.io.orientation` for text files with
cells as rows, :mod:`~deepchem_actinn.io.count_matrix` for which matrix holds
the raw counts, :mod:`~deepchem_actinn.io.counts` for the one check of count
values,
:mod:`~deepchem_actinn.io.readers` (:func:`read`),
:mod:`~deepchem_actinn.io.stream` (chunks) and
:mod:`~deepchem_actinn.io.file_axes` (a file's cells and genes alone) on top,
:mod:`~deepchem_actinn.io.labels` for labels files, :mod:`~deepchem_actinn.io.writers` and
:mod:`~deepchem_actinn.io.output` for writing. The public names are
imported on first use, so ``import deepchem_actinn.io`` stays light.
"""
from deepchem_actinn._lazy import lazy_exports
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names as mypy and IDEs should see them
    from deepchem_actinn.io.readers import (  # noqa: F401
        read, read_format)
    from deepchem_actinn.io.registry import (  # noqa: F401
        FORMATS)
    from deepchem_actinn.io.formats import (  # noqa: F401
        detect_format)
    from deepchem_actinn.io.count_matrix import (  # noqa: F401
        counts_source, CountsSource)
    from deepchem_actinn.io.counts import (  # noqa: F401
        check_count_values, round_near_whole, as_count_matrix, ROUND_TOLERANCE,
        COUNT_LAYERS)
    from deepchem_actinn.io.genes import (  # noqa: F401
        clean_gene_names)
    from deepchem_actinn.io.tenx import (  # noqa: F401
        read_10x_mtx, read_10x_h5)
    from deepchem_actinn.io.h5ad import (  # noqa: F401
        read_h5ad)
    from deepchem_actinn.io.actinn_h5 import (  # noqa: F401
        read_actinn_h5)
    from deepchem_actinn.io.text import (  # noqa: F401
        read_text)
    from deepchem_actinn.io.orientation import (  # noqa: F401
        ORIENTATIONS, choose_orientation)
    from deepchem_actinn.io.stream import (  # noqa: F401
        iter_cell_chunks)
    from deepchem_actinn.io.file_axes import (  # noqa: F401
        n_cells, read_cell_ids, read_var, read_gene_names)
    from deepchem_actinn.io.labels import (  # noqa: F401
        read_labels, labels_from, match_labels, LABEL_HEADER, CONFIDENCE_HEADER,
        REASON_HEADER)
    from deepchem_actinn.io.writers import (  # noqa: F401
        write_actinn_h5, write_h5ad, write_predicted_labels,
        write_probabilities, PredictedLabelWriter)
    from deepchem_actinn.io.output import (  # noqa: F401
        atomic_output, atomic_output_dir, check_target, refuse_existing)

_EXPORTS = {
    "read": "readers",
    "read_format": "readers",
    "FORMATS": "registry",
    "detect_format": "formats",
    "counts_source": "count_matrix",
    "CountsSource": "count_matrix",
    "check_count_values": "counts",
    "round_near_whole": "counts",
    "as_count_matrix": "counts",
    "ROUND_TOLERANCE": "counts",
    "COUNT_LAYERS": "counts",
    "clean_gene_names": "genes",
    "read_10x_mtx": "tenx",
    "read_10x_h5": "tenx",
    "read_h5ad": "h5ad",
    "read_actinn_h5": "actinn_h5",
    "read_text": "text",
    "ORIENTATIONS": "orientation",
    "choose_orientation": "orientation",
    "iter_cell_chunks": "stream",
    "n_cells": "file_axes",
    "read_cell_ids": "file_axes",
    "read_var": "file_axes",
    "read_gene_names": "file_axes",
    "read_labels": "labels",
    "labels_from": "labels",
    "match_labels": "labels",
    "LABEL_HEADER": "labels",
    "CONFIDENCE_HEADER": "labels",
    "REASON_HEADER": "labels",
    "write_actinn_h5": "writers",
    "write_h5ad": "writers",
    "write_predicted_labels": "writers",
    "write_probabilities": "writers",
    "PredictedLabelWriter": "writers",
    "atomic_output": "output",
    "atomic_output_dir": "output",
    "check_target": "output",
    "refuse_existing": "output",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(
    globals(),
    {name: "deepchem_actinn.io." + module for name, module in _EXPORTS.items()})
