"""Advice as data: an error's advice on what to pass is worded when the
error is shown, in Python's keywords or in the options of the command (and
of the file) that was reading."""
import logging
import pickle

import pytest

from deepchem_actinn.cli.common import CommandWords, file_role, speaking
from deepchem_actinn.cli.parser import build_parser
from deepchem_actinn.errors import (ANY, ACTINNCellError, ACTINNInputError,
                                    Advice, Dialect, Message)

RUN = ["run", "-trs", "r.h5ad", "-trl", "l.txt", "-ts", "q.h5ad", "-o", "o"]


def words(argv, role=None):
    return CommandWords.of(build_parser().parse_args(argv)).for_role(role)


@pytest.mark.parametrize("advice, python, test, train", [
    (Advice(dict(layer="counts", allow_non_integer=True)),
     "pass layer='counts', allow_non_integer=True",
     "pass --test-layer counts --allow-non-integer",
     "pass --train-layer counts --allow-non-integer"),
    (Advice(dict(use_raw=True)), "pass use_raw=True", "pass --test-layer .raw",
     "pass --train-layer .raw"),
    (Advice(dict(use_raw=False)), "pass use_raw=False", "pass --test-layer X",
     "pass --train-layer X"),
    (Advice(dict(layer=ANY), dict(use_raw=True),
            verb="name it with"), "name it with layer= or use_raw=True",
     "name it with --test-layer", "name it with --train-layer"),
    (Advice(dict(overwrite=True)), "pass overwrite=True", "pass --overwrite",
     "pass --overwrite"),
    (Advice(dict(format="csv"), verb=""), "format='csv'", "--test-format csv",
     "--train-format csv"),
    (Advice(dict(orientation="genes_by_cells"),
            dict(orientation="cells_by_genes"),
            notes=("genes as rows", "cells as rows")),
     "pass orientation='genes_by_cells' (genes as rows) or 'cells_by_genes' "
     "(cells as rows)", "pass --test-orientation genes_by_cells (genes as "
     "rows) or cells_by_genes (cells as rows)",
     "pass --train-orientation genes_by_cells (genes as rows) or "
     "cells_by_genes (cells as rows)"),
    (Advice(dict(min_overlap=0.4)), "pass min_overlap=0.4",
     "pass --min-overlap 0.4", "pass --min-overlap 0.4"),
])
def test_one_advice_in_each_front_end_s_words(advice, python, test, train):
    assert str(advice) == python
    assert advice.words(Dialect("test")) == python  # a file: no matter
    assert advice.words(words(RUN, "test")) == test
    assert advice.words(words(RUN, "train")) == train


def test_a_command_without_the_option_says_what_it_does_instead():
    advice = Advice(dict(orientation="cells_by_genes"),
                    otherwise="transpose the file first")
    fmt = ["format", "-i", "t.csv", "-o", "t"]
    assert advice.words(words(fmt)) == "transpose the file first"
    assert advice.words(words(RUN)) == "pass --test-orientation cells_by_genes"
    # the layer of format's one input, and its format, are its own options
    assert Advice(dict(layer=ANY)).words(words(fmt)) == "pass --input-layer"
    assert Advice(dict(format="h5ad"),
                  verb="").words(words(fmt)) == "--format h5ad"


def test_an_error_is_worded_when_shown_and_survives_pickling():
    """An error keeps its advice as data through a wrapping error (the
    file's name added) and a pickle (as Dask sends it back), with the file
    it was raised reading."""
    inner = ACTINNCellError("%d cells hold NaN; %s", 2,
                            Advice(dict(layer="counts")))
    err = inner.in_file("q.h5ad")
    err.role = "train"
    assert str(err) == "q.h5ad: 2 cells hold NaN; pass layer='counts'"
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.role == "train"
    assert back.words(words(RUN)) == ("q.h5ad: 2 cells hold NaN; pass "
                                      "--train-layer counts")
    # a message of no advice is as given, % and all
    assert str(ACTINNInputError("100 % of the cells")) == "100 % of the cells"
    assert str(Message("%s, %s", "a", Advice(dict(use_raw=True), verb=""))) \
        == "a, use_raw=True"


def test_the_file_being_read_is_the_one_named():
    """An error raised while the command reads a file names that file's
    options: the innermost read's, whichever file the message names."""
    with pytest.raises(ACTINNInputError) as err:
        with file_role("test"):
            with file_role("train"):
                raise ACTINNInputError("same.h5ad: %s", Advice(dict(layer=ANY)))
    assert err.value.role == "train"
    assert err.value.words(words(RUN)) == "same.h5ad: pass --train-layer"
    with pytest.raises(ACTINNInputError) as err:
        with file_role("test"):
            raise ACTINNInputError("same.h5ad: %s", Advice(dict(layer=ANY)))
    assert err.value.words(words(RUN)) == "same.h5ad: pass --test-layer"


def test_a_record_logged_is_worded_for_the_file_being_read(capsys):
    from deepchem_actinn.cli.progress import package_logging
    logger = logging.getLogger("deepchem_actinn.io.orientation")
    advice = Advice(dict(orientation="cells_by_genes"),
                    otherwise="transpose the file first")
    args = build_parser().parse_args(RUN)
    with package_logging(False), speaking(args):
        with file_role("train"):
            logger.info("r.csv: rows read as genes; %s", advice)
        logger.info("q.csv: rows read as genes; %s", advice)
    with package_logging(False), speaking(build_parser().parse_args(
        ["format", "-i", "t.csv", "-o", "t"])):
        logger.info("t.csv: rows read as genes; %s", advice)
    assert capsys.readouterr().err.splitlines() == [
        "actinn: r.csv: rows read as genes; pass --train-orientation "
        "cells_by_genes",
        "actinn: q.csv: rows read as genes; pass --test-orientation "
        "cells_by_genes",
        "actinn: t.csv: rows read as genes; transpose the file first",
    ]


def test_the_advice_once_written_as_text_for_both_front_ends():
    """The labels table's column, the labels file's lack of one, the
    lower ``min_overlap`` and ``remove_ambient``: Python's words alone in
    ``str()``, the options alone on the command line (``--labels-column``
    being the option of the labels file, whichever file is being read)."""
    from deepchem_actinn.annotator.prediction import REMOVE_AMBIENT
    from deepchem_actinn.io.labels import COLUMN_HINT, NO_COLUMN_HINT
    from deepchem_actinn.preprocessing.genes import lower_min_overlap
    for advice, python, command in (
        (COLUMN_HINT, "read_labels(path, column=NAME)", "--labels-column NAME"),
        (NO_COLUMN_HINT, "drop column=", "drop --labels-column"),
        (lower_min_overlap(0.3), "set annotator.min_overlap=0.3",
         "pass --min-overlap 0.3"),
        (lower_min_overlap(0.05, "the reference's"), "pass min_overlap=0.05",
         "pass --min-overlap 0.05"),
        (REMOVE_AMBIENT, "remove_ambient=True", "--remove-ambient"),
    ):
        assert str(advice) == python
        for role in (None, "train", "test"):
            assert advice.words(words(RUN, role)) == command
    report = ["report", "-p", "p", "-l", "meta.csv", "-o", "o"]
    assert COLUMN_HINT.words(words(report)) == "--labels-column NAME"
    # predict takes no labels: the option is not its to name
    predict = ["predict", "-m", "m", "-ts", "q.h5ad", "-o", "o"]
    assert COLUMN_HINT.words(
        words(predict)) == ("read_labels(path, column=NAME) (in Python)")
