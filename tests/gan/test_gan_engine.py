"""Training: progress, cancel with a loadable checkpoint, resume, NaN detection, model folders."""

import json
import math

import pytest
import torch

from chemaccel import api
from chemaccel.checkpoint import load_training_state
from chemaccel.errors import ConfigError
from chemaccel.gan import GanTrainer, load_gan, save_gan
from chemaccel.gan.engine import LAST
from chemaccel.reporting import RecordingReporter
from chemaccel.runtime import RuntimeConfig

CPU = RuntimeConfig(device="cpu", seed=0)


def test_train_reports_cancels_and_leaves_a_loadable_checkpoint(tiny_config, tmp_path):
    rep = RecordingReporter(stop_after=2)  # progress every 5 steps: cancel after step 10
    result = GanTrainer(tiny_config, CPU).run(rep, checkpoint_dir=tmp_path, evaluate=False)
    assert result.status == "cancelled" and result.steps == 10
    assert rep.starts == [("gan train", 20)]
    assert [p[0] for p in rep.progress] == [5, 10]
    assert {"loss_d", "loss_g", "classifier", "ortho"} <= set(rep.progress[0][2])
    state = load_training_state(tmp_path / LAST)
    assert state["step"] == 10 and "generator" in state and "opt_d" in state
    # resume runs the remaining 10 steps
    rep2 = RecordingReporter()
    again = GanTrainer(tiny_config, CPU).run(rep2, checkpoint_dir=tmp_path, resume=True, evaluate=False)
    assert again.status == "completed" and again.steps == 20
    assert any("resumed" in m for m in rep2.messages)
    assert [p[0] for p in rep2.progress] == [15, 20]


def test_resume_with_other_shapes_is_refused(tiny_config, tmp_path):
    GanTrainer(tiny_config.replace(steps=5), CPU).run(None, checkpoint_dir=tmp_path, evaluate=False)
    with pytest.raises(ConfigError, match="does not match"):
        GanTrainer(tiny_config.replace(n_generators=2), CPU).run(None, checkpoint_dir=tmp_path, resume=True)


def test_nan_stops_and_keeps_last_good_checkpoint(tiny_config, tmp_path, monkeypatch):
    trainer = GanTrainer(tiny_config, CPU)
    real_step = trainer.train_step
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        out = real_step(*args, **kwargs)
        if calls["n"] == 8:
            out["loss_g"] = math.nan
        return out

    monkeypatch.setattr(trainer, "train_step", flaky)
    rep = RecordingReporter()
    result = trainer.run(rep, checkpoint_dir=tmp_path, evaluate=False)
    assert result.status == "diverged" and result.steps == 5
    assert "diverged at step 8" in result.reason and "loss_g is nan" in result.reason and "step 5" in result.reason
    assert any("diverged" in m for m in rep.messages)
    assert load_training_state(tmp_path / LAST)["step"] == 5
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_save_load_round_trip_and_api(tiny_config, tmp_path):
    result = GanTrainer(tiny_config.replace(steps=6), CPU).run(None)
    assert {"n_modes_captured", "high_quality", "reverse_kl"} <= set(result.metrics)
    folder = save_gan(tmp_path / "m", result.model, metrics={"high_quality": result.metrics["high_quality"]})
    loaded = load_gan(folder)
    a, ids_a = result.model.generate(50, seed=3)
    b, ids_b = loaded.generate(50, seed=3)
    assert torch.allclose(a, b, atol=1e-6) and torch.equal(ids_a, ids_b)
    assert loaded.evaluate(seed=0) == result.model.evaluate(seed=0)
    assert isinstance(api.load_model(folder), type(loaded))
    batched, _ = loaded.generate(40, seed=1)
    looped, _ = loaded.generate(40, seed=1, batched=False)
    assert torch.allclose(batched, looped, atol=1e-5)


def test_half_precision_storage_halves_the_weights_and_loads_back_as_float32(tiny_config, tmp_path):
    model = GanTrainer(tiny_config.replace(steps=6), CPU).run(None, evaluate=False).model
    full = save_gan(tmp_path / "f32", model)
    half = save_gan(tmp_path / "f16", model, storage_dtype="float16")
    ratio = (half / "model.safetensors").stat().st_size / (full / "model.safetensors").stat().st_size
    assert 0.45 < ratio < 0.7  # (a tiny model: the header and integer buffers weigh in)
    loaded = load_gan(half)
    assert json.loads((half / "config.json").read_text())["architecture"]["storage_dtype"] == "float16"
    original = model.generator.canonical_state_dict()
    for key, value in loaded.generator.canonical_state_dict().items():
        assert value.dtype == original[key].dtype  # cast back on load
        if value.is_floating_point():
            assert torch.equal(value, original[key].half().float())  # exactly the rounded weights
    a, _ = model.generate(50, seed=3)
    b, _ = loaded.generate(50, seed=3)
    assert torch.allclose(a, b, atol=1e-2) and not torch.equal(a, b)
    with pytest.raises(ConfigError, match="storage_dtype must be one of float32, float16"):
        save_gan(tmp_path / "bad", model, storage_dtype="int8")


def test_k1_is_a_plain_gan(tiny_config):
    result = GanTrainer(tiny_config.replace(n_generators=1, steps=3, log_every=1), CPU).run(None, evaluate=False)
    assert result.model.discriminator.classifier is None
    assert all(h["classifier"] == 0.0 and h["ortho"] == 0.0 for h in result.history)


def test_molecules_train_and_evaluate(tiny_config, smiles20, tmp_path):
    cfg = tiny_config.replace(data="qm9", noise_dim=4, steps=4, batch_size=12, eval_samples=50)
    rep = RecordingReporter()
    result = GanTrainer(cfg, CPU).run(rep, data=smiles20)
    assert result.data_report.too_many_atoms == 1
    assert any("skipped 2" in m for m in rep.messages)
    assert {"validity", "uniqueness", "novelty"} <= set(result.metrics)
    loaded = load_gan(save_gan(tmp_path / "mol", result.model))
    assert loaded.train_hashes is not None and len(loaded.train_hashes) == 20
    assert len(loaded.sample_smiles(10)) == 10


@pytest.mark.parametrize("sampling", ["gumbel", "argmax"])
def test_molecules_train_with_each_graph_sampling_and_the_diversity_term(tiny_config, smiles20, sampling):
    cfg = tiny_config.replace(data="qm9", noise_dim=4, steps=3, batch_size=12, eval_samples=20, log_every=1,
                              graph_sampling=sampling, diversity_weight=0.1)
    result = GanTrainer(cfg, CPU).run(None, data=smiles20)
    assert result.status == "completed"
    assert all(math.isfinite(h["diversity"]) and h["diversity"] > 0 for h in result.history)
    plain = GanTrainer(cfg.replace(diversity_weight=0.0), CPU).run(None, data=smiles20, evaluate=False)
    assert all(h["diversity"] == 0.0 for h in plain.history)


def test_api_train_gan_writes_a_model_folder(tiny_config, tmp_path):
    result = api.train_gan({**tiny_config.to_dict(), "steps": 3}, out=tmp_path / "g", runtime=CPU)
    assert result.status == "completed"
    assert api.load_model(tmp_path / "g").config.n_generators == 3


@pytest.mark.parametrize("precision", ["bf16-mixed", "bf16-true", "64-true"])
def test_other_precisions_are_refused_in_one_line(tiny_config, precision):
    with pytest.raises(ConfigError, match="32-bit precision") as exc:
        GanTrainer(tiny_config, RuntimeConfig(device="cpu", seed=0, precision=precision)).run(None)
    assert "\n" not in str(exc.value)
