"""The main window: services and versions with their traffic, history, status."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLabel,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QToolBar,
    QTreeView,
)

from deployconsole.core.appmodel import VERSION_LIMIT
from deployconsole.core.operations import Operation, Outcome, Progress
from deployconsole.gcp.channel import Endpoint
from deployconsole.ui.actions import ConsoleActions, Selection
from deployconsole.ui.history_panel import HistoryPanel
from deployconsole.ui.live import install_live_errors
from deployconsole.ui.rollouts import GuardedRollouts
from deployconsole.ui.session import ConsoleSession
from deployconsole.ui.snapshot import Snapshot, read_snapshot
from deployconsole.ui.tasks import TaskRunner
from deployconsole.ui.traffic_bar import TrafficBarDelegate
from deployconsole.ui.versions_model import Column, VersionsModel

log = logging.getLogger("deployconsole.ui")
startup_log = logging.getLogger("deployconsole.startup")

REFRESH_INTERVAL_MS = 5_000


class MainWindow(QMainWindow):
    """Signals:
    snapshot_applied(): a refresh reached the model (tests wait on it).
    refresh_failed(str): a refresh failed; the message says why.
    """

    snapshot_applied = Signal()
    refresh_failed = Signal(str)

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        production: bool = False,
        session: ConsoleSession | None = None,
        refresh_interval_ms: int = REFRESH_INTERVAL_MS,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.session = session or ConsoleSession(endpoint, production=production)
        self.tasks = TaskRunner(self)
        self.setWindowTitle(f"Deploy Console — {endpoint.project}")
        self.resize(1200, 760)

        self.model = VersionsModel(self)
        self.tree = self._make_tree()
        self.history = HistoryPanel(self.session.journal, endpoint.project, self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.history, "History")
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.tree)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.setCentralWidget(splitter)

        self.actions_ = ConsoleActions(
            self, self.session, self.tasks, self.selection, self.model.versions_of
        )
        self.actions_.refresh_needed.connect(self.refresh)
        # Set by install_live_errors; the guarded rollouts watch its pipeline.
        self.live: Any = None
        self.rollouts = GuardedRollouts(
            self, self.tabs, self.session, self.tasks, self._live_pipeline
        )
        self.actions_.rollout_requested.connect(self.rollouts.ask_and_start)
        self.actions_.report_requested.connect(self.rollouts.draft_report)
        self.actions_.operation_started.connect(self._on_operation_started)
        self.session.operation_progressed.connect(self._on_operation_progress)
        self.session.operation_finished.connect(self._on_operation_finished)
        self._make_toolbar(endpoint)
        self._make_status_bar()
        self.live = install_live_errors(self)

        self._last_success: float | None = None
        self._reading = False
        self._first_load = True
        self._timer = QTimer(self)
        self._timer.setInterval(refresh_interval_ms)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        QTimer.singleShot(0, self.refresh)

    def _live_pipeline(self) -> Any:
        if self.live is None:
            raise RuntimeError("live errors are not running in this window")
        return self.live.pipeline

    # -- building ----------------------------------------------------------

    def _make_tree(self) -> QTreeView:
        tree = QTreeView(self)
        tree.setObjectName("versionsTree")
        tree.setModel(self.model)
        tree.setItemDelegateForColumn(Column.TRAFFIC, TrafficBarDelegate(tree))
        tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        tree.setUniformRowHeights(True)
        tree.setAlternatingRowColors(True)
        header = tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(Column.VERSION, 230)
        header.resizeSection(Column.TRAFFIC, 170)
        header.resizeSection(Column.STATUS, 90)
        header.resizeSection(Column.INSTANCES, 80)
        header.resizeSection(Column.RUNTIME, 210)
        header.resizeSection(Column.AGE, 60)
        header.setStretchLastSection(True)
        tree.selectionModel().selectionChanged.connect(self._on_selection_changed)
        return tree

    def _make_toolbar(self, endpoint: Endpoint) -> None:
        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        self.addToolBar(toolbar)
        self.project_picker = QComboBox(toolbar)
        self.project_picker.setObjectName("projectPicker")
        label = endpoint.project + (" (emulator)" if endpoint.is_emulator else "")
        # ui.projects_dialog.ProjectSwitcher refills this with the remembered
        # projects and switches on a pick.
        self.project_picker.addItem(label, endpoint.project)
        self.project_picker.setToolTip("Project")
        toolbar.addWidget(QLabel(" Project: "))
        toolbar.addWidget(self.project_picker)
        toolbar.addSeparator()
        self.refresh_action = QAction("Refresh", self)
        self.refresh_action.setShortcut(QKeySequence("F5"))
        self.refresh_action.triggered.connect(self.refresh)
        self.addAction(self.refresh_action)
        toolbar.addAction(self.refresh_action)
        toolbar.addSeparator()
        for act in self.actions_.mutations:
            toolbar.addAction(act)
        toolbar.addAction(self.actions_.report)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.addAction(quit_action)

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        self.operation_label = QLabel("")
        self.operation_label.setObjectName("operationLabel")
        self.read_label = QLabel("Reading…")
        self.read_label.setObjectName("readLabel")
        self.count_label = QLabel("")
        bar.addWidget(self.operation_label, 1)
        bar.addPermanentWidget(self.count_label)
        bar.addPermanentWidget(self.read_label)

    # -- selection ---------------------------------------------------------

    def selection(self) -> Selection:
        indexes = self.tree.selectionModel().selectedRows()
        if not indexes:
            return None, None
        index = indexes[0]
        return self.model.service_at(index), self.model.version_at(index)

    def select(self, service_id: str, version_id: str | None = None) -> None:
        index = self.model.index_of(service_id, version_id)
        if index.isValid():
            self.tree.setCurrentIndex(index)

    def _on_selection_changed(self, *args: QItemSelection) -> None:
        self.actions_.update_enabled()
        service, _ = self.selection()
        if service is not None:
            self._read_history(service.id)

    # -- reading -----------------------------------------------------------

    def refresh(self) -> None:
        if self._reading:
            return
        self._reading = True
        admin = self.session.admin
        self.tasks.submit(
            lambda: read_snapshot(admin), self._on_snapshot, self._on_read_failed
        )

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self._reading = False
        started = time.perf_counter()
        self.model.set_snapshot(snapshot.services, snapshot.versions)
        if self._first_load:
            self._first_load = False
            self.tree.expandAll()
            startup_log.info("Versions listed.")
            self.rollouts.offer_unfinished()
        log.debug("Snapshot applied in %.1f ms.", (time.perf_counter() - started) * 1e3)
        self._last_success = snapshot.read_at
        count = self.model.version_count()
        self.count_label.setText(f"{count} of {VERSION_LIMIT} versions")
        when = datetime.fromtimestamp(snapshot.read_at).strftime("%H:%M:%S")
        self.read_label.setText(f"Read at {when}")
        self.read_label.setStyleSheet("")
        self.read_label.setToolTip("")
        self.actions_.update_enabled()
        self.snapshot_applied.emit()
        service, _ = self.selection()
        if service is not None:
            self._read_history(service.id)

    def _on_read_failed(self, error: Exception) -> None:
        self._reading = False
        message = getattr(error, "message", None) or str(error)
        if self._last_success is None:
            text = "Not read yet"
        else:
            when = datetime.fromtimestamp(self._last_success).strftime("%H:%M:%S")
            text = f"Stale: last read at {when}"
        self.read_label.setText(text)
        self.read_label.setToolTip(message)
        self.read_label.setStyleSheet("background: #fce8e6; color: #a50e0e;")
        log.warning("Refreshing %s failed: %s", self.session.project, message)
        self.refresh_failed.emit(message)

    def _read_history(self, service_id: str) -> None:
        traffic = self.session.traffic
        self.tasks.submit(
            lambda: traffic.history(service_id),
            lambda changes: self.history.show_history(service_id, changes),
            lambda error: self.history.show_error(
                getattr(error, "message", None) or str(error)
            ),
        )

    # -- operations --------------------------------------------------------

    def _on_operation_started(self, operation: Operation) -> None:
        self.operation_label.setText(f"{operation.description}…")

    def _on_operation_progress(self, operation: Operation, progress: Progress) -> None:
        self.operation_label.setText(f"{operation.description}: {progress.message}")

    def _on_operation_finished(self, operation: Operation, outcome: Outcome) -> None:
        self.operation_label.setText(outcome.message)

    # -- lifetime ----------------------------------------------------------

    def shutdown(self) -> None:
        self._timer.stop()
        self.live.stop()
        self.tasks.shutdown()
        self.session.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._timer.stop()
        super().closeEvent(event)
