"""Training recipe shared by AutoPrune and its baselines: shift augmentation and distillation.

At a few hundred-fold compression a LeNet-5 keeps ~1,400 weights and its error is set by how well those
few generalise, not by the pruning rule. Two standard aids, applied the same way to every arm of a
benchmark (:func:`chemaccel.prune.baselines.fit` takes the same arguments), so a comparison stays fair:

* :func:`random_shift`: each image moved by up to ``pixels`` in x and y (edges replicated), a fresh
  draw per sample and step;
* :class:`TrainingLoss` with label smoothing (Szegedy et al.: the label's target is ``1 - s + s/K``, every
  other class ``s/K``), which keeps a tiny network from spending its few weights on over-confident margins;
* :class:`TrainingLoss` with a teacher: Hinton et al.'s distillation, ``(1 - a) * CE(student, y) +
  a * T^2 * KL(softmax(teacher / T) || softmax(student / T))``, the teacher being the dense model the run
  started from (it costs one extra forward pass per step and no labels beyond the usual ones).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from chemaccel.errors import ConfigError


def random_shift(x: torch.Tensor, pixels: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate every image of ``x`` (``N, C, H, W``) by its own random offset in ``[-pixels, pixels]``
    along each axis; uncovered border pixels repeat the edge (the background, for MNIST-like images)."""
    if pixels <= 0:
        return x
    if x.dim() != 4:
        raise ConfigError(f"shift augmentation needs image batches (N, C, H, W), got shape {tuple(x.shape)}")
    n, _, h, w = x.shape
    padded = F.pad(x, (pixels, pixels, pixels, pixels), mode="replicate")
    span = 2 * pixels + 1
    offsets = torch.randint(0, span * span, (n,), generator=generator).to(x.device)
    out = torch.empty_like(x)
    for code in torch.unique(offsets).tolist():
        rows = offsets == code
        dy, dx = divmod(int(code), span)
        out[rows] = padded[rows, :, dy:dy + h, dx:dx + w]
    return out


class TrainingLoss:
    """Cross-entropy (or MSE), optionally with label smoothing ``smoothing`` and distilled from ``teacher``
    with weight ``alpha`` at temperature ``temperature``. Call it as ``loss(model_output, inputs, targets)``."""

    def __init__(self, kind: str = "cross_entropy", teacher: nn.Module | None = None, alpha: float = 0.0,
                 temperature: float = 4.0, smoothing: float = 0.0) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"the distillation weight must be in [0, 1], got {alpha!r}")
        if alpha > 0 and teacher is None:
            raise ConfigError("distillation needs a teacher model")
        if alpha > 0 and kind != "cross_entropy":
            raise ConfigError("distillation is defined for classification (loss cross_entropy)")
        if temperature <= 0:
            raise ConfigError(f"the distillation temperature must be positive, got {temperature!r}")
        if not 0.0 <= smoothing < 1.0:
            raise ConfigError(f"label smoothing must be in [0, 1), got {smoothing!r}")
        if smoothing > 0 and kind != "cross_entropy":
            raise ConfigError("label smoothing is defined for classification (loss cross_entropy)")
        self.base = nn.CrossEntropyLoss(label_smoothing=smoothing) if kind == "cross_entropy" else nn.MSELoss()
        self.teacher = teacher.eval() if teacher is not None and alpha > 0 else None
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        if self.teacher is not None:
            for p in self.teacher.parameters():
                p.requires_grad_(False)

    def __call__(self, out: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = self.base(out, y)
        if self.teacher is None:
            return loss
        with torch.no_grad():
            soft = F.log_softmax(self.teacher(x) / self.temperature, dim=1)
        t = self.temperature
        kd = F.kl_div(F.log_softmax(out / t, dim=1), soft, reduction="batchmean", log_target=True) * t * t
        return (1.0 - self.alpha) * loss + self.alpha * kd
