"""Property training under torchrun with 2 CPU processes (gloo): the processes keep identical weights."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_two_processes_train_one_model(qm9_store, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not found next to the interpreter")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [torchrun, "--standalone", "--nproc_per_node=2", str(ROOT / "tests" / "property" / "ddp_worker.py"),
           str(qm9_store), str(tmp_path / "model")]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["rank"] for r in rows) == [0, 1] and all(r["world_size"] == 2 for r in rows)
    assert all(r["status"] == "done" and r["dense_epochs"] == 1 for r in rows)  # the time budget, stopped together
    assert rows[0]["checksum"] == pytest.approx(rows[1]["checksum"], rel=1e-9, abs=1e-9)
    assert (tmp_path / "model" / "model.safetensors").is_file()  # written once, by rank 0
