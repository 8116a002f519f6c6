"""Stopping a command cleanly on Ctrl-C or SIGTERM.

Python raises a signal's exception wherever the main thread happens to be.
When that is a ``__del__`` method or a weakref callback (NumPy, PyTorch and
pandas run many), Python prints "Exception ignored in ..." and carries on:
the stop is lost and the command would finish and publish its outputs.
Inside :func:`stop_on_signals` a signal is therefore also recorded, and
:func:`raise_if_stopped` raises it again; the atomic writers of
:mod:`deepchem_actinn.io.output` call it before they publish anything, and
progress bars at every step, so a stopped command leaves no output however
the first exception fared.

Examples
--------
>>> from deepchem_actinn.signals import stop_on_signals
>>> from deepchem_actinn.signals import raise_if_stopped
>>> with stop_on_signals():
...     raise_if_stopped()  # nothing received: nothing raised
"""
import contextlib
import signal
import threading
from typing import Any, Iterator, List

#: Signals received inside :func:`stop_on_signals` (cleared on entry and
#: exit); a signal is process-wide, and so is this record.
_RECEIVED: List[int] = []


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM, so that
    the atomic writers' clean-up runs as for Ctrl-C (KeyboardInterrupt)."""


def _exception(signum: int) -> BaseException:
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return Terminated(signum)


def _on_signal(signum: int, frame: Any) -> None:
    _RECEIVED.append(signum)
    raise _exception(signum)


def raise_if_stopped() -> None:
    """Raise :class:`Terminated` (or KeyboardInterrupt) again if a signal
    arrived inside :func:`stop_on_signals`; nothing otherwise.

    Examples
    --------
    >>> from deepchem_actinn.signals import raise_if_stopped
    >>> raise_if_stopped()
    """
    if _RECEIVED:
        raise _exception(_RECEIVED[0])


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` inside the block, and Ctrl-C
    KeyboardInterrupt as usual; both are recorded for
    :func:`raise_if_stopped`. The previous handlers are restored after.

    SIGINT is handled only where Python's own handler is in place (a
    process started with SIGINT ignored, as ``nohup`` does, keeps ignoring
    it). Only the main thread can set handlers; in another thread the block
    runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _RECEIVED.clear()
    saved = {signal.SIGTERM: signal.signal(signal.SIGTERM, _on_signal)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        saved[signal.SIGINT] = signal.signal(signal.SIGINT, _on_signal)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        _RECEIVED.clear()
