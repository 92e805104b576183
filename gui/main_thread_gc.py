"""Python's cyclic garbage collector runs on the GUI thread only, while a job's worker thread runs.

Why: a Qt wrapper that ends up in a reference cycle is freed by whichever thread the collector happens
to run in. When that is a worker thread, shiboken defers the C++ delete to the GUI thread and runs it at
the next Python call from Qt, which can be in the middle of another object's destructor (a pyqtgraph
plot's QGraphicsScene being cleared calls a Python ``sizeHint``). QObject's destructor then waits on a
mutex that its own thread already holds, and the window hangs for good. The GUI tests hit exactly this
(py-spy: ``~QAction`` inside ``BindingManager::runDeletionInMainThread`` inside ``~QGraphicsScene``).

So while at least one job runs, automatic collection is off and a timer on the GUI thread collects,
generation by generation with the interpreter's own thresholds (the approach of pyqtgraph's
``GarbageCollector``, which has no way back), full collections paced (:data:`FULL_SHARE`). When the last
job ends, the young generations are collected here and automatic collection is restored as it was (it
then runs on the GUI thread, the only one left running Python; a full collection there at once would
freeze the window for as long as it walks a big file's molecules).

Only :class:`~chemaccel_gui.jobs.Job` calls :func:`hold` and :func:`release`, on the GUI thread.
"""

from __future__ import annotations

import gc
import threading
import time

from PySide6.QtCore import QTimer

#: How often the GUI thread collects while jobs run (milliseconds).
INTERVAL_MS = 500
#: A full (generation 2) collection takes at most this share of the time: after one that took t seconds,
#: the next waits t / FULL_SHARE. A full collection walks every object (0.3 s with 100,000 molecules
#: loaded), and the interpreter's own rule that spaces them out (only when the objects new to the oldest
#: generation reach a quarter of it) cannot be read from Python; without a pace the timer ran one every
#: few seconds while a big file was read, and the window froze for 0.3-0.7 s each time.
FULL_SHARE = 0.025

_holders = 0
_was_enabled = True
_timer: QTimer | None = None
_next_full = 0.0  # time.monotonic() before which no full collection runs


def hold() -> None:
    """A job starts: from now on only the GUI thread collects (nested holds are counted)."""
    global _holders, _was_enabled, _timer
    _check_thread("hold")
    if _holders == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
        if _timer is None:
            _timer = QTimer()
            _timer.setInterval(INTERVAL_MS)
            _timer.timeout.connect(collect_due)
        _timer.start()
    _holders += 1


def release() -> None:
    """A job ended; after the last one, collect everything here and restore automatic collection."""
    global _holders
    _check_thread("release")
    if _holders == 0:
        return
    _holders -= 1
    if _holders == 0:
        if _timer is not None:
            _timer.stop()
        gc.collect(1)  # the young generations; the oldest when the interpreter's own rule says so
        if _was_enabled:
            gc.enable()


def holders() -> int:
    """How many jobs hold the collector now (0: automatic collection is as the program set it)."""
    return _holders


def collect_due() -> int:
    """Collect the generations whose allocation counts passed the interpreter's thresholds, as the
    automatic collector would; returns the number of unreachable objects found."""
    global _next_full
    thresholds = gc.get_threshold()
    counts = gc.get_count()
    due = -1
    for generation in range(3):
        if counts[generation] <= thresholds[generation]:
            break
        due = generation
    if due < 0:
        return 0
    start = time.monotonic()
    if due == 2 and start < _next_full:
        due = 1  # paced (FULL_SHARE): the young generations only
    found = gc.collect(due)
    if due == 2:
        _next_full = start + (time.monotonic() - start) / FULL_SHARE
    return found


def _check_thread(what: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(f"main_thread_gc.{what}() must be called on the GUI thread")
