"""LiveErrors: the tail session, the ingest pipeline and the GUI's models.

The tail's worker threads feed an :class:`IngestPipeline`; a timer on the
GUI thread drains it every 100 ms and hands each batch to the models in one
go. Nothing from the worker threads touches a widget or a model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, Signal

from deployconsole.core import settings as declared
from deployconsole.core.alerts import AlertSettings
from deployconsole.core.health import MINUTE, HealthSample
from deployconsole.core.ingest import (
    STREAM_FAILED,
    STREAM_SAMPLING,
    STREAM_STOPPED,
    STREAM_SUPPRESSED,
    STREAM_UNREADABLE,
    IngestBatch,
    IngestPipeline,
    IngestSettings,
    StreamEvent,
)
from deployconsole.core.logentry import KIND_REQUEST, LogRecord
from deployconsole.core.settings import Settings
from deployconsole.core.turns import ForegroundTurns
from deployconsole.gcp.channel import Endpoint, logging_client
from deployconsole.gcp.logs import TailBusy, TailSession, TailSettings
from deployconsole.gcp.tail_filter import TailScope
from deployconsole.ui.live.gc_pacer import GcPacer
from deployconsole.ui.live.groups_model import GroupsModel
from deployconsole.ui.live.health_chart import HealthHistory
from deployconsole.ui.live.records_model import RecordsModel

if TYPE_CHECKING:
    from deployconsole.ui.live.view import LiveErrorsView

log = logging.getLogger("deployconsole.ui.live")

DRAIN_INTERVAL_MS = 100
# How often a window waits for another window's tail of its project to end.
RETRY_MS = 1_000
# Posted after a batch is applied, below the priority of the repaint it
# causes (Qt posts UpdateRequest at LowEventPriority): it arrives once the
# repaint is done, and gives the tail threads their turn back.
_TURN_DONE = QEvent.Type(QEvent.registerEventType())
_AFTER_REPAINT = int(Qt.EventPriority.LowEventPriority.value) - 1
Splits = Mapping[str, Mapping[str, float]]
VersionKey = tuple[str, str]


def ingest_settings_from(settings: Settings) -> tuple[IngestSettings, list[str]]:
    """The ingest settings the user chose, and what was wrong with them
    (a wrong value falls back to its default, with a sentence saying so)."""
    problems: list[str] = []
    retained = settings.get(declared.LOG_BUFFER_ENTRIES)
    if retained < 1:
        problems.append(
            f"logs.max_entries is {retained}; the live log keeps at least 1 entry, "
            f"so {declared.LOG_BUFFER_ENTRIES.default:,} is used"
        )
        retained = declared.LOG_BUFFER_ENTRIES.default
    try:
        alerts = AlertSettings.from_thresholds(
            error_ratio=float(settings.get(declared.ALERT_MAX_ERROR_RATIO)),
            window_seconds=float(settings.get(declared.ALERT_WINDOW_SECONDS)),
            min_requests=float(settings.get(declared.ALERT_MIN_REQUESTS)),
            new_group_alerts=bool(settings.get(declared.ALERT_NEW_GROUP)),
        )
    except ValueError as error:
        problems.append(f"the alert settings are not usable ({error}); defaults apply")
        alerts = AlertSettings()
    return IngestSettings(retained=retained, alerts=alerts), problems


def save_alert_settings(settings: Settings, alerts: AlertSettings) -> None:
    """Keep ``alerts`` as the user's settings; OSError if the file cannot
    be written."""
    settings.set_many(
        [
            (declared.ALERT_MAX_ERROR_RATIO, alerts.error_ratio),
            (declared.ALERT_WINDOW_SECONDS, alerts.window_seconds),
            (declared.ALERT_MIN_REQUESTS, round(alerts.min_requests)),
            (declared.ALERT_NEW_GROUP, alerts.new_group_alerts),
        ]
    )


class LiveErrors(QObject):
    """Runs the live stream of one project into the GUI's models.

    Attributes:
        records: the live log table's model.
        groups: the error groups' model.
        health: per-version minutes and traffic shares for the chart.
        pipeline: the ingest pipeline the tail feeds.
        status: the stream's state as a sentence (the status bar shows it).
        view: the panels, once ``install_live_errors`` made them.

    Signals:
        batch_applied(object): an IngestBatch reached the models.
        alert_raised(object): an Alert fired (once per episode).
        status_changed(str): ``status`` changed.
        alert_settings_changed(object): the alert rules now use these
            AlertSettings.
        ticked(): the drain timer fired (the event loop is measured by it).
        unknown_version_seen(str, str): the stream saw requests of a service
            and version the last snapshot did not list (a new deploy).
    """

    batch_applied = Signal(object)
    alert_raised = Signal(object)
    alert_settings_changed = Signal(object)
    status_changed = Signal(str)
    ticked = Signal()
    unknown_version_seen = Signal(str, str)

    def __init__(
        self,
        endpoint: Endpoint,
        settings: Settings | None = None,
        *,
        ingest_settings: IngestSettings | None = None,
        scope: TailScope | None = None,
        tail_settings: TailSettings | None = None,
        interval_ms: int = DRAIN_INTERVAL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.endpoint = endpoint
        self.scope = scope or TailScope()
        self.tail_settings = tail_settings
        problems: list[str] = []
        if ingest_settings is None:
            ingest_settings, problems = ingest_settings_from(settings or Settings())
        for problem in problems:
            log.warning("Live errors of project %s: %s.", endpoint.project, problem)
        self.settings_problems = problems
        self.pipeline = IngestPipeline(ingest_settings)
        self.records = RecordsModel(ingest_settings.retained, self)
        self.groups = GroupsModel(ingest_settings.alerts.new_group_grace_seconds, self)
        self.health = HealthHistory(self)
        self.session: TailSession | None = None
        self.view: LiveErrorsView | None = None
        self.status = "Live errors are off."
        self._connection = self.status
        self._suppressed: dict[str, int] = {}
        self._unreadable = 0
        self._skipped = 0
        self._sample = 1.0
        self._known: set[VersionKey] | None = None
        self._reported: set[VersionKey] = set()
        self._gc = GcPacer()
        # The GUI thread's turns at the interpreter: see core/turns.py.
        self.turns = ForegroundTurns()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_tick)
        self._waiting: TailSession | None = None
        self._client: Any = None
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.setInterval(RETRY_MS)
        self._retry.timeout.connect(self.start)

    # -- alert rules -------------------------------------------------------

    @property
    def alert_settings(self) -> AlertSettings:
        return self.pipeline.alert_settings

    def set_alert_settings(self, alerts: AlertSettings) -> None:
        """Apply new thresholds at once, to the entries that come next."""
        self.pipeline.set_alert_settings(alerts)
        log.info(
            "Live errors of project %s: %s", self.endpoint.project, alerts.describe()
        )
        self.alert_settings_changed.emit(alerts)

    # -- lifetime ----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.session is not None

    def start(self) -> bool:
        """Open the tail; False (and a status saying why) if it cannot yet.

        Another window of the same project may still hold the project's
        tail (a window being replaced shuts down after the new one shows):
        then this one tries again every second until it can.
        """
        if self.session is not None:
            return True
        if self._waiting is None:
            try:
                self._client = logging_client(self.endpoint)
            except Exception as error:  # google.auth and grpc have their own
                log.error(
                    "Live errors of project %s cannot start: %s",
                    self.endpoint.project,
                    error,
                )
                self._set_connection(f"Live errors are off: {error}")
                return False
            self._waiting = TailSession(
                self.endpoint,
                self.scope,
                self.pipeline,
                settings=self.tail_settings,
                client=self._client,
                turns=self.turns,
            )
        session = self._waiting
        try:
            session.start()
        except TailBusy as error:
            log.info("Live errors wait for another tail to stop: %s.", error)
            self._set_connection(f"Waiting to tail: {error}.")
            self._retry.start()
            return False
        self._waiting = None
        self.session = session
        # If the window goes without stop(), the stream must not outlive it.
        self.destroyed.connect(lambda *_: session.stop())
        self._timer.start()
        log.info("Live errors of project %s started.", self.endpoint.project)
        return True

    def stop(self) -> None:
        """Close the stream and stop draining; the models keep what they have."""
        self._timer.stop()
        self._retry.stop()
        # No repaint will give it back now, and the threads must not wait on
        # it while they wind down.
        self.turns.give_back()
        self._waiting = None
        session, self.session = self.session, None
        if session is not None:
            session.stop()
        if self._client is not None:
            self._client.transport.close()
            self._client = None
        if self.view is not None:
            self.view.close()
        if session is not None:
            self._apply(self.pipeline.drain())
            log.info("Live errors of project %s stopped.", self.endpoint.project)

    # -- inputs from the window --------------------------------------------

    def set_traffic(
        self, splits: Splits | None, known_versions: Iterable[VersionKey] | None = None
    ) -> None:
        """The live splits from the window's latest snapshot, and every
        version it listed (to notice versions deployed since)."""
        self.pipeline.set_traffic(splits)
        self.health.set_traffic(splits)
        if known_versions is not None:
            self._known = set(known_versions)
            self._reported &= self._known

    # -- the drain ---------------------------------------------------------

    def _on_tick(self) -> None:
        self.ticked.emit()
        # The tail threads pause (between chunks) until the batch is applied
        # and the window repainted.
        self.turns.take()
        applied = False
        try:
            batch = self.pipeline.drain()
            if batch:
                applied = True
                self._apply(batch)
            self._gc.tick(bool(batch.records))
        finally:
            if applied:
                QCoreApplication.postEvent(self, QEvent(_TURN_DONE), _AFTER_REPAINT)
            else:
                self.turns.give_back()

    def customEvent(self, event: QEvent) -> None:
        if event.type() == _TURN_DONE:
            self.turns.give_back()
        else:
            super().customEvent(event)

    def _apply(self, batch: IngestBatch) -> None:
        records = batch.records
        if records:
            self.records.append(records)
            times = [r.timestamp for r in records if r.timestamp is not None]
            self.groups.note_times(times)
            if times:
                self.health.note_time(max(times))
            self._look_for_new_versions(records)
        if batch.let_go_groups:
            self.groups.remove_groups(batch.let_go_groups)
            log.info(
                "%d error groups not seen for the longest were let go, to keep "
                "the last %d.",
                len(batch.let_go_groups),
                self.pipeline.settings.groups,
            )
        if batch.groups or records:
            self.groups.update_groups(batch.groups)
        if batch.health:
            self.health.add_minutes(batch.health)
            self.health.set_current(self._last_minute())
        if batch.alerts:
            self.groups.note_alerts(batch.alerts)
        if batch.dropped:
            self._skipped += batch.dropped
            log.warning(
                "The window fell behind the stream of project %s; %d entries were "
                "left out of the live log.",
                self.endpoint.project,
                batch.dropped,
            )
        for event in batch.events:
            self._on_event(event)
        self._update_status()
        for alert in batch.alerts:
            self.alert_raised.emit(alert)
        self.batch_applied.emit(batch)

    def _last_minute(self) -> dict[VersionKey, HealthSample]:
        return {
            key: self.pipeline.window(key[0], key[1], MINUTE, latency=False)
            for key in self.health.versions()
        }

    def _look_for_new_versions(self, records: Iterable[LogRecord]) -> None:
        known = self._known
        if known is None:
            return
        for record in records:
            if record.kind != KIND_REQUEST:
                continue
            key = (record.service, record.version)
            if key[1] and key not in known and key not in self._reported:
                self._reported.add(key)
                log.info(
                    "Version %s of service %s serves requests but was not listed; "
                    "reading the project again.",
                    key[1],
                    key[0],
                )
                self.unknown_version_seen.emit(*key)

    # -- status ------------------------------------------------------------

    def _on_event(self, event: StreamEvent) -> None:
        if event.kind == STREAM_SUPPRESSED:
            reason = event.reason or "reason unknown"
            self._suppressed[reason] = self._suppressed.get(reason, 0) + event.count
        elif event.kind == STREAM_UNREADABLE:
            self._unreadable += event.count
        elif event.kind == STREAM_SAMPLING:
            self._sample = event.sample
        elif event.kind == STREAM_STOPPED and self._connection.startswith("Cannot"):
            return  # keep the reason it failed
        else:
            self._set_connection(event.message, update=False)
            if event.kind == STREAM_FAILED:
                log.error("Live errors: %s", event.message)

    def _set_connection(self, message: str, *, update: bool = True) -> None:
        self._connection = message
        if update:
            self._update_status()

    def _update_status(self) -> None:
        parts = [self._connection.rstrip(".")]
        for reason, count in self._suppressed.items():
            parts.append(f"{count:,} entries dropped by Cloud Logging: {reason}")
        if self._sample < 1.0:
            parts.append(f"request logs sampled at {self._sample:.1%}")
        if self._unreadable:
            parts.append(f"{self._unreadable:,} entries unreadable")
        if self._skipped:
            parts.append(
                f"{self._skipped:,} entries left out while the window was busy"
            )
        status = " · ".join(parts)
        if status != self.status:
            self.status = status
            self.status_changed.emit(status)
