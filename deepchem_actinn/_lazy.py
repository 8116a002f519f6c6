"""Names of a package imported on first use (PEP 562).

The package's ``__init__`` lists where each public name lives; the module is
imported only when the name is first read, so ``import deepchem_actinn`` and
the ``actinn`` command's ``--help`` stay fast and pull in PyTorch, DeepChem or
Dask only when they are needed.
"""
import importlib
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple


def lazy_exports(
    package: Dict[str, Any],
    exports: Mapping[str, str],
    before: Optional[Callable[[str], None]] = None
) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """``(__getattr__, __dir__)`` for a package exporting ``exports``.

    Parameters
    ----------
    package: dict
        The package's ``globals()``; a name, once imported, is cached there.
    exports: mapping
        Public name -> the module that defines it.
    before: callable, optional
        Called with the name before its module is imported (e.g. to import
        an optional dependency quietly or explain how to install it).

    Examples
    --------
    >>> from deepchem_actinn._lazy import lazy_exports
    >>> namespace = {"__name__": "demo"}
    >>> getattr_, dir_ = lazy_exports(namespace, {"sqrt": "math"})
    >>> getattr_("sqrt")(4.0), "sqrt" in namespace
    (2.0, True)
    >>> dir_()
    ['__name__', 'sqrt']
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError("module %r has no attribute %r" %
                                 (package["__name__"], name))
        if before is not None:
            before(name)
        value = getattr(importlib.import_module(exports[name]), name)
        package[name] = value
        return value

    def __dir__() -> List[str]:
        return sorted(set(package) | set(exports))

    return __getattr__, __dir__
