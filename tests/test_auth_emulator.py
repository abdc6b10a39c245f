"""The emulator's --require-auth through the official clients, and the
console's wording of what a refused call lacks."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.api_core import exceptions as gexc
from google.cloud.appengine_admin_v1 import types as ae
from google.cloud.logging_v2.types import ListLogEntriesRequest, TailLogEntriesRequest
from test_auth_fakes import PROJECT, auth_emulator, endpoint, start_emulator

from deployconsole.cli import build_parser
from deployconsole.core import permissions
from deployconsole.core.operations import AdminError, ErrorKind
from deployconsole.core.permissions import SignInRequired
from deployconsole.core.split import Split
from deployconsole.emulator import admin, logging_api
from deployconsole.emulator.auth import MISSING_CREDENTIAL
from deployconsole.emulator.server import Emulator
from deployconsole.gcp import channel
from deployconsole.gcp.admin import AdminClient
from deployconsole.gcp.auth import token_file_identity
from deployconsole.gcp.auth_grpc import granted_permissions

__all__ = ["auth_emulator"]  # a fixture, used by name


def token_endpoint(emulator: Emulator, tmp_path: Path, token: str) -> channel.Endpoint:
    path = tmp_path / f"{token}.token"
    path.write_text(token + "\n", encoding="utf-8")
    return endpoint(emulator, token_file_identity(PROJECT, str(path)))


def apps_request() -> ae.ListServicesRequest:
    return ae.ListServicesRequest(parent=f"apps/{PROJECT}")


def test_a_call_without_a_token_is_unauthenticated_in_googles_words(
    auth_emulator: Emulator,
) -> None:
    client = channel.services_client(endpoint(auth_emulator))
    with pytest.raises(gexc.Unauthenticated) as caught:
        client.list_services(request=apps_request())
    assert caught.value.message == MISSING_CREDENTIAL
    client.transport.close()


def test_an_unknown_token_asks_to_sign_in_again(
    auth_emulator: Emulator, tmp_path: Path
) -> None:
    target = token_endpoint(auth_emulator, tmp_path, "not-a-known-token")
    client = channel.services_client(target)
    with pytest.raises(SignInRequired) as caught:
        client.list_services(request=apps_request())
    message = caught.value.message
    assert message.startswith(f"Sign in again for {PROJECT}:")
    assert "was refused (expired or revoked)" in message
    assert "not-a-known-token.token" in message  # says which file to renew
    assert caught.value.kind is ErrorKind.PERMISSION
    client.transport.close()


def test_viewer_reads_everything_and_is_told_what_changing_traffic_needs(
    auth_emulator: Emulator, tmp_path: Path
) -> None:
    target = token_endpoint(auth_emulator, tmp_path, "viewer")
    with AdminClient(target, retry_deadline=0.5) as admin:
        services = admin.list_services()
        assert {s.id for s in services} >= {"default"}
        assert admin.list_versions("default")
        with pytest.raises(AdminError) as caught:
            admin.update_split("default", Split.of({"any-version": 1.0}))
    error = caught.value
    assert error.kind is ErrorKind.PERMISSION and not error.sent
    assert "The caller does not have permission" in error.message
    assert (
        "Changing traffic needs the App Engine Service Admin role "
        "(roles/appengine.serviceAdmin)" in error.message
    )
    logs = channel.logging_client(target)
    logs.list_log_entries(
        request=ListLogEntriesRequest(resource_names=[f"projects/{PROJECT}"])
    )
    logs.transport.close()


def test_service_admin_changes_traffic_but_is_told_logs_need_logs_viewer(
    auth_emulator: Emulator, tmp_path: Path
) -> None:
    target = token_endpoint(auth_emulator, tmp_path, "service-admin")
    with AdminClient(target, retry_deadline=0.5) as admin:
        service = admin.get_service("default")
        versions = [v.id for v in admin.list_versions("default", with_instances=False)]
        other = next(v for v in versions if service.split.allocation(v) == 0)
        admin.update_split("default", Split.of({other: 1.0}))
        assert admin.get_service("default").split.allocation(other) == 1.0
    logs = channel.logging_client(target)
    with pytest.raises(gexc.PermissionDenied) as caught:
        logs.list_log_entries(
            request=ListLogEntriesRequest(resource_names=[f"projects/{PROJECT}"])
        )
    assert "Permission 'logging.logEntries.list' denied" in caught.value.message
    assert (
        "Reading logs needs the Logs Viewer role (roles/logging.viewer)"
        in caught.value.message
    )
    # The tail is a stream: refused the same way when it is read.
    with pytest.raises(gexc.PermissionDenied):
        stream = logs.tail_log_entries(
            requests=iter(
                [TailLogEntriesRequest(resource_names=[f"projects/{PROJECT}"])]
            )
        )
        next(iter(stream))
    logs.transport.close()


def test_logs_viewer_is_told_what_seeing_services_needs(
    auth_emulator: Emulator, tmp_path: Path
) -> None:
    target = token_endpoint(auth_emulator, tmp_path, "logs-viewer")
    with AdminClient(target, retry_deadline=0.5) as admin:
        with pytest.raises(AdminError) as caught:
            admin.list_services()
    assert (
        "Seeing services and their traffic needs the App Engine Viewer role "
        "(roles/appengine.appViewer)" in caught.value.message
    )


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("viewer", set()),
        ("logs-viewer", set()),
        ("service-admin", set(permissions.MUTATION_PERMISSIONS)),
    ],
)
def test_the_permission_probe_answers_from_the_tokens_role(
    auth_emulator: Emulator, tmp_path: Path, token: str, expected: set[str]
) -> None:
    target = token_endpoint(auth_emulator, tmp_path, token)
    granted = granted_permissions(target, permissions.MUTATION_PERMISSIONS)
    assert granted == expected


def test_the_probe_without_auth_grants_all_but_faulted_methods() -> None:
    emulator = start_emulator(require_auth=False)
    try:
        target = endpoint(emulator)
        asked = permissions.MUTATION_PERMISSIONS
        assert granted_permissions(target, asked) == set(asked)
        emulator.faults.set("permission-denied=UpdateService")
        granted = granted_permissions(target, asked)
        assert permissions.CHANGE_TRAFFIC not in granted
        assert granted == set(asked) - {permissions.CHANGE_TRAFFIC}
    finally:
        emulator.stop()


def test_the_probe_without_a_token_is_a_sign_in_problem(
    auth_emulator: Emulator,
) -> None:
    with pytest.raises(AdminError) as caught:
        granted_permissions(endpoint(auth_emulator), permissions.MUTATION_PERMISSIONS)
    assert caught.value.kind is ErrorKind.PERMISSION


def test_tokens_are_not_sent_in_plain_text_off_this_machine(tmp_path: Path) -> None:
    token = tmp_path / "t"
    token.write_text("viewer", encoding="utf-8")
    remote = channel.Endpoint(
        PROJECT, "emulator.example.com:8089",
        credentials=token_file_identity(PROJECT, str(token)),
    )
    with pytest.raises(AdminError, match="not sent in plain text"):
        channel.services_client(remote)


def test_the_command_line_takes_require_auth_and_access_token_file() -> None:
    parser = build_parser()
    args = parser.parse_args(["emulator", "--require-auth", "--port", "0"])
    assert args.require_auth is True
    args = parser.parse_args(["versions", "--access-token-file", "/tmp/tok"])
    assert args.access_token_file == "/tmp/tok"
    args = parser.parse_args(["--access-token-file", "/tmp/a", "versions"])
    assert args.access_token_file == "/tmp/a"


def test_every_served_method_has_a_permission() -> None:
    """A method the table misses would be open to every token."""
    emulator = start_emulator(require_auth=False)
    try:
        state = emulator.state
        handlers = admin.build_handlers(state) + logging_api.build_handlers(state)
    finally:
        emulator.stop()
    served = set()
    for handler in handlers:
        served |= set(getattr(handler, "_method_handlers", {}))
    if not served:
        pytest.skip("this grpc version hides its handler table")
    assert served <= set(permissions.METHOD_PERMISSIONS)


def test_the_grpc_status_is_kept_for_callers(
    auth_emulator: Emulator, tmp_path: Path
) -> None:
    target = token_endpoint(auth_emulator, tmp_path, "viewer")
    client = channel.services_client(target)
    with pytest.raises(gexc.PermissionDenied) as caught:
        client.update_service(
            request=ae.UpdateServiceRequest(name=f"apps/{PROJECT}/services/default")
        )
    assert caught.value.grpc_status_code is grpc.StatusCode.PERMISSION_DENIED
    client.transport.close()
