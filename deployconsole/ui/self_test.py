"""``deployconsole --self-test``: prove an install or a bundle works.

It opens the real main window offscreen on an embedded emulator (the staged
scenario: ``default`` serves ``v1``, other versions wait without traffic),
waits for the versions to be listed, moves all of ``default``'s traffic to
a version that has none through the traffic controller the console's
actions use (planned off the GUI thread, applied as one operation, without
the confirmation dialog), and checks the split the server reports back, in
the operation's outcome, in the window's next read and in the emulator.
Unhandled exceptions, a missing icon and missing package metadata fail it
too. Everything happens within a deadline.

Nothing of the user's is touched: the journal lives in a temporary folder
and the settings are neither read nor written.
"""

from __future__ import annotations

import logging
import pkgutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer, Slot, qInstallMessageHandler

from deployconsole import logsetup
from deployconsole.core.operations import Operation, Outcome
from deployconsole.core.traffic import TrafficPlan
from deployconsole.ui.app import application, install_qt_message_handler
from deployconsole.ui.crash_dialog import CrashHandler, ExcInfo
from deployconsole.ui.diagnostics import diagnostics_text
from deployconsole.ui.icons import app_icon

log = logging.getLogger("deployconsole.selftest")

DEADLINE_SECONDS = 60.0
SERVICE = "default"
# The staged scenario's healthy version without traffic.
PREFERRED_TARGET = "v2-ok"


@dataclass
class SelfTestResult:
    """How the self-test went.

    Attributes:
        ok: every check passed.
        message: one sentence: what was proven, or what failed and why.
        steps: the checks passed, in order, with their times.
    """

    ok: bool = False
    message: str = ""
    steps: list[str] = field(default_factory=list)


class _Recorder(CrashHandler):
    """An excepthook that fails the self-test instead of opening a dialog."""

    def __init__(self, fail: Any) -> None:
        super().__init__()
        self._fail = fail

    def report(self, info: ExcInfo) -> None:
        kind, value, _ = info
        log.error("Unhandled %s during the self-test.", kind.__name__, exc_info=info)
        self._fail(f"an unhandled {kind.__name__} was raised: {value}")


class SelfTest(QObject):
    """The steps of the self-test, driven by the window's signals."""

    def __init__(self, window: Any, emulator: Any, deadline_s: float) -> None:
        super().__init__(window)
        self.window = window
        self.emulator = emulator
        self.result = SelfTestResult()
        self.target = ""
        self._started = time.monotonic()
        self._finished = False
        self._step = "waiting for the versions to be listed"
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._on_deadline)
        self._deadline.start(int(deadline_s * 1000))
        self._deadline_s = deadline_s
        window.snapshot_applied.connect(self._on_snapshot)
        window.refresh_failed.connect(self._on_refresh_failed)
        window.actions_.operation_ended.connect(self._on_operation_ended)

    @property
    def finished(self) -> bool:
        return self._finished

    def passed(self, step: str) -> None:
        elapsed = time.monotonic() - self._started
        self.result.steps.append(f"{step} ({elapsed:.1f} s)")
        log.info("Self-test: %s.", step)

    def fail(self, why: str) -> None:
        if self._finished:
            return
        self._finished = True
        steps = self.result.steps
        self.result = SelfTestResult(False, f"self-test failed: {why}", steps)
        log.error("Self-test failed: %s", why)
        application().exit(1)

    def succeed(self) -> None:
        self._finished = True
        took = time.monotonic() - self._started
        self.result.ok = True
        self.result.message = (
            f"self-test passed: versions listed, all traffic of {SERVICE} moved "
            f"to {self.target} and read back, in {took:.1f} s"
        )
        application().exit(0)

    @Slot()
    def _on_snapshot(self) -> None:
        if self._finished:
            return
        if not self.target:
            self._choose_target()
        else:
            self._check_window_split()

    def _choose_target(self) -> None:
        model = self.window.model
        service = model.service(SERVICE)
        versions = model.versions_of(SERVICE)
        if service is None or not versions:
            self.fail(f"the window listed no versions of {SERVICE}")
            return
        idle = [
            v for v in versions if v.serving and service.split.allocation(v.id) == 0
        ]
        if not idle:
            self.fail(f"no version of {SERVICE} was serving without traffic")
            return
        self.passed(f"{model.version_count()} versions listed")
        idle.sort(key=lambda version: version.id != PREFERRED_TARGET)
        self.target = idle[0].id
        self.window.select(SERVICE, self.target)
        self._step = f"planning to send all traffic to {self.target}"
        traffic = self.window.session.traffic
        self.window.tasks.submit(
            lambda: traffic.plan_send_all(SERVICE, self.target),
            self._on_plan,
            lambda error: self.fail(f"planning failed: {error}"),
        )

    def _on_plan(self, plan: TrafficPlan) -> None:
        if plan.refused or plan.unchanged:
            self.fail(f"the plan was not sendable: {'; '.join(plan.problems)}")
            return
        self.passed(f"planned: {plan.after.describe()}")
        self._step = f"moving the traffic of {SERVICE}"
        self.window.session.traffic.apply(plan)

    @Slot(object, object)
    def _on_operation_ended(self, operation: Operation, outcome: Outcome) -> None:
        if self._finished:
            return
        split = outcome.server_split
        if not outcome.succeeded or split is None:
            self.fail(
                f"{operation.description} ended {outcome.status.value}: "
                f"{outcome.message}"
            )
            return
        if split.allocation(self.target) != 1.0:
            self.fail(f"the server read back {split.describe()}")
            return
        self.passed(f"operation read back {split.describe()}")
        self._step = "waiting for the window to read the new split"
        # The actions ask the window to refresh after every operation; its
        # next snapshot is checked in _on_snapshot.

    def _check_window_split(self) -> None:
        service = self.window.model.service(SERVICE)
        if service is None or service.split.allocation(self.target) != 1.0:
            return  # a read that started before the change; the next one counts
        live = self.emulator.state.split_of(SERVICE)
        if live != {self.target: 1.0}:
            self.fail(f"the emulator has {live}")
            return
        self.passed("the window and the emulator show the new split")
        self.succeed()

    @Slot(str)
    def _on_refresh_failed(self, message: str) -> None:
        self.fail(f"reading the versions failed: {message}")

    @Slot()
    def _on_deadline(self) -> None:
        self.fail(f"timed out after {self._deadline_s:.0f} s while {self._step}")


def _static_checks(result: SelfTestResult) -> str:
    """Checks that need no server: the icon and the packages' metadata."""
    if app_icon().isNull():
        return "the application icon was not found"
    # Building the diagnostics also runs the platform and Qt queries that a
    # bundle could lack; it names each library without metadata.
    missing = [
        line.split()[0]
        for line in diagnostics_text({}, None).splitlines()
        if "not installed" in line
    ]
    if missing:
        return "package metadata is missing for " + ", ".join(missing)
    # gRPC reads its TLS roots on the first secure channel, which the demo
    # never opens: a bundle without them would fail only against Google.
    try:
        roots = pkgutil.get_data("grpc._cython", "_credentials/roots.pem")
    except OSError:
        roots = None
    if not roots:
        return "gRPC's TLS root certificates (roots.pem) are missing"
    result.steps.append("icon, package metadata and TLS roots found")
    return ""


def run_self_test(
    *, verbose: bool = False, deadline_s: float = DEADLINE_SECONDS
) -> SelfTestResult:
    """Run the self-test in this process; the caller reports the result.

    The caller must have set QT_QPA_PLATFORM before any QApplication exists.
    """
    logsetup.install(verbose=verbose)
    try:
        return _run(deadline_s)
    except Exception as error:  # a self-test reports; it does not crash
        log.exception("The self-test could not run.")
        return SelfTestResult(
            False, f"self-test failed: {type(error).__name__}: {error}"
        )
    finally:
        logsetup.uninstall()


def _run(deadline_s: float) -> SelfTestResult:
    from deployconsole.emulator.scenario import ScenarioOptions
    from deployconsole.emulator.server import Emulator, EmulatorOptions
    from deployconsole.emulator.state import EmulatorConfig
    from deployconsole.gcp.channel import Endpoint
    from deployconsole.ui.mainwindow import MainWindow
    from deployconsole.ui.session import ConsoleSession

    app = application()
    result = SelfTestResult()
    problem = _static_checks(result)
    if problem:
        return SelfTestResult(False, f"self-test failed: {problem}", result.steps)

    options = EmulatorOptions(
        config=EmulatorConfig(operation_delay=0.05, migration_delay=0.1),
        scenario=ScenarioOptions(name="staged", seed=1, rate=5.0),
    )
    emulator = Emulator(options).start()
    try:
        with tempfile.TemporaryDirectory(prefix="deployconsole-selftest-") as folder:
            endpoint = Endpoint(emulator.state.project_id, emulator.address)
            journal = Path(folder) / "journal.db"
            session = ConsoleSession(endpoint, journal_path=journal)
            window = MainWindow(endpoint, session=session, refresh_interval_ms=60_000)
            test = SelfTest(window, emulator, deadline_s)
            test.result.steps[:0] = result.steps
            recorder = _Recorder(test.fail)
            recorder.install()
            previous_qt_handler = install_qt_message_handler()
            try:
                window.show()
                if not test.finished:
                    app.exec()
            finally:
                recorder.uninstall()
                qInstallMessageHandler(previous_qt_handler)
                window.close()
                window.shutdown()
                # Deleting the window cancels its queued calls (a first
                # refresh, if the deadline came first), which would otherwise
                # run in whatever event loop comes next.
                window.deleteLater()
                app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    finally:
        emulator.stop()
    return test.result
