"""scripts/train_shipped_prune.py on a tiny IDX folder: ``--start-from`` prunes a pruned model further from
its own zeros, and ``--train-on-all`` (the final run of a chosen recipe) trains without a validation slice."""

from __future__ import annotations

import json

import pytest

from chemaccel.prune.storage import load_pruned

from ..scripts import load_script
from .test_cli_prune import magnitude_pruned_lenet5, tiny_mnist

script = load_script("train_shipped_prune")


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_start_from_a_pruned_model_on_the_whole_training_split(tmp_path, capsys):
    tiny_mnist(tmp_path / "mnist", n=700)
    magnitude_pruned_lenet5(tmp_path / "start", 3000)
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


def test_a_missing_start_folder_is_one_line(tmp_path):
    tiny_mnist(tmp_path / "mnist", n=50)
    with pytest.raises(SystemExit, match=r"train_shipped_prune.py: .*nowhere: no such model folder"):
        script.main(["lenet5", "--quick", "--data", str(tmp_path / "mnist"), "--work", str(tmp_path / "w"),
                     "--start-from", str(tmp_path / "nowhere")])
