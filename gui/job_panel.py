"""What the panels that run long jobs share: a progress bar, a status line, Start / Cancel wiring, and the
layout of a settings column (scrolling) beside the plots.

A panel subclasses :class:`JobPanel`, builds its own widgets, and calls :meth:`JobPanel.run_job` with the
task to run in the worker thread; the base connects the job's reporter to the progress bar, shows a failure
in red, and re-enables the panel when the job ends (through :meth:`JobPanel._set_running`, which the panel
extends for its own buttons).
"""

from __future__ import annotations

import dataclasses
import html
from typing import Any, Callable, Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from chemaccel_gui.jobs import Job, JobRunner

ERROR_COLOUR = "#be1414"


class JobPanel(QWidget):
    """Base of the job-running panels.

    Attributes:
        runner: the window's :class:`~chemaccel_gui.jobs.JobRunner`.
        job: the running job, or None.
        progress, status: the progress bar and the status line under the settings column.
        cancel_note: the status text while a cancel is pending (empty: the status is left as it is).
    """

    cancel_note = ""

    def __init__(self, runner: JobRunner, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"{name}Panel")
        self.runner = runner
        self.job: Job | None = None
        self.progress = QProgressBar(self)
        self.progress.setObjectName(f"{name}Progress")
        self.status = QLabel(self)
        self.status.setObjectName(f"{name}Status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel_button = self.button("Cancel", f"{name}Cancel", self.cancel)

    # ---------------------------------------------------------------------------------------- building

    def button(self, text: str, object_name: str | None, slot: Callable[[], Any],
               tooltip: str | None = None) -> QPushButton:
        """A push button that calls ``slot()`` (without the ``checked`` argument Qt passes)."""
        widget = QPushButton(text, self)
        if object_name:
            widget.setObjectName(object_name)
        if tooltip:
            widget.setToolTip(tooltip)
        widget.clicked.connect(lambda: slot())
        return widget

    def side_column(self, boxes: Iterable[QWidget], buttons: Iterable[QPushButton] = ()) -> QWidget:
        """The left column: ``boxes`` in a vertical scroll area, then a row of ``buttons``, the progress
        bar and the status line."""
        column = QWidget(self)
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        for box in boxes:
            column_layout.addWidget(box)
        column_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(column)
        scroll.setMinimumWidth(330)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        buttons = list(buttons)
        if buttons:
            row = QHBoxLayout()
            for widget in buttons:
                row.addWidget(widget)
            left_layout.addLayout(row)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.status)
        return left

    def set_columns(self, left: QWidget, right: QWidget) -> None:
        """The panel's layout: ``left`` (settings) and ``right`` (plots) in a horizontal splitter."""
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([360, 900])
        QVBoxLayout(self).addWidget(splitter)

    # ---------------------------------------------------------------------------------------- jobs

    def claim_spec(self, spec: Any, make: Callable[[], Any]) -> Any:
        """The job spec a Start begins with: ``spec``, or ``make()`` (the form's; None when invalid). None
        too while a job runs. The spec is kept for :meth:`resume_spec` and the last outcome is dropped."""
        if self.job is not None:
            return None
        spec = spec or make()
        if spec is not None:
            self._last_spec = spec
            self.outcome = None
        return spec

    def resume_spec(self) -> Any:
        """The last started spec, marked to resume from its checkpoint folder (None when there is none)."""
        spec = getattr(self, "_last_spec", None)
        return None if spec is None else dataclasses.replace(spec, resume=True)

    def run_job(self, task: Callable[[Any], Any], title: str, finished: Callable[[Any], None],
                follow: Callable[[Job], None] | None = None) -> Job:
        """Start ``task(reporter)`` in the worker thread; ``finished(result)`` runs when it ends (result None:
        cancelled before it returned), ``follow(job)`` connects more of the job's signals before it starts."""

        def connect(job: Job) -> None:  # before the thread starts: no signal is missed
            job.reporter.started.connect(self._started)
            job.reporter.progress.connect(self._progress)
            if follow is not None:
                follow(job)
            job.done.connect(self._done)

        self.progress.setRange(0, 0)
        self.job = self.runner.start(task, title, on_finished=finished, on_failed=self._failed, on_created=connect)
        self._set_running(True)
        return self.job

    def cancel(self) -> None:
        """Ask the running job to stop at its next step (it keeps its last checkpoint)."""
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            if self.cancel_note:
                self.status.setText(self.cancel_note)

    def _started(self, task: str, total: object) -> None:
        self.progress.setRange(0, int(total) if total else 0)
        self.progress.setValue(0)

    def _progress(self, step: int, total: object, metrics: dict) -> None:
        if total:
            self.progress.setRange(0, int(total))
            self.progress.setValue(min(int(step), int(total)))
        loss = metrics.get("loss")
        if isinstance(loss, float):
            self.progress.setFormat(f"%v / %m  loss {loss:.3g}")

    def _failed(self, message: str) -> None:
        self.status.setText(f"<span style='color:{ERROR_COLOUR}'>{html.escape(message)}</span>")

    def _done(self) -> None:
        self.job = None
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        """Enable the controls for a running or an idle panel; panels extend it for their own buttons."""
        self.cancel_button.setEnabled(running)

    def show_idle_progress(self, finished: bool) -> None:
        """The progress bar of an idle panel: full after a finished job, empty otherwise."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if finished else 0)
        self.progress.setFormat("%p%")
