"""Unhandled exceptions: logged, shown with their traceback, and survived.

``sys.excepthook`` (and ``threading.excepthook``) hand every exception that
nothing caught to a :class:`CrashHandler`. It logs the traceback, then shows
it in one non-modal :class:`CrashDialog` with a Copy button. The window
keeps running: an exception in a slot has already unwound to Qt's event
loop by the time the hook runs. A failing paint handler raises on every
repaint, so a traceback already shown only bumps its count.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from deployconsole.logsetup import scrub

log = logging.getLogger("deployconsole.crash")

# Distinct tracebacks kept in the dialog; later ones are only counted (they
# are all in the log file).
MAX_SHOWN = 20

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


@dataclass
class _Crash:
    summary: str
    details: str
    count: int = 1


class CrashDialog(QDialog):
    """One dialog for every unhandled exception of the session.

    Signals:
        copied(str): the text that the Copy button put on the clipboard.
    """

    copied = Signal(str)

    def __init__(self, log_file: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("crashDialog")
        self.setWindowTitle("Deploy Console: internal error")
        self.setModal(False)
        self.resize(720, 420)
        self._crashes: list[_Crash] = []
        self._not_shown = 0
        self._log_file = log_file

        icon = QLabel(self)
        critical = QStyle.StandardPixmap.SP_MessageBoxCritical
        icon.setPixmap(self.style().standardIcon(critical).pixmap(32, 32))
        self.heading = QLabel(self)
        self.heading.setObjectName("crashHeading")
        self.heading.setWordWrap(True)
        self.details = QPlainTextEdit(self)
        self.details.setObjectName("crashDetails")
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)

        buttons = QDialogButtonBox(self)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.setToolTip("Copy the tracebacks to the clipboard")
        self.copy_button.clicked.connect(self._on_copy)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.clicked.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(icon)
        layout.addWidget(self.heading)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)

    def add_crash(self, summary: str, details: str) -> None:
        """Record one exception (its last line and its full traceback)."""
        for crash in self._crashes:
            if crash.details == details:
                crash.count += 1
                break
        else:
            if len(self._crashes) < MAX_SHOWN:
                self._crashes.append(_Crash(summary, details))
            else:
                self._not_shown += 1
        self._render()

    def crash_count(self) -> int:
        return sum(crash.count for crash in self._crashes) + self._not_shown

    def text(self) -> str:
        """Everything the dialog shows, as copied."""
        parts = []
        for crash in self._crashes:
            times = f" (×{crash.count})" if crash.count > 1 else ""
            parts.append(f"{crash.summary}{times}\n{crash.details}")
        if self._not_shown:
            parts.append(f"…and {self._not_shown} more errors, in the log file.")
        return "\n\n".join(parts)

    def _render(self) -> None:
        count = self.crash_count()
        what = "An error" if count == 1 else f"{count} errors"
        where = f" It was logged to {self._log_file}." if self._log_file else ""
        self.heading.setText(
            f"{what} inside Deploy Console went unhandled. The console keeps "
            f"running, but the action that failed may not have finished.{where} "
            "Copy the details below into a bug report."
        )
        self.details.setPlainText(self.text())

    @Slot()
    def _on_copy(self) -> None:
        text = self.text()
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(text)


class CrashHandler(QObject):
    """Routes unhandled exceptions from any thread to one CrashDialog.

    Signals:
        crashed(str, str): an exception's summary line and scrubbed
            traceback; delivered on the GUI thread.
    """

    crashed = Signal(str, str)

    def __init__(
        self,
        parent_window: Callable[[], QWidget | None] = lambda: None,
        log_file: str = "",
    ) -> None:
        super().__init__()
        self._parent_window = parent_window
        self._log_file = log_file
        self.dialog: CrashDialog | None = None
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        self._handling = threading.local()
        # Queued even on the GUI thread, so the dialog opens from the event
        # loop and not from inside the frame that raised.
        self.crashed.connect(self._on_crashed, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        sys.excepthook = self.excepthook
        threading.excepthook = self._thread_excepthook

    def uninstall(self) -> None:
        if sys.excepthook == self.excepthook:
            sys.excepthook = self._previous_hook
        if threading.excepthook == self._thread_excepthook:
            threading.excepthook = self._previous_thread_hook

    def excepthook(
        self,
        kind: type[BaseException],
        value: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            log.info("Interrupted; quitting.")
            QApplication.quit()
            return
        if getattr(self._handling, "active", False):
            # The handler itself failed: do not loop, print it the plain way.
            sys.__excepthook__(kind, value, tb)
            return
        self._handling.active = True
        try:
            self.report((kind, value, tb))
        except Exception:
            sys.__excepthook__(*sys.exc_info())  # type: ignore[arg-type]
        finally:
            self._handling.active = False

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self.excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    def report(self, info: ExcInfo) -> None:
        """Log one exception and queue it for the dialog."""
        kind, value, tb = info
        log.error("Unhandled %s: %s", kind.__name__, value, exc_info=info)
        details = scrub("".join(traceback.format_exception(kind, value, tb)))
        summary = scrub("".join(traceback.format_exception_only(kind, value)).strip())
        self.crashed.emit(summary, details)

    @Slot(str, str)
    def _on_crashed(self, summary: str, details: str) -> None:
        if self.dialog is None:
            self.dialog = CrashDialog(self._log_file, self._parent_window())
            self.dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.dialog.destroyed.connect(self._on_dialog_destroyed)
        self.dialog.add_crash(summary, details)
        self.dialog.show()
        # The offscreen platform (self-test, CI) has no stacking and warns.
        if QGuiApplication.platformName() != "offscreen":
            self.dialog.raise_()

    @Slot()
    def _on_dialog_destroyed(self) -> None:
        self.dialog = None
