"""The ``transform_X`` / ``transform_y`` / ``transform_w`` / ``transform_ids``
flags of DeepChem's transformer constructors, for transformers that only
make sense on X."""


def check_flags(name: str, what: str, transform_X: bool, transform_y: bool,
                transform_w: bool, transform_ids: bool) -> None:
    """Refuse flags other than ``transform_X=True``, saying why.

    Examples
    --------
    >>> from deepchem_actinn.transformers._flags import check_flags
    >>> check_flags("T", "scales X", True, False, False, False)
    >>> check_flags("T", "scales X", True, True, False, False)
    Traceback (most recent call last):
    ...
    ValueError: T scales X; transform_y=True has no meaning for it: leave \
transform_y, transform_w and transform_ids False
    """
    if not transform_X:
        raise ValueError("%s %s; transform_X=False would leave nothing to "
                         "transform" % (name, what))
    flags = {
        "transform_y": transform_y,
        "transform_w": transform_w,
        "transform_ids": transform_ids
    }
    wrong = [flag for flag, value in flags.items() if value]
    if wrong:
        raise ValueError(
            "%s %s; %s %s no meaning for it: leave transform_y, "
            "transform_w and transform_ids False" %
            (name, what, " and ".join("%s=True" % f for f in wrong),
             "has" if len(wrong) == 1 else "have"))
