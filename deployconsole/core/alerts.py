"""Alert rules over the live health windows and error groups.

Two rules, both only for a version that has traffic:

- error ratio: over the last ``window_seconds`` the version served at least
  ``min_requests`` requests and at least ``error_ratio`` of them were 5xx;
- new error group: an error group shows up in the version for the first
  time (a group seen before only in other versions counts as new in it).

An alert fires once per episode. A ratio episode ends when the ratio falls
to ``clear_ratio`` or below (over at least ``min_requests``) or the version
stops having traffic; the next crossing is a new episode. A new group is
new once per version.

"Has traffic" means a positive allocation in the split given by
``set_traffic``; for a service whose split is not known it means the
version served requests inside the window.

Times are entry times (epoch seconds), so a replayed or simulated stream
gives the same alerts as a live one. Not thread-safe: the ingest pipeline
calls it under its lock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from deployconsole.core.health import HealthSample, HealthWindows, VersionRef

log = logging.getLogger("deployconsole.alerts")

ERROR_RATIO = "error_ratio"
NEW_ERROR_GROUP = "new_error_group"


@dataclass(frozen=True)
class AlertSettings:
    """Thresholds of the alert rules (each one a user setting)."""

    # 5xx responses per request over the window that start an episode.
    error_ratio: float = 0.05
    # At or below this ratio the episode is over (below error_ratio, so a
    # ratio hovering at the threshold does not fire again and again).
    clear_ratio: float = 0.02
    window_seconds: float = 60.0
    # Fewer requests than this in the window say nothing either way.
    min_requests: float = 20.0
    new_group_alerts: bool = True
    # Errors seen in the first seconds of watching were there before the
    # console looked; they are the baseline, not new groups.
    new_group_grace_seconds: float = 10.0

    @classmethod
    def from_thresholds(
        cls,
        error_ratio: float,
        window_seconds: float,
        min_requests: float,
        new_group_alerts: bool,
    ) -> AlertSettings:
        """The settings a user chose; an episode ends well below the
        threshold, as with the defaults. ValueError says what is wrong."""
        return cls(
            error_ratio=error_ratio,
            clear_ratio=min(cls.clear_ratio, error_ratio * 0.4),
            window_seconds=window_seconds,
            min_requests=min_requests,
            new_group_alerts=new_group_alerts,
        )

    def describe(self) -> str:
        """The rules in a sentence, for the window."""
        text = (
            f"Alert when 5xx pass {self.error_ratio:.1%} of a version's requests "
            f"(at least {self.min_requests:g} in the last {self.window_seconds:g} s)"
        )
        if self.new_group_alerts:
            return text + ", and on a new error group."
        return text + "; new error groups do not alert."

    def __post_init__(self) -> None:
        if not 0.0 < self.error_ratio <= 1.0:
            raise ValueError(
                f"error_ratio must be in (0, 1], not {self.error_ratio}"
            )
        if not 0.0 <= self.clear_ratio < self.error_ratio:
            raise ValueError(
                f"clear_ratio must be at least 0 and below error_ratio "
                f"({self.error_ratio}), not {self.clear_ratio}"
            )
        if self.window_seconds < 1.0:
            raise ValueError(
                f"window_seconds must be at least 1, not {self.window_seconds}"
            )
        if self.min_requests < 1.0:
            raise ValueError(
                f"min_requests must be at least 1, not {self.min_requests}"
            )
        if self.new_group_grace_seconds < 0:
            raise ValueError(
                "new_group_grace_seconds must not be negative, not "
                f"{self.new_group_grace_seconds}"
            )


@dataclass(frozen=True)
class Alert:
    """One fired alert; ``service``/``version`` is what "Roll back" acts on.

    ``at`` is the entry time that fired it. For an error-ratio alert,
    ``ratio``, ``requests`` and ``errors`` describe the window; for a new
    error group, ``fingerprint`` and ``headline`` name the group.
    """

    kind: str
    service: str
    version: str
    at: float
    message: str
    ratio: float = 0.0
    requests: float = 0.0
    errors: float = 0.0
    window_seconds: float = 0.0
    fingerprint: str = ""
    headline: str = ""


class AlertRules:
    """Evaluates the rules; remembers which episodes have already fired."""

    def __init__(self, settings: AlertSettings | None = None) -> None:
        self.settings = settings or AlertSettings()
        # Service -> version -> allocation; None when no split is known.
        self._traffic: dict[str, dict[str, float]] | None = None
        self._in_episode: set[VersionRef] = set()
        self._groups_seen: set[tuple[str, VersionRef]] = set()
        self._started_at: float | None = None

    def set_settings(self, settings: AlertSettings) -> None:
        self.settings = settings

    def set_traffic(
        self, splits: Mapping[str, Mapping[str, float]] | None
    ) -> None:
        """The live splits (service -> version -> allocation), or None."""
        if splits is None:
            self._traffic = None
            return
        self._traffic = {
            service: dict(allocations) for service, allocations in splits.items()
        }

    def has_traffic(self, ref: VersionRef, window: HealthSample | None) -> bool:
        if self._traffic is not None and ref.service in self._traffic:
            return self._traffic[ref.service].get(ref.version, 0.0) > 0.0
        return window is not None and window.requests > 0

    def observe_time(self, at: float) -> None:
        """Note an entry time; the first one starts the new-group grace."""
        if self._started_at is None or at < self._started_at:
            self._started_at = at

    def check_ratios(self, health: HealthWindows, now: float) -> list[Alert]:
        """Ratio alerts for every version with requests, at entry time ``now``."""
        settings = self.settings
        fired: list[Alert] = []
        for ref in health.versions():
            window = health.window(
                ref.service, ref.version, settings.window_seconds, now, latency=False
            )
            alert = self._check_ratio(ref, window, now)
            if alert is not None:
                fired.append(alert)
        # Episodes of versions that no longer appear at all are over too.
        known = set(health.versions())
        self._in_episode &= known
        return fired

    def _check_ratio(
        self, ref: VersionRef, window: HealthSample, now: float
    ) -> Alert | None:
        settings = self.settings
        if not self.has_traffic(ref, window) or window.requests <= 0:
            self._in_episode.discard(ref)
            return None
        enough = window.requests >= settings.min_requests
        if ref in self._in_episode:
            if enough and window.ratio <= settings.clear_ratio:
                self._in_episode.discard(ref)
                log.info(
                    "Error ratio of version %s is back to %.1f%%; episode over.",
                    ref, window.ratio * 100,
                )
            return None
        if not enough or window.ratio < settings.error_ratio:
            return None
        self._in_episode.add(ref)
        message = (
            f"{ref.version} of {ref.service}: {window.ratio:.0%} of "
            f"{window.requests:.0f} requests failed with 5xx in the last "
            f"{settings.window_seconds:.0f} s"
        )
        log.info("Alert: %s.", message)
        return Alert(
            ERROR_RATIO, ref.service, ref.version, now, message,
            ratio=window.ratio, requests=window.requests, errors=window.errors,
            window_seconds=settings.window_seconds,
        )

    def check_new_group(
        self,
        service: str,
        version: str,
        fingerprint: str,
        headline: str,
        at: float,
        window: HealthSample | None = None,
    ) -> Alert | None:
        """An alert if error group ``fingerprint`` is new in the version.

        ``window`` is the version's recent health, used to decide whether it
        has traffic when its split is not known.
        """
        ref = VersionRef(service, version)
        key = (fingerprint, ref)
        if key in self._groups_seen:
            return None
        self.observe_time(at)
        settings = self.settings
        if not self.has_traffic(ref, window):
            # Not marked seen: right after a deploy the split the console
            # knows may be stale, and the group must still alert once the
            # version is known to serve traffic.
            return None
        self._groups_seen.add(key)
        if not settings.new_group_alerts:
            return None
        assert self._started_at is not None
        if at - self._started_at < settings.new_group_grace_seconds:
            return None
        message = f"New error in {version} of {service}: {headline}"
        log.info("Alert: %s (error group %s).", message, fingerprint)
        return Alert(
            NEW_ERROR_GROUP, service, version, at, message,
            fingerprint=fingerprint, headline=headline,
        )
