"""A live chart of each version's request and 5xx rates beside its traffic share.

One row per version: its service and id, its share of the service's
traffic as a bar, and two lines over the last half hour: requests per
minute and 5xx responses per minute. The newest point is the last 60
seconds, so the lines move as entries arrive rather than once a minute.

Drawn with QPainter (Qt Charts is not in PySide6-Essentials).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from deployconsole.core.health import MINUTE, HealthSample

log = logging.getLogger("deployconsole.ui.live")

CHART_MINUTES = 30
ROW_HEIGHT = 64
LABEL_WIDTH = 240
REQUEST_COLOUR = QColor("#1a73e8")
ERROR_COLOUR = QColor("#d93025")
SHARE_COLOUR = QColor("#34a853")
GRID_COLOUR = QColor("#dadce0")

Key = tuple[str, str]


@dataclass(frozen=True)
class ChartRow:
    """What one row shows: ``points`` are (minute start, requests/min,
    5xx/min), oldest first, ending with the last 60 seconds (``current``)."""

    service: str
    version: str
    share: float | None
    points: tuple[tuple[float, float, float], ...]
    current: HealthSample | None

    @property
    def current_error_rate(self) -> float:
        """5xx per minute over the last 60 seconds."""
        return self.current.errors if self.current is not None else 0.0


class HealthHistory(QObject):
    """Per-version minutes and shares for the chart.

    Signals:
        changed(): new minutes, windows or shares arrived.
    """

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._minutes: dict[Key, dict[float, HealthSample]] = {}
        self._current: dict[Key, HealthSample] = {}
        self._shares: dict[str, dict[str, float]] = {}
        self.now: float | None = None

    def add_minutes(self, samples: Iterable[HealthSample]) -> None:
        for sample in samples:
            key = (sample.service, sample.version)
            self._minutes.setdefault(key, {})[sample.start] = sample
            if self.now is None or sample.start > self.now:
                self.now = sample.start
        self._prune()
        self.changed.emit()

    def note_time(self, at: float) -> None:
        """The newest entry time seen: where the chart's time axis ends."""
        if self.now is None or at > self.now:
            self.now = at

    def set_current(self, windows: Mapping[Key, HealthSample]) -> None:
        """The last 60 seconds of the versions that changed."""
        self._current.update(windows)
        self.changed.emit()

    def set_traffic(self, splits: Mapping[str, Mapping[str, float]] | None) -> None:
        self._shares = {
            service: dict(allocations)
            for service, allocations in (splits or {}).items()
        }
        self.changed.emit()

    def versions(self) -> list[Key]:
        return list(self._minutes)

    def rows(self) -> list[ChartRow]:
        keys = set(self._minutes)
        for service, allocations in self._shares.items():
            keys.update((service, v) for v, share in allocations.items() if share > 0)

        def order(key: Key) -> tuple[str, float, str]:
            return (key[0], -(self._share(key) or 0.0), key[1])

        return [self._row(key) for key in sorted(keys, key=order)]

    def _share(self, key: Key) -> float | None:
        allocations = self._shares.get(key[0])
        if allocations is None:
            return None
        return allocations.get(key[1], 0.0)

    def _row(self, key: Key) -> ChartRow:
        minutes = self._minutes.get(key, {})
        points = [
            (start, sample.requests, sample.errors)
            for start, sample in sorted(minutes.items())
        ]
        current = self._current.get(key)
        if current is not None and points:
            # The newest minute is still filling: the last 60 s stand for it.
            if points[-1][0] + MINUTE > current.start:
                points.pop()
            points.append((current.start, current.requests, current.errors))
        return ChartRow(key[0], key[1], self._share(key), tuple(points), current)

    def _prune(self) -> None:
        if self.now is None:
            return
        oldest = self.now - CHART_MINUTES * MINUTE
        for key in list(self._minutes):
            minutes = self._minutes[key]
            for start in [s for s in minutes if s < oldest]:
                del minutes[start]
            if not minutes:
                del self._minutes[key]
                self._current.pop(key, None)


class HealthChart(QWidget):
    """Paints a :class:`HealthHistory`, one row per version."""

    def __init__(self, history: HealthHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("healthChart")
        self.history = history
        self._rows: list[ChartRow] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        history.changed.connect(self._on_changed)

    def sizeHint(self) -> QSize:
        return QSize(800, max(1, len(self._rows)) * ROW_HEIGHT)

    def _on_changed(self) -> None:
        rows = self.history.rows()
        resized = len(rows) != len(self._rows)
        self._rows = rows
        if resized:
            self.setMinimumHeight(max(1, len(rows)) * ROW_HEIGHT)
            self.updateGeometry()
        if self.isVisible():
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.base())
        if not self._rows:
            painter.setPen(palette.text().color())
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter, "No requests seen yet."
            )
            return
        exposed = event.rect()
        for n, row in enumerate(self._rows):
            rect = QRectF(0, n * ROW_HEIGHT, self.width(), ROW_HEIGHT)
            if rect.intersects(QRectF(exposed)):
                self._paint_row(painter, rect, row)

    def _paint_row(self, painter: QPainter, rect: QRectF, row: ChartRow) -> None:
        text = self.palette().text().color()
        label = QRectF(rect.left() + 6, rect.top() + 4, LABEL_WIDTH - 12, 18)
        painter.setPen(text)
        painter.drawText(
            label,
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            f"{row.service} / {row.version}",
        )
        bar = QRectF(rect.left() + 6, rect.top() + 26, LABEL_WIDTH - 70, 10)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(GRID_COLOUR)
        painter.drawRect(bar)
        share = row.share or 0.0
        painter.setBrush(SHARE_COLOUR)
        painter.drawRect(
            QRectF(bar.left(), bar.top(), bar.width() * share, bar.height())
        )
        painter.setPen(text)
        share_text = "?" if row.share is None else f"{share:.0%}"
        painter.drawText(
            QRectF(bar.right() + 4, bar.top() - 4, 60, 18),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            share_text,
        )
        current = row.current
        if current is not None:
            painter.drawText(
                QRectF(rect.left() + 6, rect.top() + 40, LABEL_WIDTH - 12, 18),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                f"{current.requests:.0f} req/min · 5xx {current.ratio:.0%}",
            )
        plot = QRectF(
            rect.left() + LABEL_WIDTH,
            rect.top() + 6,
            max(10.0, rect.width() - LABEL_WIDTH - 10),
            rect.height() - 12,
        )
        painter.setPen(QPen(GRID_COLOUR, 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(plot)
        self._paint_lines(painter, plot, row)

    def _paint_lines(self, painter: QPainter, plot: QRectF, row: ChartRow) -> None:
        if not row.points or self.history.now is None:
            return
        end = self.history.now
        start = end - CHART_MINUTES * MINUTE
        peak = max(max(p[1] for p in row.points), 1.0)

        def x_of(at: float) -> float:
            fraction = min(1.0, max(0.0, (at - start) / (end - start)))
            return plot.left() + plot.width() * fraction

        def y_of(value: float) -> float:
            return plot.bottom() - (plot.height() - 2) * value / peak

        # Steps, one per minute: a rate holds over the minute it counts, and
        # a single minute (the first of a new version) is still a visible line.
        points = row.points
        for column, colour in ((1, REQUEST_COLOUR), (2, ERROR_COLOUR)):
            path = QPainterPath()
            for n, item in enumerate(points):
                until = item[0] + MINUTE
                if n + 1 < len(points):
                    until = min(until, points[n + 1][0])
                left = QPointF(x_of(item[0]), y_of(item[column]))
                if n == 0:
                    path.moveTo(left)
                else:
                    path.lineTo(left)
                path.lineTo(QPointF(max(x_of(until), left.x() + 2), left.y()))
            painter.setPen(QPen(colour, 2))
            painter.drawPath(path)

        painter.setPen(self.palette().placeholderText().color())
        painter.drawText(
            plot.adjusted(4, 1, -4, -1),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
            f"{peak:.0f}/min",
        )
        painter.drawText(
            plot.adjusted(4, 1, -4, -1),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom),
            f"last {CHART_MINUTES} min",
        )
