"""GanConfig: every setting of a parallel orthogonal multi-generator GAN run, validated when built.

The model (see :mod:`chemaccel.gan.generator`) is ``n_generators`` (K) generators that share all but their
first ``private_layers`` linear layers, one discriminator with a K-way classifier head (MGAN, Hoang et al.
ICLR 2018) that tells the generators apart, and an orthogonality term of weight ``ortho_weight`` that
pushes the generators apart. K=1 is a plain GAN (no classifier, no orthogonality term).

Defaults follow PacGAN's synthetic-data experiment (Lin et al. 2018, github fjxmlzn/PacGAN): generator
4 hidden layers x 400 with BatchNorm and ReLU, 2-D Gaussian noise; discriminator 3 hidden LinearMaxout
layers x 200 with 5 pieces; weights N(0, 0.02); Adam lr 1e-4, beta1 0.8; batch 100; 100,000 training
samples; 2,500 samples for evaluation.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from chemaccel.config_base import config_from_dict
from chemaccel.errors import ConfigError

DATA_KINDS = ("ring8", "grid25", "vectors", "qm9")
TOY_KINDS = ("ring8", "grid25")
ORTHO_ON = ("features", "outputs", "weights")
GRAPH_SAMPLING = ("gumbel", "argmax")
_DEVICE_RE = re.compile(r"^(cpu|cuda)(?::\d+)?$")


@dataclass(frozen=True)
class GanConfig:
    """Settings of one GAN run.

    Attributes:
        data: ``ring8`` or ``grid25`` (PacGAN's 2-D mixtures), ``vectors`` (a tensor you pass in), or
            ``qm9`` (MolGAN-style molecular graphs from a molecule store).
        n_generators: K >= 1 generators; 1 is a plain GAN.
        private_layers: how many of the generator's first linear layers each generator owns (>= 1 when
            K > 1); the rest are shared by all K ("shared memory").
        noise_dim: size of the Gaussian noise vector z.
        gen_hidden: width of each generator hidden layer.
        gen_layers: number of generator hidden layers (each Linear -> BatchNorm -> ReLU).
        disc_hidden: width of each discriminator hidden layer.
        disc_layers: number of discriminator hidden LinearMaxout layers.
        maxout_pieces: pieces per maxout unit.
        classifier_weight: weight (MGAN's beta) of the generator-classifier cross-entropy, K > 1 only.
        ortho_weight: weight of the orthogonality term, K > 1 only (0 disables it).
        ortho_on: ``features`` (hidden features after the private layers), ``outputs`` (generated
            samples, centred per generator) or ``weights`` (the private first-layer weights).
        lr: Adam learning rate of both networks.
        lr_final: learning rate at the last step as a fraction of ``lr`` (linear decay; 1 = constant).
        beta1, beta2: Adam betas.
        batch_size: real samples per step; the K generators make ``ceil(batch_size / K)`` samples each.
        steps: training steps (one discriminator and one generator update each).
        n_train: toys: size of the training set drawn once from the mixture. ``qm9``: at most this many
            molecules of the store's train split, a fixed random subset (the same for every run; the whole
            split when it has no more). Not the first ``n_train``: a store keeps QM9's order, so a prefix
            leaves out a structured block of molecules, which novelty would then count as new.
        eval_samples: samples drawn for evaluation (2,500 for toys, 10,000 for molecules).
        init_std: standard deviation of the initial weights.
        private_shift_std: standard deviation of the random initial shift of the private BatchNorm layers
            (K > 1): each generator starts with a different set of active units, which breaks the symmetry
            that otherwise lets all K collapse onto the same modes (0 = all shifts start at 0).
        bn_momentum: momentum of the BatchNorm running statistics (used when sampling).
        bn_stats: ``per_generator`` (each generator's BatchNorm statistics from its own samples: the batched
            pass equals K separate passes in training too) or ``joint`` (shared layers use the statistics of
            all K * B samples: steadier when ``batch_size / K`` is small).
        checkpoint_every: steps between training checkpoints.
        log_every: steps between progress reports.
        eval_every: steps between evaluations reported as progress metrics (0: only at the end).
        divergence_limit: a loss above this (or NaN/inf) stops training as diverged.
        max_atoms: heavy-atom limit for ``qm9``; larger molecules are skipped and counted.
        gumbel_tau: temperature of the straight-through Gumbel-softmax for molecular graphs.
        graph_sampling: how training turns a generator's atom and bond scores into the one-hot graph the
            discriminator sees: ``gumbel`` (straight-through Gumbel-softmax: a random draw) or ``argmax``
            (straight-through argmax: exactly the graph ``sample`` decodes, so diversity has to come from z).
        diversity_weight: weight of a mode-seeking term (Mao et al. 2019, MSGAN) on each generator's
            outputs (atom and bond probabilities for graphs): the inverse of how far two samples of one
            generator are apart per unit of distance between their noise vectors. 0 disables it.
        connectivity_weight: weight of a connectivity term for molecular graphs
            (:mod:`chemaccel.gan.connectivity`): it penalizes generated graphs whose decoded molecule is in
            several fragments, the commonest invalid graph. 0 disables it.
        novelty_weight: weight of a learnt novelty critic for molecular graphs (MolGAN's reward network
            aimed at novelty; :class:`chemaccel.gan.discriminator.Discriminator`): the generators are
            penalized by ``-log(1 - p)``, p the critic's probability that a decoded graph is invalid or a
            training molecule. Costs an rdkit decode of each step's samples. 0 disables it.
        valence_weight: weight of a valence term for molecular graphs (:mod:`chemaccel.gan.valence`): the
            mean bond-order excess over the atoms' valences in the graphs that sampling decodes. 0 disables it.
        sample_temperature: molecular graphs: 0 = sampling decodes each atom and bond as its most likely type
            (argmax: a deterministic function of z, which collapses onto few molecules); T > 0 = sampling
            draws each type from ``softmax(scores / T)`` (noise that reaches the discrete graph), and
            training judges exactly such draws: the discriminator, the novelty critic and the connectivity
            term see the drawn graphs (needs ``graph_sampling`` gumbel).
        decode_temperature: the temperature of sampling when it differs from the training draws'
            ``sample_temperature`` (0 = the same); lower trades distinct molecules for validity.
        valence_mask: sampling (not training) draws each graph with valence masks
            (:func:`chemaccel.gan.valence.draw_valence_masked`): bonds most likely first, each from the types
            that both atoms' remaining valence can carry. Needs ``sample_temperature`` > 0.
        connect_fragments: with ``valence_mask``, sampling then joins a graph's fragments with single bonds
            where both atoms have a free valence, the pair the generator most wants bonded first
            (:func:`chemaccel.gan.valence.join_fragments`).
        repeat_memory: with the novelty critic: it also counts as bad a molecule that is among the last
            ``repeat_memory`` molecules the generators made (or earlier in the same batch), so that its
            penalty grows with how often a molecule comes out (:mod:`chemaccel.gan.recent`): a reward for
            molecules not yet produced, against mode collapse inside each generator. 0 disables it.
        placement: devices for generator groups (model parallelism), e.g. ``("cuda:0", "cuda:1")``; the K
            generators are split into that many contiguous groups. Empty: all on the run's device, batched.
        shared_device: device of the shared layers and discriminator when ``placement`` is set ("" = the
            first placement device).
    """

    data: str = "ring8"
    n_generators: int = 1
    private_layers: int = 1
    noise_dim: int = 2
    gen_hidden: int = 400
    gen_layers: int = 4
    disc_hidden: int = 200
    disc_layers: int = 3
    maxout_pieces: int = 5
    classifier_weight: float = 0.125
    ortho_weight: float = 0.1
    ortho_on: str = "features"
    lr: float = 1e-4
    lr_final: float = 1.0
    beta1: float = 0.8
    beta2: float = 0.999
    batch_size: int = 100
    steps: int = 10000
    n_train: int = 100000
    eval_samples: int = 2500
    init_std: float = 0.02
    private_shift_std: float = 0.5
    bn_momentum: float = 0.05
    bn_stats: str = "joint"
    checkpoint_every: int = 1000
    log_every: int = 50
    eval_every: int = 0
    divergence_limit: float = 1e3
    max_atoms: int = 9
    gumbel_tau: float = 1.0
    graph_sampling: str = "gumbel"
    diversity_weight: float = 0.0
    connectivity_weight: float = 0.0
    novelty_weight: float = 0.0
    valence_weight: float = 0.0
    sample_temperature: float = 0.0
    decode_temperature: float = 0.0
    valence_mask: bool = False
    connect_fragments: bool = False
    repeat_memory: int = 0
    placement: tuple[str, ...] = ()
    shared_device: str = ""

    def __post_init__(self) -> None:
        if self.data not in DATA_KINDS:
            raise ConfigError(f"unknown data {self.data!r}: choose one of {', '.join(DATA_KINDS)}")
        _int(self, "n_generators", 1, what="K (n_generators) must be at least 1")
        _int(self, "private_layers", 0)
        for name in ("noise_dim", "gen_hidden", "gen_layers", "disc_hidden", "disc_layers", "maxout_pieces",
                     "batch_size", "steps", "n_train", "eval_samples", "checkpoint_every", "log_every"):
            _int(self, name, 1)
        _int(self, "max_atoms", 2)
        _int(self, "eval_every", 0)
        _int(self, "repeat_memory", 0)
        if self.private_layers > self.gen_layers + 1:
            raise ConfigError(f"private_layers={self.private_layers} exceeds the generator's "
                              f"{self.gen_layers + 1} linear layers")
        if self.n_generators > 1 and self.private_layers < 1:
            raise ConfigError("private_layers must be >= 1 when n_generators > 1 (else the generators are identical)")
        if self.bn_stats not in ("per_generator", "joint"):
            raise ConfigError(f"unknown bn_stats {self.bn_stats!r}: choose per_generator or joint")
        if self.ortho_on not in ORTHO_ON:
            raise ConfigError(f"unknown ortho_on {self.ortho_on!r}: choose one of {', '.join(ORTHO_ON)}")
        if self.graph_sampling not in GRAPH_SAMPLING:
            raise ConfigError(f"unknown graph_sampling {self.graph_sampling!r}: choose one of "
                              f"{', '.join(GRAPH_SAMPLING)}")
        for name in ("classifier_weight", "ortho_weight", "private_shift_std", "diversity_weight",
                     "connectivity_weight", "novelty_weight"):
            _float(self, name, 0.0)
        _float(self, "valence_weight", 0.0)
        for name in ("connectivity_weight", "novelty_weight", "valence_weight"):
            if getattr(self, name) > 0 and self.data != "qm9":
                raise ConfigError(f"{name} applies to molecular graphs (data qm9), not {self.data!r}")
        _float(self, "sample_temperature", 0.0)
        _float(self, "decode_temperature", 0.0)
        if not isinstance(self.valence_mask, bool):
            raise ConfigError(f"valence_mask must be true or false, got {self.valence_mask!r}")
        if not isinstance(self.connect_fragments, bool):
            raise ConfigError(f"connect_fragments must be true or false, got {self.connect_fragments!r}")
        if self.connect_fragments and not self.valence_mask:
            raise ConfigError("connect_fragments joins the fragments of valence-masked draws: set valence_mask")
        if (self.valence_mask or self.decode_temperature > 0) and self.sample_temperature <= 0:
            raise ConfigError("valence_mask and decode_temperature apply to drawn graphs: set sample_temperature > 0")
        if self.sample_temperature > 0 and (self.data != "qm9" or self.graph_sampling != "gumbel"):
            raise ConfigError("sample_temperature draws molecular graphs: it needs data qm9 and "
                              "graph_sampling gumbel (training must see the same draws)")
        if self.repeat_memory > 0 and (self.data != "qm9" or self.novelty_weight <= 0):
            raise ConfigError("repeat_memory is a memory of the novelty critic: it needs data qm9 and "
                              "novelty_weight > 0")
        for name in ("lr", "init_std", "gumbel_tau", "divergence_limit"):
            _float(self, name, 0.0, strict=True)
        if _float(self, "lr_final", 0.0) > 1.0:
            raise ConfigError(f"lr_final must be in [0, 1], got {self.lr_final!r}")
        for name in ("beta1", "beta2", "bn_momentum"):
            value = _float(self, name, 0.0)
            if value >= 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
        if self.bn_momentum <= 0:
            raise ConfigError("bn_momentum must be in (0, 1)")
        if isinstance(self.placement, (list, str)):
            object.__setattr__(self, "placement", tuple([self.placement] if isinstance(self.placement, str)
                                                        else self.placement))
        for dev in self.placement + ((self.shared_device,) if self.shared_device else ()):
            if not isinstance(dev, str) or not _DEVICE_RE.match(dev.strip().lower()):
                raise ConfigError(f"placement device {dev!r} is not cpu, cuda or cuda:N")
        if len(self.placement) > self.n_generators:
            raise ConfigError(f"placement lists {len(self.placement)} devices for only {self.n_generators} generators")
        if self.shared_device and not self.placement:
            raise ConfigError("shared_device needs placement (the generator groups' devices)")

    @property
    def per_generator_batch(self) -> int:
        """Samples each generator makes per step: ``ceil(batch_size / K)``."""
        return math.ceil(self.batch_size / self.n_generators)

    @property
    def is_toy(self) -> bool:
        return self.data in TOY_KINDS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``from_dict`` reads it back)."""
        out = dataclasses.asdict(self)
        out["placement"] = list(self.placement)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> GanConfig:
        """Build from a dict, rejecting unknown keys with one line that names them."""
        return config_from_dict(cls, values, "GAN")

    def replace(self, **changes: Any) -> GanConfig:
        """A copy with ``changes`` (validated)."""
        return GanConfig.from_dict({**self.to_dict(), **changes})


def _int(cfg: GanConfig, name: str, minimum: int, what: str | None = None) -> int:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(what + f", got {value!r}" if what else f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _float(cfg: GanConfig, name: str, minimum: float, strict: bool = False) -> float:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (strict and value <= minimum):
        raise ConfigError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    object.__setattr__(cfg, name, float(value))
    return float(value)
