"""GUI tests run offscreen and never touch the user's settings; message boxes are recorded, not shown."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

HAS_PYSIDE6 = importlib.util.find_spec("PySide6") is not None
EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
JOB_TIMEOUT_MS = 60_000  # a bound on a hang only: two decoding processes on a busy 2-core machine took >20 s


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path):
    """Point every ``QSettings()`` of the test at an INI file under ``tmp_path``; yields that folder."""
    if not HAS_PYSIDE6:
        yield tmp_path
        return
    from PySide6.QtCore import QSettings

    folder = tmp_path / "settings"
    folder.mkdir()
    previous = QSettings.defaultFormat()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(folder))
    yield folder
    QSettings.setDefaultFormat(previous)


@pytest.fixture
def settings(isolated_settings: Path):
    from PySide6.QtCore import QSettings

    return QSettings(str(isolated_settings / "window.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def messages(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Message boxes are recorded as ``(kind, title, text)`` instead of shown (they would block the test)."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[tuple[str, str, str]] = []

    def record(kind: str):
        def box(_parent, title, text, *args, **kwargs):
            shown.append((kind, title, text))
            return QMessageBox.StandardButton.Ok

        return box

    for kind in ("about", "information", "warning", "critical", "question"):
        monkeypatch.setattr(QMessageBox, kind, record(kind))
    return shown


@pytest.fixture
def window(qtbot, settings, messages):
    """A shown main window with the CPU as its only device; its jobs are stopped at teardown."""
    from chemaccel_gui.main_window import MainWindow

    win = MainWindow(settings=settings, devices=[("cpu", "cpu")])
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.jobs.shutdown()


@pytest.fixture
def wait_job(qtbot):
    """``wait_job(job)``: process events until the job has ended and its signals were delivered."""

    def wait(job) -> None:
        assert job is not None
        qtbot.waitUntil(lambda: job.ended, timeout=JOB_TIMEOUT_MS)

    return wait


@pytest.fixture
def open_and_wait(window, wait_job):
    """``open_and_wait(path)``: ``window.open_file(path)``, wait for the load, return the job."""

    def run(path):
        job = window.open_file(path)
        wait_job(job)
        return job

    return run
