"""The Cloud Logging filters the live tail and its backfill ask for.

The console watches the errors of chosen services and versions: entries of
severity ERROR and above, request logs that answered 5xx, and stderr
entries that hold a traceback even without a severity (python3 runtimes
write tracebacks to stderr unlabelled, a log agent may cut them into
several entries, and the first piece is often the logger's message line).
For rates it also needs the request logs; when the tail is rate-limited,
those are sampled with ``sample(insertId, p)`` while every error entry is
kept, since the error clauses are OR-ed beside the sampled one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

REQUEST_LOG_ID = "appengine.googleapis.com/request_log"

# Service and version ids as App Engine allows them (lower-case letters,
# digits and hyphens); checked so that a typo is an error, not a filter
# that matches nothing.
_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

ERROR_CLAUSES = (
    "severity>=ERROR",
    "httpRequest.status>=500",
    "protoPayload.status>=500",
    # Tracebacks without severity, and the logger line a log agent may cut
    # off in front of them ("ERROR in app: Exception on /cart [GET]").
    'textPayload:("Traceback" OR "Exception")',
    'jsonPayload.message:"Traceback"',
    "jsonPayload.stack_trace:*",
    "jsonPayload.exception:*",
)


class ScopeError(ValueError):
    """A service or version id that App Engine would not accept."""


@dataclass(frozen=True)
class TailScope:
    """What one tail session watches.

    Empty ``services``/``versions`` mean all of them. ``everything`` takes
    every entry instead of only errors; ``request_logs`` adds the request
    logs the health windows need (sampled when rate-limited).
    """

    services: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    everything: bool = False
    request_logs: bool = True

    def __post_init__(self) -> None:
        for kind, ids in (("service", self.services), ("version", self.versions)):
            for value in ids:
                if not _ID.match(value):
                    raise ScopeError(
                        f"{value!r} is not a valid {kind} id: App Engine ids are "
                        "1 to 63 lower-case letters, digits and hyphens"
                    )


def quote(value: str) -> str:
    """A filter string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _any_of(field: str, values: tuple[str, ...]) -> str:
    if len(values) == 1:
        return f"{field}={quote(values[0])}"
    return f"{field}=(" + " OR ".join(quote(v) for v in values) + ")"


def sample_fraction_text(fraction: float) -> str:
    """``fraction`` as a short decimal the filter language takes."""
    return f"{fraction:.6f}".rstrip("0").rstrip(".") or "0"


def compose_filter(scope: TailScope, request_sample: float = 1.0) -> str:
    """The tail filter for ``scope`` with request logs sampled at
    ``request_sample`` (1.0: all of them)."""
    if not 0.0 < request_sample <= 1.0 or math.isnan(request_sample):
        raise ValueError(f"request_sample must be in (0, 1], not {request_sample}")
    parts = ['resource.type="gae_app"']
    if scope.services:
        parts.append(_any_of("resource.labels.module_id", scope.services))
    if scope.versions:
        parts.append(_any_of("resource.labels.version_id", scope.versions))

    requests = f'log_id("{REQUEST_LOG_ID}")'
    sampled = request_sample < 1.0
    if sampled:
        requests += f" AND sample(insertId, {sample_fraction_text(request_sample)})"
    if scope.everything:
        if not sampled:
            return " AND ".join(parts)
        # Errors are OR-ed in again so that no 5xx request log is sampled.
        wanted = [
            f'NOT log_id("{REQUEST_LOG_ID}")', *ERROR_CLAUSES, f"({requests})"
        ]
    else:
        wanted = list(ERROR_CLAUSES)
        if scope.request_logs:
            wanted.append(f"({requests})" if sampled else requests)
    parts.append("(" + " OR ".join(wanted) + ")")
    return " AND ".join(parts)


def rfc3339(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def backfill_filter(base: str, received_since: float, late_allowance: float) -> str:
    """``base`` limited to entries the service received at or after
    ``received_since`` (epoch seconds).

    The timestamp bound lets the service use its time index; an entry
    stamped more than ``late_allowance`` seconds before it arrived is not
    backfilled.
    """
    return (
        f"({base}) AND receiveTimestamp>={quote(rfc3339(received_since))} "
        f"AND timestamp>={quote(rfc3339(received_since - late_allowance))}"
    )
