"""The bundle: the spec's inputs, --self-test, and the PyInstaller build.

The build takes about half a minute here and runs with the suite; set
DEPLOYCONSOLE_SKIP_BUNDLE=1 to leave it out (the spec's inputs are still
checked).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deployconsole.ui.self_test import run_self_test

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
sys.path.insert(0, str(PACKAGING))
import bundle_inputs  # noqa: E402

SKIP_BUNDLE = os.environ.get("DEPLOYCONSOLE_SKIP_BUNDLE") == "1"


def isolated_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[var] = str(home / var.lower())
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    env.pop("QT_QPA_PLATFORM", None)  # --self-test must choose offscreen itself
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


# -- the spec's inputs ---------------------------------------------------------


def test_every_package_the_spec_collects_is_importable() -> None:
    for package in bundle_inputs.SUBMODULE_PACKAGES:
        assert importlib.util.find_spec(package) is not None, package


def test_every_distribution_whose_metadata_is_copied_is_installed() -> None:
    for name in bundle_inputs.METADATA_DISTRIBUTIONS:
        assert importlib.metadata.distribution(name).version, name


def test_the_data_files_the_code_opens_exist() -> None:
    grpc = importlib.util.find_spec("grpc")
    assert grpc is not None and grpc.origin is not None
    roots = Path(grpc.origin).parent / "_cython" / "_credentials" / "roots.pem"
    assert roots.stat().st_size > 10_000
    assert set(bundle_inputs.DATA_PACKAGES) >= {"grpc", "certifi"}


def test_the_resources_and_platform_icons_are_shipped() -> None:
    shipped = {
        (source.name, target) for source, target in bundle_inputs.resource_datas(ROOT)
    }
    app_id = bundle_inputs.ICON_NAME
    assert (f"{app_id}.desktop", "resources") in shipped
    assert (f"{app_id}.metainfo.xml", "resources") in shipped
    assert (f"{app_id}.svg", "resources/icons/hicolor/scalable/apps") in shipped
    for size in bundle_inputs.ICON_SIZES:
        assert (f"{app_id}.png", f"resources/icons/hicolor/{size}x{size}/apps") in (
            shipped
        )
    for platform in ("win32", "darwin"):
        icon = bundle_inputs.platform_icon(ROOT, platform)
        assert icon is not None and icon.is_file(), platform
    assert bundle_inputs.platform_icon(ROOT, "linux") is None


def test_no_qt_module_the_code_imports_is_excluded() -> None:
    imported = set()
    for path in (ROOT / "deployconsole").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        imported.update(re.findall(r"PySide6\.(Qt\w+)", text))
    excluded = {name.split(".")[-1] for name in bundle_inputs.EXCLUDES}
    assert imported, "the scan found the Qt imports"
    assert not imported & excluded


def test_the_spec_reads_its_inputs_from_bundle_inputs() -> None:
    spec = (PACKAGING / "deployconsole.spec").read_text(encoding="utf-8")
    for name in (
        "SUBMODULE_PACKAGES",
        "METADATA_DISTRIBUTIONS",
        "DATA_PACKAGES",
        "resource_datas",
        "platform_icon",
        "EXCLUDES",
    ):
        assert f"bundle_inputs.{name}" in spec, name
    assert (PACKAGING / "entry.py").is_file()


# -- --self-test -----------------------------------------------------------------


def test_self_test_passes_from_the_command_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "deployconsole", "--self-test"],
        capture_output=True,
        text=True,
        timeout=120,
        env=isolated_env(tmp_path),
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "versions listed" in done.stdout
    assert "operation read back v2-ok 100%" in done.stdout
    assert "the window and the emulator show the new split" in done.stdout
    assert done.stdout.strip().endswith("s"), "the last line says how long"
    assert "self-test passed" in done.stdout
    log = tmp_path / "xdg_state_home" / "deployconsole" / "log" / "deployconsole.log"
    assert "Self-test: the window and the emulator show" in log.read_text("utf-8")


def test_self_test_fails_with_a_clear_message_when_out_of_time(
    qapp: Any, isolated_home: str
) -> None:
    result = run_self_test(deadline_s=0.0)
    assert not result.ok
    assert result.message.startswith("self-test failed: timed out after 0 s while ")
    # Nothing of the closed window may still be queued (pytest-qt fails the
    # test on an exception in the event loop).
    qapp.processEvents()
    qapp.processEvents()


# -- the bundle --------------------------------------------------------------------


@pytest.mark.skipif(SKIP_BUNDLE, reason="DEPLOYCONSOLE_SKIP_BUNDLE=1")
def test_the_bundle_builds_and_passes_its_self_test(tmp_path: Path) -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        message = "PyInstaller is not installed (pip install -e '.[packaging]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    dist, work = tmp_path / "dist", tmp_path / "work"
    done = subprocess.run(
        [sys.executable, str(PACKAGING / "build.py"), "--dist", str(dist)]
        + ["--work", str(work)],
        capture_output=True,
        text=True,
        timeout=900,
        env=isolated_env(tmp_path),
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "self-test: passed" in output
    figures = dict(re.findall(r"^(build|bundle): (.+)$", output, re.MULTILINE))
    print(f"bundle build: {figures.get('build')}, size: {figures.get('bundle')}")

    internal = dist / "deployconsole" / "_internal"
    qt = internal / "PySide6" / "Qt" / "plugins"
    for plugin in (
        "platforms/libqoffscreen.so",
        "platforms/libqxcb.so",
        "platforms/libqwayland.so",
        "imageformats/libqsvg.so",
        "iconengines/libqsvgicon.so",
    ):
        if sys.platform == "linux":
            assert (qt / plugin).is_file(), plugin
    assert (internal / "grpc" / "_cython" / "_credentials" / "roots.pem").is_file()
    assert list(internal.glob("google_api_core-*.dist-info"))
    assert list(internal.glob("proto_plus-*.dist-info"))
    app_id = bundle_inputs.ICON_NAME
    assert (internal / "resources" / f"{app_id}.desktop").is_file()
