"""The Reaction tab: reactant SMILES in (typed, pasted or loaded), the top-k predicted products out.

Each input row gets its reactants drawn and its candidates listed best first, each with a depiction,
its score (the beam's length-normalised log-probability; 0 is certain) and a validity mark (rdkit
parses the product). A row the model cannot read shows its reason in red. Prediction is a job.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from chemaccel import api
from chemaccel_gui.jobs import Job, JobRunner
from chemaccel_gui.model_picker import ModelPicker
from chemaccel_gui.molecule_model import ERROR_COLOR

#: the default model: uspto-forward-reagents reads reactions as chemists type them (reagents mixed in) far better
#: than the reactants-only uspto-forward-small it replaced, beats it on USPTO-50K too, and gets as many of the
#: textbook reactions in resources/examples right (docs/benchmarks.md)
PREFERRED_MODEL = api.DEFAULT_MODELS["reaction"]
from chemaccel_gui.reaction_predict import DEPICTION, DepictedPrediction, predict_reactions, read_reactions

COLUMNS = ("input", "rank", "product", "SMILES", "score", "valid", "confidence")
COL_INPUT, COL_RANK, COL_PRODUCT, COL_SMILES, COL_SCORE, COL_VALID, COL_CONFIDENCE = range(len(COLUMNS))
CONFIDENCE_TIP = ("the calibrated probability that this first product is right (fitted on the model's "
                  "validation reactions; a model without a fitted confidence shows none)")
VALID_COLOR = Qt.GlobalColor.darkGreen
UNCHANGED_COLOR = Qt.GlobalColor.darkGray
#: a note on how an input was read (reagents set aside, unknown tokens, everything typed read as reactants):
#: written in the input cell, not only in its tooltip, because it changes how far to trust the row
NOTE_COLOR = QColor(160, 90, 0)
#: text lines a one-row input keeps under its drawing for the note
NOTE_LINES = 4
REACTION_FILTER = "Reactions (*.smi *.txt *.smiles);;All files (*)"
#: "auto" decoding processes: this many (the cores, at most 4) ...
AUTO_WORKERS = min(os.cpu_count() or 1, 4)
#: ... from this many reactions on (each spawned process takes seconds to load torch and the model)
AUTO_FROM = 500
PLACEHOLDER = "Reactant SMILES, one reaction per line, e.g.\nCC(=O)O.OCC\nBrc1ccccc1.OB(O)c1ccccc1"


class TextUnderIcon(QStyledItemDelegate):
    """The input column: the reactants' drawing with its text (a note on how it was read) underneath,
    wrapped to the column, instead of squeezed beside the drawing."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: Any) -> None:  # noqa: N802 (Qt's name)
        super().initStyleOption(option, index)
        option.decorationPosition = QStyleOptionViewItem.Position.Top
        option.displayAlignment = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
        option.features |= QStyleOptionViewItem.ViewItemFeature.WrapText


def validity_mark(candidate: Any) -> tuple[str, Any, str]:
    """Text, colour and tooltip of a candidate's validity cell: valid, invalid, or a starting material the
    beam gave back unchanged (a prediction of no reaction, ranked after the real products)."""
    if not candidate.valid:
        return "\u2717 invalid", ERROR_COLOR, "not a valid molecule"
    if getattr(candidate, "unchanged", False):
        return ("= starting material", UNCHANGED_COLOR,
                "one of the molecules typed, given back unchanged: the model predicts no reaction here "
                "(ranked after the real products)")
    return "\u2713 valid", VALID_COLOR, "rdkit parses the product"


class ReactionPanel(QWidget):
    """Input box, k, model, Predict / Cancel, and the candidates table."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reactionPanel")
        self.runner = runner
        self.job: Job | None = None
        self.results: list[DepictedPrediction] = []
        self.cache: dict = {}

        self.input = QPlainTextEdit(self)
        self.input.setObjectName("reactionInput")
        self.input.setPlaceholderText(PLACEHOLDER)
        self.picker = ModelPicker("reaction", parent=self)
        self.picker.select(PREFERRED_MODEL)
        self.k_spin = QSpinBox(self)
        self.k_spin.setObjectName("reactionK")
        self.k_spin.setRange(1, 20)
        self.k_spin.setValue(5)
        self.k_spin.setToolTip("How many products to predict per reaction (beam size)")
        self.workers = QSpinBox(self)
        self.workers.setObjectName("reactionWorkers")
        self.workers.setRange(0, os.cpu_count() or 1)
        self.workers.setSpecialValueText("auto")
        self.workers.setToolTip("Processes that decode reactions (as 'chemaccel reaction predict --workers N'; "
                                f"the same products). auto: {AUTO_WORKERS} for {AUTO_FROM} reactions or more, "
                                "else 1 (this process)")
        self.load_button = QPushButton("Load file...", self)
        self.load_button.clicked.connect(self._choose_file)
        self.predict_button = QPushButton("Predict", self)
        self.predict_button.setObjectName("reactionPredict")
        self.predict_button.clicked.connect(self.predict)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.summary = QLabel(self)
        self.summary.setObjectName("reactionSummary")
        self.summary.setWordWrap(True)

        settings = QHBoxLayout()
        k_label = QLabel("top-k:", self)
        k_label.setBuddy(self.k_spin)
        workers_label = QLabel("processes:", self)
        workers_label.setToolTip(self.workers.toolTip())
        workers_label.setBuddy(self.workers)
        for widget in (k_label, self.k_spin, workers_label, self.workers):
            settings.addWidget(widget)
        settings.addStretch(1)
        controls = QHBoxLayout()
        controls.addWidget(self.load_button)
        controls.addStretch(1)
        controls.addWidget(self.predict_button)
        controls.addWidget(self.cancel_button)
        input_box = QGroupBox("Reactants", self)
        box_layout = QVBoxLayout(input_box)
        box_layout.addWidget(self.input, 1)
        box_layout.addLayout(settings)
        box_layout.addLayout(controls)
        model_box = QGroupBox("Model", self)
        QVBoxLayout(model_box).addWidget(self.picker)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(model_box)
        left_layout.addWidget(input_box, 1)

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("reactionTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setIconSize(QSize(DEPICTION[0], DEPICTION[1] + 20))
        self.table.verticalHeader().setVisible(False)
        self.table.setItemDelegateForColumn(COL_INPUT, TextUnderIcon(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_SMILES, QHeaderView.ResizeMode.Stretch)
        widths = ((COL_INPUT, DEPICTION[0] + 12), (COL_RANK, 44), (COL_PRODUCT, DEPICTION[0] + 12),
                  (COL_SCORE, 70), (COL_VALID, 70), (COL_CONFIDENCE, 84))
        for column, width in widths:
            self.table.setColumnWidth(column, width)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.summary)
        right_layout.addWidget(self.table, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.summary.setText("Type or paste reactant SMILES (or load a .smi/.txt file), then Predict.")

    # ---------------------------------------------------------------------------------------- actions

    def reactions(self) -> list[str]:
        return [line.strip() for line in self.input.toPlainText().splitlines() if line.strip()]

    def load_file(self, path: str | Path) -> bool:
        """Put a file's reactions in the input box; a file that cannot be read gives a message box."""
        try:
            rows, count = read_reactions(path)
        except api.ChemAccelError as exc:
            QMessageBox.warning(self, "Load reactions", str(exc))
            return False
        self.input.setPlainText("\n".join(rows))
        more = f" (the first {len(rows)} of {count})" if count > len(rows) else ""
        self.summary.setText(f"Loaded {len(rows)} reactions from {html.escape(Path(path).name)}{more}.")
        return True

    def processes(self, n_reactions: int) -> int:
        """The decoding processes for ``n_reactions``: the spin box's number, or with "auto" (0)
        :data:`AUTO_WORKERS` from :data:`AUTO_FROM` reactions on."""
        chosen = self.workers.value()
        return chosen if chosen > 0 else (AUTO_WORKERS if n_reactions >= AUTO_FROM else 1)

    def predict(self) -> Job | None:
        rows = self.reactions()
        if not rows:
            self.summary.setText("<span style='color:#be1414'>No reactions: type or paste reactant SMILES, "
                                 "one per line.</span>")
            return None
        path = self.picker.path()
        if path is None:
            self.summary.setText("Choose a reaction model first.")
            return None
        if self.job is not None:
            return self.job
        k, device, cache, workers = self.k_spin.value(), self.runner.device(), self.cache, self.processes(len(rows))
        self.job = self.runner.start(
            lambda reporter: predict_reactions(reporter, path, rows, k, device, cache, workers),
            "Predict reactions", on_finished=self._finished, on_failed=self._failed,
            on_created=lambda created: created.done.connect(self._done),
        )
        self.predict_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.summary.setText(f"Predicting {len(rows)} reaction{'s' if len(rows) != 1 else ''}...")
        return self.job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load reactions", str(Path.home()), REACTION_FILTER)
        if path:
            self.load_file(path)

    # ---------------------------------------------------------------------------------------- results

    def _finished(self, results: list[DepictedPrediction] | None) -> None:
        if results is None:
            self.summary.setText("Prediction cancelled.")
            return
        self.results = results
        self.show_results(results)
        bad = sum(not r.prediction.ok for r in results)
        text = f"{len(results) - bad} of {len(results)} reactions predicted"
        if bad:
            text += f"; <span style='color:#be1414'>{bad} could not be read</span> (reason in the table)"
        noted = sum(bool(r.prediction.note) for r in results if r.prediction.ok)
        if noted:
            text += (f"; <span style='color:{NOTE_COLOR.name()}'>{noted} read with a note</span> "
                     "(under the reactants)")
        self.summary.setText(text + ". Score: length-normalised log-probability (0 is certain).")

    def _failed(self, message: str) -> None:
        self.summary.setText(f"<span style='color:#be1414'>{html.escape(message)}</span>")

    def _done(self) -> None:
        self.job = None
        self.predict_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def show_results(self, results: list[DepictedPrediction]) -> None:
        table = self.table
        table.clearSpans()
        table.setRowCount(0)
        for result in results:
            prediction = result.prediction
            first = table.rowCount()
            count = max(1, len(prediction.candidates))
            table.setRowCount(first + count)
            source = QTableWidgetItem("" if result.reactants_png else prediction.input)
            source.setToolTip(prediction.input + (f"\n{prediction.note}" if prediction.note else ""))
            if prediction.note:
                source.setText("\n".join(t for t in (source.text(), f"note: {prediction.note}") if t))
                source.setForeground(QBrush(NOTE_COLOR))
            if result.reactants_png:  # the input is written under the drawing
                source.setIcon(_icon(result.reactants_png))
            table.setItem(first, COL_INPUT, source)
            if count > 1:
                table.setSpan(first, COL_INPUT, count, 1)
            if not prediction.ok:
                reason = QTableWidgetItem(prediction.status)
                reason.setForeground(QBrush(ERROR_COLOR))
                reason.setToolTip(prediction.status)
                source.setForeground(QBrush(ERROR_COLOR))
                table.setItem(first, COL_RANK, reason)
                table.setSpan(first, COL_RANK, 1, len(COLUMNS) - 1)
                continue
            pairs = zip(prediction.candidates, result.candidate_pngs)
            for rank, (candidate, png) in enumerate(pairs, start=1):
                row = first + rank - 1
                table.setItem(row, COL_RANK, QTableWidgetItem(str(rank)))
                picture = QTableWidgetItem("" if png else "no depiction")
                if png:
                    picture.setIcon(_icon(png))
                table.setItem(row, COL_PRODUCT, picture)
                smiles = QTableWidgetItem(candidate.smiles)
                smiles.setToolTip(candidate.smiles)
                table.setItem(row, COL_SMILES, smiles)
                score = QTableWidgetItem(f"{candidate.score:.3f}")
                score.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(row, COL_SCORE, score)
                text, colour, tip = validity_mark(candidate)
                mark = QTableWidgetItem(text)
                mark.setForeground(QBrush(colour))
                mark.setToolTip(tip)
                table.setItem(row, COL_VALID, mark)
                if rank == 1 and prediction.confidence is not None:
                    confidence = QTableWidgetItem(f"{prediction.confidence:.0%}")
                    confidence.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    confidence.setToolTip(CONFIDENCE_TIP)
                    table.setItem(row, COL_CONFIDENCE, confidence)
        for row in range(table.rowCount()):
            pictured = table.item(row, COL_PRODUCT) is not None or table.item(row, COL_INPUT) is None
            table.setRowHeight(row, DEPICTION[1] + 28 if pictured else 40)
            source = table.item(row, COL_INPUT)
            noted_drawing = source is not None and source.text() and not source.icon().isNull()
            if noted_drawing and table.rowSpan(row, COL_INPUT) == 1:  # a note under a one-row drawing
                table.setRowHeight(row, DEPICTION[1] + 28 + NOTE_LINES * table.fontMetrics().height())


def _icon(png: bytes) -> QIcon:
    pixmap = QPixmap()
    pixmap.loadFromData(png, "PNG")
    return QIcon(pixmap)
