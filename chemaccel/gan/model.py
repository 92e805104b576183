"""GanModel: the K-generator GAN as one module, with sampling and evaluation.

``generate(n)`` draws ``n`` samples from the mixture of the K generators (equal shares, BatchNorm in
evaluation mode with each generator's running statistics). ``evaluate(n)`` measures them: PacGAN's mode
metrics for the 2-D mixtures, MolGAN's validity / uniqueness / novelty for molecular graphs.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from chemaccel.gan.config import GanConfig
from chemaccel.gan.data import DataSpec
from chemaccel.gan.discriminator import Discriminator
from chemaccel.gan.distribution import distribution_metrics
from chemaccel.gan.generator import MultiGenerator, count_parameters, split_counts
from chemaccel.gan.placement import Placement


class GanModel(nn.Module):
    """K generators with shared layers, a discriminator with a generator classifier, and what the data is.

    Args:
        config: the run's :class:`GanConfig`.
        spec: what a sample is (:class:`DataSpec`); its ``dim`` must match the data.
        placement: where the generator groups run (default: all on the CPU, batched).
        with_discriminator: build the discriminator (False for a model loaded only to sample).
    """

    def __init__(self, config: GanConfig, spec: DataSpec, placement: Placement | None = None,
                 with_discriminator: bool = True):
        super().__init__()
        self.config, self.spec = config, spec
        self.generator = MultiGenerator(
            config.n_generators, config.noise_dim, config.gen_hidden, config.gen_layers, spec.dim,
            config.private_layers, config.init_std, config.bn_momentum, placement, joint_bn=config.bn_stats == "joint")
        self.discriminator = (Discriminator(spec.dim, config.disc_hidden, config.disc_layers, config.maxout_pieces,
                                            config.n_generators, config.init_std,
                                            novelty=config.novelty_weight > 0)
                              if with_discriminator else None)
        if config.n_generators > 1 and config.private_shift_std > 0:
            self.generator.randomize_private_shifts(config.private_shift_std)
        if self.discriminator is not None:
            self.discriminator.to(self.generator.placement.shared_device)
        self.train_hashes: np.ndarray | None = None
        #: graphs: 0 decodes each atom and bond as its most likely type, T > 0 draws it from softmax(scores / T);
        #: the trained value by default, a user may trade validity (lower) for diversity (higher)
        self.sample_temperature: float = config.decode_temperature or config.sample_temperature
        #: graphs drawn with valence masks (:func:`chemaccel.gan.valence.draw_valence_masked`)
        self.valence_mask: bool = config.valence_mask
        #: with ``valence_mask``: fragments joined where valences allow (:func:`chemaccel.gan.valence.join_fragments`)
        self.connect_fragments: bool = config.connect_fragments

    @property
    def device(self) -> torch.device:
        return torch.device(self.generator.placement.shared_device)

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters: generator (all K), discriminator (with classifier), one generator alone."""
        gen = count_parameters(self.generator)
        private = sum(p.numel() for stack in self.generator.private for p in stack.parameters())
        k = self.config.n_generators
        out = {"generator": gen, "generator_private": int(private), "per_generator": int(gen - private + private // k)}
        if self.discriminator is not None:
            out["discriminator"] = count_parameters(self.discriminator)
        return out

    @torch.no_grad()
    def recalibrate_batchnorm(self, batches: int = 20, batch_size: int | None = None, seed: int = 0) -> None:
        """Set every BatchNorm's running statistics to the exact average over ``batches`` fresh noise
        batches of the current weights (the moving average lags behind weights that still change)."""
        from chemaccel.gan.layers import GroupedBatchNorm

        norms = [m for m in self.generator.modules() if isinstance(m, GroupedBatchNorm)]
        if not norms:
            return
        b = batch_size or self.config.per_generator_batch
        gen = torch.Generator().manual_seed(seed)
        sums = [(torch.zeros_like(m.running_mean), torch.zeros_like(m.running_var)) for m in norms]
        was_training = self.training
        self.generator.train()
        saved = [m.momentum for m in norms]
        try:
            for _ in range(batches):
                for m in norms:
                    m.momentum = 1.0  # running stats := this batch's stats
                self.generator(torch.randn(self.config.n_generators, b, self.config.noise_dim, generator=gen))
                for (sm, sv), m in zip(sums, norms):
                    sm += m.running_mean
                    sv += m.running_var
            for (sm, sv), m in zip(sums, norms):
                m.running_mean.copy_(sm / batches)
                m.running_var.copy_(sv / batches)
        finally:
            for m, mom in zip(norms, saved):
                m.momentum = mom
            self.train(was_training)

    @torch.no_grad()
    def generate(self, n: int, seed: int | None = None, batched: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples from the mixture of generators.

        Args:
            n: number of samples.
            seed: seed of the noise (None: torch's global generator).
            batched: run the K generators in one pass (False: one after another; same numbers).

        Returns:
            samples (n, dim) on the CPU (graphs: per-atom and per-bond probabilities, or one-hot graphs drawn
            at ``sample_temperature`` > 0, with valence masks when ``valence_mask``, fragments joined when
            also ``connect_fragments``) and the index of the
            generator that made each sample (n,).
        """
        k = self.config.n_generators
        counts = split_counts(n, k)
        per = max(counts)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(k, per, self.config.noise_dim, generator=gen)
        was_training = self.training
        self.eval()
        try:
            raw = self.generator(z) if batched else self.generator.forward_sequential(z)
        finally:
            self.train(was_training)
        raw = raw.cpu()
        parts = [raw[i, :c] for i, c in enumerate(counts)]
        ids = torch.cat([torch.full((c,), i, dtype=torch.long) for i, c in enumerate(counts)])
        temperature = self.sample_temperature if self.spec.kind == "qm9" else 0.0
        # the draws are seeded with the noise (seed None: torch's global generator for both)
        draws = torch.Generator().manual_seed(seed + 1) if temperature > 0 and seed is not None else None
        if temperature > 0 and self.valence_mask:
            from chemaccel.gan.valence import draw_valence_masked

            samples = draw_valence_masked(torch.cat(parts, dim=0), self.spec.max_atoms, temperature, draws,
                                          connect=self.connect_fragments)
        else:
            samples = self.spec.postprocess(torch.cat(parts, dim=0), training=False, temperature=temperature,
                                            generator=draws)
        return samples, ids

    def sample_smiles(self, n: int, seed: int | None = 0) -> list[str | None]:
        """Decode ``n`` generated graphs to canonical SMILES (None for an invalid graph). Graph models only."""
        from chemaccel.gan.molgraph import decode_all

        if self.spec.kind != "qm9":
            raise ValueError(f"a {self.spec.kind} model does not generate molecules")
        samples, _ = self.generate(n, seed)
        return decode_all(samples.numpy(), self.spec.max_atoms)

    def molecule_metrics(self, smiles: Sequence[str | None]) -> dict[str, Any]:
        """Validity, uniqueness, novelty (against this model's training molecules) and internal diversity
        of decoded samples (None = invalid), e.g. the ones a user just drew."""
        from chemaccel.gan.distribution import internal_diversity
        from chemaccel.gan.molgraph import molecule_metrics

        hashes = self.train_hashes if self.train_hashes is not None else np.zeros(0, dtype=np.int64)
        return {**molecule_metrics(smiles, hashes), "internal_diversity": internal_diversity(smiles)}

    def in_training_set(self, smiles: Sequence[str]) -> list[bool]:
        """Whether each canonical SMILES is one of this model's training molecules (False for all when the
        model folder keeps no training hashes)."""
        from chemaccel.gan.molgraph import in_training_set

        if self.train_hashes is None:
            return [False] * len(smiles)
        return [bool(b) for b in in_training_set(list(smiles), self.train_hashes)]

    def unique_smiles(self, n: int, seed: int = 0, max_samples: int | None = None,
                      on_progress: Any = None) -> tuple[list[str], int]:
        """Up to ``n`` distinct valid molecules, in the order first made, sampling in rounds (round r uses
        seed ``seed + r``) until there are ``n`` or ``max_samples`` samples (default ``20 * n``) have been
        drawn, or a round brings no new molecule. Returns the molecules and the number of samples drawn
        (fewer than ``n`` molecules: the model cannot make that many within the budget).

        Args:
            on_progress: called as ``on_progress(found, samples_drawn)`` after each round.
        """
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        budget = max_samples if max_samples is not None else 20 * n
        found: dict[str, None] = {}
        drawn, rnd = 0, 0
        while len(found) < n and drawn < budget:
            size = min(max(n - len(found), 1000), budget - drawn)
            before = len(found)
            for smi in self.sample_smiles(size, seed=seed + rnd):
                if smi and len(found) < n:
                    found.setdefault(smi, None)
            drawn, rnd = drawn + size, rnd + 1
            if on_progress is not None:
                on_progress(len(found), drawn)
            if len(found) == before:
                break
        return list(found), drawn

    def evaluate(self, n: int | None = None, seed: int = 0, reference: Sequence[str] | None = None,
                 distribution: bool = False) -> dict[str, Any]:
        """Metrics of ``n`` samples (default ``config.eval_samples``).

        Toys: ``n_modes_captured``, ``high_quality``, ``reverse_kl`` (+ counts per mode and per generator).
        Graphs: ``validity``, ``uniqueness``, ``novelty`` (against the training molecules); with
        ``distribution`` also uniqueness at 1,000 and 10,000 samples (where ``n`` reaches them) and the
        internal diversity; with ``reference`` SMILES (e.g. the test split) also the Fréchet ChemNet
        Distance (when ``fcd_torch`` is installed) and the Wasserstein distances of QED, logP, SA score,
        weight and heavy-atom count (:mod:`chemaccel.gan.distribution`). Vectors: mean and std.
        """
        n = n or self.config.eval_samples
        if self.spec.kind in ("ring8", "grid25"):
            from chemaccel.gan.metrics import mode_metrics
            from chemaccel.gan.toy import toy_means, toy_std

            samples, ids = self.generate(n, seed)
            out = mode_metrics(samples.numpy(), toy_means(self.spec.kind), toy_std(self.spec.kind))
            return {"data": self.spec.kind, **out}
        if self.spec.kind == "qm9":
            from chemaccel.gan.molgraph import molecule_metrics

            hashes = self.train_hashes if self.train_hashes is not None else np.zeros(0, dtype=np.int64)
            smiles = self.sample_smiles(n, seed)
            out = {"data": "qm9", **molecule_metrics(smiles, hashes)}
            if distribution or reference is not None:
                out.update(distribution_metrics(smiles, reference))
            return out
        samples, _ = self.generate(n, seed)
        return {"data": "vectors", "n_samples": n, "mean": samples.mean(0).tolist(), "std": samples.std(0).tolist()}
