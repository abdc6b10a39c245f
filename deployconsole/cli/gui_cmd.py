"""Launching the window: ``deployconsole [--demo]``."""

from __future__ import annotations

import argparse
import os
import sys

from deployconsole.cli.common import EXIT_USAGE


def add_gui_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo",
        action="store_true",
        help="open the console on an embedded emulator of a demo project",
    )


def has_display() -> bool:
    """Whether Qt has something to open a window on."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith(("xcb", "wayland")):
        return True  # offscreen, minimal, eglfs, vnc...: no X or Wayland needed
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args: argparse.Namespace) -> int:
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
