"""The one exception type for problems with a user's input.

Every check on files, labels, gene names and count values raises
:class:`ACTINNInputError` with a message that names the problem (which
file, which cells, which genes). The command line prints that message as one
line and exits non-zero; Python callers can catch it as a ``ValueError``.
"""


class ACTINNInputError(ValueError):
    """Bad input: the message says what is wrong and where.

    Examples
    --------
    >>> from deepchem_actinn.errors import ACTINNInputError
    >>> try:
    ...     raise ACTINNInputError("labels.txt: 2 cells missing, e.g. c1, c2")
    ... except ValueError as err:
    ...     print(err)
    labels.txt: 2 cells missing, e.g. c1, c2
    """


def examples(items, limit: int = 5) -> str:
    """Format a few items of a collection for an error message.

    Examples
    --------
    >>> examples(["a", "b", "c", "d", "e", "f", "g"], limit=3)
    'a, b, c, ... (7 in all)'
    >>> examples(["a"])
    'a'
    """
    items = [str(i) for i in items]
    head = ", ".join(items[:limit])
    if len(items) > limit:
        head += ", ... (%d in all)" % len(items)
    return head
