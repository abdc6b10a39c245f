"""Traffic changes from the Cloud Audit Logs (Admin Activity).

App Engine writes one activity entry for every UpdateService call, whoever
made it: ``gcloud app deploy`` promoting a version, the web console, a
colleague's deployconsole. Reading them puts changes made elsewhere into the
same history as the console's own journal.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from google.cloud.audit import audit_log_pb2
from google.cloud.logging_v2.types import ListLogEntriesRequest, LogEntry
from google.protobuf import json_format

from deployconsole.core.history import AuditChange
from deployconsole.core.split import ShardBy, Split
from deployconsole.gcp import channel
from deployconsole.gcp.admin import DEFAULT_TIMEOUT, call_retry, translate
from deployconsole.gcp.channel import Endpoint

log = logging.getLogger("deployconsole.audit")

ACTIVITY_LOG = "cloudaudit.googleapis.com%2Factivity"
UPDATE_SERVICE = "google.appengine.v1.Services.UpdateService"
_AUDIT_TYPE = "type.googleapis.com/google.cloud.audit.AuditLog"


def traffic_filter(
    project: str, service_id: str | None = None, since: datetime | None = None
) -> str:
    """The Logging filter for UpdateService activity entries."""
    terms = [
        f'logName="projects/{project}/logs/{ACTIVITY_LOG}"',
        'resource.type="gae_app"',
        f'protoPayload.methodName="{UPDATE_SERVICE}"',
    ]
    if service_id is not None:
        terms.append(f'resource.labels.module_id="{service_id}"')
    if since is not None:
        stamp = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        terms.append(f'timestamp>="{stamp}"')
    return " AND ".join(terms)


def _split(data: Any) -> Split | None:
    if not isinstance(data, dict):
        return None
    allocations = data.get("allocations")
    if not isinstance(allocations, dict) or not allocations:
        return None
    shard_by = ShardBy.parse(str(data.get("shardBy") or "UNSPECIFIED"))
    return Split.of({str(k): float(v) for k, v in allocations.items()}, shard_by)


def _mask_paths(mask: Any) -> list[str]:
    # A FieldMask's JSON form is "a,b"; some writers keep {"paths": [...]}.
    if isinstance(mask, str):
        return [path.strip() for path in mask.split(",") if path.strip()]
    if isinstance(mask, dict):
        return [str(path) for path in mask.get("paths", [])]
    return []


def change_from_entry(entry: Any) -> AuditChange | None:
    """An UpdateService activity entry as an AuditChange.

    None when the call did not touch the split (e.g. only network settings).

    Raises:
        ValueError: the entry is not a readable UpdateService audit entry.
    """
    raw = LogEntry.pb(entry) if hasattr(type(entry), "pb") else entry
    if raw.proto_payload.type_url != _AUDIT_TYPE:
        raise ValueError(f"payload is {raw.proto_payload.type_url or 'missing'}")
    payload = audit_log_pb2.AuditLog()
    raw.proto_payload.Unpack(payload)
    request = json_format.MessageToDict(payload.request)

    paths = _mask_paths(request.get("updateMask"))
    requested = _split((request.get("service") or {}).get("split"))
    if requested is None or (paths and "split" not in paths):
        return None
    original = json_format.MessageToDict(payload.resource_original_state)

    service_id = raw.resource.labels.get("module_id", "")
    if not service_id:
        service_id = payload.resource_name.rsplit("/", 1)[-1]
    project = raw.resource.labels.get("project_id", "")
    return AuditChange(
        time=raw.timestamp.ToDatetime(tzinfo=timezone.utc),
        who=payload.authentication_info.principal_email or "unknown caller",
        project=project,
        service_id=service_id,
        requested=requested,
        migrate=bool(request.get("migrateTraffic", False)),
        before=_split(original.get("split")),
        operation_name=raw.operation.id,
        # This entry is written when the call is accepted; an operation that
        # fails later says so in its last entry (see failed_operation).
        failed=payload.status.code != 0,
        insert_id=raw.insert_id,
    )


def failed_operation(entry: Any) -> str | None:
    """The operation whose failure this entry reports, if it does.

    App Engine writes a long-running operation's last audit entry
    (``operation.last``) when it ends, with the operation's error status.
    """
    raw = LogEntry.pb(entry) if hasattr(type(entry), "pb") else entry
    operation = raw.operation
    if not operation.last or not operation.id:
        return None
    if raw.proto_payload.type_url != _AUDIT_TYPE:
        return None
    payload = audit_log_pb2.AuditLog()
    raw.proto_payload.Unpack(payload)
    return operation.id if payload.status.code != 0 else None


class AuditReader:
    """Reads a project's traffic changes from its Admin Activity audit log.

    Args:
        endpoint: Google or an emulator, and the project.
        lookback: how far back to read.
        max_entries: the newest this many entries at most.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        lookback: timedelta = timedelta(days=30),
        max_entries: int = 1000,
        timeout: float = DEFAULT_TIMEOUT,
        retry_deadline: float | None = None,
    ) -> None:
        from deployconsole.gcp.admin import DEFAULT_RETRY_DEADLINE

        self.endpoint = endpoint
        self.lookback = lookback
        self.max_entries = max_entries
        self.timeout = timeout
        deadline = DEFAULT_RETRY_DEADLINE if retry_deadline is None else retry_deadline
        self._retry = call_retry(deadline)
        self._client = channel.logging_client(endpoint)

    def close(self) -> None:
        self._client.transport.close()

    def traffic_changes(self, service_id: str | None = None) -> list[AuditChange]:
        """The split changes of one service (or all), oldest first."""
        project = self.endpoint.project
        since = datetime.now(timezone.utc) - self.lookback
        request = ListLogEntriesRequest(
            resource_names=[f"projects/{project}"],
            filter=traffic_filter(project, service_id, since),
            order_by="timestamp desc",
            page_size=min(self.max_entries, 1000),
        )
        what = f"reading the audit log of {project}"
        changes: list[AuditChange] = []
        failed: set[str] = set()
        try:
            pager = self._client.list_log_entries(
                request=request, retry=self._retry, timeout=self.timeout
            )
            for count, entry in enumerate(pager):
                if count >= self.max_entries:
                    log.warning(
                        "Audit log of %s: only the newest %d entries were read.",
                        project, self.max_entries,
                    )
                    break
                ended_in_error = failed_operation(entry)
                if ended_in_error is not None:
                    failed.add(ended_in_error)
                    continue
                change = self._change(entry)
                if change is not None:
                    changes.append(change)
        except Exception as error:
            raise translate(error, what) from error
        changes.reverse()
        # Newest first, an operation's end is read before its start.
        return [
            replace(change, failed=True)
            if change.operation_name in failed and not change.failed
            else change
            for change in changes
        ]

    def _change(self, entry: Any) -> AuditChange | None:
        try:
            return change_from_entry(entry)
        except (ValueError, KeyError, TypeError) as error:
            # Not a change the console can read; say so rather than hide it.
            log.warning(
                "Skipped an unreadable UpdateService audit entry %s: %s",
                getattr(entry, "insert_id", "?"), error,
            )
            return None
