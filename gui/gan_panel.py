"""The GAN tab: train K orthogonal generators on a 2-D toy mixture, and sample GAN model folders.

Training (a job: worker thread, live loss curves, Cancel keeps the last checkpoint) ends with a scatter
of generated points coloured by the generator that made them, which shows whether the K generators
split the modes between them. Sampling a shipped or user model shows a scatter (2-D models) or a grid
of depicted molecules (a molecular model, when one exists: the panel says when none is shipped).
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from chemaccel import api
from chemaccel_gui.charts import ScatterPlot
from chemaccel_gui.config_form import ConfigForm
from chemaccel_gui.gan_task import GanSamples, GanTraining, sample_model, train_toy
from chemaccel_gui.job_panel import JobPanel
from chemaccel_gui.jobs import Job, JobRunner
from chemaccel_gui.model_picker import ModelPicker
from chemaccel_gui.molecule_grid import MoleculeGrid
from chemaccel_gui.plots import CurvePlot
from chemaccel_gui.shipped import jobs_dir

TOY_FIELDS = ["data", "n_generators", "private_layers", "ortho_weight", "ortho_on", "classifier_weight",
              "steps", "batch_size", "lr", "gen_hidden", "disc_hidden", "log_every"]
#: Starting values: the shipped toy models' settings (resources/models/gan-ring8), shorter.
TOY_START = {"data": "ring8", "n_generators": 4, "gen_hidden": 128, "disc_hidden": 128,
             "classifier_weight": 0.5, "lr": 5e-4, "steps": 1000, "log_every": 20}
#: Settings not in the form, as the shipped toy models were trained (a cancel writes a checkpoint anyway).
TOY_FIXED = {"lr_final": 0.02, "beta1": 0.5, "n_train": 20000, "checkpoint_every": 200}
LOSSES = ["loss_d", "loss_g", "classifier", "ortho"]
MOLECULAR = "qm9"
NO_MOLECULAR_MODEL = ("No molecular GAN model is shipped yet (resources/models/gan-qm9 is not there): "
                      "choose a folder of your own (chemaccel gan train --data qm9) to sample molecules.")


def molecule_summary(samples: GanSamples) -> str:
    """One line on drawn molecules: valid, distinct, new, and how diverse (the field's metrics)."""
    m = samples.metrics
    text = f"{samples.n_valid} of {len(samples.smiles)} samples are valid molecules"
    if m.get("n_valid"):
        text += (f"; {m['n_unique']} distinct (uniqueness {m['uniqueness']:.0%}), novelty {m['novelty']:.0%} "
                 f"against the training molecules")
        if m.get("internal_diversity") == m.get("internal_diversity"):  # not NaN
            text += f", internal diversity {m['internal_diversity']:.2f}"
    return text + "."


class GanPanel(JobPanel):
    """Toy training (form, Start / Cancel / Save, curves) and sampling (model, n, scatter or molecules)."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(runner, "gan", parent)
        self.training: GanTraining | None = None
        self.samples: GanSamples | None = None
        self.work_root = jobs_dir("gan-jobs")

        self.form = ConfigForm(api.GanConfig, fields=TOY_FIELDS, values=TOY_START,
                               choices={"data": ("ring8", "grid25")}, parent=self)
        self.train_button = self.button("Start", "ganStart", self.train)
        self.save_button = self.button("Save model...", None, self.save_model)

        self.picker = ModelPicker("gan", parent=self)
        self.n_spin = QSpinBox(self)
        self.n_spin.setRange(1, 20000)
        self.n_spin.setValue(2000)
        self.sample_button = self.button("Sample", "ganSample", self.sample)
        self.molecular_note = QLabel(self)
        self.molecular_note.setObjectName("ganMolecularNote")
        self.molecular_note.setWordWrap(True)
        self.molecular_note.setStyleSheet("color: #555;")
        kinds = [e.info.config.get("data") for e in self.picker.entries() if not isinstance(e, str)]
        self.molecular_note.setText("" if MOLECULAR in kinds else NO_MOLECULAR_MODEL)
        self.molecular_note.setVisible(MOLECULAR not in kinds)

        self.curves = CurvePlot(title="GAN losses", x_label="step", metrics=LOSSES, parent=self)
        self.scatter = ScatterPlot(title="Generated samples (colour: generator)", symbol_size=4,
                                   equal_axes=True, parent=self)
        self.scatter.setObjectName("ganScatter")
        self.grid = MoleculeGrid(self)
        self.results = QStackedWidget(self)
        self.results.addWidget(self.scatter)
        self.results.addWidget(self.grid)
        self._layout()
        self._set_running(False)
        self.status.setText("Train a toy GAN, or sample a model.")

    def _layout(self) -> None:
        train_box = QGroupBox("Train on a 2-D toy mixture", self)
        train_layout = QVBoxLayout(train_box)
        train_layout.addWidget(self.form)
        buttons = QHBoxLayout()
        for button in (self.train_button, self.cancel_button, self.save_button):
            buttons.addWidget(button)
        train_layout.addLayout(buttons)
        sample_box = QGroupBox("Sample a model", self)
        sample_layout = QVBoxLayout(sample_box)
        sample_layout.addWidget(self.picker)
        row = QHBoxLayout()
        row.addWidget(QLabel("samples:", self))
        row.addWidget(self.n_spin)
        row.addStretch(1)
        row.addWidget(self.sample_button)
        sample_layout.addLayout(row)
        sample_layout.addWidget(self.molecular_note)
        left = self.side_column((train_box, sample_box))
        right = QSplitter(Qt.Orientation.Vertical, self)
        right.addWidget(self.curves)
        right.addWidget(self.results)
        right.setSizes([300, 420])
        self.set_columns(left, right)

    # ---------------------------------------------------------------------------------------- actions

    def train(self) -> Job | None:
        """Start a toy training job from the form; None when the form is invalid or a job runs."""
        if self.job is not None:
            return None
        config = self.form.config(**TOY_FIXED)
        if config is None:
            return None
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        work, device = self.work_root / f"{config.data}-{stamp}", self.runner.device()
        self.curves.clear()
        self.training = None
        job = self.run_job(lambda reporter: train_toy(reporter, config, work, device), "Train GAN", self._trained,
                           lambda job: job.reporter.progress.connect(self.curves.on_progress))
        self.status.setText(f"Training {config.n_generators} generators on {config.data}; "
                            f"checkpoints in {work}")
        return job

    def sample(self, n: int | None = None) -> Job | None:
        """Sample the chosen model folder."""
        path = self.picker.path()
        if path is None:
            self.status.setText("Choose a GAN model folder first.")
        if self.job is not None or path is None:
            return None
        count = n or self.n_spin.value()
        job = self.run_job(lambda reporter: sample_model(reporter, path, count), "Sample GAN", self._sampled)
        self.status.setText(f"Sampling {html.escape(path.name)}...")
        return job

    def save_model(self, path: str | Path | None = None) -> Path | None:
        training = self.training
        if training is None or training.result.status == "cancelled":
            QMessageBox.information(self, "Save model", "No finished model to save: train to the end first.")
            return None
        if path is None:
            start = str(Path.home() / "toy-gan")
            path, _ = QFileDialog.getSaveFileName(self, "Save the GAN as a folder", start)
            if not path:
                return None
        try:
            folder = api.save_gan_result(path, training.result)
        except (api.ChemAccelError, OSError) as exc:
            QMessageBox.warning(self, "Save model", " ".join(str(exc).split()))
            return None
        self.status.setText(f"Saved the GAN to {html.escape(str(folder))}")
        return folder

    # ---------------------------------------------------------------------------------------- results

    def _trained(self, training: GanTraining | None) -> None:
        if training is None:
            self.status.setText("Cancelled.")
            return
        self.training = training
        result = training.result
        self.show_samples(training.samples)
        metrics = result.metrics
        text = f"{result.status}: {html.escape(result.reason)}"
        if "n_modes" in metrics:
            text += (f". Modes captured {metrics['n_modes_captured']} of {metrics['n_modes']}, "
                     f"high-quality samples {metrics['high_quality']:.0%}")
        if result.status == "cancelled":
            text += f". The last checkpoint is kept in {html.escape(str(training.work))}"
        self.status.setText(text + ".")

    def _sampled(self, samples: GanSamples | None) -> None:
        if samples is None:
            self.status.setText("Cancelled.")
            return
        self.show_samples(samples)
        if samples.kind == MOLECULAR:
            self.status.setText(molecule_summary(samples))
        else:
            self.status.setText(f"{len(samples.points)} samples of a {samples.kind} model.")

    def show_samples(self, samples: GanSamples) -> None:
        self.samples = samples
        if samples.kind == MOLECULAR:
            self.grid.show_molecules(samples.smiles, samples.pngs)
            self.results.setCurrentWidget(self.grid)
            return
        self.scatter.clear()
        for generator in sorted(set(int(g) for g in samples.generators)):
            mask = samples.generators == generator
            points = samples.points[mask]
            self.scatter.set_series(f"generator {generator + 1}", points[:, 0], points[:, 1])
        self.scatter.plot_item.autoRange()
        self.results.setCurrentWidget(self.scatter)

    def _set_running(self, running: bool) -> None:
        super()._set_running(running)
        self.train_button.setEnabled(not running)
        self.sample_button.setEnabled(not running)
        self.form.setEnabled(not running)
        finished = self.training is not None and self.training.result.status != "cancelled"
        self.save_button.setEnabled(not running and finished)
        if not running:
            self.show_idle_progress(finished)
