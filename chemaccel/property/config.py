"""``PropertyConfig``: every setting of a SchNet property model, its training and its pruning.

Frozen and typed; validated in ``__post_init__``; :meth:`PropertyConfig.from_dict` rejects unknown keys,
so a typo in a JSON file or a GUI form is an error, not a silently ignored setting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from chemaccel.config_base import config_from_dict
from chemaccel.errors import ConfigError

#: QM9 targets this engine knows, with their aggregation ("avg" for orbital energies, "sum" for U0).
TARGETS: dict[str, str] = {"homo": "avg", "lumo": "avg", "gap": "avg", "U0": "sum"}
PRUNE_METHODS = ("none", "attention", "gates", "magnitude")
LR_SCHEDULES = ("plateau", "cosine")


@dataclass(frozen=True)
class PropertyConfig:
    """SchNet hyperparameters, training loop and pruning settings.

    Attributes:
        targets: properties to predict (eV), a multi-target head when more than one (see :data:`TARGETS`).
        n_atom_basis: atom feature width.
        n_filters: filter kernels F per continuous-filter convolution (before pruning).
        n_interactions: interaction blocks.
        n_rbf: Gaussian radial basis functions on [0, cutoff].
        cutoff: cosine cutoff radius in Angstrom (also the neighbor list radius).
        batch_size: molecules per training step.
        lr: Adam learning rate of the weights.
        max_epochs: dense training epochs (an epoch = the training molecules once).
        patience: early stopping: epochs without a better validation MAE before stopping.
        lr_decay: factor applied to the learning rate when validation stalls for ``patience // 2`` epochs
            (``plateau`` schedule).
        lr_schedule: learning rate of the dense and fine-tuning phases: ``plateau`` (constant, times
            ``lr_decay`` on stalls) or ``cosine`` (from ``lr`` down to ``lr / 100`` over the phase: for the
            dense phase over ``max_epochs`` or ``time_limit_minutes``, whichever runs out first, so a
            time-limited run still anneals). The pruning phase keeps ``lr``.
        time_limit_minutes: wall-clock budget of the dense phase (summed over resumed runs); when spent,
            dense training ends as on early stopping and the run goes on to pruning. 0: no limit.
        limit_train: train on only N molecules of the training split, a fixed random subset (None: all;
            not the first N: a QM9 store's splits are in QM9's order, smallest molecules first).
        limit_valid: validate on only N molecules of the validation split, chosen the same way.
        prune: ``none``, ``attention`` (attention-driven AutoPrune gates), ``gates`` (plain AutoPrune
            gates, ablation) or ``magnitude`` (keep the kernels with the largest filter weights, ablation).
        budget: kept fraction of filter kernels (and of filter-network hidden units) after pruning.
        prune_epochs: epochs with gates (lambda ramps the kept fraction to ``budget``).
        finetune_epochs: epochs after the gates are frozen (or after magnitude pruning).
        gate_lr: Adam learning rate of the auxiliary gate parameters.
        lambda_init: starting regularizer weight (then steered to the budget).
        attention_hidden: hidden width of the kernel attention module.
        checkpoint_every: training steps between checkpoints (also written at every epoch end).
        num_workers: DataLoader worker processes (0: in the main process).
        geometry: the geometry set(s) trained on: ``dft`` (the store's own coordinates), a set made by
            ``chemaccel data embed`` (e.g. ``mmff``: what SMILES input looks like at prediction time), or
            several joined by ``+`` (``dft+mmff``: every training molecule once in each).
        valid_geometry: the geometry set validated (and selected) on; empty: the last of ``geometry``.
        position_noise: standard deviation in Angstrom of Gaussian noise on training coordinates (0: none).
    """

    targets: tuple[str, ...] = ("gap",)
    n_atom_basis: int = 128
    n_filters: int = 128
    n_interactions: int = 6
    n_rbf: int = 50
    cutoff: float = 5.0
    batch_size: int = 32
    lr: float = 5e-4
    max_epochs: int = 10
    patience: int = 6
    lr_decay: float = 0.5
    lr_schedule: str = "plateau"
    time_limit_minutes: float = 0.0
    limit_train: int | None = None
    limit_valid: int | None = None
    prune: str = "none"
    budget: float = 0.5
    prune_epochs: int = 2
    finetune_epochs: int = 2
    gate_lr: float = 1e-2
    lambda_init: float = 1e-3
    attention_hidden: int = 16
    checkpoint_every: int = 500
    num_workers: int = 0
    geometry: str = "dft"
    valid_geometry: str = ""
    position_noise: float = 0.0

    def __post_init__(self) -> None:
        targets = tuple(self.targets) if not isinstance(self.targets, str) else (self.targets,)
        object.__setattr__(self, "targets", targets)
        if not targets:
            raise ConfigError("targets must name at least one property")
        unknown = [t for t in targets if t not in TARGETS]
        if unknown:
            raise ConfigError(f"unknown target(s) {unknown}: choose from {', '.join(TARGETS)}")
        if len(set(targets)) != len(targets):
            raise ConfigError(f"targets repeat a name: {list(targets)}")
        for name in ("n_atom_basis", "n_filters", "n_interactions", "n_rbf", "batch_size", "max_epochs",
                     "attention_hidden", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("patience", "prune_epochs", "finetune_epochs", "num_workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
        for name in ("limit_train", "limit_valid"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer or None, got {value!r}")
        for name in ("cutoff", "lr", "gate_lr", "lambda_init"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"unknown lr_schedule {self.lr_schedule!r}: choose one of {', '.join(LR_SCHEDULES)}")
        if not isinstance(self.time_limit_minutes, (int, float)) or not self.time_limit_minutes >= 0:
            raise ConfigError(f"time_limit_minutes must be >= 0 (0: no limit), got {self.time_limit_minutes!r}")
        sets = self.geometry_sets
        if not sets or any(not g or "/" in g for g in sets) or len(set(sets)) != len(sets):
            raise ConfigError(f"geometry must name distinct geometry sets joined by '+', got {self.geometry!r}")
        if "/" in self.valid_geometry or "+" in self.valid_geometry:
            raise ConfigError(f"valid_geometry must name one geometry set, got {self.valid_geometry!r}")
        if not isinstance(self.position_noise, (int, float)) or not 0 <= self.position_noise < 1:
            raise ConfigError(f"position_noise must be in [0, 1) Angstrom, got {self.position_noise!r}")
        if self.prune not in PRUNE_METHODS:
            raise ConfigError(f"unknown prune method {self.prune!r}: choose one of {', '.join(PRUNE_METHODS)}")
        if not 0 < self.budget <= 1:
            raise ConfigError(f"budget (kept fraction of kernels) must be in (0, 1], got {self.budget!r}")

    @property
    def geometry_sets(self) -> list[str]:
        """The training geometry sets, in order."""
        return [g.strip() for g in str(self.geometry).split("+")]

    @property
    def valid_set(self) -> str:
        """The geometry set validated on."""
        return self.valid_geometry or self.geometry_sets[-1]

    def aggregation(self, target: str) -> str:
        """``avg`` for orbital energies, ``sum`` for extensive energies (U0)."""
        return TARGETS[target]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["targets"] = list(self.targets)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PropertyConfig":
        """Build from a mapping; unknown keys are a :class:`ConfigError` naming them."""
        return config_from_dict(cls, data, "property")

    def replace(self, **changes: Any) -> "PropertyConfig":
        return PropertyConfig.from_dict({**self.to_dict(), **changes})
