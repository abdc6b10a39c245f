"""Window benchmarks: demo start-up, and loading a big project.

Prints ``name: value unit`` lines:

- demo_window_shown / demo_versions_listed: seconds from launching
  ``deployconsole --demo`` (offscreen) to the window shown and to the
  versions listed (median of RUNS launches).
- load_model_20x210: seconds to put 20 services x 210 versions into the
  versions model and expand the tree (median of 5), goal 0.3 s.
- read_and_load_20x210: the same, including reading them from the emulator
  through the official clients.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RUNS = 5


def demo_startup() -> None:
    shown, listed = [], []
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["XDG_DATA_HOME"] = env.get("XDG_DATA_HOME", "/tmp/deployconsole-bench-data")
    for _ in range(RUNS):
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "deployconsole", "--demo", "-v"],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert process.stderr is not None
        got_shown = None
        for line in process.stderr:
            if "Window shown" in line and got_shown is None:
                got_shown = time.perf_counter() - started
            if "Versions listed." in line:
                listed.append(time.perf_counter() - started)
                break
        process.terminate()
        process.wait(timeout=30)
        if got_shown is not None:
            shown.append(got_shown)
    if not shown or not listed:
        raise SystemExit("bench_window: the demo never logged its start-up marks")
    print(f"demo_window_shown: {statistics.median(shown):.3f} s")
    print(f"demo_versions_listed: {statistics.median(listed):.3f} s")


def big_project() -> None:
    from google.cloud.appengine_admin_v1 import types as ae
    from PySide6.QtWidgets import QApplication, QTreeView

    from deployconsole.emulator import admin_ops
    from deployconsole.emulator.server import Emulator, EmulatorOptions
    from deployconsole.gcp.admin import AdminClient
    from deployconsole.gcp.channel import Endpoint
    from deployconsole.ui.snapshot import read_snapshot
    from deployconsole.ui.versions_model import VersionsModel

    app = QApplication.instance() or QApplication([])
    emulator = Emulator(EmulatorOptions(run_traffic=False))
    emulator.scenario.populate = lambda: None  # type: ignore[method-assign]
    emulator.start()
    state = emulator.state
    for s in range(20):
        for v in range(210):
            version = ae.Version(
                id=f"v{v:03d}",
                runtime="python311",
                env="standard",
                automatic_scaling=ae.AutomaticScaling(),
            )
            admin_ops.create_version(state, f"service-{s:02d}", version)
        admin_ops.set_split(state, f"service-{s:02d}", {"v209": 0.9, "v208": 0.1})

    admin = AdminClient(Endpoint(state.project_id, emulator.address))
    snapshot = read_snapshot(admin)
    loads, full = [], []
    for _ in range(5):
        model = VersionsModel()
        view = QTreeView()
        view.setModel(model)
        view.show()
        started = time.perf_counter()
        model.set_snapshot(snapshot.services, snapshot.versions)
        view.expandAll()
        app.processEvents()
        loads.append(time.perf_counter() - started)

        model = VersionsModel()
        view.setModel(model)
        started = time.perf_counter()
        fresh = read_snapshot(admin)
        model.set_snapshot(fresh.services, fresh.versions)
        view.expandAll()
        app.processEvents()
        full.append(time.perf_counter() - started)
        view.close()
    count = sum(len(v) for v in snapshot.versions.values())
    print(f"versions_loaded: {count} versions")
    print(f"load_model_20x210: {statistics.median(loads):.3f} s")
    print(f"read_and_load_20x210: {statistics.median(full):.3f} s")
    admin.close()
    emulator.stop()


if __name__ == "__main__":
    demo_startup()
    big_project()
