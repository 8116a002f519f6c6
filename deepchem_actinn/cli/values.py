"""The values the ``actinn`` flags take: each flag's type checks its
value and says what it expected, so that a bad value is a usage error
before any file is read."""
import argparse
from typing import Callable, Dict, Optional

from deepchem_actinn.io.registry import (FORMAT_NAMES, REGISTRY, FileFormat,
                                         listed)

#: ``-f`` values of the original actinn_format.py, and this package's names
#: (lower-case; "auto" detects the format).
FORMAT_ALIASES: Dict[str, Optional[str]] = dict(FORMAT_NAMES, auto=None)


def _choice(f: FileFormat) -> str:
    """A format's other names in the options' help, and what a format
    read from a folder is."""
    if not f.aliases:
        return ""
    others = "or " + ", ".join(f.aliases)
    return others + ": " + f.words if f.directory else others


#: The formats a ``--*-format`` option takes, for its help.
FORMAT_CHOICES = (listed((f.name, _choice(f)) for f in REGISTRY) +
                  "; detected from the file when omitted")
#: ``--test-orientation`` / ``--train-orientation`` choices (CSV/TSV only).
ORIENTATIONS = ("auto", "genes_by_cells", "cells_by_genes")


def format_name(value: str) -> Optional[str]:
    """A ``-f`` / ``--*-format`` value as the readers' format name."""
    key = value.lower()
    if key not in FORMAT_ALIASES:
        raise argparse.ArgumentTypeError(
            "unknown format %r; choose from %s" %
            (value, ", ".join(sorted(FORMAT_ALIASES))))
    return FORMAT_ALIASES[key]


def boolean(value: str) -> bool:
    """The original scripts' ``-op True``; a bare ``-op`` also means True."""
    if value.lower() in ("true", "t", "yes", "y", "1"):
        return True
    if value.lower() in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError("expected True or False, got %r" % value)


def overlap_share(value: str) -> float:
    """A ``--min-overlap``: a share in (0, 1] (0 would let a query that
    matches no gene through, every cell given one label)."""
    share = float(value)
    if not 0.0 < share <= 1.0:
        raise argparse.ArgumentTypeError(
            "a share of the model's genes, above 0 and at most 1")
    return share


def probability(value: str) -> float:
    """A number in [0, 1]."""
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError("a probability is in [0, 1]")
    return p


def linear_weight(value: str) -> float:
    """A ``--linear-weight``: a number in [0, 1)."""
    return _number(value, lambda w: 0 <= w < 1, "a number in [0, 1)")


def positive_int(value: str) -> int:
    """An integer of at least 1."""
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("expected at least 1, got %d" % n)
    return n


def positive_float(value: str) -> float:
    """A number above 0 (a learning rate)."""
    return _number(value, lambda x: 0 < x < float("inf"), "a number above 0")


def _number(value: str, within: Callable[[float], bool],
            expected: str) -> float:
    """``value`` as a number ``within`` accepts (not a number fails it)."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not within(number):
        raise argparse.ArgumentTypeError("expected %s, got %r" %
                                         (expected, value))
    return number


def seed_value(value: str) -> int:
    """A random seed: an integer from 0 to 2**32 - 1."""
    from deepchem_actinn.types import MAX_SEED
    try:
        n = int(value)
    except ValueError:
        n = -1
    if not 0 <= n <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            "expected a whole number from 0 to %d, got %r" % (MAX_SEED, value))
    return n
