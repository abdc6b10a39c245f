"""Traffic split rules as App Engine applies them.

A split sends each request of a service to one of its versions, sharded by
client IP, by cookie or at random. App Engine refuses a split whose
allocations are not each in (0, 1], do not sum to exactly 1, or carry more
decimals than the sharding allows (2 for IP, 3 for COOKIE and RANDOM). The
console checks all of that, and the rules of gradual migration, before it
sends anything, so that a refusal is explained in plain words instead of
surfacing as a server error.

Fractions are handled as whole units of 1/100 or 1/1000 so that sums are
exact; floats appear only at the edges (user input, the API's doubles).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class ShardBy(str, Enum):
    """How App Engine picks the version for a request."""

    UNSPECIFIED = "UNSPECIFIED"
    IP = "IP"
    COOKIE = "COOKIE"
    RANDOM = "RANDOM"

    @classmethod
    def parse(cls, text: str) -> ShardBy:
        """``ip``/``IP``/``cookie``... into a member; ValueError in plain words."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            raise ValueError(
                f"unknown shard_by {text!r}: expected ip, cookie or random"
            ) from None

    @property
    def label(self) -> str:
        # App Engine applies an unspecified shard_by as IP.
        if self is ShardBy.UNSPECIFIED:
            return "ip"
        return self.value.lower()


def decimals_for(shard_by: ShardBy) -> int:
    """Decimal places App Engine accepts; an unspecified shard_by means IP."""
    return 3 if shard_by in (ShardBy.COOKIE, ShardBy.RANDOM) else 2


def _units(fraction: float, places: int) -> int:
    return round(fraction * 10**places)


def format_fraction(fraction: float) -> str:
    """0.334 -> ``33.4%``; 1.0 -> ``100%``."""
    percent = round(fraction * 100, 1)
    if percent == int(percent):
        return f"{int(percent)}%"
    return f"{percent}%"


@dataclass(frozen=True)
class Split:
    """A service's traffic split: version id -> fraction, sorted by version id.

    Attributes:
        shard_by: how requests are assigned to versions.
        allocations: (version id, fraction) pairs, sorted by version id; a
            version not listed gets no traffic.
    """

    shard_by: ShardBy
    allocations: tuple[tuple[str, float], ...]

    @classmethod
    def of(
        cls, allocations: Mapping[str, float], shard_by: ShardBy = ShardBy.IP
    ) -> Split:
        pairs = tuple(sorted((str(k), float(v)) for k, v in allocations.items()))
        return cls(shard_by=shard_by, allocations=pairs)

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(version for version, _ in self.allocations)

    def as_dict(self) -> dict[str, float]:
        return dict(self.allocations)

    def allocation(self, version_id: str) -> float:
        """The fraction of traffic ``version_id`` gets (0.0 when not listed)."""
        return self.as_dict().get(version_id, 0.0)

    def matches(self, other: Split) -> bool:
        """Same versions, same fractions (to the API's 3 decimals), same sharding.

        An unspecified shard_by counts as IP, as App Engine applies it.
        """
        if _effective(self.shard_by) != _effective(other.shard_by):
            return False
        mine = {v: _units(a, 3) for v, a in self.allocations}
        theirs = {v: _units(a, 3) for v, a in other.allocations}
        return mine == theirs

    def describe(self) -> str:
        """``v1 90%, v2 10% (by cookie)``; ``no traffic`` when empty."""
        if not self.allocations:
            return "no traffic"
        parts = ", ".join(f"{v} {format_fraction(a)}" for v, a in self.allocations)
        return f"{parts} (by {self.shard_by.label})"

    def to_json(self) -> dict[str, object]:
        """The ``{"shard_by", "allocations"}`` form used by the CLI and journal."""
        return {"shard_by": self.shard_by.value, "allocations": self.as_dict()}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Split:
        allocations = data.get("allocations") or {}
        if not isinstance(allocations, Mapping):
            raise ValueError(f"allocations must be a mapping, not {allocations!r}")
        shard_by = ShardBy.parse(str(data.get("shard_by") or "UNSPECIFIED"))
        return cls.of({str(k): float(v) for k, v in allocations.items()}, shard_by)


def _effective(shard_by: ShardBy) -> ShardBy:
    return ShardBy.IP if shard_by is ShardBy.UNSPECIFIED else shard_by


class SplitError(ValueError):
    """A split App Engine would refuse; ``problems`` are plain sentences."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(" ".join(self.problems))


def normalise(requested: Mapping[str, float], shard_by: ShardBy) -> Split:
    """Turn user weights into a split App Engine accepts, the way gcloud does.

    Each weight is divided by their total and rounded to the decimals
    ``shard_by`` allows; whatever the rounding leaves over (or took too much)
    goes to the largest allocation, the first by version id on a tie, so the
    sum is exactly 1. ``{"a": 1, "b": 1, "c": 1}`` by cookie becomes
    a 0.334, b 0.333, c 0.333.

    Raises:
        SplitError: no versions, a weight that is not a positive number, or a
            share too small to survive rounding.
    """
    problems: list[str] = []
    if not requested:
        raise SplitError(["The split names no version; give at least one."])
    for version, weight in requested.items():
        if not version:
            problems.append("A version id in the split is empty.")
        if not isinstance(weight, int | float) or not math.isfinite(weight):
            problems.append(f"The allocation for {version} is not a number.")
        elif weight < 0:
            problems.append(f"The allocation for {version} is negative ({weight}).")
        elif weight == 0:
            problems.append(
                f"The allocation for {version} is zero: leave a version out of "
                "the split to give it no traffic."
            )
    if problems:
        raise SplitError(problems)

    places = decimals_for(shard_by)
    total = float(sum(requested.values()))
    units: dict[str, int] = {}
    for version, weight in sorted(requested.items()):
        # Python's round() on the float share, as gcloud does, so that the
        # console and gcloud send the same numbers for the same input.
        share = _units(round(weight / total, places), places)
        if share == 0:
            problems.append(
                f"{version} would get {weight / total:.5f} of the traffic, which "
                f"rounds to zero at {places} decimals (by {shard_by.label})."
            )
        units[version] = share
    if problems:
        raise SplitError(problems)

    largest = max(units.values())
    first_largest = next(v for v, u in sorted(units.items()) if u == largest)
    units[first_largest] -= sum(units.values()) - 10**places
    return Split.of({v: u / 10**places for v, u in units.items()}, shard_by)


def split_problems(split: Split) -> list[str]:
    """Why App Engine would refuse ``split`` as it stands (empty when valid)."""
    if not split.allocations:
        return ["The split names no version; give at least one."]
    places = decimals_for(split.shard_by)
    problems: list[str] = []
    total = 0
    for version, fraction in split.allocations:
        if not math.isfinite(fraction) or not 0 < fraction <= 1:
            problems.append(
                f"The allocation for {version} is {fraction}; each allocation "
                "must be more than 0 and at most 1."
            )
            continue
        units = _units(fraction, places)
        if abs(units - fraction * 10**places) > 1e-6:
            problems.append(
                f"The allocation for {version} ({fraction}) has more than "
                f"{places} decimals, the most App Engine accepts when splitting "
                f"by {split.shard_by.label}."
            )
        total += units
    if not problems and total != 10**places:
        problems.append(
            f"The allocations add up to {total / 10**places:g}, not 1."
        )
    return problems


class VersionFacts(Protocol):
    """What the split rules need to know about a version (VersionInfo has it)."""

    @property
    def id(self) -> str: ...

    @property
    def serving(self) -> bool: ...

    @property
    def env(self) -> str: ...

    @property
    def automatic_scaling(self) -> bool: ...

    @property
    def warmup_enabled(self) -> bool: ...


def plan_problems(
    split: Split, versions: Iterable[VersionFacts], *, migrate: bool
) -> list[str]:
    """Every reason App Engine would refuse to apply ``split`` to a service.

    ``versions`` are the service's versions as last read. Gradual migration
    only moves traffic to one version, and only to a version in the standard
    environment with automatic scaling and warmup requests enabled, because
    App Engine warms instances up before shifting traffic to them.
    """
    problems = split_problems(split)
    known = {version.id: version for version in versions}
    for version_id in split.versions:
        if version_id not in known:
            problems.append(f"There is no version {version_id} in this service.")
    if not migrate:
        return problems

    if len(split.allocations) != 1:
        problems.append(
            "Gradual migration moves all traffic to one version; the split "
            f"names {len(split.allocations)}."
        )
        return problems
    target = known.get(split.versions[0])
    if target is None:
        return problems
    if target.env != "standard":
        problems.append(
            f"Gradual migration needs the standard environment; {target.id} "
            f"runs in the {target.env} environment."
        )
    if not target.automatic_scaling:
        problems.append(
            f"Gradual migration needs automatic scaling; {target.id} does not "
            "use it."
        )
    if not target.warmup_enabled:
        problems.append(
            f"Gradual migration needs warmup requests; {target.id} does not "
            "enable them (inbound_services: warmup in app.yaml)."
        )
    return problems


def stopped_warnings(split: Split, versions: Iterable[VersionFacts]) -> list[str]:
    """Versions the split sends traffic to although they are stopped."""
    stopped = {v.id for v in versions if not v.serving}
    return [
        f"{version_id} is stopped: its share of the traffic will fail until it "
        "is started."
        for version_id in split.versions
        if version_id in stopped
    ]


@dataclass(frozen=True)
class AllocationChange:
    version_id: str
    before: float
    after: float


@dataclass(frozen=True)
class SplitDiff:
    """What differs between two splits, version by version."""

    before: Split
    after: Split

    @property
    def changes(self) -> tuple[AllocationChange, ...]:
        old, new = self.before.as_dict(), self.after.as_dict()
        return tuple(
            AllocationChange(v, old.get(v, 0.0), new.get(v, 0.0))
            for v in sorted(set(old) | set(new))
            if _units(old.get(v, 0.0), 3) != _units(new.get(v, 0.0), 3)
        )

    @property
    def shard_by_changed(self) -> bool:
        return _effective(self.before.shard_by) != _effective(self.after.shard_by)

    @property
    def empty(self) -> bool:
        return not self.changes and not self.shard_by_changed

    def lines(self) -> list[str]:
        """One plain line per change: ``v2: 0% → 100%``."""
        lines = [
            f"{c.version_id}: {format_fraction(c.before)} → {format_fraction(c.after)}"
            for c in self.changes
        ]
        if self.shard_by_changed:
            lines.append(
                f"shard_by: {self.before.shard_by.label} → "
                f"{self.after.shard_by.label}"
            )
        return lines
