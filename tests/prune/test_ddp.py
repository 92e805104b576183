"""AutoPrune under torchrun with 2 CPU processes (gloo): weights and gates stay identical on both."""

from pathlib import Path

import pytest

from tests.torchrun import run_workers


def test_two_processes_prune_one_model(tmp_path):
    rows = run_workers(Path(__file__).with_name("ddp_worker.py"), str(tmp_path / "ckpt"))
    assert rows[0]["checksum"] == pytest.approx(rows[1]["checksum"], rel=1e-9, abs=1e-9)
    assert (tmp_path / "ckpt").is_dir()  # checkpoints written (by process 0)
