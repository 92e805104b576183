"""GanTrainer: trains the K-generator GAN with Lightning Fabric, reporting, cancel and divergence checks.

One step = one discriminator update and one generator update (Adam each):

* discriminator: ``BCE(D(real), 1) + BCE(D(fake), 0) + beta * CE(C(fake), k)`` (C = classifier head);
* generators: ``BCE(D(fake), 1) + beta * CE(C(fake), k) + lambda * ortho`` (non-saturating loss; MGAN's
  classifier term makes the K generators distinguishable, the orthogonality term pushes them apart), plus
  the mode-seeking term (``diversity_weight``) and, for molecular graphs, the connectivity term
  (``connectivity_weight``) and the novelty critic's penalty (``novelty_weight``) when they are on. The
  critic itself learns in the discriminator's update, from rdkit's verdict on that step's samples.

Each generator makes ``ceil(batch_size / K)`` samples per step; real samples are drawn at random from the
training set. Every ``checkpoint_every`` steps (and on cancel or at the end) the state is saved with
:func:`chemaccel.checkpoint.save_training_state` under ``checkpoint_dir/last`` - only when every loss so
far is finite. A loss that is NaN, infinite or above ``divergence_limit`` stops the run: the model goes
back to the last good state, that checkpoint is kept, and the result says why.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from chemaccel.checkpoint import has_training_state, load_resumable_state, save_training_state
from chemaccel.errors import ConfigError
from chemaccel.gan.config import GanConfig
from chemaccel.gan.connectivity import connectivity
from chemaccel.gan.data import TrainingData, load_training_data
from chemaccel.gan.diversity import mode_seeking
from chemaccel.gan.model import GanModel
from chemaccel.gan.molgraph import EncodeReport, decode_all, in_training_set, smiles_hash
from chemaccel.gan.orthogonality import orthogonality
from chemaccel.gan.placement import check_available, plan_placement
from chemaccel.gan.recent import RecentMolecules
from chemaccel.gan.valence import valence
from chemaccel.reporting import NullReporter, Reporter
from chemaccel.runtime import RuntimeConfig, available_devices, is_main_process, make_fabric

LAST = "last"


def not_valid_and_novel(graphs: torch.Tensor, max_atoms: int, train_hashes: Any,
                        recent: RecentMolecules | None = None) -> torch.Tensor:
    """1.0 for each one-hot graph that does not decode to a valid molecule outside the training set (and,
    with ``recent``, not made recently: in the memory or earlier in this batch), else 0.0. The valid
    molecules are then added to ``recent``."""
    smiles = decode_all(graphs.detach().float().cpu().numpy(), max_atoms)  # numpy has no bfloat16
    valid = [i for i, s in enumerate(smiles) if s]
    known = in_training_set([smiles[i] for i in valid], train_hashes if train_hashes is not None
                            else np.zeros(0, dtype=np.int64))
    if recent is not None:
        known = known | recent.seen_then_add([smiles_hash(smiles[i]) for i in valid])
    bad = torch.ones(len(smiles))
    bad[[i for i, kn in zip(valid, known) if not kn]] = 0.0
    return bad


@dataclass
class GanResult:
    """What a run produced.

    Attributes:
        model: the trained model (after divergence: restored to the last good state).
        status: ``completed``, ``cancelled`` or ``diverged``.
        reason: one line saying why the run ended.
        steps: steps done (of the last good state, after divergence).
        history: the reported metrics, one dict per report.
        metrics: evaluation of the final model ({} if not evaluated).
        checkpoint: the training checkpoint folder, if any.
        data_report: graphs only: molecules kept and skipped.
    """

    model: GanModel
    status: str
    reason: str
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None
    data_report: EncodeReport | None = None


class GanTrainer:
    """Trains a :class:`GanModel` for a :class:`GanConfig`.

    Args:
        config: the GAN settings.
        runtime: device, precision, seed (default: auto device, 32-bit, seed 0).
    """

    def __init__(self, config: GanConfig, runtime: RuntimeConfig | None = None) -> None:
        self.config = config
        self.runtime = runtime or RuntimeConfig()
        self.recent: RecentMolecules | None = None  # the critic's memory of recent molecules (repeat_memory)

    def run(self, reporter: Reporter | None = None, data: Any = None, checkpoint_dir: str | Path | None = None,
            resume: bool = False, evaluate: bool = True) -> GanResult:
        """Train; see the module docstring.

        Args:
            reporter: progress, messages and cancel.
            data: ``vectors``: (n, d) array; ``qm9``: a store path or SMILES; toys: None.
            checkpoint_dir: folder for training checkpoints (``last/``); None keeps none on disk.
            resume: continue from ``checkpoint_dir/last`` when it exists.
            evaluate: measure the final model (``config.eval_samples`` samples).
        """
        cfg, reporter = self.config, reporter or NullReporter()
        if self.runtime.precision != "32-true":  # the grouped layers and the noise are float32
            raise ConfigError(f"the GAN engine trains in 32-bit precision (32-true), "
                              f"not {self.runtime.precision}")
        fabric = make_fabric(self.runtime)
        td = load_training_data(cfg, data, seed=self.runtime.seed)
        if td.report is not None and td.report.skipped:
            r = td.report
            reporter.on_message(f"kept {r.kept} molecules; skipped {r.skipped}: {r.too_many_atoms} above "
                                f"{cfg.max_atoms} heavy atoms, {r.unparsable} unparsable, {r.unsupported} charged/unsupported")
        placement = plan_placement(cfg.n_generators, cfg.placement, cfg.shared_device, default_device=str(fabric.device))
        parallel = not placement.is_single_device
        if parallel:
            check_available(placement, available_devices())
            if fabric.world_size > 1:
                raise ConfigError("model-parallel placement cannot be combined with DDP (torchrun); use one or the other")
        model = GanModel(cfg, td.spec, placement)
        model.train_hashes = td.train_hashes
        self.recent = RecentMolecules(cfg.repeat_memory) if cfg.repeat_memory > 0 else None
        opt_g = torch.optim.Adam(model.generator.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        if parallel:
            gen, disc = model.generator, model.discriminator
        else:
            gen, opt_g = fabric.setup(model.generator, opt_g)
            disc, opt_d = fabric.setup(model.discriminator, opt_d)
        device = torch.device(placement.shared_device) if parallel else fabric.device
        real_all = td.samples.to(device)
        data_rng = torch.Generator().manual_seed(self.runtime.seed + 7919 * max(fabric.global_rank, 0))

        ckpt = Path(checkpoint_dir) / LAST if checkpoint_dir is not None else None
        step, history = 0, []
        if resume and has_training_state(ckpt):
            step, history = self._restore(ckpt, model, opt_g, opt_d, data_rng, td, reporter.on_message)
            reporter.on_message(f"resumed from {ckpt} at step {step}")
        last_good = self._snapshot(model, opt_g, opt_d, step)

        reporter.on_start("gan train", cfg.steps)
        status, reason = "completed", f"trained {cfg.steps} steps"
        losses: dict[str, float] = {}
        while step < cfg.steps:
            if reporter.should_stop():
                status, reason = "cancelled", f"cancelled at step {step}"
                break
            lr = cfg.lr * (1.0 - (1.0 - cfg.lr_final) * step / max(cfg.steps - 1, 1))
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = lr
            losses = self.train_step(model, gen, disc, opt_g, opt_d, fabric, real_all, data_rng, device)
            bad = self._bad_loss(losses)
            if bad:
                good_step = last_good["step"]
                self._load_snapshot(model, opt_g, opt_d, last_good)
                where = f"; the last good checkpoint (step {good_step}) is kept at {ckpt}" if ckpt else \
                    f"; the model is back at its last good state (step {good_step})"
                status, reason = "diverged", f"training diverged at step {step + 1}: {bad}; stopped{where}"
                reporter.on_message(reason)
                step = good_step
                break
            step += 1
            if cfg.eval_every and step % cfg.eval_every == 0:
                losses.update(self._quick_eval(model))
            if step % cfg.log_every == 0 or step == cfg.steps or (cfg.eval_every and step % cfg.eval_every == 0):
                history.append({"step": float(step), **losses})
                reporter.on_progress(step, cfg.steps, losses)
            if step % cfg.checkpoint_every == 0 and step < cfg.steps:
                last_good = self._snapshot(model, opt_g, opt_d, step)
                if ckpt is not None:
                    self._save(ckpt, model, opt_g, opt_d, data_rng, step, history)
        if status != "diverged":
            if ckpt is not None:
                self._save(ckpt, model, opt_g, opt_d, data_rng, step, history)
                if is_main_process():
                    reporter.on_message(f"checkpoint at step {step} written to {ckpt}")
            if status == "cancelled":
                reporter.on_message(reason)
        model.recalibrate_batchnorm(seed=self.runtime.seed)
        model.eval()
        metrics = model.evaluate(seed=self.runtime.seed) if evaluate else {}
        return GanResult(model, status, reason, step, history, metrics, ckpt, td.report)

    # ------------------------------------------------------------------ one step
    def train_step(self, model: GanModel, gen: Any, disc: Any, opt_g: Any, opt_d: Any, fabric: Any,
                   real_all: torch.Tensor, data_rng: torch.Generator, device: torch.device) -> dict[str, float]:
        """One discriminator and one generator update; returns the losses as floats."""
        cfg, spec = self.config, model.spec
        k, b = cfg.n_generators, cfg.per_generator_batch
        labels = torch.arange(k, device=device).repeat_interleave(b)
        idx = torch.randint(0, real_all.shape[0], (cfg.batch_size,), generator=data_rng).to(device)
        real = real_all[idx]
        model.train()

        # discriminator (and classifier)
        novelty_on = cfg.novelty_weight > 0 and spec.kind == "qm9"
        sampled = cfg.sample_temperature > 0 and spec.kind == "qm9"  # sample() decodes draws, not argmax
        with torch.no_grad():
            raw_d = gen(torch.randn(k, b, cfg.noise_dim, device=device)).reshape(k * b, -1)
            fake = spec.postprocess(raw_d, training=True, tau=cfg.gumbel_tau, sampling=cfg.graph_sampling,
                                    temperature=cfg.sample_temperature)
        d_real, _ = disc(real)
        critic = bad_share = torch.zeros((), device=device)
        if novelty_on:  # the critic learns rdkit's verdict on the graphs that `sample` would decode
            decoded = fake if sampled else spec.postprocess(raw_d, training=True, sampling="argmax")
            bad = not_valid_and_novel(decoded, spec.max_atoms, model.train_hashes, self.recent).to(device)
            d_fake, c_fake, n_fake = disc(fake, novelty_input=decoded)
            critic = F.binary_cross_entropy_with_logits(n_fake, bad.to(n_fake.dtype))
            bad_share = bad.mean()
        else:
            d_fake, c_fake = disc(fake)
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)) + critic)
        if c_fake is not None and cfg.classifier_weight > 0:
            loss_d = loss_d + cfg.classifier_weight * F.cross_entropy(c_fake, labels)
        opt_d.zero_grad(set_to_none=True)
        self._backward(fabric, loss_d, model)
        opt_d.step()

        # generators
        z = torch.randn(k, b, cfg.noise_dim, device=device)
        raw, feats = gen(z, return_features=True)
        fake = spec.postprocess(raw.reshape(k * b, -1), training=True, tau=cfg.gumbel_tau,
                                sampling=cfg.graph_sampling, temperature=cfg.sample_temperature)
        novel = torch.zeros((), device=device)
        if novelty_on:  # -log(1 - p(invalid or a training molecule)) of the graphs `sample` would decode
            graphs = fake if sampled else spec.postprocess(raw.reshape(k * b, -1), training=True, sampling="argmax")
            d_fake, c_fake, n_fake = disc(fake, novelty_input=graphs)
            novel = F.softplus(n_fake).mean()
        else:
            d_fake, c_fake = disc(fake)
        adv = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        loss_g = adv + cfg.novelty_weight * novel
        cls = ortho = torch.zeros((), device=device)
        if c_fake is not None:
            cls = F.cross_entropy(c_fake, labels)
            loss_g = loss_g + cfg.classifier_weight * cls
            if cfg.ortho_weight > 0:
                weights = model.generator.first_private_weights() if cfg.ortho_on == "weights" else raw
                ortho = orthogonality(cfg.ortho_on, feats, raw, weights)
                loss_g = loss_g + cfg.ortho_weight * ortho
        diversity = torch.zeros((), device=device)
        if cfg.diversity_weight > 0 and b >= 2:
            outputs = spec.postprocess(raw.reshape(k * b, -1), training=False).reshape(k, b, -1)
            diversity = mode_seeking(outputs, z.to(outputs.device))
            loss_g = loss_g + cfg.diversity_weight * diversity
        connected = torch.zeros((), device=device)
        if cfg.connectivity_weight > 0 and spec.kind == "qm9":
            # the graphs that sampling decodes: the draws themselves, or the most likely types
            connected = connectivity(fake if sampled else raw.reshape(k * b, -1), spec.max_atoms)
            loss_g = loss_g + cfg.connectivity_weight * connected
        overload = torch.zeros((), device=device)
        if cfg.valence_weight > 0 and spec.kind == "qm9":
            overload = valence(fake if sampled else raw.reshape(k * b, -1), spec.max_atoms)
            loss_g = loss_g + cfg.valence_weight * overload
        opt_g.zero_grad(set_to_none=True)
        self._backward(fabric, loss_g, model)
        opt_g.step()
        return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()), "adv_g": float(adv.detach()),
                "classifier": float(cls.detach()), "ortho": float(ortho.detach()),
                "diversity": float(diversity.detach()), "connectivity": float(connected.detach()),
                "valence": float(overload.detach()),
                "novelty_critic": float(novel.detach()), "not_valid_and_novel": float(bad_share),
                "d_real": float(torch.sigmoid(d_real.detach()).mean())}

    def _quick_eval(self, model: GanModel) -> dict[str, float]:
        """Scalar metrics of a fresh evaluation (the model goes back to training mode afterwards)."""
        snap = {k: v.clone() for k, v in model.generator.state_dict().items() if "running" in k}
        model.recalibrate_batchnorm(seed=self.runtime.seed)
        metrics = model.evaluate(seed=self.runtime.seed)
        model.generator.load_state_dict({**model.generator.state_dict(), **snap})
        model.train()
        return {f"eval_{k}": float(v) for k, v in metrics.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("n_samples", "n_modes")}

    def _backward(self, fabric: Any, loss: torch.Tensor, model: GanModel) -> None:
        if model.generator.placement.is_single_device:
            fabric.backward(loss)
        else:
            loss.backward()

    def _bad_loss(self, losses: dict[str, float]) -> str:
        for name in ("loss_d", "loss_g"):
            value = losses[name]
            if not math.isfinite(value):
                return f"{name} is {value}"
            if abs(value) > self.config.divergence_limit:
                return f"{name} = {value:.4g} exceeds divergence_limit {self.config.divergence_limit:g}"
        return ""

    # ------------------------------------------------------------------ state
    @staticmethod
    def _snapshot(model: GanModel, opt_g: Any, opt_d: Any, step: int) -> dict[str, Any]:
        return {"step": step, "generator": model.generator.canonical_state_dict(),
                "discriminator": copy.deepcopy(model.discriminator.state_dict()),
                "opt_g": copy.deepcopy(opt_g.state_dict()), "opt_d": copy.deepcopy(opt_d.state_dict())}

    @staticmethod
    def _load_snapshot(model: GanModel, opt_g: Any, opt_d: Any, snap: dict[str, Any]) -> None:
        model.generator.load_canonical_state_dict(snap["generator"])
        model.discriminator.load_state_dict(snap["discriminator"])
        opt_g.load_state_dict(snap["opt_g"])
        opt_d.load_state_dict(snap["opt_d"])

    def _save(self, path: Path, model: GanModel, opt_g: Any, opt_d: Any, data_rng: torch.Generator, step: int,
              history: list[dict[str, float]]) -> None:
        if not is_main_process():  # one writer under torchrun (the weights are the same everywhere)
            return
        state = {**self._snapshot(model, opt_g, opt_d, step), "config": self.config.to_dict(),
                 "spec": model.spec.to_dict(), "history": history, "placement": model.generator.placement.sizes(),
                 "rng_torch": torch.get_rng_state(), "rng_data": data_rng.get_state()}
        if self.recent is not None:
            state["recent"] = torch.from_numpy(self.recent.state()["hashes"])
        save_training_state(path, state)

    def _restore(self, path: Path, model: GanModel, opt_g: Any, opt_d: Any, data_rng: torch.Generator,
                 td: TrainingData, on_message: Any = None) -> tuple[int, list[dict[str, float]]]:
        state = load_resumable_state(path, on_message=on_message)
        saved = GanConfig.from_dict(state["config"])
        shape_keys = ("n_generators", "private_layers", "noise_dim", "gen_hidden", "gen_layers", "disc_hidden",
                      "disc_layers", "maxout_pieces", "data", "max_atoms")
        diff = [f"{k}: {getattr(saved, k)} -> {getattr(self.config, k)}" for k in shape_keys
                if getattr(saved, k) != getattr(self.config, k)]
        critic = (saved.novelty_weight > 0, self.config.novelty_weight > 0)
        if critic[0] != critic[1]:
            diff.append(f"novelty critic: {'on' if critic[0] else 'off'} -> {'on' if critic[1] else 'off'}")
        if state["spec"].get("dim") != td.spec.dim:
            diff.append(f"sample size: {state['spec'].get('dim')} -> {td.spec.dim}")
        if list(state["placement"]) != model.generator.placement.sizes():
            diff.append(f"placement groups: {state['placement']} -> {model.generator.placement.sizes()}")
        if diff:
            raise ConfigError(f"{path}: the checkpoint does not match this run ({'; '.join(diff)})")
        self._load_snapshot(model, opt_g, opt_d, state)
        torch.set_rng_state(state["rng_torch"])
        data_rng.set_state(state["rng_data"])
        if self.recent is not None and "recent" in state:
            self.recent.load_state({"hashes": np.asarray(state["recent"])})
        return int(state["step"]), list(state["history"])
