"""The Train / prune tab: AutoPrune a built-in architecture or a model folder on MNIST / Fashion-MNIST.

Left: the model (a fresh LeNet-5, LeNet-300-100 or Fashion CNN, trained dense first; or a shipped or
user prune model, pruned further), the data (with a sample limit so a job can be tiny), and the
settings, a form generated from :class:`chemaccel.api.PruneConfig` and validated by it. Start runs a
job (worker thread); Cancel stops it at the next step and keeps the last good checkpoint, which Resume
continues. Right: live loss and kept-fraction curves, compression versus accuracy, per-layer sparsity.
A finished model is saved as a model folder (Save model...).
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QMessageBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from chemaccel import api
from chemaccel_gui.config_form import ConfigForm
from chemaccel_gui.job_panel import JobPanel
from chemaccel_gui.jobs import Job, JobRunner
from chemaccel_gui.model_picker import ModelPicker
from chemaccel_gui.prune_plots import PrunePlots
from chemaccel_gui.prune_task import PruneJobSpec, PruneOutcome, run_prune, save_outcome
from chemaccel_gui.shipped import ModelEntry, image_datasets, jobs_dir, shipped_models

BUILTINS = [("LeNet-5 (new, trained dense first)", "lenet5"),
            ("LeNet-300-100 (new, trained dense first)", "lenet300"),
            ("Fashion CNN (new, trained dense first)", "cnn")]
FASHION = "Fashion-MNIST"
DEFAULT_LIMIT = 2000


class PrunePanel(JobPanel):
    """Model, data and settings; Start / Cancel / Resume / Save; live plots.

    Attributes:
        work_root: where each job's checkpoint folder is made (tests point it at a temporary folder).
        outcome: the last finished or cancelled job's :class:`~chemaccel_gui.prune_task.PruneOutcome`.
    """

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(runner, "prune", parent)
        self.cancel_note = "Cancelling: the job stops at its next step and writes a checkpoint..."
        self.outcome: PruneOutcome | None = None
        self.work_root = jobs_dir("prune-jobs")
        self._last_spec: PruneJobSpec | None = None

        self.picker = ModelPicker("prune", builtins=BUILTINS, parent=self)
        self.datasets = image_datasets()
        self.data_combo = QComboBox(self)
        self.data_combo.setObjectName("pruneData")
        for label, path in self.datasets.items():
            self.data_combo.addItem(label, path)
        self.limit_spin = QSpinBox(self)
        self.limit_spin.setObjectName("pruneLimit")
        self.limit_spin.setRange(0, 60000)
        self.limit_spin.setSingleStep(500)
        self.limit_spin.setSpecialValueText("all")
        self.limit_spin.setValue(DEFAULT_LIMIT)
        self.limit_spin.setToolTip("Use only the first N training images (a tenth of them for validation)")
        self.pretrain_spin = QSpinBox(self)
        self.pretrain_spin.setObjectName("prunePretrain")
        self.pretrain_spin.setRange(0, 100)
        self.pretrain_spin.setValue(1)
        self.pretrain_spin.setToolTip("Dense training epochs before pruning a new architecture")
        self.form = ConfigForm(api.PruneConfig, hidden=["runtime.device"], parent=self)

        self.start_button = self.button("Start", "pruneStart", self.start)
        self.resume_button = self.button("Resume", "pruneResume", self.resume,
                                         "Continue the cancelled job from its checkpoint")
        self.save_button = self.button("Save model...", "pruneSave", self.save_model)
        self.plots = PrunePlots(self)

        self._layout()
        self.picker.changed.connect(self._model_changed)
        self.data_combo.currentIndexChanged.connect(self._data_changed)
        self._model_changed()
        self._set_running(False)
        if not self.datasets:
            self.status.setText("No MNIST or Fashion-MNIST folder found in ../shared/data "
                                "(set $CHEMACCEL_SHARED_DATA): a job cannot start.")
        else:
            self.status.setText("Choose a model, data and settings, then Start.")

    def _layout(self) -> None:
        model_box = QGroupBox("Model", self)
        QVBoxLayout(model_box).addWidget(self.picker)
        data_box = QGroupBox("Data", self)
        data_form = QFormLayout(data_box)
        data_form.addRow("images:", self.data_combo)
        data_form.addRow("limit:", self.limit_spin)
        data_form.addRow("dense epochs:", self.pretrain_spin)
        settings_box = QGroupBox("AutoPrune settings", self)
        QVBoxLayout(settings_box).addWidget(self.form)
        left = self.side_column((model_box, data_box, settings_box),
                                (self.start_button, self.cancel_button, self.resume_button, self.save_button))
        self.set_columns(left, self.plots)

    # ---------------------------------------------------------------------------------------- actions

    def spec(self, resume: bool = False) -> PruneJobSpec | None:
        """The job the form describes; None (with the reason shown under the form) when it is invalid."""
        config = self.form.config(runtime={"device": self.runner.device()})
        if config is None:
            return None
        data = self.data_combo.currentData()
        choice = self.picker.choice()
        if data is None or choice is None:
            self.form.show_error("choose a model and an image data set first")
            return None
        model = choice.path if isinstance(choice, ModelEntry) else str(choice)
        name = choice.name if isinstance(choice, ModelEntry) else str(choice)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        return PruneJobSpec(model, Path(data), config, self.work_root / f"{name}-{stamp}",
                            limit=self.limit_spin.value() or None, pretrain_epochs=self.pretrain_spin.value(),
                            resume=resume)

    def start(self, spec: PruneJobSpec | None = None) -> Job | None:
        """Start a job (default: the one the form describes); None when the form is invalid or one runs."""
        spec = self.claim_spec(spec, self.spec)
        if spec is None:
            return None
        self.plots.clear()
        self.run_job(lambda reporter: run_prune(reporter, spec), "Train / prune", self._finished, self._follow)
        self.status.setText(f"{'Resuming' if spec.resume else 'Starting'}... checkpoints in {spec.work}")
        return self.job

    def _follow(self, job: Job) -> None:
        """Connect the job's reporter to the plots (before its thread starts)."""
        job.reporter.started.connect(self.plots.on_started)
        job.reporter.progress.connect(self.plots.on_progress)
        job.reporter.message.connect(self.plots.on_message)

    def resume(self) -> Job | None:
        """Continue the last cancelled job from its checkpoint folder."""
        spec = self.resume_spec()
        return None if spec is None else self.start(spec)

    def save_model(self, path: str | Path | None = None) -> Path | None:
        """Write the finished model as a model folder (``path`` None: ask for one)."""
        if self.outcome is None or self.outcome.cancelled:
            QMessageBox.information(self, "Save model",
                                    "No finished model to save: run a job to the end first.")
            return None
        if path is None:
            start = str(Path.home() / f"{Path(str(self.outcome.spec.model)).name}-pruned")
            path, _ = QFileDialog.getSaveFileName(self, "Save the pruned model as a folder", start)
            if not path:
                return None
        try:
            folder = save_outcome(self.outcome, path)
        except (api.ChemAccelError, OSError) as exc:
            QMessageBox.warning(self, "Save model", " ".join(str(exc).split()))
            return None
        self.status.setText(f"Saved the pruned model to {html.escape(str(folder))}")
        return folder

    # ---------------------------------------------------------------------------------------- signals

    def _started(self, task: str, total: object) -> None:
        super()._started(task, total)
        self.status.setText(html.escape(task) + "...")

    def _finished(self, outcome: PruneOutcome | None) -> None:
        self.outcome = outcome
        if outcome is None:
            self.status.setText("Cancelled.")
            return
        self.plots.show_outcome(outcome)
        if outcome.cancelled:
            where = outcome.checkpoint or outcome.spec.work
            kept = f"the last good checkpoint is kept in {where}; Resume continues" if outcome.result else \
                "cancelled during dense training (no checkpoint yet)"
            self.status.setText(f"Cancelled: {html.escape(kept)}.")
            return
        m = outcome.result.measurements
        text = (f"Done: {m['compression']:.1f}x fewer parameters, {m['flops_fraction']:.0%} of the FLOPs"
                + (f", validation error {m['val_error']:.1%}" if "val_error" in m else "")
                + ". Save model... writes the folder.")
        self.status.setText(text)

    def _set_running(self, running: bool) -> None:
        super()._set_running(running)
        self.start_button.setEnabled(not running and bool(self.datasets))
        self.form.setEnabled(not running)
        cancelled = self.outcome is not None and self.outcome.result is not None and self.outcome.cancelled
        self.resume_button.setEnabled(not running and cancelled)
        self.save_button.setEnabled(not running and self.outcome is not None and not self.outcome.cancelled)
        if not running:
            self.show_idle_progress(self.outcome is not None and not self.outcome.cancelled)

    # ---------------------------------------------------------------------------------- model / data

    def _model_changed(self) -> None:
        choice = self.picker.choice()
        fashion = choice == "cnn"
        values = api.PruneConfig().to_dict()  # a new architecture starts from the defaults
        if isinstance(choice, ModelEntry):  # a model folder: the settings it was pruned with
            fashion = "fashion" in (choice.name + choice.info.notes).lower()
            values.update(choice.info.config)
        for name, value in values.items():
            if name != "runtime":
                self.form.set_value(name, value)
        self.pretrain_spin.setEnabled(not isinstance(choice, ModelEntry))
        index = self.data_combo.findText(FASHION if fashion else "MNIST")
        if index >= 0:
            self.data_combo.setCurrentIndex(index)
        self._data_changed()

    def _data_changed(self) -> None:
        fashion = self.data_combo.currentText() == FASHION
        same = [e for e in shipped_models("prune")
                if ("fashion" in (e.name + e.info.notes).lower()) == fashion]
        self.plots.show_reference(same)
