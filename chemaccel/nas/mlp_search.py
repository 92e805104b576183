"""Search and retrain in the MLP space (:mod:`chemaccel.nas.mlp_space`): regression from fixed-size vectors.

The loop is the image engine's: the training data is split into a weight part and an architecture part,
each step updates the architecture (:class:`~chemaccel.nas.architect.Architect`, first or second order) then
the weights, with optional distillation from a frozen teacher (:class:`~chemaccel.nas.distill.Distiller`:
for one output the "logit" term is the squared difference to the teacher's prediction). Weights train with
Adam (vectors and small data: no BatchNorm, no momentum SGD), the loss is the mean squared error of
standardised targets. Meant for modest data (a few thousand molecules' fingerprints) on the CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from chemaccel.errors import ConfigError
from chemaccel.nas.architect import Architect
from chemaccel.nas.config import _Strict, _non_negative_int, _number, _positive_int
from chemaccel.nas.data import batches, darts_split, endless
from chemaccel.nas.distill import Distiller
from chemaccel.nas.mlp_space import DEFAULT_MLP_OPS, MLP_OPS, MlpGenotype, MlpSuperNet
from chemaccel.reporting import NullReporter, Reporter
from chemaccel.runtime import RuntimeConfig, resolve_device, seed_everything


@dataclass(frozen=True)
class MlpSearchConfig(_Strict):
    """Settings of an MLP-space search (see the module docstring); distillation as in SearchConfig."""

    NAME = "nas mlp search"

    width: int = 64
    cells: int = 2
    nodes: int = 3
    ops: tuple[str, ...] = DEFAULT_MLP_OPS
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    arch_lr: float = 3e-3
    arch_weight_decay: float = 1e-3
    order: str = "first"
    train_portion: float = 0.5
    max_skip: int | None = 2
    feature_weight: float = 0.0
    logit_weight: float = 0.0
    temperature: float = 1.0
    runtime: RuntimeConfig = field(default_factory=lambda: RuntimeConfig(device="cpu"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", MLP_OPS.check(self.ops))
        _positive_int(self, "width", "cells", "nodes", "epochs", "batch_size")
        for name in ("lr", "arch_lr", "temperature"):
            _number(self, name, 0.0, low_open=True)
        for name in ("weight_decay", "arch_weight_decay", "feature_weight", "logit_weight"):
            _number(self, name, 0.0)
        _number(self, "train_portion", 0.0, 1.0, low_open=True)
        if self.train_portion >= 1.0:
            raise ConfigError("train_portion must leave data for the architecture step (< 1)")
        if self.order not in ("first", "second"):
            raise ConfigError(f"order must be first or second, got {self.order!r}")
        if self.max_skip is not None:
            _non_negative_int(self, "max_skip")
        if not isinstance(self.runtime, RuntimeConfig):
            raise ConfigError("runtime must be a RuntimeConfig")


@dataclass
class MlpSearchResult:
    genotype: MlpGenotype
    skips_before_cap: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False


def search_mlp(x: torch.Tensor, y: torch.Tensor, config: MlpSearchConfig, reporter: Reporter | None = None,
               teacher: nn.Module | None = None, teacher_layers: Sequence[str] = ()) -> MlpSearchResult:
    """Search the MLP space on ``(x, y)`` (training data; ``y`` standardised, shape (N,))."""
    cfg = config
    reporter = reporter or NullReporter()
    if x.dim() != 2 or y.dim() != 1 or len(x) != len(y):
        raise ConfigError(f"expected vectors (N, F) and targets (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    if (cfg.feature_weight > 0 or cfg.logit_weight > 0) and teacher is None:
        raise ConfigError("MLP-space distillation needs a teacher module (feature_weight or logit_weight > 0)")
    t0 = time.perf_counter()
    device = resolve_device(cfg.runtime.device)
    seed_everything(cfg.runtime.seed)
    train, val = darts_split((x.to(device), y.to(device)), cfg.train_portion, cfg.batch_size, cfg.runtime.seed)
    model = MlpSuperNet(x.shape[1], cfg.width, cfg.cells, cfg.nodes, cfg.ops).to(device)
    distiller = None
    if teacher is not None and (cfg.feature_weight > 0 or cfg.logit_weight > 0):
        distiller = Distiller(teacher.to(device), model, list(teacher_layers),
                              model.feature_layers()[-len(teacher_layers):] if teacher_layers else [],
                              train[0][:2], cfg.feature_weight, cfg.logit_weight, cfg.temperature)
    weights = list(model.weights()) + (distiller.parameters() if distiller else [])
    w_opt = torch.optim.Adam(weights, lr=cfg.lr, weight_decay=cfg.weight_decay)
    architect = Architect(model.arch_parameters(), weights, cfg.order, cfg.arch_lr, cfg.arch_weight_decay)

    def loss_on(xb: torch.Tensor, yb: torch.Tensor, t: Any) -> torch.Tensor:
        out = model(xb)
        loss = F.mse_loss(out, yb)
        if t is not None:
            loss = loss + distiller.loss(out, t)[0]
        return loss

    gen, gen_val = torch.Generator(), torch.Generator().manual_seed(cfg.runtime.seed + 1)
    val_iter = endless(val, cfg.batch_size, gen_val)
    per_epoch = len(train[0]) // cfg.batch_size
    reporter.on_start("MLP-space search", cfg.epochs * per_epoch)
    history, step, cancelled = [], 0, False
    for epoch in range(cfg.epochs):
        gen.manual_seed(cfg.runtime.seed * 100003 + epoch)
        total = 0.0
        for xb, yb in batches(train, cfg.batch_size, True, gen, drop_last=True):
            if reporter.should_stop():
                cancelled = True
                break
            xv, yv = next(val_iter)
            t_train = distiller.teach(xb) if distiller else None
            t_val = distiller.teach(xv) if distiller else None
            architect.step(lambda: loss_on(xb, yb, t_train), lambda: loss_on(xv, yv, t_val), cfg.lr, w_opt)
            loss = loss_on(xb, yb, t_train)
            w_opt.zero_grad(set_to_none=True)
            loss.backward()
            w_opt.step()
            step += 1
            total += float(loss.detach())
        if cancelled:
            break
        history.append({"epoch": epoch + 1, "loss": total / max(1, per_epoch)})
        reporter.on_progress(step, cfg.epochs * per_epoch, history[-1])
    if distiller is not None:
        distiller.remove()
    genotype, skips = model.genotype(cfg.max_skip)
    return MlpSearchResult(genotype, skips, history, time.perf_counter() - t0, cancelled)


def train_regressor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, *, lr: float = 1e-3,
                    batch_size: int = 64, weight_decay: float = 0.0, seed: int = 0,
                    distiller: Distiller | None = None) -> list[float]:
    """Adam + MSE (plus the distillation terms); ``x``, ``y`` on the model's device. Returns epoch losses."""
    params = list(model.parameters()) + (distiller.parameters() if distiller else [])
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
    gen = torch.Generator()
    losses = []
    for epoch in range(epochs):
        model.train()
        gen.manual_seed(seed * 100003 + epoch)
        total, n = 0.0, 0
        for xb, yb in batches((x, y), batch_size, True, gen):
            out = model(xb)
            loss = F.mse_loss(out, yb)
            if distiller is not None:
                loss = loss + distiller.loss(out, distiller.teach(xb))[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(yb)
            n += len(yb)
        sched.step()
        losses.append(total / max(1, n))
    model.eval()
    return losses
