"""Learning-rate schedule, time budget, fine-tuning a saved model, and compaction after a stop at the very end."""

import json
import math

import pytest

from chemaccel.errors import ConfigError
from chemaccel.reporting import RecordingReporter


def _trainer(cfg, store, out, init_from=None):
    from chemaccel.property import PropertyTrainer
    from chemaccel.runtime import RuntimeConfig

    return PropertyTrainer(cfg, store, out, runtime=RuntimeConfig(device="cpu"), init_from=init_from)


def test_config_rejects_unknown_schedule_and_negative_time():
    from chemaccel.property import PropertyConfig

    with pytest.raises(ConfigError, match="lr_schedule"):
        PropertyConfig(lr_schedule="linear")
    with pytest.raises(ConfigError, match="time_limit_minutes"):
        PropertyConfig(time_limit_minutes=-1)


def test_cosine_follows_the_nearer_budget(qm9_store, tmp_path):
    from chemaccel.property import PropertyConfig
    from tests.property.conftest import TINY

    trainer = _trainer(PropertyConfig(lr=1e-3, lr_schedule="cosine", time_limit_minutes=10, **TINY), qm9_store,
                       tmp_path / "m")
    assert trainer._cosine_lr(0, 100, 0.0) == pytest.approx(1e-3)
    assert trainer._cosine_lr(50, 100, 0.0) == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5))
    assert trainer._cosine_lr(10, 100, 600.0) == pytest.approx(1e-5)  # the time budget is spent: the floor
    assert trainer._cosine_lr(10, 100, None) == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5 * (1 + math.cos(0.1 * math.pi))))


def test_time_budget_ends_dense_training_early(qm9_store, tmp_path):
    from chemaccel.property import PropertyConfig
    from tests.property.conftest import TINY

    cfg = PropertyConfig(targets=("gap",), max_epochs=50, time_limit_minutes=1e-6, lr_schedule="cosine", **TINY)
    reporter = RecordingReporter()
    result = _trainer(cfg, qm9_store, tmp_path / "m").run(reporter)
    assert result.status == "done" and len(result.history) == 1  # one epoch, then the budget is spent
    assert any("time budget" in m for m in reporter.messages)


def test_fine_tuning_a_saved_model_keeps_its_pruned_widths(trained_model, qm9_store, tmp_path):
    from chemaccel.property import PropertyConfig
    from tests.property.conftest import TINY

    cfg = PropertyConfig(targets=("gap", "U0"), max_epochs=1, lr=1e-4, lr_schedule="cosine", **TINY)
    result = _trainer(cfg, qm9_store, tmp_path / "polished", init_from=trained_model).run()
    assert result.status == "done" and len(result.history) == 1
    before = json.loads((trained_model / "config.json").read_text())["architecture"]["blocks"]
    after = json.loads((tmp_path / "polished" / "config.json").read_text())["architecture"]["blocks"]
    assert after == before


def test_a_run_stopped_after_its_last_phase_is_compacted_on_resume(qm9_store, tmp_path):
    from chemaccel.checkpoint import load_training_state, save_training_state
    from chemaccel.property import PropertyConfig
    from tests.property.conftest import TINY

    cfg = PropertyConfig(targets=("gap",), max_epochs=1, prune="attention", prune_epochs=1, finetune_epochs=1,
                         budget=0.5, **TINY)
    out = tmp_path / "m"
    assert _trainer(cfg, qm9_store, out).run().status == "done"
    reference = json.loads((out / "config.json").read_text())
    # what a run killed between its last checkpoint ("done") and writing the model folder leaves behind
    state = load_training_state(tmp_path / "m.work")
    assert state["meta"]["phase"] == "done"
    save_training_state(tmp_path / "m.work", state)
    (out / "config.json").unlink()
    (out / "model.safetensors").unlink()
    out.rmdir()
    assert _trainer(cfg, qm9_store, out).run(resume=True).status == "done"
    again = json.loads((out / "config.json").read_text())
    assert again["architecture"]["blocks"] == reference["architecture"]["blocks"]
    assert sum(b["n_filters"] for b in again["architecture"]["blocks"]) == 16
    assert again["metrics"]["valid_mae_mev_gap"] == pytest.approx(reference["metrics"]["valid_mae_mev_gap"], rel=1e-5)
