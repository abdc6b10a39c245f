"""Sign-in paths without a browser: a service account key kept in the
keyring, Application Default Credentials, an access token file; and no
keyring at all. After each, no secret is in a file or a log line."""

from __future__ import annotations

import json
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from test_auth_fakes import (
    PROJECT,
    FakeGoogle,
    LogCapture,
    MemoryKeyring,
    assert_no_secret_in_files,
    assert_no_secret_logged,
    auth_emulator,
    console_dirs,
    endpoint,
    fake_google,
    key_fragments,
    log_capture,
    memory_keyring,
    write_adc,
)

from deployconsole.core.operations import ErrorKind
from deployconsole.core.permissions import SignInRequired
from deployconsole.core.projects import ProjectEntry, ProjectRegistry, SignInKind
from deployconsole.core.settings import Settings
from deployconsole.core.split import Split
from deployconsole.emulator.server import Emulator
from deployconsole.gcp import auth
from deployconsole.gcp.admin import AdminClient
from deployconsole.gcp.auth_keyring import KeyringUnavailable, keyring_problem

__all__ = ["auth_emulator", "fake_google", "log_capture", "memory_keyring"]

pytestmark = pytest.mark.usefixtures("isolated_home")


def registry() -> ProjectRegistry:
    return ProjectRegistry(Settings())


def change_traffic(admin: AdminClient) -> None:
    service = admin.get_service("default")
    versions = admin.list_versions("default", with_instances=False)
    other = next(v.id for v in versions if service.split.allocation(v.id) == 0)
    admin.update_split("default", Split.of({other: 1.0}))


# -- no keyring ----------------------------------------------------------------


class PlaintextKeyring(KeyringBackend):
    """Looks like keyrings.alt's file backend: usable, but a file."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise AssertionError("a plain-text keyring must not be read")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("a plain-text keyring must not be written")

    def delete_password(self, service: str, username: str) -> None:
        raise AssertionError("a plain-text keyring must not be used")


@pytest.mark.parametrize("backend", [fail.Keyring, PlaintextKeyring])
def test_without_a_usable_keyring_the_console_says_so_and_offers_other_paths(
    backend: type[KeyringBackend], tmp_path: Path, fake_google: FakeGoogle
) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend())
    try:
        problem = keyring_problem()
        assert problem is not None
        key_file = tmp_path / "key.json"
        info = fake_google.service_account_key()
        key_file.write_text(json.dumps(info), encoding="utf-8")
        with pytest.raises(KeyringUnavailable) as caught:
            auth.import_service_account_key(key_file, PROJECT)
        message = str(caught.value)
        assert "Application Default Credentials" in message
        assert "access token file" in message
        assert "never writes a secret to a file" in message
        opened = []
        with pytest.raises(KeyringUnavailable):
            auth.sign_in(SignInKind.USER, PROJECT, str(tmp_path / "client.json"),
                         open_browser=opened.append)
        assert opened == []  # not sent to the browser for a token it can't keep
    finally:
        keyring.set_keyring(previous)
    assert_no_secret_in_files(console_dirs(), key_fragments(info))


# -- service account key in the keyring ------------------------------------------


def test_a_service_account_key_lives_in_the_keyring_only(
    tmp_path: Path,
    fake_google: FakeGoogle,
    auth_emulator: Emulator,
    memory_keyring: MemoryKeyring,
    log_capture: LogCapture,
) -> None:
    info = fake_google.service_account_key()
    key_file = tmp_path / "downloads" / "deployer-key.json"
    key_file.parent.mkdir()
    key_file.write_text(json.dumps(info), encoding="utf-8")

    entry = auth.import_service_account_key(key_file, PROJECT)
    key_file.unlink()  # the user may delete it: the keyring has it
    entry = ProjectEntry(
        entry.id, entry.sign_in, entry.keyring_ref, emulator=auth_emulator.address,
        account=entry.account,
    )
    registry().add(entry)
    assert entry.account == info["client_email"]
    assert list(memory_keyring.entries) == [("deployconsole", entry.keyring_ref)]

    target = auth.endpoint_for(PROJECT, auth_emulator.address, registry=registry())
    with AdminClient(target, retry_deadline=0.5) as admin:
        change_traffic(admin)
    assert "urn:ietf:params:oauth:grant-type:jwt-bearer" in fake_google.grants

    settings_text = Settings().path.read_text(encoding="utf-8")
    assert entry.keyring_ref in settings_text and PROJECT in settings_text
    secrets_ = key_fragments(info) + fake_google.issued
    assert assert_no_secret_in_files(console_dirs(), secrets_) >= 1
    assert_no_secret_logged(log_capture, secrets_)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not JSON"),
        ('{"type": "authorized_user"}', "is not a service account key"),
        ('{"type": "service_account", "client_email": "a@b"}', "lacks private_key"),
    ],
)
def test_a_file_that_is_no_key_is_refused_plainly(
    tmp_path: Path, memory_keyring: MemoryKeyring, content: str, expected: str
) -> None:
    path = tmp_path / "key.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(auth.SignInError, match=expected):
        auth.import_service_account_key(path, PROJECT)
    with pytest.raises(auth.SignInError, match="Cannot read the key file"):
        auth.import_service_account_key(tmp_path / "missing.json", PROJECT)
    assert memory_keyring.entries == {}


def test_a_keyring_entry_that_vanished_asks_to_sign_in_again(
    auth_emulator: Emulator, memory_keyring: MemoryKeyring
) -> None:
    entry = ProjectEntry(
        PROJECT, SignInKind.SERVICE_ACCOUNT, "service-account/x/gone",
        emulator=auth_emulator.address,
    )
    with pytest.raises(SignInRequired, match="no longer holds"):
        auth.identity_for(entry)
    # Opening it anyway gives a window whose calls say so, not a traceback.
    target = endpoint(auth_emulator, auth.identity_or_failure(entry))
    with AdminClient(target, retry_deadline=0.5) as admin:
        with pytest.raises(SignInRequired) as caught:
            admin.list_services()
    assert "import a new key" in caught.value.message


# -- Application Default Credentials -------------------------------------------


def test_adc_signs_in_and_a_revoked_login_asks_for_gcloud(
    tmp_path: Path,
    fake_google: FakeGoogle,
    auth_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    log_capture: LogCapture,
) -> None:
    refresh = write_adc(tmp_path, fake_google, monkeypatch)
    fake_google.role = "roles/viewer"
    entry = ProjectEntry(PROJECT, SignInKind.ADC, emulator=auth_emulator.address)
    registry().add(entry)
    target = auth.endpoint_for(PROJECT, auth_emulator.address, registry=registry())
    with AdminClient(target, retry_deadline=0.5) as admin:
        assert admin.list_services()
        fake_google.revoked.add(refresh)
        for token in fake_google.issued:
            auth_emulator.auth.revoke(token)  # the access token expired too
        with pytest.raises(SignInRequired) as caught:
            admin.list_services()
    message = caught.value.message
    assert "Token has been expired or revoked" in message
    assert "gcloud auth application-default login" in message
    secrets_ = [refresh, fake_google.client_secret, *fake_google.issued]
    assert_no_secret_in_files(console_dirs(), secrets_)
    assert_no_secret_logged(log_capture, secrets_)


def test_no_adc_is_a_sign_in_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "empty-gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    with pytest.raises(SignInRequired) as caught:
        auth.adc_identity(PROJECT)
    assert caught.value.message == (
        f"Sign in again for {PROJECT}: no Application Default Credentials were "
        "found. Run 'gcloud auth application-default login' and try again."
    )


# -- access token file ----------------------------------------------------------


def test_a_token_file_is_read_again_when_the_token_is_refused(
    tmp_path: Path, auth_emulator: Emulator, log_capture: LogCapture
) -> None:
    first, second = "tok-first-" + "a" * 24, "tok-second-" + "b" * 24
    auth_emulator.auth.grant(first, "roles/appengine.serviceAdmin")
    path = tmp_path / "pipeline" / "token"
    path.parent.mkdir()
    path.write_text(first + "\n", encoding="utf-8")
    target = auth.endpoint_for(
        PROJECT, auth_emulator.address, access_token_file=str(path)
    )
    with AdminClient(target, retry_deadline=0.5) as admin:
        change_traffic(admin)
        auth_emulator.auth.revoke(first)  # it expired
        with pytest.raises(SignInRequired) as caught:
            admin.list_services()
        assert f"Write a fresh access token to {path}" in caught.value.message
        assert caught.value.kind is ErrorKind.PERMISSION
        auth_emulator.auth.grant(second, "roles/appengine.serviceAdmin")
        path.write_text(second, encoding="utf-8")  # the pipeline renewed it
        assert admin.list_services()
    assert_no_secret_in_files(console_dirs(), [first, second])
    assert_no_secret_logged(log_capture, [first, second])


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "Cannot read the access token file"), ("  \n", "is empty"),
     ("a b\n", "more than one line or word")],
)
def test_a_bad_token_file_is_refused_plainly(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SignInRequired, match=expected):
        auth.endpoint_for(PROJECT, "127.0.0.1:1", access_token_file=str(path))


def test_endpoint_for_prefers_the_token_file_then_the_remembered_sign_in(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    path = tmp_path / "token"
    path.write_text("viewer", encoding="utf-8")
    reg = registry()
    reg.add(ProjectEntry(PROJECT, SignInKind.TOKEN_FILE, token_file=str(path),
                         emulator="127.0.0.1:9"))
    bare = auth.endpoint_for(PROJECT, "127.0.0.1:8", registry=reg)
    assert bare.credentials is None  # an unknown emulator project: anonymous
    remembered = auth.endpoint_for(PROJECT, "127.0.0.1:9", registry=reg)
    assert remembered.credentials.sign_in is SignInKind.TOKEN_FILE
    other = tmp_path / "other"
    other.write_text("service-admin", encoding="utf-8")
    explicit = auth.endpoint_for(
        PROJECT, "127.0.0.1:9", registry=reg, access_token_file=str(other)
    )
    assert explicit.credentials.account == f"access token from {other}"


# -- the command line -------------------------------------------------------------


def test_the_cli_signs_in_with_an_access_token_file(
    tmp_path: Path,
    auth_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from deployconsole.cli import main, versions_cmd
    from deployconsole.cli.common import signed_in_endpoint

    # What versions_cmd.endpoint_from_args does once wired to the sign-in.
    monkeypatch.setattr(
        versions_cmd, "endpoint_from_args",
        lambda args: signed_in_endpoint(args, args.project, args.emulator),
    )
    token = tmp_path / "token"
    token.write_text("viewer\n", encoding="utf-8")
    argv = ["versions", "--project", PROJECT, "--emulator", auth_emulator.address,
            "--access-token-file", str(token)]
    assert main(argv) == 0
    assert "default:" in capsys.readouterr().out

    auth_emulator.auth.revoke("viewer")
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"deployconsole: Sign in again for {PROJECT}:")
    assert "Traceback" not in err
    token.unlink()
    assert main(argv) == 3
    assert "Cannot read the access token file" in capsys.readouterr().err
