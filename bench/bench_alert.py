"""Live errors without the window: alert latency and retained memory.

The emulator runs in a child process, as Cloud Logging runs elsewhere, so
its writer and gRPC threads do not compete with the pipeline for this
process's interpreter lock. This process runs what the window runs under
its panels: one TailSession into an IngestPipeline, drained by a 100 ms
timer (a thread here, the GUI's QTimer there).

Prints ``name: value unit`` lines:

- alert_latency_{p50,p95,max}_request_log: seconds from an error entry
  written to the emulator to its "new error group" alert coming out of a
  drain, over 50 errors (goal: p95 <= 1 s). These are python27 request
  logs with the traceback in their app lines, one new group each, amid
  healthy traffic of 50 requests/s.
- alert_latency_{p50,p95,max}_stderr: the same for python3 stderr
  tracebacks written alone, which the ingest path holds for a next part of
  the chain (reassembly hold) before it can call them complete.
- rss_before_entries / rss_100k_entries: resident memory of a fresh
  process with an IngestPipeline, before and after 100,000 realistic
  entries are retained in it (goal for the whole console <= 400 MB).

Run: .venv/bin/python bench/bench_alert.py [--errors 50]
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import statistics
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from bench_entries import log_entry, resident_mb, start_emulator

PROJECT_VERSION = ("default", "v1")
DRAIN_INTERVAL = 0.1
_NUMBER = re.compile(r"Bench(?:Stderr)?Error(\d+)")


# -- the child: an emulator, healthy traffic, errors on demand --------------------


def _child(conn: Connection) -> None:
    emulator, store = start_emulator()
    project = "bench-alert"
    stop = threading.Event()

    def healthy_traffic() -> None:
        n = 0
        while not stop.wait(0.02):
            store.write([log_entry(project, "request", n)])
            n += 1

    threading.Thread(target=healthy_traffic, daemon=True).start()
    conn.send((emulator.address, project))
    try:
        while True:
            command, *args = conn.recv()
            if command == "stop":
                break
            if command == "sessions":
                conn.send(store.wait_for_sessions(args[0], 30.0))
            elif command == "error":
                kind, n = args
                entry = log_entry(project, kind, n)
                written = time.time()
                store.write([entry])
                conn.send(written)
    finally:
        stop.set()
        emulator.stop()


# -- this process: tail, pipeline, a 100 ms drain ------------------------------------


class Drainer:
    """Drains the pipeline every 100 ms; notes when each alert came out."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.seen: dict[int, float] = {}
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self.stop.is_set():
            next_tick += DRAIN_INTERVAL
            self.stop.wait(max(0.0, next_tick - time.monotonic()))
            batch = self.pipeline.drain()
            now = time.time()
            with self.cond:
                for alert in batch.alerts:
                    match = _NUMBER.search(alert.headline)
                    if match and alert.kind == "new_error_group":
                        self.seen.setdefault(int(match.group(1)), now)
                self.cond.notify_all()

    def wait_for(self, n: int, timeout: float = 10.0) -> float | None:
        with self.cond:
            self.cond.wait_for(lambda: n in self.seen, timeout)
            return self.seen.get(n)


def measure_latency(errors: int) -> dict[str, list[float]]:
    from deployconsole.core.alerts import AlertSettings
    from deployconsole.core.ingest import IngestPipeline, IngestSettings
    from deployconsole.gcp.channel import Endpoint
    from deployconsole.gcp.logs import TailSession

    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    child = context.Process(target=_child, args=(child_conn,), daemon=True)
    child.start()
    address, project = conn.recv()
    # Every error here is deliberately new; the grace for what was there
    # before the console looked would only delay the first ones.
    settings = IngestSettings(alerts=AlertSettings(new_group_grace_seconds=0))
    pipeline = IngestPipeline(settings)
    pipeline.set_traffic({"default": {"v1": 1.0}})
    session = TailSession(Endpoint(project, address), _scope(), pipeline).start()
    drainer = Drainer(pipeline)
    latencies: dict[str, list[float]] = {"request_log": [], "stderr": []}
    try:
        conn.send(("sessions", 1))
        assert conn.recv(), "the tail never connected"
        time.sleep(1.0)  # let healthy traffic flow first, as in a real project
        for kind, name, base in (
            ("request_error", "request_log", 0),
            ("stderr_error", "stderr", 100_000),
        ):
            for n in range(base, base + errors):
                conn.send(("error", kind, n))
                written = conn.recv()
                seen = drainer.wait_for(n)
                if seen is None:
                    print(f"# error {n} ({name}) raised no alert within 10 s")
                    continue
                latencies[name].append(seen - written)
                time.sleep(0.05)
    finally:
        drainer.stop.set()
        session.stop()
        conn.send(("stop",))
        child.join(10)
    return latencies


def _scope() -> Any:
    from deployconsole.gcp.tail_filter import TailScope

    return TailScope()


# -- memory, in a fresh process ------------------------------------------------------


def _memory_child(conn: Connection, count: int) -> None:
    import gc

    from deployconsole.core.ingest import IngestPipeline
    from deployconsole.gcp.entries import record_from_pb

    pipeline = IngestPipeline()
    gc.collect()
    before = resident_mb()
    kinds = ["request"] * 90 + ["stderr_line"] * 7 + ["request_error"] * 2
    kinds += ["stderr_error"]
    base = 1_764_000_000
    for first in range(0, count, 1_000):
        records = []
        for n in range(first, first + 1_000):
            entry = log_entry("bench-memory", kinds[n % len(kinds)], n % 5_000)
            entry.insert_id = f"{base + n:08x}{n:06x}5d6113a2"
            entry.timestamp.FromNanoseconds((base + n // 50) * 1_000_000_000)
            records.append(record_from_pb(entry))
        pipeline.add_records(records)
        pipeline.drain()
    pipeline.finish()
    gc.collect()
    conn.send((before, resident_mb(), pipeline.retained()))


def measure_memory(count: int = 100_000) -> tuple[float, float, int]:
    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    child = context.Process(target=_memory_child, args=(child_conn, count))
    child.start()
    result = conn.recv()
    child.join(30)
    return result  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--errors", type=int, default=50)
    args = parser.parse_args()

    latencies = measure_latency(args.errors)
    for name, values in latencies.items():
        if not values:
            print(f"alert_latency_p95_{name}: nan s")
            continue
        ordered = sorted(values)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        print(f"alert_latency_p50_{name}: {statistics.median(ordered):.3f} s")
        print(f"alert_latency_p95_{name}: {p95:.3f} s")
        print(f"alert_latency_max_{name}: {ordered[-1]:.3f} s")
        print(f"alerts_measured_{name}: {len(values)} alerts")

    before, after, retained = measure_memory()
    print(f"rss_before_entries: {before:.0f} MB")
    print(f"rss_100k_entries: {after:.0f} MB")
    print(f"retained_entries: {retained} entries")
    per_entry = (after - before) * 1024 * 1024 / retained
    print(f"bytes_per_retained_entry: {per_entry:.0f} B")


if __name__ == "__main__":
    main()
