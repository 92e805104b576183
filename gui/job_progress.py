"""The status-bar strip that follows the running job: its title, a progress bar and Cancel."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from chemaccel_gui.jobs import Job


def format_metrics(metrics: dict[str, float], limit: int = 4) -> str:
    """``"loss 0.123  acc 0.9"`` (the first ``limit`` metrics)."""
    parts = []
    for key, value in list(metrics.items())[:limit]:
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return "  ".join(parts)


class JobProgress(QWidget):
    """Hidden while idle; shows the most recently started job until it is done.

    With a known total the bar shows ``step / total``; without one it is a busy bar with the step
    count ("1234"), which suits streaming work such as reading a file of unknown length.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("jobProgress")
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setObjectName("jobProgressBar")
        self.bar.setMinimumWidth(220)
        self.bar.setMaximumWidth(320)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("jobCancel")
        self.cancel_button.setToolTip("Stop the job at its next step")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self.cancel)
        self.job: Job | None = None
        self._task = ""
        self.hide()

    def follow(self, job: Job) -> None:
        self.job = job
        self._task = f"{job.title} ({job.device})" if job.device != "cpu" else job.title
        self.label.setText(self._task)
        self.bar.setRange(0, 0)
        self.bar.setFormat("")
        self.cancel_button.setEnabled(True)
        job.reporter.started.connect(lambda task, total, j=job: self._started(j, task, total))
        job.reporter.progress.connect(
            lambda step, total, metrics, j=job: self._progress(j, step, total, metrics)
        )
        job.done.connect(lambda j=job: self._done(j))
        self.show()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.label.setText(f"{self.job.title}: cancelling...")

    def _started(self, job: Job, task: str, total: int | None) -> None:
        if job is not self.job:
            return
        self._task = task
        self.label.setText(task)
        self.bar.setRange(0, int(total) if total else 0)

    def _progress(self, job: Job, step: int, total: int | None, metrics: dict[str, float]) -> None:
        if job is not self.job:
            return
        if total:
            self.bar.setRange(0, int(total))
            self.bar.setValue(min(int(step), int(total)))
            self.bar.setFormat("%v / %m")
        else:  # a busy bar shows no text: the count goes in the label
            self.bar.setRange(0, 0)
            self.label.setText(f"{self._task}: {step}")
        self.bar.setToolTip(format_metrics(metrics))

    def _done(self, job: Job) -> None:
        if job is self.job:
            self.job = None
            self.hide()
