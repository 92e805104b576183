"""Jobs run in worker threads, report through Qt signals, can be cancelled, and fail with a message box."""

from __future__ import annotations

import logging
import threading
import time

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install 'chemaccel[gui]')")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QTimer  # noqa: E402

from chemaccel import api  # noqa: E402
from chemaccel_gui.jobs import Job, JobRunner, QtReporter  # noqa: E402


def slow_engine(steps: int, pause: float):
    """A fake engine: ``steps`` steps of ``pause`` seconds, polling should_stop() between steps."""

    def task(reporter: api.Reporter) -> dict:
        reporter.on_start("fake training", steps)
        step = 0
        for step in range(1, steps + 1):
            if reporter.should_stop():
                reporter.on_message(f"stopped at step {step - 1}")
                return {"steps": step - 1, "stopped": True}
            time.sleep(pause)
            reporter.on_progress(step, steps, {"loss": 1.0 / step})
        return {"steps": step, "stopped": False}

    return task


def test_reporter_implements_the_protocol():
    reporter = QtReporter()
    assert isinstance(reporter, api.Reporter)
    assert not reporter.should_stop()
    reporter.cancel()
    assert reporter.should_stop() and reporter.stop_flag.is_set()
    shared = api.StopFlag()
    assert QtReporter(stop=shared).stop_flag is shared


def test_signals_arrive_in_order_on_the_gui_thread(window, wait_job):
    seen: list[tuple] = []
    threads: set[int] = set()
    main = threading.get_ident()

    def task(reporter):
        reporter.on_start("counting", 3)
        for step in (1, 2, 3):
            reporter.on_progress(step, 3, {"loss": float(step)})
        reporter.on_message("done counting")
        return 42

    def note(*item):
        threads.add(threading.get_ident())
        seen.append(item)

    job = Job(task, "Count", device=window.selected_device())
    job.reporter.started.connect(lambda task_name, total: note("started", task_name, total))
    job.reporter.progress.connect(lambda step, total, metrics: note("progress", step, total, metrics))
    job.reporter.message.connect(lambda text: note("message", text))
    job.reporter.finished.connect(lambda result: note("finished", result))
    job.start()
    wait_job(job)
    assert seen[0] == ("started", "counting", 3)
    assert seen[-2:] == [("message", "done counting"), ("finished", 42)]
    progress = [item for item in seen if item[0] == "progress"]
    assert progress[0][1] == 1 and progress[-1] == ("progress", 3, 3, {"loss": 3.0})  # the last step is kept
    assert threads == {main}
    assert job.result == 42 and job.error is None and not job.cancelled and job.device == "cpu"


def test_progress_is_throttled_but_the_last_step_arrives(qtbot, wait_job):
    steps: list[int] = []

    def task(reporter):
        for step in range(1, 5001):
            reporter.on_progress(step, None, {})  # no total: nothing forces a flush but the end

    job = Job(task, "Many steps")
    job.reporter.progress.connect(lambda step, _total, _metrics: steps.append(step))
    job.start()
    wait_job(job)
    assert steps[-1] == 5000 and len(steps) < 200


def test_event_loop_keeps_running_while_a_job_works(window, wait_job):
    ticks: list[float] = []
    timer = QTimer(window)
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    progress: list[int] = []
    started = time.monotonic()
    job = window.jobs.start(slow_engine(steps=20, pause=0.04), "Slow job")
    job.reporter.progress.connect(lambda step, *_: progress.append(step))
    assert window.job_progress.isVisible() and window.job_progress.job is job
    wait_job(job)
    timer.stop()
    elapsed = time.monotonic() - started
    assert elapsed >= 0.7
    assert len([t for t in ticks if t < started + elapsed]) >= 10  # the timer fired all along
    assert progress and progress[-1] == 20
    assert job.result == {"steps": 20, "stopped": False}
    assert not window.job_progress.isVisible()


def test_cancel_stops_the_engine_at_its_next_step(window, qtbot, wait_job):
    messages: list[str] = []
    job = window.jobs.start(slow_engine(steps=10_000, pause=0.01), "Endless job")
    job.reporter.message.connect(messages.append)
    qtbot.waitUntil(lambda: window.job_progress.bar.value() > 0, timeout=5000)
    assert window.job_progress.bar.maximum() == 10_000
    clicked = time.monotonic()
    window.job_progress.cancel_button.click()
    assert not window.job_progress.cancel_button.isEnabled()
    wait_job(job)
    assert time.monotonic() - clicked < 3
    assert job.cancelled and job.result["stopped"] and job.result["steps"] < 10_000
    assert messages and messages[-1].startswith("stopped at step")
    assert window.jobs.jobs == []  # forgotten once done


def test_cancelled_exception_counts_as_a_cancel(window, wait_job, messages):
    def task(reporter):
        reporter.cancel()
        raise api.Cancelled("gave up")

    results: list[object] = []
    job = window.jobs.start(task, "Give up", on_finished=results.append)
    wait_job(job)
    assert results == [None] and job.error is None and messages == []


def test_user_error_becomes_a_warning_with_the_reason(window, wait_job, messages):
    failures: list[str] = []

    def task(reporter):
        raise api.InputError("mols.csv", "no SMILES column\nfound", record=None)

    job = window.jobs.start(task, "Open molecules", on_failed=failures.append)
    wait_job(job)
    assert failures == ["mols.csv: no SMILES column found"]
    assert messages == [("warning", "Open molecules", "mols.csv: no SMILES column found")]
    assert not job.unexpected and job.result is None


def test_a_bug_becomes_a_critical_box_and_the_traceback_is_logged(window, wait_job, messages, caplog):
    def task(reporter):
        return {}["missing"]

    with caplog.at_level(logging.ERROR, logger="chemaccel_gui"):
        job = window.jobs.start(task, "Buggy job")
        wait_job(job)
    [(kind, title, text)] = messages
    assert kind == "critical" and title == "Buggy job" and "KeyError: 'missing'" in text
    assert job.unexpected and job.error == "KeyError: 'missing'"
    assert any("Traceback" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_runner_stamps_the_device_and_shuts_down(qtbot):
    runner = JobRunner(device=lambda: "cuda:1")
    job = runner.start(slow_engine(steps=100_000, pause=0.005), "Long", show_errors=False)
    assert job.device == "cuda:1" and runner.running() == [job]
    assert runner.shutdown(msecs=5000)
    assert not job.is_running() and job.cancelled
    qtbot.waitUntil(lambda: job.ended, timeout=5000)


def test_jobs_get_the_device_selected_in_the_toolbar(qtbot, settings, wait_job):
    from chemaccel_gui.main_window import MainWindow

    win = MainWindow(settings=settings, devices=[("cpu", "cpu"), ("cuda:0", "cuda:0 - Test GPU")])
    qtbot.addWidget(win)
    win.device_combo.setCurrentIndex(1)
    seen: list[str] = []
    job = win.jobs.start(lambda reporter: seen.append("ran"), "Train")
    assert job.device == "cuda:0" and "cuda:0" in win.job_progress.label.text()
    wait_job(job)
    assert seen == ["ran"]


def test_on_created_connects_before_the_thread_starts(window, wait_job):
    seen: list[str] = []

    def task(reporter):
        reporter.on_start("at once", 1)  # emitted as soon as the thread runs
        return 1

    job = window.jobs.start(task, "Fast", on_created=lambda j: j.reporter.started.connect(
        lambda name, _total: seen.append(name)))
    wait_job(job)
    assert seen == ["at once"]


class _Cycle:
    """Garbage that can only be freed by the cyclic collector; records the thread that freed it."""

    freed_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.freed_on.append(threading.current_thread().name)


def test_while_a_job_runs_only_the_gui_thread_collects_garbage(qtbot, wait_job):
    # A worker thread that frees a Qt wrapper makes shiboken delete it later inside some other Qt call
    # on the GUI thread; inside a destructor that deadlocked the window (see chemaccel_gui.main_thread_gc).
    import gc

    from chemaccel_gui import main_thread_gc

    assert gc.isenabled() and main_thread_gc.holders() == 0
    _Cycle.freed_on.clear()
    seen = {}

    def task(reporter):
        seen["enabled"] = gc.isenabled()
        seen["holders"] = main_thread_gc.holders()
        for _ in range(200):
            _Cycle()
            [[] for _ in range(2_000)]  # allocations that would trigger the automatic collector here
        return "done"

    job = Job(task, "garbage").start()
    wait_job(job)
    assert job.result == "done" and seen == {"enabled": False, "holders": 1}
    assert gc.isenabled() and main_thread_gc.holders() == 0  # restored when the last job ended
    assert len(_Cycle.freed_on) == 200  # everything was collected, at the latest when the job ended
    assert set(_Cycle.freed_on) == {threading.main_thread().name}


def test_the_collector_is_held_and_released_on_the_gui_thread_only(qtbot):
    from chemaccel_gui import main_thread_gc

    errors = []

    def other():
        try:
            main_thread_gc.hold()
        except RuntimeError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert errors == ["main_thread_gc.hold() must be called on the GUI thread"]
    assert main_thread_gc.holders() == 0
