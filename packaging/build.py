"""Build the one-folder bundle with PyInstaller, then self-test it.

    python packaging/build.py [--dist DIR] [--work DIR] [--no-self-test]

Needs the ``packaging`` extra (``pip install -e '.[packaging]'``). The
bundle lands in ``DIR/deployconsole/`` (default ``dist/``); its executable
is then run with ``--self-test``, which opens the window offscreen on the
embedded emulator and moves traffic once. Exit status: 0 when both worked,
1 when the build failed, 2 when the bundle failed its self-test.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("deployconsole.packaging")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "deployconsole.spec"
SELF_TEST_TIMEOUT = 180.0


def executable(dist: Path) -> Path:
    name = "deployconsole.exe" if sys.platform == "win32" else "deployconsole"
    return dist / "deployconsole" / name


def folder_size(folder: Path) -> int:
    """Bytes in the folder's files; symbolic links (PyInstaller makes some
    for shared libraries) are not counted twice."""
    total = 0
    for parent, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(parent) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def build(dist: Path, work: Path) -> float:
    """Run PyInstaller on the spec; the seconds it took. Raises on failure."""
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        str(SPEC),
    ]
    log.info("Building: %s", " ".join(command))
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True)
    return time.monotonic() - started


def self_test(program: Path, timeout: float = SELF_TEST_TIMEOUT) -> tuple[bool, str]:
    """Run the bundle's --self-test; whether it passed, and what it said."""
    env = dict(os.environ)
    # A developer's settings or credentials must not leak into the check.
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    try:
        done = subprocess.run(
            [str(program), "--self-test"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        return False, f"the self-test did not end within {timeout:.0f} s: {error}"
    output = (done.stdout + done.stderr).rstrip()
    return done.returncode == 0, output


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller")
    parser.add_argument("--no-self-test", action="store_true")
    args = parser.parse_args(argv)

    try:
        seconds = build(args.dist, args.work)
    except FileNotFoundError as error:
        log.error("Cannot run PyInstaller: %s", error)
        return 1
    except subprocess.CalledProcessError as error:
        log.error("PyInstaller failed with exit status %s.", error.returncode)
        return 1
    program = executable(args.dist)
    if not program.is_file():
        log.error("PyInstaller finished but %s does not exist.", program)
        return 1
    size = folder_size(program.parent)
    log.info("build: %.1f s", seconds)
    log.info("bundle: %.0f MB in %s", size / 1e6, program.parent)

    if args.no_self_test:
        return 0
    passed, output = self_test(program)
    log.info("%s", output)
    log.info("self-test: %s", "passed" if passed else "FAILED")
    return 0 if passed else 2


if __name__ == "__main__":
    raise SystemExit(main())
