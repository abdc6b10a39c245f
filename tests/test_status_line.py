"""The live log's status line: new text repaints it, never its parent's layout."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from deployconsole.ui.live.status_line import StatusLine


class LayoutRequests(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def _layout_requests_after_texts(qtbot: Any, line: QWidget) -> int:
    parent = QWidget()
    qtbot.addWidget(parent)
    layout = QVBoxLayout(parent)
    layout.addWidget(QWidget())
    layout.addWidget(line)
    parent.resize(300, 100)
    parent.show()
    qtbot.waitExposed(parent)
    qtbot.wait(20)  # the first layout, from show(), runs before counting
    requests = LayoutRequests()
    parent.installEventFilter(requests)
    for n in (9, 99_999, 9_999_999):
        line.setText(f"{n:,} of {n:,} entries shown")  # type: ignore[attr-defined]
        qtbot.wait(1)  # let posted events run
    parent.removeEventFilter(requests)
    return requests.count


def test_new_text_does_not_re_lay_out_the_parent(qtbot: Any) -> None:
    assert _layout_requests_after_texts(qtbot, StatusLine()) == 0
    # The reason it exists: a QLabel asks for a new layout on each text.
    assert _layout_requests_after_texts(qtbot, QLabel()) > 0


def test_text_and_tooltip_follow_the_last_text(qtbot: Any) -> None:
    line = StatusLine()
    qtbot.addWidget(line)
    line.setText("3 of 5 entries shown")
    assert line.text() == "3 of 5 entries shown"
    assert line.toolTip() == "3 of 5 entries shown"
    assert line.sizeHint().height() >= line.fontMetrics().height()
    assert not line.grab().isNull()
