"""``chemaccel demo``: a short headless tour (used by ``make app`` where there is no display)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from chemaccel.cli.common import print_json
from chemaccel.errors import InputError
from chemaccel.reporting import TqdmReporter
from chemaccel.runtime import RuntimeConfig, distributed_env, resolve_device


def examples_dir() -> Path:
    """The shipped example files (the demo's input), installed with the package."""
    from chemaccel.shipped import examples_dir as shipped_examples

    return shipped_examples()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="a short headless tour: read molecule files, embed in 3D, train and reload a small model",
        description="A short tour of chemaccel that needs no display. Runs in well under a minute on a laptop CPU.",
        epilog="example:\n  chemaccel demo\n  chemaccel --device cpu demo --out demo-output\n"
               "  torchrun --nproc_per_node=2 -m chemaccel.cli --device cpu demo --train-only   # DDP on 2 CPU processes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=None, help="folder for the demo's model (default: a temporary folder)")
    p.add_argument("--examples", type=Path, default=None, help="folder of example molecule files")
    p.add_argument("--train-only", action="store_true", help="only the training step (for torchrun / DDP checks)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chemaccel.demo import run_demo

    examples = args.examples or examples_dir()
    if not examples.is_dir():
        raise InputError(examples, "example folder not found; pass --examples DIR")
    resolve_device(args.device)  # a clear error before any work when the device is missing
    runtime = RuntimeConfig(device=args.device, seed=args.seed)
    dist = distributed_env()
    rank0 = dist is None or dist["rank"] == 0
    reporter = TqdmReporter(disable=True if (args.json or not rank0) else None)
    with tempfile.TemporaryDirectory(prefix="chemaccel-demo-") as tmp:
        workdir = args.out or Path(tmp)
        if args.train_only:
            return _train_only(examples, runtime, reporter, args.json, rank0)
        steps = run_demo(workdir, examples, runtime, reporter)
        reporter.close()
        if args.json:
            print_json({"steps": [{"title": s.title, "lines": s.lines} for s in steps]})
        else:
            print("chemaccel demo\n")
            for step in steps:
                print(step.title)
                print("\n".join(step.lines) + "\n")
    return 0


def _train_only(examples: Path, runtime: RuntimeConfig, reporter, as_json: bool, rank0: bool) -> int:
    from rdkit.Chem import Crippen

    from chemaccel.chem.molecules import read_molecules
    from chemaccel.demo import FitConfig, fit_fingerprint_regressor

    by_smiles = {r.smiles: Crippen.MolLogP(r.mol) for r in read_molecules(examples / "molecules.smi") if r.mol}
    smiles = sorted(by_smiles)
    fit = fit_fingerprint_regressor(smiles, [by_smiles[s] for s in smiles], FitConfig(runtime=runtime), reporter)
    reporter.close()
    result = {"world_size": fit.world_size, "epochs": fit.epochs_run, "first_mse": fit.losses[0],
              "final_mse": fit.losses[-1]}
    if rank0 and as_json:
        print_json(result)
    elif rank0:
        print(f"trained on {len(smiles)} molecules, world size {fit.world_size}: "
              f"mse {fit.losses[0]:.3f} -> {fit.losses[-1]:.3f}")
    return 0
