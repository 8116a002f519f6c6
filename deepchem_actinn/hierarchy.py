"""A hierarchy of cell types: the parent when the fine type is uncertain.

Closely related types (NK cells and T cells, monocytes and granulocytes)
are the ones an annotator confuses, above all on a query from another
technology. When a cell's top two types are nearly tied and share a parent,
that parent ("lymphocyte") is the honest answer: right, if coarser, where
either child alone may be wrong.

A hierarchy is a set of ``child -> parent`` links (a forest: a type may have
no parent, parents may have parents of their own), read from a
``child<TAB>parent`` file. The probability of a parent is the sum of the
probabilities of the types under it.

Examples
--------
>>> import numpy as np
>>> from deepchem_actinn.hierarchy import TypeHierarchy
>>> hierarchy = TypeHierarchy.from_pairs([("NK cell", "lymphocyte"),
...                                       ("T cell", "lymphocyte")])
>>> hierarchy.resolve(np.array([[0.50, 0.45, 0.05], [0.90, 0.05, 0.05]]),
...                   ["NK cell", "T cell", "B cell"], margin=0.2)
        label   level  probability
0  lymphocyte  parent         0.95
1     NK cell    type         0.90
"""
import difflib
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from deepchem_actinn.errors import ACTINNInputError, counted, examples, shown
from deepchem_actinn.confidence.calibration import UNASSIGNED
from deepchem_actinn.labels import is_unassigned, type_name, warn_merged

#: Top-two probability gap below which a cell is given the parent type
#: (:meth:`TypeHierarchy.resolve`'s default, and the annotator's rule).
HIERARCHY_MARGIN = 0.2

#: The bundled hierarchy of the Tabula Muris sample's 12 types.
BUNDLED_HIERARCHY = (Path(__file__).resolve().parent / "data" /
                     "tabula_muris_sample" / "hierarchy.txt")


class TypeHierarchy:
    """Cell types and their parents (a forest), checked on construction.

    Parameters
    ----------
    parents: mapping of str to str
        Each child type's parent.

    Raises
    ------
    ACTINNInputError
        A type that is its own parent, or a cycle (the message names it).

    Attributes
    ----------
    parents: dict
        ``child -> parent``.

    Examples
    --------
    >>> from deepchem_actinn.hierarchy import TypeHierarchy
    >>> h = TypeHierarchy({"T cell": "lymphocyte",
    ...                    "lymphocyte": "immune cell"})
    >>> h.ancestors("T cell")
    ['lymphocyte', 'immune cell']
    >>> h.children("lymphocyte")
    ['T cell']
    """

    def __init__(self, parents: Mapping[str, str]) -> None:
        self.parents: Dict[str,
                           str] = {str(k): str(v) for k, v in parents.items()}
        for child, parent in self.parents.items():
            if child == parent:
                raise ACTINNInputError("type hierarchy: %r is its own parent" %
                                       child)
            for name in (child, parent):
                if is_unassigned(name):
                    raise ACTINNInputError(
                        "type hierarchy: %r %sis the label of the cells no "
                        "type fits, not a type or a group (pair %r -> %r)" %
                        (name, "" if name == UNASSIGNED else
                         "reads as %r, which " % UNASSIGNED, child, parent))
        for start in self.parents:
            path = [start]
            node = start
            while node in self.parents:
                node = self.parents[node]
                if node in path:
                    cycle = path[path.index(node):] + [node]
                    raise ACTINNInputError("type hierarchy has a cycle: %s" %
                                           " -> ".join(cycle))
                path.append(node)

    @classmethod
    def from_pairs(cls, pairs: Iterable[Tuple[str, str]]) -> "TypeHierarchy":
        """From ``(child, parent)`` pairs; a child given two parents is an
        error.

        Parameters
        ----------
        pairs: iterable of (str, str)
            ``(child, parent)`` type names, read as a model reads its types
            (:func:`~deepchem_actinn.labels.type_name`: stripped of
            surrounding spaces, in Unicode NFC); names that then read the
            same are one type, with a warning naming them.

        Returns
        -------
        TypeHierarchy
            The hierarchy of those links.

        Raises
        ------
        ACTINNInputError
            An empty name, a child with two parents, or a cycle.

        Examples
        --------
        >>> from deepchem_actinn.hierarchy import TypeHierarchy
        >>> TypeHierarchy.from_pairs([("B cell", "lymphocyte")]).parents
        {'B cell': 'lymphocyte'}
        """
        return cls._linked(pairs, "type hierarchy")

    @classmethod
    def _linked(cls, pairs: Iterable[Tuple[str, str]],
                source: str) -> "TypeHierarchy":
        """:meth:`from_pairs`, ``source`` naming the pairs in its warning."""
        pairs = [(str(c), str(p)) for c, p in pairs]
        names = {raw: type_name(raw) for pair in pairs for raw in pair}
        warn_merged(source, names)
        parents: Dict[str, str] = {}
        for child, parent in pairs:
            child, parent = names[child], names[parent]
            if not child or not parent:
                raise ACTINNInputError(
                    "type hierarchy: empty type name in pair (%r, %r)" %
                    (child, parent))
            if parents.get(child, parent) != parent:
                raise ACTINNInputError(
                    "type hierarchy: %r has two parents, %r and %r" %
                    (child, parents[child], parent))
            parents[child] = parent
        return cls(parents)

    @classmethod
    def from_file(cls, path) -> "TypeHierarchy":
        """From a ``child<TAB>parent`` file.

        Blank lines are skipped, and so are comments: lines that start with
        ``#`` and hold no tab. A line with a tab is always a link, even
        when the child's name starts with ``#`` (a type "#hash cell", as a
        labels file may name one), so that no link is dropped unseen; a
        link commented out with ``#`` names a type the model does not know,
        which :meth:`check_types` refuses. The file is read as labels files
        are (the package's one reader of two-column text,
        ``io.labels.read_pairs``): fields by the csv module's rules, as
        pandas writes them (a name that starts with ``"`` is quoted, a
        ``"`` inside it doubled), comma-separated where the first line that
        is no comment holds a comma and no tab, gunzipped where gzipped;
        and names as :meth:`from_pairs` reads them.

        Parameters
        ----------
        path: str or pathlib.Path
            The hierarchy file, UTF-8 text (gzipped or not).

        Returns
        -------
        TypeHierarchy
            The hierarchy of the file's links.

        Raises
        ------
        ACTINNInputError
            The file is missing, not UTF-8 text, has a line that is not
            ``child<TAB>parent`` (or holds a quoted name that is not
            closed), no links at all, or links that
            ``from_pairs`` refuses (the message names the file).

        Examples
        --------
        >>> from deepchem_actinn.hierarchy import (BUNDLED_HIERARCHY,
        ...                                        TypeHierarchy)
        >>> h = TypeHierarchy.from_file(BUNDLED_HIERARCHY)
        >>> h.parent("NK cell"), h.parent("T cell")
        ('lymphocyte', 'lymphocyte')
        """
        from deepchem_actinn.io._common import existing  # h5py: on use
        from deepchem_actinn.io.labels import read_pairs
        path = existing(path)
        if not path.is_file():
            raise ACTINNInputError("%s: not a file (a type hierarchy is a "
                                   "file of child<TAB>parent lines)" % path)
        pairs = []
        for number, fields, line in read_pairs(path,
                                               "child<TAB>parent",
                                               comments=True):
            if len(fields) != 2:
                raise ACTINNInputError(
                    "%s: line %d: expected child<TAB>parent, got %r" %
                    (path, number, line[:80]))
            pairs.append((fields[0], fields[1]))
        if not pairs:
            raise ACTINNInputError(
                "%s: no child<TAB>parent lines (an empty hierarchy gives no "
                "parent type)" % path)
        try:
            return cls._linked(pairs, str(path))
        except ACTINNInputError as err:
            raise ACTINNInputError("%s: %s" % (path, err)) from None

    def parent(self, name: str) -> Optional[str]:
        """The parent of ``name``, or None for a root."""
        return self.parents.get(name)

    def ancestors(self, name: str) -> List[str]:
        """Parent, grandparent, ... of ``name``, nearest first."""
        out = []
        while name in self.parents:
            name = self.parents[name]
            out.append(name)
        return out

    def children(self, name: str) -> List[str]:
        """The direct children of ``name``, sorted."""
        return sorted(c for c, p in self.parents.items() if p == name)

    def check_types(self, type_names: Sequence[str]) -> None:
        """Check the hierarchy against a model's types.

        Every type without children in the hierarchy must be one of
        ``type_names``, and no group may be named like a type it does not
        hold; a model's type missing from the hierarchy is allowed (it has
        no parent).

        Parameters
        ----------
        type_names: sequence of str
            The model's cell types.

        Raises
        ------
        ACTINNInputError
            Naming the hierarchy's unknown types and, for each, the model's
            type nearest in spelling, if any is near.

        Examples
        --------
        >>> from deepchem_actinn.hierarchy import TypeHierarchy
        >>> h = TypeHierarchy({"NK cells": "lymphocyte"})
        >>> h.check_types(["NK cell", "T cell"])
        Traceback (most recent call last):
        ...
        deepchem_actinn.errors.ACTINNInputError: type hierarchy names 1 type the model does not know: NK cells; the model's nearest: NK cells -> NK cell (the model's types: NK cell, T cell)
        """
        known = set(str(t) for t in type_names)
        groups = set(self.parents.values())
        unknown = sorted(
            c for c in self.parents if c not in groups and c not in known)
        if unknown:
            raise ACTINNInputError(
                "type hierarchy names %s the model does not know: %s%s "
                "(the model's types: %s)" %
                (counted(len(unknown), "type"), examples(unknown),
                 _nearest(unknown[:5], sorted(known)), examples(sorted(known))))

    def resolve(self,
                probabilities,
                type_names: Sequence[str],
                margin: float = HIERARCHY_MARGIN) -> pd.DataFrame:
        """Each cell's fine type, or the parent when the fine type is
        uncertain between types that share it.

        A cell's fine type is uncertain when its top two probabilities
        differ by less than ``margin``. Then, if the two types have a common
        ancestor, the cell gets the nearest one, at level ``"parent"``,
        with the summed probability of all of ``type_names`` under it
        (a type that is itself a group counts its own probability too).
        Otherwise the cell keeps its top type, at level ``"type"``.

        Parameters
        ----------
        probabilities: array, cells x types
            Each cell's probability of each type (rows sum to 1).
        type_names: sequence of str
            The types of the columns.
        margin: float, default 0.2
            Top-two gap below which the fine type counts as uncertain
            (:data:`HIERARCHY_MARGIN`).

        Returns
        -------
        pandas.DataFrame
            One row per cell: ``label``, ``level`` (``"type"`` or
            ``"parent"``) and ``probability`` (of the label given).

        Raises
        ------
        ACTINNInputError
            ``probabilities`` do not match ``type_names``, ``margin`` is
            outside 0 .. 1, or ``check_types`` refuses the types.

        Examples
        --------
        >>> import numpy as np
        >>> from deepchem_actinn.hierarchy import TypeHierarchy
        >>> h = TypeHierarchy({"T cell": "lymphocyte", "NK cell": "lymphocyte",
        ...                    "Monocyte": "myeloid cell"})
        >>> h.resolve(np.array([[0.4, 0.3, 0.3]]),
        ...           ["T cell", "Monocyte", "NK cell"])
            label level  probability
        0  T cell  type          0.4
        """
        P = np.asarray(probabilities, dtype=np.float64)
        names = [str(t) for t in type_names]
        if P.ndim != 2 or P.shape[1] != len(names):
            raise ACTINNInputError(
                "probabilities of shape %s do not match %d type names" %
                (P.shape, len(names)))
        if not 0.0 <= margin <= 1.0:
            raise ACTINNInputError("margin must be between 0 and 1, got %r" %
                                   margin)
        self.check_types(names)
        # Columns under each group (each type counts for itself and for
        # every ancestor).
        members: Dict[str, List[int]] = {}
        for j, name in enumerate(names):
            for node in [name] + self.ancestors(name):
                members.setdefault(node, []).append(j)
        n_cells = P.shape[0]
        labels = np.empty(n_cells, dtype=object)
        levels = np.full(n_cells, "type", dtype=object)
        probs = np.zeros(n_cells)
        if n_cells and len(names) > 1:
            order = np.argsort(-P, axis=1, kind="stable")[:, :2]
        else:
            order = np.zeros((n_cells, 2), dtype=int)
        for i in range(n_cells):
            first, second = order[i]
            labels[i], probs[i] = names[first], P[i, first]
            if len(names) < 2 or P[i, first] - P[i, second] >= margin:
                continue
            shared = self._common_ancestor(names[first], names[second])
            if shared is not None:
                labels[i], levels[i] = shared, "parent"
                probs[i] = P[i, members[shared]].sum()
        return pd.DataFrame({
            "label": labels.astype(str),
            "level": levels.astype(str),
            "probability": probs
        })

    def _common_ancestor(self, a: str, b: str) -> Optional[str]:
        """The nearest group holding both ``a`` and ``b`` (either may be the
        group itself), or None."""
        above_b = set([b] + self.ancestors(b))
        for node in [a] + self.ancestors(a):
            if node in above_b:
                return node
        return None

    def __len__(self) -> int:
        return len(self.parents)

    def __repr__(self) -> str:
        return "TypeHierarchy(%d links, %d groups)" % (len(
            self.parents), len(set(self.parents.values())))


def _nearest(unknown: List[str], known: List[str]) -> str:
    """``"; the model's nearest: a -> A, b -> B"`` for the names of
    ``unknown`` that have a near name in ``known``
    (:func:`difflib.get_close_matches`, ignoring case), else ``""``."""
    folded: Dict[str, str] = {}
    for name in known:
        folded.setdefault(name.casefold(), name)
    pairs = []
    for name in unknown:
        near = difflib.get_close_matches(name.casefold(), list(folded), n=1)
        if near:
            pairs.append((name, folded[near[0]]))
    if not pairs:
        return ""
    names = shown([n for pair in pairs for n in pair])
    return "; the model's nearest: " + ", ".join(
        "%s -> %s" % (names[2 * i], names[2 * i + 1])
        for i in range(len(pairs)))
