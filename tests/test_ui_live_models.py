"""Live errors' models and panels on hand-made records (no emulator)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication

from deployconsole.core.alerts import ERROR_RATIO, NEW_ERROR_GROUP, Alert
from deployconsole.core.groups import ErrorGroups
from deployconsole.core.health import HealthSample
from deployconsole.core.logentry import KIND_REQUEST, KIND_TEXT, LogRecord, build_record
from deployconsole.ui.live.alert_banner import AlertBanner, TrayNotifier
from deployconsole.ui.live.groups_model import (
    SPARK_MINUTES,
    BadgeRole,
    GroupsModel,
    SparklineRole,
)
from deployconsole.ui.live.groups_model import Column as GroupColumn
from deployconsole.ui.live.health_chart import HealthChart, HealthHistory
from deployconsole.ui.live.log_panel import LogPanel
from deployconsole.ui.live.records_model import CELL_CHARS, Column, RecordsModel
from deployconsole.ui.live.source_files import SourceError, editor_arguments, resolve
from deployconsole.ui.live.traceback_view import TracebackView, short_path

T0 = 1_764_000_000.0  # a whole minute
TRACEBACK = """\
Traceback (most recent call last):
  File "/workspace/main.py", line 12, in handler
    return load(order_id)
  File "/workspace/shop/orders.py", line 40, in load
    raise KeyError(order_id)
KeyError: 'A-1'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/workspace/main.py", line 14, in handler
    raise LookupFailed("no order") from exc
shop.errors.LookupFailed: no order"""


def request(
    n: int,
    *,
    service: str = "default",
    version: str = "v1",
    status: int = 200,
    severity: str = "",
    at: float | None = None,
) -> LogRecord:
    return build_record(
        insert_id=f"id-{n}",
        timestamp=T0 + n * 0.01 if at is None else at,
        log_name="projects/p/logs/appengine.googleapis.com%2Frequest_log",
        severity=severity,
        service=service,
        version=version,
        instance="i1",
        trace="",
        method="GET",
        path=f"/items/{n}",
        status=status,
        latency=0.05,
        kind=KIND_REQUEST,
    )


def stderr(
    n: int, text: str, *, version: str = "v1", at: float | None = None
) -> LogRecord:
    return build_record(
        insert_id=f"err-{n}",
        timestamp=T0 + n * 0.01 if at is None else at,
        log_name="projects/p/logs/stderr",
        severity="",
        service="default",
        version=version,
        instance="i1",
        trace="",
        kind=KIND_TEXT,
        text=text,
    )


# -- the records model -------------------------------------------------------


def test_records_model_appends_new_rows_only_and_stays_bounded(qtbot: Any) -> None:
    model = RecordsModel(capacity=1_000)
    inserted: list[tuple[int, int]] = []
    removed: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    model.rowsRemoved.connect(lambda _p, first, last: removed.append((first, last)))

    for batch in range(12):
        model.append([request(batch * 500 + i) for i in range(500)])

    assert model.rowCount() == 1_000
    assert model.evicted == 5_000
    assert model.appended == 6_000
    # The newest thousand, oldest first.
    assert model.row(0).insert_id == "id-5000"
    assert model.row(999).insert_id == "id-5999"
    # Each batch inserted its own rows at the end, and removed from the front.
    assert inserted[0] == (0, 499)
    assert inserted[1] == (500, 999)
    assert all(last - first == 499 for first, last in inserted)
    assert all(first == 0 and last == 499 for first, last in removed)
    assert len(removed) == 10


def test_records_model_keeps_the_newest_of_an_oversized_batch(qtbot: Any) -> None:
    model = RecordsModel(capacity=10)
    model.append([request(i) for i in range(25)])
    assert model.rowCount() == 10
    assert model.row(0).insert_id == "id-15"
    assert model.evicted == 15
    model.set_capacity(4)
    assert [model.row(r).insert_id for r in range(4)] == [
        "id-21",
        "id-22",
        "id-23",
        "id-24",
    ]
    with pytest.raises(ValueError, match="at least 1 entry"):
        model.set_capacity(0)


def test_records_model_shows_cells_and_colours_errors(qtbot: Any) -> None:
    model = RecordsModel()
    model.append([request(1, status=503, version="v3"), request(2)])
    cell = model.index(0, Column.STATUS)
    assert model.data(cell) == "503"
    assert model.data(model.index(0, Column.VERSION)) == "v3"
    assert model.data(model.index(0, Column.SUMMARY)) == "GET /items/1 503"
    assert model.data(cell, Qt.ItemDataRole.ForegroundRole) is not None
    assert (
        model.data(model.index(1, Column.STATUS), Qt.ItemDataRole.ForegroundRole)
        is None
    )
    assert model.headerData(Column.TIME, Qt.Orientation.Horizontal) == "Time"


# -- the log panel -----------------------------------------------------------


def test_filters_by_service_version_severity_and_text(qtbot: Any) -> None:
    model = RecordsModel()
    panel = LogPanel(model)
    qtbot.addWidget(panel)
    model.append(
        [
            request(1, service="default", version="v1"),
            request(2, service="default", version="v2", status=500),
            request(3, service="api", version="v1", severity="WARNING"),
            stderr(4, TRACEBACK, version="v2"),
            request(5, service="api", version="v7"),
        ]
    )
    assert panel.view.model() is model  # no filter: the model itself is shown
    assert panel.view.model().rowCount() == 5

    panel.service_box.setCurrentIndex(panel.service_box.findData("default"))
    assert panel.proxy.rowCount() == 3
    # Only the chosen service's versions are offered.
    offered = {panel.version_box.itemData(i) for i in range(panel.version_box.count())}
    assert offered == {"", "v1", "v2"}
    panel.version_box.setCurrentIndex(panel.version_box.findData("v2"))
    assert panel.proxy.rowCount() == 2

    panel.service_box.setCurrentIndex(panel.service_box.findData(""))
    panel.version_box.setCurrentIndex(panel.version_box.findData(""))
    panel.severity_box.setCurrentIndex(panel.severity_box.findData("WARNING"))
    shown = {panel.proxy.index(r, 0).row() for r in range(panel.proxy.rowCount())}
    assert panel.proxy.rowCount() == 3, shown  # the warning, the 500, the traceback
    panel.severity_box.setCurrentIndex(panel.severity_box.findData("ERROR"))
    assert panel.proxy.rowCount() == 2  # a 5xx or a traceback counts as ERROR

    panel.severity_box.setCurrentIndex(0)
    assert panel.view.model() is model
    qtbot.keyClicks(panel.text_edit, "lookupfailed")
    qtbot.waitUntil(lambda: panel.proxy.rowCount() == 1)
    source = panel.proxy.mapToSource(panel.proxy.index(0, 0))
    assert model.row(source.row()).insert_id == "err-4"
    assert "1 of 5 entries shown" in panel.status_label.text()

    assert panel.view.model() is panel.proxy
    # Switching models keeps the columns as they were laid out.
    assert panel.view.horizontalHeader().sectionSize(Column.TIME) == 100

    # New rows go through the same filter.
    model.append([stderr(6, TRACEBACK), request(7)])
    assert panel.proxy.rowCount() == 2
    assert "2 of 7 entries shown" in panel.status_label.text()


def test_pause_holds_entries_and_resume_appends_them(qtbot: Any) -> None:
    model = RecordsModel(capacity=100)
    panel = LogPanel(model)
    qtbot.addWidget(panel)
    model.append([request(i) for i in range(10)])
    panel.pause_button.click()
    assert model.paused
    model.append([request(i) for i in range(10, 40)])
    assert model.rowCount() == 10
    assert model.held() == 30
    assert "30 new entries waiting" in panel.status_label.text()

    panel.pause_button.click()
    assert not model.paused
    assert model.rowCount() == 40
    assert model.row(39).insert_id == "id-39"
    assert "waiting" not in panel.status_label.text()


def test_follow_keeps_the_newest_row_in_view(qtbot: Any) -> None:
    model = RecordsModel()
    panel = LogPanel(model)
    qtbot.addWidget(panel)
    panel.resize(600, 300)
    panel.show()
    qtbot.waitExposed(panel)
    model.append([request(i) for i in range(500)])
    bar = panel.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())

    panel.follow_box.setChecked(False)
    bar.setValue(0)
    model.append([request(i) for i in range(500, 600)])
    assert bar.value() == 0


def test_summary_cells_show_a_clipped_first_line_and_keep_the_data(
    qtbot: Any,
) -> None:
    model = RecordsModel()
    long_text = "x" * (CELL_CHARS * 3) + "\nsecond line"
    record = stderr(1, long_text)
    model.append([record])
    index = model.index(0, Column.SUMMARY)
    shown = model.data(index, Qt.ItemDataRole.DisplayRole)
    assert shown.startswith("xxx")
    assert len(shown) <= CELL_CHARS + 2
    assert "\n" not in shown
    assert model.row(0).text == long_text
    assert model.data(index, Qt.ItemDataRole.ToolTipRole).startswith("xxx")


def test_model_indexes_only_its_rows_and_columns(qtbot: Any) -> None:
    model = RecordsModel(capacity=3)
    model.append([request(i) for i in range(5)])  # two evicted
    assert model.rowCount() == 3
    assert model.index(0, 0).isValid() and model.index(2, 5).isValid()
    assert model.index(0, 0).row() == 0 and model.index(2, 5).column() == 5
    for row, column in ((-1, 0), (3, 0), (0, -1), (0, 6)):
        assert not model.index(row, column).isValid()
    assert not model.index(0, 0, model.index(0, 0)).isValid()  # no children
    assert model.data(model.index(0, Column.SUMMARY)).startswith("GET")


def test_summary_cells_show_only_the_first_line(qtbot: Any) -> None:
    model = RecordsModel()
    record = replace(stderr(1, "boom"), summary="ValueError: first\nsecond")
    model.append([record])
    index = model.index(0, Column.SUMMARY)
    assert model.data(index, Qt.ItemDataRole.DisplayRole) == "ValueError: first …"
    assert model.row(0).summary == "ValueError: first\nsecond"


# -- error groups ------------------------------------------------------------


def _groups_for(records: list[LogRecord]) -> list[Any]:
    groups = ErrorGroups()
    out = {}
    for record in records:
        for traceback in record.tracebacks:
            group, _ = groups.add(record, traceback)
            out[group.fingerprint] = group
    return list(out.values())


def test_groups_update_in_place_with_per_minute_counts_and_badges(qtbot: Any) -> None:
    model = GroupsModel(baseline_seconds=10.0)
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    first = [stderr(0, TRACEBACK, at=T0), stderr(1, TRACEBACK, at=T0 + 1)]
    model.note_times(r.timestamp for r in first)
    model.update_groups(_groups_for(first))
    assert model.rowCount() == 1
    assert model.data(model.index(0, GroupColumn.COUNT)) == "2"
    assert model.data(model.index(0, GroupColumn.ERROR)) == (
        "shop.errors.LookupFailed: no order"
    )
    # Seen within the first seconds of watching: the baseline, not new.
    assert model.data(model.index(0, GroupColumn.VERSIONS), BadgeRole) == ""

    later = [stderr(n, TRACEBACK, at=T0 + 60 + n) for n in range(2, 5)]
    groups = ErrorGroups()
    for record in first + later:
        group, _ = groups.add(record, record.tracebacks[0])
    model.note_times(r.timestamp for r in later)
    model.update_groups([group])
    assert model.rowCount() == 1 and inserted == [(0, 0)]
    assert model.data(model.index(0, GroupColumn.COUNT)) == "5"
    spark = model.data(model.index(0, GroupColumn.TREND), SparklineRole)
    assert len(spark) == SPARK_MINUTES
    assert spark[-2:] == [2.0, 3.0]

    # A different error after the baseline is new in its version.
    other = stderr(
        9,
        'Traceback (most recent call last):\n  File "/workspace/x.py", '
        "line 1, in f\nValueError: bad",
        version="v3",
        at=T0 + 70,
    )
    model.note_times([other.timestamp])
    model.update_groups(_groups_for([other]))
    assert model.rowCount() == 2
    assert model.data(model.index(1, GroupColumn.VERSIONS), BadgeRole) == "v3"

    # An alert saying the first group is new in v9 badges it so.
    alert = Alert(
        NEW_ERROR_GROUP,
        "default",
        "v9",
        T0 + 80,
        "New error",
        fingerprint=group.fingerprint,
    )
    model.note_alerts([alert])
    assert model.badge(group.fingerprint) == "v9"


# -- the traceback view ------------------------------------------------------


def test_traceback_view_shows_chain_and_copies_text(qtbot: Any) -> None:
    record = stderr(0, TRACEBACK)
    (group,) = _groups_for([record])
    view = TracebackView()
    qtbot.addWidget(view)
    view.show_group(group)
    tree = view.tree
    texts = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]
    assert texts == [
        "KeyError: 'A-1'",
        "The above exception was the direct cause of the following exception:",
        "shop.errors.LookupFailed: no order",
    ]
    key_error = tree.topLevelItem(0)
    assert key_error.child(1).text(0) == "shop/orders.py:40 in load"
    assert key_error.child(1).toolTip(0) == "/workspace/shop/orders.py, line 40"
    assert key_error.child(1).text(1) == "raise KeyError(order_id)"

    view.copy_button.click()
    assert QGuiApplication.clipboard().text() == group.latest.format()


def test_frame_opens_local_checkout_file_with_editor_command(
    qtbot: Any, tmp_path: Path
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "shop").mkdir(parents=True)
    (checkout / "shop" / "orders.py").write_text("# orders\n" * 50)
    marker = tmp_path / "opened.txt"
    script = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
    command = f'{sys.executable} -c "{script}" {marker} {{file}}:{{line}}'
    (group,) = _groups_for([stderr(0, TRACEBACK)])
    view = TracebackView(source_root=str(checkout), editor_command=command)
    qtbot.addWidget(view)
    view.show_group(group)
    frame_item = view.tree.topLevelItem(0).child(1)
    with qtbot.waitSignal(view.frame_opened) as opened:
        view.tree.itemActivated.emit(frame_item, 0)
    assert opened.args == [str(checkout / "shop" / "orders.py"), 40]
    qtbot.waitUntil(marker.exists)
    qtbot.waitUntil(lambda: marker.read_text() == f"{checkout}/shop/orders.py:40")

    # A frame outside the checkout says so instead of failing silently.
    main_item = view.tree.topLevelItem(0).child(0)
    with qtbot.waitSignal(view.open_failed) as failed:
        view.tree.itemActivated.emit(main_item, 0)
    assert "not in the checkout" in failed.args[0]


def test_frames_show_app_and_library_paths_short() -> None:
    assert short_path("/workspace/shop/orders.py") == "shop/orders.py"
    assert short_path("/base/data/home/apps/s~p/v1.4242/main.py") == "main.py"
    assert short_path("/layers/x/lib/python3.11/site-packages/flask/app.py") == (
        "flask/app.py"
    )
    assert short_path("/usr/lib/python3.11/json/decoder.py") == "json/decoder.py"
    assert short_path("/home/me/app.py") == "/home/me/app.py"


def test_source_paths_and_editor_arguments(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("")
    assert resolve("/srv/app/main.py", str(tmp_path)) == tmp_path / "app" / "main.py"
    assert resolve("/home/me/proj/app/main.py", str(tmp_path)) == (
        tmp_path / "app" / "main.py"
    )
    with pytest.raises(SourceError, match="errors.source_root"):
        resolve("/srv/app/main.py", "")
    with pytest.raises(SourceError, match="not a folder"):
        resolve("/srv/app/main.py", str(tmp_path / "missing"))
    path = tmp_path / "app" / "main.py"
    assert editor_arguments("code -g {file}:{line}", path, 7) == [
        "code",
        "-g",
        f"{path}:7",
    ]
    assert editor_arguments("gedit", path, None) == ["gedit", str(path)]
    with pytest.raises(SourceError, match="cannot be read"):
        editor_arguments("vim 'unclosed", path, 1)


# -- health chart and alerts -------------------------------------------------


def test_health_history_rows_follow_shares_and_last_minute(qtbot: Any) -> None:
    history = HealthHistory()
    chart = HealthChart(history)
    qtbot.addWidget(chart)
    minute = HealthSample("default", "v3", T0, 60, 120, 30, 0.05, 0.2)
    history.add_minutes([minute])
    history.note_time(T0 + 90)
    history.set_current(
        {
            ("default", "v3"): HealthSample(
                "default", "v3", T0 + 31, 60, 100, 80, 0.05, 0.2
            )
        }
    )
    history.set_traffic({"default": {"v3": 1.0, "v1": 0.0}})
    rows = history.rows()
    assert [(r.version, r.share) for r in rows] == [("v3", 1.0)]
    assert rows[0].current_error_rate == 80
    # The still-filling minute is replaced by the last 60 seconds.
    assert rows[0].points[-1] == (T0 + 31, 100, 80)
    chart.resize(800, 200)
    chart.show()
    qtbot.waitExposed(chart)
    chart.grab()  # paints without error


def test_banner_rolls_back_the_alerted_service(qtbot: Any) -> None:
    asked: list[str] = []
    banner = AlertBanner(asked.append)
    qtbot.addWidget(banner)
    alert = Alert(ERROR_RATIO, "default", "v3", T0, "v3 of default: 100% failed")
    with qtbot.waitSignal(banner.shown):
        banner.show_alert(alert)
    assert not banner.isHidden()
    assert "100% failed" in banner.label.text()
    banner.roll_back_button.click()
    assert asked == ["default"]
    banner.dismiss()
    assert banner.isHidden()

    tray = TrayNotifier(asked.append)
    # Offscreen has no system tray: the banner is the only notice.
    assert not tray.available
    tray.notify(alert)


def test_unused_index_has_no_data(qtbot: Any) -> None:
    model = RecordsModel()
    assert model.data(QModelIndex()) is None
    assert model.rowCount(model.index(0, 0)) == 0


def test_multi_data_answers_like_data(qtbot: Any) -> None:
    from PySide6.QtCore import QModelRoleData

    model = RecordsModel()
    model.append([request(1, status=503), stderr(2, TRACEBACK)])
    roles = [
        Qt.ItemDataRole.DisplayRole,
        Qt.ItemDataRole.ForegroundRole,
        Qt.ItemDataRole.ToolTipRole,
        Qt.ItemDataRole.TextAlignmentRole,
        Qt.ItemDataRole.FontRole,
    ]
    for row in range(2):
        for column in Column:
            index = model.index(row, column)
            for role in roles:
                role_data = QModelRoleData(role)
                model.multiData(index, role_data)
                assert role_data.data() == model.data(index, role), (row, column, role)


def test_multi_data_clears_what_a_reused_span_held(qtbot: Any) -> None:
    from PySide6.QtCore import QModelRoleData

    model = RecordsModel()
    model.append([request(1, status=503), request(2, status=200)])
    role_data = QModelRoleData(Qt.ItemDataRole.ForegroundRole)
    model.multiData(model.index(0, Column.SUMMARY), role_data)
    assert role_data.data() is not None
    model.multiData(model.index(1, Column.SUMMARY), role_data)
    assert role_data.data() is None


def test_live_errors_say_why_they_cannot_start(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployconsole.core.ingest import IngestSettings
    from deployconsole.gcp.channel import Endpoint
    from deployconsole.ui.live import controller

    def no_credentials(endpoint: Endpoint) -> Any:
        raise RuntimeError("Your default credentials were not found.")

    monkeypatch.setattr(controller, "logging_client", no_credentials)
    live = controller.LiveErrors(Endpoint("p"), ingest_settings=IngestSettings())
    with qtbot.waitSignal(live.status_changed) as changed:
        assert not live.start()
    assert changed.args[0] == (
        "Live errors are off: Your default credentials were not found"
    )
    assert not live.running
    live.stop()


def test_column_titles_answer_only_horizontal_display_headers(qtbot: Any) -> None:
    model = RecordsModel()
    horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
    display = Qt.ItemDataRole.DisplayRole
    assert model.headerData(Column.TIME, horizontal, display) == "Time"
    assert model.headerData(Column.SUMMARY, horizontal, display) == "Summary"
    assert model.headerData(len(Column), horizontal, display) is None
    assert model.headerData(0, vertical, display) is None
    assert model.headerData(0, horizontal, Qt.ItemDataRole.ToolTipRole) is None


def test_groups_the_pipeline_let_go_leave_the_model(qtbot: Any) -> None:
    model = GroupsModel()
    records = [
        stderr(n, TRACEBACK.replace("LookupFailed", f"Failed{n}"), at=T0 + n)
        for n in range(6)
    ]
    groups = _groups_for(records)
    model.update_groups(groups)
    removed: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda _p, first, last: removed.append((first, last)))
    gone = [groups[n].fingerprint for n in (0, 2, 3)]
    model.remove_groups([*gone, "not-a-group"])
    # Neighbouring rows go in one removal, from the bottom up.
    assert removed == [(2, 3), (0, 0)]
    kept = [groups[n].fingerprint for n in (1, 4, 5)]
    assert [g.fingerprint for g in model.groups()] == kept
    assert [model.row_of(key) for key in kept] == [0, 1, 2]
    assert all(model.row_of(key) is None for key in gone)
    # A group let go and seen anew comes back as a new row.
    model.update_groups([groups[0]])
    assert model.row_of(groups[0].fingerprint) == 3
    model.remove_groups([])
    assert model.rowCount() == 4


def test_live_errors_keep_only_the_groups_the_pipeline_keeps(qtbot: Any) -> None:
    from deployconsole.core.ingest import IngestSettings
    from deployconsole.gcp.channel import Endpoint
    from deployconsole.ui.live import controller

    settings = IngestSettings(groups=3)
    live = controller.LiveErrors(Endpoint("p"), ingest_settings=settings)
    for n in range(5):
        text = TRACEBACK.replace("LookupFailed", f"Failed{n}")
        live.pipeline.add_records([stderr(n, text, at=T0 + n)])
        live._on_tick()
    # The last stderr traceback is held for a possible next part.
    live._apply(live.pipeline.finish())
    shown = [group.type for group in live.groups.groups()]
    assert shown == [group.type for group in live.pipeline.groups()[::-1]]
    assert shown == [f"shop.errors.Failed{n}" for n in (2, 3, 4)]
    live.stop()
