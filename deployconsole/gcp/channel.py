"""Building the official clients for Google or for the emulator.

The clients are the same code path either way: only the transport differs.
For an emulator the channel is plaintext with anonymous credentials; a
transport instance and ``credentials=`` cannot be given together, so the
channel is wrapped in the client's own gRPC transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc

# Own channels lose the generated clients' message-size override, and a
# user's proxy settings would otherwise tunnel loopback traffic.
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.enable_http_proxy", 0),
]


@dataclass(frozen=True)
class Endpoint:
    """Where the console talks to: Google (emulator is None) or an emulator."""

    project: str
    emulator: str | None = None
    # A gcp.auth.Identity, or None: the emulator then gets no credentials and
    # Google the clients' defaults.
    credentials: Any = field(default=None, compare=False, repr=False)

    @property
    def is_emulator(self) -> bool:
        return self.emulator is not None


def emulator_channel(target: str) -> grpc.Channel:
    return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)


def _build(client_cls: Any, transport_cls: Any, endpoint: Endpoint) -> Any:
    if endpoint.credentials is not None:
        from deployconsole.gcp.auth_grpc import authorized_channel

        channel = authorized_channel(endpoint, transport_cls.DEFAULT_HOST)
        return client_cls(transport=transport_cls(channel=channel))
    if endpoint.emulator is None:
        return client_cls()
    channel = emulator_channel(endpoint.emulator)
    return client_cls(transport=transport_cls(channel=channel))


def _client(package: str, client: str, transport: str, endpoint: Endpoint) -> Any:
    """Import ``package`` lazily (the clients are slow to import) and build."""
    import importlib

    module = importlib.import_module(package)
    transports = importlib.import_module(f"{package}.transports")
    return _build(getattr(module, client), getattr(transports, transport), endpoint)


_ADMIN = "google.cloud.appengine_admin_v1.services"


def services_client(endpoint: Endpoint) -> Any:
    return _client(
        f"{_ADMIN}.services", "ServicesClient", "ServicesGrpcTransport", endpoint
    )


def versions_client(endpoint: Endpoint) -> Any:
    return _client(
        f"{_ADMIN}.versions", "VersionsClient", "VersionsGrpcTransport", endpoint
    )


def instances_client(endpoint: Endpoint) -> Any:
    return _client(
        f"{_ADMIN}.instances", "InstancesClient", "InstancesGrpcTransport", endpoint
    )


def applications_client(endpoint: Endpoint) -> Any:
    return _client(
        f"{_ADMIN}.applications",
        "ApplicationsClient",
        "ApplicationsGrpcTransport",
        endpoint,
    )


def logging_client(endpoint: Endpoint) -> Any:
    return _client(
        "google.cloud.logging_v2.services.logging_service_v2",
        "LoggingServiceV2Client",
        "LoggingServiceV2GrpcTransport",
        endpoint,
    )
