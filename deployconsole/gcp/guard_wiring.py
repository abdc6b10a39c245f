"""Everything a guarded rollout needs, built from an Endpoint.

The GUI already has an admin client, an operation runner, a traffic
controller and a live log pipeline; it builds a
:class:`~deployconsole.core.rollout.RolloutGuard` from those directly.
A terminal run has none of them, so :func:`open_guard_session` makes them:
the App Engine client, a runner, the journal and the rollout store beside
it, and a :class:`LogFeed`: a TailSession on the service feeding an
IngestPipeline that a small thread drains (nobody else reads it).

Before the tail starts, the service's recent errors are read once with
ListLogEntries, so that an error the baseline has been throwing for a while
is known as the baseline's, not taken for a new error of the candidate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deployconsole.core.alerts import Alert
from deployconsole.core.groups import ErrorGroup
from deployconsole.core.health import HealthSample
from deployconsole.core.ingest import (
    STREAM_CONNECTED,
    STREAM_FAILED,
    STREAM_RECONNECTING,
    STREAM_STOPPED,
    IngestPipeline,
    StreamEvent,
)
from deployconsole.core.journal import Journal, local_identity
from deployconsole.core.logentry import LogRecord
from deployconsole.core.operations import OperationRunner
from deployconsole.core.rollout import RolloutGuard
from deployconsole.core.rollout_model import GuardSettings
from deployconsole.core.rollout_store import RolloutStore
from deployconsole.core.traffic import TrafficController
from deployconsole.gcp.admin import AdminClient, translate
from deployconsole.gcp.channel import Endpoint, logging_client
from deployconsole.gcp.entries import record_from_pb
from deployconsole.gcp.logs import TailSession, TailSettings
from deployconsole.gcp.tail_filter import TailScope, compose_filter, quote, rfc3339

log = logging.getLogger("deployconsole.rollout")

# Seconds of the service's errors read before the tail starts.
DEFAULT_PRIME_SECONDS = 1_800.0
PRIME_PAGE_SIZE = 1_000
# Seconds between drains of the CLI's pipeline.
DRAIN_SECONDS = 0.2


class LogFeed:
    """A live tail of one service into its own pipeline, drained here.

    Implements the guard's signals (``window``, ``groups``, ``records``)
    through the pipeline, and ``problem()`` for the guard's feed check.
    ``alerts`` collects the pipeline's alerts for the incident timeline.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        service: str,
        *,
        tail_settings: TailSettings | None = None,
        pipeline: IngestPipeline | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.service = service
        self.pipeline = pipeline or IngestPipeline()
        self.alerts: list[Alert] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._problem: str | None = "the log feed is still connecting"
        self._connected_at: float | None = None
        self._fatal = False
        self._first_records = False
        self._stop = threading.Event()
        self._drainer = threading.Thread(
            target=self._drain_loop, name=f"guard-drain-{service}", daemon=True
        )
        scope = TailScope(services=(service,), request_logs=True)
        self.session = TailSession(endpoint, scope, self, tail_settings)

    # -- TailSink (the session's threads) -------------------------------------

    def add_records(
        self, records: Sequence[LogRecord], request_sample: float = 1.0
    ) -> None:
        self.pipeline.add_records(records, request_sample)
        if records and not self._first_records:
            with self._changed:
                self._first_records = True
                self._changed.notify_all()

    def add_event(self, event: StreamEvent) -> None:
        self.pipeline.add_event(event)
        with self._changed:
            if event.kind == STREAM_CONNECTED:
                self._problem = None
                self._connected_at = time.monotonic()
            elif event.kind in (STREAM_FAILED, STREAM_RECONNECTING, STREAM_STOPPED):
                self._problem = event.message
                self._fatal = self._fatal or event.fatal
            self._changed.notify_all()

    # -- the guard's signals --------------------------------------------------

    def window(
        self, service: str, version: str, seconds: float, now: float | None = None
    ) -> HealthSample:
        return self.pipeline.window(service, version, seconds, now)

    def groups(self) -> list[ErrorGroup]:
        return self.pipeline.groups()

    def records(self) -> list[LogRecord]:
        return self.pipeline.records()

    def problem(self) -> str | None:
        with self._lock:
            return self._problem

    # -- lifecycle ------------------------------------------------------------

    def start(self, *, prime_seconds: float = DEFAULT_PRIME_SECONDS) -> LogFeed:
        if prime_seconds > 0:
            self._prime(prime_seconds)
        self.session.start()
        self._drainer.start()
        return self

    def wait_ready(self, timeout: float, settle: float = 1.0) -> str | None:
        """Wait until the stream is live; None when it is, else the problem
        (at once when the stream gave up, e.g. for want of permission).

        A stream is live once entries come through it, or ``settle``
        seconds after it connected when the service is quiet (the service
        sends only entries received after the stream began).
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                now = time.monotonic()
                connected = self._connected_at
                if connected is not None and self._problem is None and (
                    self._first_records or now - connected >= settle
                ):
                    return None
                if self._fatal or now >= deadline:
                    return self._problem or "the log stream sent nothing"
                wait = deadline - now
                if connected is not None:
                    wait = min(wait, connected + settle - now)
                self._changed.wait(max(0.01, wait))

    def close(self) -> None:
        self._stop.set()
        self.session.stop()
        if self._drainer.is_alive():
            self._drainer.join(timeout=5.0)

    def _drain_loop(self) -> None:
        while not self._stop.wait(DRAIN_SECONDS):
            batch = self.pipeline.drain()
            if batch.alerts:
                with self._lock:
                    self.alerts.extend(batch.alerts)

    def _prime(self, seconds: float) -> None:
        """Read the service's recent errors once, oldest first."""
        client = logging_client(self.endpoint)
        since = time.time() - seconds
        text = compose_filter(TailScope(services=(self.service,), request_logs=False))
        text += f" AND timestamp>={quote(rfc3339(since))}"
        try:
            pager = client.list_log_entries(
                request={
                    "resource_names": [f"projects/{self.endpoint.project}"],
                    "filter": text,
                    "order_by": "timestamp desc",
                    "page_size": PRIME_PAGE_SIZE,
                },
                timeout=30.0,
            )
            page = next(iter(pager.pages))
            raw = type(page).pb(page)
            records = [record_from_pb(entry) for entry in reversed(raw.entries)]
        except Exception as error:
            # Not fatal: the guard still sees everything from now on.
            what = f"reading the recent errors of {self.service}"
            log.warning("%s", translate(error, what).message)
            return
        finally:
            client.transport.close()
        if records:
            self.pipeline.add_records(records)
        log.info(
            "Read %d recent error entries of %s before the rollout.",
            len(records), self.service,
        )


@dataclass
class GuardSession:
    """The clients, runner, journal, store and log feed of one terminal run."""

    endpoint: Endpoint
    admin: AdminClient
    runner: OperationRunner
    traffic: TrafficController
    journal: Journal
    store: RolloutStore
    feed: LogFeed
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def guard(
        self,
        service: str,
        candidate: str,
        settings: GuardSettings | None = None,
        **options: Any,
    ) -> RolloutGuard:
        """A guard over this session (``options`` as RolloutGuard takes)."""
        return RolloutGuard(
            self.traffic, self.feed, service, candidate, settings,
            store=self.store, feed_problem=self.feed.problem, **options,
        )

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:  # noqa: BLE001 - closing the rest matters more
                log.exception("Closing the guard session failed.")


def open_guard_session(
    endpoint: Endpoint,
    service: str,
    *,
    journal: Journal | None = None,
    identity: str | None = None,
    retry_deadline: float | None = None,
    tail_settings: TailSettings | None = None,
    prime_seconds: float = DEFAULT_PRIME_SECONDS,
) -> GuardSession:
    """Open everything for guarding ``service``; close() it afterwards.

    The log feed is started but may not be live yet: wait with
    ``session.feed.wait_ready()`` before the smoke check.

    Raises:
        AdminError: the clients could not be made (no credentials...).
        TailBusy: this process already tails the project.
    """
    closers: list[Callable[[], None]] = []
    try:
        try:
            admin = AdminClient(endpoint, retry_deadline=retry_deadline)
        except Exception as error:
            what = f"connecting to project {endpoint.project}"
            raise translate(error, what) from error
        closers.append(admin.close)
        runner = OperationRunner()
        closers.append(lambda: runner.shutdown(timeout=5))
        journal = journal or Journal()
        store = RolloutStore(journal.path)
        traffic = TrafficController(
            admin, runner, journal=journal, identity=identity or local_identity()
        )
        feed = LogFeed(endpoint, service, tail_settings=tail_settings)
        feed.start(prime_seconds=prime_seconds)
        closers.append(feed.close)
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    return GuardSession(
        endpoint, admin, runner, traffic, journal, store, feed, closers
    )
