"""Reading a whole project for the main window, off the GUI thread."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from deployconsole.core.appmodel import ServiceInfo, VersionInfo
from deployconsole.gcp.admin import AdminClient


@dataclass(frozen=True)
class Snapshot:
    services: list[ServiceInfo]
    versions: dict[str, list[VersionInfo]]
    read_at: float


def read_snapshot(admin: AdminClient, *, workers: int = 4) -> Snapshot:
    """Services, then every service's versions in parallel."""
    services = admin.list_services()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snapshot") as pool:
        futures = {s.id: pool.submit(admin.list_versions, s.id) for s in services}
        versions = {service_id: f.result() for service_id, f in futures.items()}
    return Snapshot(services, versions, time.time())
