"""PruneConfig: every setting of an AutoPrune run, validated when built.

AutoPrune (Xiao, Wang and Rajasekaran, "AutoPrune: Automatic Network Pruning by Regularizing Auxiliary
Parameters", NeurIPS 2019) trains auxiliary gate parameters with their own optimizer and learning rate,
pushed towards pruning by a regularizer of weight ``lambda``. The CLI builds this config from flags, the
GUI from a form, tests from literals.

A run has three phases, counted in epochs:

1. ``epochs`` of pruning: weights and gates train together; ``lambda`` follows the schedule
   (:mod:`chemaccel.prune.schedule`) so the kept fraction of ``target`` reaches ``budget`` by
   ``ramp_fraction * epochs`` and stays there. Pruned weights still get gradients (may recover) during
   the first ``recovery_epochs``; after that they are frozen.
2. ``finetune_epochs``: gates frozen, only the kept weights train (at ``finetune_lr``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from chemaccel.config_base import config_from_dict
from chemaccel.errors import ConfigError
from chemaccel.prune.gates import ESTIMATORS
from chemaccel.runtime import RuntimeConfig

GRANULARITIES = ("unstructured", "structured")
TARGETS = ("params", "flops")
LAMBDA_MODES = ("scheduled", "fixed")
GATE_OPTIMIZERS = ("normalized", "adam", "sgd")
LOSSES = ("cross_entropy", "mse")


@dataclass(frozen=True)
class PruneConfig:
    """Settings of one AutoPrune run.

    Attributes:
        granularity: ``unstructured`` (one gate per weight) or ``structured`` (one gate per output neuron,
            channel or filter; the classifier's outputs are never pruned).
        target: what the budget counts: ``params`` or ``flops``.
        budget: fraction of ``target`` to keep, in (0, 1] (0.01 = 100x fewer parameters).
        cost_mix: weight of FLOPs (vs. parameters) in the regularizer, in [0, 1]; None means "the target"
            (0 for params, 1 for flops). Mixing lets a parameter budget also press on costly conv weights.
        conv_cost: factor on the regularizer's parameter cost of convolution units (1: a conv weight costs
            what a dense weight does; below 1 the gates keep convolution weights more readily). The budget
            still counts plain parameters.
        lambda_mode: ``scheduled`` (lambda adapts so the budget is reached) or ``fixed``.
        lambda_init: starting (or fixed) regularizer weight.
        lambda_rate: multiplicative change of lambda per schedule update (scheduled mode).
        ramp_fraction: fraction of the pruning epochs over which the kept-fraction target falls
            geometrically from 1 to ``budget``.
        estimator: straight-through estimator of ``h'``: ``identity``, ``leaky`` or ``softplus``.
        leaky_slope: slope of the leaky estimator for closed gates.
        softplus_beta: sharpness of the softplus estimator (50: ``h'`` goes from 0.08 to 0.92 across
            ``m = -0.05 .. 0.05``, the default clamp range).
        gate_init: starting value of every auxiliary parameter (open); also the clamp bound ``|m|``.
        gate_init_mode: ``constant`` (every gate at ``gate_init``) or ``magnitude`` (scaled by the unit's
            weight magnitude, see :meth:`~chemaccel.prune.gates.GateSet.init_from_magnitude_`).
        gate_momentum: momentum of the ``normalized`` and ``sgd`` gate optimizers.
        gate_optimizer: ``normalized`` (:class:`~chemaccel.prune.optim.NormalizedGateSGD`, lambda in units
            of the loss gradient's RMS), ``adam`` or ``sgd`` (momentum 0.9) for the gates.
        epochs: pruning epochs.
        finetune_epochs: epochs of fine-tuning with frozen gates.
        recovery_epochs: pruning epochs during which pruned weights still receive gradients; None = half.
        lr: learning rate of the weights (Adam), cosine-decayed over the pruning phase.
        gate_lr: learning rate of the gates.
        finetune_lr: learning rate of the fine-tuning phase (cosine-decayed to 0).
        weight_decay: L2 on the weights.
        batch_size: training batch size.
        loss: ``cross_entropy`` (classification) or ``mse``.
        distill: weight in [0, 1] of distillation from the dense model the run starts from (0: off; see
            :mod:`chemaccel.prune.recipe`), in the pruning and the fine-tuning phases.
        distill_temperature: softmax temperature of the distillation term.
        continue_pruned: treat the exact zeros of the starting model as pruned (their gates start closed and
            the budget's ramp starts at the kept fraction): prune an already pruned model further.
        weight_noise: multiplicative Gaussian noise ``W (1 + s e)`` on the gated weights during the pruning
            phase (0: off; Sparse-VD-like: the gates keep weights that do their job under perturbation),
            none while fine-tuning or evaluating, nor on units gated at their output (structured + BatchNorm).
        label_smoothing: label smoothing of the cross-entropy in [0, 1) (0: off), both phases.
        augment_shift: random translation of image inputs by up to this many pixels per axis (0: off).
        schedule_every: steps between lambda updates.
        checkpoint_every: steps between training checkpoints (0: only at epoch ends).
        runtime: device, precision and seed.
    """

    granularity: str = "unstructured"
    target: str = "params"
    budget: float = 0.1
    cost_mix: float | None = None
    conv_cost: float = 1.0
    lambda_mode: str = "scheduled"
    lambda_init: float = 1e-2
    lambda_rate: float = 0.02
    ramp_fraction: float = 0.6
    estimator: str = "identity"
    leaky_slope: float = 0.1
    softplus_beta: float = 50.0
    gate_init: float = 0.05
    gate_init_mode: str = "magnitude"
    gate_momentum: float = 0.5
    gate_optimizer: str = "normalized"
    epochs: int = 10
    finetune_epochs: int = 2
    recovery_epochs: int | None = None
    lr: float = 1e-3
    gate_lr: float = 1e-3
    finetune_lr: float = 5e-4
    weight_decay: float = 0.0
    batch_size: int = 128
    loss: str = "cross_entropy"
    distill: float = 0.0
    distill_temperature: float = 4.0
    label_smoothing: float = 0.0
    weight_noise: float = 0.0
    continue_pruned: bool = False
    augment_shift: int = 0
    schedule_every: int = 5
    checkpoint_every: int = 0
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        _choice("granularity", self.granularity, GRANULARITIES)
        _choice("target", self.target, TARGETS)
        _choice("lambda_mode", self.lambda_mode, LAMBDA_MODES)
        _choice("estimator", self.estimator, ESTIMATORS)
        _choice("gate_optimizer", self.gate_optimizer, GATE_OPTIMIZERS)
        _choice("loss", self.loss, LOSSES)
        _choice("gate_init_mode", self.gate_init_mode, ("constant", "magnitude"))
        if not _is_number(self.gate_momentum) or not 0 <= self.gate_momentum < 1:
            raise ConfigError(f"gate_momentum must be in [0, 1), got {self.gate_momentum!r}")
        if not _is_number(self.budget) or not (0.0 < self.budget <= 1.0):
            raise ConfigError(
                f"budget must be the fraction of {self.target} to keep, in (0, 1] (e.g. 0.01 for 100x fewer), "
                f"got {self.budget!r}"
            )
        if self.cost_mix is not None and (not _is_number(self.cost_mix) or not 0.0 <= self.cost_mix <= 1.0):
            raise ConfigError(f"cost_mix must be in [0, 1] or null, got {self.cost_mix!r}")
        for name in ("lambda_init", "lr", "gate_lr", "finetune_lr", "gate_init", "softplus_beta", "conv_cost"):
            value = getattr(self, name)
            if not _is_number(value) or value <= 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        if not _is_number(self.distill) or not 0.0 <= self.distill <= 1.0:
            raise ConfigError(f"distill must be a weight in [0, 1] (0: no distillation), got {self.distill!r}")
        if self.distill > 0 and self.loss != "cross_entropy":
            raise ConfigError("distill needs loss cross_entropy (it distils class probabilities)")
        if not _is_number(self.distill_temperature) or self.distill_temperature <= 0:
            raise ConfigError(f"distill_temperature must be a positive number, got {self.distill_temperature!r}")
        if not _is_number(self.label_smoothing) or not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1) (0: off), got {self.label_smoothing!r}")
        if not _is_number(self.weight_noise) or not 0.0 <= self.weight_noise <= 2.0:
            raise ConfigError(f"weight_noise must be in [0, 2] (0: off), got {self.weight_noise!r}")
        if not isinstance(self.continue_pruned, bool):
            raise ConfigError(f"continue_pruned must be true or false, got {self.continue_pruned!r}")
        if self.label_smoothing > 0 and self.loss != "cross_entropy":
            raise ConfigError("label_smoothing needs loss cross_entropy")
        if not isinstance(self.augment_shift, int) or isinstance(self.augment_shift, bool) or not 0 <= self.augment_shift <= 8:
            raise ConfigError(f"augment_shift must be a whole number of pixels in [0, 8], got {self.augment_shift!r}")
        if not _is_number(self.weight_decay) or self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not _is_number(self.lambda_rate) or not 0 < self.lambda_rate < 1:
            raise ConfigError(f"lambda_rate must be in (0, 1), got {self.lambda_rate!r}")
        if not _is_number(self.ramp_fraction) or not 0 < self.ramp_fraction <= 1:
            raise ConfigError(f"ramp_fraction must be in (0, 1], got {self.ramp_fraction!r}")
        if not _is_number(self.leaky_slope) or not 0 <= self.leaky_slope <= 1:
            raise ConfigError(f"leaky_slope must be in [0, 1], got {self.leaky_slope!r}")
        for name in ("epochs", "batch_size", "schedule_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("finetune_epochs", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
        if self.recovery_epochs is not None and (
            not isinstance(self.recovery_epochs, int) or not 0 <= self.recovery_epochs <= self.epochs
        ):
            raise ConfigError(
                f"recovery_epochs must be in [0, epochs={self.epochs}] or null, got {self.recovery_epochs!r}"
            )
        if not isinstance(self.runtime, RuntimeConfig):
            raise ConfigError("runtime must be a RuntimeConfig")

    @property
    def recovery(self) -> int:
        """Pruning epochs with recovery (``recovery_epochs`` or half of ``epochs``)."""
        return self.epochs // 2 if self.recovery_epochs is None else self.recovery_epochs

    @property
    def flops_weight(self) -> float:
        """Weight of FLOPs in the regularizer's unit costs (see ``cost_mix``)."""
        if self.cost_mix is not None:
            return float(self.cost_mix)
        return 1.0 if self.target == "flops" else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (``runtime`` nested) that :meth:`from_dict` reads back."""
        out = dataclasses.asdict(self)
        out["runtime"] = dataclasses.asdict(self.runtime)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PruneConfig":
        """Build from a dict; unknown keys (also inside ``runtime``) are a ConfigError."""
        return config_from_dict(cls, data, "prune")

    def replace(self, **changes: Any) -> "PruneConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
