"""Run a ``chemaccel`` command in a child process and kill it once part of its output is on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

needs_sigkill = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")


def rows_on_disk(path: Path) -> int:
    """Complete CSV lines in ``path`` minus the header (outputs here hold no quoted newlines)."""
    try:
        return max(0, path.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def run_until_rows(args: list[str], out: Path, rows: int, sig: int, timeout: float = 120.0
                   ) -> subprocess.CompletedProcess:
    """Start ``python -m chemaccel.cli ARGS``; send ``sig`` as soon as ``out`` holds ``rows`` rows.

    Returns the finished process (stderr captured). Fails the test if the child ends first.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "chemaccel.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while rows_on_disk(out) < rows:
            if proc.poll() is not None:
                pytest.fail(f"the child ended (status {proc.returncode}) before {rows} rows were written: "
                            f"{proc.stderr.read() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {rows} rows in {out} after {timeout} s")
            time.sleep(0.005)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err)
