"""LiveErrorsView: the live errors' panels, banner and status label together.

The window places them: the pages as tabs beside its own, the banner above
the versions, the label in the status bar. The view only wires the panels
to the controller's models and signals.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from deployconsole.ui.live.alert_banner import AlertBanner, RollBack, TrayNotifier
from deployconsole.ui.live.controller import LiveErrors
from deployconsole.ui.live.groups_panel import GroupsPanel
from deployconsole.ui.live.health_chart import HealthChart
from deployconsole.ui.live.log_panel import LogPanel
from deployconsole.ui.live.traceback_view import TracebackView

log = logging.getLogger("deployconsole.ui.live")

LOG_TAB = "Live log"
ERRORS_TAB = "Errors"
HEALTH_TAB = "Health"
_LEGEND = (
    "<span style='color:#1a73e8'>■</span> requests per minute &nbsp; "
    "<span style='color:#d93025'>■</span> 5xx per minute &nbsp; "
    "<span style='color:#34a853'>■</span> traffic share &nbsp; "
    "(the newest point is the last 60 seconds)"
)


class LiveErrorsView(QObject):
    """The widgets of live errors for one window.

    Attributes:
        log_panel: the live log table.
        groups_panel, traceback_view: the error groups and the selected
            group's latest traceback (together ``errors_page``).
        health_chart: per-version rates beside traffic shares
            (in ``health_page``).
        banner: the alert banner; tray: the tray notifier (inactive without
            a system tray).
        status_label: the stream's status, for the status bar.
    """

    def __init__(
        self,
        live: LiveErrors,
        roll_back: RollBack,
        *,
        source_root: str = "",
        editor_command: str = "",
        icon: QIcon | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.live = live
        self.log_panel = LogPanel(live.records)

        self.groups_panel = GroupsPanel(live.groups)
        self.traceback_view = TracebackView(
            source_root=source_root, editor_command=editor_command
        )
        self.groups_panel.group_selected.connect(self.traceback_view.show_group)
        self.errors_page = QSplitter(Qt.Orientation.Horizontal)
        self.errors_page.setObjectName("liveErrorsPage")
        self.errors_page.addWidget(self.groups_panel)
        self.errors_page.addWidget(self.traceback_view)
        self.errors_page.setStretchFactor(0, 3)
        self.errors_page.setStretchFactor(1, 2)
        self.errors_page.setSizes([550, 450])

        self.health_chart = HealthChart(live.health)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.health_chart)
        legend = QLabel(_LEGEND)
        self.health_page = QWidget()
        self.health_page.setObjectName("liveHealthPage")
        layout = QVBoxLayout(self.health_page)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(legend)
        layout.addWidget(scroll, 1)
        rules = QHBoxLayout()
        self.alert_rules_label = QLabel(live.alert_settings.describe())
        self.alert_rules_label.setObjectName("alertRulesLabel")
        self.alert_rules_label.setWordWrap(True)
        live.alert_settings_changed.connect(
            lambda alerts: self.alert_rules_label.setText(alerts.describe())
        )
        self.thresholds_button = QPushButton("Alert thresholds…")
        self.thresholds_button.setObjectName("alertThresholdsButton")
        self.thresholds_button.setToolTip("When the live errors alert")
        rules.addWidget(self.alert_rules_label, 1)
        rules.addWidget(self.thresholds_button)
        layout.addLayout(rules)

        self.banner = AlertBanner(roll_back)
        self.tray = TrayNotifier(roll_back, icon, self)
        self.status_label = QLabel(live.status)
        self.status_label.setObjectName("liveStatusLabel")
        live.status_changed.connect(self.status_label.setText)
        live.alert_raised.connect(self.banner.show_alert)
        live.alert_raised.connect(self.tray.notify)
        self._tabs: QTabWidget | None = None
        live.groups.rowsInserted.connect(self._on_groups_added)

    def pages(self) -> list[tuple[str, QWidget]]:
        return [
            (LOG_TAB, self.log_panel),
            (ERRORS_TAB, self.errors_page),
            (HEALTH_TAB, self.health_page),
        ]

    def add_to(self, tabs: QTabWidget) -> None:
        """Add the pages as tabs (before the window's own tabs)."""
        for position, (title, page) in enumerate(self.pages()):
            tabs.insertTab(position, page, title)
        tabs.setCurrentIndex(0)
        self._tabs = tabs

    def _on_groups_added(self, *_args: object) -> None:
        if self._tabs is None:
            return
        index = self._tabs.indexOf(self.errors_page)
        if index >= 0:
            count = self.live.groups.rowCount()
            self._tabs.setTabText(index, f"{ERRORS_TAB} ({count})")

    def close(self) -> None:
        self.tray.hide()
