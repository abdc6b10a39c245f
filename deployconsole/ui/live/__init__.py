"""Live errors in the window: log table, error groups, health, alerts.

``install_live_errors(window)`` is the one call the main window makes: it
starts the live stream of the window's project and adds the panels, the
alert banner and the status label.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox, QVBoxLayout, QWidget

from deployconsole.core import settings as declared
from deployconsole.core.ingest import IngestSettings
from deployconsole.core.settings import Settings
from deployconsole.ui.live.alert_settings_dialog import AlertSettingsDialog
from deployconsole.ui.live.controller import LiveErrors, save_alert_settings
from deployconsole.ui.live.view import LiveErrorsView

if TYPE_CHECKING:
    from deployconsole.ui.mainwindow import MainWindow
    from deployconsole.ui.versions_model import VersionsModel

__all__ = [
    "LiveErrors",
    "LiveErrorsView",
    "edit_alert_settings",
    "install_live_errors",
    "splits_of",
]

log = logging.getLogger("deployconsole.ui.live")


def splits_of(
    model: VersionsModel,
) -> tuple[dict[str, dict[str, float]], set[tuple[str, str]]]:
    """The live splits of every listed service, and every listed version."""
    splits: dict[str, dict[str, float]] = {}
    known: set[tuple[str, str]] = set()
    for row in range(model.rowCount()):
        service = model.service_at(model.index(row, 0))
        if service is None:
            continue
        splits[service.id] = service.split.as_dict()
        known.update((service.id, v.id) for v in model.versions_of(service.id))
    return splits, known


def install_live_errors(
    window: MainWindow,
    settings: Settings | None = None,
    *,
    ingest_settings: IngestSettings | None = None,
    start: bool = True,
) -> LiveErrors:
    """Add live errors to ``window`` and (unless ``start`` is False) start them.

    The pages go in as the first tabs, the alert banner above the versions,
    the stream status in the status bar; both "Roll back"s go to the
    window's rollback confirmation, and every snapshot the window reads
    tells the alert rules which versions have traffic.
    """
    settings = settings or Settings()
    # FIXME(settings-live): the buffer size and source root are read once,
    # here, and apply to the next window; the alert thresholds are set in
    # the window and apply at once.
    live = LiveErrors(
        window.session.endpoint,
        settings,
        ingest_settings=ingest_settings,
        parent=window,
    )
    view = LiveErrorsView(
        live,
        window.actions_.roll_back,
        source_root=settings.get(declared.SOURCE_ROOT),
        editor_command=settings.get(declared.EDITOR_COMMAND),
        icon=window.windowIcon(),
        parent=live,
    )
    live.view = view
    view.add_to(window.tabs)
    _put_banner_above(window, view.banner)
    window.statusBar().addPermanentWidget(view.status_label)
    if live.settings_problems:
        window.statusBar().showMessage("Settings: " + "; ".join(live.settings_problems))

    def on_snapshot() -> None:
        splits, known = splits_of(window.model)
        live.set_traffic(splits, known)

    view.thresholds_button.clicked.connect(
        lambda: edit_alert_settings(live, settings, window)
    )
    window.snapshot_applied.connect(on_snapshot)
    # A version serving requests that the window has not listed was just
    # deployed: read again now rather than at the next refresh.
    live.unknown_version_seen.connect(lambda *_: window.refresh())
    if start:
        live.start()
    return live


def edit_alert_settings(
    live: LiveErrors, settings: Settings, parent: QWidget
) -> AlertSettingsDialog:
    """Open the alert thresholds; on Apply they take effect and are kept."""
    dialog = AlertSettingsDialog(live.alert_settings, parent)

    def on_accepted() -> None:
        alerts = dialog.alerts
        if alerts is None:
            return
        live.set_alert_settings(alerts)
        try:
            save_alert_settings(settings, alerts)
        except OSError as error:
            log.warning("Alert thresholds could not be saved: %s", error)
            QMessageBox.warning(
                parent,
                "Alert thresholds",
                "The new thresholds apply in this window, but could not be "
                f"kept for the next one: {error}",
            )

    dialog.accepted.connect(on_accepted)
    dialog.open()
    return dialog


def _put_banner_above(window: MainWindow, banner: QWidget) -> None:
    central = window.takeCentralWidget()
    holder = QWidget(window)
    holder.setObjectName("centralWithBanner")
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(0)
    layout.addWidget(banner)
    if central is not None:
        layout.addWidget(central, 1)
    window.setCentralWidget(holder)
