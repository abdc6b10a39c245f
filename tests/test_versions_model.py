"""The versions tree is updated in place between refreshes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from deployconsole.core.appmodel import Scaling, ServiceInfo, ServingStatus, VersionInfo
from deployconsole.core.split import Split
from deployconsole.ui.versions_model import VersionsModel

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def version(version_id: str, age_days: int) -> VersionInfo:
    return VersionInfo(
        "default",
        version_id,
        ServingStatus.SERVING,
        "python311",
        "standard",
        Scaling.AUTOMATIC,
        0,
        T0 - timedelta(days=age_days),
        "dev@example.com",
        f"http://x/{version_id}",
        True,
    )


def ids(model: VersionsModel) -> list[str]:
    return [v.id for v in model.versions_of("default")]


def test_new_versions_are_inserted_and_gone_ones_removed(qtbot: Any) -> None:
    model = VersionsModel()
    service = ServiceInfo("default", Split.of({"v1": 1.0}))
    model.set_snapshot([service], {"default": [version("v1", 3), version("v2", 2)]})
    assert ids(model) == ["v2", "v1"]

    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(
        lambda _parent, first, last: inserted.append((first, last))
    )
    newer = [version("v1", 3), version("v3", 1), version("v4", 0)]
    model.set_snapshot([service], {"default": newer})
    assert ids(model) == ["v4", "v3", "v1"]
    assert inserted == [(0, 0), (1, 1)]  # row by row, no reset
