"""Deciding read-only mode for the open project, and keeping it decided.

A project is read-only when the user chose so for it, or when the signed-in
identity may not change traffic. The second is found out by asking the
project which of the console's mutation permissions the identity holds
(Resource Manager's testIamPermissions, which the emulator answers from the
token's role): asking is free, changes nothing, and needs no permission.
The question is asked when the window opens and again whenever a change is
refused for lack of permission, since roles change while a window is open.
A probe that cannot be answered leaves the console writable; refused
changes still say what is missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from deployconsole.core.operations import AdminError, Operation, Outcome, OutcomeStatus
from deployconsole.core.permissions import (
    MUTATION_PERMISSIONS,
    SignInRequired,
    read_only_reason,
)
from deployconsole.gcp.channel import Endpoint
from deployconsole.ui.actions import ConsoleActions
from deployconsole.ui.session import ConsoleSession
from deployconsole.ui.tasks import TaskRunner

log = logging.getLogger("deployconsole.ui")

Probe = Callable[[], frozenset[str]]


def probe_for(endpoint: Endpoint) -> Probe:
    """The permission probe of ``endpoint`` (runs off the GUI thread)."""

    def probe() -> frozenset[str]:
        from deployconsole.gcp.auth_grpc import granted_permissions

        return granted_permissions(endpoint, MUTATION_PERMISSIONS)

    return probe


def account_of(endpoint: Endpoint) -> str:
    identity = endpoint.credentials
    account = getattr(identity, "account", "")
    if account:
        return str(account)
    return "The emulator's anonymous caller" if endpoint.is_emulator else ""


class ReadOnlyGuard(QObject):
    """Puts a window's actions in read-only mode, with the reason as tooltip.

    Signals:
        read_only_changed(str): the reason read-only now holds; "" when the
            console may make changes.
        checked(str): a probe was answered; the reason read-only holds after
            it ("" when changes are allowed).
        sign_in_required(str): the probe found the sign-in expired or
            revoked; the message says how to sign in again.
        probe_failed(str): the permissions could not be checked (the console
            stays as it was); the message says why.
    """

    read_only_changed = Signal(str)
    checked = Signal(str)
    sign_in_required = Signal(str)
    probe_failed = Signal(str)

    def __init__(
        self,
        actions: ConsoleActions,
        session: ConsoleSession,
        tasks: TaskRunner,
        *,
        chosen: bool = False,
        probe: Probe | None = None,
    ) -> None:
        super().__init__(actions)
        self.actions = actions
        self.session = session
        self.tasks = tasks
        self.chosen = chosen
        self.probe = probe or probe_for(session.endpoint)
        self.account = account_of(session.endpoint)
        self.granted: frozenset[str] | None = None
        self.reason = ""
        self._probing = False
        self._asked_at: float | None = None
        self._tooltips = {act: act.toolTip() for act in actions.mutations}
        session.operation_finished.connect(self._on_operation_finished)

    def start(self) -> None:
        """Apply the user's choice now, then ask what the identity may do."""
        self._apply()
        self.check()

    def set_chosen(self, chosen: bool) -> None:
        """The user chose (or stopped choosing) read-only for this project."""
        self.chosen = chosen
        self._apply()

    def check(self, *, at_most_every: float = 0.0) -> None:
        """Ask the project again (in the background) what may be changed.

        ``at_most_every`` skips the question when one was asked that many
        seconds ago or less (for triggers that repeat, like failed reads).
        """
        now = time.monotonic()
        if self._probing or (
            self._asked_at is not None and now - self._asked_at < at_most_every
        ):
            return
        self._probing = True
        self._asked_at = now
        self.tasks.submit(self.probe, self._on_probed, self._on_probe_error)

    def _apply(self) -> None:
        reason = read_only_reason(
            self.session.project, self.account, chosen=self.chosen, granted=self.granted
        )
        if reason == self.reason:
            return
        self.reason = reason
        self.actions.set_read_only(reason)
        if reason:
            log.info("Project %s is read-only: %s", self.session.project, reason)
        else:
            log.info("Project %s may be changed.", self.session.project)
        self.read_only_changed.emit(reason)

    def _on_probed(self, granted: frozenset[str]) -> None:
        self._probing = False
        self.granted = granted
        self._apply()
        self.checked.emit(self.reason)

    def _on_probe_error(self, error: Exception) -> None:
        self._probing = False
        if isinstance(error, SignInRequired):
            log.warning("Sign-in needed for %s: %s", self.session.project, error)
            self.sign_in_required.emit(error.message)
            return
        message = error.message if isinstance(error, AdminError) else str(error)
        log.warning(
            "Could not check the permissions in %s: %s", self.session.project, message
        )
        self.probe_failed.emit(message)

    def _on_operation_finished(self, operation: Operation, outcome: Outcome) -> None:
        if outcome.status is OutcomeStatus.PERMISSION:
            log.info(
                "Operation %d was refused for lack of permission; checking again.",
                operation.id,
            )
            self.check()
