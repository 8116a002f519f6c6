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

autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"inherited-members": False}

templates_path: list = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list = []
