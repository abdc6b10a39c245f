"""First run: the welcome screen, and what the next start restores."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMenu, QToolBar
from ui_support import staged_emulator

from deployconsole.core import settings as s
from deployconsole.emulator.scenario import ScenarioOptions
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import EmulatorConfig
from deployconsole.ui.app import ConsoleApp, Start, StartKind, choose_start
from deployconsole.ui.welcome import WelcomeScreen, project_id_problem

__all__ = ["staged_emulator"]

TIMEOUT = 10_000


def args(**given: Any) -> argparse.Namespace:
    values = {"demo": False, "project": None, "emulator": None}
    values.update(given)
    return argparse.Namespace(**values)


def fast_demo() -> EmulatorOptions:
    return EmulatorOptions(
        config=EmulatorConfig(operation_delay=0.05, migration_delay=0.1),
        scenario=ScenarioOptions(name="staged", seed=1),
        run_traffic=False,
    )


@pytest.fixture()
def settings(isolated_home: str) -> s.Settings:
    return s.Settings()


@pytest.fixture()
def no_metadata_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """google.auth looks for the GCE metadata server over the network when
    it finds no credentials; tests must not send that request."""
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)


@pytest.fixture()
def consoles(tmp_path: Path) -> Iterator[list[ConsoleApp]]:
    made: list[ConsoleApp] = []
    yield made
    for console in made:
        if console.window is not None:
            console.window.close()
        if console.welcome is not None:
            console.welcome.close()
        console.shutdown()


# Every test that opens a window waits for its first read: MainWindow's
# initial refresh is queued, and one that runs after shutdown() raises.
def make_console(
    consoles: list[ConsoleApp], settings: s.Settings, tmp_path: Path
) -> ConsoleApp:
    console = ConsoleApp(
        settings,
        journal_path=tmp_path / "journal.sqlite3",
        refresh_interval_ms=60_000,
        demo_options=fast_demo(),
    )
    consoles.append(console)
    return console


# -- where a start goes ------------------------------------------------------


def test_a_first_start_without_settings_goes_to_the_welcome_screen(
    settings: s.Settings,
) -> None:
    assert not settings.path.exists()
    assert choose_start(args(), settings) == Start(StartKind.WELCOME)


def test_the_command_line_wins_over_the_last_project(settings: s.Settings) -> None:
    settings.set(s.LAST_PROJECT, "my-shop-prod")
    assert choose_start(args(demo=True), settings).kind is StartKind.DEMO
    emulator = choose_start(args(emulator="127.0.0.1:9"), settings)
    assert emulator == Start(StartKind.EMULATOR, "deployconsole-demo", "127.0.0.1:9")
    other = choose_start(args(project="other-project"), settings)
    assert other == Start(StartKind.PROJECT, "other-project")


def test_the_last_project_is_reopened_with_its_production_flag(
    settings: s.Settings,
) -> None:
    entry = {"id": "my-shop-prod", "sign_in": "application-default", "production": True}
    settings.set(s.PROJECTS, [entry])
    settings.set(s.LAST_PROJECT, "my-shop-prod")
    start = choose_start(args(), s.Settings(settings.path))
    assert start == Start(StartKind.PROJECT, "my-shop-prod", production=True)

    settings.set(s.LAST_PROJECT_DEMO, True)
    assert choose_start(args(), s.Settings(settings.path)).kind is StartKind.DEMO


# -- the welcome screen ------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("", "Type the id"),
        ("My-Shop", "lowercase"),
        ("my shop", "project name"),
        ("abc", "6 to 30 characters"),
        ("shop-", "6 to 30 characters"),
        ("1shop-prod", "start with a letter"),
    ],
)
def test_project_ids_are_checked_in_the_users_words(typed: str, words: str) -> None:
    assert words in project_id_problem(typed)


def test_valid_project_ids_pass() -> None:
    for project in ("my-shop-prod", "example.com:my-shop", "a23456"):
        assert project_id_problem(project) == "", project


def test_the_welcome_screen_refuses_a_bad_id_and_adds_a_good_one(qtbot: Any) -> None:
    screen = WelcomeScreen()
    qtbot.addWidget(screen)
    screen.show()
    added: list[tuple[str, bool]] = []
    screen.project_added.connect(lambda project, prod: added.append((project, prod)))

    qtbot.keyClicks(screen.project_edit, "My Shop")
    qtbot.mouseClick(screen.add_button, Qt.MouseButton.LeftButton)
    assert "project name" in screen.problem()
    assert added == []

    screen.project_edit.clear()
    qtbot.keyClicks(screen.project_edit, "my-shop-prod")
    assert screen.problem() == "", "editing hides the old message"
    screen.production_check.setChecked(True)
    with qtbot.waitSignal(screen.project_added, timeout=TIMEOUT):
        qtbot.keyClick(screen.project_edit, Qt.Key.Key_Return)
    assert added == [("my-shop-prod", True)]


def test_a_first_start_shows_the_welcome_screen_and_the_demo_opens_from_it(
    qtbot: Any, settings: s.Settings, tmp_path: Path, consoles: list[ConsoleApp]
) -> None:
    console = make_console(consoles, settings, tmp_path)
    console.start(choose_start(args(), settings))
    assert console.window is None
    welcome = console.welcome
    assert welcome is not None and welcome.isVisible()
    assert welcome.demo_button.isEnabled()

    with qtbot.waitSignal(console.window_opened, timeout=TIMEOUT) as opened:
        qtbot.mouseClick(welcome.demo_button, Qt.MouseButton.LeftButton)
    window = opened.args[0]
    qtbot.waitUntil(lambda: window.model.version_count() > 0, timeout=TIMEOUT)
    assert console.welcome is None
    assert not shiboken6.isValid(welcome) or not welcome.isVisible()
    assert not window.windowIcon().isNull()
    assert not QApplication.windowIcon().isNull(), "the tray takes this one"
    again = s.Settings(settings.path)
    assert again.get(s.LAST_PROJECT) == "deployconsole-demo"
    assert again.get(s.LAST_PROJECT_DEMO) is True


def test_the_next_start_reopens_the_demo_with_the_same_layout(
    qtbot: Any, settings: s.Settings, tmp_path: Path, consoles: list[ConsoleApp]
) -> None:
    first = make_console(consoles, settings, tmp_path)
    first.start(Start(StartKind.DEMO, "deployconsole-demo"))
    window = first.window
    qtbot.waitUntil(lambda: window.model.version_count() > 0, timeout=TIMEOUT)
    window.resize(QSize(711, 477))
    window.move(QPoint(40, 30))
    toolbar = window.findChild(QToolBar, "mainToolbar")
    assert toolbar is not None
    toolbar.hide()
    window.close()
    first.shutdown()
    assert s.Settings(settings.path).get(s.WINDOW_GEOMETRY)

    second = make_console(consoles, s.Settings(settings.path), tmp_path)
    second.start(choose_start(args(), second.settings))
    restored = second.window
    assert restored is not None, "the last project opens without the welcome screen"
    qtbot.waitUntil(lambda: restored.model.version_count() > 0, timeout=TIMEOUT)
    assert second.welcome is None
    assert restored.size() == QSize(711, 477)
    assert restored.findChild(QToolBar, "mainToolbar").isHidden()


def test_a_project_added_on_the_welcome_screen_opens_and_is_remembered(
    qtbot: Any,
    settings: s.Settings,
    tmp_path: Path,
    consoles: list[ConsoleApp],
    no_metadata_server: None,
) -> None:
    console = make_console(consoles, settings, tmp_path)
    console.start(choose_start(args(), settings))
    welcome = console.welcome
    assert welcome is not None
    qtbot.keyClicks(welcome.project_edit, "my-shop-prod")
    welcome.production_check.setChecked(True)
    with qtbot.waitSignal(console.window_opened, timeout=TIMEOUT) as opened:
        qtbot.mouseClick(welcome.add_button, Qt.MouseButton.LeftButton)
    window = opened.args[0]
    assert window.session.project == "my-shop-prod"
    assert window.session.production
    # No credentials here: the first read fails and the window says so.
    with qtbot.waitSignal(window.refresh_failed, timeout=TIMEOUT):
        pass

    again = s.Settings(settings.path)
    assert again.get(s.LAST_PROJECT) == "my-shop-prod"
    assert again.get(s.LAST_PROJECT_DEMO) is False
    start = choose_start(args(), again)
    assert start == Start(StartKind.PROJECT, "my-shop-prod", production=True)


def test_a_demo_that_cannot_start_leaves_the_welcome_screen_with_the_reason(
    qtbot: Any, settings: s.Settings, tmp_path: Path, consoles: list[ConsoleApp]
) -> None:
    console = make_console(consoles, settings, tmp_path)
    console.demo_options = EmulatorOptions(scenario=ScenarioOptions(name="nope"))
    console.start(choose_start(args(), settings))
    welcome = console.welcome
    assert welcome is not None
    qtbot.mouseClick(welcome.demo_button, Qt.MouseButton.LeftButton)

    assert console.window is None
    assert console.welcome is welcome and welcome.isVisible()
    notice = welcome.notice()
    assert notice.startswith("Could not open deployconsole-demo: the demo emulator")
    assert "unknown scenario 'nope'" in notice
    assert s.Settings(settings.path).get(s.LAST_PROJECT) == ""


def test_the_window_has_help_copy_diagnostics(
    qtbot: Any, settings: s.Settings, tmp_path: Path, consoles: list[ConsoleApp]
) -> None:
    console = make_console(consoles, settings, tmp_path)
    console.start(Start(StartKind.DEMO, "deployconsole-demo"))
    window = console.window
    qtbot.waitUntil(lambda: window.model.version_count() > 0, timeout=TIMEOUT)
    menu = window.menuBar().findChild(QMenu, "helpMenu")
    assert menu is not None
    texts = [action.text() for action in menu.actions()]
    assert "Copy diagnostics" in texts
    copy = next(a for a in menu.actions() if a.text() == "Copy diagnostics")
    copy.trigger()
    text = QGuiApplication.clipboard().text()
    assert "Deploy Console 0.1.0" in text
    assert "Project: deployconsole-demo" in text
    assert "Backend: the embedded demo emulator" in text


def test_opening_another_project_replaces_the_window_without_quitting(
    qtbot: Any,
    qapp: Any,
    settings: s.Settings,
    tmp_path: Path,
    consoles: list[ConsoleApp],
    staged_emulator: Emulator,
) -> None:
    console = make_console(consoles, settings, tmp_path)
    console.start(Start(StartKind.DEMO, "deployconsole-demo"))
    first = console.window
    qtbot.waitUntil(lambda: first.model.version_count() > 0, timeout=TIMEOUT)
    first.resize(QSize(701, 455))
    closed: list[bool] = []
    qapp.lastWindowClosed.connect(lambda: closed.append(True))

    address = staged_emulator.address
    console.start(Start(StartKind.EMULATOR, "deployconsole-demo", address))
    second = console.window
    assert second is not first
    qtbot.waitUntil(lambda: second.model.version_count() > 0, timeout=TIMEOUT)
    assert second.isVisible()
    assert second.size() == QSize(701, 455), "the layout carries over"
    assert closed == [], "the application would have quit"
    assert not shiboken6.isValid(first) or not first.isVisible()
