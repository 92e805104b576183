"""The AutoPrune engine: prune any ``nn.Module`` by training auxiliary gate parameters.

Implements Xiao, Wang and Rajasekaran, "AutoPrune: Automatic Network Pruning by Regularizing Auxiliary
Parameters" (NeurIPS 2019): gates ``m`` on every prunable unit (:mod:`chemaccel.prune.gates`), their own
optimizer and the weakly coupled update rules, a cost-aware regularizer whose weight ``lambda`` is steered
to a parameter or FLOPs budget (:mod:`chemaccel.prune.schedule`, :mod:`chemaccel.prune.costs`), then
fine-tuning with frozen gates, and for structured pruning of a chain, physical compaction
(:mod:`chemaccel.prune.compact`).

Example::

    result = AutoPrune(PruneConfig(budget=0.01, epochs=20)).run(model, (x, y), (x_val, y_val))
    print(format_table(result.measurements))

Progress goes to the :class:`~chemaccel.reporting.Reporter`. ``reporter.should_stop()`` is polled every
step: the engine then writes a training checkpoint (when ``checkpoint_dir`` is given) and returns a result
with ``cancelled=True``; ``run(..., resume=True)`` continues from it (re-running the interrupted epoch).
A non-finite loss stops the run with :class:`TrainingDiverged`; checkpoints are only written from finite
weights, so the last one on disk is good. The model passed in is modified in place.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from chemaccel.checkpoint import has_training_state, load_resumable_state, save_training_state
from chemaccel.errors import ChemAccelError, ConfigError
from chemaccel.prune.compact import CompactionError, compact
from chemaccel.prune.config import PruneConfig
from chemaccel.prune.costs import CostModel
from chemaccel.prune.data import as_pair, batches, data_device, first_input, n_samples
from chemaccel.prune.attach import GateSet, attach_gates, has_gates
from chemaccel.prune.gates import GateState, is_prunable, ste_derivative
from chemaccel.prune.measure import measure
from chemaccel.prune.optim import NormalizedGateSGD
from chemaccel.prune.recipe import TrainingLoss, random_shift
from chemaccel.prune.schedule import LambdaSchedule
from chemaccel.reporting import NullReporter, Reporter
from chemaccel.runtime import average_gradients, make_fabric, shard_batches

STATE_NAME = "state"


class TrainingDiverged(ChemAccelError):
    """The loss became NaN or infinite; the run stopped and the last good checkpoint was kept."""


@dataclass
class PruneResult:
    """What :meth:`AutoPrune.run` returns.

    Attributes:
        model: the pruned model on the CPU: masked dense (unstructured) or compacted (structured chain).
        dense: a copy of the model before pruning (reference for compression and speed-up).
        measurements: :func:`chemaccel.prune.measure.measure` of ``model`` against ``dense`` plus
            ``val_error`` / ``val_loss`` when validation data was given.
        history: one dict per finished epoch (loss, val_error, kept fractions, lambda, seconds).
        compacted: whether ``model`` was physically compacted.
        widths: kept widths of the prunable layers (except the last) when compacted.
        cancelled: stopped early because the reporter asked.
        checkpoint: the training checkpoint folder, if any.
    """

    model: nn.Module
    dense: nn.Module
    measurements: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    compacted: bool = False
    widths: list[int] | None = None
    cancelled: bool = False
    checkpoint: Path | None = None


class AutoPrune:
    """Runs AutoPrune with a :class:`PruneConfig` (see the module docstring)."""

    def __init__(self, config: PruneConfig) -> None:
        if not isinstance(config, PruneConfig):
            raise ConfigError("AutoPrune needs a PruneConfig")
        self.config = config

    # ------------------------------------------------------------------------------------------ checks
    def _check(self, model: nn.Module, train: Any, val: Any) -> tuple[Any, Any]:
        if not isinstance(model, nn.Module):
            raise ConfigError(f"expected a torch.nn.Module to prune, got {type(model).__name__}")
        if has_gates(model):
            raise ConfigError("this model already carries AutoPrune gates (is another run using it?)")
        if not 0.0 < float(self.config.budget) <= 1.0:
            raise ConfigError(f"budget must be in (0, 1], got {self.config.budget!r}")
        if not any(is_prunable(m) for m in model.modules()):
            raise ConfigError(
                f"{type(model).__name__} has no prunable layer: AutoPrune gates Linear, Conv1d and Conv2d layers "
                "(or modules registered with chemaccel.prune.gates.register_gate_hook)"
            )
        train = as_pair(train, "training data")
        val = as_pair(val, "validation data") if val is not None else None
        devices = {p.device for p in model.parameters()}
        for name, data in (("training data", train), ("validation data", val)):
            dev = data_device(data) if data is not None else None
            if dev is not None and devices and dev not in devices:
                raise ConfigError(
                    f"the model is on {', '.join(sorted(map(str, devices)))} but the {name} is on {dev}; "
                    "put both on the same device (the engine then moves them to the configured runtime device)"
                )
        return train, val

    # ------------------------------------------------------------------------------------------ run
    def run(
        self,
        model: nn.Module,
        train_data: Any,
        val_data: Any = None,
        reporter: Reporter | None = None,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
    ) -> PruneResult:
        """Prune ``model`` on ``train_data`` (``(x, y)`` tensors or a Dataset); validate on ``val_data``."""
        cfg = self.config
        reporter = reporter or NullReporter()
        train, val = self._check(model, train_data, val_data)
        fabric = make_fabric(cfg.runtime)
        device = fabric.device
        model.to(device)
        dense = copy.deepcopy(model).to("cpu").eval()
        teacher = copy.deepcopy(model).to(device).eval() if cfg.distill > 0 else None
        train_loss = TrainingLoss(cfg.loss, teacher, cfg.distill, cfg.distill_temperature, cfg.label_smoothing)
        shift_gen = torch.Generator().manual_seed(cfg.runtime.seed + 7919)
        example = first_input(train).to(device)
        state = GateState(cfg.estimator, cfg.leaky_slope, cfg.softplus_beta)
        exclude = self._excluded(model)
        gates = attach_gates(model, cfg.granularity, state, cfg.gate_init, exclude)
        if not gates.gates:
            raise ConfigError("no prunable layer is left once the classifier outputs are excluded")
        if cfg.gate_init_mode == "magnitude":
            gates.init_from_magnitude_(cfg.gate_init)
        if cfg.continue_pruned:
            gates.close_zeros_(cfg.gate_init)
        costs = CostModel(gates, model, example, cfg.flops_weight, cfg.conv_cost)
        weights = list(model.parameters())
        opt_w = torch.optim.Adam(weights, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.gate_optimizer == "normalized":
            opt_m: torch.optim.Optimizer = NormalizedGateSGD(gates.parameters(), lr=cfg.gate_lr,
                                                             momentum=cfg.gate_momentum)
        elif cfg.gate_optimizer == "adam":
            opt_m = torch.optim.Adam(gates.parameters(), lr=cfg.gate_lr)
        else:
            opt_m = torch.optim.SGD(gates.parameters(), lr=cfg.gate_lr, momentum=cfg.gate_momentum)
        all_batches = math.ceil(n_samples(train) / cfg.batch_size)
        # under torchrun each process takes every world_size-th batch (and as many as the others)
        per_epoch = all_batches // fabric.world_size
        if per_epoch < 1:
            raise ConfigError(f"{all_batches} batch(es) per epoch cannot feed {fabric.world_size} processes")
        schedule = LambdaSchedule(cfg.lambda_mode, cfg.lambda_init, cfg.budget,
                                  max(1, int(cfg.ramp_fraction * cfg.epochs * per_epoch)), cfg.lambda_rate,
                                  start=min(1.0, costs.kept()[cfg.target]) if cfg.continue_pruned else 1.0)
        ckpt = Path(checkpoint_dir) / STATE_NAME if checkpoint_dir is not None else None
        epoch, step, history = 0, 0, []
        if resume and has_training_state(ckpt):
            saved = load_resumable_state(ckpt, device=device, on_message=reporter.on_message)
            model.load_state_dict(saved["model"])
            gates.load_state_dict(saved["gates"])
            opt_w.load_state_dict(saved["opt_w"])
            opt_m.load_state_dict(saved["opt_m"])
            schedule.load_state_dict(saved["lambda"])
            epoch, step, history = int(saved["epoch"]), int(saved["step"]), list(saved["history"])
            reporter.on_message(f"resumed from {ckpt} at epoch {epoch + 1}, step {step}")

        def save(next_epoch: int, note: str) -> None:
            if ckpt is None or fabric.global_rank != 0:  # one writer under torchrun
                return
            if not all(torch.isfinite(p).all() for p in model.parameters()):
                reporter.on_message(f"not checkpointing at step {step}: weights are not finite")
                return
            save_training_state(ckpt, {"model": model.state_dict(), "gates": gates.state_dict(),
                                       "opt_w": opt_w.state_dict(),
                                       "opt_m": opt_m.state_dict(), "lambda": schedule.state_dict(),
                                       "epoch": next_epoch, "step": step, "history": history,
                                       "config": cfg.to_dict(), "note": note})

        total_epochs = cfg.epochs + cfg.finetune_epochs
        total_steps = total_epochs * per_epoch
        gen = torch.Generator().manual_seed(cfg.runtime.seed)
        loss_fn = nn.CrossEntropyLoss() if cfg.loss == "cross_entropy" else nn.MSELoss()
        reporter.on_start(f"AutoPrune ({cfg.granularity}, {cfg.target} budget {cfg.budget:g})", total_steps)
        cancelled = False
        report_every = max(1, min(20, per_epoch // 4))
        if ckpt is not None and epoch == 0 and step == 0:
            save(0, "start")
        while epoch < total_epochs and not cancelled:
            finetune = epoch >= cfg.epochs
            state.frozen = finetune
            state.rho = 1.0 if epoch < cfg.recovery else 0.0
            state.noise = 0.0 if finetune else cfg.weight_noise
            lr_now = self._finetune_lr(epoch - cfg.epochs, per_epoch) if finetune else None
            model.train()
            t0, loss_sum, seen = time.perf_counter(), 0.0, 0
            gen.manual_seed(cfg.runtime.seed * 100003 + epoch)
            shift_gen.manual_seed(cfg.runtime.seed * 100003 + epoch + 7919)
            epoch_batches = shard_batches(batches(train, cfg.batch_size, True, gen, device), all_batches, fabric)
            for i, (xb, yb) in enumerate(epoch_batches):
                if reporter.should_stop():
                    cancelled = True
                    save(epoch, "cancelled")
                    reporter.on_message(f"cancelled at epoch {epoch + 1}, step {step}"
                                        + (f"; checkpoint in {ckpt}" if ckpt else ""))
                    break
                if lr_now is not None:
                    for group in opt_w.param_groups:
                        group["lr"] = lr_now(i)
                if cfg.augment_shift:
                    xb = random_shift(xb, cfg.augment_shift, shift_gen)
                loss = train_loss(model(xb), xb, yb)
                if not torch.isfinite(loss):
                    where = f"epoch {epoch + 1}, step {step}"
                    kept = f"the last good checkpoint is kept in {ckpt}" if ckpt else "no checkpoint folder was given"
                    reporter.on_message(f"loss is {float(loss.detach())} at {where}; stopping")
                    gates.remove()  # leave the caller's module usable (no parametrizations or hooks)
                    raise TrainingDiverged(
                        f"pruning stopped: the loss became {float(loss.detach())} at {where} "
                        "(learning rate too high, or "
                        f"bad values in the data?); {kept}"
                    )
                opt_w.zero_grad(set_to_none=True)
                opt_m.zero_grad(set_to_none=True)
                loss.backward()
                average_gradients(fabric, [*model.parameters(), *gates.parameters()])  # (torchrun)
                if not finetune:
                    self._add_regularizer(gates, costs, schedule.value, state, opt_m)
                    opt_m.step()
                    gates.clamp_(cfg.gate_init)
                    gates.keep_alive_(cfg.gate_init)
                opt_w.step()
                step += 1
                loss_sum += float(loss.detach()) * len(yb)
                seen += len(yb)
                if not finetune and step % cfg.schedule_every == 0:
                    schedule.update(step, costs.kept()[cfg.target])
                if step % report_every == 0:
                    kept = costs.kept()
                    reporter.on_progress(step, total_steps, {
                        "loss": float(loss.detach()), "lambda": schedule.value,
                        "kept_params": kept["params"], "kept_flops": kept["flops"]})
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    save(epoch, "periodic (epoch re-run on resume)")
            if cancelled:
                break
            row = {"epoch": epoch + 1, "phase": "finetune" if finetune else "prune", "loss": loss_sum / max(1, seen),
                   "lambda": schedule.value, "target": schedule.target(step), "seconds": time.perf_counter() - t0}
            row.update({f"kept_{k}": v for k, v in costs.kept().items()})
            if val is not None:
                row.update(evaluate_loss(model, val, loss_fn, cfg.batch_size * 4, device))
            history.append(row)
            epoch += 1
            save(epoch, "epoch end")
            reporter.on_message(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                         for k, v in row.items()))
        return self._finish(model, dense, gates, val, loss_fn, example.to("cpu"), history, cancelled, ckpt, reporter)

    # ------------------------------------------------------------------------------------------ helpers
    def _excluded(self, model: nn.Module) -> tuple[str, ...]:
        """Structured pruning never removes the outputs of the last prunable layer (the model's outputs)."""
        if self.config.granularity != "structured":
            return ()
        names = [n for n, m in model.named_modules() if is_prunable(m)]
        return (names[-1],) if names else ()

    def _finetune_lr(self, ft_epoch: int, per_epoch: int):
        total = max(1, self.config.finetune_epochs * per_epoch)
        base = self.config.finetune_lr

        def lr(i: int) -> float:
            t = (ft_epoch * per_epoch + i) / total
            return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))

        return lr

    @staticmethod
    def _add_regularizer(gates: GateSet, costs: CostModel, lam: float, state: GateState, opt) -> None:
        """``m.grad += lambda * c_u * h'(m)``: the regularizer's gradient through the estimator (for
        :class:`NormalizedGateSGD` it is handed over separately, added after the normalisation)."""
        with torch.no_grad():
            regs = [lam * c * ste_derivative(g.m, state.estimator, state.slope, state.beta)
                    for g, c in zip(gates, costs.reg)]
            if isinstance(opt, NormalizedGateSGD):
                opt.extra = regs
                return
            for g, reg in zip(gates, regs):
                if g.m.grad is None:
                    g.m.grad = reg
                else:
                    g.m.grad.add_(reg)

    def _finish(self, model, dense, gates, val, loss_fn, example, history, cancelled, ckpt, reporter) -> PruneResult:
        model = gates.remove().eval()
        compacted, widths = False, None
        if self.config.granularity == "structured":
            try:
                model, widths = compact(model)
                compacted = True
            except CompactionError as exc:
                reporter.on_message(f"kept the masked model (not compacted): {exc}")
        model = model.to("cpu").eval()
        stats = measure(model, example, reference=dense, latency_repeats=20)
        if val is not None:
            stats.update(evaluate_loss(model, val, loss_fn, 512, torch.device("cpu")))
        kept = stats["flops_fraction"] if self.config.target == "flops" else 1.0 / stats["compression"]
        if not cancelled and kept > 1.1 * self.config.budget:
            reporter.on_message(
                f"budget not reached: kept {kept:.1%} of the {self.config.target} for a budget of "
                f"{self.config.budget:.1%}; prune for more epochs or start lambda higher (lambda_init)"
            )
        return PruneResult(model, dense, stats, history, compacted, widths, cancelled, ckpt)


@torch.no_grad()
def evaluate_loss(model: nn.Module, data: Any, loss_fn: nn.Module, batch_size: int, device: torch.device
                  ) -> dict[str, float]:
    """``val_loss`` and, for classification, ``val_error`` (fraction misclassified)."""
    was = model.training
    model.eval()
    total, wrong, n = 0.0, 0, 0
    for xb, yb in batches(data, batch_size, False, None, device):
        out = model(xb)
        total += float(loss_fn(out, yb)) * len(yb)
        if isinstance(loss_fn, nn.CrossEntropyLoss):
            wrong += int((out.argmax(1) != yb).sum())
        n += len(yb)
    model.train(was)
    res = {"val_loss": total / max(1, n)}
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        res["val_error"] = wrong / max(1, n)
    return res
