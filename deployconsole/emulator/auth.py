"""``--require-auth``: bearer tokens and roles, answered as Google answers.

With auth required, every call needs ``authorization: Bearer TOKEN``. The
tokens ``viewer``, ``service-admin`` and ``logs-viewer`` stand for an
identity holding that role; tests add their own with :meth:`EmulatorAuth.grant`
and take them back with :meth:`EmulatorAuth.revoke` (an expired or revoked
token is, to the service, just an unknown one). A call without a token, or
with an unknown one, ends UNAUTHENTICATED; one whose role lacks the
method's permission ends PERMISSION_DENIED, worded as the real service
words it.

The emulator also answers Resource Manager's testIamPermissions, which the
console asks to decide whether to offer changes at all. Without
``--require-auth`` every caller may do everything, except what a
``permission-denied`` fault takes away.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.iam.v1 import iam_policy_pb2

from deployconsole.core.permissions import (
    LOGS_VIEWER,
    METHOD_PERMISSIONS,
    ROLES,
    SERVICE_ADMIN,
    VIEWER,
)
from deployconsole.emulator import rpc
from deployconsole.emulator.state import EmulatorState

log = logging.getLogger("deployconsole.emulator.auth")

DEFAULT_TOKENS: dict[str, str] = {
    "viewer": VIEWER.id,
    "service-admin": SERVICE_ADMIN.id,
    "logs-viewer": LOGS_VIEWER.id,
}

RESOURCE_MANAGER = "google.cloud.resourcemanager.v3.Projects"
TEST_IAM_PERMISSIONS = f"/{RESOURCE_MANAGER}/TestIamPermissions"

# The real services' words (the link is part of Google's message).
MISSING_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 "
    "access token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
INVALID_CREDENTIAL = (
    "Request had invalid authentication credentials. Expected OAuth 2 access "
    "token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
APPENGINE_DENIED = "The caller does not have permission"


def _denied_message(permission: str) -> str:
    if permission.startswith("appengine."):
        return APPENGINE_DENIED
    return f"Permission '{permission}' denied on resource (or it may not exist)."


class EmulatorAuth:
    """Which tokens the emulator accepts and the role each stands for.

    Args:
        required: answer calls without a known token UNAUTHENTICATED.
        tokens: token -> role id; defaults to :data:`DEFAULT_TOKENS`.
    """

    def __init__(
        self, required: bool = False, tokens: Mapping[str, str] | None = None
    ) -> None:
        self.required = required
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        for token, role in (tokens or DEFAULT_TOKENS).items():
            self.grant(token, role)

    def grant(self, token: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
        with self._lock:
            self._tokens[token] = role

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def role_of(self, metadata: Any) -> tuple[str | None, str]:
        """(role, problem) for a call's metadata; problem is "" when known."""
        bearer = None
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str):
                scheme, _, token = value.partition(" ")
                if scheme.lower() == "bearer" and token.strip():
                    bearer = token.strip()
        if bearer is None:
            return None, MISSING_CREDENTIAL
        with self._lock:
            role = self._tokens.get(bearer)
        return (role, "") if role else (None, INVALID_CREDENTIAL)

    def interceptors(self) -> tuple[grpc.ServerInterceptor, ...]:
        return (_Interceptor(self),) if self.required else ()


def _refusal(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that only refuses."""

    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    wrap: Callable[..., grpc.RpcMethodHandler]
    if handler.request_streaming and handler.response_streaming:
        wrap = grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        wrap = grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        wrap = grpc.unary_stream_rpc_method_handler
    else:
        wrap = grpc.unary_unary_rpc_method_handler
    return wrap(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class _Interceptor(grpc.ServerInterceptor):
    def __init__(self, auth: EmulatorAuth) -> None:
        self.auth = auth

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        role, problem = self.auth.role_of(handler_call_details.invocation_metadata)
        if role is None:
            log.info("Call to %s refused: no valid bearer token.", method)
            return _refusal(handler, grpc.StatusCode.UNAUTHENTICATED, problem)
        permission = METHOD_PERMISSIONS.get(method)
        if permission is None or permission in ROLES[role].permissions:
            return handler
        log.info("Call to %s refused: %s lacks %s.", method, role, permission)
        return _refusal(
            handler, grpc.StatusCode.PERMISSION_DENIED, _denied_message(permission)
        )


def build_handlers(
    state: EmulatorState, auth: EmulatorAuth
) -> list[grpc.GenericRpcHandler]:
    """Resource Manager's TestIamPermissions on ``projects/PROJECT``."""

    def test_permissions(request: Any, context: grpc.ServicerContext) -> Any:
        expected = f"projects/{state.project_id}"
        if request.resource != expected:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Permission denied on resource '{request.resource}' (or it may "
                "not exist).",
            )
        asked = list(request.permissions)
        if auth.required:
            role, _ = auth.role_of(context.invocation_metadata())
            held = ROLES[role].permissions if role else frozenset()
        else:
            held = frozenset(asked)
        # A permission-denied fault on a method takes its permission away.
        denied = {
            perm for path, perm in METHOD_PERMISSIONS.items()
            if path.rsplit("/", 1)[1] in state.faults.permission_denied
        }
        granted = [perm for perm in asked if perm in held and perm not in denied]
        return iam_policy_pb2.TestIamPermissionsResponse(permissions=granted)

    methods = {
        "TestIamPermissions": rpc.unary(
            state.faults,
            "TestIamPermissions",
            iam_policy_pb2.TestIamPermissionsRequest,
            iam_policy_pb2.TestIamPermissionsResponse,
            test_permissions,
        )
    }
    return [rpc.service(RESOURCE_MANAGER, methods)]
