"""The split rules: gcloud's rounding, App Engine's refusals, migration."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployconsole.core.split import (
    ShardBy,
    Split,
    SplitDiff,
    SplitError,
    decimals_for,
    format_fraction,
    normalise,
    plan_problems,
    split_problems,
    stopped_warnings,
)


@dataclass(frozen=True)
class Facts:
    id: str
    serving: bool = True
    env: str = "standard"
    automatic_scaling: bool = True
    warmup_enabled: bool = True


# Cases gcloud's own unit tests pin down (ParseTrafficAllocations), at 3
# decimals, plus IP's 2 decimals.
@pytest.mark.parametrize(
    ("requested", "shard_by", "expected"),
    [
        ({"v1": 50, "v2": 41, "v3": 9}, ShardBy.COOKIE,
         {"v1": 0.5, "v2": 0.41, "v3": 0.09}),
        ({"v1": 33, "v2": 33, "v3": 33}, ShardBy.COOKIE,
         {"v1": 0.334, "v2": 0.333, "v3": 0.333}),
        ({"v1": 0.1, "v2": 49, "v3": 51}, ShardBy.COOKIE,
         {"v1": 0.001, "v2": 0.49, "v3": 0.509}),
        ({"v1": 0.00008, "v2": 0.00008}, ShardBy.RANDOM, {"v1": 0.5, "v2": 0.5}),
        ({"v1": 1, "v2": 1, "v3": 1}, ShardBy.IP,
         {"v1": 0.34, "v2": 0.33, "v3": 0.33}),
        ({"b": 2, "a": 1}, ShardBy.IP, {"a": 0.33, "b": 0.67}),
        ({"only": 0.2}, ShardBy.IP, {"only": 1.0}),
        ({"v1": 0.9, "v2": 0.1}, ShardBy.COOKIE, {"v1": 0.9, "v2": 0.1}),
    ],
)
def test_normalise_rounds_like_gcloud(
    requested: dict[str, float], shard_by: ShardBy, expected: dict[str, float]
) -> None:
    split = normalise(requested, shard_by)
    assert split.as_dict() == expected
    assert split.shard_by is shard_by
    assert split_problems(split) == []


def test_remainder_goes_to_first_largest_by_version_id() -> None:
    # All equal: the first in version-id order takes the extra unit.
    split = normalise({"c": 1, "a": 1, "b": 1}, ShardBy.COOKIE)
    assert split.as_dict() == {"a": 0.334, "b": 0.333, "c": 0.333}


@pytest.mark.parametrize(
    ("requested", "fragment"),
    [
        ({}, "names no version"),
        ({"v1": 1.0, "v2": 0.0}, "zero"),
        ({"v1": 1.0, "v2": -0.5}, "negative"),
        ({"v1": float("nan")}, "not a number"),
        ({"v1": 1.0, "v2": 0.0001}, "rounds to zero"),
    ],
)
def test_normalise_refuses_in_plain_words(
    requested: dict[str, float], fragment: str
) -> None:
    with pytest.raises(SplitError) as caught:
        normalise(requested, ShardBy.COOKIE)
    assert fragment in str(caught.value)


def test_a_share_that_survives_cookie_rounding_may_not_survive_ip() -> None:
    assert normalise({"a": 996, "b": 4}, ShardBy.COOKIE).allocation("b") == 0.004
    with pytest.raises(SplitError, match="rounds to zero at 2 decimals"):
        normalise({"a": 996, "b": 4}, ShardBy.IP)


@given(
    st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=4),
        st.floats(min_value=0.05, max_value=1000),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from([ShardBy.IP, ShardBy.COOKIE, ShardBy.RANDOM]),
)
def test_normalised_splits_are_always_accepted(
    requested: dict[str, float], shard_by: ShardBy
) -> None:
    try:
        split = normalise(requested, shard_by)
    except SplitError as error:
        assert "rounds to zero" in str(error)
        return
    assert split_problems(split) == []
    assert set(split.versions) == set(requested)
    places = decimals_for(shard_by)
    assert sum(round(a * 10**places) for _, a in split.allocations) == 10**places


@pytest.mark.parametrize(
    ("allocations", "shard_by", "fragment"),
    [
        ({"v1": 0.5, "v2": 0.4}, ShardBy.IP, "add up to 0.9"),
        ({"v1": 0.555, "v2": 0.445}, ShardBy.IP, "more than 2 decimals"),
        ({"v1": 0.555, "v2": 0.445}, ShardBy.UNSPECIFIED, "more than 2 decimals"),
        ({"v1": 0.5555, "v2": 0.4445}, ShardBy.COOKIE, "more than 3 decimals"),
        ({"v1": 1.5, "v2": -0.5}, ShardBy.RANDOM, "more than 0 and at most 1"),
        ({"v1": 0.0, "v2": 1.0}, ShardBy.IP, "more than 0 and at most 1"),
        ({}, ShardBy.IP, "names no version"),
    ],
)
def test_split_problems(
    allocations: dict[str, float], shard_by: ShardBy, fragment: str
) -> None:
    problems = split_problems(Split.of(allocations, shard_by))
    assert any(fragment in problem for problem in problems), problems


def test_three_decimals_are_fine_by_cookie_and_random() -> None:
    for shard_by in (ShardBy.COOKIE, ShardBy.RANDOM):
        assert split_problems(Split.of({"v1": 0.555, "v2": 0.445}, shard_by)) == []


def test_unknown_version_is_refused() -> None:
    split = Split.of({"v1": 0.5, "ghost": 0.5}, ShardBy.IP)
    problems = plan_problems(split, [Facts("v1")], migrate=False)
    assert problems == ["There is no version ghost in this service."]


@pytest.mark.parametrize(
    ("facts", "fragment"),
    [
        (Facts("v2", env="flexible"), "standard environment"),
        (Facts("v2", automatic_scaling=False), "automatic scaling"),
        (Facts("v2", warmup_enabled=False), "warmup requests"),
    ],
)
def test_migration_rules(facts: Facts, fragment: str) -> None:
    split = Split.of({"v2": 1.0}, ShardBy.IP)
    problems = plan_problems(split, [Facts("v1"), facts], migrate=True)
    assert len(problems) == 1 and fragment in problems[0]
    assert plan_problems(split, [Facts("v1"), facts], migrate=False) == []


def test_migration_to_one_good_version_is_fine() -> None:
    split = Split.of({"v2": 1.0}, ShardBy.IP)
    assert plan_problems(split, [Facts("v1"), Facts("v2")], migrate=True) == []


def test_migration_needs_a_single_target() -> None:
    split = Split.of({"v1": 0.5, "v2": 0.5}, ShardBy.IP)
    problems = plan_problems(split, [Facts("v1"), Facts("v2")], migrate=True)
    assert problems == [
        "Gradual migration moves all traffic to one version; the split names 2."
    ]


def test_stopped_versions_are_warned_about() -> None:
    split = Split.of({"v1": 0.5, "v2": 0.5}, ShardBy.IP)
    warnings = stopped_warnings(split, [Facts("v1"), Facts("v2", serving=False)])
    assert len(warnings) == 1 and warnings[0].startswith("v2 is stopped")


def test_matches_tolerates_float_noise_and_unspecified_ip() -> None:
    a = Split.of({"v1": 0.334, "v2": 0.666}, ShardBy.UNSPECIFIED)
    b = Split.of({"v1": 0.33400000001, "v2": 0.666}, ShardBy.IP)
    assert a.matches(b)
    assert not a.matches(Split.of({"v1": 0.335, "v2": 0.665}, ShardBy.IP))
    assert not a.matches(Split.of({"v1": 0.334, "v2": 0.666}, ShardBy.COOKIE))
    assert not a.matches(Split.of({"v1": 1.0}, ShardBy.IP))


def test_diff_lists_each_changed_version() -> None:
    before = Split.of({"v1": 1.0}, ShardBy.IP)
    after = Split.of({"v1": 0.9, "v2": 0.1}, ShardBy.COOKIE)
    diff = SplitDiff(before, after)
    assert diff.lines() == [
        "v1: 100% → 90%", "v2: 0% → 10%", "shard_by: ip → cookie"
    ]
    assert SplitDiff(before, before).empty


def test_describe_and_json_round_trip() -> None:
    split = Split.of({"v2": 0.125, "v1": 0.875}, ShardBy.COOKIE)
    assert split.describe() == "v1 87.5%, v2 12.5% (by cookie)"
    assert Split.from_json(split.to_json()) == split
    assert format_fraction(1.0) == "100%"
    assert Split(ShardBy.IP, ()).describe() == "no traffic"


def test_shard_by_parse() -> None:
    assert ShardBy.parse("cookie") is ShardBy.COOKIE
    with pytest.raises(ValueError, match="expected ip, cookie or random"):
        ShardBy.parse("header")
