"""Launching the window: ``deployconsole [--demo | --self-test]``."""

from __future__ import annotations

import argparse
import os
import sys

from deployconsole.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def add_gui_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo",
        action="store_true",
        help="open the console on an embedded emulator of a demo project",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check that this install works: open the window offscreen on an "
        "embedded emulator, list versions, move traffic once, exit 0 when "
        "all went well",
    )


def has_display() -> bool:
    """Whether Qt has something to open a window on."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith(("xcb", "wayland")):
        return True  # offscreen, minimal, eglfs, vnc...: no X or Wayland needed
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# Libraries Qt's xcb platform plugin loads; without them Qt aborts the
# process with a long message instead of a useful one.
_XCB_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-shape": "libxcb-shape0",
    "xkbcommon-x11": "libxkbcommon-x11-0",
}


def missing_xcb_packages() -> list[str]:
    """Debian packages whose libraries the xcb plugin needs and cannot find."""
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return []
    if not os.environ.get("DISPLAY"):
        return []
    import ctypes.util

    return [
        package
        for library, package in _XCB_LIBRARIES.items()
        if ctypes.util.find_library(library) is None
    ]


def run_self_test(args: argparse.Namespace) -> int:
    # Offscreen needs no display, so the self-test runs on servers and in CI;
    # it must be chosen before Qt starts.
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from deployconsole.ui.self_test import run_self_test as run_it

    result = run_it(verbose=bool(getattr(args, "verbose", False)))
    for step in result.steps:
        print(f"  ok: {step}")
    print(result.message, file=sys.stdout if result.ok else sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    if getattr(args, "self_test", False):
        return run_self_test(args)
    missing = missing_xcb_packages()
    if missing:
        print(
            "deployconsole: Qt cannot open a window on this X display: its xcb "
            "plugin needs libraries that are not installed (on Debian or "
            f"Ubuntu: apt-get install {' '.join(missing)}).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not has_display():
        print(
            "deployconsole: no display to open a window on (DISPLAY and "
            "WAYLAND_DISPLAY are unset); run it under a virtual one with "
            "`xvfb-run deployconsole --demo`, or use a subcommand such as "
            "`deployconsole versions`.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from deployconsole.ui.app import run_gui

    return run_gui(args)
