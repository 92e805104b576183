"""``reaction predict`` killed with SIGKILL and resumed gives the uninterrupted output, byte for byte."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from chemaccel.batch_output import sidecar_path
from chemaccel.cli import main
from tests.crash import needs_sigkill, rows_on_disk, run_until_rows
from tests.reaction.conftest import REACTIONS

MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "uspto-forward-reagents"
CHUNK = 8


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The same thread count as the child process (OMP_NUM_THREADS=1), so the same floats."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def args(src: Path, out: Path, *extra: str) -> list[str]:
    return ["--device", "cpu", "reaction", "predict", str(src), "-m", str(MODEL), "-k", "2", "-o", str(out),
            "--chunk", str(CHUNK), *extra]


@needs_sigkill
def test_sigkill_then_resume_gives_the_uninterrupted_output(tmp_path, capsys):
    lines = [r for r, _, _ in REACTIONS] * 2
    lines[5], lines[17] = "not a reaction", ""
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n")
    ref = tmp_path / "ref.csv"
    assert main(args(src, ref)) == 0
    reference = ref.read_bytes()
    assert reference.count(b"\n") == 41 and b",ok," in reference

    out = tmp_path / "out.csv"
    done = run_until_rows(args(src, out), out, CHUNK, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    assert CHUNK <= rows_on_disk(out) < 40 and not json.loads(sidecar_path(out).read_text())["complete"]
    capsys.readouterr()
    assert main(args(src, out, "--resume")) == 0
    assert "resuming after" in capsys.readouterr().err
    assert out.read_bytes() == reference

    assert main(args(src, out, "--resume")) == 0 and "already complete" in capsys.readouterr().err
    assert main([*args(src, out)[:-2], "--chunk", "4", "--resume"]) == 1
    err = capsys.readouterr().err
    assert "chunk: was 8, now 4" in err and err.count("\n") == 1
    assert main([*args(src, out)[:-4], "-o", "-", "--resume"]) == 1
    assert "--resume needs an output file" in capsys.readouterr().err


def test_workers_give_the_one_process_rows_and_resume(tmp_path, capsys):
    source = Path(__file__).resolve().parents[2] / "resources" / "examples" / "reactions_with_reagents.csv"
    common = ["-m", "uspto-forward-reagents", "-k", "3", "--chunk", "3", "--column", "input"]
    assert main(["reaction", "predict", str(source), "-o", str(tmp_path / "one.csv"), *common]) == 0
    assert main(["reaction", "predict", str(source), "-o", str(tmp_path / "two.csv"), *common, "--workers", "2"]) == 0
    one = (tmp_path / "one.csv").read_bytes()
    assert (tmp_path / "two.csv").read_bytes() == one and one.count(b"\n") == 17
    # a run cut after its first chunk continues with the pool
    cut = b"".join(one.splitlines(keepends=True)[:4])
    (tmp_path / "two.csv").write_bytes(cut)
    meta = json.loads(sidecar_path(tmp_path / "two.csv").read_text())
    meta["complete"] = False
    sidecar_path(tmp_path / "two.csv").write_text(json.dumps(meta))
    assert main(["reaction", "predict", str(source), "-o", str(tmp_path / "two.csv"), *common, "--workers", "2",
                 "--resume"]) == 0
    assert (tmp_path / "two.csv").read_bytes() == one
    assert main(["reaction", "predict", str(source), "-o", "-", *common, "--workers", "0"]) == 1
    assert "--workers must be at least 1, got 0" in capsys.readouterr().err


def test_workers_report_a_damaged_model_in_one_line(tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(MODEL / "config.json", bad / "config.json")
    (bad / "model.safetensors").write_bytes((MODEL / "model.safetensors").read_bytes()[:1000])
    source = Path(__file__).resolve().parents[2] / "resources" / "examples" / "reactions.txt"
    assert main(["reaction", "predict", str(source), "-m", str(bad), "-o", str(tmp_path / "o.csv"),
                 "--workers", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("chemaccel: error:") and "unreadable weights" in err and "\n" not in err
