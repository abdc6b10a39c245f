"""The selected error group's latest traceback: its chain, frames and source.

Each exception of the chain is an item with its frames under it, in the
order CPython prints them; the sentence joining two exceptions ("The above
exception was the direct cause...") sits between them, and an exception
group's sub-exceptions nest under it. A frame opens its file at its line in
a local checkout when one is set.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from deployconsole.core.groups import ErrorGroup
from deployconsole.core.traceback_model import (
    SENTENCES,
    ExceptionInfo,
    Frame,
    Traceback,
)
from deployconsole.ui.live.source_files import (
    APP_ROOT,
    SourceError,
    open_file,
    resolve,
)

log = logging.getLogger("deployconsole.ui.live")

FrameRole = Qt.ItemDataRole.UserRole + 1
# The standard library of a runtime (python2.7/, lib/python3.11/).
_LIBRARY_DIR = re.compile(r"/python\d(?:\.\d+)?/")
LINK_COLOUR = QColor("#1a73e8")
SENTENCE_COLOUR = QColor("#5f6368")
# Messages longer than this are cut in the tree (copy as text keeps them).
MESSAGE_CHARS = 1_000

Opener = Callable[[Path, "int | None", str], None]


class TracebackView(QWidget):
    """Shows one traceback; "Copy as text" puts CPython's rendering of it on
    the clipboard.

    Signals:
        frame_opened(str, int): a frame's local file (path) was opened at a
            line (0 when the frame has none).
        open_failed(str): a frame could not be opened; the message says why.
    """

    frame_opened = Signal(str, int)
    open_failed = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        source_root: str = "",
        editor_command: str = "",
        opener: Opener = open_file,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("tracebackView")
        self.source_root = source_root
        self.editor_command = editor_command
        self._opener = opener
        self.traceback: Traceback | None = None

        self.title = QLabel("Select an error group to see its latest traceback.", self)
        self.title.setObjectName("tracebackTitle")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_button = QPushButton("Copy as text", self)
        self.copy_button.setObjectName("tracebackCopy")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_as_text)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("tracebackTree")
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Where", "Source"])
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.tree.header().resizeSection(0, 420)
        self.tree.itemActivated.connect(self._on_item_activated)
        self.message = QLabel("", self)
        self.message.setObjectName("tracebackMessage")
        self.message.setWordWrap(True)

        self.details = QLabel("", self)
        self.details.setObjectName("tracebackDetails")
        self.details.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        below = QHBoxLayout()
        below.addWidget(self.details, 1)
        below.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addLayout(below)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.message)

    # -- showing -----------------------------------------------------------

    def show_group(self, group: ErrorGroup | None) -> None:
        if group is None:
            self.show_traceback(None)
            self.title.setText("Select an error group to see its latest traceback.")
            self.details.setText("")
            return
        if group.latest is not self.traceback:
            self.show_traceback(group.latest)
        self.title.setText(f"<b>{_escape(group.latest.headline()[:MESSAGE_CHARS])}</b>")
        times = "once" if group.count == 1 else f"{group.count:,} times"
        versions = ", ".join(group.versions) or "no version"
        self.details.setText(f"{times} in {versions} · fingerprint {group.fingerprint}")

    def show_traceback(self, traceback: Traceback | None) -> None:
        self.traceback = traceback
        self.tree.clear()
        self.message.setText("")
        self.copy_button.setEnabled(traceback is not None)
        if traceback is None:
            return
        items = _chain_items(traceback.exceptions, self._frame_item)
        if traceback.incomplete:
            note = QTreeWidgetItem(["(the traceback was cut short in the log)"])
            note.setForeground(0, QBrush(SENTENCE_COLOUR))
            items.append(note)
        self.tree.addTopLevelItems(items)
        self.tree.expandAll()

    def copy_as_text(self) -> None:
        if self.traceback is None:
            return
        QGuiApplication.clipboard().setText(self.traceback.format())
        self.message.setText("Traceback copied.")

    # -- frames ------------------------------------------------------------

    def _frame_item(self, frame: Frame) -> QTreeWidgetItem:
        line = "" if frame.line is None else f":{frame.line}"
        where = f"{short_path(frame.file)}{line} in {frame.function}"
        if frame.repeated:
            where += f"  [repeated {frame.repeated} more times]"
        source = (frame.source or "").strip()
        item = QTreeWidgetItem([where, source])
        item.setData(0, FrameRole, frame)
        item.setToolTip(0, f"{frame.file}, line {frame.line}")
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        item.setFont(1, font)
        if self.source_root:
            try:
                path = resolve(frame.file, self.source_root)
            except SourceError:
                item.setToolTip(0, f"{frame.file} is not in the local checkout")
            else:
                item.setForeground(0, QBrush(LINK_COLOUR))
                item.setToolTip(0, f"Open {path} at line {frame.line or 1}")
        return item

    def _on_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        frame = item.data(0, FrameRole)
        if isinstance(frame, Frame):
            self.open_frame(frame)

    def open_frame(self, frame: Frame) -> bool:
        """Open the frame's file at its line; False (and a message) if not."""
        try:
            path = resolve(frame.file, self.source_root)
            self._opener(path, frame.line, self.editor_command)
        except SourceError as error:
            text = str(error)
            log.warning("Cannot open frame %s:%s: %s", frame.file, frame.line, text)
            self.message.setText(text)
            self.open_failed.emit(text)
            return False
        self.message.setText(f"Opened {path} at line {frame.line or 1}.")
        self.frame_opened.emit(str(path), frame.line or 0)
        return True


def _chain_items(
    chain: tuple[ExceptionInfo, ...], frame_item: Callable[[Frame], QTreeWidgetItem]
) -> list[QTreeWidgetItem]:
    items: list[QTreeWidgetItem] = []
    for exc in chain:
        items.append(_exception_item(exc, frame_item))
        sentence = SENTENCES.get(exc.relation_to_next or "")
        if sentence:
            joint = QTreeWidgetItem([sentence])
            joint.setForeground(0, QBrush(SENTENCE_COLOUR))
            font = joint.font(0)
            font.setItalic(True)
            joint.setFont(0, font)
            items.append(joint)
    return items


def _exception_item(
    exc: ExceptionInfo, frame_item: Callable[[Frame], QTreeWidgetItem]
) -> QTreeWidgetItem:
    if exc.type is None:
        text = "(the exception line was cut off)"
    else:
        message = (exc.message or "")[:MESSAGE_CHARS]
        text = f"{exc.type}: {message}" if message else exc.type
    item = QTreeWidgetItem([text.split("\n", 1)[0]])
    item.setToolTip(0, text)
    font = item.font(0)
    font.setBold(True)
    item.setFont(0, font)
    for frame in exc.frames:
        item.addChild(frame_item(frame))
    if exc.syntax_error is not None:
        where = exc.syntax_error
        item.addChild(
            frame_item(Frame(where.file, where.line, "(syntax error)", where.source))
        )
    for n, sub_chain in enumerate(exc.sub_exceptions or (), start=1):
        sub = QTreeWidgetItem([f"Sub-exception {n}"])
        sub.addChildren(_chain_items(sub_chain, frame_item))
        item.addChild(sub)
    if exc.more_sub_exceptions:
        item.addChild(
            QTreeWidgetItem([f"… and {exc.more_sub_exceptions} more sub-exceptions"])
        )
    return item


def short_path(file: str) -> str:
    """A frame's file without the deployment's directories: app files from
    the app root, library files from their package directory."""
    path = file.replace("\\", "/")
    match = APP_ROOT.match(path)
    if match is not None:
        return path[match.end() :]
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1]
    library = _LIBRARY_DIR.search(path)
    if library is not None:
        return path[library.end() :]
    return file


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
