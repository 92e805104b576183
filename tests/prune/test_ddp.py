"""AutoPrune under torchrun with 2 CPU processes (gloo): weights and gates stay identical on both, and equal
one process's run on the same global batch (each process takes every other batch of the same shuffled order,
so a step averages the gradients of the two halves of a 64-sample batch)."""

from pathlib import Path

import pytest

from tests.torchrun import run_workers


def test_two_processes_prune_one_model_equal_to_one_process_on_the_global_batch(tmp_path):
    from tests.prune.ddp_worker import train

    rows = run_workers(Path(__file__).with_name("ddp_worker.py"), str(tmp_path / "ckpt"))
    assert rows[0]["checksum"] == pytest.approx(rows[1]["checksum"], rel=1e-9, abs=1e-9)
    assert (tmp_path / "ckpt").is_dir()  # checkpoints written (by process 0)
    one = train(str(tmp_path / "one"), batch_size=64)
    assert rows[0]["checksum"] == pytest.approx(one, rel=1e-5)
    assert rows[0]["checksum"] != pytest.approx(train(str(tmp_path / "half"), batch_size=32), rel=1e-3)
