"""Progress reporting and cancellation for long work.

Engines never print. They report through a :class:`Reporter`:

* ``on_start(task, total)`` once per phase (``total`` steps, or None if unknown);
* ``on_progress(step, total, metrics)`` after each step, with a dict of floats (loss, accuracy...);
* ``on_message(text)`` for a notable event (checkpoint written, early stop, skipped record);
* ``should_stop()`` polled between steps: when it returns True the engine stops at the next step,
  writes a valid checkpoint and returns (Cancel in the GUI, Ctrl-C in the CLI).

Implementations: :class:`TqdmReporter` (CLI), :class:`LoggingReporter` (batch jobs and services),
:class:`RecordingReporter` (tests), :class:`NullReporter`. The GUI has a Qt reporter in its own package.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

Metrics = Mapping[str, float]


@runtime_checkable
class Reporter(Protocol):
    """What an engine calls while it works."""

    def on_start(self, task: str, total: int | None = None) -> None: ...

    def on_progress(self, step: int, total: int | None = None, metrics: Metrics | None = None) -> None: ...

    def on_message(self, text: str) -> None: ...

    def should_stop(self) -> bool: ...


class StopFlag:
    """A thread-safe cancel flag shared by a reporter and whoever may cancel (signal handler, GUI)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()


class BaseReporter:
    """Does nothing; subclasses override what they need. Holds a :class:`StopFlag` for cancellation."""

    def __init__(self, stop: StopFlag | None = None) -> None:
        self.stop_flag = stop or StopFlag()

    def on_start(self, task: str, total: int | None = None) -> None:
        pass

    def on_progress(self, step: int, total: int | None = None, metrics: Metrics | None = None) -> None:
        pass

    def on_message(self, text: str) -> None:
        pass

    def should_stop(self) -> bool:
        return self.stop_flag.is_set()

    def cancel(self) -> None:
        """Ask the running engine to stop at its next step."""
        self.stop_flag.set()


class NullReporter(BaseReporter):
    """Reports nothing; cancellable."""


class SilentReporter(BaseReporter):
    """Says nothing but stops when ``inner`` asks to (the torchrun processes other than 0)."""

    def __init__(self, inner: Reporter) -> None:
        super().__init__()
        self.inner = inner

    def should_stop(self) -> bool:
        return self.stop_flag.is_set() or self.inner.should_stop()


class TqdmReporter(BaseReporter):
    """A tqdm progress bar per phase on stderr, metrics in the bar's postfix."""

    def __init__(self, stop: StopFlag | None = None, disable: bool | None = None, file: Any = None) -> None:
        super().__init__(stop)
        self._bar: Any = None
        self._disable = disable
        self._file = file if file is not None else sys.stderr  # stdout stays clean for --json

    def on_start(self, task: str, total: int | None = None) -> None:
        from tqdm.auto import tqdm

        self.close()
        self._bar = tqdm(total=total, desc=task, disable=self._disable, file=self._file, dynamic_ncols=True)

    def on_progress(self, step: int, total: int | None = None, metrics: Metrics | None = None) -> None:
        if self._bar is None:
            self.on_start("working", total)
        bar = self._bar
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = step
        if metrics:
            bar.set_postfix({k: _fmt(v) for k, v in metrics.items()}, refresh=False)
        bar.refresh()

    def on_message(self, text: str) -> None:
        from tqdm.auto import tqdm

        tqdm.write(text, file=self._file)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class LoggingReporter(BaseReporter):
    """Writes phases, messages and every ``every``-th progress step to a :mod:`logging` logger."""

    def __init__(self, logger: logging.Logger | None = None, every: int = 100, stop: StopFlag | None = None):
        super().__init__(stop)
        self.logger = logger or logging.getLogger("chemaccel")
        self.every = max(1, every)

    def on_start(self, task: str, total: int | None = None) -> None:
        self.logger.info("start %s (%s steps)", task, "?" if total is None else total)

    def on_progress(self, step: int, total: int | None = None, metrics: Metrics | None = None) -> None:
        if step % self.every == 0 or (total is not None and step >= total):
            text = " ".join(f"{k}={_fmt(v)}" for k, v in (metrics or {}).items())
            self.logger.info("step %d/%s %s", step, "?" if total is None else total, text)

    def on_message(self, text: str) -> None:
        self.logger.info("%s", text)


@dataclass
class RecordingReporter(BaseReporter):
    """Records every call (for tests); can cancel itself after ``stop_after`` progress calls."""

    stop_after: int | None = None
    starts: list[tuple[str, int | None]] = field(default_factory=list)
    progress: list[tuple[int, int | None, dict[str, float]]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        BaseReporter.__init__(self)

    def on_start(self, task: str, total: int | None = None) -> None:
        self.starts.append((task, total))

    def on_progress(self, step: int, total: int | None = None, metrics: Metrics | None = None) -> None:
        self.progress.append((step, total, dict(metrics or {})))
        if self.stop_after is not None and len(self.progress) >= self.stop_after:
            self.cancel()

    def on_message(self, text: str) -> None:
        self.messages.append(text)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
