"""Reaction training under torchrun with 2 CPU processes (gloo): eole's loop runs in each process on its
half of the corpus, the gradients are averaged, so both processes end with the same weights; process 0
alone writes checkpoints and the model folder; a stopped run resumes under torchrun."""

from pathlib import Path

import pytest

from tests.reaction.conftest import write_uspto50k
from tests.torchrun import run_workers

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_two_processes_train_one_model_and_resume(tmp_path):
    data = write_uspto50k(tmp_path / "data")
    out = tmp_path / "model"
    rows = run_workers(WORKER, str(data), str(out), "4", "fresh")
    assert rows[0]["checksum"] == pytest.approx(rows[1]["checksum"], rel=1e-12, abs=1e-9)
    assert [r["last_step"] for r in rows] == [4, 4]
    assert (out / "config.json").is_file()
    work = tmp_path / "model.work"
    assert sorted(p.name for p in (work / "eole").iterdir()) == ["step_2", "step_4"]
    assert (work / "eole-train.rank1.log").is_file()  # process 1 logs apart and writes no checkpoint

    rows = run_workers(WORKER, str(data), str(out), "6", "resume")
    assert [r["last_step"] for r in rows] == [6, 6]
    assert rows[0]["checksum"] == pytest.approx(rows[1]["checksum"], rel=1e-12, abs=1e-9)
    assert "step_6" in {p.name for p in (work / "eole").iterdir()}
