"""Every shipped model reproduces its figures on a small fixed slice of the data it was measured on.

Each function below loads one model from ``resources/models`` and measures it on a slice (seconds on the
CPU) through the engine's own evaluate path; ``tests/shipped_reference.json`` holds the figures recorded
once from the shipped files. A change to a model's weights, its loader or the scoring code moves a figure
and fails here. Re-record after shipping a new model, and say so in the commit:

    .venv/bin/python -m tests.test_shipped_models --record [MODEL ...]

The full-split figures stay in each config.json and docs/benchmarks.md (re-measured by each engine's
``evaluate`` command). Slices that need ../shared/data skip without it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "resources" / "models"
REFERENCE = Path(__file__).with_name("shipped_reference.json")
#: absolute tolerance per figure: counts and fractions of counts are exact; floats summed in another
#: order (threads, BLAS) may move in the last digits
TOLERANCE = {"mae_mev": 0.02, "reverse_kl": 1e-4}


def _shared(name: str) -> Path:
    from tests.conftest import shared_data_dir

    folder = shared_data_dir() / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (the shared data sets; set $CHEMACCEL_SHARED_DATA)")
    return folder


def _prune(model: str, data: str) -> dict[str, Any]:
    from chemaccel.prune.evaluate import evaluate

    r = evaluate(MODELS / model, _shared(data), limit=1000, latency_repeats=1)
    return {k: r[k] for k in ("test_error", "params_nonzero", "params_total", "flops")}


def _nas(model: str, data: str) -> dict[str, Any]:
    from chemaccel.nas.evaluate import evaluate

    r = evaluate(MODELS / model, _shared(data), limit=1000)
    return {k: r[k] for k in ("test_accuracy", "params")}


def _gan(model: str, n: int) -> dict[str, Any]:
    from chemaccel import api

    r = api.load_model(MODELS / model).evaluate(n=n, seed=0)
    keys = ("n_modes_captured", "high_quality", "reverse_kl") if "n_modes_captured" in r else (
        "validity", "uniqueness", "novelty")
    return {k: r[k] for k in keys}


def _qm9_store(tmp_path_factory) -> Path:
    pytest.importorskip("qm9pack", reason="qm9pack (chemaccel[qm9]) makes the QM9 subset")
    from chemaccel.datasets.qm9 import convert_qm9

    path = tmp_path_factory.mktemp("qm9-shipped") / "qm9_200.h5"
    convert_qm9(path, limit=200)
    return path


def _property(model: str, store: Path) -> dict[str, Any]:
    from chemaccel import api
    from chemaccel.property.evaluate import evaluate_model

    r = evaluate_model(api.load_model(MODELS / model), store, split="train")
    return {"mae_mev": round(r["results"][0]["mae_mev"], 3), "n": r["n"], "params": r["params"]}


def _reaction(model: str, limit: int = 40) -> dict[str, Any]:
    from chemaccel import api
    from chemaccel.reaction.data import load_pairs
    from chemaccel.reaction.evaluate import evaluate_pairs

    pairs, _ = load_pairs(_shared("uspto50k"), "test", limit)
    r = evaluate_pairs(api.load_model(MODELS / model), pairs, k=5)
    conf = {f"confidence_{k}": r["confidence"][k] for k in ("top1_most_confident_half", "top1_other_half")}
    return {**{k: r[k] for k in ("n", "top1", "top2", "top5", "invalid_rate", "not_predicted", "params")}, **conf}


#: model name -> how its slice is measured (tmp_path_factory -> figures)
SLICES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "lenet5-mnist-autoprune": lambda f: _prune("lenet5-mnist-autoprune", "mnist"),
    "cnn-fashion-autoprune": lambda f: _prune("cnn-fashion-autoprune", "fashion_mnist"),
    "nas-fashion": lambda f: _nas("nas-fashion", "fashion_mnist"),
    "gan-grid25": lambda f: _gan("gan-grid25", 2000),
    "gan-ring8": lambda f: _gan("gan-ring8", 2000),
    "gan-qm9": lambda f: _gan("gan-qm9", 300),
    "qm9-gap-schnet": lambda f: _property("qm9-gap-schnet", _qm9_store(f)),
    "qm9-gap-schnet-pruned": lambda f: _property("qm9-gap-schnet-pruned", _qm9_store(f)),
    "uspto-forward-reagents": lambda f: _reaction("uspto-forward-reagents"),
}


def test_every_shipped_model_has_a_reproduction_slice():
    shipped = {p.name for p in MODELS.iterdir() if (p / "config.json").is_file()}
    # the SMILES-ready gap model and the U0 model are reproduced in tests/property/test_shipped_smiles_models.py
    covered = set(SLICES) | {"qm9-gap-schnet-ff", "qm9-u0-schnet-pruned"}
    assert shipped <= covered, f"shipped models without a reproduction test: {sorted(shipped - covered)}"
    assert set(json.loads(REFERENCE.read_text())) == set(SLICES)


@pytest.mark.parametrize("name", sorted(SLICES))
def test_shipped_model_reproduces_its_figures_on_a_slice(name, tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    expected = json.loads(REFERENCE.read_text())[name]
    got = SLICES[name](tmp_path_factory)
    assert set(got) == set(expected)
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=TOLERANCE.get(key, 1e-9)), key
        else:
            assert got[key] == value, key


def _record(names: list[str]) -> None:  # pragma: no cover - run by hand after shipping a model
    import tempfile

    import torch

    torch.set_num_threads(1)

    class _Factory:
        def mktemp(self, name: str) -> Path:
            return Path(tempfile.mkdtemp(prefix=name))

    unknown = sorted(set(names) - set(SLICES))
    if unknown:
        sys.exit(f"no reproduction slice for {unknown}; choose from {sorted(SLICES)}")
    figures = json.loads(REFERENCE.read_text()) if names else {}
    for name, measure in SLICES.items():
        if names and name not in names:
            continue
        figures[name] = measure(_Factory())
        print(name, figures[name], flush=True)
    REFERENCE.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:2] != ["--record"]:
        sys.exit("usage: python -m tests.test_shipped_models --record [MODEL ...]  (all models when none named)")
    _record(sys.argv[2:])
