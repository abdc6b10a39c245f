"""The emulator's Cloud Logging v2 through the official clients: writes,
lists with paging in both orders, the live tail and its faults."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import logging as cloud_logging
from google.cloud.appengine_logging_v1.types import RequestLog
from google.cloud.logging_v2 import _gapic
from google.cloud.logging_v2.types import LogEntry, TailLogEntriesRequest

from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.gcp.channel import Endpoint, logging_client

# Not the emulator's own project: the scenario may write there at any time.
PROJECT = "log-api-test"
PARENT = f"projects/{PROJECT}"
LOG = f"{PARENT}/logs/app"
BASE = 1_763_456_400  # 2025-11-18T09:00:00Z
DEADLINE = 10.0


@pytest.fixture()
def emulator() -> Iterator[Emulator]:
    running = Emulator(EmulatorOptions(run_traffic=False)).start()
    try:
        yield running
    finally:
        # Ends open tails cleanly first; stop() alone cancels them after its
        # grace period.
        assert running.state.logs is not None
        running.state.logs.close()
        running.stop()


@pytest.fixture()
def client(emulator: Emulator) -> Any:
    return logging_client(Endpoint(PROJECT, emulator.address))


def raw_entry(text: str, second: float | None = None, severity: int = 0) -> Any:
    entry = LogEntry.pb()(log_name=LOG, text_payload=text, severity=severity)
    entry.resource.type = "gae_app"
    if second is not None:
        entry.timestamp.seconds = BASE + int(second)
        entry.timestamp.nanos = int(round((second % 1) * 1e9))
    return entry


def write(client: Any, entries: list[Any]) -> None:
    client.write_log_entries(entries=[LogEntry.wrap(e) for e in entries])


def listed(client: Any, **request: Any) -> list[Any]:
    request.setdefault("resource_names", [PARENT])
    return list(client.list_log_entries(request=request))


# WriteLogEntries ------------------------------------------------------


def test_write_applies_request_defaults_and_fills_ids(client: Any) -> None:
    own = LogEntry(
        log_name=f"{PARENT}/logs/own", text_payload="own", labels={"zone": "mine"},
        resource={"type": "gce_instance"},
    )
    client.write_log_entries(
        log_name=LOG, resource={"type": "gae_app", "labels": {"module_id": "api"}},
        labels={"zone": "request", "team": "web"},
        entries=[LogEntry(text_payload="plain"), own],
    )

    by_text = {e.text_payload: e for e in listed(client)}
    plain, kept = by_text["plain"], by_text["own"]
    assert plain.log_name == LOG
    assert plain.resource.type == "gae_app"
    assert plain.resource.labels["module_id"] == "api"
    assert dict(plain.labels) == {"zone": "request", "team": "web"}
    assert kept.log_name == f"{PARENT}/logs/own"
    assert kept.resource.type == "gce_instance"
    assert dict(kept.labels) == {"zone": "mine", "team": "web"}
    assert plain.insert_id and kept.insert_id and plain.insert_id != kept.insert_id
    # Without their own IDs, earlier entries in a request sort first.
    assert plain.insert_id < kept.insert_id
    for entry in (plain, kept):
        assert entry.receive_timestamp.timestamp() > 0
        assert entry.timestamp.timestamp() > 0


@pytest.mark.parametrize(
    ("request_fields", "words"),
    [
        ({"entries": [{"text_payload": "x", "resource": {"type": "gae_app"}}]},
         "log_name is required"),
        ({"log_name": "projects/p/logs/bad name!",
          "entries": [{"text_payload": "x", "resource": {"type": "gae_app"}}]},
         "Invalid log name"),
        ({"log_name": LOG, "entries": [{"text_payload": "x"}]}, "resource is required"),
        ({"log_name": LOG, "entries": []}, "At least one log entry"),
        ({"log_name": LOG, "resource": {"type": "gae_app"},
          "entries": [{"text_payload": "x" * 300_000}]}, "exceeds the maximum size"),
    ],
)
def test_write_refusals(
    client: Any, request_fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument) as caught:
        client.write_log_entries(request=request_fields)
    assert words in caught.value.message
    assert listed(client) == []


def test_partial_success_keeps_the_valid_entries(client: Any) -> None:
    with pytest.raises(exceptions.InvalidArgument) as caught:
        client.write_log_entries(
            request={
                "resource": {"type": "gae_app"}, "partial_success": True,
                "entries": [{"log_name": LOG, "text_payload": "kept"},
                            {"text_payload": "no log name"}],
            }
        )
    assert "Log entry 1" in caught.value.message
    assert [e.text_payload for e in listed(client)] == ["kept"]


def test_dry_run_stores_nothing(client: Any) -> None:
    client.write_log_entries(
        request={"log_name": LOG, "resource": {"type": "gae_app"}, "dry_run": True,
                 "entries": [{"text_payload": "rehearsal"}]}
    )
    assert listed(client) == []


# ListLogEntries -------------------------------------------------------


def test_paging_in_both_orders(client: Any) -> None:
    seconds = list(range(250))
    random.Random(7).shuffle(seconds)
    write(client, [raw_entry(f"s{s}", s) for s in seconds])

    for order, expected in (("timestamp asc", sorted(seconds)),
                            ("timestamp desc", sorted(seconds, reverse=True))):
        pager = client.list_log_entries(
            request={"resource_names": [PARENT], "order_by": order, "page_size": 100}
        )
        pages = [[e.text_payload for e in page.entries] for page in pager.pages]
        assert [len(page) for page in pages] == [100, 100, 50]
        assert [t for page in pages for t in page] == [f"s{s}" for s in expected]


def test_default_page_size_is_fifty(client: Any) -> None:
    write(client, [raw_entry(f"e{i}", i) for i in range(60)])
    response = client.list_log_entries(request={"resource_names": [PARENT]})
    first_page = next(iter(response.pages))
    assert len(first_page.entries) == 50 and first_page.next_page_token


def test_equal_timestamps_order_by_insert_id(client: Any) -> None:
    entries = [raw_entry(name, 5) for name in ("b", "c", "a")]
    for entry in entries:
        entry.insert_id = entry.text_payload
    write(client, entries)
    assert [e.insert_id for e in listed(client)] == ["a", "b", "c"]
    assert [e.insert_id for e in listed(client, order_by="timestamp desc")] == [
        "c", "b", "a"]


def test_page_token_stays_valid_while_entries_arrive(client: Any) -> None:
    write(client, [raw_entry(f"old{i}", i) for i in range(15)])
    first = client.list_log_entries(request={"resource_names": [PARENT],
                                             "page_size": 10})
    page = next(iter(first.pages))
    assert [e.text_payload for e in page.entries] == [f"old{i}" for i in range(10)]

    write(client, [raw_entry(f"new{i}", 100 + i) for i in range(5)])
    second = client.list_log_entries(request={
        "resource_names": [PARENT], "page_size": 10,
        "page_token": page.next_page_token})
    texts = [e.text_payload for e in next(iter(second.pages)).entries]
    assert texts == [f"old{i}" for i in range(10, 15)] + [f"new{i}" for i in range(5)]

    with pytest.raises(exceptions.InvalidArgument, match="different filter"):
        listed(client, page_token=page.next_page_token, filter="severity>=ERROR")


@pytest.mark.parametrize(
    ("request_fields", "words"),
    [
        ({"resource_names": []}, "resource_names is required"),
        ({"resource_names": ["my-project"]}, "Invalid resource name"),
        ({"resource_names": [PARENT], "page_size": 1001}, "Invalid page_size"),
        ({"resource_names": [PARENT], "page_size": -1}, "Invalid page_size"),
        ({"resource_names": [PARENT], "order_by": "severity"}, "Invalid order_by"),
        ({"resource_names": [PARENT], "page_token": "garbage"}, "Invalid page_token"),
    ],
)
def test_list_refusals(client: Any, request_fields: dict[str, Any], words: str) -> None:
    with pytest.raises(exceptions.InvalidArgument) as caught:
        list(client.list_log_entries(request=request_fields))
    assert words in caught.value.message


def test_high_level_client_lists_entries(emulator: Emulator, client: Any) -> None:
    payload = RequestLog.pb()(status=500, version_id="v2", module_id="default")
    # No timestamps of their own: the high-level client adds a "last 24
    # hours" restriction to every filter.
    request_entry = raw_entry("unused", severity=500)
    request_entry.proto_payload.Pack(payload)
    structured = raw_entry("unused", severity=400)
    structured.json_payload.update({"message": "slow"})
    write(client, [raw_entry("hello", severity=200)])
    write(client, [structured])
    write(client, [request_entry])

    high_level = cloud_logging.Client(
        project=PROJECT, credentials=AnonymousCredentials(), _use_grpc=True
    )
    # The high-level Client has no option for a plaintext channel: it always
    # builds a TLS one. Its gRPC API object is swapped for one around our
    # emulator-bound generated client (a private attribute, but the list
    # path above it is the library's own).
    high_level._logging_api = _gapic._LoggingAPI(client, high_level)

    found = list(high_level.list_entries(
        resource_names=[PARENT], filter_="severity>=WARNING",
        order_by=cloud_logging.DESCENDING, page_size=1))
    assert [type(e).__name__ for e in found] == ["ProtobufEntry", "StructEntry"]
    assert found[0].payload["status"] == 500 and found[0].severity == "ERROR"
    assert found[1].payload == {"message": "slow"}
    texts = [e.payload for e in high_level.list_entries(resource_names=[PARENT])]
    assert texts[0] == "hello"


def test_retention_keeps_the_newest_entries(emulator: Emulator) -> None:
    store = emulator.state.logs
    assert store is not None
    store.retention = 100
    store.write([raw_entry(f"e{i}", i) for i in range(150)])
    kept = [e.text_payload for e in store.entries if e.log_name == LOG]
    assert len(kept) <= 100
    assert kept[-1] == "e149" and "e0" not in kept


# TailLogEntries -------------------------------------------------------


class TailReader:
    """Runs one tail session on a thread (the call blocks until the first
    response) and hands its responses over through a queue."""

    def __init__(self, client: Any, window: float | None = 0.0,
                 filter_text: str = "", paused: bool = False) -> None:
        request = TailLogEntriesRequest(resource_names=[PARENT], filter=filter_text)
        if window is not None:
            request.buffer_window = {"seconds": int(window),
                                     "nanos": int((window % 1) * 1e9)}
        self.responses: queue.Queue[Any] = queue.Queue()
        self.error: Exception | None = None
        self.ended = threading.Event()
        self.reading = threading.Event()
        if not paused:
            self.reading.set()
        self._thread = threading.Thread(
            target=self._run, args=(client, request), daemon=True)
        self._thread.start()

    def _run(self, client: Any, request: Any) -> None:
        try:
            for response in client.tail_log_entries(requests=iter([request]),
                                                    retry=None):
                self.reading.wait()
                self.responses.put(response)
        except Exception as exc:  # the test inspects it
            self.error = exc
        finally:
            self.ended.set()

    def collect(self, entries: int, suppressed: int = 0) -> list[Any]:
        """Responses until they carry ``entries`` entries and ``suppressed``
        suppression counts; fails the test at the deadline."""
        got: list[Any] = []
        deadline = time.monotonic() + DEADLINE
        while (sum(len(r.entries) for r in got) < entries
               or sum(sum(suppressed_counts(r).values()) for r in got) < suppressed):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"tail gave {got!r}, error {self.error!r}"
            try:
                got.append(self.responses.get(timeout=min(remaining, 0.2)))
            except queue.Empty:
                assert not self.ended.is_set(), f"tail ended early: {self.error!r}"
        return got


def suppressed_counts(response: Any) -> dict[str, int]:
    return {info.reason.name: info.suppressed_count
            for info in response.suppression_info}


def texts(responses: list[Any]) -> list[str]:
    return [e.text_payload for r in responses for e in r.entries]


def start_tail(emulator: Emulator, client: Any, **options: Any) -> TailReader:
    store = emulator.state.logs
    assert store is not None
    before = store.session_count()
    reader = TailReader(client, **options)
    assert store.wait_for_sessions(before + 1, DEADLINE)
    return reader


def test_tail_sends_only_new_entries_sorted_within_a_response(
    emulator: Emulator, client: Any
) -> None:
    write(client, [raw_entry("before", 0)])
    reader = start_tail(emulator, client, window=1.0)
    seconds = list(range(1, 21))
    random.Random(3).shuffle(seconds)
    write(client, [raw_entry(f"s{s}", s) for s in seconds[:10]])
    write(client, [raw_entry(f"s{s}", s) for s in seconds[10:]])

    responses = reader.collect(20)
    assert sorted(texts(responses)) == sorted(f"s{s}" for s in seconds)
    for response in responses:
        stamps = [e.timestamp.timestamp() for e in response.entries]
        assert stamps == sorted(stamps)
    # Both writes fell inside one buffer window: the second write's earlier
    # stamped entries join the first's response, so the stream is in order.
    assert texts(responses) == [f"s{s}" for s in range(1, 21)]


def test_buffer_window_defaults_to_two_seconds_and_zero_does_not_wait(
    emulator: Emulator, client: Any
) -> None:
    immediate = start_tail(emulator, client, window=0.0)
    buffered = start_tail(emulator, client, window=None)
    written = time.monotonic()
    write(client, [raw_entry("one", 1)])
    immediate.collect(1)
    immediate_delay = time.monotonic() - written
    buffered.collect(1)
    buffered_delay = time.monotonic() - written
    assert immediate_delay < 1.0
    assert buffered_delay >= 1.9


def test_tail_applies_filter_and_resource_names(
    emulator: Emulator, client: Any
) -> None:
    reader = start_tail(emulator, client, filter_text="severity>=ERROR")
    elsewhere = raw_entry("other project", 1, severity=500)
    elsewhere.log_name = "projects/elsewhere/logs/app"
    write(client, [raw_entry("info", 1, severity=200), elsewhere,
                   raw_entry("error", 2, severity=500)])
    assert texts(reader.collect(1)) == ["error"]


def test_slow_subscriber_is_bounded_and_told_not_consumed(
    emulator: Emulator, client: Any
) -> None:
    store = emulator.state.logs
    assert store is not None
    store.tail.max_queue = 20
    store.tail.batch_size = 5
    reader = start_tail(emulator, client, paused=True)
    # 64 KiB entries fill gRPC's flow-control window after a few dozen, so
    # the session stops draining its queue while the client does not read.
    total = 300
    for start in range(0, total, 10):
        store.write([raw_entry(f"big{i}" + "x" * 65_536, i)
                     for i in range(start, start + 10)])
    reader.reading.set()
    responses = reader.collect(0, suppressed=1)
    received = len(texts(responses))
    suppressed = sum(suppressed_counts(r).get("NOT_CONSUMED", 0) for r in responses)
    while received + suppressed < total:
        more = reader.collect(1)
        received += len(texts(more))
        suppressed += sum(suppressed_counts(r).get("NOT_CONSUMED", 0) for r in more)
    assert received + suppressed == total
    assert suppressed > 0 and received < 150


def test_rate_limit_is_reported(emulator: Emulator, client: Any) -> None:
    store = emulator.state.logs
    assert store is not None
    store.tail.entries_per_minute = 60
    reader = start_tail(emulator, client)
    store.write([raw_entry(f"e{i}", i) for i in range(100)])
    responses = reader.collect(60, suppressed=1)
    limited = sum(suppressed_counts(r).get("RATE_LIMIT", 0) for r in responses)
    assert len(texts(responses)) == 60 and limited == 40


def test_tail_cut_every_n_entries(emulator: Emulator, client: Any) -> None:
    emulator.faults.set("tail-cut-every=5")
    reader = start_tail(emulator, client)
    write(client, [raw_entry(f"e{i}", i) for i in range(12)])
    assert reader.ended.wait(DEADLINE)
    assert isinstance(reader.error, exceptions.ServiceUnavailable)
    assert texts(reader.collect(5)) == [f"e{i}" for i in range(5)]
    # A reconnecting client gets a new session and entries written after it.
    again = start_tail(emulator, client)
    write(client, [raw_entry("later", 20)])
    assert texts(again.collect(1)) == ["later"]


def test_tail_cut_random_certain(emulator: Emulator, client: Any) -> None:
    emulator.faults.set("tail-cut-random=1")
    reader = start_tail(emulator, client)
    write(client, [raw_entry(f"e{i}", i) for i in range(3)])
    assert reader.ended.wait(DEADLINE)
    assert isinstance(reader.error, exceptions.ServiceUnavailable)
    assert texts(reader.collect(1)) == ["e0"]


@pytest.mark.parametrize(
    ("options", "words"),
    [({"filter_text": "severity>=LOUD"}, "column 11"),
     ({"window": 61.0}, "Invalid buffer_window")],
)
def test_tail_refusals(client: Any, options: dict[str, Any], words: str) -> None:
    reader = TailReader(client, **options)
    assert reader.ended.wait(DEADLINE)
    assert isinstance(reader.error, exceptions.InvalidArgument)
    assert words in str(reader.error)


def test_session_limit(emulator: Emulator, client: Any) -> None:
    store = emulator.state.logs
    assert store is not None
    store.tail.max_sessions = 1
    start_tail(emulator, client)
    refused = TailReader(client)
    assert refused.ended.wait(DEADLINE)
    assert isinstance(refused.error, exceptions.ResourceExhausted)


def test_closing_the_store_ends_tails_cleanly(emulator: Emulator, client: Any) -> None:
    store = emulator.state.logs
    assert store is not None
    reader = start_tail(emulator, client)
    write(client, [raw_entry("last", 1)])
    reader.collect(1)
    store.close()
    assert reader.ended.wait(DEADLINE)
    assert reader.error is None
    assert store.wait_for_sessions(0, DEADLINE)
