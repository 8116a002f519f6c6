"""Read ahead: produce the next item of an iterator while this one is used."""
import contextvars
import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Iterate ``items`` with up to ``depth`` items read ahead in a thread.

    Reading (h5py, decompression) then overlaps with the caller's compute
    (PyTorch releases the GIL). Exceptions raised while reading are raised
    in the caller, at the item where they happened; closing the iterator
    early stops the reader. The thread reads in a copy of the context the
    iteration starts in (:mod:`contextvars`), so it reads as the caller
    would, e.g. within the caller's
    :func:`~deepchem_actinn.io.shared_reads.shared_text_reads`.

    Examples
    --------
    >>> from deepchem_actinn.io.prefetch import prefetch
    >>> list(prefetch(range(5)))
    [0, 1, 2, 3, 4]
    """
    buffer: "queue.Queue" = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def reader() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put((True, item))
            buffer.put((True, _DONE))
        except BaseException as err:  # handed to the consumer
            buffer.put((False, err))

    thread = threading.Thread(target=contextvars.copy_context().run,
                              args=(reader,),
                              daemon=True)
    try:
        thread.start()
        while True:
            ok, item = buffer.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                buffer.get(timeout=0.05)
            except queue.Empty:
                pass
