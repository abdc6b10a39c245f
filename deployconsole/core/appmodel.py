"""What the console knows about an App Engine application, as plain values.

gcp/admin.py fills these from the Admin API; the GUI, the CLI and the split
rules read them. They hold only what a user needs to decide where traffic
goes, and never a client library type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from deployconsole.core.split import Split

# App Engine refuses a deploy past this many versions per application.
VERSION_LIMIT = 210


class ServingStatus(str, Enum):
    UNSPECIFIED = "SERVING_STATUS_UNSPECIFIED"
    SERVING = "SERVING"
    STOPPED = "STOPPED"


class Scaling(str, Enum):
    AUTOMATIC = "automatic"
    BASIC = "basic"
    MANUAL = "manual"


@dataclass(frozen=True)
class VersionInfo:
    """One deployed version of a service.

    Attributes:
        service_id: the service (module) the version belongs to.
        id: the version id, e.g. ``20251203t1604``.
        serving_status: SERVING or STOPPED.
        runtime: e.g. ``python27``, ``python311``.
        env: ``standard`` or ``flexible``.
        scaling: automatic, basic or manual.
        instances: running instances, or None when they were not read.
        create_time: when it was deployed (UTC), None when unknown.
        created_by: the deployer's email, "" when unknown.
        version_url: where this version answers directly.
        warmup_enabled: whether App Engine sends it warmup requests.
        instance_class: e.g. ``F1``; "" when unknown.
    """

    service_id: str
    id: str
    serving_status: ServingStatus
    runtime: str
    env: str
    scaling: Scaling
    instances: int | None
    create_time: datetime | None
    created_by: str
    version_url: str
    warmup_enabled: bool
    instance_class: str = ""

    @property
    def serving(self) -> bool:
        return self.serving_status is ServingStatus.SERVING

    @property
    def automatic_scaling(self) -> bool:
        return self.scaling is Scaling.AUTOMATIC


@dataclass(frozen=True)
class ServiceInfo:
    """One service and where its traffic goes.

    Attributes:
        id: the service id (``default``, ``api``...).
        split: the live traffic split.
    """

    id: str
    split: Split


@dataclass(frozen=True)
class InstanceInfo:
    """One running instance of a version.

    Attributes:
        service_id, version_id, id: where it runs and its id.
        availability: ``RESIDENT``/``DYNAMIC`` ("" when unknown).
        start_time: when it started (UTC), None when unknown.
        requests: requests served since it started.
        errors: requests that failed.
        qps: recent requests per second.
        average_latency_ms: recent average latency.
        memory_usage_bytes: resident memory.
        vm_status: for flexible instances, the VM's status ("" otherwise).
    """

    service_id: str
    version_id: str
    id: str
    availability: str
    start_time: datetime | None
    requests: int
    errors: int
    qps: float
    average_latency_ms: int
    memory_usage_bytes: int
    vm_status: str = ""


@dataclass(frozen=True)
class ApplicationInfo:
    """The project's App Engine application.

    Attributes:
        id: the project id.
        location_id: where it runs, e.g. ``us-central``.
        default_hostname: e.g. ``PROJECT.appspot.com``.
        serving_status: ``SERVING``, ``USER_DISABLED``...
    """

    id: str
    location_id: str
    default_hostname: str
    serving_status: str
