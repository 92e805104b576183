"""The Property tab: predict QM9-style properties of the loaded molecules with a shipped or user model.

The prediction runs as a job (worker thread, progress and Cancel); its values (eV), status and geometry
mark become new columns of the molecule table, shown here and in the Molecules tab, and exported with
it (File > Export as CSV / SDF, or the buttons here).
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from chemaccel import api
from chemaccel_gui.charts import HistogramPlot
from chemaccel_gui.jobs import Job, JobRunner
from chemaccel_gui.model_picker import ModelPicker
from chemaccel_gui.molecule_model import COL_DEPICTION, COL_INDEX, COL_NAME, FIXED_COLUMNS, THUMBNAIL
from chemaccel_gui.molecules_tab import MoleculesTab, header_width
from chemaccel_gui.property_predict import PropertyPredictions, predict_properties

PREFERRED_MODEL = api.DEFAULT_MODELS["property"]  # for SMILES and non-DFT geometries; qm9-gap-schnet-pruned for DFT ones
#: Columns of the molecule table shown here besides the predictions.
SHOWN_FIXED = (COL_INDEX, COL_DEPICTION, COL_NAME)


#: "auto" embedding processes: this many (the cores, at most 4) ...
AUTO_WORKERS = min(os.cpu_count() or 1, 4)
#: ... from this many molecules on
AUTO_FROM = 500


class PropertyPanel(QWidget):
    """Model choice, Predict / Cancel, a summary and the molecule table's prediction columns.

    Args:
        runner: starts the jobs (the main window's).
        molecules: the Molecules tab whose records are predicted and whose table gets the columns.
        export: ``export(fmt)`` writes the molecule table as ``"csv"`` or ``"sdf"`` (the main window's).
    """

    def __init__(self, runner: JobRunner, molecules: MoleculesTab,
                 export: Callable[[str], Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("propertyPanel")
        self.runner = runner
        self.molecules = molecules
        self._export = export
        self.job: Job | None = None
        self.last: PropertyPredictions | None = None
        self.cache: dict[tuple[str, str], Any] = {}
        self.prediction_columns: set[str] = set()  # every column a prediction added

        self.picker = ModelPicker("property", parent=self)
        self.picker.select(PREFERRED_MODEL)
        model_box = QGroupBox("Model", self)
        QVBoxLayout(model_box).addWidget(self.picker)

        self.predict_button = QPushButton("Predict loaded molecules", self)
        self.predict_button.setObjectName("propertyPredict")
        self.predict_button.clicked.connect(self.predict)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("propertyCancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_csv_button = QPushButton("Export CSV...", self)
        self.export_csv_button.clicked.connect(lambda: self._export and self._export("csv"))
        self.export_sdf_button = QPushButton("Export SDF...", self)
        self.export_sdf_button.clicked.connect(lambda: self._export and self._export("sdf"))
        self.workers = QSpinBox(self)
        self.workers.setObjectName("propertyWorkers")
        self.workers.setRange(0, os.cpu_count() or 1)
        self.workers.setSpecialValueText("auto")
        self.workers.setToolTip("Processes that embed SMILES in 3D (as 'chemaccel property predict --workers N'; "
                                f"the same values). auto: {AUTO_WORKERS} for {AUTO_FROM} molecules or more, else 1")
        workers_label = QLabel("3D processes:", self)
        workers_label.setToolTip(self.workers.toolTip())
        workers_label.setBuddy(self.workers)
        buttons = QHBoxLayout()
        for button in (self.predict_button, self.cancel_button, workers_label, self.workers):
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (self.export_csv_button, self.export_sdf_button):
            buttons.addWidget(button)

        self.summary = QLabel(self)
        self.summary.setObjectName("propertySummary")
        self.summary.setWordWrap(True)

        self.view = QTableView(self)
        self.view.setObjectName("propertyTable")
        self.view.setModel(molecules.model)  # the same rows as the Molecules tab, sorted alike
        self.view.setSelectionModel(molecules.view.selectionModel())
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setIconSize(THUMBNAIL)
        self.view.setAlternatingRowColors(True)
        self.view.setSortingEnabled(True)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(THUMBNAIL.height() + 6)
        molecules.model.modelReset.connect(self._columns_changed)

        self.histogram = HistogramPlot("Predicted values over the training distribution", "eV", self)
        self.histogram.setObjectName("propertyHistogram")
        self.histogram.setMinimumHeight(120)
        self.histogram.setMaximumHeight(220)

        layout = QVBoxLayout(self)
        layout.addWidget(model_box)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 3)
        layout.addWidget(self.histogram, 1)
        self._columns_changed()
        self._records_changed()
        molecules.model.modelReset.connect(self._records_changed)
        # a file still being read adds rows and property columns without a reset
        molecules.model.columnsInserted.connect(lambda *_: self._columns_changed())
        molecules.model.rowsInserted.connect(lambda *_: self._records_changed())

    # ---------------------------------------------------------------------------------------- actions

    def processes(self, n_records: int) -> int:
        """The embedding processes for ``n_records`` molecules: the spin box's number, or with "auto" (0)
        :data:`AUTO_WORKERS` from :data:`AUTO_FROM` molecules on (starting a process costs seconds)."""
        chosen = self.workers.value()
        return chosen if chosen > 0 else (AUTO_WORKERS if n_records >= AUTO_FROM else 1)

    def predict(self) -> Job | None:
        """Predict every loaded record with the chosen model; None when nothing can start."""
        if self.molecules.streaming:
            self.summary.setText("The molecule file is still being read: predict when it is done.")
            return None
        records = list(self.molecules.model.records)
        if not records:
            self.summary.setText("No molecules are loaded: open a file in the Molecules tab first.")
            return None
        path = self.picker.path()
        if path is None:
            self.summary.setText("Choose a property model first.")
            return None
        if self.job is not None:
            return self.job
        cache, device, workers = self.cache, self.runner.device(), self.processes(len(records))
        job = self.runner.start(
            lambda reporter: predict_properties(reporter, path, records, device, cache, workers),
            "Predict properties", on_finished=self._finished, on_failed=self._failed,
            on_created=lambda created: created.done.connect(self._done),
        )
        self.job = job
        self.predict_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.summary.setText(f"Predicting {len(records)} records with {html.escape(path.name)}...")
        return job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)

    # ---------------------------------------------------------------------------------------- results

    def _finished(self, result: PropertyPredictions | None) -> None:
        if result is None:
            self.summary.setText("Prediction cancelled: the table is unchanged.")
            return
        model = self.molecules.model
        same = len(model.records) == len(result.source) and all(
            a is b for a, b in zip(model.records, result.source))
        if not same:
            self.summary.setText("Other molecules were loaded meanwhile: the prediction was not added.")
            return
        names = [n for n in model.prop_names if n not in result.columns]
        present = {key for record in result.records for key in record.props}
        names += [c for c in result.columns if c in present]
        self.last = result
        self.prediction_columns.update(result.columns)
        model.replace_records(result.records, names)
        self.summary.setText(result_text(result))
        first = result.targets[0]
        self.histogram.plot_item.setTitle(f"{first} predicted by {result.model_name} (blue) over its training "
                                          "distribution (grey)", color="k")
        self.histogram.set_data(result.values.get(first, []), result.train_histograms.get(first))

    def _failed(self, message: str) -> None:
        self.summary.setText(f"<span style='color:#be1414'>{html.escape(message)}</span>")

    def _done(self) -> None:
        self.job = None
        self.predict_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _records_changed(self) -> None:
        if self.job is None and (self.last is None or self.molecules.model.records != self.last.records):
            count = len(self.molecules.model.records)
            self.summary.setText(f"{count} molecules loaded. Predict adds a column per target (eV) with its "
                                 "uncertainty and 90 % interval, the applicability-domain verdict (green: "
                                 "in, orange: outside, with the reason), the status and the geometry used "
                                 "(file, or force field when embedded) to the table.")

    def _columns_changed(self) -> None:
        model = self.molecules.model
        for column in range(model.columnCount()):
            name = model.columns()[column]
            shown = column in SHOWN_FIXED or name in self.prediction_columns
            self.view.setColumnHidden(column, not shown)
            if column >= len(FIXED_COLUMNS):
                self.view.setColumnWidth(column, header_width(self.view, name))
        self.view.setColumnWidth(COL_INDEX, 48)
        self.view.setColumnWidth(COL_DEPICTION, THUMBNAIL.width() + 8)
        self.view.setColumnWidth(COL_NAME, 140)


def result_text(result: PropertyPredictions) -> str:
    """The summary line of a finished prediction (rich text)."""
    text = (f"{html.escape(result.model_name)}: {', '.join(result.targets)} (eV) predicted for "
            f"{result.n_ok} of {len(result.records)} records")
    if result.n_forcefield:
        text += f", {result.n_forcefield} on force-field geometries embedded from the graph"
    if result.n_outside:
        text += (f"; <span style='color:#b35900'>{result.n_outside} outside the model's domain</span> (orange "
                 "domain cells; the reason is in domain_reason)")
    if result.n_error:
        text += f"; <span style='color:#be1414'>{result.n_error} with errors</span> (see the status column)"
    return text + ". The columns are also in the Molecules tab and its exports."
