"""What did the annotation get wrong, and how sure is it: tables, figures, HTML.

Everything here works on plain arrays of cell-type *names* (strings) and
per-cell confidences, so it does not depend on the model. One module per
concern:

* :mod:`~deepchem_actinn.report.metrics`, tables: :func:`confusion_table`,
  :func:`normalise_rows`, :func:`per_type_metrics`,
  :func:`summary_metrics`, :func:`type_counts`;
* :mod:`~deepchem_actinn.report.figures`, each a
  :class:`matplotlib.figure.Figure` drawn on an Agg canvas (no pyplot
  global state): :func:`plot_confusion_matrix`,
  :func:`plot_per_type_metrics`, :func:`plot_training_curves`,
  :func:`plot_confidence`;
* :mod:`~deepchem_actinn.report.umap`, :func:`plot_umap` (needs scanpy);
* :mod:`~deepchem_actinn.report.page`, the self-contained HTML page;
* :mod:`~deepchem_actinn.report.write`, :func:`write_report`, which writes
  the PNGs and ``report.html`` together, or nothing.

Examples
--------
>>> from deepchem_actinn.report import summary_metrics
>>> summary_metrics(["B", "T", "T"], ["B", "T", "Unassigned"])["accuracy"]
0.666...
"""
from deepchem_actinn.report.figures import (plot_confidence,
                                            plot_confusion_matrix,
                                            plot_per_type_metrics,
                                            plot_training_curves)
from deepchem_actinn.report.metrics import (confusion_table, normalise_rows,
                                            per_type_metrics, summary_metrics,
                                            type_counts)
from deepchem_actinn.report.umap import plot_umap
from deepchem_actinn.report.write import REPORT_FILES, write_report

__all__ = [
    "REPORT_FILES",
    "confusion_table",
    "normalise_rows",
    "per_type_metrics",
    "plot_confidence",
    "plot_confusion_matrix",
    "plot_per_type_metrics",
    "plot_training_curves",
    "plot_umap",
    "summary_metrics",
    "type_counts",
    "write_report",
]
