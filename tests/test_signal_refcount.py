"""Guards against the PySide6 6.12.0 / CPython < 3.12 reference leak on True.

That combination drops one reference to ``True`` on every ``Signal.emit()``
and the process eventually aborts with ``Fatal Python error: bool_dealloc``.
pyproject.toml excludes it; this test catches it if it comes back.
"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QCoreApplication, QObject, Signal

EMITS = 5_000


class _Emitter(QObject):
    fired = Signal(bool)


class _Receiver(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_fired(self, value: bool) -> None:
        assert value is True
        self.count += 1


def test_emitting_across_threads_keeps_true_alive(qtbot: object) -> None:
    app = QCoreApplication.instance()
    assert app is not None
    emitter = _Emitter()
    receiver = _Receiver()
    emitter.fired.connect(receiver.on_fired)  # queued: emits come from a thread

    before = sys.getrefcount(True)

    def emit_many() -> None:
        for _ in range(EMITS):
            emitter.fired.emit(True)

    worker = threading.Thread(target=emit_many)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: receiver.count == EMITS, timeout=30_000)  # type: ignore[attr-defined]

    after = sys.getrefcount(True)
    # On CPython 3.12+ True is immortal and the count is a huge constant;
    # before that it must not have fallen by anything like the emit count.
    assert after >= before - 50, (before, after)
