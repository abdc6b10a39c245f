"""Fakes for the sign-in tests (no tests here): an in-memory keyring, a
Google authorization + token server on loopback, an emulator that requires
auth, and checks that no secret reached a file or a log line."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import logging
import os
import secrets
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keyring
import platformdirs
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt
from keyring.backend import KeyringBackend

from deployconsole.emulator.scenario import ScenarioOptions
from deployconsole.emulator.server import Emulator, EmulatorOptions
from deployconsole.emulator.state import EmulatorConfig
from deployconsole.gcp.channel import Endpoint

PROJECT = "auth-test-project"


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in memory (priority > 0: usable)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


def new_token(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


@dataclass
class FakeGoogle:
    """Authorization and token endpoints on loopback.

    Every access token it issues is granted ``role`` in the emulator.
    Attributes list every secret handed out, for the leak checks.
    """

    emulator: Emulator
    role: str = "roles/appengine.serviceAdmin"
    email: str = "dev@example.com"
    client_id: str = "test-client.apps.googleusercontent.com"
    client_secret: str = field(default_factory=lambda: new_token("client-secret"))
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    service_account_keys: dict[str, bytes] = field(default_factory=dict)
    grants: list[str] = field(default_factory=list)
    _server: Any = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def auth_uri(self) -> str:
        return f"{self.base}/auth"

    @property
    def token_uri(self) -> str:
        return f"{self.base}/token"

    def start(self) -> FakeGoogle:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake._authorize(self)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                status, body = fake._token(form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the "browser": consent, then the redirect -------------------------

    def _authorize(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(handler.path).query))
        assert query["client_id"] == self.client_id
        assert query["code_challenge_method"] == "S256"
        code = new_token("code")
        self.codes[code] = query
        self.issued.append(code)
        target = query["redirect_uri"] + "?" + urllib.parse.urlencode(
            {"code": code, "state": query["state"]}
        )
        handler.send_response(302)
        handler.send_header("Location", target)
        handler.end_headers()

    def browser(self, url: str) -> bool:
        """Stands in for webbrowser.open: the user consents at once."""
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"Signed in" in response.read()
        return True

    # -- the token endpoint -----------------------------------------------

    def _access_token(self) -> dict[str, Any]:
        token = new_token("ya29")
        self.issued.append(token)
        self.emulator.auth.grant(token, self.role)
        return {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if grant == "authorization_code":
            query = self.codes.pop(form.get("code", ""), None)
            if query is None or form.get("client_secret") != self.client_secret:
                return 400, {"error": "invalid_grant", "error_description": "Bad code."}
            digest = hashlib.sha256(form["code_verifier"].encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if challenge != query["code_challenge"]:
                return 400, {"error": "invalid_grant", "error_description": "PKCE."}
            assert form["redirect_uri"] == query["redirect_uri"]
            refresh = new_token("1//refresh")
            self.issued.append(refresh)
            claims = base64.urlsafe_b64encode(
                json.dumps({"email": self.email}).encode()
            ).decode().rstrip("=")
            return 200, {
                **self._access_token(),
                "refresh_token": refresh,
                "id_token": f"e30.{claims}.sig",
                "scope": query["scope"],
            }
        if grant == "refresh_token":
            if form.get("refresh_token") in self.revoked:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                }
            return 200, self._access_token()
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            claims = jwt.decode(
                form["assertion"], certs=self.service_account_keys, audience=None
            )
            # google-auth names Google's token endpoint as the audience
            # whatever token_uri says.
            if not claims.get("iss", "").endswith(".iam.gserviceaccount.com"):
                return 400, {"error": "invalid_grant", "error_description": "JWT."}
            return 200, self._access_token()
        return 400, {"error": "unsupported_grant_type"}

    # -- a service account ------------------------------------------------

    def service_account_key(self) -> dict[str, str]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        key_id = secrets.token_hex(8)
        self.service_account_keys[key_id] = key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": f"deployer@{PROJECT}.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": self.token_uri,
        }


def start_emulator(require_auth: bool = True, project: str = PROJECT) -> Emulator:
    options = EmulatorOptions(
        config=EmulatorConfig(
            project_id=project, operation_delay=0.05, migration_delay=0.1
        ),
        scenario=ScenarioOptions(name="staged", seed=1),
        run_traffic=False,
        require_auth=require_auth,
    )
    return Emulator(options).start()


@pytest.fixture()
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture()
def auth_emulator() -> Iterator[Emulator]:
    emulator = start_emulator()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture()
def fake_google(auth_emulator: Emulator) -> Iterator[FakeGoogle]:
    fake = FakeGoogle(auth_emulator).start()
    try:
        yield fake
    finally:
        fake.stop()


def endpoint(emulator: Emulator, identity: Any = None) -> Endpoint:
    return Endpoint(emulator.state.project_id, emulator.address, credentials=identity)


def write_adc(tmp_path: Path, fake: FakeGoogle, monkeypatch: pytest.MonkeyPatch) -> str:
    """ADC as ``gcloud auth application-default login`` leaves them, with
    Google's token endpoint pointed at the fake."""
    refresh = "1//adc-refresh-" + "x" * 20
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    (gcloud / "application_default_credentials.json").write_text(json.dumps({
        "type": "authorized_user",
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "refresh_token": refresh,
        "quota_project_id": PROJECT,
        "account": "",
    }), encoding="utf-8")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(gcloud))
    monkeypatch.setattr(
        "google.oauth2.credentials._GOOGLE_OAUTH2_TOKEN_ENDPOINT", fake.token_uri
    )
    return refresh


# -- leak checks -------------------------------------------------------------


def console_dirs() -> list[Path]:
    """The console's config, data, cache and log directories."""
    return [
        Path(platformdirs.user_config_dir("deployconsole", appauthor=False)),
        Path(platformdirs.user_data_dir("deployconsole", appauthor=False)),
        Path(platformdirs.user_cache_dir("deployconsole", appauthor=False)),
        Path(platformdirs.user_log_dir("deployconsole", appauthor=False)),
    ]


def files_under(roots: Iterable[Path]) -> list[Path]:
    found = []
    for root in roots:
        for folder, _, names in os.walk(root):
            found += [Path(folder) / name for name in names]
    return found


def key_fragments(info: dict[str, str]) -> list[str]:
    """Pieces of a private key that no file or log may hold."""
    body = [line for line in info["private_key"].splitlines() if "-----" not in line]
    return [body[1], body[len(body) // 2], body[-2]]


def assert_no_secret_in_files(roots: Iterable[Path], secrets_: Iterable[str]) -> int:
    """Fail if a file under ``roots`` holds a secret; the files checked."""
    wanted = [s for s in secrets_ if s]
    assert wanted, "nothing to look for"
    files = files_under(roots)
    for path in files:
        data = path.read_bytes()
        for secret in wanted:
            assert secret.encode() not in data, f"{path} holds a secret"
    return len(files)


class LogCapture(logging.Handler):
    """Every record at any level, from the root and google's own loggers
    (google-auth stops its loggers propagating unless configured)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        out = []
        for record in self.records:
            out.append(record.getMessage())
            out.append(repr(record.__dict__))
            if record.exc_info and record.exc_info[1] is not None:
                out.append(repr(record.exc_info[1]))
        return out


@pytest.fixture()
def log_capture() -> Iterator[LogCapture]:
    handler = LogCapture()
    loggers = [logging.getLogger(), logging.getLogger("google")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def assert_no_secret_logged(capture: LogCapture, secrets_: Iterable[str]) -> None:
    wanted = [s for s in secrets_ if s]
    assert capture.records, "nothing was logged: the check would prove nothing"
    for text in capture.texts():
        for secret in wanted:
            assert secret not in text, f"a log record holds a secret: {text[:200]}"
