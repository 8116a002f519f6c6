"""The exception type for problems with a user's input.

Every check on files, labels, gene names and count values raises
:class:`ACTINNInputError` with a message that names the problem (which
file, which cells, which genes). The command line prints that message as one
line and exits non-zero; Python callers can catch it as a ``ValueError``.
Checks on a matrix's cells, which do not know the file the matrix came from,
raise its subclass :class:`ACTINNCellError`, to which the command line adds
the file's name.

A message's advice on what to pass (``layer='counts'``,
``overwrite=True``) is data, not text: an :class:`Advice` among the
message's arguments, worded when the message is shown, by a
:class:`Dialect`: Python's keywords for ``str(err)``, the command line's
options (``--test-layer counts``, ``--overwrite``) when ``actinn`` prints it.
"""
from typing import Any, Mapping, Optional, Sequence


class _Any:
    """A setting named without its value (``layer=``)."""

    def __repr__(self) -> str:
        return "ANY"

    def __reduce__(self) -> str:  # one object, pickled by name
        return "ANY"


#: The value of a setting an :class:`Advice` names without one: ``layer=``
#: in Python, the option alone on the command line.
ANY = _Any()


class Placeholder:
    """A value an :class:`Advice` stands in for by a name, the user's to
    choose: ``column=NAME`` in Python, ``--labels-column NAME`` on the
    command line.

    Examples
    --------
    >>> from deepchem_actinn.errors import Advice, Placeholder
    >>> print(Advice(dict(column=Placeholder("NAME"))))
    pass column=NAME
    """

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__


class Dialect:
    """How a front end words an :class:`Advice`: this class gives Python's
    keywords (``layer='counts'``, ``use_raw=True``); the command line's
    (``deepchem_actinn.cli.common.CommandWords``) gives its options.

    Parameters
    ----------
    role: str, optional
        Which of a command's files is being read (``"train"``,
        ``"test"``): the file whose options an advice names, unless it says
        its own.

    Examples
    --------
    >>> from deepchem_actinn.errors import ANY, Dialect
    >>> Dialect().setting("layer", "counts", None)
    "layer='counts'"
    >>> Dialect().setting("format", ANY, None)
    'format='
    >>> Dialect().say("pass", "min_overlap=0.4", "set annotator.%s")
    'set annotator.min_overlap=0.4'
    """

    #: What joins settings given together.
    together = ", "

    def __init__(self, role: Optional[str] = None):
        self.role = role

    def for_role(self, role: Optional[str]) -> "Dialect":
        """The same dialect for the file ``role`` (itself when None)."""
        return self if role is None else type(self)(role)

    def setting(self, name: str, value: Any,
                role: Optional[str]) -> Optional[str]:
        """One setting in this dialect's words; None where it cannot be
        given (the command has no such option)."""
        return "%s=" % name if value is ANY else "%s=%r" % (name, value)

    def choices(self, said: Sequence[str]) -> Sequence[str]:
        """The alternatives to say, each worded (the command line drops
        those another one says already)."""
        return said

    def say(self, verb: str, said: str, python: Optional[str]) -> str:
        """The advice's words: ``verb`` before the settings ``said``, or,
        in Python, the settings in the advice's own words ``python`` (at
        its ``%s``: a call, an attribute set), when it has them."""
        if python is not None:
            return python % said
        return " ".join(w for w in (verb, said) if w)


PYTHON = Dialect()


def in_words(item: Any, dialect: Dialect) -> Any:
    """An argument of a message as ``dialect`` words it: an
    :class:`Advice`, a :class:`Message` or an error in its words, anything
    else as it is (for ``%d`` and ``%r``)."""
    if isinstance(item, (Advice, Message, ACTINNInputError)):
        return item.words(dialect)
    return item


def _format(template: Any, args: Sequence[Any], dialect: Dialect) -> str:
    if not args:  # a message alone (a Message too): as it is, % and all
        return str(in_words(template, dialect))
    return str(template) % tuple(in_words(a, dialect) for a in args)


class Advice:
    """Settings of parameters that a message names: what to pass (``pass
    layer='counts'``) or what was passed (``format='csv' needs text``),
    kept as data so that each front end words them (:class:`Dialect`):
    ``str()`` in Python's keywords; ``actinn`` in its options, those of the
    file it was reading.

    Parameters
    ----------
    *choices: dict
        Settings given together (``dict(layer="counts",
        allow_non_integer=True)``), one dict per alternative (said joined
        by "or"); :data:`ANY` as a value names the setting alone.
    verb: str, default "pass"
        The words before them ("" for none).
    notes: sequence of str, optional
        A gloss after each alternative ("genes as rows").
    role: str, optional
        The file the settings are for (``"train"``, ``"test"``), when not
        the one being read.
    otherwise: str, optional
        What to say instead where none of the settings can be given (a
        command without such an option), verb included.
    python: str, optional
        Python's words for the advice, in place of the verb, the settings
        at its ``%s``: where they are passed to a function other than the
        one that raised (``"read_labels(path, %s)"``) or set on an object
        (``"set annotator.%s"``). Other front ends say the verb and their
        own words for the settings.

    Examples
    --------
    >>> from deepchem_actinn.errors import ANY, Advice
    >>> print(Advice(dict(layer="counts", allow_non_integer=True)))
    pass layer='counts', allow_non_integer=True
    >>> print(Advice(dict(layer=ANY), dict(use_raw=True), verb="name it with"))
    name it with layer= or use_raw=True
    >>> print(Advice(dict(min_overlap=0.3), python="set annotator.%s"))
    set annotator.min_overlap=0.3
    """

    def __init__(self,
                 *choices: Mapping[str, Any],
                 verb: str = "pass",
                 notes: Sequence[str] = (),
                 role: Optional[str] = None,
                 otherwise: Optional[str] = None,
                 python: Optional[str] = None):
        self.choices = tuple(dict(c) for c in choices)
        self.verb = verb
        self.notes = tuple(notes) + ("",) * (len(self.choices) - len(notes))
        self.role = role
        self.otherwise = otherwise
        self.python = python

    def words(self, dialect: Dialect) -> str:
        """The advice in ``dialect``'s words."""
        dialect = dialect.for_role(self.role)
        said = []
        for choice, note in zip(self.choices, self.notes):
            parts = [
                dialect.setting(name, value, dialect.role)
                for name, value in choice.items()
            ]
            if None not in parts:
                said.append(
                    dialect.together.join(str(p) for p in parts) +
                    (" (%s)" % note if note else ""))
        if not said:
            if self.otherwise is not None:
                return self.otherwise
            return self.words(PYTHON) + " (in Python)"
        said = list(dialect.choices(said))
        names = {name for choice in self.choices for name in choice}
        if len(said) > 1 and len(names) == 1:
            # one parameter's values: named once ("orientation='a' or 'b'")
            name = dialect.setting(names.pop(), ANY, dialect.role) or ""
            said[1:] = [
                w[len(name):].lstrip() if name and w.startswith(name) else w
                for w in said[1:]
            ]
        return dialect.say(self.verb, " or ".join(said), self.python)

    def __str__(self) -> str:
        return self.words(PYTHON)

    def __repr__(self) -> str:
        return "Advice(%r)" % str(self)


class Message:
    """A message, or a piece of one, formatted when shown: ``template %
    args``, each :class:`Advice` (or message) among ``args`` worded by the
    :class:`Dialect` that shows it.

    Examples
    --------
    >>> from deepchem_actinn.errors import Advice, Message
    >>> print(Message("%s exists; %s to replace it", "out",
    ...               Advice(dict(overwrite=True))))
    out exists; pass overwrite=True to replace it
    """

    def __init__(self, template: str, *args: Any):
        self.template = template
        self.args = args

    def words(self, dialect: Dialect) -> str:
        """The message in ``dialect``'s words."""
        return _format(self.template, self.args, dialect)

    def __str__(self) -> str:
        return self.words(PYTHON)

    def __repr__(self) -> str:
        return "Message(%r)" % str(self)

    def __add__(self, other: Any) -> "Message":
        return Message("%s%s", self, other)

    def __radd__(self, other: Any) -> "Message":
        return Message("%s%s", other, self)


def joined(separator: str, items: Sequence[Any]) -> Message:
    """``separator.join(items)``, its items worded when shown (for pieces
    of messages that hold advice).

    Examples
    --------
    >>> from deepchem_actinn.errors import Advice, joined
    >>> print(joined("; ", ["a", Advice(dict(use_raw=True))]))
    a; pass use_raw=True
    """
    return Message(separator.join(["%s"] * len(items)), *items)


class ACTINNInputError(ValueError):
    """Bad input: the message says what is wrong and where.

    Raised with a message, or with a template and its arguments (as
    ``logging`` takes them), an ``Advice`` among them worded when
    shown: ``str(err)`` in Python's keywords, ``words()`` in another
    front end's.

    Examples
    --------
    >>> from deepchem_actinn.errors import ACTINNInputError, Advice
    >>> try:
    ...     raise ACTINNInputError("labels.txt: 2 cells missing, e.g. c1, c2")
    ... except ValueError as err:
    ...     print(err)
    labels.txt: 2 cells missing, e.g. c1, c2
    >>> print(ACTINNInputError("%s: no .raw; %s", "q.h5ad",
    ...                        Advice(dict(layer="counts"))))
    q.h5ad: no .raw; pass layer='counts'
    """

    def __init__(self, message: Any = "", *args: Any):
        super().__init__(message, *args)
        #: Which of a command's files was being read when this was raised
        #: (set by the command line), for the options its advice names.
        self.role: Optional[str] = None

    def words(self, dialect: Dialect) -> str:
        """The message in ``dialect``'s words (this error's file, when
        known, is the one whose options it names)."""
        if not self.args:
            return ""
        return _format(self.args[0], self.args[1:], dialect.for_role(self.role))

    def __str__(self) -> str:
        return self.words(PYTHON)


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
        return ACTINNInputError("%s: %s", path, self)


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


def first_line(err: BaseException) -> str:
    """The first line of an error's message ("" for none): what a one-line
    message quotes of an error whose text runs on (PyTorch's).

    Examples
    --------
    >>> from deepchem_actinn.errors import first_line
    >>> first_line(RuntimeError("Error(s) in loading state_dict\\n\\tsize"))
    'Error(s) in loading state_dict'
    """
    text = str(err).strip()
    return text.splitlines()[0] if text else ""


def install_package(package: str) -> str:
    """How to install a package that is none of this one's extras, but
    that anndata needs to read an element some files hold (awkward, for
    scirpy's awkward arrays): the one other install line a message gives.

    Examples
    --------
    >>> from deepchem_actinn.errors import install_package
    >>> install_package("awkward")
    'pip install awkward'
    """
    return "pip install %s" % package


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
