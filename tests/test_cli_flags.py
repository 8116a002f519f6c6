"""How ``actinn`` reads its flags: full spellings only (no abbreviation
taken for another option, as ``--mode`` once was for ``--model``), ``_``
as well as ``-`` in every multi-word flag, and ``-o``/``-m`` output folders
whose name looks like a data file refused before any work."""
import argparse

import pytest

from deepchem_actinn.cli import build_parser, main

#: Each command's required arguments, the least it parses with.
REQUIRED = {
    "format": ["-i", "in.h5", "-o", "out"],
    "train": ["-trs", "ref.h5", "-trl", "labels.txt", "-m", "model"],
    "predict": ["-m", "model", "-ts", "query.h5"],
    "run": ["-trs", "ref.h5", "-trl", "labels.txt", "-ts", "query.h5"],
    "report": ["-p", "predicted_label.txt", "-o", "report"],
    "simulate": ["-o", "sim.h5ad"],
    "demo": [],
    "sample-data": ["sample"],
}


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _options(command: str):
    """(option string, its action) for each flag of ``command`` that takes
    a value or none (not --help)."""
    for action in _subparser(command)._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        for option in action.option_strings:
            yield option, action


def _value(action: argparse.Action) -> list:
    """A value ``action`` takes (none for a flag)."""
    if action.nargs == 0:
        return []
    if action.choices:
        return [sorted(action.choices)[-1]]
    name = getattr(action.type, "__name__", "")
    if name in ("boolean",):
        return ["False"]
    if name == "format_name":
        return ["h5ad"]
    if name in ("positive_int", "int", "seed_value"):
        return ["7"]
    if name in ("positive_float", "float", "probability", "linear_weight",
                "overlap_share"):
        return ["0.25"]
    return ["given"]


def _refused(capsys, argv) -> str:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


#: Abbreviations argparse took, by default, for one of the command's flags.
CUT_SHORT = {
    "predict": (["--mode", "x"], ["--thresh", "0.5"], ["--majority"]),
    "train": (["--mode", "x"], ["--netw", "2"], ["--learning", "0.1"]),
    "run": (["--mode", "x"], ["--thresh", "0.5"], ["--netw",
                                                   "2"], ["--majority"]),
}


@pytest.mark.parametrize("command,flags",
                         [(c, f) for c in CUT_SHORT for f in CUT_SHORT[c]])
def test_an_abbreviated_long_option_is_refused(capsys, command, flags):
    assert _refused(capsys, [command, *REQUIRED[command], *flags
                            ]) == ("actinn: error: unrecognized arguments: %s" %
                                   " ".join(flags))


def test_mode_no_longer_replaces_the_model(capsys):
    # CellTypist's --mode prob_match once became -m prob_match
    assert _refused(capsys, [
        "predict", "-m", "sample/model", "-ts", "q.h5", "--mode", "prob_match"
    ]) == "actinn: error: unrecognized arguments: --mode prob_match"


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_no_command_takes_a_long_option_cut_short(capsys, command):
    cut = 0
    for option, action in _options(command):
        if not option.startswith("--") or len(option) < 5:
            continue
        short = option[:-1]
        if short in dict(_options(command)):
            continue
        assert _refused(
            capsys,
            [command, *REQUIRED[command], short, *_value(action)
            ]).startswith("actinn: error: unrecognized arguments: " + short)
        cut += 1
    assert cut >= 5 if command != "sample-data" else cut >= 2


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_no_command_takes_a_short_option_cut_short(capsys, command):
    """argparse reads a single-dash word by prefix even without
    allow_abbrev (``-t`` as ``-ts``, ``-n 3`` as ``-ne 3``): refused too."""
    options = dict(_options(command))
    cut = 0
    for option, action in options.items():
        if option.startswith("--") or len(option) < 3:
            continue
        short = option[:-1]
        if any(o.startswith(short) and o != option for o in options):
            continue  # argparse calls it ambiguous, as it should
        assert _refused(
            capsys,
            [command, *REQUIRED[command], short, *_value(action)
            ]).startswith("actinn: error: unrecognized arguments: " + short)
        cut += 1
    assert cut >= {"train": 2, "predict": 1, "run": 3}.get(command, 0)


def test_a_one_letter_flag_takes_its_value_attached():
    """What prefix matching is still for: ``-oFOLDER`` (POSIX style)."""
    args = build_parser().parse_args(
        ["predict", "-m", "model", "-ts", "q.h5", "-oresults"])
    assert args.output == "results"


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_every_full_option_still_parses(command):
    parser = build_parser()
    for option, action in _options(command):
        if isinstance(action, argparse._VersionAction):
            continue
        value = _value(action)
        args = parser.parse_args([command, *REQUIRED[command], option, *value])
        got = getattr(args, action.dest)
        if action.nargs == 0:
            assert got == action.const, option
        elif action.type is None or action.type is str:
            assert got == value[0], option
        else:
            assert got == action.type(value[0]), option


def _multi_word(command: str):
    for option, action in _options(command):
        if option.startswith("--") and ("-" in option[2:] or "_" in option[2:]):
            yield option, action


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_every_multi_word_flag_takes_both_spellings(command):
    parser = build_parser()
    spelled = 0
    for option, action in _multi_word(command):
        value = _value(action)
        for spelling in (option.replace("_", "-"), option.replace("-", "_")):
            spelling = "--" + spelling[2:]
            args = parser.parse_args(
                [command, *REQUIRED[command], spelling, *value])
            expected = (action.const if action.nargs == 0 else value[0] if
                        action.type in (None, str) else action.type(value[0]))
            assert getattr(args, action.dest) == expected, spelling
            spelled += 1
    if command in ("sample-data", "simulate"):  # one-word flags only
        assert spelled == 0
    else:
        assert spelled >= 4


def test_majority_voting_with_an_underscore(capsys):
    args = build_parser().parse_args(
        ["predict", "-m", "m", "-ts", "q.h5", "--majority_voting"])
    assert args.majority_voting is True
    args = build_parser().parse_args([
        "run", *REQUIRED["run"], "--vote_min_probability=0.3",
        "--majority_voting", "--all_reference_genes"
    ])
    assert (args.vote_min_probability, args.majority_voting,
            args.all_reference_genes) == (0.3, True, True)
    # an underscore spelling is no way to abbreviate either
    assert _refused(capsys,
                    ["predict", "-m", "m", "-ts", "q.h5", "--majority_vot"
                    ]) == ("actinn: error: unrecognized arguments: "
                           "--majority_vot")


def test_help_lists_each_flag_once():
    text = _subparser("predict").format_help()
    assert "--majority-voting" in text and "--majority_voting" not in text
    assert text.count("--test_set") == 1  # the original's, shown as it was


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_no_help_ends_in_a_bare_default(command):
    # "-pc: show the cost while training (True)" read as an odd aside: a
    # default is said in words ("(default: ...)", or what the flag's other
    # value does)
    for _, action in _options(command):
        said = " ".join((action.help or "").split())
        assert not said.endswith(("(True)", "(False)")), (command, said)


def test_print_cost_says_what_its_values_do():
    action = dict(_options("run"))["-pc"]
    assert action.help == ("show the training progress bar and its cost (the "
                           "default; -pc False hides them)")


# ---------------------------------------------------------------------------
# -o / -m: folders to create, refused when the name looks like a file's


def _file_like(flag: str, path) -> str:
    return ("actinn %%s: error: %s %s names a folder to create, and the "
            "name looks like a file's (%s): name a folder (the files are "
            "written inside it), or end the name with / to create it as "
            "given" % (flag, path, path.suffix))


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def no_work(monkeypatch):
    """Fail a test that loads or trains an annotator: the check comes
    first."""
    from deepchem_actinn import ACTINNAnnotator

    def worked(*args, **kwargs):
        raise AssertionError("worked")

    for name in ("load", "fit", "fit_file"):
        monkeypatch.setattr(ACTINNAnnotator, name, worked)


@pytest.mark.parametrize("name", [
    "preds.csv", "preds.TSV", "preds.txt", "preds.h5ad", "preds.h5", "run.json",
    "page.html", "preds.csv.gz"
])
def test_predict_refuses_an_output_folder_named_like_a_file(
        tmp_path, capsys, no_work, name):
    out = tmp_path / "sub" / name
    assert main([
        "predict", "-m",
        str(tmp_path / "model"), "-ts",
        str(tmp_path / "q.h5ad"), "-o",
        str(out), "-q"
    ]) == 2
    assert _error(capsys) == _file_like("-o", out) % "predict"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command,flag", [("run", "-o"), ("run", "-m"),
                                          ("train", "-m")])
def test_training_commands_refuse_it_before_training(tmp_path, capsys, no_work,
                                                     command, flag):
    given = {"-o": str(tmp_path / "out"), "-m": str(tmp_path / "model")}
    given[flag] = str(tmp_path / ("model.pkl" if flag == "-m" else "o.tsv"))
    argv = [command, "-trs", "ref.h5ad", "-trl", "labels.txt", "-q"]
    argv += ["-m", given["-m"]]
    if command == "run":
        argv += ["-ts", "q.h5ad", "-o", given["-o"]]
    assert main(argv) == 2
    from pathlib import Path
    assert _error(capsys) == _file_like(flag, Path(given[flag])) % command
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["report", "demo"])
def test_report_and_demo_refuse_it(tmp_path, capsys, no_work, command):
    out = tmp_path / "report.html"
    extra = ["-p", str(tmp_path /
                       "predicted_label.txt")] if command == "report" else []
    assert main([command, *extra, "-o", str(out), "-q"]) == 2
    assert _error(capsys) == _file_like("-o", out) % command
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_of_such_a_name_is_taken(tmp_path, capsys):
    # the name check passes; what stops the run is the missing annotator
    out = tmp_path / "preds.csv"
    out.mkdir()
    for given in (str(out), str(tmp_path / "new.csv") + "/"):
        assert main([
            "predict", "-m",
            str(tmp_path / "model"), "-ts",
            str(tmp_path / "q.h5ad"), "-o", given, "-q"
        ]) == 2
        err = _error(capsys)
        assert "looks like a file" not in err
        assert str(tmp_path / "model") in err, err


def test_names_that_are_no_data_file_are_taken():
    from deepchem_actinn.cli.outputs import refuse_file_like_folder
    for name in ("out", "run.2024", "results_v1.5", "pbmc.3k", "out.d"):
        refuse_file_like_folder("-o", name)
