"""The application icon, wherever the console was installed from.

The icon files live in the repository's resources/; a wheel installs them
under ``<prefix>/share/icons/hicolor`` (where desktops look for them too)
and the PyInstaller bundle next to its code. They are looked up in that
order of likelihood, and a missing icon is logged, not fatal.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtGui import QIcon

log = logging.getLogger("deployconsole.ui")

APP_ID = "io.github.deployconsole.DeployConsole"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def resource_roots() -> list[Path]:
    """Folders that may hold a ``resources/`` layout, most specific first."""
    roots = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots.append(Path(bundle) / "resources")
    roots.append(Path(__file__).resolve().parents[2] / "resources")
    # A wheel's data files: the hicolor tree sits under share/icons.
    roots.append(Path(sys.prefix) / "share")
    return roots


def icon_files() -> list[Path]:
    """The icon's SVG and PNG files from the first root that has them."""
    for root in resource_roots():
        hicolor = root / "icons" / "hicolor"
        files = [hicolor / "scalable" / "apps" / f"{APP_ID}.svg"] + [
            hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png" for size in ICON_SIZES
        ]
        present = [path for path in files if path.is_file()]
        if present:
            return present
    return []


def app_icon() -> QIcon:
    """The console's icon in every size (for windows, the tray and dialogs)."""
    icon = QIcon()
    files = icon_files()
    for path in files:
        icon.addFile(str(path))
    if icon.isNull():
        log.warning(
            "The application icon was not found in %s.",
            ", ".join(str(root) for root in resource_roots()),
        )
    return icon
