"""The first-run screen: try the demo, or add the project you deploy to."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from deployconsole.core.projects import ProjectError, check_project_id

log = logging.getLogger("deployconsole.ui")


def project_id_problem(text: str) -> str:
    """Why ``text`` is not a project id, in the user's words ("" when it is)."""
    project = text.strip()
    if not project:
        return "Type the id of a Google Cloud project, such as my-shop-prod."
    if " " in project:
        return (
            f"“{project}” looks like a project name; type its id (shown under the "
            "name in the Cloud console), such as my-shop-prod."
        )
    if project != project.lower():
        return f"“{project}” has capital letters; project ids are all lowercase."
    try:
        check_project_id(project)
    except ProjectError:
        return (
            f"“{project}” is not a project id: ids have 6 to 30 characters "
            "(lowercase letters, digits and hyphens), start with a letter and do "
            "not end with a hyphen."
        )
    return ""


class WelcomeScreen(QWidget):
    """Shown when no project is set up.

    Signals:
        demo_chosen(): the user asked for the demo.
        project_added(str, bool): a valid project id, and whether the user
            marked it as production.
    """

    demo_chosen = Signal()
    project_added = Signal(str, bool)

    def __init__(
        self, icon: QIcon | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeScreen")
        self.setWindowTitle("Welcome to Deploy Console")
        if icon is not None and not icon.isNull():
            self.setWindowIcon(icon)

        heading = QLabel("<h2>Welcome to Deploy Console</h2>", self)
        intro = QLabel(
            "No project is set up yet. Try the console on the demo, or add the "
            "Google Cloud project whose App Engine services you deploy.",
            self,
        )
        intro.setWordWrap(True)
        header = QHBoxLayout()
        if icon is not None and not icon.isNull():
            picture = QLabel(self)
            picture.setPixmap(icon.pixmap(64, 64))
            header.addWidget(picture)
        text = QVBoxLayout()
        text.addWidget(heading)
        text.addWidget(intro)
        header.addLayout(text, 1)

        self.notice_label = QLabel("", self)
        self.notice_label.setObjectName("noticeLabel")
        self.notice_label.setWordWrap(True)
        self.notice_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.notice_label.setStyleSheet(
            "background: #fce8e6; color: #a50e0e; padding: 6px;"
        )
        self.notice_label.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.notice_label)
        layout.addWidget(self._demo_box())
        layout.addWidget(self._project_box())
        layout.addStretch(1)
        self.resize(560, 460)

    def _demo_box(self) -> QGroupBox:
        box = QGroupBox("Try the demo", self)
        text = QLabel(
            "Opens an emulated project on this computer: a bad push of the "
            "default service happens 30 seconds after it starts, so you can "
            "watch the errors and roll it back. Nothing reaches Google.",
            box,
        )
        text.setWordWrap(True)
        self.demo_button = QPushButton("Open the demo", box)
        self.demo_button.setObjectName("demoButton")
        self.demo_button.clicked.connect(self._on_demo_clicked)
        layout = QVBoxLayout(box)
        layout.addWidget(text)
        layout.addWidget(self.demo_button, 0, Qt.AlignmentFlag.AlignLeft)
        return box

    def _project_box(self) -> QGroupBox:
        box = QGroupBox("Add a project", self)
        self.project_edit = QLineEdit(box)
        self.project_edit.setObjectName("projectEdit")
        self.project_edit.setPlaceholderText("Project id, such as my-shop-prod")
        self.project_edit.returnPressed.connect(self.add_project)
        self.project_edit.textEdited.connect(self._on_project_edited)
        self.production_check = QCheckBox(
            "Production: ask me to type the project id before every change", box
        )
        self.production_check.setObjectName("productionCheck")
        sign_in = QLabel(
            "The console signs in with your Application Default Credentials "
            "(run <code>gcloud auth application-default login</code> once). "
            "A service account key or a browser sign-in can be chosen later "
            "under Projects… (Ctrl+O).",
            box,
        )
        sign_in.setWordWrap(True)
        self.problem_label = QLabel("", box)
        self.problem_label.setObjectName("problemLabel")
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #a50e0e;")
        self.problem_label.hide()
        self.add_button = QPushButton("Add and open", box)
        self.add_button.setObjectName("addButton")
        self.add_button.clicked.connect(self.add_project)

        layout = QVBoxLayout(box)
        layout.addWidget(self.project_edit)
        layout.addWidget(self.production_check)
        layout.addWidget(sign_in)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)
        return box

    def show_notice(self, text: str) -> None:
        """Say above both choices why the console is back here."""
        self.notice_label.setText(text)
        self.notice_label.show()

    def notice(self) -> str:
        return "" if self.notice_label.isHidden() else self.notice_label.text()

    def problem(self) -> str:
        """The message shown under the project id ("" when none)."""
        return "" if self.problem_label.isHidden() else self.problem_label.text()

    @Slot()
    def add_project(self) -> None:
        problem = project_id_problem(self.project_edit.text())
        if problem:
            self.problem_label.setText(problem)
            self.problem_label.show()
            self.project_edit.setFocus()
            return
        project = self.project_edit.text().strip()
        production = self.production_check.isChecked()
        log.info("Project %s added from the welcome screen.", project)
        self.project_added.emit(project, production)

    @Slot()
    def _on_demo_clicked(self) -> None:
        log.info("Demo chosen from the welcome screen.")
        self.demo_chosen.emit()

    @Slot(str)
    def _on_project_edited(self, _text: str) -> None:
        self.problem_label.hide()
