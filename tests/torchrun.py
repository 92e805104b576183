"""Run a worker script under ``torchrun --standalone --nproc_per_node=N`` (CPU, gloo) for the DDP tests.

Each worker process hands one row (``rank``, ``world_size``, ``checksum`` of its weights, ...) to :func:`emit`,
which writes it to a file of its own (two processes printing at once can share a line of a pipe);
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


ROWS_ENV = "CHEMACCEL_TEST_ROWS"


def emit(row: dict) -> None:
    """Called by a worker process: keep its row for :func:`run_workers` (one file per rank)."""
    folder = Path(os.environ[ROWS_ENV])
    (folder / f"rank{row['rank']}.json").write_text(json.dumps(row), encoding="utf-8")


def run_workers(worker: Path, *args: str, processes: int = 2) -> list[dict]:
    import tempfile

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not found next to the interpreter")
    with tempfile.TemporaryDirectory(prefix="chemaccel-ddp-rows-") as rows_dir:
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", ROWS_ENV: rows_dir,
               "PYTHONPATH": path}
        cmd = [torchrun, "--standalone", f"--nproc_per_node={processes}", str(worker), *args]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
        assert out.returncode == 0, out.stderr[-3000:]
        rows = sorted((json.loads(f.read_text(encoding="utf-8")) for f in Path(rows_dir).glob("rank*.json")),
                      key=lambda row: row["rank"])
    assert [r["rank"] for r in rows] == list(range(processes))
    assert all(r["world_size"] == processes for r in rows)
    return rows
