"""What the PyInstaller bundle must contain, in one place.

The spec reads these lists; tests check that each input exists in the
environment, so a renamed package or a missing data file shows up without
a five-minute build.
"""

from __future__ import annotations

from pathlib import Path

# Packages imported lazily (inside functions, or by name) that PyInstaller's
# import scan could miss.
SUBMODULE_PACKAGES = [
    "deployconsole",
    "google.cloud.appengine_admin_v1",
    "google.cloud.logging_v2",
    "google.cloud.appengine_logging_v1",
    "google.cloud.audit",
    "google.longrunning",
    "google.rpc",
    "google.type",
    "google.api",
    "google.logging.type",
    "grpc_status",
]

# Distributions whose metadata is read at run time (importlib.metadata):
# api-core checks the versions of its dependencies, generated clients report
# their own. Without it a frozen app dies with PackageNotFoundError.
METADATA_DISTRIBUTIONS = [
    "google-api-core",
    "google-auth",
    "google-cloud-appengine-admin",
    "google-cloud-appengine-logging",
    "google-cloud-audit-log",
    "google-cloud-core",
    "google-cloud-logging",
    "googleapis-common-protos",
    "grpc-google-iam-v1",
    "grpcio",
    "grpcio-status",
    "proto-plus",
    "protobuf",
    "keyring",
    "platformdirs",
    "PySide6-Essentials",
    "shiboken6",
]

# Packages with non-Python files the code opens (grpc's roots.pem: TLS to
# Google fails without it; certifi's bundle for google-auth's requests).
DATA_PACKAGES = [
    "grpc",
    "certifi",
]

# Qt modules the console never imports; leaving them out saves space.
EXCLUDES = [
    "tkinter",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtQuickWidgets",
    "PySide6.QtQuickControls2",
    "PySide6.QtDesigner",
    "PySide6.QtHelp",
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
    "PySide6.QtPdf",
    "PySide6.QtSql",
    "PySide6.QtUiTools",
    "PySide6.Qt3DCore",
]

# The application id: names the .desktop file, the metainfo and the icons.
ICON_NAME = "io.github.deployconsole.DeployConsole"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def resource_datas(root: Path) -> list[tuple[Path, str]]:
    """The resources/ files to ship, as (source, folder in the bundle)."""
    resources = root / "resources"
    return [
        (path, str(Path("resources") / path.parent.relative_to(resources)))
        for path in sorted(resources.rglob("*"))
        if path.is_file()
    ]


def platform_icon(root: Path, platform: str) -> Path | None:
    """The executable's icon: .ico on Windows, .icns on macOS, none on Linux
    (a Linux desktop takes the icon from the .desktop file)."""
    icons = root / "resources" / "icons"
    if platform == "win32":
        return icons / f"{ICON_NAME}.ico"
    if platform == "darwin":
        return icons / f"{ICON_NAME}.icns"
    return None
