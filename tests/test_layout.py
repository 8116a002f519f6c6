"""The house rules the README states for the package's layout: small
modules, and imports that run one way (files -> io -> preprocessing ->
models -> annotator -> labels, confidence, report; nothing but ``python -m
deepchem_actinn`` imports the command line), without cycles between the
packages."""
import ast
import doctest
import pathlib
import warnings

import pytest

import deepchem_actinn

#: The package's own folder, the one imported (a checkout's, or installed).
PACKAGE = pathlib.Path(deepchem_actinn.__file__).resolve().parent
MAX_LINES = 600

#: Subpackage -> the subpackages it must never import (lazily or not);
#: None stands for the package's own modules (``datasets.py``,
#: ``hierarchy.py``, ``labels.py``, ...), shared by the subpackages.
ABOVE = ("transformers", "distributed", "report", "cli")
FORBIDDEN = {
    "io": ("preprocessing", "models", "annotator", "confidence") + ABOVE,
    "preprocessing": ("models", "annotator") + ABOVE,
    "models": ("annotator",) + ABOVE,
    "confidence": ("annotator",) + ABOVE,
    # thin dc.trans wrappers over preprocessing/
    "transformers": ("annotator", "distributed", "report", "cli"),
    # what the annotator's results are shown with
    "report": ("models", "annotator", "transformers", "distributed", "cli"),
    # annotate(adata) hands a Dask-backed AnnData on to distributed/, which
    # drives the annotator it is given without importing it
    "distributed": ("annotator", "transformers", "report", "cli"),
    "annotator": ("transformers", "report", "cli"),
    None: ("annotator",) + ABOVE,
}
#: The package's modules that may import any subpackage: the public names,
#: and the command's entry point (the one importer of ``cli``).
ENTRY_POINTS = ("__init__.py", "__main__.py")


def modules():
    found = sorted(PACKAGE.rglob("*.py"))
    if not found:  # a collection error: these rules must never pass on nothing
        raise AssertionError("no modules found under %s" % PACKAGE)
    return found


def test_modules_are_the_packages():
    names = {p.relative_to(PACKAGE).as_posix() for p in modules()}
    assert {"__init__.py", "__main__.py", "io/text.py", "cli/predict.py"
           } <= names
    assert len(names) > 50


def _typing_only(node: ast.AST) -> bool:
    """Whether ``node`` is an ``if TYPE_CHECKING:`` (or
    ``typing.TYPE_CHECKING``) block, whose imports only type checkers run."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and
            test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and
                                            test.attr == "TYPE_CHECKING")


def _nodes(tree: ast.AST):
    """Every node of ``tree``, but not the body of an ``if TYPE_CHECKING:``
    (its ``else`` runs, and is walked)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if _typing_only(node):
            assert isinstance(node, ast.If)
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def imported(path: pathlib.Path):
    """Every ``deepchem_actinn.*`` module a file imports, at any depth of
    its code (a function's lazy import counts; an import for type checkers
    alone, under ``if TYPE_CHECKING:``, loads nothing and does not)."""
    names = set()
    for node in _nodes(ast.parse(path.read_text(), str(path))):
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
                      "import typing\n"
                      "from deepchem_actinn.io import read\n"
                      "if TYPE_CHECKING:\n"
                      "    from deepchem_actinn.annotator import Annotation\n"
                      "if typing.TYPE_CHECKING:\n"
                      "    import deepchem_actinn.report\n"
                      "else:\n"
                      "    import deepchem_actinn.labels\n"
                      "def f():\n"
                      "    import deepchem_actinn.cli.parser\n"
                      "    class C:\n"
                      "        def g(self):\n"
                      "            from deepchem_actinn.models import x\n")
    assert imported(source) == {
        "deepchem_actinn.io", "deepchem_actinn.io.read",
        "deepchem_actinn.labels", "deepchem_actinn.cli.parser",
        "deepchem_actinn.models", "deepchem_actinn.models.x"
    }


@pytest.mark.parametrize("path",
                         modules(),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_is_small(path):
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_LINES, "%s has %d lines (at most %d)" % (
        path.relative_to(PACKAGE), n_lines, MAX_LINES)


def _place(path: pathlib.Path):
    """The subpackage a module is in, or None for the package's own
    modules."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def test_imports_run_one_way():
    wrong = []
    for path in modules():
        here = _place(path)
        entry = here is None and path.name in ENTRY_POINTS
        for name in imported(path):
            target = name.split(".")[1]
            if here != "cli" and target == "cli" and \
                    path.name != "__main__.py":
                wrong.append("%s imports %s" % (path.name, name))
            elif target in FORBIDDEN.get(here, ()) and not entry:
                wrong.append("%s imports %s" %
                             (path.relative_to(PACKAGE).as_posix(), name))
    assert not wrong, "\n".join(sorted(wrong))


def _package_graph():
    """Subpackage -> the subpackages its modules import (lazily or not)."""
    graph = {}
    for path in modules():
        here = _place(path)
        if here is None:
            continue
        for name in imported(path):
            target = name.split(".")[1]
            if target != here and (PACKAGE / target).is_dir():
                graph.setdefault(here, set()).add(target)
    return graph


def _cycle(graph):
    """One cycle of ``graph`` as a list of its nodes, or None."""
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return trail[trail.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, trail + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_cycle_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_no_import_cycle_between_subpackages():
    """No two subpackages import each other, however indirectly (a lazy
    import in a function counts): each sits above the other or below."""
    graph = _package_graph()
    assert graph.get("annotator", set()) >= {"io", "models", "preprocessing"}
    cycle = _cycle(graph)
    assert cycle is None, "an import cycle: %s" % " -> ".join(cycle)


def _doctest_examples(tree: ast.AST):
    """The source of every doctest example in the docstrings of a module's
    syntax tree, with its docstring's line."""
    parser = doctest.DocTestParser()
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef,
                  ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if isinstance(node, documented):
            docstring = ast.get_docstring(node, clean=False)
            for example in parser.get_examples(docstring or ""):
                yield getattr(node, "lineno", 1), example.source


def test_code_and_doctests_compile_without_warnings():
    """No module of the package or the tests, and no doctest example, has
    an invalid escape such as ``"$\\gamma$"`` (a SyntaxWarning from Python
    3.12, an error under -W error and in a later Python)."""
    files = modules() + sorted(pathlib.Path(__file__).parent.glob("*.py"))
    wrong = []
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                tree = ast.parse(path.read_text(), str(path))
                for line, source in _doctest_examples(tree):
                    where = "%s, docstring at line %d" % (path.name, line)
                    compile(source, where, "single")
            except SyntaxError as err:
                wrong.append("%s: %s" % (path, err))
    assert not wrong, "\n".join(wrong)


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["deepchem_actinn"] + parts)


@pytest.mark.parametrize("path",
                         [p for p in modules() if "__all__" in p.read_text()],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_name_in_all_exists(path):
    """``from module import *`` imports each name ``__all__`` lists."""
    import importlib
    name = _module_name(path)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:  # an optional extra (dask, scanpy)
        if (err.name or "").startswith("deepchem_actinn"):
            raise
        pytest.skip("%s needs %s" % (name, err.name))
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, "%s.__all__ names what it lacks: %s" % (name, missing)


def _readme_layout() -> str:
    """The README's section that maps the package, "What it does, and
    where", up to the next section."""
    readme = PACKAGE.parent / "README.md"
    if not readme.is_file():  # an installed package: no README beside it
        pytest.skip("needs the repository's README.md, not at %s" % readme)
    text = readme.read_text(encoding="utf-8")
    start = text.index("\n## What it does, and where\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_readme_layout_names_every_module():
    """The README's map of the package names every module (as `io/text.py`;
    a package's ``__init__.py`` as its folder, `io/`), so it cannot miss a
    module added later."""
    section = _readme_layout()
    missing = []
    for path in modules():
        name = path.relative_to(PACKAGE).as_posix()
        folder = name[:-len("__init__.py")]
        if "`%s`" % name not in section and not (
                folder and name.endswith("/__init__.py") and
                "`%s`" % folder in section):
            missing.append(name)
    assert not missing, "README.md, 'What it does, and where', lacks: %s" % (
        ", ".join(missing))
