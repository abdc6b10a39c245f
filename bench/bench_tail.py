"""Tail throughput from the emulator to the official LoggingServiceV2Client.

For each response batch size (entries per TailLogEntriesResponse) the log
store is fed request-log entries as fast as it takes them while one tail
session drains them to the client; the figure is entries received per second
from the first write to the last entry in hand. Also measured: the store's
write rate and a typical console filter's evaluation rate, the two costs on
the writer's side of every tail.

Run: .venv/bin/python bench/bench_tail.py
"""

from __future__ import annotations

import threading
import time
from typing import Any

from google.cloud.appengine_logging_v1.types import RequestLog
from google.cloud.logging_v2.types import LogEntry, TailLogEntriesRequest

from deployconsole.emulator.filters import compile_filter
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.gcp.channel import Endpoint, logging_client

PROJECT = "bench-tail"
FILTER = (
    'resource.type="gae_app" AND logName:"request_log" '
    "AND (severity>=ERROR OR protoPayload.status>=500)"
)
ENTRIES_FOR_BATCH = {1: 5_000, 100: 50_000, 1000: 100_000}


def request_entries(count: int) -> list[Any]:
    entries = []
    for i in range(count):
        entry = LogEntry.pb()(
            log_name=f"projects/{PROJECT}/logs/appengine.googleapis.com%2Frequest_log",
            severity=500 if i % 10 == 0 else 200,
        )
        entry.resource.type = "gae_app"
        entry.resource.labels.update(
            {"module_id": "default", "version_id": "v2", "zone": "us-central1-1"}
        )
        payload = RequestLog.pb()(
            status=500 if i % 10 == 0 else 200, module_id="default", version_id="v2",
            method="GET", resource=f"/items/{i}", ip="203.0.113.7",
            user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        )
        payload.line.add(log_message=f"Handling item {i}", severity=200)
        entry.proto_payload.Pack(payload)
        entry.http_request.status = payload.status
        entries.append(entry)
    return entries


def tail_rate(batch_size: int, count: int) -> float:
    emulator = Emulator(EmulatorOptions(run_traffic=False)).start()
    try:
        store = emulator.state.logs
        assert store is not None
        store.tail.batch_size = batch_size
        store.tail.entries_per_minute = 0
        store.tail.max_queue = count
        client = logging_client(Endpoint(PROJECT, emulator.address))
        entries = request_entries(count)
        received = 0
        done = threading.Event()

        def read() -> None:
            nonlocal received
            request = TailLogEntriesRequest(
                resource_names=[f"projects/{PROJECT}"], buffer_window={"seconds": 0}
            )
            for response in client.tail_log_entries(requests=iter([request])):
                received += len(response.entries)
                if received >= count:
                    done.set()
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        if not store.wait_for_sessions(1, 10.0):
            raise RuntimeError("the tail session did not start")
        started = time.perf_counter()
        for start in range(0, count, 1000):
            store.write(entries[start : start + 1000])
        if not done.wait(120.0):
            raise RuntimeError(f"only {received} of {count} entries arrived")
        elapsed = time.perf_counter() - started
        store.close()
        return count / elapsed
    finally:
        emulator.stop()


def write_rate(count: int = 100_000) -> float:
    emulator = Emulator(EmulatorOptions(run_traffic=False))
    store = emulator.state.logs
    assert store is not None
    entries = request_entries(count)
    started = time.perf_counter()
    for start in range(0, count, 100):
        store.write(entries[start : start + 100])
    return count / (time.perf_counter() - started)


def filter_rate(count: int = 50_000) -> float:
    predicate = compile_filter(FILTER)
    entries = request_entries(count)
    started = time.perf_counter()
    matched = sum(1 for entry in entries if predicate(entry))
    elapsed = time.perf_counter() - started
    assert matched == count // 10, matched
    return count / elapsed


def main() -> None:
    for batch_size, count in ENTRIES_FOR_BATCH.items():
        rate = tail_rate(batch_size, count)
        print(f"tail_batch_{batch_size}: {rate:.0f} entries/s")
    print(f"logstore_write: {write_rate():.0f} entries/s")
    print(f"filter_eval_request_log: {filter_rate():.0f} entries/s")


if __name__ == "__main__":
    main()
