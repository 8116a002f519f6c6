"""Sphinx configuration of the deepchem-actinn API documentation.

Build with ``sphinx-build -W -b html docs/source docs/_build/html`` from the
repository root (``-W`` turns warnings into errors, as the test does).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(__file__, "..", "..", "..")))

import deepchem_actinn  # noqa: E402

project = "deepchem-actinn"
author = "deepchem-actinn contributors"
copyright = "2026, deepchem-actinn contributors"
version = release = deepchem_actinn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

# Docstrings are numpydoc; napoleon reads them without the numpydoc package.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# Parameter types such as "int, default 10" or "{'a', 'b'}, optional" are
# read as types, literals and keywords, not as one class named "default 10".
napoleon_preprocess_types = True
# Our docstrings' informal type words, mapped to the names they mean.
napoleon_type_aliases = {
    "np.ndarray": "numpy.ndarray",
    "array": "numpy.ndarray",
    "array-like": "numpy.typing.ArrayLike",
    "sparse matrix": "scipy.sparse.spmatrix",
    "scipy.sparse matrix": "scipy.sparse.spmatrix",
    "sequence": "collections.abc.Sequence",
    "iterable": "collections.abc.Iterable",
    "mapping": "collections.abc.Mapping",
    "callable": "collections.abc.Callable",
    "path": "os.PathLike",
    "Path": "pathlib.Path",
    "dc.data.Dataset": "deepchem.data.Dataset",
    "dc.trans.Transformer": "deepchem.trans.Transformer",
    "dc.metrics.Metric": "deepchem.metrics.Metric",
    "dc.models.optimizers.Optimizer": "deepchem.models.optimizers.Optimizer",
    "distributed.Client": "dask.distributed.Client",
    "True": "``True``",
    "False": "``False``",
    "self": "``self``",
    "int64": "numpy.int64",
    # our classes, by the short names the docstrings' types give them
    "ACTINNAnnotator": "deepchem_actinn.ACTINNAnnotator",
    "Annotation": "deepchem_actinn.Annotation",
    "CellTypeLabels": "deepchem_actinn.CellTypeLabels",
    "ACTINNInputError": "deepchem_actinn.ACTINNInputError",
    "ACTINNCellError": "deepchem_actinn.errors.ACTINNCellError",
    "GeneFilter": "deepchem_actinn.preprocessing.GeneFilter",
    "GeneStats": "deepchem_actinn.preprocessing.GeneStats",
    "CountsSource": "deepchem_actinn.io.CountsSource",
    "RejectionRule": "deepchem_actinn.confidence.RejectionRule",
    "TypeHierarchy": "deepchem_actinn.hierarchy.TypeHierarchy",
    "LinearMember": "deepchem_actinn.models.linear.LinearMember",
    "LearningRateSchedule": "deepchem.models.optimizers.LearningRateSchedule",
}

autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"inherited-members": False}

# Every cross-reference must resolve: a reference to a name the docs do not
# document fails the build (with -W, as tests/test_docs.py builds).
nitpicky = True
# Intersphinx is not used: the build must work without a network, and the
# inventories of Python, NumPy, SciPy, pandas, anndata, PyTorch, DeepChem and
# Dask cannot be downloaded then. References to those projects' names are
# therefore left unresolved, and only those: our own names must resolve.
nitpick_ignore_regex = [
    (r"py:.*", r"(collections\.abc|os|pathlib|typing|numpy|np|scipy|pandas"
     r"|anndata|torch|deepchem|dc|dask|distributed|matplotlib|sklearn|h5py"
     r"|scanpy)(\..*)?"),
    # Not names at all: the words of a parameter's type that napoleon cuts
    # out of prose such as "(float, float), default (0, 100)", "cells x
    # types" or "int, default 50,000". A name of ours is an identifier, so
    # no reference to one is ignored by this.
    (r"py:(class|obj)", r"\d.*|.*[^\w.].*"),
]

# Dead references in modules other branches are changing now, to be fixed
# there (each should name a documented object, or be plain ``text``), then
# removed from this list.
nitpick_ignore = [
    # annotator/annotator.py, ACTINNAnnotator.fit_file: internal helpers
    ("py:class", "deepchem_actinn.annotator.reference_file.ReferenceFile"),
    ("py:meth", "deepchem_actinn.annotator.reference_file.ReferenceFile.scan"),
    ("py:meth", "deepchem_actinn.annotator.reference_file.ReferenceFile.epoch"),
    ("py:func", "deepchem_actinn.preprocessing.genes.measured_genes"),
    # annotator/prediction.py, ACTINNAnnotator.preprocess: an internal helper
    ("py:func", "deepchem_actinn.models.inference.model_gene_log"),
    # distributed/dask_predict.py: short names that resolve nowhere
    # (deepchem_actinn.ACTINNAnnotator.predict would)
    ("py:meth", "ACTINNAnnotator.predict"),
    ("py:meth", "ACTINNAnnotator.predict_file"),
    # distributed/dask_predict.py and io/stream.py: an internal helper
    ("py:func", "deepchem_actinn.io.counts.log_scale_rows"),
]

templates_path: list = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list = []

_OBJECTS: dict = {}


def _object(name: str):
    """The object a dotted name of this package leads to, or None."""
    if name not in _OBJECTS:
        _OBJECTS[name] = _find_object(name)
    return _OBJECTS[name]


def _find_object(name: str):
    import importlib
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for part in parts[i:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def _resolve_by_object(app, env, node, contnode):
    """Resolve a reference to a function, class or method of this package
    by another of its names: the module that defines it
    (``deepchem_actinn.io.readers.read``) or a package that re-exports it
    (``deepchem_actinn.voting.over_cluster``, or ``over_cluster`` in
    ``deepchem_actinn.voting``'s docstrings), to the entry that documents it
    (``deepchem_actinn.clustering.over_cluster``), as autodoc's
    ``:canonical:`` does for classes. Only an object documented somewhere
    resolves."""
    import inspect
    from sphinx.util.nodes import make_refnode
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip("~.")
    if target.startswith("deepchem_actinn."):
        names = [target]
    else:
        module, cls = node.get("py:module"), node.get("py:class")
        names = [
            "%s.%s.%s" % (module, cls, target) if cls else None,
            "%s.%s" % (module, target) if module else None
        ]
    for full in filter(None, names):
        obj = _object(full)
        if not (inspect.isroutine(obj) or inspect.isclass(obj) or
                isinstance(obj, property)):
            continue
        for name, entry in env.get_domain("py").objects.items():
            if name != full and not entry.aliased and \
                    name.startswith("deepchem_actinn.") and \
                    _object(name) is obj:
                return make_refnode(app.builder, node["refdoc"], entry.docname,
                                    entry.node_id, contnode, name)
    return None


def _unique_footnotes(app, what, name, obj, options, lines):
    """numpydoc's numbered references (``[1]_`` and ``.. [1]``) as
    auto-numbered footnotes named after their object, so that two
    docstrings on one page may both cite a ``[1]``."""
    import re
    key = re.sub(r"[^\w]+", "-", name)
    for i, line in enumerate(lines):
        line = re.sub(r"\[(\d+)\]_", r"[#%s-\1]_" % key, line)
        lines[i] = re.sub(r"^(\s*)\.\. \[(\d+)\]", r"\1.. [#%s-\2]" % key, line)


def _no_type_docstring(app, what, name, obj, options, lines):
    """A constant documented where it is re-exported (``FORMATS`` of
    ``deepchem_actinn.io``) has no ``#:`` comment there, and autodoc would
    show its type's docstring (a tuple's, a str's); the page says what it
    is instead."""
    import inspect
    own = inspect.getdoc(type(obj)) or ""
    if what in ("data", "attribute") and lines and own and \
            lines[0].strip() == own.splitlines()[0].strip():
        lines.clear()


def setup(app):
    app.connect("missing-reference", _resolve_by_object)
    app.connect("autodoc-process-docstring", _unique_footnotes)
    app.connect("autodoc-process-docstring", _no_type_docstring)
