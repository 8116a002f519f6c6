"""The exception type for problems with a user's input.

Every check on files, labels, gene names and count values raises
:class:`ACTINNInputError` with a message that names the problem (which
file, which cells, which genes). The command line prints that message as one
line and exits non-zero; Python callers can catch it as a ``ValueError``.
Checks on a matrix's cells, which do not know the file the matrix came from,
raise its subclass :class:`ACTINNCellError`, to which the command line adds
the file's name.
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


class ACTINNCellError(ACTINNInputError):
    """Some cells of a count matrix cannot be used (NaN, negative or no
    counts, too few cells); the message names the cells, and whoever knows
    the file adds its name (:meth:`in_file`).

    Examples
    --------
    >>> from deepchem_actinn.errors import ACTINNCellError
    >>> err = ACTINNCellError("1 cell has zero total counts: c2")
    >>> print(err.in_file("query.h5ad"))
    query.h5ad: 1 cell has zero total counts: c2
    """

    def in_file(self, path) -> ACTINNInputError:
        """The same error, its message starting with the file ``path``."""
        return ACTINNInputError("%s: %s" % (path, self))


#: The package's name on pip's command line (its distribution's).
DISTRIBUTION = "deepchem-actinn"


def install_extra(extra: str) -> str:
    """How to install one of the package's optional extras (setup.cfg's
    ``extras_require``), for every message about a missing optional
    library: the line that works for an installed package, and the one
    that works from a clone (the package is not on PyPI yet).

    Examples
    --------
    >>> from deepchem_actinn.errors import install_extra
    >>> print(install_extra("report"))
    install the report extra: pip install "deepchem-actinn[report]" (from a clone: pip install ".[report]")
    """
    return ('install the %s extra: pip install "%s[%s]" (from a clone: pip '
            'install ".[%s]")' % (extra, DISTRIBUTION, extra, extra))


def counted(n: int, noun: str, verbs: str = "") -> str:
    """``n`` of ``noun`` for a message, plural when ``n`` is not 1 (an
    ``s`` on its last word), and the verb that agrees with them:
    ``verbs`` is the singular and plural verb, such as ``"has/have"``.

    Examples
    --------
    >>> from deepchem_actinn.errors import counted
    >>> counted(1, "cell", "has/have")
    '1 cell has'
    >>> counted(3, "cell id", "appears/appear")
    '3 cell ids appear'
    >>> counted(2, "query cell")
    '2 query cells'
    """
    words = [str(n), noun if n == 1 else noun + "s"]
    if verbs:
        one, many = verbs.split("/")
        words.append(one if n == 1 else many)
    return " ".join(words)


def repeated(items) -> list:
    """The items that appear more than once, each named once (in the order
    of their first repeat), for a message.

    Examples
    --------
    >>> from deepchem_actinn.errors import repeated
    >>> repeated(["a", "b", "a", "c", "b", "a"])
    ['a', 'b']
    """
    seen: set = set()
    twice: dict = {}
    for item in items:
        if item in seen:
            twice.setdefault(item, None)
        seen.add(item)
    return list(twice)


#: Characters of one item shown by :func:`examples` (longer ones are cut).
LONGEST_EXAMPLE = 60


def needs_quotes(name: str) -> bool:
    """Whether ``name`` is unreadable unquoted in a list joined with
    ``", "``: it holds a comma, has spaces around it, is blank or holds a
    character that does not print (a tab, a zero-width space).

    Examples
    --------
    >>> from deepchem_actinn.errors import needs_quotes
    >>> needs_quotes("B cell"), needs_quotes("CD4-positive, T cell")
    (False, True)
    >>> needs_quotes("T cell "), needs_quotes(""), needs_quotes("Müller glia")
    (True, True, False)
    """
    return ("," in name or name != name.strip() or not name.strip() or
            not name.isprintable())


def shown(items) -> list:
    """Items as :func:`examples` shows them: each cut to
    :data:`LONGEST_EXAMPLE` characters, and all quoted (as Python quotes
    text, ``'...'``) when any of them :func:`needs_quotes`, so that a
    reader can tell where each ends; plain names are shown as they are.

    Examples
    --------
    >>> from deepchem_actinn.errors import shown
    >>> shown(["B cell", "T cell"])
    ['B cell', 'T cell']
    >>> shown(["B cell", "CD8-positive, alpha-beta T cell"])
    ["'B cell'", "'CD8-positive, alpha-beta T cell'"]
    """
    items = [str(i) for i in items]
    quote = any(needs_quotes(i) for i in items)
    cut = [
        i if len(i) <= LONGEST_EXAMPLE else i[:LONGEST_EXAMPLE - 3] + "..."
        for i in items
    ]
    return [repr(i) for i in cut] if quote else cut


def examples(items, limit: int = 5) -> str:
    """Format a few items of a collection for an error message (each cut
    to :data:`LONGEST_EXAMPLE` characters: a whole line read as one name
    would fill the screen). When one of the items shown holds a comma, has
    spaces around it or is blank, each is quoted (:func:`shown`), so that
    the list reads unambiguously.

    Examples
    --------
    >>> from deepchem_actinn.errors import examples
    >>> examples(["a", "b", "c", "d", "e", "f", "g"], limit=3)
    'a, b, c, ... (7 in all)'
    >>> examples(["a"])
    'a'
    >>> examples(["x" * 100])
    'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'
    >>> print(examples(["CD4-positive, alpha-beta T cell", "T cell "]))
    'CD4-positive, alpha-beta T cell', 'T cell '
    """
    items = [str(i) for i in items]
    head = ", ".join(shown(items[:limit]))
    if len(items) > limit:
        head += ", ... (%d in all)" % len(items)
    return head
