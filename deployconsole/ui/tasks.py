"""Running blocking calls off the GUI thread.

Reads go to a small thread pool; their results come back to the GUI thread
through one queued signal, so callbacks may touch widgets. Mutations do not
come here: they run one at a time in core's operation runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

log = logging.getLogger("deployconsole.ui")

T = TypeVar("T")


class TaskRunner(QObject):
    """Submit callables to worker threads and get called back on the GUI thread.

    Signals:
        _delivered(object): internal; carries a zero-argument callable that
            runs on the GUI thread.
    """

    _delivered = Signal(object)

    def __init__(self, parent: QObject | None = None, workers: int = 4) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="ui-read"
        )
        self._delivered.connect(self._on_delivered)
        self._closed = False

    def submit(
        self,
        fn: Callable[[], T],
        on_done: Callable[[T], None],
        on_error: Callable[[Exception], None],
    ) -> Future[T]:
        if self._closed:
            # The window is going away: nothing will be read or shown.
            cancelled: Future[T] = Future()
            cancelled.cancel()
            return cancelled
        future = self._pool.submit(fn)

        def deliver(done: Future[T]) -> None:
            if self._closed:
                return
            error = done.exception()
            if error is None:
                result = done.result()
                self._delivered.emit(lambda: on_done(result))
            elif isinstance(error, Exception):
                self._delivered.emit(lambda: on_error(error))
            else:
                log.error("A background read ended abnormally: %r", error)

        future.add_done_callback(deliver)
        return future

    def post(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` on the GUI thread; callable from any thread."""
        if not self._closed:
            self._delivered.emit(callback)

    def shutdown(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    @Slot(object)
    def _on_delivered(self, callback: Callable[[], Any]) -> None:
        try:
            callback()
        except Exception:
            log.exception("A GUI callback failed.")
