"""Run a worker script under ``torchrun --standalone --nproc_per_node=N`` (CPU, gloo) for the DDP tests.

Each worker prints one JSON line per process (``rank``, ``world_size``, ``checksum`` of its weights, ...);
:func:`run_workers` returns those rows, sorted by rank, after checking the launch succeeded.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_workers(worker: Path, *args: str, processes: int = 2) -> list[dict]:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not found next to the interpreter")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [torchrun, "--standalone", f"--nproc_per_node={processes}", str(worker), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = sorted((json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")),
                  key=lambda row: row["rank"])
    assert [r["rank"] for r in rows] == list(range(processes))
    assert all(r["world_size"] == processes for r in rows)
    return rows
