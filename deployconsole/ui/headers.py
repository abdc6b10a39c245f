"""Column titles for the console's table and tree models."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt


def column_title(
    titles: Mapping[Any, str], section: int, orientation: Qt.Orientation, role: int
) -> Any:
    """What a model's ``headerData`` answers: a column's title, else None.

    ``titles`` is keyed by the model's column enum (an IntEnum, so a plain
    section number finds it).
    """
    if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
        return titles.get(section)
    return None
