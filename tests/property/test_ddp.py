"""Property training under torchrun with 2 CPU processes (gloo): the processes keep identical weights."""

from pathlib import Path

import pytest

from tests.torchrun import run_workers


def test_two_processes_train_one_model(qm9_store, tmp_path):
    rows = run_workers(Path(__file__).with_name("ddp_worker.py"), str(qm9_store), str(tmp_path / "model"))
    assert all(r["status"] == "done" and r["dense_epochs"] == 1 for r in rows)  # the time budget, stopped together
    assert rows[0]["checksum"] == pytest.approx(rows[1]["checksum"], rel=1e-9, abs=1e-9)
    assert (tmp_path / "model" / "model.safetensors").is_file()  # written once, by rank 0
