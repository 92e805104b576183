"""scripts/train_shipped_prune.py on a tiny IDX folder: ``--start-from`` prunes a pruned model further from
its own zeros, and ``--train-on-all`` (the final run of a chosen recipe) trains without a validation slice."""

from __future__ import annotations

import json

import torch

from chemaccel.prune.baselines import magnitude_prune, make_permanent
from chemaccel.prune.models import build_model, default_architecture
from chemaccel.prune.storage import load_pruned, save_pruned

from ..scripts import load_script
from .test_cli_prune import tiny_mnist

script = load_script("train_shipped_prune")


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_start_from_a_pruned_model_on_the_whole_training_split(tmp_path, capsys):
    tiny_mnist(tmp_path / "mnist", n=700)
    arch = default_architecture("lenet5")
    torch.manual_seed(0)
    model = build_model(arch)
    magnitude_prune(model, 3000)
    save_pruned(tmp_path / "start", make_permanent(model), arch, granularity="unstructured", compacted=False,
                normalization=(0.5, 0.5))
    rc = script.main(["lenet5", "--quick", "--skip-test", "--data", str(tmp_path / "mnist"), "--work",
                      str(tmp_path / "w"), "-o", str(tmp_path / "out"), "--start-from", str(tmp_path / "start"),
                      "--train-on-all", "--set", "budget=0.004"])
    assert rc == 0
    metrics = _last_json(capsys.readouterr().out)
    assert metrics["val_error"] is None  # no validation slice was held out
    pruned, meta = load_pruned(tmp_path / "out")
    assert meta.config["continue_pruned"] is True
    assert "whole training split" in meta.notes
    # the gates started from the model's own 3,000 weights (+ 580 biases; one recovery epoch reopened a
    # few); with continue_pruned=false the same run ends with ~228,000 non-zeros (the zeros' gates open)
    nonzero = sum(int((p != 0).sum()) for p in pruned.parameters())
    assert nonzero == metrics["params_nonzero"] and nonzero <= 4000
    # and the dense model was never trained in this work folder
    assert not (tmp_path / "w" / "dense").exists()
