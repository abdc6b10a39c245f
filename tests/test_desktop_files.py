"""Desktop integration: the .desktop file, the AppStream metainfo, the icons."""

from __future__ import annotations

import configparser
import importlib.metadata
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import deployconsole
from deployconsole.ui.icons import APP_ID, ICON_SIZES, app_icon, icon_files

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
DESKTOP = RESOURCES / f"{APP_ID}.desktop"
METAINFO = RESOURCES / f"{APP_ID}.metainfo.xml"
HICOLOR = RESOURCES / "icons" / "hicolor"

sys.path.insert(0, str(ROOT / "packaging"))
import make_icons  # noqa: E402


def tool(name: str, package: str) -> str:
    """The validator's path. The README's test command installs it; a bare
    developer machine may lack it, but CI must not skip the check."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package {package})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def png_size(path: Path) -> tuple[int, int, int]:
    """Width, height and colour type from a PNG's IHDR chunk."""
    data = path.read_bytes()[:33]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, colour


def test_the_desktop_file_validates() -> None:
    done = run([tool("desktop-file-validate", "desktop-file-utils"), str(DESKTOP)])
    assert done.returncode == 0, done.stdout + done.stderr
    # Hints are advice; errors and warnings are not accepted.
    assert "error" not in done.stdout.lower(), done.stdout
    assert "warning" not in done.stdout.lower(), done.stdout


def test_the_metainfo_validates() -> None:
    appstreamcli = tool("appstreamcli", "appstream")
    done = run([appstreamcli, "validate", "--no-net", str(METAINFO)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_files_agree_with_each_other_and_with_the_package() -> None:
    entry = desktop_entry()
    installed = importlib.metadata.distribution("deployconsole")
    scripts = {
        point.name
        for point in installed.entry_points
        if point.group == "console_scripts"
    }
    assert entry["Exec"].split()[0] in scripts
    assert entry["Icon"] == APP_ID
    assert entry["StartupWMClass"] == "deployconsole"

    component = ET.parse(METAINFO).getroot()
    assert component.findtext("id") == APP_ID
    assert component.findtext("launchable") == DESKTOP.name
    assert component.findtext("provides/binary") in scripts
    released = component.find("releases/release")
    assert released is not None
    assert released.get("version") == deployconsole.__version__
    assert installed.version == deployconsole.__version__


def test_every_icon_size_exists_with_its_size() -> None:
    svg = ET.parse(HICOLOR / "scalable" / "apps" / f"{APP_ID}.svg").getroot()
    assert svg.get("viewBox") == "0 0 512 512"
    for size in ICON_SIZES:
        path = HICOLOR / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        width, height, colour = png_size(path)
        assert (width, height) == (size, size), path
        assert colour == 6, f"{path} has no alpha channel"


def test_the_pngs_are_renderings_of_the_current_svg(qapp: Any) -> None:
    from PySide6.QtGui import QImage

    for size in (16, 64):
        path = HICOLOR / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        committed = QImage(str(path)).convertToFormat(QImage.Format.Format_ARGB32)
        fresh = make_icons.render(size)
        worst = 0
        for y in range(size):
            for x in range(size):
                a, b = committed.pixel(x, y), fresh.pixel(x, y)
                worst = max(
                    worst,
                    *(abs((a >> s & 255) - (b >> s & 255)) for s in (0, 8, 16, 24)),
                )
        # Antialiasing may differ by a few levels between Qt versions; a
        # changed drawing differs by far more.
        assert worst <= 16, f"{path} is stale: run packaging/make_icons.py"


def test_the_windows_and_macos_icons_hold_every_size() -> None:
    ico = (RESOURCES / "icons" / f"{APP_ID}.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1)
    sides = [ico[6 + 16 * n] or 256 for n in range(count)]
    assert sides == [size for size in ICON_SIZES if size <= 256]

    icns = (RESOURCES / "icons" / f"{APP_ID}.icns").read_bytes()
    assert icns[:4] == b"icns"
    assert struct.unpack(">I", icns[4:8])[0] == len(icns)
    kinds = []
    offset = 8
    while offset < len(icns):
        kinds.append(icns[offset : offset + 4])
        offset += struct.unpack(">I", icns[offset + 4 : offset + 8])[0]
    assert kinds == [b"icp4", b"icp5", b"icp6", b"ic07", b"ic08", b"ic09"]


def test_the_application_icon_loads_in_every_size(qapp: Any) -> None:
    files = icon_files()
    assert len(files) == len(ICON_SIZES) + 1
    icon = app_icon()
    assert not icon.isNull()
    for size in (16, 22, 48, 512):  # 22: a common tray size, not shipped
        pixmap = icon.pixmap(size, size)
        assert (pixmap.width(), pixmap.height()) == (size, size)
