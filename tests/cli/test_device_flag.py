"""``--device cuda`` where there is no CUDA is a one-line error for every command, never a silent CPU run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from chemaccel.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "resources" / "models"
EXAMPLES = ROOT / "resources" / "examples"

COMMANDS = [
    ["property", "predict", str(EXAMPLES / "molecules.smi"), "-m", str(MODELS / "qm9-gap-schnet-pruned"), "-o", "{out}"],
    ["property", "evaluate", str(MODELS / "qm9-gap-schnet-pruned"), "--data", "{out}"],
    ["gan", "sample", str(MODELS / "gan-ring8"), "-n", "10", "-o", "{out}"],
    ["gan", "evaluate", str(MODELS / "gan-ring8")],
    ["prune", "evaluate", str(MODELS / "lenet5-mnist-autoprune")],
    ["prune", "report", str(MODELS / "lenet5-mnist-autoprune")],
    ["reaction", "predict", str(EXAMPLES / "reactions.txt"), "-m", str(MODELS / "uspto-forward-reagents"), "-o", "{out}"],
    ["nas", "evaluate", str(MODELS / "nas-fashion")],
    ["model", "info", str(MODELS / "gan-ring8")],
]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the flag is honoured, not refused")
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_cuda_without_cuda_is_an_error(command, tmp_path, capsys):
    out = tmp_path / "out.csv"
    argv = ["--device", "cuda", *[a.replace("{out}", str(out)) for a in command]]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CUDA is not available" in err[0] and "--device cpu" in err[0]
    assert not out.exists()  # nothing was computed on the CPU instead


def test_an_unknown_device_is_an_error(capsys):
    assert main(["--device", "tpu", "gan", "evaluate", str(MODELS / "gan-ring8")]) == 1
    assert "unknown device 'tpu'" in capsys.readouterr().err
