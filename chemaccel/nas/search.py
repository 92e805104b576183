"""NasSearch: DARTS architecture search, optionally distilled from a teacher, with reporting and resume.

Each step (DARTS, Liu et al. ICLR 2019) first updates the architecture parameters on a batch of the
architecture half of the training data (:class:`~chemaccel.nas.architect.Architect`, first or second
order), then the weights on a batch of the weight half (SGD, cosine learning rate). With distillation
(:mod:`chemaccel.nas.distill`) both losses get the teacher's feature and logit terms (the architecture
loss only when ``distill_arch``); the teacher is trained first on the same training data unless one is
given. After each epoch the genotype is derived (top-2 edges per node, at most ``max_skip`` skip
connections per cell) and reported.

Example::

    result = NasSearch(SearchConfig(epochs=10, logit_weight=1.0, feature_weight=1.0)).run((x, y))
    print(result.genotype.describe(), result.genotype.skip_counts())

``reporter.should_stop()`` is polled every step: the engine writes a checkpoint (with ``checkpoint_dir``)
and returns the genotype of the current architecture weights with ``cancelled=True``;
``run(..., resume=True)`` continues from the last checkpoint (re-running the interrupted epoch).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from chemaccel.checkpoint import has_training_state, load_resumable_state, save_training_state
from chemaccel.errors import ConfigError
from chemaccel.nas.architect import Architect
from chemaccel.nas.config import SearchConfig
from chemaccel.nas.data import accuracy, as_pair, batches, darts_split, endless
from chemaccel.nas.distill import Distiller, TeacherOutput
from chemaccel.nas.genotype import Genotype
from chemaccel.nas.supernet import SuperNet
from chemaccel.nas.teacher import TeacherCNN, TrainingDiverged, cosine, train_teacher
from chemaccel.reporting import NullReporter, Reporter
from chemaccel.runtime import average_gradients, is_main_process, make_fabric, shard_batches

STATE_NAME = "search-state"


def format_row(row: dict[str, Any]) -> str:
    """``key=value`` pairs of an epoch's history row, floats to 4 significant digits."""
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())


@dataclass
class SearchResult:
    """What :meth:`NasSearch.run` returns.

    Attributes:
        genotype: the derived architecture (after the skip cap).
        skips_before_cap: skip connections per cell type before the cap.
        history: one dict per finished epoch (losses, accuracy on the architecture half, skips, seconds).
        weights: softmax architecture weights per cell type, rows = edges, columns = ``ops``.
        ops: the candidate operations.
        seconds: wall time including the teacher; teacher: the teacher used (None without distillation).
        teacher_stats: the engine-trained teacher's figures.
        cancelled, checkpoint: stopped by the reporter; the checkpoint folder, if any.
    """

    genotype: Genotype
    skips_before_cap: dict[str, int]
    history: list[dict[str, Any]] = field(default_factory=list)
    weights: dict[str, list[list[float]]] = field(default_factory=dict)
    ops: tuple[str, ...] = ()
    seconds: float = 0.0
    teacher: nn.Module | None = None
    teacher_stats: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False
    checkpoint: Path | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-able: genotype, skip counts, weights, history, seconds (what a genotype file keeps)."""
        return {"genotype": self.genotype.to_dict(), "skip_per_cell": self.genotype.skip_counts(),
                "skips_before_cap": self.skips_before_cap, "ops": list(self.ops), "weights": self.weights,
                "history": self.history, "seconds": self.seconds, "teacher": self.teacher_stats,
                "cancelled": self.cancelled}


def pick_layers(student_layers: Sequence[str], teacher_layers: Sequence[str]) -> list[str]:
    """The last ``len(teacher_layers)`` stage-end layers of the student (deepest features pair up)."""
    if len(teacher_layers) > len(student_layers):
        raise ConfigError(f"{len(teacher_layers)} teacher layers but the student has only {len(student_layers)} "
                          f"stage ends ({', '.join(student_layers)}); pass student_layers explicitly")
    return list(student_layers)[len(student_layers) - len(teacher_layers):]


def setup_teacher(cfg: Any, teacher: nn.Module | None, teacher_layers: Sequence[str] | None, train: Any,
                  in_channels: int, num_classes: int, reporter: Reporter, autocast: Any, saved: dict | None
                  ) -> tuple[nn.Module, list[str], dict[str, Any]]:
    """The user's teacher, the one saved in a checkpoint, or a freshly trained :class:`TeacherCNN`.

    The engine's teacher trains like the student: the config's batch size, with augmentation when the
    config augments (retraining), without during search.
    """
    device = train[0].device
    if teacher is not None:
        if teacher_layers is None:
            teacher_layers = list(teacher.feature_layers()) if hasattr(teacher, "feature_layers") else []
            if cfg.feature_weight > 0 and not teacher_layers:
                raise ConfigError("feature distillation needs teacher_layers (names of the teacher's layers to "
                                  "hook) for a teacher without feature_layers(); or set feature_weight to 0")
        return teacher.to(device), list(teacher_layers), {"teacher": type(teacher).__name__}
    if saved is not None:
        net = TeacherCNN(in_channels, num_classes, cfg.teacher_width).to(device)
        net.load_state_dict(saved["state"])
        return net, net.feature_layers(), dict(saved["stats"])
    t0 = time.perf_counter()
    net, stats = train_teacher(train, in_channels, num_classes, cfg.teacher_width, cfg.teacher_epochs,
                               reporter=reporter, seed=cfg.runtime.seed, batch_size=cfg.batch_size,
                               use_augment=bool(getattr(cfg, "augment", False)), autocast=autocast)
    stats["teacher_seconds"] = time.perf_counter() - t0
    return net, net.feature_layers(), stats


class NasSearch:
    """Runs a DARTS search with a :class:`SearchConfig` (see the module docstring)."""

    def __init__(self, config: SearchConfig) -> None:
        if not isinstance(config, SearchConfig):
            raise ConfigError("NasSearch needs a SearchConfig")
        self.config = config

    def run(self, train_data: Any, reporter: Reporter | None = None, teacher: nn.Module | None = None,
            teacher_layers: Sequence[str] | None = None, student_layers: Sequence[str] | None = None,
            checkpoint_dir: str | Path | None = None, resume: bool = False) -> SearchResult:
        """Search on ``train_data``, an ``(images (N, C, H, W), labels)`` pair of TRAINING data."""
        cfg = self.config
        reporter = reporter or NullReporter()
        x, y = as_pair(train_data, "training data")
        if x.dim() != 4:
            raise ConfigError(f"the search takes images (N, C, H, W), got inputs of shape {tuple(x.shape)}")
        t_start = time.perf_counter()
        fabric = make_fabric(cfg.runtime)
        device = fabric.device
        autocast = fabric.autocast if cfg.runtime.precision != "32-true" else contextlib.nullcontext
        num_classes = int(y.max()) + 1
        train, val = darts_split((x.to(device), y.to(device)), cfg.train_portion, cfg.batch_size, cfg.runtime.seed,
                                 cfg.limit_train)
        ckpt = Path(checkpoint_dir) / STATE_NAME if checkpoint_dir is not None else None
        has_state = resume and has_training_state(ckpt)
        saved = load_resumable_state(ckpt, device=device, on_message=reporter.on_message) if has_state else None
        torch.manual_seed(cfg.runtime.seed)
        model = SuperNet(x.shape[1], num_classes, cfg.init_channels, cfg.layers, cfg.nodes, cfg.ops,
                         cfg.stem_multiplier).to(device)
        distiller, teacher_stats = None, {}
        if cfg.distill:
            both = (torch.cat([train[0], val[0]]), torch.cat([train[1], val[1]]))
            teacher, t_layers, teacher_stats = setup_teacher(cfg, teacher, teacher_layers, both, x.shape[1],
                                                             num_classes, reporter, autocast,
                                                             saved.get("teacher") if saved else None)
            if teacher_stats.get("teacher_cancelled"):
                reporter.on_message("cancelled while training the teacher")
                g, skips = model.genotype(cfg.max_skip)
                return SearchResult(g, skips, ops=cfg.ops, teacher_stats=teacher_stats, cancelled=True)
            s_layers = (list(student_layers) if student_layers is not None
                        else pick_layers(model.feature_layers(), t_layers))
            distiller = Distiller(teacher, model, t_layers, s_layers, train[0][:2], cfg.feature_weight,
                                  cfg.logit_weight, cfg.temperature)
        weights = list(model.weights()) + (distiller.parameters() if distiller else [])
        w_opt = torch.optim.SGD(weights, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        world = fabric.world_size  # under torchrun: data parallel, every gradient averaged over the processes
        sync = (lambda params: average_gradients(fabric, params)) if world > 1 else None
        architect = Architect(model.arch_parameters(), weights, cfg.order, cfg.arch_lr, cfg.arch_weight_decay,
                              sync=sync)
        epoch, step, history = 0, 0, []
        if saved is not None:
            model.load_state_dict(saved["model"])
            w_opt.load_state_dict(saved["w_opt"])
            architect.load_state_dict(saved["a_opt"])
            if distiller is not None and saved.get("adapters") is not None:
                distiller.adapters.load_state_dict(saved["adapters"])
            epoch, step, history = int(saved["epoch"]), int(saved["step"]), list(saved["history"])
            reporter.on_message(f"resumed from {ckpt} at epoch {epoch + 1}")

        def save(next_epoch: int) -> None:
            if ckpt is None or not is_main_process():
                return
            state = {"model": model.state_dict(), "w_opt": w_opt.state_dict(), "a_opt": architect.state_dict(),
                     "adapters": distiller.adapters.state_dict() if distiller else None, "epoch": next_epoch,
                     "step": step, "history": history, "config": cfg.to_dict()}
            if distiller is not None and isinstance(distiller.teacher, TeacherCNN):
                state["teacher"] = {"state": distiller.teacher.state_dict(), "stats": teacher_stats}
            save_training_state(ckpt, state)

        def loss_on(xb: torch.Tensor, yb: torch.Tensor, t: TeacherOutput | None) -> tuple[torch.Tensor, dict]:
            with autocast():
                logits = model(xb)
                loss = F.cross_entropy(logits.float(), yb)
                parts: dict = {"ce": loss.detach()}
                if t is not None:
                    kd, kd_parts = distiller.loss(logits, t)
                    loss = loss + kd
                    parts.update(kd_parts)
            return loss, parts

        per_epoch = len(train[0]) // cfg.batch_size
        total = cfg.epochs * (per_epoch // world)  # this process's steps (its share of each epoch)
        # each process draws its own architecture batches; the averaged gradient keeps the alphas equal
        gen, gen_val = torch.Generator(), torch.Generator().manual_seed(cfg.runtime.seed + 1 + 7919 * fabric.global_rank)
        val_iter = endless(val, cfg.batch_size, gen_val)
        reporter.on_start(f"DARTS search ({cfg.order} order{', distilled' if distiller else ''})", total)
        every = max(1, min(20, per_epoch // 4))
        cancelled = False
        while epoch < cfg.epochs and not cancelled:
            t0, seen, arch_steps = time.perf_counter(), 0, 0
            sums = {"loss": torch.zeros((), device=device), "val_loss": torch.zeros((), device=device)}
            gen.manual_seed(cfg.runtime.seed * 100003 + epoch)
            model.train()
            for xb, yb in shard_batches(batches(train, cfg.batch_size, True, gen, drop_last=True), per_epoch, fabric):
                if reporter.should_stop():
                    cancelled = True
                    save(epoch)
                    reporter.on_message(f"cancelled at epoch {epoch + 1}"
                                        + (f"; checkpoint in {ckpt}" if ckpt else ""))
                    break
                lr = cosine(cfg.lr, cfg.lr_min, step, total)
                for g in w_opt.param_groups:
                    g["lr"] = lr
                t_train = distiller.teach(xb) if distiller else None
                val_loss = None
                if epoch >= cfg.arch_warmup_epochs:
                    xv, yv = next(val_iter)
                    t_val = distiller.teach(xv) if distiller and cfg.distill_arch else None
                    val_loss = architect.step(lambda: loss_on(xb, yb, t_train)[0],
                                              lambda: loss_on(xv, yv, t_val)[0], cfg.unrolled_lr or lr, w_opt)
                    sums["val_loss"] += val_loss
                    arch_steps += 1
                loss, parts = loss_on(xb, yb, t_train)
                w_opt.zero_grad(set_to_none=True)
                loss.backward()
                average_gradients(fabric, weights)
                nn.utils.clip_grad_norm_(weights, cfg.grad_clip)
                w_opt.step()
                step += 1
                sums["loss"] += loss.detach()
                seen += 1
                if step % every == 0:  # host syncs only every few steps
                    if not torch.isfinite(loss):
                        raise TrainingDiverged(f"search stopped: the loss became {float(loss)} at epoch "
                                               f"{epoch + 1}, step {step}; lower lr or arch_lr")
                    metrics = {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in parts.items()}}
                    if val_loss is not None:
                        metrics["val_loss"] = float(val_loss.detach())
                    reporter.on_progress(step, total, metrics)
            if cancelled:
                break
            genotype, skips = model.genotype(cfg.max_skip)
            if not torch.isfinite(sums["loss"]):
                raise TrainingDiverged(f"search stopped: the loss became {float(sums['loss'])} in epoch "
                                       f"{epoch + 1}; lower lr or arch_lr")
            row = {"epoch": epoch + 1, "loss": float(sums["loss"]) / max(1, seen),
                   "val_loss": float(sums["val_loss"]) / arch_steps if arch_steps else None,
                   "val_accuracy": accuracy(model, val, 500, autocast), "skips_before_cap": max(skips.values()),
                   "max_skip_per_cell": genotype.max_skip_per_cell(), "seconds": time.perf_counter() - t0}
            history.append(row)
            epoch += 1
            save(epoch)
            reporter.on_message(format_row(row))
        genotype, skips = model.genotype(cfg.max_skip)
        if distiller is not None:
            distiller.remove()
        w = model.arch_weights()
        return SearchResult(genotype, skips, history, {k: v.cpu().tolist() for k, v in w.items()}, cfg.ops,
                            time.perf_counter() - t_start, distiller.teacher if distiller else None, teacher_stats,
                            cancelled, ckpt)

