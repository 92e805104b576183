"""SearchConfig and RetrainConfig: every setting of a NAS run, validated when built.

Defaults follow DARTS (Liu et al. ICLR 2019) scaled down for 28x28 images: the search network is small
(5 cells, 8 channels, 4 nodes), the weights train with SGD (lr 0.025 cosine to 0.001, momentum 0.9, weight
decay 3e-4), the architecture with Adam (betas 0.5/0.999, weight decay 1e-3) on the other half of the
training data. The architecture learning rate defaults to 1e-3 rather than DARTS's 3e-4 because searches
here are a few epochs, not 50.

Distillation is on when ``feature_weight`` or ``logit_weight`` is positive: plain DARTS is both at 0. With
no teacher given, the engine trains a :class:`~chemaccel.nas.teacher.TeacherCNN` of ``teacher_width`` for
``teacher_epochs`` on the same training data first.

``max_skip`` caps the skip connections per derived cell (2 by default, as P-DARTS; None: no cap), see
:mod:`chemaccel.nas.genotype`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from chemaccel.config_base import config_from_dict
from chemaccel.errors import ConfigError
from chemaccel.nas.ops import CONV_OPS, DARTS_OPS
from chemaccel.runtime import RuntimeConfig

#: Precisions the NAS loops support (autocast without loss scaling).
PRECISIONS = ("32-true", "bf16-mixed")


class _Strict:
    """``to_dict`` / ``from_dict`` (unknown keys rejected, ``runtime`` nested) / ``replace``."""

    NAME = "nas"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)  # type: ignore[call-overload]
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        return config_from_dict(cls, data, cls.NAME)

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    @property
    def distill(self) -> bool:
        return self.feature_weight > 0 or self.logit_weight > 0  # type: ignore[attr-defined]


def _positive_int(cfg: Any, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _non_negative_int(cfg: Any, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")


def _number(cfg: Any, name: str, low: float, high: float = math.inf, low_open: bool = False) -> None:
    value = getattr(cfg, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (low_open and value == low) or value > high:
        bound = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high != math.inf else "")
        raise ConfigError(f"{name} must be a number {bound}, got {value!r}")


def _common(cfg: Any) -> None:
    _positive_int(cfg, "layers", "init_channels", "stem_multiplier", "epochs", "batch_size", "teacher_width")
    _non_negative_int(cfg, "teacher_epochs")
    for name in ("lr", "temperature"):
        _number(cfg, name, 0.0, low_open=True)
    for name in ("lr_min", "weight_decay", "grad_clip", "feature_weight", "logit_weight"):
        _number(cfg, name, 0.0)
    _number(cfg, "momentum", 0.0, 0.999)
    if cfg.lr_min > cfg.lr:
        raise ConfigError(f"lr_min ({cfg.lr_min}) must not exceed lr ({cfg.lr})")
    if cfg.limit_train is not None:
        _positive_int(cfg, "limit_train")
    if cfg.distill and cfg.teacher_epochs < 1:
        raise ConfigError("distillation is on (feature_weight or logit_weight > 0) but teacher_epochs is 0; "
                          "train the teacher for at least one epoch or pass your own teacher")
    if not isinstance(cfg.runtime, RuntimeConfig):
        raise ConfigError("runtime must be a RuntimeConfig")
    if cfg.runtime.precision not in PRECISIONS:
        raise ConfigError(f"the NAS engine runs in {' or '.join(PRECISIONS)} (its loops do not scale float16 "
                          f"losses); got precision {cfg.runtime.precision!r}")


@dataclass(frozen=True)
class SearchConfig(_Strict):
    """Settings of one architecture search.

    Attributes:
        layers, init_channels, nodes, stem_multiplier: the supernet
            (see :class:`~chemaccel.nas.supernet.SuperNet`).
        ops: candidate operations, names in :data:`chemaccel.nas.ops.CONV_OPS` (at least one that is not ``none``).
        epochs: search epochs (passes over the weight half of the data).
        batch_size: batch of the weight and of the architecture steps.
        lr, lr_min, momentum, weight_decay, grad_clip: SGD of the weights (cosine from ``lr`` to ``lr_min``).
        arch_lr, arch_weight_decay: Adam of the architecture parameters.
        order: ``first`` or ``second`` (unrolled, finite-difference Hessian-vector product).
        unrolled_lr: ``xi`` of the virtual step (second order); None: the current weight learning rate.
        arch_warmup_epochs: epochs that train only the weights before architecture updates begin.
        train_portion: fraction of the training data that trains the weights; the rest the architecture.
        limit_train: use only the first N training samples (quick runs).
        max_skip: skip connections allowed per derived cell (None: no cap).
        feature_weight, logit_weight, temperature: distillation (0, 0: plain DARTS).
        distill_arch: also add the distillation terms to the architecture (validation) loss.
        teacher_epochs, teacher_width: the teacher the engine trains when none is given.
        runtime: device, precision and seed.
    """

    NAME = "nas search"

    layers: int = 5
    init_channels: int = 8
    nodes: int = 4
    stem_multiplier: int = 3
    ops: tuple[str, ...] = DARTS_OPS
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 1e-3
    arch_weight_decay: float = 1e-3
    order: str = "first"
    unrolled_lr: float | None = None
    arch_warmup_epochs: int = 0
    train_portion: float = 0.5
    limit_train: int | None = None
    max_skip: int | None = 2
    feature_weight: float = 0.0
    logit_weight: float = 0.0
    temperature: float = 4.0
    distill_arch: bool = True
    teacher_epochs: int = 3
    teacher_width: int = 32
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", CONV_OPS.check(self.ops))
        _common(self)
        _positive_int(self, "nodes")
        _non_negative_int(self, "arch_warmup_epochs")
        if self.order not in ("first", "second"):
            raise ConfigError(f"order must be first or second, got {self.order!r}")
        _number(self, "arch_lr", 0.0, low_open=True)
        _number(self, "arch_weight_decay", 0.0)
        _number(self, "train_portion", 0.0, 1.0, low_open=True)
        if self.train_portion >= 1.0:
            raise ConfigError("train_portion must leave data for the architecture step (< 1)")
        if self.unrolled_lr is not None:
            _number(self, "unrolled_lr", 0.0, low_open=True)
        if self.max_skip is not None:
            _non_negative_int(self, "max_skip")
        if self.limit_train is not None:
            n_w = int(round(self.limit_train * self.train_portion))
            if min(n_w, self.limit_train - n_w) < self.batch_size:
                raise ConfigError(
                    f"limit_train {self.limit_train} is too small for its split: train_portion "
                    f"{self.train_portion:g} leaves {n_w} / {self.limit_train - n_w} samples and each part "
                    f"needs at least one batch of {self.batch_size}")
        if self.arch_warmup_epochs >= self.epochs:
            raise ConfigError(f"arch_warmup_epochs ({self.arch_warmup_epochs}) leaves no epoch for the "
                              f"architecture ({self.epochs} epochs)")
        if not isinstance(self.distill_arch, bool):
            raise ConfigError(f"distill_arch must be true or false, got {self.distill_arch!r}")


@dataclass(frozen=True)
class RetrainConfig(_Strict):
    """Settings of retraining a derived network from scratch.

    Attributes:
        layers, init_channels, stem_multiplier: the derived network (DARTS retrains deeper and wider).
        epochs, batch_size, lr, lr_min, momentum, weight_decay, grad_clip: SGD with Nesterov momentum and a
            cosine learning rate.
        augment: random crops (padding 2) and horizontal flips.
        label_smoothing: of the cross-entropy.
        drop_path_prob: drop-path probability, ramped linearly from 0 over the epochs (0: off).
        val_size: training samples held out to monitor accuracy (never the test split; 0: none).
        limit_train: use only the first N training samples.
        feature_weight, logit_weight, temperature, teacher_epochs, teacher_width: distillation, as in search.
        runtime: device, precision and seed.
    """

    NAME = "nas retrain"

    layers: int = 8
    init_channels: int = 16
    stem_multiplier: int = 3
    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.05
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    augment: bool = True
    label_smoothing: float = 0.0
    drop_path_prob: float = 0.0
    val_size: int = 0
    limit_train: int | None = None
    feature_weight: float = 0.0
    logit_weight: float = 0.0
    temperature: float = 4.0
    teacher_epochs: int = 10
    teacher_width: int = 32
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        _common(self)
        _non_negative_int(self, "val_size")
        _number(self, "label_smoothing", 0.0, 0.99)
        _number(self, "drop_path_prob", 0.0, 0.9)
        if not isinstance(self.augment, bool):
            raise ConfigError(f"augment must be true or false, got {self.augment!r}")
