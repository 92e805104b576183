"""GUI tests run offscreen and never touch the user's settings."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

HAS_PYSIDE6 = importlib.util.find_spec("PySide6") is not None


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
