import subprocess
import sys

import pytest
import torch

from chemaccel.cli import main


def test_help_explains_with_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("molecules", "demo", "prune", "property", "reaction", "gan", "nas", "--device", "examples:"):
        assert word in out


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-group"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_every_engine_group_is_real(capsys):
    for engine in ("prune", "property", "reaction", "gan", "nas"):
        with pytest.raises(SystemExit) as exc:
            main([engine, "--help"])
        assert exc.value.code == 0
        assert "not available yet" not in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_cuda_without_gpu_is_one_line_exit_1(capsys, tmp_path):
    assert main(["--device", "cuda:0", "demo", "--train-only", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and err.count("\n") == 1


def test_console_script_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "chemaccel.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("chemaccel ")


def test_lazy_public_api():
    import chemaccel

    assert callable(chemaccel.load_model) and callable(chemaccel.read_molecules)
    with pytest.raises(AttributeError):
        chemaccel.no_such_name


@pytest.mark.parametrize("content,reason", [(b"[1, 2]", "must be a JSON object, not list"),
                                            (b"{broken", "cannot read the config"),
                                            (b"\xff\xfe\x00", "cannot read the config")])
def test_bad_config_files_are_one_line_errors(tmp_path, capsys, content, reason):
    cfg = tmp_path / "cfg.json"
    cfg.write_bytes(content)
    code = main(["prune", "run", "--model", "lenet300", "--data", str(tmp_path), "--config", str(cfg),
                 "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and reason in err and err.count("\n") == 1 and str(cfg) in err
