"""Render the SVG icon into the PNG sizes, the Windows .ico and the macOS .icns.

Run after changing the SVG; the results are committed under resources/icons
so that neither installing nor bundling needs a renderer:

    python packaging/make_icons.py
"""

from __future__ import annotations

import logging
import os
import struct
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bundle_inputs import ICON_NAME, ICON_SIZES  # noqa: E402

log = logging.getLogger("deployconsole.packaging")

ICONS = ROOT / "resources" / "icons"
SVG = ICONS / "hicolor" / "scalable" / "apps" / f"{ICON_NAME}.svg"


def png_path(size: int) -> Path:
    return ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"


def write_ico(path: Path, sizes: list[int]) -> None:
    """A Windows icon holding each size as PNG (read since Windows Vista);
    Qt's own writer keeps only one size."""
    blobs = [png_path(size).read_bytes() for size in sizes]
    header = struct.pack("<HHH", 0, 1, len(blobs))
    offset = len(header) + 16 * len(blobs)
    entries = b""
    for size, blob in zip(sizes, blobs, strict=True):
        side = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(blob), offset)
        offset += len(blob)
    path.write_bytes(header + entries + b"".join(blobs))
    log.info("Wrote %s.", path.relative_to(ROOT))


# macOS icon types that hold PNG data, by pixel size.
_ICNS_TYPES = {
    16: b"icp4",
    32: b"icp5",
    64: b"icp6",
    128: b"ic07",
    256: b"ic08",
    512: b"ic09",
}


def write_icns(path: Path) -> None:
    chunks = b""
    for size, kind in _ICNS_TYPES.items():
        blob = png_path(size).read_bytes()
        chunks += kind + struct.pack(">I", 8 + len(blob)) + blob
    path.write_bytes(b"icns" + struct.pack(">I", 8 + len(chunks)) + chunks)
    log.info("Wrote %s.", path.relative_to(ROOT))


def render(size: int) -> Any:
    """The SVG drawn on a transparent ``size`` square (a QImage); needs a
    QGuiApplication. Tests compare it with the committed PNGs."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise ValueError(f"{SVG} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    for size in ICON_SIZES:
        try:
            image = render(size)
        except ValueError as error:
            log.error("%s.", error)
            return 1
        path = png_path(size)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(path), b"PNG"):
            log.error("Could not write %s.", path)
            return 1
        log.info("Wrote %s.", path.relative_to(ROOT))

    write_ico(ICONS / f"{ICON_NAME}.ico", [s for s in ICON_SIZES if s <= 256])
    write_icns(ICONS / f"{ICON_NAME}.icns")
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
