"""The house rules the README states for the package's layout: small
modules, and imports that run one way (files -> io -> preprocessing ->
models -> annotator; nothing but ``python -m deepchem_actinn`` imports the
command line)."""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "deepchem_actinn"
MAX_LINES = 600

#: Subpackage -> the subpackages it must never import (lazily or not).
ABOVE = ("transformers", "distributed", "report", "cli")
FORBIDDEN = {
    "io": ("preprocessing", "models", "annotator", "confidence") + ABOVE,
    "preprocessing": ("models", "annotator") + ABOVE,
    "models": ("annotator",) + ABOVE,
    "confidence": ("annotator",) + ABOVE,
    # annotate(adata) hands a Dask-backed AnnData on to distributed/
    "annotator": ("transformers", "report", "cli"),
}


def modules():
    return sorted(PACKAGE.rglob("*.py"))


def imported(path: pathlib.Path):
    """Every ``deepchem_actinn.*`` module a file imports, at any depth of
    its code (a function's lazy import counts)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError("%s: relative import of %s" %
                                     (path, node.module))
            names.add(node.module)
            names.update(node.module + "." + alias.name for alias in node.names)
    return {n for n in names if n.startswith("deepchem_actinn.")}


def test_imported_finds_lazy_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os\n"
                      "from deepchem_actinn.io import read\n"
                      "def f():\n"
                      "    import deepchem_actinn.cli.parser\n")
    assert imported(source) == {
        "deepchem_actinn.io", "deepchem_actinn.io.read",
        "deepchem_actinn.cli.parser"
    }


@pytest.mark.parametrize("path",
                         modules(),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_is_small(path):
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_LINES, "%s has %d lines (at most %d)" % (
        path.relative_to(PACKAGE), n_lines, MAX_LINES)


def test_imports_run_one_way():
    wrong = []
    for path in modules():
        parts = path.relative_to(PACKAGE).parts
        here = parts[0] if len(parts) > 1 else None
        for name in imported(path):
            target = name.split(".")[1]
            if here != "cli" and target == "cli" and \
                    path.name != "__main__.py":
                wrong.append("%s imports %s" % (path.name, name))
            elif target in FORBIDDEN.get(here, ()):
                wrong.append("%s/%s imports %s" % (here, path.name, name))
    assert not wrong, "\n".join(sorted(wrong))
