"""The GAN under torchrun with 2 CPU processes (gloo): generators and discriminator stay identical."""

from pathlib import Path

import pytest

from tests.torchrun import run_workers


@pytest.mark.parametrize("data", ["ring8", "qm9"])
def test_two_processes_train_one_gan(tmp_path, data):
    rows = run_workers(Path(__file__).with_name("ddp_worker.py"), str(tmp_path / "ckpt"), data)
    assert rows[0]["checksum"] == pytest.approx(rows[1]["checksum"], rel=1e-9, abs=1e-9)
    assert all(r["status"] == "completed" for r in rows) and (tmp_path / "ckpt").is_dir()
