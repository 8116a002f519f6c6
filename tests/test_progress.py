"""What a command prints around its work: the progress bar drawn at its
first step, and the process tag of torchrun's other processes."""
import logging
import time

import pytest

from deepchem_actinn.cli.progress import Progress, package_logging, process_tag


def test_the_bar_is_drawn_at_its_first_step_timed_from_its_creation(
        capsys, monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    bar = Progress(False, total=3, unit="epoch", desc="training")
    logging.getLogger("deepchem_actinn").warning("before the first step")
    assert "training" not in capsys.readouterr().err  # nothing drawn yet
    time.sleep(0.05)
    bar.update(1, cost="0.5")
    assert bar.bar.start_t == bar.started  # the time counts from creation
    assert bar.bar.format_dict["elapsed"] >= 0.05
    bar.close()
    err = capsys.readouterr().err
    assert "training:" in err and "1/3" in err and "cost=0.5" in err


def test_no_bar_where_stderr_is_not_a_terminal(capsys, monkeypatch):
    # a pipeline's log file: no redraws in it
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    bar = Progress(False, total=3)
    bar.update(2)
    bar.close()
    assert bar.bar is None
    assert capsys.readouterr().err == ""


def test_a_quiet_bar_draws_nothing(capsys):
    bar = Progress(True, total=3)
    bar.update(2)
    bar.close()
    assert bar.bar is None
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("rank, world, tag", [
    ("1", "2", " (process 1)"),
    ("3", "4", " (process 3)"),
    ("0", "2", ""),
    ("1", "1", ""),
    ("", "2", ""),
    ("1", "", ""),
])
def test_process_tag(monkeypatch, rank, world, tag):
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", world)
    assert process_tag() == tag


def test_other_processes_log_only_errors_tagged(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    log = logging.getLogger("deepchem_actinn")
    with package_logging(quiet=False):
        log.info("an info line")
        log.warning("a warning")
        log.error("an error")
    assert capsys.readouterr().err == "actinn (process 1): an error\n"
    monkeypatch.setenv("RANK", "0")
    with package_logging(quiet=False):
        log.info("an info line")
    assert capsys.readouterr().err == "actinn: an info line\n"
