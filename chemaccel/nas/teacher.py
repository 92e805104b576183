"""The teacher the engine trains itself, and the plain training loop it shares with retraining.

:class:`TeacherCNN` is a small VGG-style network: three stages of two 3x3 conv-BN-ReLU blocks
(``width``, ``2 * width``, ``4 * width`` channels) with 2x2 max pooling between them, global average pooling
and a linear classifier. Its stage outputs (``stage1`` .. ``stage3``, one per resolution) are the layers the
supernet's and the derived network's stage-end cells are distilled from. Any other ``nn.Module`` can be
the teacher instead (pass it with the names of the layers to hook).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

from chemaccel.errors import ChemAccelError
from chemaccel.nas.data import Pair, accuracy, augment, batches
from chemaccel.reporting import NullReporter, Reporter
from chemaccel.runtime import average_gradients, shard_batches


class TrainingDiverged(ChemAccelError):
    """The loss became NaN or infinite; the run stopped (the last checkpoint on disk is from finite weights)."""


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class TeacherCNN(nn.Module):
    """Three conv stages (see the module docstring); feature layers ``stage1``, ``stage2``, ``stage3``."""

    feature_names = ("stage1", "stage2", "stage3")

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        w = width
        self.stage1 = nn.Sequential(*_block(in_channels, w), *_block(w, w))
        self.stage2 = nn.Sequential(nn.MaxPool2d(2), *_block(w, 2 * w), *_block(2 * w, 2 * w))
        self.stage3 = nn.Sequential(nn.MaxPool2d(2), *_block(2 * w, 4 * w), *_block(4 * w, 4 * w))
        self.classifier = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))

    def feature_layers(self) -> list[str]:
        return list(self.feature_names)


def cosine(base: float, final: float, step: int, total: int) -> float:
    """Cosine decay from ``base`` to ``final`` over ``total`` steps."""
    return final + (base - final) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, step / max(1, total))))


def sgd(params: list[nn.Parameter], lr: float, momentum: float = 0.9, weight_decay: float = 5e-4
        ) -> torch.optim.SGD:
    """SGD with Nesterov momentum (plain momentum when ``momentum`` is 0)."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=momentum > 0, weight_decay=weight_decay)


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, train: Pair, *, batch_size: int,
                generator: torch.Generator, lr_at: Callable[[int], float], step: int, total: int,
                reporter: Reporter,
                autocast: Callable[[], Any] = contextlib.nullcontext, use_augment: bool = True,
                extra_loss: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict]] | None = None,
                grad_clip: float = 5.0, label_smoothing: float = 0.0, fabric: Any = None) -> tuple[int, float, bool]:
    """One epoch of cross-entropy training (plus ``extra_loss(x, logits) -> (loss, parts)``, e.g. distillation).

    With a multi-process ``fabric`` (torchrun), each process trains on its share of the epoch's batches and
    the gradients are averaged over the processes before each step (data parallelism; the weights stay equal).

    Returns ``(step, mean loss, cancelled)``; ``cancelled`` when the reporter asked to stop (checked per step).
    """
    params = [p for g in opt.param_groups for p in g["params"]]
    model.train()
    loss_sum = torch.zeros((), device=train[0].device)
    seen = 0
    per_epoch = math.ceil(len(train[0]) / batch_size)
    every = max(1, min(50, per_epoch // 4))
    epoch_batches = batches(train, batch_size, True, generator)
    if fabric is not None:
        epoch_batches = shard_batches(epoch_batches, per_epoch, fabric)
    for xb, yb in epoch_batches:
        if reporter.should_stop():
            return step, float(loss_sum) / max(1, seen), True
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        if use_augment:
            xb = augment(xb)
        with autocast():
            logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb, label_smoothing=label_smoothing)
            parts: dict = {}
            if extra_loss is not None:
                extra, parts = extra_loss(xb, logits)
                loss = loss + extra
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if fabric is not None:
            average_gradients(fabric, params)
        if grad_clip:
            nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        step += 1
        loss_sum += loss.detach() * len(yb)
        seen += len(yb)
        if step % every == 0:  # the only host syncs of the loop: every few steps, and at the epoch's end
            _check_finite(loss, step)
            reporter.on_progress(step, total, {"loss": float(loss.detach()), "lr": lr_at(step),
                                               **{k: float(v) for k, v in parts.items()}})
    _check_finite(loss_sum, step)
    return step, float(loss_sum) / max(1, seen), False


def _check_finite(loss: torch.Tensor, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"training stopped: the loss became {float(loss)} by step {step}; "
                               "lower the learning rate")


def fit_classifier(model: nn.Module, train: Pair, epochs: int, *, lr: float = 0.05, batch_size: int = 128,
                   reporter: Reporter | None = None, task: str = "train", seed: int = 0,
                   autocast: Callable[[], Any] | None = None, use_augment: bool = True) -> tuple[list[dict], bool]:
    """SGD (momentum 0.9, Nesterov, weight decay 5e-4), cosine learning rate to 0, cross-entropy, augmentation.

    Returns (per-epoch history, cancelled). Data stays on its device; the model must already be there.
    """
    reporter = reporter or NullReporter()
    opt = sgd([p for p in model.parameters() if p.requires_grad], lr)
    total = max(1, epochs * math.ceil(len(train[0]) / batch_size))
    gen = torch.Generator()
    history: list[dict] = []
    reporter.on_start(task, total)
    step = 0
    for epoch in range(epochs):
        gen.manual_seed(seed * 100003 + epoch)
        step, loss, cancelled = train_epoch(model, opt, train, batch_size=batch_size, generator=gen,
                                            lr_at=lambda s: cosine(lr, 0.0, s, total), step=step, total=total,
                                            reporter=reporter, autocast=autocast or contextlib.nullcontext,
                                            use_augment=use_augment)
        if cancelled:
            return history, True
        history.append({"epoch": epoch + 1, "loss": loss})
    return history, False


def train_teacher(train: Pair, in_channels: int, num_classes: int, width: int, epochs: int, *,
                  reporter: Reporter | None = None, seed: int = 0, batch_size: int = 128, lr: float = 0.05,
                  use_augment: bool = True, autocast: Callable[[], Any] | None = None,
                  ) -> tuple[TeacherCNN, dict[str, Any]]:
    """Train a :class:`TeacherCNN` on ``train`` (on its device); returns it and its figures."""
    torch.manual_seed(seed)
    teacher = TeacherCNN(in_channels, num_classes, width).to(train[0].device)
    history, cancelled = fit_classifier(teacher, train, epochs, lr=lr, batch_size=batch_size, reporter=reporter,
                                        task="train teacher", seed=seed, autocast=autocast,
                                        use_augment=use_augment)
    stats = {"teacher_train_accuracy": accuracy(teacher, train, autocast=autocast), "teacher_epochs": epochs,
             "teacher_params": sum(p.numel() for p in teacher.parameters()), "teacher_cancelled": cancelled}
    return teacher.eval(), stats
