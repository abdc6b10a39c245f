"""Turns at the interpreter for the GUI thread while the tail ingests.

CPython runs one thread's Python code at a time. During a burst the tail's
worker thread converts entries almost without pause, and the GUI thread has
to win the interpreter lock back at every call from Qt into Python: each
painted cell of the live log asks the model for its values. A waiting thread
gets the lock only after the running one has had its switch interval, so a
repaint that needs 15 ms of CPU took 40-60 ms of wall time.

The GUI thread therefore *takes a turn* when it starts to apply a batch and
*gives it back* once the repaint that follows is done; the worker threads
:meth:`~ForegroundTurns.wait` between small chunks of entries while a turn
is on. A worker never waits longer than ``max_wait`` per chunk, so ingest
goes on (slower) even if the GUI never gives its turn back. Entries wait in
the stream meanwhile; nothing is dropped.
"""

from __future__ import annotations

import threading

DEFAULT_MAX_WAIT = 0.1


class ForegroundTurns:
    """Shared by one GUI thread (take, give_back) and the workers (wait)."""

    def __init__(self, max_wait: float = DEFAULT_MAX_WAIT) -> None:
        if max_wait <= 0:
            raise ValueError(f"max_wait must be positive, not {max_wait}")
        self.max_wait = max_wait
        self._free = threading.Event()
        self._free.set()

    @property
    def taken(self) -> bool:
        return not self._free.is_set()

    def take(self) -> None:
        """The GUI thread starts work the workers should not slow down."""
        self._free.clear()

    def give_back(self) -> None:
        """The GUI thread is done; waiting workers go on at once."""
        self._free.set()

    def wait(self) -> bool:
        """Workers: wait while a turn is on, at most ``max_wait`` seconds.

        Returns False if the turn was still on when the wait ended.
        """
        if self._free.is_set():
            return True
        # Event.wait blocks outside the interpreter lock.
        return self._free.wait(self.max_wait)


class NoTurns(ForegroundTurns):
    """For sessions without a GUI (the CLI): workers never wait."""

    def take(self) -> None:
        return None
