"""Small helpers shared by the CLI modules: JSON output and argument types."""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (NaN/inf become null so any JSON parser reads it)."""
    print(json.dumps(_finite(obj), indent=None, sort_keys=False))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def eprint(*parts: Any) -> None:
    print(*parts, file=sys.stderr)


def read_config_file(path: str | Path | None) -> dict[str, Any]:
    """The JSON object in a ``--config`` file ({} when no file is given); one-line ConfigError otherwise."""
    from chemaccel.errors import ConfigError

    if not path:
        return {}
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(f"{path}: cannot read the config ({reason})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: the config must be a JSON object, not {type(values).__name__}")
    return values


@contextmanager
def cancel_on_sigint(reporter: Any, what: str = "chunk") -> Iterator[None]:
    """First Ctrl-C: ``reporter.cancel()`` (stop after the current ``what``: a chunk of a batch job, a step of
    training, which then leaves its checkpoint); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():  # signals only work in the main thread
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if reporter.should_stop():
            raise KeyboardInterrupt
        eprint(f"\nchemaccel: stopping after the current {what} (Ctrl-C again to stop at once)")
        reporter.cancel()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
