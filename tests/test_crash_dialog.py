"""Unhandled exceptions: logged, shown with a Copy button, and survived."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton
from ui_support import endpoint_of, journal_path, staged_emulator

from deployconsole.emulator.server import Emulator
from deployconsole.ui.crash_dialog import MAX_SHOWN, CrashDialog, CrashHandler
from deployconsole.ui.mainwindow import MainWindow
from deployconsole.ui.session import ConsoleSession

__all__ = ["staged_emulator"]

TIMEOUT = 10_000
SECRET = "ya29.a0AfH6SMBx-secret-access-token"

# pytest-qt replaces sys.excepthook to fail a test on any exception in the
# event loop; these tests need the console's own hook in its place.
pytestmark = pytest.mark.qt_no_exception_capture


@pytest.fixture()
def handler() -> Iterator[CrashHandler]:
    crash = CrashHandler(log_file="/tmp/deployconsole.log")
    previous = sys.excepthook
    crash.install()
    try:
        yield crash
    finally:
        crash.uninstall()
        assert sys.excepthook is previous
        if crash.dialog is not None:
            crash.dialog.close()


def raise_in_slot(qtbot: Any, error: Exception) -> None:
    """Raise ``error`` from a slot that Qt calls, as a bug in the GUI would."""
    button = QPushButton()
    qtbot.addWidget(button)

    def boom() -> None:
        raise error

    button.clicked.connect(boom)
    button.click()


def test_an_exception_in_a_slot_is_logged_and_shown_and_the_window_keeps_running(
    qtbot: Any,
    handler: CrashHandler,
    staged_emulator: Emulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = endpoint_of(staged_emulator)
    session = ConsoleSession(endpoint, journal_path=journal_path(tmp_path))
    window = MainWindow(endpoint, session=session, refresh_interval_ms=60_000)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.snapshot_applied, timeout=TIMEOUT):
        window.show()

    failures: list[int] = []

    def broken_slot() -> None:
        if not failures:
            failures.append(1)
            raise KeyError("version-that-vanished")

    window.snapshot_applied.connect(broken_slot)
    with caplog.at_level(logging.ERROR, logger="deployconsole.crash"):
        window.refresh()
        qtbot.waitUntil(lambda: handler.dialog is not None, timeout=TIMEOUT)

    dialog = handler.dialog
    assert isinstance(dialog, CrashDialog)
    assert dialog.isVisible() and not dialog.isModal()
    text = dialog.details.toPlainText()
    assert "KeyError: 'version-that-vanished'" in text
    assert "in broken_slot" in text, "the traceback names the failing function"
    assert "went unhandled" in dialog.heading.text()
    assert "/tmp/deployconsole.log" in dialog.heading.text()
    assert any(
        "Unhandled KeyError" in r.getMessage() and r.exc_info for r in caplog.records
    )

    # The window still reads and shows the server after the failure.
    with qtbot.waitSignal(window.snapshot_applied, timeout=TIMEOUT):
        window.refresh()
    assert window.isVisible()
    assert window.model.version_count() > 0
    window.shutdown()


def test_copy_puts_the_scrubbed_traceback_on_the_clipboard(
    qtbot: Any, handler: CrashHandler
) -> None:
    raise_in_slot(qtbot, ValueError(f"refresh failed, token={SECRET}"))
    qtbot.waitUntil(lambda: handler.dialog is not None, timeout=TIMEOUT)
    dialog = handler.dialog
    assert dialog is not None
    with qtbot.waitSignal(dialog.copied, timeout=TIMEOUT) as copied:
        dialog.copy_button.click()
    text = copied.args[0]
    assert QGuiApplication.clipboard().text() == text
    assert "ValueError: refresh failed, token=[redacted]" in text
    assert "Traceback (most recent call last)" in text
    assert SECRET not in text and SECRET not in dialog.details.toPlainText()


def test_the_same_exception_again_is_counted_not_repeated(
    qtbot: Any, handler: CrashHandler
) -> None:
    for _ in range(3):
        raise_in_slot(qtbot, RuntimeError("paint failed"))
    raise_in_slot(qtbot, ZeroDivisionError("division by zero"))
    qtbot.waitUntil(
        lambda: handler.dialog is not None and handler.dialog.crash_count() == 4,
        timeout=TIMEOUT,
    )
    dialog = handler.dialog
    assert dialog is not None
    text = dialog.text()
    assert text.count("RuntimeError: paint failed (×3)") == 1
    assert text.count("ZeroDivisionError: division by zero") == 2  # summary + tb
    assert "4 errors" in dialog.heading.text()


def test_the_dialog_keeps_a_bounded_number_of_tracebacks(qtbot: Any) -> None:
    dialog = CrashDialog()
    qtbot.addWidget(dialog)
    for number in range(MAX_SHOWN + 5):
        dialog.add_crash(f"E{number}", f"Traceback {number}")
    assert dialog.crash_count() == MAX_SHOWN + 5
    assert "Traceback 0" in dialog.text()
    assert f"Traceback {MAX_SHOWN}" not in dialog.text()
    assert "…and 5 more errors, in the log file." in dialog.text()


def test_an_exception_in_a_worker_thread_reaches_the_dialog(
    qtbot: Any, handler: CrashHandler
) -> None:
    def work() -> None:
        raise OSError("journal disk full")

    thread = threading.Thread(target=work, name="worker")
    thread.start()
    thread.join(timeout=5)
    qtbot.waitUntil(lambda: handler.dialog is not None, timeout=TIMEOUT)
    assert handler.dialog is not None
    assert "OSError: journal disk full" in handler.dialog.text()


def test_closing_the_dialog_lets_the_next_error_open_a_new_one(
    qtbot: Any, handler: CrashHandler
) -> None:
    raise_in_slot(qtbot, ValueError("first"))
    qtbot.waitUntil(lambda: handler.dialog is not None, timeout=TIMEOUT)
    first = handler.dialog
    assert first is not None
    with qtbot.waitSignal(first.destroyed, timeout=TIMEOUT):
        first.close()
    assert handler.dialog is None

    QTimer.singleShot(0, lambda: raise_in_slot(qtbot, ValueError("second")))
    qtbot.waitUntil(lambda: handler.dialog is not None, timeout=TIMEOUT)
    assert handler.dialog is not None
    assert "first" not in handler.dialog.text()
    assert "ValueError: second" in handler.dialog.text()
