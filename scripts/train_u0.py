"""Train the shipped U0 model (the energy behind the ASE calculator) from the pruned gap model's representation.

    OMP_NUM_THREADS=1 python scripts/train_u0.py --store qm9.h5 --epochs 6 -o resources/models/qm9-u0-schnet-pruned

The pruned gap model's interaction blocks (already pruned and compacted, so the U0 model has the same
small widths) are copied into a model with a fresh U0 head, whose standardization (per-atom mean and
std after QM9's atom references) comes from the training split; then every weight is trained on U0 of
the DFT geometries (``--geometry`` to change) with a cosine schedule, selecting on the validation split.
Resumable: the same command continues from ``<out>.work``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from chemaccel.property.config import PropertyConfig
from chemaccel.property.data import load_store, target_statistics
from chemaccel.property.model import PropertySchNet
from chemaccel.property.storage import load_property_model, save_property_model
from chemaccel.property.train import PropertyTrainer
from chemaccel.reporting import LoggingReporter
from chemaccel.runtime import RuntimeConfig


def warm_start(base: str, store: str, folder: Path, config: PropertyConfig) -> Path:
    """A U0 model folder with ``base``'s representation and a fresh, standardized U0 head."""
    gap, _ = load_property_model(base)
    arch = gap.architecture()
    arch.update(targets=["U0"], aggregation=["sum"])
    model = PropertySchNet(arch)
    model.representation.load_state_dict(gap.representation.state_dict())
    arrays = load_store(store, ["U0"])
    from chemaccel.datasets.qm9 import read_qm9_split

    stats = target_statistics(arrays, read_qm9_split(store)["train"], ["sum"])
    with torch.no_grad():
        model.mean.copy_(stats["mean"])
        model.std.copy_(stats["std"])
        model.atomref.copy_(stats["atomref"])
    save_property_model(folder, model, config, {}, elements=[1, 6, 7, 8, 9],
                        notes=f"warm start: representation of {base}, fresh U0 head")
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--base", default="resources/models/qm9-gap-schnet-pruned")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--geometry", default="dft")
    ap.add_argument("--limit-train", type=int, default=0)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "1")))
    base_cfg = load_property_model(args.base)[1].config
    cfg = PropertyConfig.from_dict({**base_cfg, "targets": ["U0"], "prune": "none", "max_epochs": args.epochs,
                                    "lr": args.lr, "lr_schedule": "cosine", "time_limit_minutes": 0.0,
                                    "patience": args.epochs + 1, "geometry": args.geometry,
                                    "limit_train": args.limit_train or None, "limit_valid": 2000})
    init = Path(str(args.out) + ".init")
    if not (init / "config.json").is_file():
        warm_start(args.base, args.store, init, cfg)
    trainer = PropertyTrainer(cfg, args.store, args.out, runtime=RuntimeConfig(device="cpu", seed=0), init_from=init)
    result = trainer.run(LoggingReporter(every=200), resume=True)
    print(result.status, result.metrics)
    return 0 if result.status == "done" else 130


if __name__ == "__main__":
    raise SystemExit(main())
