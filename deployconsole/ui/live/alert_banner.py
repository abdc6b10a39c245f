"""Telling the user about an alert: a banner in the window and a tray message.

Both offer "Roll back", which calls the callback the window gives (it goes
straight to the rollback confirmation; nothing changes without it). The
tray is used only where the desktop has one; the banner always shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QStyle,
    QSystemTrayIcon,
    QToolButton,
    QWidget,
)

from deployconsole.core.alerts import Alert

log = logging.getLogger("deployconsole.ui.live")

RollBack = Callable[[str], None]
TRAY_MESSAGE_MS = 15_000

_STYLE = """
#alertBanner { background: #fce8e6; border-bottom: 1px solid #f4c7c3; }
#alertBanner QLabel { color: #a50e0e; }
"""


class AlertBanner(QFrame):
    """A strip above the versions with the latest alert.

    Signals:
        shown(object): an Alert is now on the banner (visible).
        dismissed(): the user closed the banner.
    """

    shown = Signal(object)
    dismissed = Signal()

    def __init__(self, roll_back: RollBack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertBanner")
        self.setStyleSheet(_STYLE)
        self._roll_back = roll_back
        self.alert: Alert | None = None
        self.unseen = 0
        self.label = QLabel("", self)
        self.label.setObjectName("alertText")
        self.label.setWordWrap(True)
        self.roll_back_button = QPushButton("Roll back", self)
        self.roll_back_button.setObjectName("alertRollBack")
        self.roll_back_button.clicked.connect(self._on_roll_back)
        self.dismiss_button = QToolButton(self)
        self.dismiss_button.setObjectName("alertDismiss")
        self.dismiss_button.setText("✕")
        self.dismiss_button.setToolTip("Dismiss")
        self.dismiss_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.roll_back_button)
        layout.addWidget(self.dismiss_button)
        self.hide()

    def show_alert(self, alert: Alert) -> None:
        """Put ``alert`` on the banner; earlier undismissed ones are counted."""
        if self.alert is not None and self.isVisible():
            self.unseen += 1
        self.alert = alert
        more = f" (and {self.unseen} earlier)" if self.unseen else ""
        self.label.setText(f"⚠ {alert.message}{more}")
        self.roll_back_button.setText(f"Roll back {alert.service}")
        self.roll_back_button.setToolTip(
            f"Restore the split that was live before {alert.service}'s latest change"
        )
        self.show()
        self.shown.emit(alert)

    def dismiss(self) -> None:
        self.hide()
        self.alert = None
        self.unseen = 0
        self.dismissed.emit()

    def _on_roll_back(self) -> None:
        if self.alert is not None:
            log.info(
                "Roll back of service %s asked from the alert banner.",
                self.alert.service,
            )
            self._roll_back(self.alert.service)


class TrayNotifier(QObject):
    """A desktop notification per alert, where the desktop has a tray.

    Clicking the notification, or "Roll back" in the tray icon's menu, rolls
    back the service of the latest alert.
    """

    def __init__(
        self,
        roll_back: RollBack,
        icon: QIcon | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._roll_back = roll_back
        self.alert: Alert | None = None
        self.tray: QSystemTrayIcon | None = None
        if not QSystemTrayIcon.isSystemTrayAvailable():
            log.debug("No system tray: alerts show on the banner only.")
            return
        if icon is None or icon.isNull():
            icon = QApplication.style().standardIcon(
                QStyle.StandardPixmap.SP_MessageBoxWarning
            )
        self.tray = QSystemTrayIcon(icon, self)
        self.tray.setToolTip("Deploy Console")
        menu = QMenu()
        self.roll_back_action = QAction("Roll back", menu)
        self.roll_back_action.setEnabled(False)
        self.roll_back_action.triggered.connect(self._on_roll_back)
        menu.addAction(self.roll_back_action)
        self._menu = menu
        self.tray.setContextMenu(menu)
        self.tray.messageClicked.connect(self._on_roll_back)

    @property
    def available(self) -> bool:
        return self.tray is not None

    def notify(self, alert: Alert) -> None:
        if self.tray is None:
            return
        self.alert = alert
        self.roll_back_action.setText(f"Roll back {alert.service}")
        self.roll_back_action.setEnabled(True)
        if not self.tray.isVisible():
            self.tray.show()
        self.tray.showMessage(
            f"Errors in {alert.version} of {alert.service}",
            f"{alert.message}\nClick to roll back {alert.service}.",
            QSystemTrayIcon.MessageIcon.Warning,
            TRAY_MESSAGE_MS,
        )

    def hide(self) -> None:
        if self.tray is not None:
            self.tray.hide()

    def _on_roll_back(self) -> None:
        if self.alert is not None:
            log.info("Roll back of service %s asked from the tray.", self.alert.service)
            self._roll_back(self.alert.service)
