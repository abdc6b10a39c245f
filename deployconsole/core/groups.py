"""Error groups: tracebacks with the same fingerprint, counted as they come.

:class:`ErrorGroups` is fed one traceback at a time (from the live tail or
an export) and keeps, per fingerprint, the count, when the error was first
and last seen, the services and versions it was seen in and the version it
was first seen in ("new in v2"). It hands out :class:`ErrorGroup` values:
snapshots that do not change under the caller.

A live console sets a limit: an app whose every error differs (a message
with an id in an exception type's name, say) would otherwise grow it for
as long as the window stays open. Past the limit, the group seen least
recently is let go; seen again, it starts over as a new group.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from deployconsole.core.fingerprint import fingerprint
from deployconsole.core.logentry import LogRecord
from deployconsole.core.traceback_model import Traceback, frozen_maker


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """One error group as it stood after its latest traceback.

    ``type`` and ``message`` are those of the exception finally raised in
    the latest traceback; times are epoch seconds (None when no traceback
    of the group had a time); ``first_version`` is the version of the
    earliest traceback (by time, else by arrival).
    """

    fingerprint: str
    type: str
    message: str
    count: int
    first_seen: float | None
    last_seen: float | None
    services: tuple[str, ...]
    versions: tuple[str, ...]
    first_version: str
    latest: Traceback

    def to_json(self) -> dict[str, Any]:
        """The ``errors --json`` group object."""
        return {
            "fingerprint": self.fingerprint,
            "type": self.type,
            "message": self.message,
            "count": self.count,
            "first_seen": iso_time(self.first_seen),
            "last_seen": iso_time(self.last_seen),
            "services": list(self.services),
            "versions": list(self.versions),
            "first_version": self.first_version,
        }


def iso_time(seconds: float | None) -> str | None:
    """RFC 3339 UTC with microseconds, as Cloud Logging prints times."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_make_group = frozen_maker(ErrorGroup)


class _Tally:
    __slots__ = (
        "fingerprint",
        "count",
        "first_seen",
        "last_seen",
        "services",
        "versions",
        "first_version",
        "latest",
    )

    def __init__(self, key: str, traceback: Traceback, version: str) -> None:
        self.fingerprint = key
        self.count = 0
        self.first_seen: float | None = None
        self.last_seen: float | None = None
        # Sorted, as snapshots show them; they rarely grow, so sorting on
        # growth is cheaper than on every snapshot.
        self.services: tuple[str, ...] = ()
        self.versions: tuple[str, ...] = ()
        self.first_version = version
        self.latest = traceback

    def add(
        self, traceback: Traceback, timestamp: float | None, service: str, version: str
    ) -> None:
        self.count += 1
        if service and service not in self.services:
            self.services = tuple(sorted((*self.services, service)))
        if version and version not in self.versions:
            self.versions = tuple(sorted((*self.versions, version)))
        if timestamp is None:
            if self.last_seen is None:
                self.latest = traceback
            return
        if self.first_seen is None or timestamp < self.first_seen:
            self.first_seen = timestamp
            self.first_version = version
        if self.last_seen is None or timestamp >= self.last_seen:
            self.last_seen = timestamp
            self.latest = traceback

    def snapshot(self) -> ErrorGroup:
        latest = self.latest
        return _make_group(
            self.fingerprint,
            latest.type,
            latest.message,
            self.count,
            self.first_seen,
            self.last_seen,
            self.services,
            self.versions,
            self.first_version,
            latest,
        )


class ErrorGroups:
    """Error groups keyed by fingerprint, built incrementally."""

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"the error groups need room for at least 1, not {limit}")
        self.limit = limit
        # Least recently seen first when limited (a group seen moves last).
        self._tallies: dict[str, _Tally] = {}
        self._let_go: list[str] = []
        # Groups let go to stay within the limit, since the start.
        self.let_go = 0

    def add(self, record: LogRecord, traceback: Traceback) -> tuple[ErrorGroup, bool]:
        """Count ``traceback`` (found in ``record``); True if the group is new."""
        return self._count(
            fingerprint(traceback),
            traceback,
            record.timestamp,
            record.service,
            record.version,
        )

    def add_traceback(
        self,
        traceback: Traceback,
        *,
        timestamp: float | None = None,
        service: str = "",
        version: str = "",
        key: str | None = None,
    ) -> tuple[ErrorGroup, bool]:
        """Count a traceback that has no record (plain text logs).

        ``key`` is its fingerprint when the caller has computed it already.
        """
        return self._count(
            key or fingerprint(traceback), traceback, timestamp, service, version
        )

    def _count(
        self,
        key: str,
        traceback: Traceback,
        timestamp: float | None,
        service: str,
        version: str,
    ) -> tuple[ErrorGroup, bool]:
        tallies = self._tallies
        tally = tallies.get(key)
        is_new = tally is None
        if tally is None:
            if self.limit is not None and len(tallies) >= self.limit:
                oldest = next(iter(tallies))
                del tallies[oldest]
                self._let_go.append(oldest)
                self.let_go += 1
            tally = tallies[key] = _Tally(key, traceback, version)
        elif self.limit is not None:
            tallies[key] = tallies.pop(key)
        tally.add(traceback, timestamp, service, version)
        return tally.snapshot(), is_new

    def take_let_go(self) -> list[str]:
        """The fingerprints let go since the last call, oldest first."""
        let_go, self._let_go = self._let_go, []
        return let_go

    def __len__(self) -> int:
        return len(self._tallies)

    def __contains__(self, key: object) -> bool:
        return key in self._tallies

    def get(self, key: str) -> ErrorGroup | None:
        tally = self._tallies.get(key)
        return None if tally is None else tally.snapshot()

    def __iter__(self) -> Iterator[ErrorGroup]:
        return iter(self.ranked())

    def ranked(self) -> list[ErrorGroup]:
        """All groups, biggest first, then the most recently seen."""
        groups = [tally.snapshot() for tally in self._tallies.values()]
        groups.sort(key=lambda g: (-g.count, -(g.last_seen or 0.0), g.fingerprint))
        return groups
