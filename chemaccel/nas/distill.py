"""Knowledge distillation from a frozen teacher into the supernet (search) or the derived network (retrain).

Two terms, added to the task loss with their own weights:

* logits (Hinton, Vinyals and Dean 2015): ``T^2 * KL(softmax(t / T) || softmax(s / T))`` for
  classification, ``T`` the temperature (the ``T^2`` keeps the gradient scale independent of ``T``); for
  regression (a single output) the mean squared difference to the teacher's prediction;
* features (FitNets, Romero et al. 2015): forward hooks catch the outputs of chosen layers of teacher and
  student; a small adapter per pair (a 1x1 convolution, or a linear map for vectors) maps the student's
  channels to the teacher's, adaptive average pooling brings both to the smaller spatial size, and the
  loss is the mean squared difference divided by the mean square of the teacher's feature (so the weight
  does not depend on the teacher's scale).

The teacher is frozen: ``requires_grad`` off, evaluation mode (BatchNorm statistics fixed), and it runs
under ``torch.no_grad``. It is kept out of the :class:`Distiller`'s modules, so nothing that trains the
adapters (or calls ``.train()``) can touch it. The adapters are weights of the student side: train them with
the student's optimizer (:meth:`Distiller.parameters`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from chemaccel.errors import ConfigError


class FeatureHooks:
    """Forward hooks that keep the latest output of named submodules of ``module``."""

    def __init__(self, module: nn.Module, names: Sequence[str], what: str = "model") -> None:
        modules = dict(module.named_modules())
        self.names = list(names)
        self.features: dict[str, torch.Tensor] = {}
        self._handles = []
        for name in self.names:
            if name not in modules or name == "":
                some = [n for n in modules if n][:12]
                raise ConfigError(f"the {what} has no layer {name!r} to hook; some of its layers: "
                                  f"{', '.join(some)}")
            self._handles.append(modules[name].register_forward_hook(self._keep(name)))

    def _keep(self, name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            if isinstance(output, (tuple, list)):
                output = output[0]
            if not isinstance(output, torch.Tensor):
                raise ConfigError(f"layer {name!r} does not output a tensor; choose another layer to distil")
            self.features[name] = output

        return hook

    def take(self) -> list[torch.Tensor]:
        missing = [n for n in self.names if n not in self.features]
        if missing:
            raise ConfigError(f"layers {missing} did not run in the last forward pass")
        out = [self.features[n] for n in self.names]
        self.features = {}
        return out

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def logit_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher/T) || softmax(student/T))`` (batch mean); MSE for one output."""
    if student.shape != teacher.shape:
        raise ConfigError(f"student outputs {tuple(student.shape)} and teacher outputs "
                          f"{tuple(teacher.shape)} differ")
    if student.dim() == 1 or student.shape[-1] == 1:
        return F.mse_loss(student.float(), teacher.float())
    t = temperature
    log_p_s = F.log_softmax(student.float() / t, dim=-1)
    log_p_t = F.log_softmax(teacher.float() / t, dim=-1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * (t * t)


def feature_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference over the teacher feature's mean square (both already the same shape)."""
    teacher = teacher.float()
    return F.mse_loss(student.float(), teacher) / teacher.pow(2).mean().clamp_min(1e-8)


def _adapter(c_student: int, c_teacher: int, dims: int) -> nn.Module:
    if dims == 4:
        return nn.Conv2d(c_student, c_teacher, 1, bias=False)
    if dims == 2:
        return nn.Linear(c_student, c_teacher, bias=False)
    raise ConfigError(f"feature distillation handles (N, C) or (N, C, H, W) features, got {dims} dimensions")


def _match_size(s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if s.dim() != 4 or s.shape[-2:] == t.shape[-2:]:
        return s, t
    size = (min(s.shape[-2], t.shape[-2]), min(s.shape[-1], t.shape[-1]))
    return F.adaptive_avg_pool2d(s, size), F.adaptive_avg_pool2d(t, size)


@dataclass
class TeacherOutput:
    logits: torch.Tensor
    features: list[torch.Tensor]


class Distiller:
    """Hooks, adapters and losses between a frozen teacher and a student.

    Args:
        teacher: any ``nn.Module`` mapping the student's inputs to outputs of the student's shape; frozen here.
        student: the supernet or the derived network.
        teacher_layers, student_layers: module names (``named_modules``) to match pairwise; may be empty.
        example: one input batch (on the student's device), used once to size the adapters.
        feature_weight, logit_weight: weights of the two terms; temperature: ``T`` of the logit term.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, teacher_layers: Sequence[str],
                 student_layers: Sequence[str], example: torch.Tensor, feature_weight: float = 1.0,
                 logit_weight: float = 1.0, temperature: float = 4.0) -> None:
        if not isinstance(teacher, nn.Module):
            raise ConfigError(f"the teacher must be a torch.nn.Module, got {type(teacher).__name__}")
        if len(teacher_layers) != len(student_layers):
            raise ConfigError(f"{len(teacher_layers)} teacher layers but {len(student_layers)} student layers; "
                              "feature distillation matches them pairwise")
        if temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {temperature!r}")
        self.teacher = freeze(teacher)
        self.feature_weight = float(feature_weight)
        self.logit_weight = float(logit_weight)
        self.temperature = float(temperature)
        use_features = self.feature_weight > 0 and len(teacher_layers) > 0
        self.t_hooks = FeatureHooks(self.teacher, teacher_layers if use_features else [], "teacher")
        self.s_hooks = FeatureHooks(student, student_layers if use_features else [], "student")
        self.adapters = nn.ModuleList()
        if use_features:
            was = student.training
            student.eval()
            with torch.no_grad():
                t_out = self.teach(example[:2])
                student(example[:2])
            student.train(was)
            for s, t in zip(self.s_hooks.take(), t_out.features):
                if s.dim() != t.dim():
                    raise ConfigError(f"student feature {tuple(s.shape)} and teacher feature {tuple(t.shape)} "
                                      "differ in rank; choose matching layers")
                self.adapters.append(_adapter(s.shape[1], t.shape[1], s.dim()))
        self.adapters.to(example.device)

    @torch.no_grad()
    def teach(self, x: torch.Tensor) -> TeacherOutput:
        """The teacher's outputs and hooked features for ``x`` (no gradients, evaluation mode)."""
        self.teacher.eval()
        logits = self.teacher(x)
        return TeacherOutput(logits.detach(), [f.detach() for f in self.t_hooks.take()])

    def loss(self, student_logits: torch.Tensor, teacher: TeacherOutput
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted distillation loss for the student's last forward pass; also its (detached) parts."""
        total = student_logits.new_zeros((), dtype=torch.float32)
        parts: dict[str, torch.Tensor] = {}
        if self.logit_weight > 0:
            kd = logit_loss(student_logits, teacher.logits, self.temperature)
            total = total + self.logit_weight * kd
            parts["kd_logit"] = kd.detach()
        if self.adapters:
            feats = self.s_hooks.take()
            fl = sum(feature_loss(*_match_size(adapter(s), t))
                     for adapter, s, t in zip(self.adapters, feats, teacher.features)) / len(self.adapters)
            total = total + self.feature_weight * fl
            parts["kd_feature"] = fl.detach()
        return total, parts

    def parameters(self) -> list[nn.Parameter]:
        return list(self.adapters.parameters())

    def remove(self) -> None:
        self.t_hooks.remove()
        self.s_hooks.remove()


def freeze(module: nn.Module) -> nn.Module:
    """Turn off gradients and put ``module`` in evaluation mode (returns it)."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()
