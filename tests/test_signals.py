"""A stop signal whose exception Python swallows still stops the command."""
import os
import signal

import pytest

from deepchem_actinn.io.output import atomic_files, atomic_output
from deepchem_actinn.signals import (Terminated, raise_if_stopped,
                                     stop_on_signals)

# the lost exception is reported as unraisable: that is what is tested
pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")


class SignalledWhileCollected:
    """Sends a signal from ``__del__``: its exception is raised inside the
    finaliser, where Python prints "Exception ignored" and drops it."""

    def __init__(self, signum):
        self.signum = signum

    def __del__(self):
        os.kill(os.getpid(), self.signum)


def lose_a_signal(signum):
    SignalledWhileCollected(signum)  # collected at once


@pytest.mark.parametrize("signum, raised", [(signal.SIGTERM, Terminated),
                                            (signal.SIGINT, KeyboardInterrupt)])
def test_swallowed_signal_stops_the_writer_before_it_publishes(
        tmp_path, signum, raised):
    # a shell starts background jobs with Ctrl-C ignored, and an ignored
    # Ctrl-C stays ignored (tested below): Python's own handler is put in
    # place for this test, however pytest was started
    started = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        before = signal.getsignal(signum)
        with stop_on_signals():
            with pytest.raises(raised):
                with atomic_output(tmp_path / "labels.txt") as tmp:
                    tmp.write_text("half\n")
                    lose_a_signal(signum)  # the command would go on here
                    tmp.write_text("all\n")
            with pytest.raises(raised):  # every later check raises it too
                raise_if_stopped()
        assert os.listdir(tmp_path) == []
        raise_if_stopped()  # cleared when the block ends
        assert signal.getsignal(signum) is before
    finally:
        signal.signal(signal.SIGINT, started)


def test_swallowed_signal_stops_a_directory_of_outputs(tmp_path):
    (tmp_path / "out").mkdir()
    with stop_on_signals():
        with pytest.raises(Terminated):
            with atomic_files(tmp_path / "out", ["a.txt"]) as tmp:
                (tmp / "a.txt").write_text("a\n")
                lose_a_signal(signal.SIGTERM)
    assert os.listdir(tmp_path / "out") == []


def test_ignored_ctrl_c_stays_ignored():
    saved = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stop_on_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            raise_if_stopped()
    finally:
        signal.signal(signal.SIGINT, saved)
