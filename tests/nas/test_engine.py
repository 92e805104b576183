import json

import torch

from chemaccel.api import load_model
from chemaccel.nas import NasRetrain, NasSearch
from chemaccel.nas.genotype import Genotype
from chemaccel.nas.teacher import TeacherCNN
from chemaccel.reporting import RecordingReporter

from .conftest import quadrant_images


def test_search_returns_genotype_history_and_reports(tiny_images, tiny_search):
    rep = RecordingReporter()
    result = NasSearch(tiny_search.replace(epochs=2)).run(tiny_images, rep)
    assert isinstance(result.genotype, Genotype) and not result.cancelled
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert {"loss", "val_loss", "val_accuracy", "max_skip_per_cell", "seconds"} <= set(result.history[0])
    assert result.genotype.max_skip_per_cell() <= 2
    assert len(result.weights["normal"]) == 5 and abs(sum(result.weights["normal"][0]) - 1) < 1e-5
    assert rep.starts and rep.starts[-1][0].startswith("DARTS search") and rep.progress and rep.messages
    json.dumps(result.summary())


def test_distilled_search_trains_its_own_teacher(tiny_images, tiny_search):
    cfg = tiny_search.replace(feature_weight=1.0, logit_weight=0.5, order="second")
    rep = RecordingReporter()
    result = NasSearch(cfg).run(tiny_images, rep)
    assert isinstance(result.teacher, TeacherCNN) and "teacher_train_accuracy" in result.teacher_stats
    assert [t for t, _ in rep.starts] == ["train teacher", "DARTS search (second order, distilled)"]
    assert any("kd_feature" in m and "kd_logit" in m for _, _, m in rep.progress)


class StopInSearch(RecordingReporter):
    """Cancels at the 4th progress report of the search phase (not while the teacher trains)."""

    def on_progress(self, step, total=None, metrics=None):
        super().on_progress(step, total, metrics)
        if self.starts[-1][0].startswith("DARTS") and step >= 4:
            self.cancel()


def test_cancel_leaves_a_checkpoint_and_resume_finishes(tiny_images, tiny_search, tmp_path):
    cfg = tiny_search.replace(epochs=2, feature_weight=1.0, logit_weight=1.0)
    rep = StopInSearch()
    first = NasSearch(cfg).run(tiny_images, rep, checkpoint_dir=tmp_path)
    assert first.cancelled and (tmp_path / "search-state" / "state.json").is_file()
    assert len(first.history) == 1 and any("cancelled" in m for m in rep.messages)
    rep2 = RecordingReporter()
    second = NasSearch(cfg).run(tiny_images, rep2, checkpoint_dir=tmp_path, resume=True)
    assert not second.cancelled and [r["epoch"] for r in second.history] == [1, 2]
    assert any("resumed" in m for m in rep2.messages)
    assert "train teacher" not in [t for t, _ in rep2.starts]  # the teacher came from the checkpoint


def test_retrain_writes_a_model_folder_with_genotype_and_test_accuracy(tiny_images, tiny_search, tiny_retrain,
                                                                         tmp_path):
    genotype = NasSearch(tiny_search).run(tiny_images).genotype
    test = quadrant_images(40, seed=5)
    cfg = tiny_retrain.replace(epochs=2, feature_weight=1.0, logit_weight=1.0, val_size=16)
    result = NasRetrain(cfg).run(genotype, tiny_images, tmp_path / "m", test_data=test, normalization=(0.0, 1.0),
                                 checkpoint_dir=tmp_path / "work")
    assert result.folder == tmp_path / "m" and not result.cancelled
    info = json.loads((tmp_path / "m" / "config.json").read_text())
    assert info["engine"] == "nas" and Genotype.from_dict(info["architecture"]["model"]["genotype"]) == genotype
    assert 0.0 <= info["metrics"]["test_accuracy"] <= 1.0 and info["metrics"]["test_samples"] == 40
    assert info["metrics"]["params"] == sum(p.numel() for p in load_model(tmp_path / "m").parameters())
    assert "val_accuracy" in result.history[-1] and info["config"]["retrain"]["epochs"] == 2
    model = load_model(tmp_path / "m")
    with torch.no_grad():
        assert torch.allclose(model(test[0]), result.model.eval()(test[0]), atol=1e-6)


def test_cancelled_retrain_writes_no_model_folder(tiny_images, tiny_retrain, tmp_path):
    genotype = Genotype.from_dict({"normal": [["skip_connect", 0], ["sep_conv_3x3", 1]], "normal_concat": [2],
                                   "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1]], "reduce_concat": [2]})
    result = NasRetrain(tiny_retrain).run(genotype, tiny_images, tmp_path / "m", RecordingReporter(stop_after=1),
                                          checkpoint_dir=tmp_path / "w")
    assert result.cancelled and result.folder is None and not (tmp_path / "m").exists()
    assert (tmp_path / "w" / "retrain-state" / "state.json").is_file()


def test_public_api_search_and_retrain(tiny_images, tiny_search, tiny_retrain, tmp_path):
    import chemaccel

    found = chemaccel.nas_search(tiny_images, tiny_search.to_dict())
    result = chemaccel.nas_retrain(found.genotype.to_dict(), tiny_images, tmp_path / "m", tiny_retrain,
                                   test_data=quadrant_images(20, seed=7))
    assert isinstance(chemaccel.load_model(tmp_path / "m"), torch.nn.Module)
    assert result.metrics["params"] > 0 and 0 <= result.metrics["test_accuracy"] <= 1


def test_resume_uses_the_previous_checkpoint_when_the_last_is_damaged(tiny_images, tiny_search, tmp_path):
    NasSearch(tiny_search.replace(epochs=2)).run(tiny_images, checkpoint_dir=tmp_path)
    state = tmp_path / "search-state"
    data = (state / "state.safetensors").read_bytes()
    (state / "state.safetensors").write_bytes(data[: len(data) // 3])  # the epoch-2 checkpoint is damaged
    rep = RecordingReporter()
    resumed = NasSearch(tiny_search.replace(epochs=3)).run(tiny_images, rep, checkpoint_dir=tmp_path, resume=True)
    assert any("resuming from the previous checkpoint" in m for m in rep.messages)
    assert any("resumed from" in m and "epoch 2" in m for m in rep.messages)  # the epoch-1 state: epoch 2 next
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3] and not resumed.cancelled


def test_retraining_resumed_from_an_epoch_checkpoint_ends_with_the_same_weights(tiny_images, tiny_search,
                                                                                tiny_retrain, tmp_path):
    import shutil

    genotype = NasSearch(tiny_search).run(tiny_images).genotype
    cfg = tiny_retrain.replace(epochs=2, drop_path_prob=0.2)  # augmentation and drop-path draw random numbers
    unbroken = NasRetrain(cfg).run(genotype, tiny_images, checkpoint_dir=tmp_path)
    # the epoch-1 checkpoint survives as state.previous; without the epoch-2 one, resuming starts there
    shutil.rmtree(tmp_path / "retrain-state")
    resumed = NasRetrain(cfg).run(genotype, tiny_images, checkpoint_dir=tmp_path, resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    for (name, a), (_, b) in zip(unbroken.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), name
