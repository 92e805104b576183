"""A model chooser for the engine panels: the shipped models of one engine, built-in choices, or a
folder of the user's own (checked by reading its ``config.json``, never by loading weights)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from chemaccel import api
from chemaccel_gui.shipped import ModelEntry, describe_model, shipped_models

Choice = ModelEntry | str  # a model folder, or the key of a built-in choice
MAX_INFO = 160  # characters of the model's notes and metrics shown under the combo box (all in the tooltip)


class ModelPicker(QWidget):
    """A combo box of models plus "Folder...".

    Args:
        engine: the engine whose shipped models are listed ("property", "prune", "gan").
        builtins: ``(label, key)`` pairs listed first (e.g. a fresh LeNet-5 for the prune panel).
        folder: where shipped models live (default :func:`chemaccel_gui.shipped.models_dir`).

    Signals:
        changed(): another model was chosen.
    """

    changed = Signal()

    def __init__(self, engine: str, builtins: list[tuple[str, str]] | None = None, folder: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"{engine}ModelPicker")
        self.engine = engine
        self.combo = QComboBox(self)
        self.combo.setObjectName("modelCombo")
        self.combo.setMinimumContentsLength(24)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        for label, key in builtins or []:
            self.combo.addItem(label, key)
        for entry in shipped_models(engine, folder):
            self._add_entry(entry, f"{entry.name} (shipped)")
        self.browse_button = QPushButton("Folder...", self)
        self.browse_button.setToolTip(f"Use a {engine} model folder of your own "
                                      "(config.json + model.safetensors)")
        self.browse_button.clicked.connect(self._browse)
        self.info = QLabel(self)
        self.info.setObjectName("modelInfo")
        self.info.setWordWrap(True)
        self.info.setStyleSheet("color: #555;")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.browse_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.info)
        self.combo.currentIndexChanged.connect(self._changed)
        self._changed()

    def choice(self) -> Choice | None:
        """The chosen model folder (:class:`ModelEntry`) or built-in key; None when the list is empty."""
        return self.combo.currentData()

    def path(self) -> Path | None:
        """The chosen model folder (None for a built-in choice or an empty list)."""
        choice = self.choice()
        return choice.path if isinstance(choice, ModelEntry) else None

    def has_shipped(self, name: str) -> bool:
        return any(isinstance(e, ModelEntry) and e.name == name for e in self.entries())

    def entries(self) -> list[Choice]:
        return [self.combo.itemData(i) for i in range(self.combo.count())]

    def select(self, name_or_key: str) -> bool:
        """Choose a listed model by folder name or built-in key; False when there is none."""
        for i, entry in enumerate(self.entries()):
            if entry == name_or_key or (isinstance(entry, ModelEntry) and entry.name == name_or_key):
                self.combo.setCurrentIndex(i)
                return True
        return False

    def use_folder(self, path: str | Path) -> ModelEntry | None:
        """Add a user model folder and choose it; a folder that is not a model of this engine gives a
        message box with the reason and None."""
        try:
            entry = describe_model(path)
        except api.ChemAccelError as exc:
            QMessageBox.warning(self, "Model folder", " ".join(str(exc).split()))
            return None
        if entry.engine != self.engine:
            QMessageBox.warning(self, "Model folder",
                                f"{path}: a {entry.engine!r} model, not a {self.engine!r} model")
            return None
        for i, existing in enumerate(self.entries()):
            if isinstance(existing, ModelEntry) and existing.path.resolve() == entry.path.resolve():
                self.combo.setCurrentIndex(i)
                return existing
        self._add_entry(entry, f"{entry.name} ({entry.path.parent})")
        self.combo.setCurrentIndex(self.combo.count() - 1)
        return entry

    def _add_entry(self, entry: ModelEntry, label: str) -> None:
        self.combo.addItem(label, entry)
        self.combo.setItemData(self.combo.count() - 1, f"{entry.path}\n{entry.summary()}",
                               Qt.ItemDataRole.ToolTipRole)

    def _browse(self) -> None:
        start = str(self.path().parent) if self.path() else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, f"Choose a {self.engine} model folder", start)
        if folder:
            self.use_folder(folder)

    def _changed(self) -> None:
        choice = self.choice()
        if isinstance(choice, ModelEntry):
            summary = choice.summary()
            self.info.setText(summary if len(summary) <= MAX_INFO else summary[:MAX_INFO - 3] + "...")
            self.info.setToolTip(f"{choice.path}\n{summary}")
        elif choice is None:
            self.info.setText(f"No {self.engine} model is shipped: choose a folder.")
            self.info.setToolTip("")
        else:
            self.info.setText("")
            self.info.setToolTip("")
        self.changed.emit()
