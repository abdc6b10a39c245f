"""The browser sign-in (installed-app flow) against a fake authorization and
token server on loopback; the "browser" is a function that follows the
consent URL."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest
from test_auth_fakes import (
    PROJECT,
    FakeGoogle,
    LogCapture,
    MemoryKeyring,
    assert_no_secret_in_files,
    assert_no_secret_logged,
    auth_emulator,
    console_dirs,
    fake_google,
    log_capture,
    memory_keyring,
)

from deployconsole.core.permissions import SignInRequired
from deployconsole.core.projects import ProjectRegistry, SignInKind
from deployconsole.core.settings import Settings
from deployconsole.emulator.server import Emulator
from deployconsole.gcp import auth
from deployconsole.gcp.admin import AdminClient
from deployconsole.gcp.auth_oauth import OAuthClient, SignInError, run_flow

__all__ = ["auth_emulator", "fake_google", "log_capture", "memory_keyring"]

pytestmark = pytest.mark.usefixtures("isolated_home")


def client_file(tmp_path: Path, fake: FakeGoogle) -> Path:
    path = tmp_path / "client_secret.json"
    path.write_text(json.dumps({"installed": {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "auth_uri": fake.auth_uri,
        "token_uri": fake.token_uri,
    }}), encoding="utf-8")
    return path


def test_browser_sign_in_keeps_only_a_refresh_token_in_the_keyring(
    tmp_path: Path,
    fake_google: FakeGoogle,
    auth_emulator: Emulator,
    memory_keyring: MemoryKeyring,
    log_capture: LogCapture,
) -> None:
    opened: list[str] = []

    def browser(url: str) -> bool:
        opened.append(url)
        return fake_google.browser(url)

    entry = auth.sign_in(
        SignInKind.USER, PROJECT, str(client_file(tmp_path, fake_google)),
        open_browser=browser, timeout=20,
    )
    assert len(opened) == 1 and opened[0].startswith(fake_google.auth_uri)
    assert entry.sign_in is SignInKind.USER and entry.account == "dev@example.com"
    stored = json.loads(memory_keyring.entries[("deployconsole", entry.keyring_ref)])
    assert stored["refresh_token"] in fake_google.issued
    assert "access_token" not in stored and "token" not in stored

    registry = ProjectRegistry(Settings())
    registry.add(dataclasses.replace(entry, emulator=auth_emulator.address))
    target = auth.endpoint_for(PROJECT, auth_emulator.address, registry=registry)
    with AdminClient(target, retry_deadline=0.5) as admin:
        assert admin.list_services()
        # The access token expires: the console refreshes it and goes on.
        for token in list(fake_google.issued):
            auth_emulator.auth.revoke(token)
        refreshes = fake_google.grants.count("refresh_token")
        assert admin.list_services()
        assert fake_google.grants.count("refresh_token") == refreshes + 1

    secrets_ = [*fake_google.issued, fake_google.client_secret]
    assert assert_no_secret_in_files(console_dirs(), secrets_) >= 1
    assert_no_secret_logged(log_capture, secrets_)


def test_a_revoked_refresh_token_is_a_sign_in_prompt_not_a_traceback(
    tmp_path: Path,
    fake_google: FakeGoogle,
    auth_emulator: Emulator,
    memory_keyring: MemoryKeyring,
    log_capture: LogCapture,
) -> None:
    entry = auth.sign_in(
        SignInKind.USER, PROJECT, str(client_file(tmp_path, fake_google)),
        open_browser=fake_google.browser, timeout=20,
    )
    stored = json.loads(memory_keyring.entries[("deployconsole", entry.keyring_ref)])
    fake_google.revoked.add(stored["refresh_token"])
    identity = auth.identity_for(entry)
    target = auth.Endpoint(PROJECT, auth_emulator.address, credentials=identity)
    with AdminClient(target, retry_deadline=0.5) as admin:
        with pytest.raises(SignInRequired) as caught:
            admin.list_services()
    assert caught.value.message == (
        f"Sign in again for {PROJECT}: invalid_grant: Token has been expired or "
        "revoked. Sign in again in the browser: Projects (Ctrl+O), Sign in again."
    )
    assert_no_secret_logged(log_capture, fake_google.issued)


def test_refusing_in_the_browser_says_so(fake_google: FakeGoogle) -> None:
    client = OAuthClient(fake_google.client_id, "s", fake_google.auth_uri,
                         fake_google.token_uri)

    def refuse(url: str) -> None:
        import urllib.parse
        import urllib.request

        query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
        back = query["redirect_uri"] + "?error=access_denied&state=" + query["state"]
        urllib.request.urlopen(back, timeout=10).read()

    with pytest.raises(SignInError, match=r"refused in the browser \(access_denied\)"):
        run_flow(client, open_browser=refuse, timeout=20)


def test_an_answer_for_another_sign_in_is_not_trusted(fake_google: FakeGoogle) -> None:
    client = OAuthClient(fake_google.client_id, "s", fake_google.auth_uri,
                         fake_google.token_uri)

    def forged(url: str) -> None:
        import urllib.parse
        import urllib.request

        query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
        urllib.request.urlopen(
            query["redirect_uri"] + "?code=stolen&state=other", timeout=10
        ).read()

    with pytest.raises(SignInError, match="state mismatch"):
        run_flow(client, open_browser=forged, timeout=20)
    assert "authorization_code" not in fake_google.grants


def test_cancelling_stops_waiting_for_the_browser(fake_google: FakeGoogle) -> None:
    client = OAuthClient(fake_google.client_id, "s", fake_google.auth_uri,
                         fake_google.token_uri)
    cancelled = threading.Event()
    with pytest.raises(SignInError, match="cancelled"):
        run_flow(client, open_browser=lambda url: cancelled.set(), timeout=60,
                 cancelled=cancelled)


@pytest.mark.parametrize(
    ("content", "expected"),
    [("[]", "not a desktop OAuth client"), ('{"web": {"client_id": "x"}}',
     "not a desktop OAuth client"), ("{", "not JSON")],
)
def test_a_wrong_client_file_is_refused_plainly(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "client.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SignInError, match=expected):
        OAuthClient.from_file(path)


def test_no_browser_says_so_and_offers_the_other_paths(fake_google: FakeGoogle) -> None:
    client = OAuthClient(fake_google.client_id, "s", fake_google.auth_uri,
                         fake_google.token_uri)
    with pytest.raises(SignInError, match="No web browser could be opened"):
        run_flow(client, open_browser=lambda url: False, timeout=60)
