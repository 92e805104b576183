"""``property predict``: killed with SIGKILL (or stopped with Ctrl-C) and resumed, the output equals an
uninterrupted run's, byte for byte."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest

from chemaccel.batch_output import scan_csv, sidecar_path
from chemaccel.cli import main
from tests.crash import needs_sigkill, rows_on_disk, run_until_rows

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "resources" / "models" / "qm9-gap-schnet-pruned"
CHUNK = 5


@pytest.fixture(scope="module")
def big_xyz(tmp_path_factory) -> Path:
    """400 XYZ frames, good and bad ones (the example files repeated)."""
    good = (ROOT / "resources" / "examples" / "molecules.xyz").read_text()
    bad = (ROOT / "resources" / "examples" / "with_errors.xyz").read_text()
    path = tmp_path_factory.mktemp("in") / "many.xyz"
    path.write_text((good + bad) * 40)
    return path


@pytest.fixture(scope="module")
def reference(big_xyz, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("ref") / "ref.csv"
    assert main(["property", "predict", str(big_xyz), "-m", str(MODEL), "-o", str(out), "--chunk", str(CHUNK)]) == 0
    data = out.read_bytes()
    assert data.count(b"\n") == 401 and b",ok," in data and b"error:" in data
    return data


def args(big_xyz: Path, out: Path, *extra: str) -> list[str]:
    return ["property", "predict", str(big_xyz), "-m", str(MODEL), "-o", str(out), "--chunk", str(CHUNK), *extra]


@needs_sigkill
def test_sigkill_then_resume_gives_the_uninterrupted_output(big_xyz, reference, tmp_path, capsys):
    out = tmp_path / "out.csv"
    done = run_until_rows(args(big_xyz, out), out, CHUNK, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    assert CHUNK <= rows_on_disk(out) < 400
    assert json.loads(sidecar_path(out).read_text())["complete"] is False
    assert main(args(big_xyz, out, "--resume")) == 0
    assert "resuming after" in capsys.readouterr().err
    assert out.read_bytes() == reference
    assert main(args(big_xyz, out, "--resume")) == 0  # complete: nothing to do
    assert out.read_bytes() == reference


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs POSIX signals")
def test_ctrl_c_stops_after_a_chunk_and_resume_finishes(big_xyz, reference, tmp_path, capsys):
    out = tmp_path / "out.csv"

    def press_ctrl_c() -> None:
        while rows_on_disk(out) < CHUNK and not finished.is_set():
            time.sleep(0.002)
        if not finished.is_set():
            signal.pthread_kill(main_thread, signal.SIGINT)

    finished, main_thread = threading.Event(), threading.main_thread().ident
    guard = signal.signal(signal.SIGINT, lambda *_: None)  # a late Ctrl-C must not stop pytest
    presser = threading.Thread(target=press_ctrl_c)
    try:
        presser.start()
        status = main(args(big_xyz, out))
    finally:
        finished.set()
        presser.join()
        signal.signal(signal.SIGINT, guard)
    assert status == 130 and "--resume" in capsys.readouterr().err
    header, rows, aligned, aligned_end, end = scan_csv(out, CHUNK)
    assert rows == aligned and end == out.stat().st_size and 0 < rows < 400  # whole chunks, no partial line
    assert main(args(big_xyz, out, "--resume")) == 0
    assert out.read_bytes() == reference


def test_resume_with_another_chunk_size_is_refused(big_xyz, reference, tmp_path, capsys):
    out = tmp_path / "out.csv"
    out.write_bytes(reference)
    assert main(args(big_xyz, out, "--resume")) == 1  # no sidecar: not ours
    assert "resume.json is missing" in capsys.readouterr().err
    assert main(args(big_xyz, out)) == 0
    capsys.readouterr()
    assert main(["property", "predict", str(big_xyz), "-m", str(MODEL), "-o", str(out), "--chunk", "7",
                 "--resume"]) == 1
    err = capsys.readouterr().err
    assert "chunk: was 5, now 7" in err and err.count("\n") == 1


def test_predict_file_cancel_and_resume_skips_done_records(big_xyz, reference, tmp_path, monkeypatch):
    from chemaccel.property import predict as predict_module
    from chemaccel.property.storage import load_model
    from chemaccel.reporting import RecordingReporter

    model = load_model(MODEL)
    out = tmp_path / "out.csv"
    counts = predict_module.predict_file(model, big_xyz, out, chunk=CHUNK, reporter=RecordingReporter(stop_after=3))
    assert counts["cancelled"] == 1 and counts["rows"] == 3 * CHUNK
    seen = []
    real = predict_module.PropertyModel._predict_chunk
    monkeypatch.setattr(predict_module.PropertyModel, "_predict_chunk",
                        lambda self, chunk, seed, **kw: seen.extend(r.index for r in chunk) or real(self, chunk, seed, **kw))
    reporter = RecordingReporter()
    counts = predict_module.predict_file(model, big_xyz, out, chunk=CHUNK, reporter=reporter, resume=True)
    assert counts["resumed"] == 15 and counts["rows"] == 400 and counts["complete"] == 1
    assert seen[0] == 16 and len(seen) == 385  # the done records were never predicted again
    assert reporter.progress[0][0] == 20 and any("resuming after 15 rows" in m for m in reporter.messages)
    assert out.read_bytes() == reference


def test_workers_embed_in_processes_and_write_the_same_rows(tmp_path):
    """--workers 2: the SMILES are embedded in two processes; the file equals the one-process file."""
    smiles = ["CCO", "c1ccccc1O", "not a smiles", "CC(=O)Nc1ccc(O)cc1", "C1CC", "OC1C2CC1C2", "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
              "[Na+].[Cl-]", "C#CC(O)C#N", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "O=C1CCCCC1", "FC(F)(F)c1ccccc1"] * 2
    src = tmp_path / "mols.smi"
    src.write_text("\n".join(smiles) + "\n")
    model = str(ROOT / "resources" / "models" / "qm9-gap-schnet-ff")
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert main(["property", "predict", str(src), "-m", model, "-o", str(one), "--chunk", "7"]) == 0
    assert main(["property", "predict", str(src), "-m", model, "-o", str(two), "--chunk", "7", "--workers", "2"]) == 0
    assert one.read_bytes() == two.read_bytes()
    text = one.read_text()
    assert text.count(",ok,") == 18 and text.count("error:") == 6  # 3 bad rows, twice
    assert main(["property", "predict", str(src), "-m", model, "-o", str(two), "--workers", "0"]) == 1


def test_workers_load_the_model_after_the_processes_start(tmp_path, monkeypatch, capsys):
    """With --workers the folder loads once the first chunks are embedding (DeferredModel); a folder whose
    weights are damaged then fails in one line, the processes stop, and nothing is written."""
    import shutil

    from chemaccel.property import predict as predict_module

    src = tmp_path / "mols.smi"
    src.write_text("CCO\nc1ccccc1O\nCC(=O)Nc1ccc(O)cc1\n")
    model = ROOT / "resources" / "models" / "qm9-gap-schnet-ff"
    order = []
    real_load, real_ahead = predict_module.DeferredModel.load, predict_module._embedded_ahead

    def ahead(*args, **kwargs):
        order.append("embedding started")
        return real_ahead(*args, **kwargs)

    def load(self):
        order.append("model loaded")
        return real_load(self)

    monkeypatch.setattr(predict_module, "_embedded_ahead", ahead)
    monkeypatch.setattr(predict_module.DeferredModel, "load", load)
    out = tmp_path / "out.csv"
    assert main(["property", "predict", str(src), "-m", str(model), "-o", str(out), "--workers", "2"]) == 0
    assert order == ["embedding started", "model loaded"]
    assert out.read_text().count(",ok,") == 3
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    shutil.copy(model / "config.json", damaged / "config.json")
    (damaged / "model.safetensors").write_bytes(b"\x00" * 64)
    bad_out = tmp_path / "bad.csv"
    capsys.readouterr()
    assert main(["property", "predict", str(src), "-m", str(damaged), "-o", str(bad_out), "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "model.safetensors" in err and "Traceback" not in err and err.count("\n") == 1
    assert not bad_out.exists() and not list(tmp_path.glob("bad.csv*"))


def test_workers_on_3d_input_skip_the_round_trip_and_write_the_same_rows(tmp_path, monkeypatch):
    """XYZ records have coordinates: --workers sends them to no process, and the rows are the same."""
    from concurrent.futures import ProcessPoolExecutor

    src = tmp_path / "mixed.xyz"
    src.write_text((ROOT / "resources" / "examples" / "molecules.xyz").read_text()
                   + (ROOT / "resources" / "examples" / "with_errors.xyz").read_text())
    model = str(ROOT / "resources" / "models" / "qm9-gap-schnet-pruned")
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert main(["property", "predict", str(src), "-m", model, "-o", str(one), "--chunk", "4"]) == 0
    submitted = []
    real = ProcessPoolExecutor.submit
    monkeypatch.setattr(ProcessPoolExecutor, "submit", lambda self, *a, **k: submitted.append(a[0]) or real(self, *a, **k))
    assert main(["property", "predict", str(src), "-m", model, "-o", str(two), "--chunk", "4", "--workers", "2"]) == 0
    assert one.read_bytes() == two.read_bytes()
    text = one.read_text()
    assert text.count(",ok,") >= 4 and "error:" in text
    assert submitted == []
