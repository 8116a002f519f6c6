"""The mapping between cell-type names and class ids, and how a name is
read: :func:`type_name` (the same name however it is spaced or its accents
encoded) and :func:`split_fields` (a line of a tab-separated file, quoted
as pandas and the csv module write it)."""
import csv
import logging
import unicodedata
from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence, Union

import numpy as np

from deepchem_actinn.errors import ACTINNInputError, counted, examples

logger = logging.getLogger(__name__)

#: How a missing label reads once a column is turned to text
#: (``obs[col].astype(str)`` of None, NaN and pd.NA), besides an empty one.
MISSING_LABELS = frozenset(("", "nan", "None", "<NA>"))


def type_name(label) -> str:
    """A label as a type name: text, without spaces around it, in Unicode
    normal form NFC (an accent composed with its letter, as most files
    spell it: "Müller glia" typed on a Mac may arrive decomposed, the same
    name to a reader but other characters to Python).

    Examples
    --------
    >>> from deepchem_actinn.labels import type_name
    >>> type_name(" T cell ")
    'T cell'
    >>> type_name("Mu\\u0308ller glia") == "M\\u00fcller glia"
    True
    """
    return unicodedata.normalize("NFC", str(label).strip())


def type_names(labels: Iterable, source: str = "the labels") -> List[str]:
    """Each label as a type name (:func:`type_name`), warning (logger
    ``deepchem_actinn.labels``) when labels written differently became the
    same name: "T cell " of 412 cells and "T cell" of 1 are one type.

    Parameters
    ----------
    labels: iterable
        One label per cell.
    source: str, default "the labels"
        What names the labels in the warning (a file's path).

    Returns
    -------
    list of str
        The type name of each label, in order.

    Examples
    --------
    >>> from deepchem_actinn.labels import type_names
    >>> type_names(["T cell ", "T cell ", "T cell", "B cell"])
    ['T cell', 'T cell', 'T cell', 'B cell']
    """
    raw = [str(t) for t in labels]
    counts = Counter(raw)
    names = {t: type_name(t) for t in counts}
    warn_merged(source, names, counts)
    return [names[t] for t in raw]


def warn_merged(source: str,
                names: Dict[str, str],
                counts: Optional[Dict[str, int]] = None) -> None:
    """Warn (logger ``deepchem_actinn.labels``) about the names of
    ``names`` (``raw -> type name``) that became one type name, with the
    number of cells of each where ``counts`` gives them."""
    merged = merged_names(names)
    if not merged:
        return
    said = [_merge(group, name, counts) for name, group in merged.items()]
    logger.warning(
        "%s: names that differ only by spaces around them or by their "
        "Unicode form are one type: %s%s; rename one of them if they are "
        "different types", source, "; ".join(said[:5]),
        "; ... (%d in all)" % len(said) if len(said) > 5 else "")


def merged_names(names: Dict[str, str]) -> Dict[str, List[str]]:
    """The names (``raw -> type name``) that share a type name with
    another: ``{type name: [raw, ...]}``, sorted."""
    groups: Dict[str, List[str]] = {}
    for raw, name in names.items():
        groups.setdefault(name, []).append(raw)
    return {
        name: sorted(group)
        for name, group in sorted(groups.items())
        if len(group) > 1
    }


def _merge(group: List[str],
           name: str,
           counts: Optional[Dict[str, int]] = None) -> str:
    """``'T cell ' (412 cells) and 'T cell' (1 cell) are 'T cell'``."""
    said = []
    for raw in group:
        notes = [counted(counts[raw], "cell")] if counts else []
        if raw.strip() != unicodedata.normalize("NFC", raw.strip()):
            notes.append("not in Unicode NFC")
        said.append("%r%s" % (raw, " (%s)" % ", ".join(notes) if notes else ""))
    return "%s and %s are %r" % (", ".join(said[:-1]), said[-1], name)


def split_fields(line: str, delimiter: str = "\t") -> List[str]:
    """The fields of one line of a delimited file, read by the csv
    module's rules, as pandas' ``to_csv`` and ``csv.writer`` write them: a
    field that starts with ``"`` is quoted (it may hold the delimiter, and
    a ``"`` inside it is doubled); any other field is taken as it is, a
    ``"`` inside it included (``5" cell``).

    Raises
    ------
    csv.Error
        A quoted field that does not end, or does not end at a delimiter.

    Examples
    --------
    >>> from deepchem_actinn.labels import split_fields
    >>> split_fields('c1\\t"Macrophage ""M2"" cell"')
    ['c1', 'Macrophage "M2" cell']
    >>> split_fields('c1\\t5" cell')
    ['c1', '5" cell']
    """
    if '"' not in line:
        return line.split(delimiter)
    return next(
        csv.reader([line], delimiter=delimiter, quotechar='"', strict=True), [])


#: How :func:`split_fields`' error is explained, after the file and line.
QUOTING_HINT = ('a field that starts with " is quoted: it ends with " just '
                'before the next separator on the same line (a name may '
                'not hold a line break), and a " inside it is doubled, '
                'as pandas writes one ("Macrophage ""M2""")')


class CellTypeLabels:
    """Cell-type names <-> class ids, made once from the training labels.

    Class ids follow the sorted type names. Build it from the training labels
    and reuse it for every other set of labels, so that a test set lacking a
    type keeps the training numbering (rebuilding the mapping from the test
    labels would silently shift every id after the missing type).

    Parameters
    ----------
    type_names: iterable of str
        The reference cell types; duplicates are dropped and the rest sorted.
        Names are stripped of spaces around them and put in Unicode NFC,
        as every labels reader does
        (:func:`~deepchem_actinn.labels.type_name`; a warning names those
        that became one); a missing one (None, NaN, empty) is refused.

    Attributes
    ----------
    type_names: list of str
        The reference cell types, sorted; class id ``i`` is ``type_names[i]``.

    Examples
    --------
    >>> from deepchem_actinn import CellTypeLabels
    >>> labels = CellTypeLabels.from_labels(["T cell", "B cell", "T cell"])
    >>> labels.type_names
    ['B cell', 'T cell']
    >>> labels.encode(["T cell", "B cell"])
    array([1, 0])
    >>> labels.decode([0, 1, 1])
    array(['B cell', 'T cell', 'T cell'], dtype=object)
    """

    def __init__(self, type_names: Iterable[str]) -> None:
        given = {str(t): type_name(t) for t in type_names}
        warn_merged("cell types", given)
        names = sorted(set(given.values()))
        if not names:
            raise ACTINNInputError("no cell types given")
        if set(names) & MISSING_LABELS:
            raise ACTINNInputError(
                "a missing label (None, NaN or empty) is not a cell type: "
                "leave the unlabelled cells out")
        self.type_names = names
        self._index = {t: i for i, t in enumerate(names)}

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> "CellTypeLabels":
        """The mapping for the types seen in a label vector.

        Parameters
        ----------
        labels: iterable of str
            One label per cell; repeats are fine.

        Returns
        -------
        CellTypeLabels
            The mapping for the distinct labels, in sorted order. Labels
            that differ only by spaces around them or by their Unicode
            form are one type (:func:`~deepchem_actinn.labels.type_name`),
            with a warning that names them and their cells.

        Raises
        ------
        ACTINNInputError
            A label reads as ``Unassigned`` (whatever its case), the label
            given to the cells no type fits.

        Examples
        --------
        >>> from deepchem_actinn import CellTypeLabels
        >>> CellTypeLabels.from_labels(["B cell", "unassigned"])
        Traceback (most recent call last):
        ...
        deepchem_actinn.errors.ACTINNInputError: the reference labels name a type 'unassigned', which reads as 'Unassigned', the label given to cells no type fits; rename that type so that the two cannot be confused
        """
        names = type_names(labels, "the reference labels")
        refuse_unassigned(names)
        return cls(names)

    @classmethod
    def in_order(cls, type_names: Sequence[str]) -> "CellTypeLabels":
        """The mapping of a trained model's types: class ids in the order
        given (its networks' outputs), each name read as
        :func:`~deepchem_actinn.labels.type_name` reads it, not re-sorted (a
        name saved in another Unicode form sorts elsewhere once in NFC, and
        would take another type's outputs).

        Examples
        --------
        >>> from deepchem_actinn import CellTypeLabels
        >>> saved = ["A cell", "Mu\u0308ller glia", "Mz cell"]  # sorted as saved
        >>> labels = CellTypeLabels.in_order(saved)
        >>> labels.encode(["M\u00fcller glia", "Mz cell"]).tolist()
        [1, 2]
        """
        names = [type_name(t) for t in type_names]
        if len(set(names)) != len(names) or not names:
            raise ACTINNInputError(
                "the types %s are not distinct once read as names (spaces "
                "around them dropped, Unicode NFC)" % examples(type_names))
        labels = cls.__new__(cls)
        labels.type_names = names
        labels._index = {t: i for i, t in enumerate(names)}
        return labels

    @property
    def n_types(self) -> int:
        """Number of cell types."""
        return len(self.type_names)

    def unknown(self, labels: Iterable[str]) -> list:
        """The distinct labels that are not reference types, sorted.

        Parameters
        ----------
        labels: iterable of str
            Labels to check, read as the constructor reads them.

        Returns
        -------
        list of str
            The labels with no class id; empty when all are known.
        """
        return sorted({type_name(t) for t in labels} - set(self._index))

    def encode(self, labels: Union[Sequence[str], np.ndarray]) -> np.ndarray:
        """Class ids of ``labels``.

        Parameters
        ----------
        labels: sequence of str or np.ndarray
            Cell-type names, each one of ``type_names``.

        Returns
        -------
        np.ndarray
            The class ids, int64, one per label.

        Raises
        ------
        ACTINNInputError
            Some labels are not reference types; the message names them.
        """
        names = [type_name(t) for t in labels]
        unknown = self.unknown(names)
        if unknown:
            raise ACTINNInputError(
                "%d cell type%s not in the reference: %s (reference types: %s)"
                % (len(unknown), " is" if len(unknown) == 1 else "s are",
                   examples(unknown), examples(self.type_names)))
        return np.array([self._index[t] for t in names], dtype=np.int64)

    def decode(self, class_ids: Iterable[int]) -> np.ndarray:
        """Type names of class ids (each in ``0 .. n_types - 1``).

        Parameters
        ----------
        class_ids: iterable of int
            Class ids, each in ``0 .. n_types - 1``.

        Returns
        -------
        np.ndarray
            The type names, an object array, one per id.

        Raises
        ------
        ValueError
            An id is outside ``0 .. n_types - 1``.
        """
        names = np.asarray(self.type_names, dtype=object)
        ids = np.asarray(list(class_ids), dtype=np.int64)
        bad = ids[(ids < 0) | (ids >= len(names))]
        if len(bad):
            raise ValueError("class ids must be in 0 .. %d, got %s" %
                             (len(names) - 1, examples(bad.tolist())))
        return names[ids]

    def __len__(self) -> int:
        return self.n_types

    def __repr__(self) -> str:
        return "CellTypeLabels(%r)" % (self.type_names,)


def refuse_unassigned(names: Iterable[str]) -> None:
    """Refuse a reference type named ``Unassigned`` (the label of the cells
    no type fits), whatever its case and the spaces around it.

    Raises
    ------
    ACTINNInputError
        Naming the first such type.
    """
    from deepchem_actinn.confidence.calibration import UNASSIGNED
    for name in sorted(set(names)):
        if is_unassigned(name):
            raise ACTINNInputError(
                "the reference labels name a type %r, %sthe label given to "
                "cells no type fits; rename that type so that the two cannot "
                "be confused" %
                (name, "" if name == UNASSIGNED else "which reads as %r, " %
                 UNASSIGNED))


def is_unassigned(name: str) -> bool:
    """Whether ``name`` reads as ``Unassigned`` (any case, spaces around
    it).

    Examples
    --------
    >>> from deepchem_actinn.labels import is_unassigned
    >>> [is_unassigned(n) for n in ("Unassigned", " UNASSIGNED", "T cell")]
    [True, True, False]
    """
    from deepchem_actinn.confidence.calibration import UNASSIGNED
    return type_name(name).casefold() == UNASSIGNED.casefold()
