"""Gathering an incident from an Endpoint, for ``deployconsole report``.

Reads, for one service and a window of time: its versions (deploys) and
live split from the Admin API, its traffic history from the journal and
the audit log, its error entries from Cloud Logging (ListLogEntries, which
the read quota allows a few pages of), and its guarded rollouts from the
store. The error entries go through the same reassembly and error groups
as the live tail, so the report's tracebacks are the ones the console
shows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from deployconsole.core.groups import ErrorGroups
from deployconsole.core.history import merge
from deployconsole.core.journal import Journal
from deployconsole.core.logentry import LogRecord
from deployconsole.core.reassembly import Reassembler
from deployconsole.core.report import Incident, measure_impact
from deployconsole.core.rollout_store import RolloutStore
from deployconsole.core.timeline import Timeline
from deployconsole.gcp.admin import AdminClient, call_retry, translate
from deployconsole.gcp.audit import AuditReader
from deployconsole.gcp.channel import Endpoint, logging_client
from deployconsole.gcp.entries import record_from_pb
from deployconsole.gcp.tail_filter import TailScope, compose_filter, quote, rfc3339

log = logging.getLogger("deployconsole.report")

# Error entries read at most (ten reads of the project's 60 a minute).
MAX_ENTRIES = 10_000
PAGE_SIZE = 1_000


def error_filter(service: str, since: float, until: float) -> str:
    """The service's error entries stamped in ``[since, until]``."""
    text = compose_filter(TailScope(services=(service,), request_logs=False))
    return (
        f"{text} AND timestamp>={quote(rfc3339(since))} "
        f"AND timestamp<={quote(rfc3339(until))}"
    )


def read_errors(
    endpoint: Endpoint, service: str, since: float, until: float,
    max_entries: int = MAX_ENTRIES,
) -> tuple[list[LogRecord], bool]:
    """The error records, oldest first, and whether more were left unread."""
    client = logging_client(endpoint)
    records: list[LogRecord] = []
    try:
        pager = client.list_log_entries(
            request={
                "resource_names": [f"projects/{endpoint.project}"],
                "filter": error_filter(service, since, until),
                "order_by": "timestamp asc",
                "page_size": min(PAGE_SIZE, max_entries),
            },
            retry=call_retry(8.0),
            timeout=30.0,
        )
        for entry in _entries(pager):
            if len(records) >= max_entries:
                return records, True
            records.append(record_from_pb(entry))
    except Exception as error:
        raise translate(error, f"reading the logs of {service}") from error
    finally:
        client.transport.close()
    return records, False


def _entries(pager: Any) -> Iterator[Any]:
    for page in pager.pages:
        raw = type(page).pb(page)
        yield from raw.entries


def gather_incident(
    endpoint: Endpoint,
    service: str,
    since: float,
    until: float,
    *,
    journal: Journal,
    store: RolloutStore,
    max_entries: int = MAX_ENTRIES,
) -> Incident:
    """Everything the draft report of ``service`` in the window needs.

    Raises:
        AdminError: App Engine or Cloud Logging could not be read.
    """
    project = endpoint.project
    with AdminClient(endpoint) as admin:
        versions = admin.list_versions(service, with_instances=False)
        live = admin.get_service(service).split
    audit = AuditReader(endpoint, lookback=timedelta(days=31))
    try:
        changes = merge(
            journal.rows(project=project, service=service),
            audit.traffic_changes(service),
        )
    finally:
        audit.close()
    records, truncated = read_errors(endpoint, service, since, until, max_entries)

    reassembler = Reassembler()
    complete: list[LogRecord] = []
    for record in records:
        complete.extend(reassembler.feed(record))
    complete.extend(reassembler.finish())
    groups = ErrorGroups()
    for record in complete:
        for traceback in record.tracebacks:
            groups.add(record, traceback)

    timeline = Timeline()
    timeline.add_deploys(
        v for v in versions
        if v.create_time is not None and since <= v.create_time.timestamp() <= until
    )
    rollouts = store.rollouts(project, service, since)
    for rollout in rollouts:
        timeline.add_guard_events(store.events(rollout.id), service, rollout.candidate)
    in_window = [c for c in changes if since <= c.time.timestamp() <= until]
    timeline.add_traffic_changes(in_window, skip_guard=bool(rollouts))
    timeline.add_error_groups(groups.ranked())
    # FIXME(report-alerts): the alerts a console fired are not stored, and
    # the ratio rule needs every request log (too many reads), so a report
    # from the terminal has no alerts; the GUI adds its live ones with
    # Timeline.add_alerts.

    notes = []
    if truncated:
        notes.append(
            f"Only the first {max_entries} error entries of the window were read; "
            "the impact and the error groups count those."
        )
    log.info(
        "Incident of %s/%s: %d error entries, %d groups, %d traffic changes.",
        project, service, len(records), len(groups), len(in_window),
    )
    return Incident(
        project, service, since, until, timeline,
        measure_impact(complete, changes, live), tuple(groups.ranked()),
        tuple(changes), tuple(notes),
    )
