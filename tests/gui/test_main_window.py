"""The main window opens offscreen, has its tabs, menus and device list, and keeps its settings."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install 'chemaccel[gui]')")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QComboBox, QTableView  # noqa: E402

import chemaccel  # noqa: E402
from chemaccel_gui import app as app_module  # noqa: E402
from chemaccel_gui.main_window import MainWindow  # noqa: E402

# fixtures settings, messages, window, wait_job, open_and_wait: conftest.py


def test_window_opens_with_tabs_and_table(window: MainWindow):
    assert window.isVisible() and window.windowTitle() == "chemaccel"
    tabs = window.tabs
    names = [tabs.tabText(i) for i in range(tabs.count())]
    assert names == ["Molecules", "Property", "Reaction", "Train / prune", "GAN", "NAS"]
    table = window.findChild(QTableView, "moleculeTable")
    assert table is window.molecule_table and tabs.widget(0).isAncestorOf(table)
    model = table.model()
    assert model.rowCount() == 0
    headers = [model.headerData(i, Qt.Orientation.Horizontal) for i in range(model.columnCount())]
    assert headers == ["#", "depiction", "name", "SMILES", "status"]
    panels = [window.property_panel, window.reaction_panel, window.prune_panel, window.gan_panel,
              window.nas_panel]
    assert [tabs.widget(i) for i in range(1, 6)] == panels
    for panel in panels:  # every tab can be shown
        tabs.setCurrentWidget(panel)
        assert panel.isVisible()
    assert window.statusBar().currentMessage() == "Ready"
    menus = [action.text() for action in window.menuBar().actions()]
    assert menus == ["&File", "&Help"]
    assert not window.export_csv_action.isEnabled() and not window.export_sdf_action.isEnabled()


def test_device_combo_lists_cpu(qtbot, settings: QSettings):
    window = MainWindow(settings=settings)  # the devices found at start-up
    qtbot.addWidget(window)
    combo = window.findChild(QComboBox, "deviceCombo")
    assert combo is not None and combo.itemData(0) == "cpu" and combo.findText("cpu") == 0
    assert window.selected_device() == "cpu"
    import torch

    assert combo.count() == 1 + torch.cuda.device_count()


def test_device_combo_lists_gpus(qtbot, settings: QSettings):
    win = MainWindow(settings=settings, devices=[("cpu", "cpu"), ("cuda:0", "cuda:0 - Test GPU")])
    qtbot.addWidget(win)
    assert win.device_combo.itemText(1) == "cuda:0 - Test GPU"
    win.device_combo.setCurrentIndex(1)
    assert win.selected_device() == "cuda:0"


def test_about_shows_the_version(window: MainWindow, messages):
    window.about_action.trigger()
    [(kind, title, text)] = messages
    assert kind == "about" and "chemaccel" in title
    assert chemaccel.__version__ in text


def test_open_file_and_recent_files(window: MainWindow, messages, tmp_path: Path, open_and_wait, wait_job):
    assert not window.recent_menu.isEnabled()
    path = tmp_path / "mols.smi"
    path.write_text("CCO ethanol\n")
    open_and_wait(path)
    assert messages == []
    assert window.molecule_model.rowCount() == 1
    assert window.windowTitle() == "chemaccel - mols.smi"
    assert window.recent_files() == [str(path)]
    assert window.recent_menu.isEnabled()
    recent = [a for a in window.recent_menu.actions() if a.data() == str(path)]
    assert len(recent) == 1

    path.write_text("CCO ethanol\nc1ccccc1 benzene\n")
    window.molecule_model.clear()
    recent[0].trigger()  # opening from the menu goes through open_file too
    wait_job(window.load_job)
    assert window.molecule_model.rowCount() == 2 and messages == []

    path.unlink()
    window.open_file(path)  # gone: a warning, and it leaves the list
    assert messages[-1][0] == "warning" and "file not found" in messages[-1][2]
    assert window.recent_files() == []


def test_quit_closes_the_window(window: MainWindow, qtbot):
    window.quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())


def test_settings_round_trip(qtbot, settings: QSettings, messages, tmp_path: Path, wait_job):
    first = MainWindow(settings=settings, devices=[("cpu", "cpu"), ("cuda:0", "cuda:0 - GPU")])
    qtbot.addWidget(first)
    first.show()
    first.resize(640, 480)
    first.move(40, 30)
    kept = tmp_path / "kept.smi"
    kept.write_text("CCO\n")
    wait_job(first.open_file(kept))  # a loaded file shows the Molecules tab
    first.tabs.setCurrentIndex(2)
    first.device_combo.setCurrentIndex(1)
    first.molecules.splitter.setSizes([400, 240])
    first.close()

    reopened = QSettings(settings.fileName(), QSettings.Format.IniFormat)
    assert reopened.value("main_window/geometry") is not None
    second = MainWindow(settings=reopened, devices=[("cpu", "cpu"), ("cuda:0", "cuda:0 - GPU")])
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (640, 480)
    assert second.tabs.currentIndex() == 2
    assert second.selected_device() == "cuda:0"
    assert second.recent_files() == [str(kept)]
    assert second.molecules.splitter.saveState() == first.molecules.splitter.saveState()

    # a device that is gone falls back to the CPU
    third = MainWindow(settings=reopened, devices=[("cpu", "cpu")])
    qtbot.addWidget(third)
    assert third.selected_device() == "cpu"


def test_default_settings_stay_in_tmp(qtbot, isolated_settings: Path):
    win = MainWindow(devices=[("cpu", "cpu")])
    qtbot.addWidget(win)
    win.close()
    assert Path(win.settings.fileName()).is_relative_to(isolated_settings)


def test_main_runs_and_names_the_app(qtbot, monkeypatch: pytest.MonkeyPatch):
    app = QApplication.instance()
    names = (app.applicationName(), app.organizationName())
    created: list[MainWindow] = []
    seen: dict[str, object] = {}

    def make_window() -> MainWindow:
        created.append(MainWindow(devices=[("cpu", "cpu")]))
        return created[-1]

    def inside_event_loop() -> None:
        seen["visible"] = created[0].isVisible()
        seen["names"] = (app.applicationName(), app.organizationName())
        app.quit()  # closes the window too

    monkeypatch.setattr(app_module, "MainWindow", make_window)
    QTimer.singleShot(0, inside_event_loop)
    # Closing the last window would post a second Quit event that arrives after exec() returned and
    # leaves Qt "quitting": every later nested event loop (qtbot.wait/waitUntil) would return at once.
    quit_on_last = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)
    try:
        assert app_module.main([]) == 0
        assert seen == {"visible": True, "names": ("chemaccel", "chemaccel")}
    finally:
        app.setApplicationName(names[0])
        app.setOrganizationName(names[1])
        for win in created:
            win.close()
        app.setQuitOnLastWindowClosed(quit_on_last)


def test_every_registered_engine_has_a_declared_tab(window):
    from chemaccel.engines import ENGINES
    from chemaccel_gui.panels import PANELS

    assert sorted(entry.engine for entry in PANELS) == sorted(ENGINES)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["Molecules", *(entry.title for entry in PANELS)]
    for entry in PANELS:
        assert window.tabs.indexOf(getattr(window, entry.attribute)) == titles.index(entry.title)
