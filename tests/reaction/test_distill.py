"""A distilling teacher in reaction training (chemaccel.reaction.distill): the term's known values, how it joins
eole's loss, and a run that trains against it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from chemaccel.checkpoint import load_safetensors
from chemaccel.errors import ConfigError
from chemaccel.reaction import ReactionConfig, ReactionTrainer
from chemaccel.reaction.distill import DistillConfig, DistillingLoss, distillation_term
from chemaccel.reporting import RecordingReporter
from chemaccel.runtime import RuntimeConfig
from tests.reaction.conftest import TINY


def test_the_term_is_the_kl_divergence_scaled_by_t_squared():
    same = torch.tensor([[2.0, 0.0, -1.0]])
    assert float(distillation_term(same, same)) == pytest.approx(0.0, abs=1e-7)
    # two tokens: teacher (0.8, 0.2), student (0.5, 0.5): KL = 0.8 ln 1.6 + 0.2 ln 0.4
    teacher = torch.log(torch.tensor([[0.8, 0.2]]))
    student = torch.zeros(1, 2)
    assert float(distillation_term(student, teacher)) == pytest.approx(0.8 * math.log(1.6) + 0.2 * math.log(0.4))
    # at T = 2 both are softened first, then scaled by 4; rows add up
    p = torch.softmax(teacher / 2, -1)[0]
    expected = 4 * float((p * (p.log() - math.log(0.5))).sum())
    assert float(distillation_term(student, teacher, 2.0)) == pytest.approx(expected)
    assert float(distillation_term(student.repeat(3, 1), teacher.repeat(3, 1), 2.0)) == pytest.approx(3 * expected)


class _Inner(nn.Module):
    """eole's LossCompute as the wrapper sees it: a generator, a summed CE over non-padding targets."""

    padding_idx = 1
    tgt_shift_index = 1

    def __init__(self) -> None:
        super().__init__()
        self.generator = nn.Linear(4, 3)

    def forward(self, batch, output, attns, estim=None, mtp_outputs=None):
        flat = batch["tgt"][:, 1:].reshape(-1)
        logits = self.generator(output.reshape(-1, 4))
        loss = nn.functional.cross_entropy(logits, flat, ignore_index=self.padding_idx, reduction="sum")
        return loss, "stats", torch.zeros(1)

    def ignore_prompt(self, batch):
        return batch


class _Teacher(nn.Module):
    def __init__(self, states: torch.Tensor) -> None:
        super().__init__()
        self.states = states
        self.generator = nn.Linear(4, 3)

    def forward(self, src, tgt, src_len, with_align=False):
        return self.states, None, None


def test_the_loss_mixes_labels_and_teacher_over_the_real_tokens_only():
    torch.manual_seed(0)
    inner = _Inner()
    teacher = _Teacher(torch.randn(2, 3, 4))
    batch = {"src": torch.zeros(2, 5, dtype=torch.long), "srclen": torch.tensor([5, 5]),
             "tgt": torch.tensor([[2, 0, 2, 0], [2, 0, 1, 1]])}  # the second row: one token, then padding
    output = torch.randn(2, 3, 4, requires_grad=True)
    loss = DistillingLoss(inner, teacher, DistillConfig("teacher", alpha=0.25))
    total, stats, _ = loss(batch, output, None)
    ce, _, _ = inner(batch, output, None)
    keep = batch["tgt"][:, 1:].reshape(-1).ne(1)
    term = distillation_term(inner.generator(output.reshape(-1, 4)[keep]),
                             teacher.generator(teacher.states.reshape(-1, 4)[keep]))
    assert int(keep.sum()) == 4 and stats == "stats"
    assert float(total) == pytest.approx(0.75 * float(ce) + 0.25 * float(term))
    assert loss.last_term == pytest.approx(float(term) / 4)
    total.backward()
    assert output.grad is not None and teacher.generator.weight.grad is None  # the teacher only gives targets
    assert {n for n, _ in loss.named_parameters()} == {"inner.generator.weight", "inner.generator.bias"}
    assert loss.padding_idx == 1 and loss.ignore_prompt(batch) is batch  # the rest is eole's loss object's


def test_settings_are_checked():
    for kwargs, word in (({"teacher": ""}, "teacher"), ({"teacher": "m", "alpha": 0}, "alpha"),
                         ({"teacher": "m", "alpha": 1.5}, "alpha"), ({"teacher": "m", "temperature": -1}, "temperature")):
        with pytest.raises(ConfigError, match=word):
            DistillConfig(**kwargs)
    assert DistillConfig.from_dict({"teacher": "m", "alpha": 0.3}).to_dict() == {"teacher": "m", "alpha": 0.3,
                                                                                 "temperature": 1.0}


def test_a_distilled_run_learns_from_its_teacher(tmp_path, uspto_tiny, tiny_model):
    """The same start, seed and batches: with alpha = 1 the weights follow the teacher's distributions, not the
    labels, so they end elsewhere than the plain run's; a teacher with another vocabulary is refused."""
    cfg = ReactionConfig(**{**TINY, "steps": 2, "learning_rate": 2.0, "warmup_steps": 1})
    runs, progress = {}, {}
    for name, distill in (("plain", None), ("distilled", DistillConfig(str(tiny_model), alpha=1.0))):
        reporter = RecordingReporter()
        out = ReactionTrainer(cfg, uspto_tiny, tmp_path / name, runtime=RuntimeConfig(device="cpu"),
                              init_from=tiny_model, distill=distill).run(reporter).model_dir
        runs[name] = load_safetensors(out / "model.safetensors")
        progress[name] = [metrics for _, _, metrics in reporter.progress]
    # the progress line carries the teacher's term per token (a KL divergence: positive once dropout differs)
    assert all("distill_kl" not in m for m in progress["plain"])
    assert len(progress["distilled"]) == 2 and all(m["distill_kl"] > 0 for m in progress["distilled"])
    start = load_safetensors(tiny_model / "model.safetensors")
    assert max(float((runs["plain"][k] - start[k]).abs().max()) for k in start) > 1e-3
    assert max(float((runs["plain"][k] - runs["distilled"][k]).abs().max()) for k in start) > 1e-3
    with pytest.raises(ConfigError, match="another target vocabulary"):
        ReactionTrainer(cfg, uspto_tiny, tmp_path / "wrong", runtime=RuntimeConfig(device="cpu"),
                        init_from=tiny_model, distill=DistillConfig("uspto-forward-reagents")).run()


def test_train_cli_takes_a_teacher(tmp_path, uspto_tiny, tiny_model, capsys):
    import json

    from chemaccel.cli import main

    cfg = tmp_path / "cfg.json"  # tiny_model's shape
    cfg.write_text(json.dumps({"layers": 1, "hidden_size": 32, "heads": 2, "ff_size": 64, "batch_tokens": 512,
                               "keep_checkpoints": 1, "average_last": 1, "max_tokens": 100}))
    base = ["--device", "cpu", "reaction", "train", "--data", str(uspto_tiny), "--steps", "1", "--config", str(cfg),
            "--init-from", str(tiny_model)]
    assert main(base + ["--distill-from", str(tiny_model), "--distill-alpha", "0.3", "-o", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "model.safetensors").is_file()
    capsys.readouterr()
    for flags, message in ((["--distill-from", "uspto-forward-reagents"], "another target vocabulary"),
                           (["--distill-from", str(tiny_model), "--distill-alpha", "2"], "alpha out of range"),
                           (["--distill-from", str(tmp_path / "nowhere")], "no such model folder")):
        assert main(base + flags + ["-o", str(tmp_path / "b")]) == 1
        err = capsys.readouterr().err
        assert message in err.splitlines()[-1] and "Traceback" not in err


def test_a_distilled_run_resumes_only_with_its_teacher(tmp_path, uspto_tiny, tiny_model):
    from chemaccel.checkpoint import read_model_info

    cfg = ReactionConfig(**{**TINY, "steps": 2})
    teacher = DistillConfig(str(tiny_model), alpha=0.4)
    out = tmp_path / "run"
    first = ReactionTrainer(cfg, uspto_tiny, out, runtime=RuntimeConfig(device="cpu"), init_from=tiny_model,
                            distill=teacher).run()
    assert read_model_info(first.model_dir).metrics["distilled_from"] == teacher.to_dict()
    longer = cfg.replace(steps=4)
    for other, said in ((None, "with no teacher: it was started with --distill-from"),
                        (DistillConfig(str(tiny_model), alpha=0.9), "--distill-alpha 0.9")):
        with pytest.raises(ConfigError, match=said):
            ReactionTrainer(longer, uspto_tiny, out, runtime=RuntimeConfig(device="cpu"), init_from=tiny_model,
                            distill=other).run(resume=True)
    again = ReactionTrainer(longer, uspto_tiny, out, runtime=RuntimeConfig(device="cpu"), init_from=tiny_model,
                            distill=teacher).run(resume=True)
    assert again.last_step == 4
