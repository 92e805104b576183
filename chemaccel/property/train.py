"""Training, pruning and fine-tuning of SchNet property models on a QM9 store, with Lightning Fabric.

Phases (each reported through the :class:`~chemaccel.reporting.Reporter`):

1. ``dense``: ``max_epochs`` of Adam on the training split, early stopping on the validation MAE
   (``patience`` epochs, the learning rate decays after ``patience // 2`` bad epochs, or a cosine
   schedule), best state kept; skipped when pruning a trained model (``init_from``), and the training of
   that model when ``init_from`` is given with ``prune="none"`` (fine-tuning a pruned model further).
2. ``prune`` (``config.prune`` != ``none``): AutoPrune gates (attention-driven or plain) for
   ``prune_epochs`` while lambda steers the kept fraction to ``budget``; then exactly ``budget`` kernels
   are kept. Magnitude pruning fixes the gates at once (no gate epochs).
3. ``finetune``: ``finetune_epochs`` with frozen gates, best validation state kept; then compaction.

Resumable: a checkpoint (``save_training_state``: safetensors + JSON) is written every
``checkpoint_every`` steps, at each epoch end and on cancel; ``resume=True`` continues from it, mid-epoch
(the epoch's order is a seeded permutation). Selection uses the validation split only; report test
figures with :mod:`chemaccel.property.evaluate`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chemaccel.checkpoint import has_training_state, load_resumable_state, save_training_state
from chemaccel.reporting import NullReporter, Reporter
from chemaccel.runtime import RuntimeConfig, average_gradients, make_fabric, shard_batches
from chemaccel.property.attention import KernelPruning
from chemaccel.property.compact import compact_model
from chemaccel.property.config import PropertyConfig
from chemaccel.property.data import StoreArrays, StoreCollate, load_store, target_statistics
from chemaccel.property.model import PropertySchNet, dense_architecture
from chemaccel.property.storage import load_property_model, save_property_model

PHASES = ("dense", "prune", "finetune", "done")


@dataclass
class PropertyResult:
    """What a training run produced: ``status`` is ``done`` or ``cancelled`` (a checkpoint is left)."""

    status: str
    model: PropertySchNet | None
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    out: Path | None = None


class PropertyTrainer:
    """Train (and prune) a model; ``run(reporter, resume)`` -> :class:`PropertyResult`.

    Args:
        config: the :class:`PropertyConfig`.
        store: a QM9 molecule store with ``train``/``valid`` splits and energies in eV.
        out: the model folder to write at the end (None: not saved).
        runtime: device, precision, seed (Lightning Fabric; torchrun gives DDP).
        checkpoint_dir: where checkpoints go (default ``<out>.work``).
        init_from: a trained model folder to start from instead of training from scratch: it is pruned
            (``config.prune`` set), or trained on as the dense phase (``prune="none"``, e.g. a longer
            fine-tuning of an already pruned model at a lower learning rate).
    """

    def __init__(self, config: PropertyConfig, store: str | Path, out: str | Path | None = None,
                 runtime: RuntimeConfig | None = None, checkpoint_dir: str | Path | None = None,
                 init_from: str | Path | None = None) -> None:
        self.config, self.store = config, Path(store)
        self.out = Path(out) if out is not None else None
        self.runtime = runtime or RuntimeConfig()
        default_ckpt = Path(str(self.out) + ".work") if self.out is not None else None
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else default_ckpt
        self.init_from = Path(init_from) if init_from is not None else None

    # ------------------------------------------------------------------ set-up
    def _data(self) -> tuple[StoreArrays, np.ndarray, np.ndarray]:
        """The arrays and the training / validation ROWS (one block per geometry set, see load_store)."""
        cfg = self.config
        sets = list(dict.fromkeys([*cfg.geometry_sets, cfg.valid_set]))
        arrays = load_store(self.store, cfg.targets, geometries=sets)
        from chemaccel.datasets.qm9 import read_qm9_split, split_subset

        split = read_qm9_split(self.store)
        train = split_subset(split["train"], cfg.limit_train)
        valid = split_subset(split["valid"], cfg.limit_valid)
        if sets == ["dft"]:
            return arrays, train, valid
        train_rows = np.concatenate([arrays.rows(train, g) for g in cfg.geometry_sets])
        return arrays, np.sort(train_rows), arrays.rows(valid, cfg.valid_set)

    def _build(self, arrays: StoreArrays, train: np.ndarray) -> PropertySchNet:
        if self.init_from is not None:
            model, info = load_property_model(self.init_from)
            if list(model.targets) != list(self.config.targets):
                from chemaccel.errors import ConfigError

                raise ConfigError(f"{self.init_from}: predicts {model.targets}, config asks for {list(self.config.targets)}")
            return model
        model = PropertySchNet(dense_architecture(self.config))
        stats = target_statistics(arrays, train, model.aggregation)
        with torch.no_grad():
            model.mean.copy_(stats["mean"])
            model.std.copy_(stats["std"])
            model.atomref.copy_(stats["atomref"])
        return model

    # ------------------------------------------------------------------ the run
    def run(self, reporter: Reporter | None = None, resume: bool = False) -> PropertyResult:
        reporter = reporter or NullReporter()
        cfg = self.config
        fabric = make_fabric(self.runtime)
        arrays, train, valid = self._data()
        elements = sorted(int(z) for z in np.unique(arrays.numbers))
        scale = target_statistics(arrays, train, [cfg.aggregation(t) for t in cfg.targets])["scale"]
        model = self._build(arrays, train)
        first = "dense" if self.init_from is None or cfg.prune == "none" else "prune"
        st: dict[str, Any] = {"phase": first, "epoch": 0, "batch": 0,
                              "step": 0, "best": math.inf, "bad": 0, "lr": cfg.lr, "history": [],
                              "dense_seconds": 0.0}
        ckpt = None
        if resume and has_training_state(self.checkpoint_dir):
            ckpt = load_resumable_state(self.checkpoint_dir, on_message=reporter.on_message)
            st.update(ckpt["meta"])
            reporter.on_message(f"resuming from {self.checkpoint_dir} ({st['phase']}, epoch {st['epoch']})")
        pruning: KernelPruning | None = None
        if st["phase"] in ("prune", "finetune", "done") and cfg.prune != "none" and ckpt is not None:
            pruning = self._attach(model, len(train))  # (a run stopped after its last phase: compact it below)
        if ckpt is not None:
            if st["phase"] in ("finetune", "done") and pruning is not None and cfg.prune != "magnitude":
                pruning.finalize()  # frozen state; m values come from the checkpoint below
            model.load_state_dict(ckpt["model"])
            best_state = ckpt.get("best_state") or None
        else:
            best_state = None
        collate = StoreCollate(arrays, cfg.cutoff)
        train_collate = StoreCollate(arrays, cfg.cutoff, noise=cfg.position_noise, seed=self.runtime.seed)
        model.to(fabric.device)
        result_history: list[dict[str, float]] = st["history"]
        while st["phase"] != "done":
            phase = st["phase"]
            if phase == "prune" and (cfg.prune == "none"):
                st.update(phase="done")
                break
            epochs = {"dense": cfg.max_epochs, "prune": cfg.prune_epochs, "finetune": cfg.finetune_epochs}[phase]
            if phase == "prune" and pruning is None:
                pruning = self._attach(model, len(train))
            if phase == "prune" and cfg.prune == "magnitude":
                epochs = 0
            opt, gate_opt = self._optimizers(model, pruning, st["lr"], phase)
            if ckpt is not None and ckpt.get("opt") is not None and ckpt["meta"]["phase"] == phase:
                opt.load_state_dict(ckpt["opt"])
                if gate_opt is not None and ckpt.get("gate_opt") is not None:
                    gate_opt.load_state_dict(ckpt["gate_opt"])
                if pruning is not None and "lambda" in ckpt:
                    pruning.schedule.load_state_dict(ckpt["lambda"])
            ckpt = None
            n_batches = math.ceil(len(train) / cfg.batch_size)
            reporter.on_start(phase, epochs * n_batches)
            while st["epoch"] < epochs:
                order = np.random.default_rng(self.runtime.seed + 1000 * st["epoch"] + PHASES.index(phase)).permutation(train)
                chunks = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
                if len(chunks) < fabric.world_size:
                    from chemaccel.errors import ConfigError

                    raise ConfigError(f"{len(chunks)} training batch(es) cannot feed {fabric.world_size} processes")
                chunks = list(shard_batches(chunks, len(chunks), fabric))  # the same count on every process
                model.train()
                t0, losses = time.perf_counter(), []
                for b in range(st["batch"], len(chunks)):
                    if phase != "prune" and cfg.lr_schedule == "cosine":
                        st["lr"] = self._cosine_lr(st["epoch"] * n_batches + b, epochs * n_batches,
                                                   st["dense_seconds"] if phase == "dense" else None)
                        for g in opt.param_groups:
                            g["lr"] = st["lr"]
                    batch = fabric.to_device(train_collate(chunks[b]))
                    pred = model(batch)
                    loss = (((pred - batch["targets"]) / scale.to(pred.device)) ** 2).mean()
                    total = loss + (pruning.regularizer() if pruning is not None and phase == "prune" else 0.0)
                    opt.zero_grad()
                    if gate_opt is not None:
                        gate_opt.zero_grad()
                    fabric.backward(total)
                    average_gradients(fabric, model.parameters())
                    opt.step()
                    if gate_opt is not None:
                        gate_opt.step()
                    st["step"] += 1
                    st["batch"] = b + 1
                    losses.append(loss.item())
                    metrics = {"loss": losses[-1], "lr": st["lr"]}
                    if pruning is not None and phase == "prune":
                        metrics["kept"] = pruning.step(st["epoch"] * n_batches + b)
                        metrics["lambda"] = pruning.schedule.value
                    reporter.on_progress(st["epoch"] * n_batches + b + 1, epochs * n_batches, metrics)
                    if reporter.should_stop():
                        self._save(fabric, model, opt, gate_opt, pruning, st, best_state)
                        reporter.on_message(f"cancelled; checkpoint in {self.checkpoint_dir}")
                        return PropertyResult("cancelled", model, {}, result_history, None)
                    if st["step"] % cfg.checkpoint_every == 0:
                        self._save(fabric, model, opt, gate_opt, pruning, st, best_state)
                if phase == "dense":  # the time budget counts whole epochs, the same on every process
                    st["dense_seconds"] = self._synced_seconds(fabric, st.get("dense_seconds", 0.0)
                                                               + time.perf_counter() - t0)
                val = self.validate(model, fabric, collate, valid, scale)
                rate = len(chunks) * cfg.batch_size / max(1e-9, time.perf_counter() - t0)
                row = {"phase": PHASES.index(phase), "epoch": st["epoch"], "train_loss": float(np.mean(losses or [0.0])),
                       "val_score": val["score"], "train_molecules_per_s": rate}
                row.update({f"val_mae_{t}": val[t] for t in cfg.targets})
                result_history.append(row)
                reporter.on_message(f"{phase} epoch {st['epoch'] + 1}/{epochs}: " +
                                    " ".join(f"valid MAE {t} {val[t] * 1000:.1f} meV" for t in cfg.targets))
                st["epoch"] += 1
                st["batch"] = 0
                if phase != "prune" and val["score"] < st["best"]:
                    st["best"], st["bad"] = val["score"], 0
                    best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                elif phase != "prune":
                    st["bad"] += 1
                    if cfg.lr_schedule == "plateau" and cfg.patience and st["bad"] % max(1, cfg.patience // 2) == 0:
                        st["lr"] *= cfg.lr_decay
                        for g in opt.param_groups:
                            g["lr"] = st["lr"]
                self._save(fabric, model, opt, gate_opt, pruning, st, best_state)
                if phase != "prune" and cfg.patience and st["bad"] >= cfg.patience:
                    reporter.on_message(f"early stop in {phase}: no better validation MAE for {cfg.patience} epochs")
                    break
                if phase == "dense" and self._time_spent(st):
                    reporter.on_message(f"dense training stops: time budget of {cfg.time_limit_minutes:g} min spent "
                                        f"after {st['epoch']} epoch(s)")
                    break
            if best_state is not None and phase != "prune":
                model.load_state_dict(best_state)
            if phase == "prune" and pruning is not None:
                counts = pruning.finalize()
                reporter.on_message(f"kept {counts['kernels_kept']}/{counts['kernels_total']} kernels, "
                                    f"{counts['hidden_kept']}/{counts['hidden_total']} filter hidden units")
            nxt = {"dense": "prune", "prune": "finetune", "finetune": "done"}[phase]
            st.update(phase=nxt, epoch=0, batch=0, best=math.inf, bad=0, lr=st["lr"] if nxt != "prune" else cfg.lr)
            best_state = None
            if nxt == "finetune" and cfg.prune == "none":
                st["phase"] = "done"
            self._save(fabric, model, None, None, pruning, st, None)
        model.eval()
        final = compact_model(model) if pruning is not None else model
        val = self.validate(final, fabric, collate, valid, scale)
        metrics = {f"valid_mae_mev_{t}": val[t] * 1000 for t in cfg.targets}
        metrics.update(n_train=int(len(train)), n_valid=int(len(valid)))
        if self.out is not None and fabric.global_rank == 0:
            save_property_model(self.out, final.cpu(), cfg, metrics, elements=elements,
                                notes=f"trained on {len(train)} molecules of {self.store.name}; selected on valid")
        written = self.out if fabric.global_rank == 0 else None  # other torchrun processes write nothing
        return PropertyResult("done", final, metrics, result_history, written)

    # ------------------------------------------------------------------ pieces
    @staticmethod
    def _synced_seconds(fabric: Any, seconds: float) -> float:
        """The slowest process's count under torchrun, so that all of them stop (and anneal) together."""
        if fabric.world_size <= 1:
            return seconds
        return float(fabric.all_reduce(torch.tensor(seconds, device=fabric.device), reduce_op="max"))

    def _time_spent(self, st: dict[str, Any]) -> bool:
        limit = self.config.time_limit_minutes
        return bool(limit) and st.get("dense_seconds", 0.0) >= 60.0 * limit

    def _cosine_lr(self, step: int, total_steps: int, seconds: float | None) -> float:
        """Cosine from ``lr`` to ``lr / 100`` over the phase's steps or (dense phase: ``seconds`` given) the
        time budget, whichever is nearer its end."""
        progress = step / max(1, total_steps)
        if seconds is not None and self.config.time_limit_minutes:
            progress = max(progress, seconds / (60.0 * self.config.time_limit_minutes))
        progress = min(1.0, progress)
        return self.config.lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress)))

    def _attach(self, model: PropertySchNet, n_train: int) -> KernelPruning:
        cfg = self.config
        steps = max(1, cfg.prune_epochs * math.ceil(n_train / cfg.batch_size))
        return KernelPruning(model, cfg.prune, cfg.budget, ramp_steps=int(0.8 * steps), lambda_init=cfg.lambda_init,
                             attention_hidden=cfg.attention_hidden)

    def _optimizers(self, model: torch.nn.Module, pruning: KernelPruning | None, lr: float, phase: str):
        gates = {id(p) for p in pruning.gate_parameters()} if pruning is not None else set()
        weights = [p for p in model.parameters() if id(p) not in gates and p.requires_grad]
        opt = torch.optim.Adam(weights, lr=lr)
        gate_opt = None
        if pruning is not None and phase == "prune":
            gate_opt = torch.optim.Adam(pruning.gate_parameters(), lr=self.config.gate_lr)
        return opt, gate_opt

    @torch.no_grad()
    def validate(self, model: torch.nn.Module, fabric: Any, collate: StoreCollate, indices: np.ndarray,
                 scale: torch.Tensor) -> dict[str, float]:
        """Validation MAE per target (eV) and the selection score (sum of MAE / target scale)."""
        was = model.training
        model.eval()
        err = torch.zeros(len(self.config.targets), device=fabric.device)
        n = torch.zeros((), device=fabric.device)
        part = indices[fabric.global_rank::fabric.world_size]
        for i in range(0, len(part), 100):
            batch = fabric.to_device(collate(part[i:i + 100]))
            err += (model(batch) - batch["targets"]).abs().sum(0)
            n += len(part[i:i + 100])
        if fabric.world_size > 1:
            err, n = fabric.all_reduce(err, reduce_op="sum"), fabric.all_reduce(n, reduce_op="sum")
        model.train(was)
        mae = (err / n.clamp_min(1)).cpu()
        out = {t: float(mae[k]) for k, t in enumerate(self.config.targets)}
        out["score"] = float((mae / scale).sum())
        return out

    def _save(self, fabric: Any, model: torch.nn.Module, opt: Any, gate_opt: Any, pruning: KernelPruning | None,
              st: dict[str, Any], best_state: dict[str, torch.Tensor] | None) -> None:
        if self.checkpoint_dir is None or fabric.global_rank != 0:
            return
        state: dict[str, Any] = {"meta": dict(st), "model": model.state_dict(), "opt": opt.state_dict() if opt else None,
                                 "gate_opt": gate_opt.state_dict() if gate_opt else None, "best_state": best_state}
        if pruning is not None:
            state["lambda"] = pruning.schedule.state_dict()
        save_training_state(self.checkpoint_dir, state)

