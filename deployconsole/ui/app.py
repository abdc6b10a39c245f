"""Starting the GUI: the application object, the demo backend, the window."""

from __future__ import annotations

import argparse
import logging
import sys

from PySide6.QtWidgets import QApplication

from deployconsole.gcp.channel import Endpoint

log = logging.getLogger("deployconsole.ui")
startup_log = logging.getLogger("deployconsole.startup")


def _start_demo_emulator() -> tuple[object, Endpoint]:
    from deployconsole.emulator.server import Emulator

    emulator = Emulator().start()
    log.info(
        "Demo emulator for project %s on %s.",
        emulator.state.project_id,
        emulator.address,
    )
    return emulator, Endpoint(emulator.state.project_id, emulator.address)


def run_gui(args: argparse.Namespace) -> int:
    from deployconsole.ui.mainwindow import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("deployconsole")
    app.setOrganizationName("deployconsole")
    app.setApplicationDisplayName("Deploy Console")

    emulator = None
    if args.demo:
        emulator, endpoint = _start_demo_emulator()
    elif args.emulator:
        endpoint = Endpoint(args.project or "deployconsole-demo", args.emulator)
    elif args.project:
        endpoint = Endpoint(args.project)
    else:
        # FIXME(first-run): a welcome screen should offer the demo or adding
        # a project; until then a bare start opens the demo.
        emulator, endpoint = _start_demo_emulator()

    window = MainWindow(endpoint, production=False)
    window.show()
    startup_log.info("Window shown.")
    try:
        return app.exec()
    finally:
        window.shutdown()
        if emulator is not None:
            emulator.stop()  # type: ignore[attr-defined]
