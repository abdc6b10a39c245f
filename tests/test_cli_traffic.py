"""The terminal face of traffic: versions, set-traffic, rollback, history.

Each command runs through ``deployconsole.cli.main`` against an emulator,
with exit codes 0 (done), 1 (refused, failed, or not confirmed), 2 (usage)
and 3 (unreachable or permission missing, nothing changed), and errors as
one line on stderr, never a traceback.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import pytest
from test_traffic_world import SERVICE, World, start_world

from deployconsole.cli import main
from deployconsole.gcp import admin as gcp_admin


@pytest.fixture()
def world(isolated_home: str) -> Iterator[World]:
    world = start_world()
    yield world
    world.emulator.stop()


class Terminal(io.StringIO):
    """Standard input that is a terminal; ``on_read`` runs before each line."""

    def __init__(self, answers: str, on_read: Callable[[int], None] | None = None):
        super().__init__(answers)
        self.on_read = on_read
        self.reads = 0

    def isatty(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        if self.on_read is not None:
            self.on_read(self.reads)
        self.reads += 1
        return super().readline()


def run(
    world: World, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    code = main([*argv, "--emulator", world.address])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_versions_json_has_exactly_the_documented_shape(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(world, capsys, "versions", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert set(document) == {"services"}
    services = {service["id"]: service for service in document["services"]}
    shop = services[SERVICE]
    assert set(shop) == {"id", "split", "versions"}
    assert shop["split"] == {"shard_by": "UNSPECIFIED", "allocations": {"v1": 1.0}}
    v1 = next(v for v in shop["versions"] if v["id"] == "v1")
    assert set(v1) == {
        "id", "serving_status", "runtime", "env", "instances", "create_time",
        "created_by", "version_url",
    }
    assert v1["serving_status"] == "SERVING" and v1["instances"] == 2
    assert v1["runtime"] == "python27" and v1["env"] == "standard"
    assert v1["created_by"] == "dev@example.com"
    assert v1["create_time"].endswith("Z")
    assert v1["version_url"].endswith("/_v/shop/v1")

    code, out, _ = run(world, capsys, "versions", "--service", SERVICE, "--json")
    assert [s["id"] for s in json.loads(out)["services"]] == [SERVICE]


def test_versions_table(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(world, capsys, "versions", "--service", SERVICE)
    assert code == 0
    assert out.splitlines()[0] == "shop: v1 100% (by ip)"
    assert any(line.split()[:2] == ["v1", "100%"] for line in out.splitlines())


def test_unknown_service_is_one_line_exit_1(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(world, capsys, "versions", "--service", "nope")
    assert code == 1
    assert err.count("\n") == 1 and "Service not found" in err


def test_set_traffic_with_yes(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        world, capsys, "set-traffic", SERVICE, "v1=9", "v2=1", "--shard-by",
        "cookie", "--yes",
    )
    assert code == 0, err
    assert "before: v1 100% (by ip)" in out
    assert "after:  v1 90%, v2 10% (by cookie)" in out
    assert "shop now serves v1 90%, v2 10% (by cookie)." in out
    assert world.live_split() == {"v1": 0.9, "v2": 0.1}


def test_without_a_terminal_nothing_is_applied(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, out, err = run(world, capsys, "set-traffic", SERVICE, "v2=1")
    assert code == 1
    assert "--yes" in err and "after:  v2 100%" in out
    assert world.live_split() == {"v1": 1.0}


@pytest.mark.parametrize(("answer", "code", "split"), [
    ("y\n", 0, {"v2": 1.0}),
    ("n\n", 1, {"v1": 1.0}),
    ("", 1, {"v1": 1.0}),
])
def test_asks_on_a_terminal(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    answer: str, code: int, split: dict[str, float],
) -> None:
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    got, _, err = run(world, capsys, "set-traffic", SERVICE, "v2=1")
    assert got == code
    assert "Apply this change? [y/N]" in err
    assert world.live_split() == split


def test_split_changed_while_asking_is_shown_and_asked_again(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def someone_else(read: int) -> None:
        if read == 0:
            world.set_split({"v1": 0.5, "v3": 0.5}, who="web@example.com")

    terminal = Terminal("y\ny\n", on_read=someone_else)
    monkeypatch.setattr("sys.stdin", terminal)
    code, out, err = run(world, capsys, "set-traffic", SERVICE, "v2=1")
    assert code == 0, err
    assert "changed since it was shown (v1: 100% → 50%; v3: 0% → 50%)" in err
    assert "before: v1 50%, v3 50% (by ip)" in out
    assert terminal.reads == 2
    assert world.live_split() == {"v2": 1.0}


def test_refused_before_sending(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        world, capsys, "set-traffic", SERVICE, "v3=1", "--migrate", "-y"
    )
    assert code == 1
    assert "warmup" in err and err.startswith("deployconsole: not applied:")
    code, _, err = run(world, capsys, "set-traffic", SERVICE, "v1=1", "v2=0", "-y")
    assert code == 1 and "leave a version out" in err
    assert world.live_split() == {"v1": 1.0}


@pytest.mark.parametrize("argv", [
    ["set-traffic", SERVICE, "v1"],
    ["set-traffic", SERVICE, "v1=lots"],
    ["set-traffic", SERVICE, "v1=0.5", "v1=0.5"],
])
def test_usage_errors_exit_2(
    world: World, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(world, capsys, *argv, "--yes")
    assert code == 2 and err.startswith("deployconsole: ")


def test_project_is_required_without_an_emulator(
    capsys: pytest.CaptureFixture[str], isolated_home: str
) -> None:
    assert main(["versions"]) == 2
    assert "--project is required" in capsys.readouterr().err


def test_bad_shard_by_is_a_usage_error(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["set-traffic", SERVICE, "v1=1", "--shard-by", "header"])
    assert caught.value.code == 2


def test_permission_denied_exits_3(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.fault("permission-denied=UpdateService")
    code, _, err = run(world, capsys, "set-traffic", SERVICE, "v2=1", "--yes")
    assert code == 3 and "Permission denied" in err
    assert world.live_split() == {"v1": 1.0}


def test_unreachable_exits_3(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gcp_admin, "DEFAULT_RETRY_DEADLINE", 0.3)
    world.fault("unavailable=ListServices:100000")
    code, _, err = run(world, capsys, "versions")
    assert code == 3 and "could not be reached" in err
    assert err.count("\n") == 1


def test_failed_operation_exits_1(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.fault("operation-error=UpdateService")
    code, _, err = run(world, capsys, "set-traffic", SERVICE, "v2=1", "--yes")
    assert code == 1
    assert "failed" in err and "The server has v1 100% (by ip)." in err


def test_rollback_and_history(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(world, capsys, "rollback", SERVICE, "--yes")
    assert code == 1 and "nothing to roll back to" in err

    world.set_split({"v3": 1.0}, who="web@example.com")
    code, out, err = run(world, capsys, "rollback", SERVICE, "--yes")
    assert code == 0, err
    assert "change by web@example.com" in out
    assert "before: v3 100% (by ip)" in out and "after:  v1 100% (by ip)" in out
    assert world.live_split() == {"v1": 1.0}

    code, out, _ = run(world, capsys, "history", SERVICE, "--json")
    assert code == 0
    changes = json.loads(out)["changes"]
    assert [(c["who"], c["action"], c["source"]) for c in changes] == [
        ("web@example.com", "UpdateService", "audit-log"),
        (world.emulator.state.config.principal_email, "rollback",
         "journal+audit-log"),
    ]
    assert changes[1]["before"]["allocations"] == {"v3": 1.0}
    assert changes[1]["after"]["allocations"] == {"v1": 1.0}

    code, out, _ = run(world, capsys, "history", SERVICE)
    assert code == 0
    assert "web@example.com  UpdateService" in out
    assert "rollback  v3 100% (by ip) → v1 100% (by ip)  succeeded" in out


def test_history_lists_actions_that_sent_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.fault("permission-denied=UpdateService")
    run(world, capsys, "set-traffic", SERVICE, "v2=1", "--yes")
    code, out, _ = run(world, capsys, "history", SERVICE)
    assert code == 0
    assert "set-traffic  v1 100% (by ip) → v2 100% (by ip)  permission" in out
    assert "Permission denied" in out
