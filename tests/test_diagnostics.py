"""The log file, the ring buffer, and the diagnostics text: no secrets."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployconsole import logsetup
from deployconsole.ui.diagnostics import diagnostics_text

ACCESS_TOKEN = "ya29.a0AfH6SMBx3kLm_fake-token.value"
REFRESH_TOKEN = "1//0gFAKEfakeREFRESHtoken-abcdefghijk"
API_KEY = "AIzaSyA1234567890abcdefghijklmnopqrstu"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
PRIVATE_KEY = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
    "-----END PRIVATE KEY-----"
)
KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
SECRETS = (ACCESS_TOKEN, REFRESH_TOKEN, API_KEY, JWT, KEY_BODY)


@pytest.fixture()
def installed(tmp_path: Path) -> Iterator[logsetup.LogSetup]:
    root = logging.getLogger()
    level = root.level
    setup = logsetup.install(log_dir=tmp_path / "log")
    try:
        yield setup
    finally:
        logsetup.uninstall()
        root.setLevel(level)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"Authorization: Bearer {ACCESS_TOKEN}", "Authorization: [redacted]"),
        (f"token {ACCESS_TOKEN} expired", "token [redacted] expired"),
        (f'{{"refresh_token": "{REFRESH_TOKEN}"}}', '"refresh_token": "[redacted]"'),
        (f"GET /v1/x?key=1&api_key={API_KEY}", "api_key=[redacted]"),
        (f"id token {JWT}", "id token [redacted]"),
        (f'"private_key": "{PRIVATE_KEY}"', '"private_key": "[redacted]'),
        ("password=hunter2 user=me", "password=[redacted] user=me"),
        ("client_secret: GOCSPX-abcdef123", "client_secret: [redacted]"),
    ],
)
def test_scrub_removes_credentials_and_keeps_the_rest(text: str, kept: str) -> None:
    scrubbed = logsetup.scrub(text)
    assert kept in scrubbed
    for secret in (*SECRETS, "hunter2", "GOCSPX-abcdef123"):
        assert secret not in scrubbed


def test_scrub_leaves_ordinary_log_lines_alone() -> None:
    line = (
        "Operation apps/shop/operations/709d2e80 finished: default now serves "
        "v2-ok 100% (by ip); insert_id=abc123 version=v2"
    )
    assert logsetup.scrub(line) == line


def test_logs_go_to_a_rotating_file_and_the_ring_without_secrets(
    installed: logsetup.LogSetup,
) -> None:
    assert installed.file is not None and installed.file_error == ""
    log = logging.getLogger("deployconsole.test")
    log.info("Signed in with %s.", ACCESS_TOKEN)
    try:
        raise ValueError(f"refresh_token={REFRESH_TOKEN}")
    except ValueError:
        log.exception("Sign-in failed.")
    for handler in logging.getLogger().handlers:
        handler.flush()

    written = installed.file.read_text(encoding="utf-8")
    assert "Signed in with [redacted]." in written
    assert "Traceback (most recent call last)" in written
    ring = "\n".join(installed.ring.lines())
    assert "Sign-in failed." in ring and "ValueError: refresh_token=[redacted]" in ring
    for secret in SECRETS:
        assert secret not in written and secret not in ring


def test_the_file_rotates_and_keeps_a_bounded_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logsetup, "MAX_BYTES", 20_000)
    level = logging.getLogger().level
    setup = logsetup.install(log_dir=tmp_path / "log")
    try:
        assert setup.file is not None
        log = logging.getLogger("deployconsole.test")
        lines = 20 * (logsetup.BACKUP_COUNT + 2)
        for number in range(lines):
            log.info("Line %d %s", number, "x" * 1000)
        files = sorted(setup.file.parent.iterdir())
        assert len(files) == logsetup.BACKUP_COUNT + 1
        assert all(path.stat().st_size <= 20_000 for path in files)
        assert f"Line {lines - 1} " in setup.file.read_text(encoding="utf-8")
    finally:
        logsetup.uninstall()
        logging.getLogger().setLevel(level)


def test_the_default_log_folder_is_the_users_log_dir(isolated_home: str) -> None:
    folder = logsetup.default_log_dir()
    assert str(folder).startswith(isolated_home)
    assert "deployconsole" in folder.parts


def test_an_unwritable_log_folder_falls_back_to_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    level = logging.getLogger().level
    try:
        setup = logsetup.install(log_dir=blocker / "log")
        assert setup.file is None
        assert "cannot write logs to" in setup.file_error
        logging.getLogger("deployconsole.test").warning("Still kept in memory.")
        assert any("Still kept in memory." in line for line in setup.ring.lines())
    finally:
        logsetup.uninstall()
        logging.getLogger().setLevel(level)


def test_diagnostics_name_versions_platform_and_recent_lines_but_no_secrets(
    qapp: Any, installed: logsetup.LogSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/secret/place/key.json")
    monkeypatch.setenv("DEPLOY_TOKEN", "pipeline-secret-value")
    log = logging.getLogger("deployconsole.test")
    log.warning("Tail reconnected after UNAVAILABLE.")
    log.info("Header Authorization: Bearer %s", ACCESS_TOKEN)

    text = diagnostics_text({"Project": "my-shop-prod"}, installed)
    assert "Deploy Console 0.1.0" in text
    assert "Python: 3." in text and "Platform: " in text
    assert "Qt platform: offscreen" in text
    assert "google-api-core " in text and "google-cloud-appengine-admin " in text
    assert "not installed" not in text
    assert "Project: my-shop-prod" in text
    assert "Tail reconnected after UNAVAILABLE." in text
    assert "GOOGLE_APPLICATION_CREDENTIALS is set" in text
    for secret in (*SECRETS, "/secret/place", "pipeline-secret-value"):
        assert secret not in text
    home = os.path.expanduser("~")
    if len(home) > 1:
        assert home not in text
