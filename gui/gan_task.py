"""The tasks behind the GAN panel: train a toy GAN (ring / grid), and sample a GAN model folder.

Training calls :func:`chemaccel.api.train_gan` with checkpoints in a work folder (a cancel keeps the last
one); both tasks then draw samples from the model: 2-D points with the generator that made each one,
or, for a molecular model, SMILES with depictions drawn here, off the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chemaccel import api

N_POINTS = 2000
MOLECULE_PNG = (170, 120)


@dataclass
class GanSamples:
    """Samples of a GAN model: ``points`` (n, 2) and ``generators`` (n,) for a 2-D model; ``smiles``
    (None: invalid) and ``pngs`` for a molecular one."""

    kind: str
    points: Any = None
    generators: Any = None
    smiles: list[str | None] = field(default_factory=list)
    pngs: list[bytes | None] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)  # molecular: validity, uniqueness, novelty, ...

    @property
    def n_valid(self) -> int:
        return sum(s is not None for s in self.smiles)


@dataclass
class GanTraining:
    """A finished (or cancelled) training job: the engine's result and samples of its model."""

    result: Any  # chemaccel.gan.GanResult
    samples: GanSamples
    work: Path


def model_kind(path: str | Path) -> str:
    """The data kind a GAN model folder generates (``ring8``, ``grid25``, ``vectors``, ``qm9``)."""
    info = api.expect_engine(api.read_model_info(path), "gan", path)
    return str(info.config.get("data", ""))


def draw_samples(model: Any, n: int, seed: int = 0) -> GanSamples:
    """``n`` samples of a loaded :class:`chemaccel.gan.GanModel`."""
    kind = model.spec.kind
    if kind == "qm9":
        smiles = model.sample_smiles(n, seed=seed)
        pngs = []
        for text in smiles:
            try:
                pngs.append(api.depict_png(text, MOLECULE_PNG) if text else None)
            except api.ChemAccelError:
                pngs.append(None)
        return GanSamples(kind, smiles=list(smiles), pngs=pngs, metrics=model.molecule_metrics(smiles))
    samples, ids = model.generate(n, seed=seed)
    return GanSamples(kind, points=samples.numpy()[:, :2], generators=ids.numpy())


def sample_model(reporter: api.Reporter, path: Path, n: int, seed: int = 0) -> GanSamples:
    """Load a GAN model folder and draw ``n`` samples."""
    model_kind(path)
    reporter.on_start(f"Sampling {Path(path).name}", None)
    model = api.load_model(path)
    return draw_samples(model, n, seed)


def train_toy(reporter: api.Reporter, config: Any, work: Path, device: str = "cpu",
              resume: bool = False) -> GanTraining:
    """Train on a 2-D mixture with checkpoints in ``work``; then sample the model."""
    runtime = api.RuntimeConfig(device=device, seed=0)
    result = api.train_gan(config, None, reporter, runtime=runtime, checkpoint_dir=work, resume=resume)
    return GanTraining(result, draw_samples(result.model, N_POINTS), work)
