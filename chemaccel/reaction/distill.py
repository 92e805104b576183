"""A distilling teacher for reaction training (issue 23, item 3): a compact model learns from the full one.

A model whose decoder lost heads (:mod:`chemaccel.reaction.compact`) or is losing them (AutoPrune gates) is
fine-tuned against the labels alone in eole's loss; here it also matches, token by token, the next-token
distribution of the model it came from (word-level knowledge distillation, Hinton et al. 2015; Kim and Rush
2016 for sequence models). The loss per batch becomes

    (1 - alpha) * CE(student, labels) + alpha * T^2 * KL(teacher_T || student_T)

summed over the target tokens as eole sums its cross-entropy (eole then divides by the batch's tokens),
with ``_T`` the softmax at temperature ``T``. The teacher runs in eval mode without gradients on the same
batch (teacher forcing on the reference product), so a step costs one more forward pass of the full model.
Validation loss stays eole's plain cross-entropy, comparable with any other run.

The teacher is a reaction model folder with the student's vocabulary (the same tokens in the same order,
as any compact model made from it has); anything else is a :class:`~chemaccel.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from chemaccel.config_base import config_from_dict
from chemaccel.errors import ConfigError


@dataclass(frozen=True)
class DistillConfig:
    """Settings of a distilled run.

    Attributes:
        teacher: the reaction model folder (or shipped name) whose next-token distributions are matched.
        alpha: weight of the teacher's term, in (0, 1]; the labels keep ``1 - alpha``.
        temperature: softmax temperature of both distributions (the term is scaled by its square, so its
            gradients keep their size as the temperature changes).
    """

    teacher: str
    alpha: float = 0.5
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.teacher, str) or not self.teacher:
            raise ConfigError("distillation: give the teacher model (a folder or a shipped model's name)")
        for name, ok in (("alpha", 0 < self.alpha <= 1), ("temperature", self.temperature > 0)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not ok:
                raise ConfigError(f"distillation: {name} out of range ({value!r}); alpha in (0, 1], "
                                  "temperature positive")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DistillConfig":
        return config_from_dict(cls, data, "distillation")


def distillation_term(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      temperature: float = 1.0) -> torch.Tensor:
    """``T^2 * sum over rows of KL(softmax(teacher / T) || softmax(student / T))`` (rows: target tokens)."""
    t = float(temperature)
    student = F.log_softmax(student_logits.float() / t, dim=-1)
    teacher = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return F.kl_div(student, teacher, log_target=True, reduction="sum") * (t * t)


class DistillingLoss(nn.Module):
    """eole's training loss (``inner``) with the teacher's term added; stands in for ``trainer.train_loss``.

    ``inner`` is eole's ``LossCompute`` (its generator turns decoder states into logits; its criterion sums
    the cross-entropy over non-padding tokens); ``teacher`` an eole encoder-decoder module with its own
    generator. Anything else eole asks of the loss object (``padding_idx``, ``ignore_prompt``, ...) is
    ``inner``'s.
    """

    def __init__(self, inner: nn.Module, teacher: nn.Module, config: DistillConfig) -> None:
        super().__init__()
        self.inner = inner
        self.config = config
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        object.__setattr__(self, "_teacher", teacher)  # not a submodule: its weights stay out of the student's
        #: the last batch's teacher term per token (for the log), a float
        self.last_term = 0.0

    def forward(self, batch: dict[str, Any], output: torch.Tensor, attns: Any, estim: Any = None,
                mtp_outputs: Any = None) -> tuple[torch.Tensor, Any, torch.Tensor]:
        loss, stats, estim_loss = self.inner(batch, output, attns, estim=estim, mtp_outputs=mtp_outputs)
        shift = int(getattr(self.inner, "tgt_shift_index", 1))
        flat_tgt = batch["tgt"][:, shift:].contiguous().view(-1)
        keep = flat_tgt.ne(self.inner.padding_idx)
        with torch.no_grad():
            teacher_out, _, _ = self._teacher(batch["src"], batch["tgt"], batch["srclen"], with_align=False)
            teacher_logits = self._teacher.generator(teacher_out.reshape(-1, teacher_out.size(-1))[keep])
        student_logits = self.inner.generator(output.reshape(-1, output.size(-1))[keep])
        term = distillation_term(student_logits, teacher_logits, self.config.temperature)
        self.last_term = float(term.detach()) / max(1, int(keep.sum()))
        alpha = self.config.alpha
        return (1 - alpha) * loss + alpha * term, stats, estim_loss

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("inner"), name)


def load_teacher(config: DistillConfig, student_vocab: Sequence[str], device: torch.device) -> nn.Module:
    """The teacher's eole module on ``device``, in eval mode; its target vocabulary must be the student's.

    Raises:
        ConfigError: another vocabulary (the teacher's distributions would be over other tokens).
        ModelFileError: the teacher is not a reaction model folder.
    """
    from chemaccel.checkpoint import read_model_info
    from chemaccel.reaction.storage import load_model
    from chemaccel.shipped import resolve_model

    folder = resolve_model(config.teacher)
    vocab = list(read_model_info(Path(folder)).architecture.get("vocab", {}).get("tgt", []))
    if vocab != list(student_vocab):
        missing, extra = sorted(set(student_vocab) - set(vocab))[:5], sorted(set(vocab) - set(student_vocab))[:5]
        detail = (f"the student's {missing} are not the teacher's" if missing else
                  f"the teacher's {extra} are not the student's" if extra else "the same tokens in another order")
        raise ConfigError(f"distillation: the teacher {config.teacher} has another target vocabulary "
                          f"({len(vocab)} tokens against the student's {len(student_vocab)}; {detail}): "
                          "distil from the model the student was made from")
    model = load_model(folder, device=device)
    model.use_fast_beam_search(False)  # eole's own modules: the training forward pass
    return model.module.eval()
