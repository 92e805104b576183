import json
import math

import pytest
import torch
from torch import nn

from chemaccel.checkpoint import load_training_state
from chemaccel.errors import ChemAccelError, ConfigError
from chemaccel.prune import AutoPrune, PruneConfig, TrainingDiverged
from chemaccel.prune.evaluate import KEYS, evaluate
from chemaccel.prune.schedule import LambdaSchedule
from chemaccel.prune.storage import save_pruned
from chemaccel.reporting import RecordingReporter
from chemaccel.runtime import RuntimeConfig

CPU = RuntimeConfig(device="cpu")
FAST = dict(batch_size=50, lambda_init=0.05, lambda_rate=0.15, schedule_every=1, gate_lr=0.01, gate_init=0.05,
            lr=3e-3, runtime=CPU)


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))


@pytest.mark.parametrize("granularity,target", [("unstructured", "params"), ("structured", "flops")])
def test_schedule_reaches_budget_on_toy_problem(toy_images, granularity, target):
    x, y = toy_images
    cfg = PruneConfig(granularity=granularity, target=target, budget=0.2, epochs=20, finetune_epochs=6, **FAST)
    res = AutoPrune(cfg).run(mlp(), (x[:160], y[:160]), (x[160:], y[160:]))
    kept = res.history[-1][f"kept_{target}"]
    assert 0.1 <= kept <= 0.25
    measured = res.measurements["flops_fraction" if target == "flops" else "params_nonzero"]
    if target == "params":
        measured /= res.measurements["params_total"]
    assert measured == pytest.approx(kept, rel=0.02)  # the controller's count equals the real one
    assert res.measurements["val_error"] <= 0.1
    assert res.compacted == (granularity == "structured")


def test_lambda_schedule_controller():
    s = LambdaSchedule("scheduled", 1.0, budget=0.1, ramp_steps=10, rate=0.5)
    assert s.target(0) == 1.0 and s.target(10) == pytest.approx(0.1) and s.target(99) == pytest.approx(0.1)
    assert s.update(10, kept=0.5) == pytest.approx(math.exp(0.5))  # far above the budget: full step up
    assert s.update(10, kept=0.05) == pytest.approx(math.exp(0.5 - 0.25))  # undershoot by half: half step down
    fixed = LambdaSchedule("fixed", 2.0, budget=0.1, ramp_steps=10)
    assert fixed.update(5, 1.0) == 2.0


def test_lambda_schedule_from_a_pruned_start():
    s = LambdaSchedule("scheduled", 1.0, budget=0.01, ramp_steps=10, start=0.1)
    assert s.target(0) == pytest.approx(0.1) and s.target(5) == pytest.approx(0.1 * 0.1 ** 0.5)
    assert s.target(10) == pytest.approx(0.01)
    resumed = LambdaSchedule("scheduled", 1.0, budget=0.01, ramp_steps=10)
    resumed.load_state_dict(s.state_dict())
    assert resumed.start == pytest.approx(0.1)
    assert LambdaSchedule("scheduled", 1.0, budget=0.2, ramp_steps=10, start=0.1).target(0) == 0.2


def test_continue_pruned_starts_from_the_models_own_zeros(toy_images):
    x, y = toy_images
    first = AutoPrune(PruneConfig(budget=0.2, epochs=12, finetune_epochs=3, **FAST)).run(
        mlp(), (x[:160], y[:160]), (x[160:], y[160:]))
    pruned = first.model
    zeros_before = [p.detach() == 0 for p in pruned.parameters()]
    assert first.measurements["params_nonzero"] / first.measurements["params_total"] == pytest.approx(0.2, abs=0.05)
    cfg = PruneConfig(budget=0.1, epochs=8, finetune_epochs=2, recovery_epochs=0, continue_pruned=True, **FAST)
    res = AutoPrune(cfg).run(pruned, (x[:160], y[:160]), (x[160:], y[160:]))
    # the ramp starts at the model's kept fraction (0.15), not at 1
    assert 0.1 < res.history[0]["target"] < 0.15 and res.history[0]["kept_params"] < 0.16
    assert res.history[-1]["kept_params"] == pytest.approx(0.1, abs=0.035)  # (4 steps an epoch: the gates lag)
    # without recovery a weight pruned before stays pruned
    for before, p in zip(zeros_before, res.model.parameters()):
        assert bool((p.detach()[before] == 0).all())
    # the same start without the flag ramps from the whole model
    plain = AutoPrune(cfg.replace(continue_pruned=False)).run(
        AutoPrune(PruneConfig(budget=0.2, epochs=12, finetune_epochs=3, **FAST)).run(
            mlp(), (x[:160], y[:160])).model, (x[:160], y[:160]))
    assert plain.history[0]["target"] > 0.5


@pytest.mark.parametrize("budget", [0, 0.0, -0.5, 1.5, float("nan"), "0.5"])
def test_budget_outside_range(budget):
    with pytest.raises(ConfigError, match=r"budget must be .* in \(0, 1\]"):
        PruneConfig(budget=budget)


def test_config_rejects_unknown_keys_and_round_trips():
    with pytest.raises(ConfigError, match="unknown prune config key"):
        PruneConfig.from_dict({"budgte": 0.1})
    with pytest.raises(ConfigError, match="unknown runtime config key"):
        PruneConfig.from_dict({"runtime": {"gpu": 1}})
    with pytest.raises(ConfigError, match="estimator"):
        PruneConfig(estimator="sigmoid")
    cfg = PruneConfig(budget=0.05, runtime=CPU)
    assert PruneConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_no_prunable_layer(toy_images):
    with pytest.raises(ConfigError, match="no prunable layer"):
        AutoPrune(PruneConfig(runtime=CPU)).run(nn.Sequential(nn.Flatten(), nn.ReLU()), toy_images)


def test_model_and_data_on_different_devices(toy_images):
    x = torch.empty(10, 1, 28, 28, device="meta")
    y = torch.empty(10, dtype=torch.long, device="meta")
    with pytest.raises(ConfigError, match="the model is on cpu but the training data is on meta"):
        AutoPrune(PruneConfig(runtime=CPU)).run(mlp(), (x, y))


def test_bad_data(toy_images):
    x, y = toy_images
    with pytest.raises(ConfigError, match="differ in length"):
        AutoPrune(PruneConfig(runtime=CPU)).run(mlp(), (x, y[:5]))
    with pytest.raises(ConfigError, match="expected an"):
        AutoPrune(PruneConfig(runtime=CPU)).run(mlp(), [1, 2, 3])


def test_cancel_leaves_loadable_checkpoint_and_resumes(toy_images, tmp_path):
    x, y = toy_images
    cfg = PruneConfig(budget=0.3, epochs=4, finetune_epochs=1, **FAST)
    reporter = RecordingReporter(stop_after=6)
    res = AutoPrune(cfg).run(mlp(), (x, y), None, reporter, checkpoint_dir=tmp_path)
    assert res.cancelled and any("cancelled" in m for m in reporter.messages)
    state = load_training_state(tmp_path / "state")
    assert state["epoch"] >= 1 and "model" in state and "gates" in state
    res2 = AutoPrune(cfg).run(mlp(), (x, y), None, RecordingReporter(), checkpoint_dir=tmp_path, resume=True)
    assert not res2.cancelled and len(res2.history) == 5
    assert res2.history[0]["epoch"] == 1  # history of the first run carried over


class Bomb(nn.Module):
    """Identity for the first ``after`` training calls, then NaN."""

    def __init__(self, after):
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                return x * math.nan
        return x


def test_nan_loss_stops_and_keeps_last_good_checkpoint(toy_images, tmp_path):
    x, y = toy_images
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 8), Bomb(after=6), nn.Linear(8, 4))
    cfg = PruneConfig(budget=0.5, epochs=3, **FAST)
    reporter = RecordingReporter()
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 2") as exc:
        AutoPrune(cfg).run(model, (x, y), None, reporter, checkpoint_dir=tmp_path)
    assert isinstance(exc.value, ChemAccelError) and "last good checkpoint" in str(exc.value)
    state = load_training_state(tmp_path / "state")
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    from chemaccel.prune.attach import has_gates

    assert not has_gates(model)  # the caller's module is left without gates


def test_evaluate_json_keys_and_cli(toy_images, tmp_path, capsys):
    x, y = toy_images
    cfg = PruneConfig(granularity="structured", budget=0.5, epochs=6, finetune_epochs=1, **FAST)
    model = mlp()
    res = AutoPrune(cfg).run(model, (x, y), (x, y))
    from chemaccel.prune.models import sequential_spec

    dense_arch = sequential_spec(res.dense)
    folder = save_pruned(tmp_path / "m", res.model, dense_arch, granularity="structured", compacted=True,
                         config=cfg.to_dict())
    stats = evaluate(folder, (x, y), latency_repeats=3)
    for key in KEYS:
        assert key in stats and stats[key] is not None
    assert stats["compression"] == pytest.approx(stats["params_total"] / stats["params_nonzero"])
    assert 0 <= stats["test_error"] <= 1 and stats["flops"] < stats["flops_dense"]
    json.dumps(stats)
    from chemaccel.cli import main

    assert main(["prune", "evaluate", str(folder), "--json", "--repeats", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(KEYS) <= set(out) and out["test_error"] is None
    assert main(["prune", "report", str(folder)]) == 0
    assert "compression" in capsys.readouterr().out


def test_public_api_prune(toy_images):
    from chemaccel import api

    x, y = toy_images
    cfg = {**FAST, "budget": 0.5, "epochs": 2, "finetune_epochs": 0, "runtime": {"device": "cpu"}}
    res = api.prune(mlp(), (x, y), cfg)
    assert res.measurements["params_nonzero"] < res.measurements["params_total"]


def test_budget_not_reached_is_reported():
    from chemaccel.prune import AutoPrune, PruneConfig
    from chemaccel.reporting import RecordingReporter
    from chemaccel.runtime import RuntimeConfig

    torch.manual_seed(0)
    x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    rec = RecordingReporter()
    cfg = PruneConfig(budget=0.01, epochs=1, finetune_epochs=0, lambda_init=1e-6, batch_size=32,
                      runtime=RuntimeConfig(device="cpu"))
    AutoPrune(cfg).run(net, (x, y), None, rec)
    assert any(m.startswith("budget not reached: kept") for m in rec.messages), rec.messages
