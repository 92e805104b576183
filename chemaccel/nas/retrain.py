"""NasRetrain: train a derived network from scratch, optionally distilled, and save it as a model folder.

The network (:class:`~chemaccel.nas.derived.DerivedNetwork`) is built from the genotype at the retraining
size, trained with SGD (Nesterov momentum, cosine learning rate), random crops and flips, and, with
distillation, the teacher's logit and stage-feature terms (:mod:`chemaccel.nas.distill`; the engine trains
a :class:`~chemaccel.nas.teacher.TeacherCNN` on the same training data first unless one is given).
Training uses the training data only (minus ``val_size`` samples held out for monitoring); the test data,
when given, is used once at the end to measure the accuracy written into the model folder.

Cancel (``reporter.should_stop()``) writes a checkpoint (with ``checkpoint_dir``) and returns with
``cancelled=True`` and no model folder; ``resume=True`` continues at the interrupted epoch.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from chemaccel.checkpoint import has_training_state, load_resumable_state, save_training_state
from chemaccel.errors import ConfigError
from chemaccel.nas.config import RetrainConfig
from chemaccel.nas.data import accuracy, as_pair, holdout
from chemaccel.nas.derived import DerivedNetwork, count_params
from chemaccel.nas.distill import Distiller
from chemaccel.nas.genotype import Genotype
from chemaccel.nas.search import format_row, pick_layers, setup_teacher
from chemaccel.nas.storage import save_nas
from chemaccel.nas.teacher import TeacherCNN, cosine, sgd, train_epoch
from chemaccel.reporting import NullReporter, Reporter
from chemaccel.runtime import is_main_process, make_fabric

STATE_NAME = "retrain-state"


@dataclass
class RetrainResult:
    """What :meth:`NasRetrain.run` returns: the model (on the CPU), its figures and the folder written."""

    model: DerivedNetwork
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    folder: Path | None = None
    teacher_stats: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False
    checkpoint: Path | None = None


class NasRetrain:
    """Retrains a genotype with a :class:`RetrainConfig` (see the module docstring)."""

    def __init__(self, config: RetrainConfig) -> None:
        if not isinstance(config, RetrainConfig):
            raise ConfigError("NasRetrain needs a RetrainConfig")
        self.config = config

    def run(self, genotype: Genotype, train_data: Any, out: str | Path | None = None,
            reporter: Reporter | None = None, *, test_data: Any = None,
            normalization: tuple[float, float] | None = None, teacher: nn.Module | None = None,
            teacher_layers: Sequence[str] | None = None, student_layers: Sequence[str] | None = None,
            search_info: dict[str, Any] | None = None, checkpoint_dir: str | Path | None = None,
            resume: bool = False) -> RetrainResult:
        """Train ``genotype`` on ``train_data`` (images, labels); write the model folder ``out`` if given."""
        cfg = self.config
        reporter = reporter or NullReporter()
        if not isinstance(genotype, Genotype):
            raise ConfigError(f"expected a Genotype, got {type(genotype).__name__}")
        x, y = as_pair(train_data, "training data")
        if x.dim() != 4:
            raise ConfigError(f"retraining takes images (N, C, H, W), got inputs of shape {tuple(x.shape)}")
        if cfg.limit_train is not None:
            x, y = x[:cfg.limit_train], y[:cfg.limit_train]
        t_start = time.perf_counter()
        fabric = make_fabric(cfg.runtime)
        device = fabric.device
        autocast = fabric.autocast if cfg.runtime.precision != "32-true" else contextlib.nullcontext
        train, val = holdout((x.to(device), y.to(device)), cfg.val_size, cfg.runtime.seed)
        if len(train[0]) < 2:
            raise ConfigError(f"retraining needs at least 2 training samples, got {len(train[0])}")
        num_classes = int(y.max()) + 1
        ckpt = Path(checkpoint_dir) / STATE_NAME if checkpoint_dir is not None else None
        has_state = resume and has_training_state(ckpt)
        saved = load_resumable_state(ckpt, device=device, on_message=reporter.on_message) if has_state else None
        torch.manual_seed(cfg.runtime.seed)
        model = DerivedNetwork(genotype, x.shape[1], num_classes, cfg.init_channels, cfg.layers,
                               cfg.stem_multiplier).to(device)
        distiller, teacher_stats = None, {}
        if cfg.distill:
            teacher, t_layers, teacher_stats = setup_teacher(cfg, teacher, teacher_layers, train, x.shape[1],
                                                             num_classes, reporter, autocast,
                                                             saved.get("teacher") if saved else None)
            if teacher_stats.get("teacher_cancelled"):
                reporter.on_message("cancelled while training the teacher")
                return RetrainResult(model.cpu(), {}, teacher_stats=teacher_stats, cancelled=True)
            s_layers = (list(student_layers) if student_layers is not None
                        else pick_layers(model.feature_layers(), t_layers))
            distiller = Distiller(teacher, model, t_layers, s_layers, train[0][:2], cfg.feature_weight,
                                  cfg.logit_weight, cfg.temperature)
        params = list(model.parameters()) + (distiller.parameters() if distiller else [])
        opt = sgd(params, cfg.lr, cfg.momentum, cfg.weight_decay)
        per_epoch = math.ceil(len(train[0]) / cfg.batch_size)
        world = fabric.world_size  # under torchrun each process takes every world-th batch (data parallel)
        total = cfg.epochs * (per_epoch // world if world > 1 else per_epoch)
        epoch, step, history = 0, 0, []
        if saved is not None:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["opt"])
            if distiller is not None and saved.get("adapters") is not None:
                distiller.adapters.load_state_dict(saved["adapters"])
            epoch, step, history = int(saved["epoch"]), int(saved["step"]), list(saved["history"])
            if saved.get("rng_torch") is not None:  # augmentation and drop-path draws continue as unbroken
                torch.set_rng_state(saved["rng_torch"].to(torch.uint8).cpu())
            reporter.on_message(f"resumed from {ckpt} at epoch {epoch + 1}")

        def save(next_epoch: int) -> None:
            if ckpt is None or not is_main_process():
                return
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": next_epoch, "step": step,
                     "rng_torch": torch.get_rng_state(),
                     "adapters": distiller.adapters.state_dict() if distiller else None, "history": history,
                     "config": cfg.to_dict()}
            if distiller is not None and isinstance(distiller.teacher, TeacherCNN):
                state["teacher"] = {"state": distiller.teacher.state_dict(), "stats": teacher_stats}
            save_training_state(ckpt, state)

        def extra_loss(xb: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, dict]:
            return distiller.loss(logits, distiller.teach(xb))

        reporter.on_start(f"retrain derived network ({cfg.layers} cells, C={cfg.init_channels}"
                          f"{', distilled' if distiller else ''})", total)
        gen = torch.Generator()
        cancelled = False
        while epoch < cfg.epochs:
            t0 = time.perf_counter()
            gen.manual_seed(cfg.runtime.seed * 100003 + epoch)
            model.set_drop_path(cfg.drop_path_prob * epoch / max(1, cfg.epochs))
            step, loss, cancelled = train_epoch(
                model, opt, train, batch_size=cfg.batch_size, generator=gen,
                lr_at=lambda s: cosine(cfg.lr, cfg.lr_min, s, total), step=step, total=total, reporter=reporter,
                autocast=autocast, use_augment=cfg.augment, extra_loss=extra_loss if distiller else None,
                grad_clip=cfg.grad_clip, label_smoothing=cfg.label_smoothing,
                fabric=fabric if world > 1 else None)
            if cancelled:
                save(epoch)
                reporter.on_message(f"cancelled at epoch {epoch + 1}"
                                    + (f"; checkpoint in {ckpt}" if ckpt else ""))
                break
            row = {"epoch": epoch + 1, "loss": loss, "seconds": time.perf_counter() - t0}
            if val is not None:
                row["val_accuracy"] = accuracy(model, val, 1000, autocast)
            history.append(row)
            epoch += 1
            save(epoch)
            reporter.on_message(format_row(row))
        if distiller is not None:
            distiller.remove()
        model.set_drop_path(0.0)
        model.eval()
        metrics: dict[str, Any] = {
            "params": count_params(model), "max_skip_per_cell": genotype.max_skip_per_cell(),
            "skip_per_cell": genotype.skip_counts(), "epochs_run": epoch,
            "train_seconds": time.perf_counter() - t_start}
        if history and "val_accuracy" in history[-1]:
            metrics["val_accuracy"] = history[-1]["val_accuracy"]
        if cancelled:
            return RetrainResult(model.cpu(), metrics, history, None, teacher_stats, True, ckpt)
        if test_data is not None:
            tx, ty = as_pair(test_data, "test data")
            metrics["test_accuracy"] = accuracy(model, (tx.to(device), ty.to(device)), 1000, autocast)
            metrics["test_samples"] = int(len(tx))
        folder = None
        if out is not None and is_main_process():  # under torchrun the first process writes the folder
            config = {"retrain": cfg.to_dict(), "search": dict(search_info or {}), "teacher": teacher_stats}
            folder = save_nas(out, model, input_shape=tuple(x.shape[1:]), normalization=normalization,
                              config=config, metrics=metrics)
        return RetrainResult(model.cpu(), metrics, history, folder, teacher_stats, False, ckpt)
