"""DARTS search and retraining under torchrun with 2 CPU processes (gloo): data parallel, so the architecture
weights, the genotype and the retrained network are identical on both; process 0 alone writes files."""

from pathlib import Path

import pytest

from tests.torchrun import run_workers


def test_two_processes_search_and_retrain_one_model(tmp_path):
    rows = run_workers(Path(__file__).with_name("ddp_worker.py"), str(tmp_path))
    assert rows[0]["alphas"] == pytest.approx(rows[1]["alphas"], rel=1e-9, abs=1e-12)
    assert rows[0]["genotype"] == rows[1]["genotype"]
    assert rows[0]["checksum"] == pytest.approx(rows[1]["checksum"], rel=1e-9, abs=1e-9)
    assert rows[0]["folder"] == str(tmp_path / "model") and rows[1]["folder"] == "None"
    assert (tmp_path / "model" / "config.json").is_file()
    assert (tmp_path / "search").is_dir() and (tmp_path / "retrain").is_dir()
