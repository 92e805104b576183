"""The NAS tab: a DARTS architecture search (optionally distilled from a teacher) on MNIST / Fashion-MNIST,
and NAS model folders and genotype files, with their cells drawn.

Left: the data (with a sample limit so a job can be tiny, and the distillation switch), the settings, a
form generated from :class:`chemaccel.nas.SearchConfig` and validated by it, and the model section (a
shipped or user NAS model folder: its genotype, parameters and stored test accuracy; or a genotype JSON
file). Start runs a search (worker thread); Cancel stops it at the next step and keeps the last checkpoint,
which Resume continues. Right: live loss curves (the teacher's, then the search's, as the engine reports
them), the accuracy on the architecture half per epoch, and the derived genotype: both cells drawn as
DAGs with their operations, a table of the edges and the skip connections per cell. Save genotype...
writes it as JSON (what ``chemaccel nas retrain --genotype`` reads).
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from chemaccel import api
from chemaccel_gui.charts import ScatterPlot
from chemaccel_gui.config_form import INVALID_STYLE, ConfigForm
from chemaccel_gui.genotype_view import GenotypeView
from chemaccel_gui.job_panel import ERROR_COLOUR, JobPanel
from chemaccel_gui.jobs import Job, JobRunner, one_line
from chemaccel_gui.model_picker import ModelPicker
from chemaccel_gui.nas_task import (
    DISTILL_DEFAULTS,
    TEACHER_TASK,
    NasSearchOutcome,
    NasSearchSpec,
    describe_model,
    epoch_row,
    read_genotype,
    run_search,
    save_search_genotype,
)
from chemaccel_gui.plots import CurvePlot
from chemaccel_gui.shipped import IMAGE_DATASETS, image_datasets, jobs_dir, models_dir

FASHION = "Fashion-MNIST"
DEFAULT_LIMIT = 2000
#: Fields the panel fills itself: the toolbar's device, and ``limit_train`` (the Data box's "limit").
HIDDEN = ["runtime.device", "limit_train"]
DISTILL_FIELDS = ("feature_weight", "logit_weight", "temperature", "distill_arch", "teacher_epochs",
                  "teacher_width")
CHOICES = {"order": ("first", "second"), "runtime.precision": api.NAS_PRECISIONS}
SHIPPED = "nas-fashion"
NO_SHIPPED_MODEL = (f"No NAS model is shipped yet (resources/models/{SHIPPED} is not there): choose a "
                    "folder of your own (chemaccel nas retrain --genotype G.json --data DIR -o FOLDER), or "
                    "open a genotype file.")
GENOTYPE_FILTER = "Genotype JSON (*.json);;All files (*)"
TEACHER_LOSS = "teacher loss"
MAX_EPOCH_TICKS = 15


class NasPanel(JobPanel):
    """Data, settings and model; Start / Cancel / Resume / Save genotype; live plots and the genotype.

    Attributes:
        work_root: where each job's checkpoint folder is made (tests point it at a temporary folder).
        outcome: the last finished or cancelled search (:class:`~chemaccel_gui.nas_task.NasSearchOutcome`).
        model: what the chosen model folder says (:class:`~chemaccel_gui.nas_task.NasModelView`), or None.
    """

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(runner, "nas", parent)
        self.cancel_note = "Cancelling: the search stops at its next step and writes a checkpoint..."
        self.outcome: NasSearchOutcome | None = None
        self.model = None
        self.work_root = jobs_dir("nas-jobs")
        self._last_spec: NasSearchSpec | None = None
        self._phase = ""
        self._offset = 0  # the search's steps follow the teacher's on the loss plot
        self._teacher_steps = 0

        self.datasets = image_datasets()
        self.data_combo = QComboBox(self)
        self.data_combo.setObjectName("nasData")
        for label, path in self.datasets.items():
            self.data_combo.addItem(label, path)
        index = self.data_combo.findText(FASHION)
        if index >= 0:
            self.data_combo.setCurrentIndex(index)
        self.limit_spin = QSpinBox(self)
        self.limit_spin.setObjectName("nasLimit")
        self.limit_spin.setRange(0, 60000)
        self.limit_spin.setSingleStep(500)
        self.limit_spin.setSpecialValueText("all")
        self.limit_spin.setValue(DEFAULT_LIMIT)
        self.limit_spin.setToolTip("limit_train: search on only the first N training images (half train the "
                                   "weights, half the architecture); the test split is never read")
        self.distill_check = QCheckBox("distil from a teacher CNN (trained first)", self)
        self.distill_check.setObjectName("nasDistill")
        self.distill_check.setToolTip("DARTS + distillation: the teacher's stage features and logits are "
                                      "distilled into the supernet (off: plain DARTS)")
        self.form = ConfigForm(api.SearchConfig, hidden=HIDDEN, values=DISTILL_DEFAULTS, choices=CHOICES,
                               parent=self)

        self.start_button = self.button("Start", "nasStart", self.start)
        self.resume_button = self.button("Resume", "nasResume", self.resume,
                                         "Continue the cancelled search from its checkpoint")
        self.save_button = self.button("Save genotype...", "nasSaveGenotype", self.save_genotype,
                                       "Write the derived genotype as JSON (for chemaccel nas retrain --genotype)")

        self.picker = ModelPicker("nas", parent=self)
        self.model_note = QLabel(self)
        self.model_note.setObjectName("nasModelNote")
        self.model_note.setWordWrap(True)
        self.model_note.setStyleSheet("color: #555;")
        shipped = (models_dir() / SHIPPED / "config.json").is_file()
        self.model_note.setText("" if shipped else NO_SHIPPED_MODEL)
        self.model_note.setVisible(not shipped)  # hidden too once a model folder is chosen
        self.model_info = QLabel(self)
        self.model_info.setObjectName("nasModelInfo")
        self.model_info.setWordWrap(True)
        self.model_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = self.button("Open genotype...", "nasOpenGenotype", self.open_genotype,
                                       "Show a genotype JSON file (from chemaccel nas search or Save genotype...)")

        self.losses = CurvePlot(title="Search losses", x_label="step (teacher, then search)", log_y=True,
                                parent=self)
        self.losses.setObjectName("nasLossPlot")
        self.epochs = ScatterPlot(title="Per epoch", x_label="epoch", y_label="accuracy (architecture half)",
                                  symbol_size=8, legend_offset=(-10, -10), parent=self)
        self.epochs.setObjectName("nasEpochPlot")
        self.epochs.plot_item.getAxis("left").enableAutoSIPrefix(False)  # fractions, not "x0.001"
        self.genotype_view = GenotypeView(self)

        self._layout()
        self.distill_check.toggled.connect(self._distill_changed)
        self.distill_check.setChecked(True)
        self.picker.changed.connect(self._model_changed)
        self._model_changed()
        self._set_running(False)
        if not self.datasets:
            self.status.setText("No MNIST or Fashion-MNIST folder found in ../shared/data "
                                "(set $CHEMACCEL_SHARED_DATA): a search cannot start.")
        elif self.model is None:
            self.status.setText("Choose the data and settings, then Start.")

    def _layout(self) -> None:
        data_box = QGroupBox("Data", self)
        data_form = QFormLayout(data_box)
        data_form.addRow("images:", self.data_combo)
        data_form.addRow("limit:", self.limit_spin)
        data_form.addRow(self.distill_check)
        settings_box = QGroupBox("Search settings (DARTS)", self)
        QVBoxLayout(settings_box).addWidget(self.form)
        model_box = QGroupBox("Model", self)
        model_layout = QVBoxLayout(model_box)
        model_layout.addWidget(self.picker)
        model_layout.addWidget(self.model_note)
        model_layout.addWidget(self.model_info)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.open_button)
        model_layout.addLayout(row)
        left = self.side_column((data_box, settings_box, model_box),
                                (self.start_button, self.cancel_button, self.resume_button, self.save_button))
        curves = QSplitter(Qt.Orientation.Horizontal, self)
        curves.addWidget(self.losses)
        curves.addWidget(self.epochs)
        curves.setSizes([560, 340])
        right = QSplitter(Qt.Orientation.Vertical, self)
        right.addWidget(curves)
        right.addWidget(self.genotype_view)
        right.setSizes([300, 420])
        self.set_columns(left, right)

    # ---------------------------------------------------------------------------------------- actions

    def spec(self, resume: bool = False) -> NasSearchSpec | None:
        """The search the form describes; None (with the reason shown under the form) when it is invalid."""
        self.limit_spin.setStyleSheet("")
        distill = self.distill_check.isChecked()
        fixed: dict = {"runtime": {"device": self.runner.device()},
                       "limit_train": self.limit_spin.value() or None}
        if not distill:
            fixed.update(feature_weight=0.0, logit_weight=0.0)
        config = self.form.config(**fixed)
        if config is None:
            if "limit_train" in self.form.error():
                self.limit_spin.setStyleSheet(INVALID_STYLE)
            return None
        if distill and not config.distill:
            self.form.show_error("distillation is switched on but feature_weight and logit_weight are both "
                                 "0: give one of them a positive weight, or switch distillation off")
            return None
        data = self.data_combo.currentData()
        if data is None:
            self.form.show_error("no MNIST or Fashion-MNIST folder was found: a search needs training images")
            return None
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        return NasSearchSpec(Path(data), config, self.work_root / f"{Path(data).name}-{stamp}", resume)

    def start(self, spec: NasSearchSpec | None = None) -> Job | None:
        """Start a search (default: the one the form describes); None when the form is invalid or one runs."""
        spec = self.claim_spec(spec, self.spec)
        if spec is None:
            return None
        self.losses.clear()
        self.epochs.clear()
        self.epochs.plot_item.getAxis("bottom").setTicks(None)
        self._phase, self._offset, self._teacher_steps = "", 0, 0
        self.run_job(lambda reporter: run_search(reporter, spec), "NAS search", self._finished,
                     lambda job: job.reporter.message.connect(self._message))
        what = "Resuming" if spec.resume else "Starting"
        self.status.setText(f"{what} the search... checkpoints in {html.escape(str(spec.work))}")
        return self.job

    def resume(self) -> Job | None:
        """Continue the last cancelled search from its checkpoint folder."""
        spec = self.resume_spec()
        if spec is None or self.outcome is None or self.outcome.checkpoint is None:
            return None
        return self.start(spec)

    def save_genotype(self, path: str | Path | None = None) -> Path | None:
        """Write the finished search's genotype as JSON (``path`` None: ask for one)."""
        if self.outcome is None or self.outcome.cancelled:
            QMessageBox.information(self, "Save genotype",
                                    "No finished search to save: run a search to the end first.")
            return None
        if path is None:
            start = str(Path.home() / f"genotype-{self.outcome.spec.data.name}.json")
            path, _ = QFileDialog.getSaveFileName(self, "Save the genotype as JSON", start, GENOTYPE_FILTER)
            if not path:
                return None
        try:
            written = save_search_genotype(self.outcome, path)
        except (api.ChemAccelError, OSError) as exc:
            QMessageBox.warning(self, "Save genotype", one_line(str(exc)))
            return None
        self.status.setText(f"Saved the genotype to {html.escape(str(written))}")
        return written

    def open_genotype(self, path: str | Path | None = None):
        """Show a genotype JSON file; a bad one gives a message box with the one-line reason (and None)."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open a genotype JSON", str(Path.home()),
                                                  GENOTYPE_FILTER)
            if not path:
                return None
        try:
            genotype = read_genotype(path)
        except api.ChemAccelError as exc:
            QMessageBox.warning(self, "Open genotype", one_line(str(exc)))
            return None
        self.genotype_view.show_genotype(genotype, f"Genotype file {Path(path).name}")
        self.status.setText(f"Showing the genotype of {html.escape(str(path))}")
        return genotype

    # ---------------------------------------------------------------------------------------- signals

    def _started(self, task: str, total: object) -> None:
        super()._started(task, total)
        if task == TEACHER_TASK:
            self._phase, self._offset = "teacher", 0
            self._teacher_steps = int(total or 0)
        elif task.startswith("DARTS search"):
            self._phase, self._offset = "search", self._teacher_steps
        else:
            self._phase = ""
        self.status.setText(html.escape(task) + "...")

    def _progress(self, step: int, total: object, metrics: dict) -> None:
        super()._progress(step, total, metrics)
        x = self._offset + int(step)
        if self._phase == "teacher" and "loss" in metrics:
            self.losses.on_progress(x, total, {TEACHER_LOSS: metrics["loss"]})
        elif self._phase == "search":
            self.losses.on_progress(x, total, metrics)

    def _message(self, text: str) -> None:
        row = epoch_row(text)
        if row is None or "epoch" not in row:
            return
        if "val_accuracy" in row:
            self.epochs.add_point("val_accuracy", row["epoch"], row["val_accuracy"], connect=True,
                                  color=(31, 119, 180))
            last = int(row["epoch"])  # whole epochs on the axis while they fit
            self.epochs.plot_item.getAxis("bottom").setTicks(
                [[(e, str(e)) for e in range(1, last + 1)]] if last <= MAX_EPOCH_TICKS else None)
        parts = [f"Epoch {int(row['epoch'])} done"]
        if "val_accuracy" in row:
            parts.append(f"accuracy on the architecture half {row['val_accuracy']:.1%}")
        if "max_skip_per_cell" in row:
            parts.append(f"at most {int(row['max_skip_per_cell'])} skip connections per cell")
        self.status.setText(", ".join(parts) + ".")

    def _finished(self, outcome: NasSearchOutcome | None) -> None:
        self.outcome = outcome
        if outcome is None:
            self.status.setText("Cancelled.")
            return
        result, config = outcome.result, outcome.spec.config
        epochs = len(result.history)
        kind = "DARTS + distillation" if config.distill else "DARTS"
        if outcome.cancelled:
            if outcome.checkpoint is None:
                self.status.setText("Cancelled before the search began (while the teacher trained): "
                                    "no checkpoint yet.")
                return
            title = (f"Provisional genotype of a cancelled search ({kind}, {epochs} of {config.epochs} "
                     f"epochs finished): the current architecture weights")
            self.genotype_view.show_genotype(result.genotype, title, result.skips_before_cap)
            self.status.setText(f"Cancelled: the last checkpoint is kept in "
                                f"{html.escape(str(outcome.checkpoint))}; Resume continues.")
            return
        data = next((label for label, name in IMAGE_DATASETS.items() if name == outcome.spec.data.name),
                    outcome.spec.data.name)
        title = (f"Derived by the search: {kind}, {data}, {epochs} epoch{'s' * (epochs != 1)}, "
                 f"{config.layers} cells of {config.nodes} nodes")
        self.genotype_view.show_genotype(result.genotype, title, result.skips_before_cap)
        skips = result.genotype.skip_counts()
        self.status.setText(f"Done in {result.seconds:.0f} s: skip connections per cell normal "
                            f"{skips['normal']}, reduce {skips['reduce']}. Save genotype... writes the JSON.")

    def _set_running(self, running: bool) -> None:
        super()._set_running(running)
        self.start_button.setEnabled(not running and bool(self.datasets))
        for widget in (self.form, self.data_combo, self.limit_spin, self.distill_check):
            widget.setEnabled(not running)
        finished = self.outcome is not None and not self.outcome.cancelled
        self.resume_button.setEnabled(not running and self.outcome is not None
                                      and self.outcome.cancelled and self.outcome.checkpoint is not None)
        self.save_button.setEnabled(not running and finished)
        if not running:
            self.show_idle_progress(finished)

    # ------------------------------------------------------------------------------ settings / model

    def _distill_changed(self, on: bool) -> None:
        for name in DISTILL_FIELDS:
            if name in self.form.fields:
                self.form.widget(name).setEnabled(on)
        if on and not any(self.form.value(name) for name in DISTILL_DEFAULTS):
            for name, value in DISTILL_DEFAULTS.items():
                self.form.set_value(name, value)

    def _model_changed(self) -> None:
        """Show the chosen model folder's genotype, parameters and stored test accuracy; a folder whose
        config.json cannot be read as a NAS model gets the one-line reason instead."""
        self.model = None
        self.model_info.setStyleSheet("")
        path = self.picker.path()
        self.model_note.setVisible(path is None and bool(self.model_note.text()))
        if path is None:
            self.model_info.setText("")
            return
        try:
            model = describe_model(path)
        except api.ChemAccelError as exc:
            self.model_info.setStyleSheet(f"color: {ERROR_COLOUR};")
            self.model_info.setText(one_line(str(exc)))
            self.genotype_view.clear(f"{path.name}: not a usable NAS model folder "
                                     "(see the reason on the left).")
            return
        self.model = model
        self.model_info.setText(model.describe())
        self.genotype_view.show_genotype(model.genotype, f"Model {path.name}")
        self.status.setText(f"Showing the model {html.escape(path.name)}.")
