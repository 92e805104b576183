"""The Molecules tab: a summary line with a filter, the molecule table and the details pane."""

from __future__ import annotations

import html

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pathlib import Path

from chemaccel import api
from chemaccel_gui.molecule_details import MoleculeDetails
from chemaccel_gui.molecule_loading import LoadedMolecules
from chemaccel_gui.molecule_model import (
    COL_DEPICTION,
    COL_INDEX,
    COL_NAME,
    COL_SMILES,
    COL_STATUS,
    FILTERS,
    THUMBNAIL,
    MoleculeTableModel,
)

EMPTY_TEXT = "No molecules loaded: File > Open (SMILES, CSV, SDF, XYZ, ASE db, HDF5) or drop a file here."
FILTER_LABELS = {"all": "All records", "ok": "Readable only", "errors": "Errors only"}
COLUMN_WIDTHS = {
    COL_INDEX: 56, COL_DEPICTION: THUMBNAIL.width() + 8, COL_NAME: 140, COL_SMILES: 260, COL_STATUS: 220,
}


class MoleculesTab(QWidget):
    """The loaded molecules. ``model`` holds the records; ``view`` is the table; ``details`` the pane."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("moleculesTab")
        self.model = MoleculeTableModel(parent=self)
        self._streamed: Path | None = None  # the file whose records are arriving in batches
        self.summary = QLabel(EMPTY_TEXT, self)
        self.summary.setObjectName("moleculeSummary")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setWordWrap(True)
        self.filter_combo = QComboBox(self)
        self.filter_combo.setObjectName("moleculeFilter")
        for mode in FILTERS:
            self.filter_combo.addItem(FILTER_LABELS[mode], mode)
        self.filter_combo.currentIndexChanged.connect(self._filter_changed)

        self.view = QTableView(self)
        self.view.setObjectName("moleculeTable")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setIconSize(THUMBNAIL)
        self.view.setWordWrap(False)
        self.view.setAlternatingRowColors(True)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.view.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # never measure 100k rows
        vertical.setDefaultSectionSize(THUMBNAIL.height() + 6)
        header = self.view.horizontalHeader()
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # file order until a header is clicked
        header.setSortIndicatorShown(True)
        self.view.setSortingEnabled(True)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.modelReset.connect(self._model_reset)
        self.model.columnsInserted.connect(lambda *_: self._apply_column_widths())  # columns of a file being read

        self.details = MoleculeDetails(self)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("moleculeSplitter")
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(0, False)

        self.smiles_box = QPlainTextEdit(self)
        self.smiles_box.setObjectName("smilesBox")
        self.smiles_box.setPlaceholderText("Type or paste SMILES...")
        self.smiles_box.setToolTip("One SMILES per line (a name may follow after a space), or several on one "
                                   "line separated by ';'; then 'Use these SMILES'")
        # one line high (a pasted list scrolls inside it), so the tab needs no more height than before
        self.smiles_box.setFixedHeight(self.smiles_box.fontMetrics().lineSpacing() + 14)
        self.smiles_box.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.smiles_button = QPushButton("Use these SMILES", self)
        self.smiles_button.setObjectName("smilesUse")
        self.smiles_button.setToolTip("Replace the table with the typed molecules (bad ones show their reason)")
        self.smiles_button.clicked.connect(self.use_typed_smiles)
        top = QHBoxLayout()
        top.addWidget(self.summary, 3)
        top.addWidget(self.smiles_box, 2)
        top.addWidget(self.smiles_button)
        top.addWidget(QLabel("Show:", self))
        top.addWidget(self.filter_combo)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)
        self._apply_column_widths()

    def start_streaming(self, path: Path) -> None:
        """Empty the table for a file whose records arrive in batches (:meth:`append_streamed`)."""
        self.model.set_records([], [])
        self._streamed = path
        self.summary.setText(f"{html.escape(path.name)}: reading...")
        self.summary.setToolTip(str(path))

    def append_streamed(self, records: list, prop_names: list[str]) -> None:
        """Add a batch of a file still being read; the first batch selects the first row."""
        empty = self.model.rowCount() == 0
        self.model.append_records(records, prop_names)
        count = len(self.model.records)
        name = self._streamed.name if self._streamed else "file"
        self.summary.setText(f"{html.escape(name)}: {count} record{'s' if count != 1 else ''} so far, reading...")
        if empty and self.model.rowCount():
            self.view.selectRow(0)

    @property
    def streaming(self) -> bool:
        """True while a file's records are still arriving (between :meth:`start_streaming` and the end)."""
        return self._streamed is not None

    def streaming_failed(self, message: str) -> None:
        """A file being read failed part way: the records read so far stay, the summary says why."""
        if self._streamed is not None:
            count = len(self.model.records)
            self.summary.setText(f"{html.escape(self._streamed.name)}: {count} records read, then: "
                                 f"<span style='color:#be1414'>{html.escape(message)}</span>")
            self._streamed = None

    def show_loaded(self, loaded: LoadedMolecules) -> None:
        """Put a file's records in the table (replacing what was there), unless they already came in
        batches (:meth:`append_streamed`): then only the summary changes, and the selection and scroll stay."""
        streamed = self._streamed == loaded.path and len(self.model.records) == len(loaded.records)
        self._streamed = None
        if not streamed:
            self.model.set_records(loaded.records, loaded.prop_names)
        count, bad = len(loaded.records), loaded.n_bad
        text = f"{html.escape(loaded.path.name)}: {count} record{'s' if count != 1 else ''}"
        if bad:
            text += f", <span style='color:#be1414'>{bad} could not be read</span>"
        if loaded.cancelled:
            text += " (loading cancelled: the rest of the file was not read)"
        self.summary.setText(text)
        self.summary.setToolTip(str(loaded.path))
        if count and not streamed:
            self.view.selectRow(0)

    def use_typed_smiles(self) -> int:
        """Put the typed SMILES in the table (replacing what was there); returns how many records."""
        records = api.molecules_from_text(self.smiles_box.toPlainText())
        if not records:
            self.summary.setText("Type or paste at least one SMILES first.")
            return 0
        for record in records:
            record.smiles  # noqa: B018 - canonical SMILES cached on the record (as file loading does)
        names = list(dict.fromkeys(key for record in records for key in record.props))
        self.show_loaded(LoadedMolecules(Path("typed SMILES"), records, names, sum(not r.ok for r in records)))
        return len(records)

    def selected_record(self):
        rows = self.view.selectionModel().selectedRows()
        return self.model.record_at(rows[0].row()) if rows else None

    def select_row(self, row: int) -> None:
        self.view.selectRow(row)
        self.view.scrollTo(self.model.index(row, 0))

    def _filter_changed(self) -> None:
        self.model.set_filter(self.filter_combo.currentData())

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.details.show_record(self.selected_record())

    def _model_reset(self) -> None:
        self._apply_column_widths()
        self.details.show_record(self.selected_record())

    def _apply_column_widths(self) -> None:
        names = self.model.columns()
        for column in range(self.model.columnCount()):
            width = COLUMN_WIDTHS.get(column) or header_width(self.view, names[column])
            self.view.setColumnWidth(column, width)


def header_width(view: QTableView, text: str, minimum: int = 110, maximum: int = 320) -> int:
    """A column width that shows the header ``text`` whole (within ``minimum`` and ``maximum`` pixels)."""
    return max(minimum, min(maximum, view.horizontalHeader().fontMetrics().horizontalAdvance(text) + 30))
