"""Loopback HTTP endpoints where each emulated version answers requests.

App Engine reaches a version at VERSION-dot-SERVICE-dot-PROJECT; without
DNS on loopback the service and version sit in the path instead:

- ``/_v/SERVICE/VERSION/<path>``: that version answers (``version_url``).
- ``/_s/SERVICE/<path>``: the service's live split picks the version.
- ``/_v/SERVICE/VERSION/_ah/warmup``: App Engine's warmup request, for a
  version with warmup enabled: 200 once the app imports, 500 when it fails
  to import. Without warmup enabled the app itself answers the path.

Each request is served like the scenario's traffic (behaviour, instance,
status, latency) and writes the same log entries. Unknown services and
versions get App Engine's 404 page. A STOPPED version answers 503 with
App Engine's "not available" page and is logged without an instance: the
front end, not the app, answers it (the emulator's reading of how App
Engine treats a stopped version's URL).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from deployconsole.emulator import world
from deployconsole.emulator.requestlogs import RequestRecord, build_entries, zone
from deployconsole.emulator.state import EmulatorState

log = logging.getLogger("deployconsole.emulator.http")

_NOT_FOUND = (
    "<html><head><title>404 Not Found</title></head><body>\n"
    "<h1>Error: Not Found</h1>\n"
    "<h2>The requested URL <code>{path}</code> was not found on this server.</h2>\n"
    "</body></html>\n"
)
_SERVER_ERROR = (
    "<html><head><title>500 Server Error</title></head><body>\n"
    "<h1>Error: Server Error</h1>\n"
    "<h2>The server encountered an error and could not complete your request."
    "<p>Please try again in 30 seconds.</h2>\n"
    "</body></html>\n"
)
_UNAVAILABLE = (
    "<html><head><title>503 Service Unavailable</title></head><body>\n"
    "<h1>Error: Service Unavailable</h1>\n"
    "<h2>The service you requested is not available at this time.<p>Service "
    "error -27.</h2>\n"
    "</body></html>\n"
)


class VersionHttpServer:
    """Serves every version's URL; ``start()`` sets ``state.http_base``.

    ``max_delay`` caps how long a response is held back to show a version's
    latency, so a slow or timing-out version does not hold a caller for a
    minute; the log still records the full latency.
    """

    def __init__(self, state: EmulatorState, max_delay: float = 3.0) -> None:
        self.state = state
        self.max_delay = max_delay
        self._zone = zone(state.config.location_id)
        # HTTP callers arrive in no fixed order, so their draws have their
        # own generator and never disturb the seeded traffic's.
        self._rng = random.Random(state.faults.seed + 7919)
        self._rng_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else 0

    def start(self) -> None:
        if self._server is not None:
            return
        handler = type("Handler", (_Handler,), {"endpoints": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        self.state.http_base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="emulator-http",
            daemon=True,
        )
        self._thread.start()
        log.info("Version endpoints listening on %s.", self.state.http_base)

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = None
        self._thread = None

    # -- serving -------------------------------------------------------------------

    def respond(self, method: str, raw_path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request; logs it."""
        parts = raw_path.split("?", 1)
        segments = parts[0].split("/")
        query = "?" + parts[1] if len(parts) > 1 else ""
        if len(segments) >= 4 and segments[1] == "_v" and segments[3:4] != [""]:
            service, version = unquote(segments[2]), unquote(segments[3])
            rest = "/" + "/".join(segments[4:])
        elif len(segments) >= 3 and segments[1] == "_s" and segments[2]:
            service, rest = unquote(segments[2]), "/" + "/".join(segments[3:])
            picked = self._route(service)
            if picked is None:
                return self._not_found(raw_path)
            version = picked
        else:
            return self._not_found(raw_path)
        path = rest + query
        warmup = rest == "/_ah/warmup" and self._has_warmup(service, version)

        with self._rng_lock:
            record = world.serve(
                self.state,
                service,
                version,
                self.state.clock.now(),
                self._rng,
                method=method,
                path=path,
                warmup=warmup,
            )
        if record is None:
            return self._not_found(raw_path)
        if self.state.logs is not None:
            entries = build_entries(self.state.project_id, self._zone, record)
            self.state.logs.write(entries)
        time.sleep(min(record.latency, self.max_delay))
        return self._page(record, warmup)

    def _route(self, service: str) -> str | None:
        try:
            split = self.state.split_of(service)
        except KeyError:
            return None
        # FIXME(shard-by): every loopback caller shares one IP, so IP
        # sharding would pin all of them to one version; every request is
        # routed at random by the allocations instead.
        with self._rng_lock:
            roll = self._rng.random() * sum(split.values())
        chosen = None
        for version, allocation in split.items():
            chosen = version
            if roll < allocation:
                break
            roll -= allocation
        return chosen

    def _has_warmup(self, service: str, version: str) -> bool:
        with self.state.lock:
            found = self.state.versions.get(service, {}).get(version)
            return found is not None and world.WARMUP in found.inbound_services

    def _not_found(self, raw_path: str) -> tuple[int, str, bytes]:
        body = _NOT_FOUND.replace("{path}", raw_path.split("?", 1)[0])
        return 404, "text/html; charset=UTF-8", body.encode()

    def _page(self, record: RequestRecord, warmup: bool) -> tuple[int, str, bytes]:
        if record.status == 503:
            return 503, "text/html; charset=UTF-8", _UNAVAILABLE.encode()
        if record.status >= 500:
            return record.status, "text/html; charset=UTF-8", _SERVER_ERROR.encode()
        if warmup:
            return 200, "text/plain; charset=UTF-8", b""
        body = {
            "service": record.service,
            "version": record.version,
            "instance": record.instance_id,
            "path": record.path,
        }
        return 200, "application/json", json.dumps(body).encode() + b"\n"


class _Handler(BaseHTTPRequestHandler):
    endpoints: VersionHttpServer
    protocol_version = "HTTP/1.1"
    server_version = "Google Frontend"
    sys_version = ""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        try:
            status, content_type, body = self.endpoints.respond(self.command, self.path)
        except Exception:
            log.exception("Serving %s %s failed.", self.command, self.path)
            status, content_type, body = 500, "text/html", _SERVER_ERROR.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def log_message(self, format: str, *args: object) -> None:
        log.debug("HTTP %s", format % args)
