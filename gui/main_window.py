"""The main window: menus, one tab per engine, the device selector, settings kept across sessions.

Only the molecule table exists so far (empty: loading files arrives with the molecule-table issue); the
engine tabs are placeholders. The window talks to chemaccel only through its public API.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTableWidget,
    QTabWidget,
    QToolBar,
    QWidget,
)

import chemaccel

APP_NAME = "chemaccel"
MOLECULE_COLUMNS = ("#", "name", "SMILES", "status")
ENGINE_TABS = ("Property", "Reaction", "Train / prune", "GAN", "NAS")
MAX_RECENT = 10
MOLECULE_FILTER = "Molecule files (*.smi *.smiles *.csv *.tsv *.sdf *.sd *.xyz *.extxyz *.db);;All files (*)"

# settings keys
KEY_GEOMETRY = "main_window/geometry"
KEY_STATE = "main_window/state"
KEY_TAB = "main_window/tab"
KEY_DEVICE = "device"
KEY_RECENT = "recent_files"


def detect_devices() -> list[tuple[str, str]]:
    """``(device, label)`` pairs: ``("cpu", "cpu")`` then ``("cuda:i", "cuda:i (<GPU name>)")`` per GPU,
    from the public API (:func:`chemaccel.available_devices`).

    A broken CUDA set-up (driver missing, torch without CUDA) just means no GPU entries.
    """
    try:
        return [(dev, chemaccel.describe_device(dev)) for dev in chemaccel.available_devices()]
    except Exception:  # noqa: BLE001 - any CUDA failure leaves the CPU
        return [("cpu", "cpu")]


class MainWindow(QMainWindow):
    """The chemaccel main window.

    Args:
        settings: where geometry, state, device and recent files are kept; default ``QSettings()``
            (organization and application "chemaccel", set by :func:`chemaccel_gui.app.main`).
        devices: the device list for the selector (default :func:`detect_devices`, at start-up).
    """

    def __init__(
        self,
        settings: QSettings | None = None,
        devices: list[tuple[str, str]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.setWindowTitle(APP_NAME)
        self.setObjectName("MainWindow")
        self._build_menus()
        self._build_toolbar(devices if devices is not None else detect_devices())
        self._build_tabs()
        self.statusBar().showMessage("Ready")
        self.resize(1000, 700)
        self._restore_settings()

    # ------------------------------------------------------------------------------------------ build

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = QAction("&Open...", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self._choose_file)
        file_menu.addAction(self.open_action)
        self.recent_menu = QMenu("Recent files", self)
        self.recent_menu.setObjectName("recentMenu")
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)

        help_menu = self.menuBar().addMenu("&Help")
        self.about_action = QAction("&About chemaccel", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        help_menu.addAction(self.about_action)
        self._update_recent_menu()

    def _build_toolbar(self, devices: list[tuple[str, str]]) -> None:
        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolBar")  # saveState() needs object names
        toolbar.addWidget(QLabel("Device: ", toolbar))
        self.device_combo = QComboBox(toolbar)
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setToolTip("Where training and prediction run")
        for device, label in devices:
            self.device_combo.addItem(label, device)
        toolbar.addWidget(self.device_combo)
        self.addToolBar(toolbar)
        self.toolbar = toolbar

    def _build_tabs(self) -> None:
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("engineTabs")
        self.molecule_table = QTableWidget(0, len(MOLECULE_COLUMNS), self)
        self.molecule_table.setObjectName("moleculeTable")
        self.molecule_table.setHorizontalHeaderLabels(list(MOLECULE_COLUMNS))
        self.molecule_table.verticalHeader().setVisible(False)
        self.molecule_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.molecule_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.molecule_table.horizontalHeader()
        header.setSectionResizeMode(MOLECULE_COLUMNS.index("SMILES"), QHeaderView.ResizeMode.Stretch)
        self.tabs.addTab(self.molecule_table, "Molecules")
        for name in ENGINE_TABS:
            label = QLabel(f"The {name} engine is not available yet.", self)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(True)
            label.setObjectName(f"placeholder{name.replace(' ', '').replace('/', '')}")
            self.tabs.addTab(label, name)
        self.setCentralWidget(self.tabs)

    # ---------------------------------------------------------------------------------------- actions

    def selected_device(self) -> str:
        """The device chosen in the toolbar: ``"cpu"`` or ``"cuda:<n>"``."""
        return str(self.device_combo.currentData() or "cpu")

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME}</b> {chemaccel.__version__}<br>"
            "Make neural networks for chemistry smaller and faster.",
        )

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open molecules", self._last_folder(), MOLECULE_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> None:
        """Open a molecule file. For now: remember it and say that loading arrives with the table."""
        path = Path(path)
        if not path.is_file():
            self._remove_recent(str(path))
            QMessageBox.warning(self, "Open molecules", f"{path}: file not found")
            return
        self._add_recent(str(path))
        self.statusBar().showMessage(f"{path.name}: not loaded", 5000)
        QMessageBox.information(
            self,
            "Open molecules",
            f"Loading molecule files arrives with the molecule table.\n\n{path} was not loaded.",
        )

    # ----------------------------------------------------------------------------------- recent files

    def recent_files(self) -> list[str]:
        value = self.settings.value(KEY_RECENT, [])
        if value is None or value == "":
            return []
        if isinstance(value, str):  # INI files give back a one-element list as a plain string
            return [value]
        return [str(item) for item in value]

    def _add_recent(self, path: str) -> None:
        files = [path] + [f for f in self.recent_files() if f != path]
        self.settings.setValue(KEY_RECENT, files[:MAX_RECENT])
        self._update_recent_menu()

    def _remove_recent(self, path: str) -> None:
        self.settings.setValue(KEY_RECENT, [f for f in self.recent_files() if f != path])
        self._update_recent_menu()

    def _clear_recent(self) -> None:
        self.settings.setValue(KEY_RECENT, [])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for number, path in enumerate(files, start=1):
            action = self.recent_menu.addAction(f"&{number} {Path(path).name}")
            action.setToolTip(path)
            action.setData(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_file(p))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._clear_recent)
        self.recent_menu.setEnabled(bool(files))

    def _last_folder(self) -> str:
        files = self.recent_files()
        return str(Path(files[0]).parent) if files else str(Path.home())

    # --------------------------------------------------------------------------------------- settings

    def _restore_settings(self) -> None:
        geometry = self.settings.value(KEY_GEOMETRY)
        if geometry:
            self.restoreGeometry(geometry)
        state = self.settings.value(KEY_STATE)
        if state:
            self.restoreState(state)
        tab = self.settings.value(KEY_TAB)
        if tab is not None and str(tab).isdigit() and int(tab) < self.tabs.count():
            self.tabs.setCurrentIndex(int(tab))
        device = self.settings.value(KEY_DEVICE)
        index = self.device_combo.findData(device) if device else -1
        if index >= 0:
            self.device_combo.setCurrentIndex(index)

    def save_settings(self) -> None:
        """Write geometry, toolbar state, current tab and device (done on close)."""
        self.settings.setValue(KEY_GEOMETRY, self.saveGeometry())
        self.settings.setValue(KEY_STATE, self.saveState())
        self.settings.setValue(KEY_TAB, self.tabs.currentIndex())
        self.settings.setValue(KEY_DEVICE, self.selected_device())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.save_settings()
        super().closeEvent(event)
