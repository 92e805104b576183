"""A short, headless tour of the foundation, and the smallest real training loop of the package.

``chemaccel demo`` reads the example molecule files (bad records listed, good ones kept), embeds a
few molecules in 3D, trains a small fingerprint MLP to predict Crippen logP with Lightning Fabric (the
same loop runs on the CPU, one GPU, or under ``torchrun`` as DDP), saves it as a model folder,
reloads it and checks the predictions agree. The engines' own steps join the demo as they land.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from chemaccel.checkpoint import ModelInfo, load_model_folder, save_model_folder
from chemaccel.chem.molecules import read_molecules
from chemaccel.errors import ChemAccelError, ConfigError, InputError
from chemaccel.reporting import NullReporter, Reporter
from chemaccel.runtime import RuntimeConfig, describe_device, make_fabric, resolve_device

FP_BITS = 512


def morgan_fingerprints(smiles: Sequence[str], n_bits: int = FP_BITS, radius: int = 2) -> np.ndarray:
    """Morgan (ECFP4-like) bit vectors, shape (n, n_bits), float32."""
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(smiles), n_bits), dtype=np.float32)
    for i, smi in enumerate(smiles):
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            raise InputError("<smiles>", f"cannot parse SMILES {smi!r}", i + 1)
        DataStructs.ConvertToNumpyArray(gen.GetFingerprint(mol), out[i])
    return out


class FingerprintMLP(nn.Module):
    """fingerprint -> hidden -> hidden -> 1; the architecture is all in ``hidden`` and ``n_bits``."""

    def __init__(self, n_bits: int = FP_BITS, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_bits, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


@dataclass(frozen=True)
class FitConfig:
    """Training settings of the demo regressor."""

    hidden: int = 64
    epochs: int = 60
    batch_size: int = 16
    lr: float = 3e-3
    runtime: RuntimeConfig = field(default_factory=lambda: RuntimeConfig(device="cpu"))

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("hidden, epochs and batch_size must be positive")
        if not (0 < self.lr < 1):
            raise ConfigError(f"lr must be in (0, 1), got {self.lr}")


@dataclass(frozen=True)
class FitResult:
    model: FingerprintMLP
    losses: list[float]
    epochs_run: int
    cancelled: bool
    world_size: int


def fit_fingerprint_regressor(
    smiles: Sequence[str], targets: Sequence[float], config: FitConfig = FitConfig(), reporter: Reporter | None = None
) -> FitResult:
    """Train :class:`FingerprintMLP` with Lightning Fabric; stops early when the reporter asks."""
    reporter = reporter or NullReporter()
    if len(smiles) != len(targets) or len(smiles) < 2:
        raise ConfigError("need at least two molecules with one target each")
    fabric = make_fabric(config.runtime)
    x = torch.from_numpy(morgan_fingerprints(smiles))
    y = torch.tensor(list(targets), dtype=torch.float32)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=config.batch_size,
                                         shuffle=True)
    model = FingerprintMLP(x.shape[1], config.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    model, optimizer = fabric.setup(model, optimizer)
    loader = fabric.setup_dataloaders(loader)
    reporter.on_start("train fingerprint MLP", config.epochs)
    losses: list[float] = []
    cancelled = False
    for epoch in range(config.epochs):
        if reporter.should_stop():
            cancelled = True
            break
        total, count = torch.zeros((), device=fabric.device), torch.zeros((), device=fabric.device)
        for xb, yb in loader:
            loss = nn.functional.mse_loss(model(xb), yb)
            optimizer.zero_grad()
            fabric.backward(loss)
            optimizer.step()
            total += loss.detach() * len(yb)
            count += len(yb)
        mse = float(fabric.all_reduce(total, reduce_op="sum") / fabric.all_reduce(count, reduce_op="sum"))
        losses.append(mse)
        reporter.on_progress(epoch + 1, config.epochs, {"mse": mse})
    module = model.module if hasattr(model, "module") else model
    module = getattr(module, "module", module)  # unwrap DDP inside Fabric's wrapper
    return FitResult(module.to("cpu"), losses, len(losses), cancelled, fabric.world_size)


def save_regressor(path: Path, model: FingerprintMLP, metrics: dict[str, float]) -> Path:
    hidden = model.net[0].out_features
    info = ModelInfo(engine="demo-fingerprint-mlp", config={"hidden": hidden},
                     architecture={"n_bits": model.net[0].in_features, "hidden": hidden},
                     units={"logp": "log10 (octanol/water)"}, metrics=metrics)
    return save_model_folder(path, info, model)


def load_regressor(path: Path) -> FingerprintMLP:
    info, tensors = load_model_folder(path)
    model = FingerprintMLP(int(info.architecture["n_bits"]), int(info.architecture["hidden"]))
    model.load_state_dict(tensors)
    return model.eval()


@dataclass
class DemoStep:
    title: str
    lines: list[str]


def run_demo(workdir: Path, examples: Path, runtime: RuntimeConfig, reporter: Reporter | None = None) -> list[DemoStep]:
    """Run the tour; returns the steps with their printed lines (the CLI prints them)."""
    from rdkit.Chem import Crippen

    from chemaccel.chem.conformers import embed_3d

    reporter = reporter or NullReporter()
    steps: list[DemoStep] = []
    good, lines = [], []
    for name in ("molecules.smi", "with_errors.smi", "with_errors.sdf"):
        path = examples / name
        ok = bad = 0
        for rec in read_molecules(path):
            if rec.ok and rec.mol is not None:
                ok += 1
                good.append(rec)
            else:
                bad += 1
                lines.append(f"  skipped  {rec.error_line()}")
        lines.insert(len(lines) - bad, f"  {name}: {ok} molecules read, {bad} bad records")
    steps.append(DemoStep("1. Read molecule files (bad records are reported, good ones kept)", lines))

    lines = []
    for rec in good[:3]:
        res = embed_3d(rec.mol, seed=runtime.seed)
        lines.append(f"  {rec.smiles:<28} " + (f"{res.mol.GetNumAtoms()} atoms in 3D, MMFF energy {res.energy:.1f} kcal/mol"
                                               if res.error is None else f"failed: {res.error}"))
    steps.append(DemoStep("2. Embed in 3D (ETKDG + MMFF)", lines))

    by_smiles = {r.smiles: Crippen.MolLogP(r.mol) for r in good}
    uniq = sorted(by_smiles)
    targets = [by_smiles[s] for s in uniq]
    t0 = time.perf_counter()
    fit = fit_fingerprint_regressor(uniq, targets, FitConfig(runtime=runtime), reporter)
    seconds = time.perf_counter() - t0
    rmse = math.sqrt(fit.losses[-1])
    folder = save_regressor(workdir / "demo-logp-mlp", fit.model, {"train_rmse": rmse})
    reloaded = load_regressor(folder)
    x = torch.from_numpy(morgan_fingerprints(uniq))
    with torch.no_grad():
        same = torch.allclose(fit.model.eval()(x), reloaded(x), atol=1e-6)
    steps.append(DemoStep("3. Train a fingerprint MLP on Crippen logP with Lightning Fabric", [
        f"  {len(uniq)} molecules, {fit.epochs_run} epochs in {seconds:.1f} s on "
        f"{describe_device(resolve_device(runtime.device))} "
        f"(world size {fit.world_size}); train RMSE {rmse:.3f} (target std {float(np.std(targets)):.3f})",
        f"  saved to {folder} (config.json + model.safetensors); reloaded predictions identical: {same}",
    ]))

    from chemaccel.shipped import models_dir

    models = models_dir()
    steps.append(DemoStep("4. Prune a HOMO-LUMO gap model with AutoPrune (structured, 30 % FLOPs budget)",
                          prune_demo(examples / "qm9_gap_2k.csv", runtime, reporter)))

    steps.append(DemoStep("5. Predict HOMO-LUMO gaps from SMILES (pruned SchNet on ETKDG + MMFF geometries, "
                          "blended with a 2D graph member)",
                          gap_demo(examples / "molecules.smi", models / "qm9-gap-schnet-ff")))

    steps.append(DemoStep("6. Predict reaction products with the shipped low-capacity translator (top-3, beam search)",
                          reaction_demo(examples / "reactions.txt", models / "uspto-forward-reagents")))

    steps.append(DemoStep("7. The shipped NAS cell (DARTS + distillation) for Fashion-MNIST",
                          nas_demo(models / "nas-fashion")))

    steps.append(DemoStep("8. Sample molecules from the shipped QM9 generator (32 orthogonal generators, one pass)",
                          gan_demo(models / "gan-qm9")))
    return steps


def gan_demo(model_dir: Path, n: int = 2000, shown: int = 8) -> list[str]:
    """Sample ``n`` graphs from the shipped molecular GAN; its validity, uniqueness and novelty on them, and
    a few of the valid molecules (the novel ones marked)."""
    if not (model_dir / "config.json").is_file():
        return [f"  missing: no shipped molecular GAN at {model_dir} (scripts/train_shipped_gan.py --only qm9)"]
    from chemaccel.api import load_model

    try:
        model = load_model(model_dir)
        smiles = model.sample_smiles(n, seed=0)
    except ChemAccelError as exc:
        return [f"  skipped: {exc}"]
    m = model.molecule_metrics(smiles)
    lines = [f"  {n:,} samples from {model.config.n_generators} generators: validity {m['validity']:.3f}, "
             f"uniqueness {m['uniqueness']:.4f} ({m['n_unique']} distinct molecules), novelty {m['novelty']:.3f}"]
    distinct = sorted({s for s in smiles if s})[:shown]
    for s, known in zip(distinct, model.in_training_set(distinct)):
        lines.append(f"  {s:<28} {'in the training set' if known else 'novel'}")
    return lines


def _shipped_model(model_dir: Path) -> tuple[Any, list[str]]:
    """``(model, [])``, or ``(None, [the line saying why the step is skipped])`` when the folder is missing or
    its engine's extra (eole, schnetpack) is not installed."""
    from chemaccel.api import load_model

    if not (model_dir / "config.json").is_file():
        return None, [f"  skipped: no shipped model at {model_dir}"]
    try:
        return load_model(model_dir), []
    except ChemAccelError as exc:
        return None, [f"  skipped: {exc}"]


def reaction_demo(reactions_file: Path, model_dir: Path, k: int = 3) -> list[str]:
    """Top-``k`` products of the example reactions (reactant SMILES, one per line) with a shipped model."""
    model, skipped = _shipped_model(model_dir)
    if model is None:
        return skipped
    from chemaccel import api

    reactions = [api.reaction_of_line(line) for line in reactions_file.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    lines = []
    for row in model.predict(reactions, k=k):
        lines += api.reaction_text_lines(row)
    return lines + ["  (uspto-forward-reagents: reactions as chemists type them, reagents mixed in; its figures and the "
                    "confidence's calibration are in docs/benchmarks.md)"]


def nas_demo(model_dir: Path) -> list[str]:
    """The shipped NAS model's genotype and its recorded test accuracy, or a line saying it is missing."""
    if not (model_dir / "config.json").is_file():
        return [f"  missing: no shipped NAS model at {model_dir} (scripts/train_shipped_nas.py makes it)"]
    from chemaccel.api import load_model, read_model_info

    try:
        model, info = load_model(model_dir), read_model_info(model_dir)
    except ChemAccelError as exc:
        return [f"  skipped: {exc}"]
    lines = [f"  {line}" for line in model.genotype.describe().splitlines()]
    acc = info.metrics.get("test_accuracy")
    acc_text = f"test accuracy {acc:.4f}" if isinstance(acc, (int, float)) else "no recorded test accuracy"
    n = info.metrics.get("test_samples")
    if isinstance(n, int):
        acc_text += f" on {n:,} Fashion-MNIST test images"
    params = sum(p.numel() for p in model.parameters())
    return lines + [f"  {acc_text}; {params:,} parameters; skip connections per cell {model.genotype.skip_counts()}"]


def gap_demo(smiles_file: Path, model_dir: Path, n: int = 5) -> list[str]:
    """Predict the gap of the first ``n`` example molecules with a shipped property model."""
    model, skipped = _shipped_model(model_dir)
    if model is None:
        return skipped
    records = [r for r in itertools.islice(read_molecules(smiles_file), n)]
    rows = model.predict([r.smiles for r in records])
    lines = []
    for rec, row in zip(records, rows):
        text = row.status
        if row.ok:
            text = f"gap {row.values['gap']:.2f} eV"
            if "gap" in row.interval90:
                text += f" +- {row.interval90['gap']:.2f} (90 %)"
            if row.domain == "outside":
                text += f", outside the domain: {row.domain_reason}"
        lines.append(f"  {rec.name or rec.smiles:<16} {rec.smiles:<30} {text}")
    return lines + ["  (from the SMILES alone: force-field geometries, trained on QM9, molecules of up to 9 heavy atoms)"]


def prune_demo(csv_path: Path, runtime: RuntimeConfig, reporter: Reporter, n_valid: int = 400) -> list[str]:
    """Train a fingerprint MLP on QM9 gaps (2,000 molecules), prune it with AutoPrune, compare."""
    import copy

    from chemaccel.api import PruneConfig, measure_pruned, prune

    records = [r for r in read_molecules(csv_path) if r.ok]
    x = torch.from_numpy(morgan_fingerprints([r.smiles for r in records]))
    y = torch.tensor([float(r.props["gap_eV"]) for r in records], dtype=torch.float32)
    n_train = len(records) - n_valid
    torch.manual_seed(runtime.seed)
    dense = nn.Sequential(nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1),
                          nn.Flatten(0))
    opt = torch.optim.Adam(dense.parameters(), lr=3e-3)
    reporter.on_start("train dense gap model", 30)
    for epoch in range(30):
        for idx in torch.randperm(n_train).split(64):
            loss = nn.functional.mse_loss(dense(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        reporter.on_progress(epoch + 1, 30, {"mse": float(loss.detach())})
    config = PruneConfig(granularity="structured", target="flops", budget=0.3, lambda_init=0.1, gate_lr=1e-3,
                         epochs=12, finetune_epochs=4, loss="mse", batch_size=64, runtime=runtime)
    t0 = time.perf_counter()
    result = prune(copy.deepcopy(dense), (x[:n_train], y[:n_train]), config, reporter,
                   val_data=(x[n_train:], y[n_train:]))
    seconds = time.perf_counter() - t0
    rows = []
    for label, model in (("dense", dense), ("AutoPrune", result.model)):
        model.eval()
        with torch.no_grad():
            mae = float((model(x[n_train:]) - y[n_train:]).abs().mean())
        stats = measure_pruned(model, x[:1], reference=dense, latency_repeats=0)
        widths = [m.out_features for m in model if isinstance(m, nn.Linear)][:-1]
        rows.append(f"  {label:<10} hidden {str(widths):<11} {stats['params_nonzero']:>7,} params "
                    f"{stats['flops_fraction']:>7.1%} FLOPs   valid MAE {mae:.3f} eV")
    return [f"  {n_train} QM9 molecules to train, {n_valid} to validate (gap std {float(y.std()):.2f} eV); "
            f"pruned in {seconds:.1f} s", *rows]
