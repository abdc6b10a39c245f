"""What the live-errors benchmarks share: the emulator their child process
runs, entries as the platform writes them, and resident memory."""

from __future__ import annotations

from typing import Any

PY27_ROOT = "/base/data/home/apps/s~bench/v1.123456789012345678"
REQUEST_LOG = "appengine.googleapis.com%2Frequest_log"


def log_entry(project: str, kind: str, n: int) -> Any:
    """One raw LogEntry of ``default``/``v1`` as App Engine writes it.

    ``kind``: ``request`` (200), ``request_5xx`` (500, no traceback),
    ``request_error`` (500, a python27 traceback in its app lines, of a
    type named after ``n``: a new error group per ``n``), ``stderr_error``
    (a python3 traceback on stderr, without severity, also new per ``n``)
    or ``stderr_line``.
    """
    from google.cloud.appengine_logging_v1.types import RequestLog
    from google.cloud.logging_v2.types import LogEntry

    entry = LogEntry.pb()()
    entry.resource.type = "gae_app"
    entry.resource.labels.update(
        {"project_id": project, "module_id": "default", "version_id": "v1"}
    )
    if kind in ("stderr_error", "stderr_line"):
        entry.log_name = f"projects/{project}/logs/stderr"
        entry.labels["clone_id"] = f"00c61b117c{n % 50:06d}"
        entry.text_payload = (
            (
                "Traceback (most recent call last):\n"
                '  File "/workspace/main.py", line 31, in handler\n'
                "    return checkout(cart)\n"
                f'  File "/workspace/shop/bench_{n}.py", line 12, in checkout\n'
                f'    raise BenchStderrError{n}("cart {n} is gone")\n'
                f"shop.errors.BenchStderrError{n}: cart {n} is gone"
            )
            if kind == "stderr_error"
            else f"INFO:shop.cart:cart {n} priced in 12 ms"
        )
        return entry
    payload = RequestLog.pb()(
        module_id="",
        version_id="v1",
        method="GET",
        resource=f"/items/{n}",
        ip="203.0.113.7",
        instance_id=f"00c61b117c{n % 50:06d}",
    )
    payload.latency.FromNanoseconds(40_000_000 + (n % 97) * 1_000_000)
    status = 200
    if kind == "request_5xx":
        status = 500
        entry.severity = 500
    elif kind == "request_error":
        status = 500
        entry.severity = 500
        line = payload.line.add(severity=500)
        line.log_message = (
            "Traceback (most recent call last):\n"
            f'  File "{PY27_ROOT}/main.py", line 20, in get\n'
            "    self.handle()\n"
            f'  File "{PY27_ROOT}/bench_{n}.py", line 8, in handle\n'
            f'    raise BenchError{n}("order {n}")\n'
            f"BenchError{n}: order {n}"
        )
    payload.status = status
    entry.log_name = f"projects/{project}/logs/{REQUEST_LOG}"
    entry.proto_payload.Pack(payload)
    entry.http_request.status = status
    return entry


def resident_mb() -> float:
    """Resident memory of this process, in MB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def start_emulator() -> tuple[Any, Any]:
    """A started emulator on the staged scenario (``default`` serves ``v1``),
    without its own traffic, and its log store."""
    from deployconsole.emulator.scenario import ScenarioOptions
    from deployconsole.emulator.server import Emulator, EmulatorOptions

    emulator = Emulator(
        EmulatorOptions(scenario=ScenarioOptions(name="staged"), run_traffic=False)
    ).start()
    store = emulator.state.logs
    assert store is not None
    return emulator, store
