"""The main window: menus, one tab per engine, the device selector, settings kept across sessions.

The Molecules tab loads molecule files (File > Open, recent files, drag-and-drop) in a worker job and
exports them as CSV or SDF; the engine tabs are panels (:mod:`~chemaccel_gui.property_panel`,
:mod:`~chemaccel_gui.reaction_panel`, :mod:`~chemaccel_gui.prune_panel`, :mod:`~chemaccel_gui.gan_panel`,
:mod:`~chemaccel_gui.nas_panel`). Every long
task goes through :class:`~chemaccel_gui.jobs.JobRunner` (a worker thread, progress and Cancel in the
status bar, failures as message boxes). The window talks to chemaccel only through its public API.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTabWidget,
    QToolBar,
    QWidget,
)

import chemaccel
from chemaccel_gui.job_progress import JobProgress
from chemaccel_gui.jobs import Job, JobRunner
from chemaccel_gui.molecule_export import FORMATS as EXPORT_FILTERS
from chemaccel_gui.molecule_export import Exported, export_molecules
from chemaccel_gui.molecule_loading import LoadedMolecules, load_molecules
from chemaccel_gui.molecules_tab import MoleculesTab
from chemaccel_gui.panels import PANELS

APP_NAME = "chemaccel"
ENGINE_TABS = tuple(entry.title for entry in PANELS)
#: Engine tabs without a panel yet (a placeholder label).
PLACEHOLDER_TABS: tuple[str, ...] = ()
MAX_RECENT = 10
MOLECULE_FILTER = (
    "Molecule files (*.smi *.smiles *.txt *.csv *.tsv *.sdf *.sd *.mol *.xyz *.extxyz *.db *.h5 *.hdf5 *.gz)"
    ";;All files (*)"
)

# settings keys
KEY_GEOMETRY = "main_window/geometry"
KEY_STATE = "main_window/state"
KEY_TAB = "main_window/tab"
KEY_DEVICE = "device"
KEY_RECENT = "recent_files"
KEY_SPLITTER = "molecules/splitter"


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
        self.setAcceptDrops(True)
        self.jobs = JobRunner(device=self.selected_device, parent=self)
        self.load_job: Job | None = None
        self._load_serial = 0
        self._streaming_serial = 0  # the load whose batches are filling the table
        self._build_menus()
        self._build_toolbar(devices if devices is not None else detect_devices())
        self._build_tabs()
        self.job_progress = JobProgress(self)
        self.statusBar().addPermanentWidget(self.job_progress)
        self.jobs.job_started.connect(self.job_progress.follow)
        self.statusBar().showMessage("Ready")
        self.resize(1100, 720)
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
        self.export_csv_action = QAction("Export as &CSV...", self)
        self.export_csv_action.triggered.connect(lambda: self.export_molecules("csv"))
        self.export_sdf_action = QAction("Export as &SDF...", self)
        self.export_sdf_action.triggered.connect(lambda: self.export_molecules("sdf"))
        for action in (self.export_csv_action, self.export_sdf_action):
            action.setEnabled(False)
            file_menu.addAction(action)
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
        self.molecules = MoleculesTab(self)
        self.molecule_table = self.molecules.view
        self.molecule_model = self.molecules.model
        self.tabs.addTab(self.molecules, "Molecules")
        for entry in PANELS:  # the engine tabs, declared in chemaccel_gui.panels
            panel = entry.build(self)
            setattr(self, entry.attribute, panel)
            self.tabs.addTab(panel, entry.title)
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

    def open_file(self, path: str | Path) -> Job | None:
        """Load a molecule file into the Molecules tab, in a worker job (a load still running is cancelled).

        A file that cannot be read as a whole (empty, binary, unknown type, no SMILES column, a foreign
        HDF5 file) gives a message box with the reason; bad records are listed in the table.

        Returns:
            the load job, or None when the file does not exist.
        """
        path = Path(path)
        if not path.is_file():
            self._remove_recent(str(path))
            QMessageBox.warning(self, "Open molecules", f"{path}: file not found")
            return None
        if self.load_job is not None:
            self.load_job.cancel()  # its result is ignored: only the newest load fills the table
        self._load_serial += 1
        serial = self._load_serial
        job = self.jobs.start(
            lambda reporter: load_molecules(path, reporter, on_batch=lambda records, names: reporter.on_partial(
                (records, names))),
            "Open molecules",
            on_finished=lambda result: self._loaded(serial, result),
            on_failed=lambda message: self._load_failed(serial, message),
            on_created=lambda job: job.reporter.partial.connect(lambda part: self._loaded_part(serial, path, part)),
        )
        self.load_job = job
        self.statusBar().showMessage(f"Reading {path}...")
        return job

    def _loaded_part(self, serial: int, path: Path, part: tuple[list, list[str]]) -> None:
        """A batch of the file being read: the first shows the table at once, the others fill it."""
        if serial != self._load_serial:  # a batch of a load that a newer open_file superseded
            return
        if self._streaming_serial != serial:
            self._streaming_serial = serial
            self.molecules.start_streaming(path)
            self.tabs.setCurrentWidget(self.molecules)
        self.molecules.append_streamed(*part)

    def _loaded(self, serial: int, loaded: LoadedMolecules | None) -> None:
        if serial != self._load_serial:  # superseded by a newer open_file
            return
        self.load_job = None
        if loaded is None:
            return
        self.molecules.show_loaded(loaded)
        self.tabs.setCurrentWidget(self.molecules)
        self._add_recent(str(loaded.path))
        self.setWindowTitle(f"{APP_NAME} - {loaded.path.name}")
        has_records = bool(loaded.records)
        self.export_csv_action.setEnabled(has_records)
        self.export_sdf_action.setEnabled(has_records)
        state = " (cancelled)" if loaded.cancelled else ""
        count = len(loaded.records)
        self.statusBar().showMessage(
            f"Read {count} records from {loaded.path.name}{state}, {loaded.n_bad} with errors", 10000
        )

    def _load_failed(self, serial: int, message: str) -> None:
        if serial == self._load_serial:
            self.load_job = None
            if self._streaming_serial == serial:
                self.molecules.streaming_failed(message)
            self.statusBar().showMessage(message, 10000)

    def export_molecules(self, fmt: str, path: str | Path | None = None) -> Job | None:
        """Write the loaded molecules as ``"csv"`` or ``"sdf"`` in a job (``path`` None: ask for one)."""
        model = self.molecule_model
        if not model.records:
            QMessageBox.information(self, "Export molecules", "No molecules are loaded.")
            return None
        if path is None:
            start = str(Path(self._last_folder()) / f"molecules.{fmt}")
            title = f"Export as {fmt.upper()}"
            path, _ = QFileDialog.getSaveFileName(self, title, start, EXPORT_FILTERS[fmt])
            if not path:
                return None
        records, props = list(model.records), list(model.prop_names)
        target = Path(path)
        return self.jobs.start(
            lambda reporter: export_molecules(records, target, fmt, reporter, props),
            "Export molecules",
            on_finished=self._exported,
        )

    def _exported(self, exported: Exported | None) -> None:
        if exported is None:
            self.statusBar().showMessage("Export cancelled: no file written", 10000)
            return
        what = "rows" if exported.fmt == "csv" else "molecules"
        self.statusBar().showMessage(f"Wrote {exported.written} {what} to {exported.path}", 10000)

    # -------------------------------------------------------------------------------- drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_file(files[0])
        if len(files) > 1:
            self.statusBar().showMessage(f"Opened {Path(files[0]).name}; one file at a time", 10000)

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
        splitter = self.settings.value(KEY_SPLITTER)
        if splitter:
            self.molecules.splitter.restoreState(splitter)
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
        self.settings.setValue(KEY_SPLITTER, self.molecules.splitter.saveState())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.save_settings()
        self.jobs.shutdown()  # cancel running jobs and wait for their threads
        super().closeEvent(event)
