"""Credentials on gRPC channels, and asking what the identity may do.

Every call on an authorized channel passes an interceptor that refreshes
the token when needed and adds ``authorization: Bearer ...``. The same
interceptor turns the two refusals a user must act on into words:

- UNAUTHENTICATED (expired, revoked, refused): the token is refreshed once
  and the call retried; if that fails the call raises SignInRequired, a
  plain message saying how to sign in again, never a traceback.
- PERMISSION_DENIED on a unary call: the message gains what is missing,
  e.g. "Changing traffic needs the App Engine Service Admin role
  (roles/appengine.serviceAdmin)". The error stays a PERMISSION_DENIED, so
  callers handle it as before.

Tokens go over plain text only to an emulator on this machine.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import google.auth.exceptions
import grpc
from google.rpc import status_pb2

from deployconsole.core.operations import AdminError, ErrorKind
from deployconsole.core.permissions import explain_refusal
from deployconsole.gcp.channel import CHANNEL_OPTIONS, Endpoint, emulator_channel

log = logging.getLogger("deployconsole.auth")

TEST_IAM_PERMISSIONS = "/google.cloud.resourcemanager.v3.Projects/TestIamPermissions"
RESOURCE_MANAGER_HOST = "cloudresourcemanager.googleapis.com"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class _Details(_CallDetails, grpc.ClientCallDetails):  # type: ignore[misc]
    pass


class _Reworded(grpc.RpcError, grpc.Call, grpc.Future):  # type: ignore[misc]
    """A failed call whose details say more; otherwise the original call."""

    def __init__(self, call: Any, details: str) -> None:
        super().__init__()
        self._call = call
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._call.code()

    def details(self) -> str:
        return self._details

    def initial_metadata(self) -> Any:
        return self._call.initial_metadata()

    def trailing_metadata(self) -> Any:
        # google.rpc.Status must agree with details(), or api_core's parser
        # refuses the error; keep its details (ErrorInfo...) but our message.
        rewritten = []
        for key, value in self._call.trailing_metadata() or ():
            if key == _STATUS_DETAILS_KEY:
                status = status_pb2.Status.FromString(value)
                status.message = self._details
                value = status.SerializeToString()
            rewritten.append((key, value))
        return tuple(rewritten)

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:
        return None

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False

    def cancel(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def running(self) -> bool:
        return False

    def done(self) -> bool:
        return True

    def result(self, timeout: float | None = None) -> Any:
        raise self

    def exception(self, timeout: float | None = None) -> Exception:
        return self

    def traceback(self, timeout: float | None = None) -> types.TracebackType | None:
        return None

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        fn(self)

    def __str__(self) -> str:
        return f"<{self.code()}: {self._details}>"


class BearerInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the identity's token to every call; explains refusals.

    Args:
        identity: a gcp.auth.Identity.
        host: the API's host, for the audience of self-signed tokens.
    """

    def __init__(self, identity: Any, host: str) -> None:
        self.identity = identity
        self.host = host
        # google-auth credentials are not safe to refresh from two threads.
        self._lock = threading.Lock()
        self._request: Any = None

    def _transport(self) -> Any:
        if self._request is None:
            from google.auth.transport.requests import Request

            self._request = Request()
        return self._request

    def _refreshing(self, action: Callable[[], None]) -> None:
        identity = self.identity
        try:
            with self._lock:
                action()
        except google.auth.exceptions.RefreshError as error:
            reason = _reason(error)
            log.warning(
                "Credentials of %s for %s could not be refreshed: %s",
                identity.account, identity.project, reason,
            )
            raise identity.sign_in_required(reason) from None
        except google.auth.exceptions.TransportError as error:
            raise AdminError(
                ErrorKind.UNREACHABLE,
                f"The sign-in service could not be reached to renew the token "
                f"for {identity.project} ({type(error).__name__}).",
            ) from None

    def _with_token(self, details: Any) -> _Details:
        headers: dict[str, str] = {}
        credentials = self.identity.credentials
        url = f"https://{self.host}{details.method}"
        self._refreshing(
            lambda: credentials.before_request(self._transport(), "POST", url, headers)
        )
        metadata = list(details.metadata or [])
        metadata += [(key.lower(), value) for key, value in headers.items()]
        return _Details(
            details.method, details.timeout, metadata, details.credentials,
            details.wait_for_ready, details.compression,
        )

    def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        method = _method_name(client_call_details.method)
        call = continuation(self._with_token(client_call_details), request)
        if call.code() is grpc.StatusCode.UNAUTHENTICATED:
            refused = call.details() or "the credentials were refused"
            log.info(
                "%s refused the token of %s; refreshing it once.",
                method, self.identity.account,
            )
            credentials = self.identity.credentials
            self._refreshing(lambda: credentials.refresh(self._transport()))
            call = continuation(self._with_token(client_call_details), request)
            if call.code() is grpc.StatusCode.UNAUTHENTICATED:
                raise self.identity.sign_in_required(
                    f"the service refused the credentials of {self.identity.account} "
                    f"({refused.rstrip('.')})"
                )
        if call.code() is grpc.StatusCode.PERMISSION_DENIED:
            explained = explain_refusal(method, call.details() or "Permission denied")
            log.info(
                "%s refused for %s in %s: %s",
                method, self.identity.account, self.identity.project, explained,
            )
            return _Reworded(call, explained)
        return call

    def intercept_unary_stream(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        return continuation(self._with_token(client_call_details), request)

    def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._with_token(client_call_details), requests)

    def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._with_token(client_call_details), requests)


def _method_name(method: str | bytes) -> str:
    return method.decode("ascii") if isinstance(method, bytes) else method


def _reason(error: Exception) -> str:
    """RefreshError's text without the raw response it may append."""
    first = error.args[0] if error.args else str(error)
    return str(first).strip() or type(error).__name__


def is_loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def authorized_channel(endpoint: Endpoint, host: str) -> grpc.Channel:
    """A channel that signs every call with the endpoint's identity.

    For an emulator: plain text, so only to this machine. For Google: TLS to
    ``host``:443 (the user's proxy settings apply).
    """
    identity = endpoint.credentials
    if endpoint.emulator is not None:
        if not is_loopback(endpoint.emulator):
            raise AdminError(
                ErrorKind.REFUSED,
                f"Credentials are not sent in plain text to {endpoint.emulator}: "
                "an emulator that checks sign-ins must run on this computer "
                "(127.0.0.1 or localhost).",
            )
        base = emulator_channel(endpoint.emulator)
    else:
        # FIXME(auth): checked here only against the emulator (no network);
        # client_options such as a regional endpoint or mTLS are not applied
        # to this channel.
        options = [option for option in CHANNEL_OPTIONS
                   if option[0] != "grpc.enable_http_proxy"]
        base = grpc.secure_channel(
            f"{host}:443", grpc.ssl_channel_credentials(), options=options
        )
    return grpc.intercept_channel(base, BearerInterceptor(identity, host))


def granted_permissions(
    endpoint: Endpoint, permissions: tuple[str, ...], *, timeout: float = 10.0
) -> frozenset[str]:
    """Which of ``permissions`` the endpoint's identity holds in the project.

    Asks Resource Manager's testIamPermissions, as the Cloud Console does to
    decide which buttons to enable; it needs no permission itself.

    Raises:
        SignInRequired: the credentials were refused.
        AdminError: the answer could not be had.
    """
    from google.api_core import exceptions as gexc
    from google.iam.v1 import iam_policy_pb2

    from deployconsole.gcp.admin import translate

    if endpoint.credentials is not None:
        channel = authorized_channel(endpoint, RESOURCE_MANAGER_HOST)
    elif endpoint.emulator is not None:
        channel = emulator_channel(endpoint.emulator)
    else:
        from deployconsole.gcp.auth import adc_identity

        identity = adc_identity(endpoint.project)
        channel = authorized_channel(
            Endpoint(endpoint.project, None, credentials=identity),
            RESOURCE_MANAGER_HOST,
        )
    request = iam_policy_pb2.TestIamPermissionsRequest(
        resource=f"projects/{endpoint.project}", permissions=list(permissions)
    )
    try:
        asked, answer = (
            iam_policy_pb2.TestIamPermissionsRequest,
            iam_policy_pb2.TestIamPermissionsResponse,
        )
        call = channel.unary_unary(
            TEST_IAM_PERMISSIONS,
            request_serializer=asked.SerializeToString,
            response_deserializer=answer.FromString,
        )
        response = call(request, timeout=timeout)
    except grpc.RpcError as error:
        what = f"checking what the signed-in account may do in {endpoint.project}"
        raise translate(gexc.from_grpc_error(error), what) from None
    finally:
        channel.close()
    granted = frozenset(response.permissions)
    log.info(
        "Permissions held in %s: %s.", endpoint.project, ", ".join(sorted(granted))
        or "none of those asked",
    )
    return granted
