"""Reading a whole project for the main window, off the GUI thread."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from deployconsole.core.appmodel import Scaling, ServiceInfo, VersionInfo
from deployconsole.gcp.admin import AdminClient


@dataclass(frozen=True)
class Snapshot:
    services: list[ServiceInfo]
    versions: dict[str, list[VersionInfo]]
    read_at: float


def _worth_counting(service: ServiceInfo, version: VersionInfo) -> bool:
    # Counting instances costs one ListInstances call per version. A
    # project may hold thousands of versions, nearly all scaled to zero, so
    # only versions that can have instances are asked: those with traffic,
    # and serving manual or basic scaling ones (they keep instances without
    # traffic).
    if not version.serving:
        return False
    if service.split.allocation(version.id) > 0:
        return True
    return version.scaling is not Scaling.AUTOMATIC


def read_snapshot(admin: AdminClient, *, workers: int = 8) -> Snapshot:
    """Services, their versions in parallel, then the instance counts."""
    services = admin.list_services()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snapshot") as pool:
        listed = {
            s.id: pool.submit(admin.list_versions, s.id, with_instances=False)
            for s in services
        }
        versions = {service_id: f.result() for service_id, f in listed.items()}
        counts = {
            (s.id, v.id): pool.submit(admin.list_instances, s.id, v.id)
            for s in services
            for v in versions[s.id]
            if _worth_counting(s, v)
        }
        for service in services:
            versions[service.id] = [
                dataclasses.replace(
                    v,
                    instances=len(counts[(service.id, v.id)].result())
                    if (service.id, v.id) in counts
                    else (0 if not v.serving else None),
                )
                for v in versions[service.id]
            ]
    return Snapshot(services, versions, time.time())
