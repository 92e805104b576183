"""Training data for the GAN: PacGAN's 2-D mixtures, user vectors, or QM9 molecular graphs.

:func:`load_training_data` turns a :class:`~chemaccel.gan.config.GanConfig` (and, for ``vectors`` and
``qm9``, what the caller hands over) into a float32 tensor ``(n, dim)`` plus a :class:`DataSpec` that the
model folder keeps, so sampling and evaluation know what the samples mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from chemaccel.datasets.qm9 import split_subset
from chemaccel.errors import ConfigError, InputError
from chemaccel.gan.config import GanConfig
from chemaccel.gan.molgraph import ATOM_TYPES, BOND_TYPES, EncodeReport, encode_smiles, graph_dims, hash_set, to_onehot
from chemaccel.gan.toy import sample_mixture


@dataclass(frozen=True)
class DataSpec:
    """What a sample is: its kind and size (and, for graphs, the atom limit)."""

    kind: str
    dim: int
    max_atoms: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "dim": self.dim}
        if self.kind == "qm9":
            out.update(max_atoms=self.max_atoms, atom_types=list(ATOM_TYPES), bond_types=list(BOND_TYPES))
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DataSpec:
        return cls(kind=str(values["kind"]), dim=int(values["dim"]), max_atoms=int(values.get("max_atoms", 0)))

    def postprocess(self, raw: torch.Tensor, training: bool, tau: float = 1.0,
                    sampling: str = "gumbel", temperature: float = 0.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Generator output -> sample. Graphs: in training a straight-through one-hot per atom and per
        bond (``sampling``: ``gumbel`` draws it with Gumbel-softmax from ``softmax(raw / temperature)``
        (``temperature`` 0 counts as 1), ``argmax`` takes the most likely type); outside training the
        softmax probabilities, or with ``temperature`` > 0 a one-hot draw from ``softmax(raw / temperature)``
        (seeded by ``generator``): the graphs that sampling decodes. Other kinds unchanged."""
        if self.kind != "qm9":
            return raw
        a_size, _, _ = graph_dims(self.max_atoms)
        n = raw.shape[0]
        atoms = raw[:, :a_size].reshape(n, self.max_atoms, len(ATOM_TYPES))
        bonds = raw[:, a_size:].reshape(n, -1, len(BOND_TYPES))
        scale = temperature if temperature > 0 else 1.0
        if training and sampling == "argmax":
            atoms, bonds = straight_through_argmax(atoms, tau), straight_through_argmax(bonds, tau)
        elif training:
            atoms = F.gumbel_softmax(atoms / scale, tau=tau, hard=True, dim=-1)
            bonds = F.gumbel_softmax(bonds / scale, tau=tau, hard=True, dim=-1)
        elif temperature > 0:
            atoms, bonds = draw_onehot(atoms / scale, generator), draw_onehot(bonds / scale, generator)
        else:
            atoms, bonds = atoms.softmax(-1), bonds.softmax(-1)
        return torch.cat([atoms.reshape(n, -1), bonds.reshape(n, -1)], dim=1)


def draw_onehot(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One-hot draws from ``softmax(logits)`` over the last axis (seeded by ``generator``)."""
    probs = logits.float().softmax(-1).reshape(-1, logits.shape[-1])
    index = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return F.one_hot(index, logits.shape[-1]).to(logits.dtype).reshape(logits.shape)


def straight_through_argmax(logits: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """One-hot of the most likely type forward; the gradient of ``softmax(logits / tau)`` backward."""
    soft = (logits / tau).softmax(-1)
    hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft  # torch's gumbel_softmax(hard=True) order; equal to hard up to rounding


@dataclass
class TrainingData:
    """Samples to train on and what they are.

    Attributes:
        spec: the :class:`DataSpec`.
        samples: float32 (n, dim) on the CPU.
        train_hashes: sorted int64 hashes of the training SMILES (graphs only, for novelty).
        report: what encoding kept and skipped (graphs only).
    """

    spec: DataSpec
    samples: torch.Tensor
    train_hashes: np.ndarray | None = None
    report: EncodeReport | None = None


def load_training_data(config: GanConfig, data: Any = None, seed: int = 0) -> TrainingData:
    """Build the training set for ``config``.

    Args:
        config: the run's config (``data``, ``n_train``, ``max_atoms``, ``batch_size``).
        data: ``vectors``: an array or tensor (n, d); ``qm9``: a molecule store path (its ``train`` split
            when it has one) or a sequence of SMILES; toys: must be None.
        seed: seed of the toy training set.

    Raises:
        ConfigError / InputError: wrong kind of data, an empty or too small set, non-finite values.
    """
    if config.is_toy:
        if data is not None:
            raise ConfigError(f"data {config.data!r} is generated; do not pass a data set")
        samples = torch.from_numpy(sample_mixture(config.data, config.n_train, seed))
        return TrainingData(DataSpec(config.data, 2), _check_size(samples, config, config.data))
    if config.data == "vectors":
        if data is None:
            raise ConfigError("data 'vectors' needs a data set: an array or tensor of shape (n, d)")
        samples = torch.as_tensor(np.asarray(data, dtype=np.float32) if not isinstance(data, torch.Tensor) else data)
        samples = samples.detach().float().cpu()
        if samples.dim() != 2:
            raise InputError("<vectors>", f"expected a 2-D array (n, d), got shape {tuple(samples.shape)}")
        if not torch.isfinite(samples).all():
            raise InputError("<vectors>", "the data set contains NaN or infinite values")
        return TrainingData(DataSpec("vectors", int(samples.shape[1])), _check_size(samples, config, "<vectors>"))
    return _load_graphs(config, data)


def _check_size(samples: torch.Tensor, config: GanConfig, label: str) -> torch.Tensor:
    if len(samples) == 0:
        raise InputError(label, "the data set is empty")
    if len(samples) < config.batch_size:
        raise InputError(label, f"the data set is too small: {len(samples)} samples, fewer than one batch "
                                f"(batch_size={config.batch_size})")
    return samples


def _load_graphs(config: GanConfig, data: Any) -> TrainingData:
    if data is None:
        raise ConfigError("data 'qm9' needs a molecule store (chemaccel data qm9 -o qm9.h5) or a list of SMILES")
    label = "<smiles>"
    if isinstance(data, (str, Path)):
        smiles, label = store_smiles(Path(data)), str(data)
    elif isinstance(data, Sequence):
        smiles = [str(s) for s in data]
    else:
        raise ConfigError(f"data 'qm9' must be a store path or a list of SMILES, got {type(data).__name__}")
    if config.n_train < len(smiles):  # a fixed random subset: a prefix of QM9's order is a biased sample
        smiles = [smiles[i] for i in split_subset(np.arange(len(smiles)), config.n_train)]
    atoms, bonds, kept, report = encode_smiles(smiles, config.max_atoms)
    if report.kept == 0:
        raise InputError(label, f"no usable molecules (empty set, or all {report.skipped} skipped: "
                                f"{report.too_many_atoms} above {config.max_atoms} heavy atoms, "
                                f"{report.unparsable} unparsable, {report.unsupported} charged/unsupported)")
    samples = torch.from_numpy(to_onehot(atoms, bonds))
    spec = DataSpec("qm9", int(samples.shape[1]), config.max_atoms)
    return TrainingData(spec, _check_size(samples, config, label), hash_set(kept), report)


def store_smiles(path: Path, split: str = "train") -> list[str]:
    """The SMILES of a molecule store's ``split`` (all molecules when the store has no splits)."""
    from chemaccel.chem.store import MoleculeStore

    with MoleculeStore.open(path) as store:
        splits = store.splits()
        smiles: list[str] = []
        for batch in store.iter_batches(8192):
            smiles.extend(batch.smiles)
        if split in splits:
            smiles = [smiles[i] for i in splits[split]]
    if any(not s for s in smiles[:100]):
        raise InputError(path, "the store has molecules without SMILES; graphs are built from SMILES")
    return smiles
