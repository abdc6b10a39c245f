"""`deployconsole emulator` in the foreground, seen through the official clients."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from google.cloud.appengine_admin_v1 import types as ae
from google.cloud.logging_v2.types import ListLogEntriesRequest

from deployconsole.gcp.channel import Endpoint, logging_client, services_client

LISTENING = re.compile(r"^emulator listening on 127\.0\.0\.1:(\d+) project=(\S+)$")


@pytest.fixture()
def bad_push_emulator() -> Iterator[tuple[str, str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deployconsole",
            "emulator",
            "--port",
            "0",
            "--scenario",
            "bad-push",
            "--bad-push-at",
            "1",
            "--rate",
            "40",
            "--seed",
            "3",
            "--project",
            "shop-demo",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    match = LISTENING.match(first)
    assert match, f"unexpected first line {first!r}"
    try:
        yield f"127.0.0.1:{match.group(1)}", match.group(2)
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert process.returncode == 0


def _wait_for(predicate: object, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()  # type: ignore[operator]
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_bad_push_is_seen_through_the_official_clients(
    bad_push_emulator: tuple[str, str],
) -> None:
    address, project = bad_push_emulator
    assert project == "shop-demo"
    endpoint = Endpoint(project, address)
    services = services_client(endpoint)
    request = ae.GetServiceRequest(name=f"apps/{project}/services/default")
    before = dict(services.get_service(request=request).split.allocations)

    def pushed() -> dict[str, float] | None:
        split = dict(services.get_service(request=request).split.allocations)
        return split if split != before else None

    after = _wait_for(pushed, 20)
    assert after, "the bad push never moved the split"
    (new_version,) = after  # type: ignore[misc]
    assert after[new_version] == 1.0  # type: ignore[index]

    logs = logging_client(endpoint)

    def entries(filter_: str) -> list[object]:
        return list(
            logs.list_log_entries(
                request=ListLogEntriesRequest(
                    resource_names=[f"projects/{project}"],
                    filter=filter_,
                    page_size=50,
                )
            )
        )

    errors = _wait_for(
        lambda: entries(
            f'protoPayload.versionId="{new_version}" AND protoPayload.status>=500'
        ),
        20,
    )
    assert errors, "no 500s from the pushed version"
    tracebacks = _wait_for(
        lambda: entries(
            f'resource.labels.version_id="{new_version}" '
            'AND textPayload:"DistributionNotFound"'
        ),
        20,
    )
    assert tracebacks, "no import traceback logged"
    text = tracebacks[0].text_payload  # type: ignore[attr-defined]
    assert "google-api-core" in text


def test_bad_fault_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deployconsole", "emulator", "--fault", "nope=1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown fault" in result.stderr
    assert "Traceback" not in result.stderr


def test_global_options_work_after_the_subcommand() -> None:
    from deployconsole.cli import build_parser

    parser = build_parser()
    before = parser.parse_args(["--project", "p1", "emulator", "--port", "0"])
    after = parser.parse_args(["emulator", "--project", "p2", "--port", "0"])
    assert before.project == "p1"
    assert after.project == "p2"
    both = parser.parse_args(["--emulator", "127.0.0.1:5", "versions"])
    assert both.emulator == "127.0.0.1:5"


def test_demo_without_a_display_says_so_in_one_line() -> None:
    import os

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    result = subprocess.run(
        [sys.executable, "-m", "deployconsole", "--demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "no display" in lines[0] and "xvfb-run" in lines[0]
