"""The emulator's per-version HTTP endpoints, reached with urllib at the
version_url the official Versions client reports."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.cloud.appengine_admin_v1 import types as ae
from google.cloud.appengine_logging_v1.types import RequestLog
from google.protobuf import field_mask_pb2

from deployconsole.emulator import admin_ops, requestlogs
from deployconsole.emulator.scenario import ScenarioOptions
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import EmulatorConfig
from deployconsole.gcp import channel
from deployconsole.gcp.admin import fast_polling

RawRequestLog: Any = RequestLog.pb()
FAST_POLLING = fast_polling(20.0)


@dataclass
class Running:
    emulator: Emulator
    written: list[Any] = field(default_factory=list)

    @property
    def state(self) -> Any:
        return self.emulator.state

    def url(self, service: str, version: str) -> str:
        return str(self.state.versions[service][version].version_url)

    def request_logs(self) -> list[Any]:
        found = []
        for entry in self.written:
            if entry.log_name.endswith(requestlogs.REQUEST_LOG):
                payload = RawRequestLog()
                entry.proto_payload.Unpack(payload)
                found.append(payload)
        return found


@pytest.fixture()
def running(monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    options = EmulatorOptions(
        scenario=ScenarioOptions(name="staged", seed=3),
        config=EmulatorConfig(operation_delay=0.05),
        run_traffic=False,
    )
    emulator = Emulator(options)
    emulator.http.max_delay = 0.0
    result = Running(emulator)
    store = emulator.state.logs
    assert store is not None
    original_write = store.write

    def capture(entries: Any) -> None:
        result.written.extend(entries)
        original_write(entries)

    monkeypatch.setattr(store, "write", capture)
    emulator.start()
    try:
        yield result
    finally:
        emulator.stop()


def fetch(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_version_url_from_the_official_client_answers_as_that_version(
    running: Running,
) -> None:
    versions = channel.versions_client(
        channel.Endpoint(running.state.project_id, running.emulator.address)
    )
    name = running.state.version_name("default", "v1")
    version = versions.get_version(request=ae.GetVersionRequest(name=name))
    assert version.version_url.startswith(running.state.http_base)
    assert running.state.http_base != "http://127.0.0.1:0"

    status, body = fetch(version.version_url + "/cart?sku=sku-1001")
    assert status == 200
    answer = json.loads(body)
    assert answer["service"] == "default" and answer["version"] == "v1"
    assert answer["path"] == "/cart?sku=sku-1001"

    logs = running.request_logs()
    assert len(logs) == 1
    assert logs[0].version_id == "v1"
    assert logs[0].resource == "/cart?sku=sku-1001"
    assert logs[0].status == 200
    assert logs[0].instance_id == answer["instance"]


def test_version_that_fails_at_import_answers_500_and_logs_the_traceback(
    running: Running,
) -> None:
    status, body = fetch(running.url("default", "v3-broken") + "/", method="POST")
    assert status == 500
    assert b"Server Error" in body
    assert [(p.status, p.method) for p in running.request_logs()] == [(500, "POST")]
    stderr = [
        entry.text_payload
        for entry in running.written
        if entry.log_name.endswith(requestlogs.STDERR_LOG)
    ]
    assert any(
        "pkg_resources.DistributionNotFound: The 'google-api-core' distribution" in text
        for text in stderr
    )


def test_warmup_request(running: Running) -> None:
    status, _ = fetch(running.url("default", "v2-ok") + "/_ah/warmup")
    assert status == 200
    status, _ = fetch(running.url("default", "v3-broken") + "/_ah/warmup")
    assert status == 500
    logs = running.request_logs()
    paths = [(p.version_id, p.resource, p.was_loading_request) for p in logs]
    assert paths == [
        ("v2-ok", "/_ah/warmup", True),
        ("v3-broken", "/_ah/warmup", True),
    ]
    assert running.state.instances[("default", "v2-ok")]


def test_service_url_routes_by_the_live_split(running: Running) -> None:
    service_url = running.state.service_url("default")
    for _ in range(5):
        status, body = fetch(service_url + "/products/1")
        assert status == 200 and json.loads(body)["version"] == "v1"

    admin_ops.set_split(running.state, "default", {"v2-ok": 1.0})
    status, body = fetch(service_url + "/products/1")
    assert status == 200 and json.loads(body)["version"] == "v2-ok"

    admin_ops.set_split(running.state, "default", {"v1": 0.5, "v2-ok": 0.5})
    seen = {json.loads(fetch(service_url + "/")[1])["version"] for _ in range(40)}
    assert seen == {"v1", "v2-ok"}


@pytest.mark.parametrize(
    "path",
    ["/_v/default/no-such-version/", "/_v/nosuch/v1/", "/_s/nosuch/", "/elsewhere"],
)
def test_unknown_service_or_version_is_404(running: Running, path: str) -> None:
    status, body = fetch(running.state.http_base + path)
    assert status == 404
    assert b"Not Found" in body
    assert running.request_logs() == []


def test_stopped_version_answers_503(running: Running) -> None:
    versions = channel.versions_client(
        channel.Endpoint(running.state.project_id, running.emulator.address)
    )
    request = ae.UpdateVersionRequest(
        name=running.state.version_name("default", "v2-ok"),
        version=ae.Version(serving_status=ae.ServingStatus.STOPPED),
        update_mask=field_mask_pb2.FieldMask(paths=["serving_status"]),
    )
    versions.update_version(request=request).result(polling=FAST_POLLING)

    status, body = fetch(running.url("default", "v2-ok") + "/")
    assert status == 503
    assert b"not available" in body
    logs = running.request_logs()
    assert [(p.version_id, p.status, p.instance_id) for p in logs] == [
        ("v2-ok", 503, "")
    ]
