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


def add_ray_flags(parser: Any, what: str) -> None:
    """``--ray [ADDRESS]``, ``--ray-actors``, ``--ray-gpus-per-actor``, ``--ray-cpus`` of a predict command."""
    parser.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help=f"run as a Ray Data job (pip install 'chemaccel[cluster]'): {what}, the same rows; "
                             "ADDRESS of a cluster, 'auto' (the cluster this machine is in) or none (a local "
                             "instance). Shards in OUT.shards/, merged into OUT; --resume skips the shards done")
    parser.add_argument("--ray-actors", type=int, default=None, metavar="N",
                        help="with --ray: model actors (on CPUs: one per CPU of the cluster by default and at most, "
                             "each embedding and predicting its shards; with GPUs: 1 by default, fed by CPU tasks)")
    parser.add_argument("--ray-gpus-per-actor", type=float, default=None, metavar="G",
                        help="with --ray: GPUs per model actor (default 1 when --device is cuda, else 0)")
    parser.add_argument("--ray-cpus", type=int, default=None, metavar="N",
                        help="with --ray and no ADDRESS: CPUs of the local instance (default: all)")


def run_ray_job(args: Any, out: str, job: Any, ok_word: str, error_words: str) -> int:
    """Run ``job(reporter, actors=..., gpus_per_actor=..., num_cpus=...)`` (a Ray prediction, see
    :mod:`chemaccel.ray_batch`) with a progress bar and Ctrl-C, then say what it wrote; the exit status."""
    from chemaccel.errors import ConfigError
    from chemaccel.reporting import TqdmReporter

    if args.ray_actors is not None and args.ray_actors < 1:
        raise ConfigError(f"--ray-actors must be at least 1, got {args.ray_actors}")
    gpus = args.ray_gpus_per_actor
    if gpus is None:
        gpus = 1.0 if str(args.torch_device).startswith("cuda") else 0.0
    reporter = TqdmReporter(file=sys.stderr, disable=None)
    try:
        with cancel_on_sigint(reporter):
            counts = job(reporter, actors=args.ray_actors, gpus_per_actor=gpus, num_cpus=args.ray_cpus)
    finally:
        reporter.close()
    shards = f"{out}.shards"
    if counts["cancelled"]:
        eprint(f"chemaccel: interrupted; the finished shards are in {shards}; continue with the same command "
               "and --resume")
        return 130
    kept = f", {counts['skipped_shards']} shards kept from before" if counts["skipped_shards"] else ""
    eprint(f"wrote {out}: {counts['rows']} rows in {counts['shards']} shards ({shards}): {counts['ok']} {ok_word}, "
           f"{counts['error']} {error_words}, {counts['retried']} retried{kept} (see the status column)")
    return 0


def run_with_progress(job: Any, what: str = "step") -> Any:
    """``job(reporter)`` with a progress bar on stderr and Ctrl-C turned into a cancel (the engine then
    stops after the current ``what`` and leaves its checkpoint); returns what the job returns."""
    from chemaccel.reporting import TqdmReporter

    reporter = TqdmReporter(file=sys.stderr)
    with cancel_on_sigint(reporter, what=what):
        try:
            return job(reporter)
        finally:
            reporter.close()
