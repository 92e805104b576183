"""Long work off the GUI thread: a Qt reporter and a job that runs one task in a worker thread.

A *task* is any callable ``task(reporter) -> result`` that reports through chemaccel's
:class:`~chemaccel.api.Reporter` protocol, e.g. ``lambda r: api.prune(model, data, cfg, reporter=r)``.
:class:`Job` runs it in its own :class:`QThread`; the engine calls the :class:`QtReporter` from that
thread and the reporter turns each call into a Qt signal, delivered to the widgets on the GUI thread
(queued connections), so the window stays responsive. Cancel sets the reporter's
:class:`~chemaccel.api.StopFlag`; the engine polls ``should_stop()`` and returns at its next step.

How a job ends (exactly one of these signals of ``job.reporter``, then ``job.done``):

* ``finished(result)``: the task returned (also after a cancel: ``job.cancelled`` is then True);
* ``failed(message)``: the task raised; the message is one line. A
  :class:`~chemaccel.api.ChemAccelError` (a user error: bad file, bad config) gives its own line; any
  other exception is a bug: ``"TypeError: ..."``, with the traceback logged. :func:`show_failure`
  shows it in a message box. A :class:`~chemaccel.api.Cancelled` raised after a cancel counts as
  ``finished(None)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from chemaccel import api
from chemaccel_gui import main_thread_gc

log = logging.getLogger("chemaccel_gui")

Task = Callable[["QtReporter"], Any]

#: Jobs that did not stop when their runner shut down (see :meth:`JobRunner.shutdown`).
_ORPHANS: list[Job] = []

#: Progress signals are sent at most this often (seconds); the last step is never dropped.
PROGRESS_INTERVAL = 0.05


class QtReporter(QObject):
    """chemaccel's Reporter protocol as Qt signals; safe to call from any thread.

    Signals:
        started(task, total): a phase began (``total`` is an int or None).
        progress(step, total, metrics): throttled to one per :data:`PROGRESS_INTERVAL`;
            ``metrics`` is a ``dict[str, float]``.
        message(text): a notable event.
        partial(payload): a part of the result ready early (:meth:`on_partial`).
        finished(result), failed(message): emitted by :class:`Job` when the task ends.

    Args:
        stop: the cancel flag (a fresh one by default).
        interval: minimum seconds between two ``progress`` signals (0: every call).
    """

    started = Signal(str, object)
    progress = Signal(int, object, object)
    message = Signal(str)
    partial = Signal(object)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, stop: api.StopFlag | None = None, interval: float = PROGRESS_INTERVAL,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.stop_flag = stop if stop is not None else api.StopFlag()
        self.interval = interval
        self._last = 0.0
        self._pending: tuple[int, int | None, dict[str, float]] | None = None

    # -- the Reporter protocol (called by the engine, in the worker thread)

    def on_start(self, task: str, total: int | None = None) -> None:
        self.flush()
        self.started.emit(task, total)

    def on_progress(self, step: int, total: int | None = None, metrics: Any = None) -> None:
        self._pending = (int(step), total, dict(metrics or {}))
        now = time.monotonic()
        if now - self._last >= self.interval or (total is not None and step >= total):
            self.flush()

    def on_message(self, text: str) -> None:
        self.flush()
        self.message.emit(str(text))

    def should_stop(self) -> bool:
        return self.stop_flag.is_set()

    def on_partial(self, payload: Any) -> None:
        """A part of the result, ready before the task ends (e.g. the first records of a long file);
        delivered as ``partial(payload)``, in order and before ``finished``. Not part of the Reporter
        protocol: tasks written for the GUI call it."""
        self.partial.emit(payload)

    # -- for the GUI

    def cancel(self) -> None:
        """Ask the engine to stop at its next step (any thread)."""
        self.stop_flag.set()

    def flush(self) -> None:
        """Send the last progress call that was held back by the throttle, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._last = time.monotonic()
            self.progress.emit(*pending)


class _Worker(QThread):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self._job = job

    def run(self) -> None:  # the worker thread
        self._job._run()


class Job(QObject):
    """One task run in its own worker thread.

    Args:
        task: ``task(reporter) -> result``.
        title: shown in the progress bar and in error boxes ("Open molecules").
        device: the device chosen when the job was started (``"cpu"``, ``"cuda:0"``), for the task's
            config and the status bar; the task itself decides what to do with it.

    Signals:
        done(): after ``reporter.finished`` or ``reporter.failed`` was delivered; the thread is over.

    Attributes:
        result: what the task returned (None until then, or when it failed).
        error: the one-line failure message, or None.
        unexpected: True when the failure was not a ChemAccelError (a bug: the traceback is logged).
        ended: True once ``done`` was emitted.
    """

    done = Signal()

    def __init__(self, task: Task, title: str = "job", device: str = "cpu", parent: QObject | None = None):
        super().__init__(parent)
        self.task = task
        self.title = title
        self.device = device
        self.reporter = QtReporter()
        self.result: Any = None
        self.error: str | None = None
        self.unexpected = False
        self.ended = False
        self._holds_gc = False
        self._thread = _Worker(self)
        self._thread.finished.connect(self._thread_finished)

    @property
    def cancelled(self) -> bool:
        return self.reporter.should_stop()

    def start(self) -> Job:
        if not self._holds_gc:
            main_thread_gc.hold()  # until the thread is over, only this (the GUI) thread collects garbage
            self._holds_gc = True
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.reporter.cancel()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, msecs: int = 10_000) -> bool:
        """Block until the thread ended (True) or ``msecs`` passed (False).

        Its signals are still delivered by the event loop afterwards.
        """
        return bool(self._thread.wait(msecs))

    def _run(self) -> None:
        reporter = self.reporter
        try:
            result = self.task(reporter)
        except api.Cancelled:
            reporter.flush()
            reporter.finished.emit(None)
        except api.ChemAccelError as exc:
            self._fail(one_line(str(exc)) or type(exc).__name__, unexpected=False)
        except Exception as exc:  # noqa: BLE001 - a bug in a task must not take the window down
            log.exception("job %r failed", self.title)
            self._fail(one_line(f"{type(exc).__name__}: {exc}"), unexpected=True)
        else:
            self.result = result
            reporter.flush()
            reporter.finished.emit(result)

    def _fail(self, message: str, unexpected: bool) -> None:
        self.error = message
        self.unexpected = unexpected
        self.reporter.flush()
        self.reporter.failed.emit(message)

    def _thread_finished(self) -> None:
        self._thread.wait()  # run() has returned; let the thread wind down before anyone drops it
        if self._holds_gc:
            self._holds_gc = False
            main_thread_gc.release()
        self.ended = True
        self.done.emit()


class JobRunner(QObject):
    """Starts jobs and keeps them alive until their thread is over (a QThread must not be garbage
    collected while it runs); shows a message box when one fails.

    Args:
        device: a callable giving the device currently selected (the toolbar's selector), stamped on
            each job as it starts.
        parent: also the parent of the failure message boxes when it is a widget.

    Signals:
        job_started(job): a job was started (the progress widget follows it).
    """

    job_started = Signal(object)

    def __init__(self, device: Callable[[], str] = lambda: "cpu", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._device = device
        self.jobs: list[Job] = []

    def start(
        self,
        task: Task,
        title: str,
        *,
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        show_errors: bool = True,
        on_created: Callable[[Job], None] | None = None,
    ) -> Job:
        """Run ``task(reporter)`` in a worker thread; the job is returned already started.

        Connect to the job's signals through ``on_finished(result)`` / ``on_failed(message)``, and to
        its reporter's other signals in ``on_created(job)``, called before the thread starts (or
        :meth:`Job.start` a job of your own): a fast task may end before the caller could connect.
        """
        job = Job(task, title, device=self._device())
        self.jobs.append(job)
        if on_created is not None:
            on_created(job)
        if on_finished is not None:
            job.reporter.finished.connect(on_finished)
        if on_failed is not None:
            job.reporter.failed.connect(on_failed)
        if show_errors:
            parent = self.parent()
            job.reporter.failed.connect(
                lambda _msg, j=job: show_failure(parent if isinstance(parent, QWidget) else None, j)
            )
        job.done.connect(lambda j=job: self._forget(j))
        self.job_started.emit(job)
        return job.start()

    def device(self) -> str:
        """The device a job started now would get (the toolbar's choice)."""
        return self._device()

    def running(self) -> list[Job]:
        return [job for job in self.jobs if job.is_running()]

    def cancel_all(self) -> None:
        for job in self.jobs:
            job.cancel()

    def shutdown(self, msecs: int = 5_000) -> bool:
        """Cancel every job and wait for their threads (on close); False if one did not stop in time."""
        self.cancel_all()
        deadline = time.monotonic() + msecs / 1000
        stopped = True
        for job in list(self.jobs):
            left = max(0, int((deadline - time.monotonic()) * 1000))
            if not job.wait(left):
                _ORPHANS.append(job)  # never destroy a running QThread: keep it until the process ends
                stopped = False
        return stopped

    def _forget(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)


def one_line(text: str) -> str:
    return " ".join(text.split())


def show_failure(parent: QWidget | None, job: Job) -> None:
    """A message box for a failed job: a warning with the reason for a user error, a critical box
    naming the exception type for a bug."""
    if job.error is None:
        return
    if job.unexpected:
        text = f"Unexpected error (a bug; the traceback is in the log):\n{job.error}"
        QMessageBox.critical(parent, job.title, text)
    else:
        QMessageBox.warning(parent, job.title, job.error)


def message_numbers(text: str) -> dict[str, float]:
    """The ``key=number`` pairs of an engine message (``"epoch=2 loss=0.5 phase=prune"`` -> epoch, loss)."""
    row: dict[str, float] = {}
    for part in text.split():
        key, sep, value = part.partition("=")
        if not sep:
            continue
        try:
            row[key] = float(value)
        except ValueError:
            continue
    return row
