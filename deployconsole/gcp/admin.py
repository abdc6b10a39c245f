"""The App Engine Admin API, through the official clients, in core values.

Every call has a deadline and is retried while App Engine answers
UNAVAILABLE or DEADLINE_EXCEEDED; long-running operations are polled
quickly (api_core's default waits a whole second before the first poll,
which an interactive traffic change should not). Failures come out as one
:class:`~deployconsole.core.operations.AdminError` with a plain sentence and
a kind (refused, failed, unreachable, permission), never a client library
exception.

Reads may run in parallel (the clients are thread-safe); mutations go
through the serial operation runner of core.operations.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Iterable
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry as retries
from google.api_core.future import polling
from google.cloud.appengine_admin_v1 import types as ae
from google.protobuf import field_mask_pb2

from deployconsole.core.appmodel import (
    ApplicationInfo,
    InstanceInfo,
    ServiceInfo,
    ServingStatus,
    VersionInfo,
)
from deployconsole.core.operations import AdminError, ErrorKind
from deployconsole.core.split import Split
from deployconsole.gcp import channel
from deployconsole.gcp.admin_convert import (
    instance_from_proto,
    service_from_proto,
    version_from_proto,
)
from deployconsole.gcp.channel import Endpoint

log = logging.getLogger("deployconsole.admin")

# Seconds for one attempt of a call, and for all retries of it together.
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRY_DEADLINE = 8.0
# Seconds a long-running operation may take before the console gives up
# waiting (the operation itself goes on).
DEFAULT_OPERATION_TIMEOUT = 120.0

TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded)

ProgressFn = Callable[[str], None]


def _no_progress(message: str) -> None:
    pass


def call_retry(deadline: float) -> retries.Retry:
    """Retries for transient errors, fast at first (interactive use)."""
    return retries.Retry(
        predicate=retries.if_exception_type(*TRANSIENT),
        initial=0.05,
        maximum=1.0,
        multiplier=2.0,
        timeout=deadline,
    )


def fast_polling(timeout: float) -> retries.Retry:
    """Poll an operation after 0.05 s, then 1.5× longer up to 0.5 s."""
    return polling.DEFAULT_POLLING.with_delay(
        initial=0.05, maximum=0.5, multiplier=1.5
    ).with_timeout(timeout)


def translate(
    error: BaseException, what: str, *, sent: bool = False, operation_name: str = ""
) -> AdminError:
    """A client library failure as an AdminError; ``what`` completes
    "... while {what}", e.g. ``reading the versions of default``."""
    if isinstance(error, AdminError):
        return error
    if isinstance(error, gexc.RetryError) and error.cause is not None:
        return translate(error.cause, what, sent=sent, operation_name=operation_name)
    detail = getattr(error, "message", None) or str(error) or type(error).__name__
    detail = str(detail).rstrip(". ")

    def make(kind: ErrorKind, message: str) -> AdminError:
        return AdminError(kind, message, sent=sent, operation_name=operation_name)

    if isinstance(error, gexc.PermissionDenied | gexc.Unauthenticated):
        return make(
            ErrorKind.PERMISSION,
            f"Permission denied while {what}: {detail}. Nothing was changed; "
            "check that your account may do this in the project.",
        )
    if isinstance(error, TRANSIENT):
        return make(
            ErrorKind.UNREACHABLE,
            f"App Engine could not be reached while {what}, even after "
            f"retrying: {detail}.",
        )
    if isinstance(error, concurrent.futures.TimeoutError):
        return make(ErrorKind.FAILED, f"Timed out while {what}: {detail}.")
    if isinstance(error, gexc.GoogleAPICallError):
        return make(
            ErrorKind.REFUSED, f"App Engine refused the request while {what}: {detail}."
        )
    if _channel_closed(error):
        # The window closed while a read was on its way: nothing to report.
        log.info("Connection closed while %s.", what)
        return make(
            ErrorKind.UNREACHABLE,
            f"The connection to App Engine was closed while {what}.",
        )
    if type(error).__module__.startswith("google.auth"):
        return make(
            ErrorKind.PERMISSION,
            f"No usable Google credentials while {what}: {detail}. Run "
            "'gcloud auth application-default login' or use --emulator.",
        )
    log.error("Unexpected error while %s: %r", what, error)
    return make(ErrorKind.FAILED, f"Unexpected error while {what}: {detail}")


def _channel_closed(error: BaseException) -> bool:
    """gRPC refuses a call on a closed channel with a bare ValueError."""
    text = str(error).lower()
    return isinstance(error, ValueError) and (
        "closed channel" in text or "channel closed" in text
    )


class AdminClient:
    """One project's App Engine application through the official clients.

    Args:
        endpoint: Google or an emulator, and the project.
        timeout: seconds for one attempt of a call.
        retry_deadline: seconds for all attempts of a call together.
        operation_timeout: seconds to wait for a long-running operation.
        read_workers: parallel calls when counting instances.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_deadline: float | None = None,
        operation_timeout: float = DEFAULT_OPERATION_TIMEOUT,
        read_workers: int = 8,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        deadline = DEFAULT_RETRY_DEADLINE if retry_deadline is None else retry_deadline
        self._retry = call_retry(deadline)
        self.operation_timeout = operation_timeout
        self._services = channel.services_client(endpoint)
        self._versions = channel.versions_client(endpoint)
        self._instances = channel.instances_client(endpoint)
        self._applications = channel.applications_client(endpoint)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=read_workers, thread_name_prefix="admin-read"
        )

    @property
    def project(self) -> str:
        return self.endpoint.project

    def _app(self) -> str:
        return f"apps/{self.project}"

    def _options(self) -> dict[str, Any]:
        return {"retry": self._retry, "timeout": self.timeout}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for client in (
            self._services, self._versions, self._instances, self._applications
        ):
            client.transport.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Reads.

    def get_application(self) -> ApplicationInfo:
        what = f"reading the App Engine application of {self.project}"
        try:
            app = self._applications.get_application(
                request=ae.GetApplicationRequest(name=self._app()), **self._options()
            )
        except Exception as error:
            raise translate(error, what) from error
        raw = ae.Application.pb(app)
        return ApplicationInfo(
            id=raw.id,
            location_id=raw.location_id,
            default_hostname=raw.default_hostname,
            serving_status=ae.Application.ServingStatus(raw.serving_status).name,
        )

    def list_services(self) -> list[ServiceInfo]:
        what = f"listing the services of {self.project}"
        try:
            pager = self._services.list_services(
                request=ae.ListServicesRequest(parent=self._app()), **self._options()
            )
            return [service_from_proto(service) for service in pager]
        except Exception as error:
            raise translate(error, what) from error

    def get_service(self, service_id: str) -> ServiceInfo:
        what = f"reading service {service_id} of {self.project}"
        try:
            service = self._services.get_service(
                request=ae.GetServiceRequest(name=f"{self._app()}/services/{service_id}"),
                **self._options(),
            )
        except Exception as error:
            raise translate(error, what) from error
        return service_from_proto(service)

    def list_versions(
        self, service_id: str, *, with_instances: bool = True
    ) -> list[VersionInfo]:
        """The service's versions; with their instance counts if asked.

        Stopped versions count 0 instances without asking: App Engine shuts
        every instance of a stopped version down.
        """
        what = f"listing the versions of {service_id}"
        request = ae.ListVersionsRequest(
            parent=f"{self._app()}/services/{service_id}", view=ae.VersionView.BASIC
        )
        try:
            versions = list(self._versions.list_versions(
                request=request, **self._options()
            ))
        except Exception as error:
            raise translate(error, what) from error
        if not with_instances:
            return [version_from_proto(service_id, v) for v in versions]

        raws = [ae.Version.pb(v) for v in versions]
        counts = self._count_instances(
            service_id,
            (raw.id for raw in raws if raw.serving_status == ae.ServingStatus.SERVING),
        )
        return [
            version_from_proto(service_id, raw, counts.get(raw.id, 0)) for raw in raws
        ]

    def _count_instances(
        self, service_id: str, version_ids: Iterable[str]
    ) -> dict[str, int]:
        # FIXME(admin): one ListInstances call per serving version (in
        # parallel); a project with hundreds of serving versions should read
        # counts lazily or pass with_instances=False.
        futures = {
            version_id: self._pool.submit(
                self._list_raw_instances, service_id, version_id
            )
            for version_id in version_ids
        }
        return {version_id: len(f.result()) for version_id, f in futures.items()}

    def _list_raw_instances(self, service_id: str, version_id: str) -> list[Any]:
        what = f"listing the instances of {service_id}/{version_id}"
        parent = f"{self._app()}/services/{service_id}/versions/{version_id}"
        try:
            return list(self._instances.list_instances(
                request=ae.ListInstancesRequest(parent=parent), **self._options()
            ))
        except Exception as error:
            raise translate(error, what) from error

    def list_instances(self, service_id: str, version_id: str) -> list[InstanceInfo]:
        return [
            instance_from_proto(service_id, version_id, instance)
            for instance in self._list_raw_instances(service_id, version_id)
        ]

    # Mutations: each sends one request and waits for its operation.

    def update_split(
        self,
        service_id: str,
        split: Split,
        *,
        migrate: bool = False,
        progress: ProgressFn = _no_progress,
    ) -> str:
        """Set the service's split; waits for the operation, returns its name."""
        shard_by = ae.TrafficSplit.ShardBy.__members__[split.shard_by.value]
        request = ae.UpdateServiceRequest(
            name=f"{self._app()}/services/{service_id}",
            service=ae.Service(
                split=ae.TrafficSplit(shard_by=shard_by, allocations=split.as_dict())
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["split"]),
            migrate_traffic=migrate,
        )
        what = f"changing the traffic split of {service_id}"
        return self._mutate(
            self._services.update_service, request, what, progress, migrate=migrate
        )

    def set_serving_status(
        self,
        service_id: str,
        version_id: str,
        status: ServingStatus,
        *,
        progress: ProgressFn = _no_progress,
    ) -> str:
        """Start (SERVING) or stop (STOPPED) a version; the operation's name."""
        request = ae.UpdateVersionRequest(
            name=f"{self._app()}/services/{service_id}/versions/{version_id}",
            version=ae.Version(
                serving_status=ae.ServingStatus.__members__[status.name]
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["serving_status"]),
        )
        verb = "starting" if status is ServingStatus.SERVING else "stopping"
        what = f"{verb} version {version_id} of {service_id}"
        return self._mutate(self._versions.update_version, request, what, progress)

    def delete_version(
        self, service_id: str, version_id: str, *, progress: ProgressFn = _no_progress
    ) -> str:
        """Delete a version (App Engine refuses one that has traffic)."""
        request = ae.DeleteVersionRequest(
            name=f"{self._app()}/services/{service_id}/versions/{version_id}"
        )
        what = f"deleting version {version_id} of {service_id}"
        return self._mutate(self._versions.delete_version, request, what, progress)

    def _mutate(
        self,
        method: Callable[..., Any],
        request: Any,
        what: str,
        progress: ProgressFn,
        *,
        migrate: bool = False,
    ) -> str:
        try:
            future = method(request=request, **self._options())
        except Exception as error:
            # A deadline may expire after the server acted; UNAVAILABLE and
            # refusals mean it did not.
            sent = isinstance(error, gexc.RetryError | gexc.DeadlineExceeded)
            raise translate(error, what, sent=sent) from error
        name = future.operation.name
        progress(f"Operation {name} accepted; waiting for it to finish.")
        log.info("Operation %s started: %s.", name, what)

        try:
            future.result(
                retry=self._retry, polling=fast_polling(self.operation_timeout)
            )
        except concurrent.futures.TimeoutError as error:
            raise AdminError(
                ErrorKind.FAILED,
                f"The operation {name} ({what}) did not finish within "
                f"{self.operation_timeout:g} s; it may still complete.",
                sent=True,
                operation_name=name,
            ) from error
        except Exception as error:
            latest = future.operation
            if latest.done and latest.HasField("error"):
                raise AdminError(
                    ErrorKind.FAILED,
                    f"The operation {name} ({what}) failed: "
                    f"{(latest.error.message or 'no reason given').rstrip('. ')}.",
                    sent=True,
                    operation_name=name,
                ) from error
            raise translate(
                error, f"waiting for the operation {name} ({what})",
                sent=True, operation_name=name,
            ) from error
        progress(f"Operation {name} finished.")
        log.info("Operation %s finished: %s.", name, what)
        return name
