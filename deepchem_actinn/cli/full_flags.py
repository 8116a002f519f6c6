"""Flags taken as written: an ``actinn`` command reads no flag cut short
(argparse would read ``--mode`` as ``--model`` and ``-t`` as ``-ts``), and
takes each multi-word long flag with ``_`` or ``-`` between its words."""
import argparse
from typing import Any, List


class FullFlagParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` that takes no flag cut short.

    ``allow_abbrev=False`` stops argparse from reading a long flag by its
    first letters, but a single-dash word is still matched by prefix
    (``-t`` as ``-ts``, ``-n 3`` as ``-ne 3``); this parser leaves only a
    one-letter flag with its value attached (``-ofolder``, as POSIX has
    it). Subcommands' parsers are of this class too (argparse makes them of
    their parent's).

    Examples
    --------
    >>> from deepchem_actinn.cli.full_flags import FullFlagParser
    >>> parser = FullFlagParser(prog="p")
    >>> _ = parser.add_argument("-ts")
    >>> _ = parser.add_argument("-o")
    >>> parser.parse_args(["-ts", "a", "-ob"])
    Namespace(ts='a', o='b')
    >>> parser.parse_known_args(["-t", "a"])[1]
    ['-t', 'a']
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def _get_option_tuples(self, option_string: str) -> List[Any]:
        """argparse's readings of a flag not known as written: a
        one-letter flag with its value attached only (each reading's second
        field is the flag it takes ``option_string`` for)."""
        return [
            reading for reading in super()._get_option_tuples(option_string)
            if len(reading[1]) == 2
        ]


def spell_with_underscores(parser: argparse.ArgumentParser) -> None:
    """Let each multi-word long flag of ``parser`` be given with ``_`` or
    ``-`` between its words, whichever it is listed with. The other
    spelling is taken, not shown in ``--help`` (where the original's
    flags, ``--train_set``, still show both); argparse's messages name the
    flag as listed."""
    for action in parser._actions:
        for option in action.option_strings:
            if not option.startswith("--"):
                continue
            for other in ("--" + option[2:].replace("-", "_"),
                          "--" + option[2:].replace("_", "-")):
                known = parser._option_string_actions.setdefault(other, action)
                if known is not action:
                    raise ValueError("%s %s: two flags spelled %s" %
                                     (parser.prog, option, other))
