"""Train the 2D graph member (chemprop 2's D-MPNN) on a QM9 store's train split, for add_graph_member.py.

    pip install chemprop==2.3.1          # training only: prediction reads the weights without chemprop
    python scripts/train_graph_member.py --store qm9.h5 --target gap --epochs 12 -o runs/graph-gap

Writes ``OUT.safetensors`` (chemaccel's :class:`~chemaccel.property.graph_model.GraphMPNN` tensor names),
``OUT.json`` (its architecture) and ``OUT.check.json`` (chemprop's own predictions for the first 200
validation SMILES, to hold chemaccel's reading of the weights to them). Lightning checkpoints go to
``OUT.work/`` (``--resume`` continues from its last one). The model is the one with the lowest
validation loss (the validation split chooses the epoch; the test split is not read).

Settings of the shipped member (2026-12-07): hidden 300, depth 4, mean aggregation, batch norm, a 2 x 300
feed-forward head, batch 64, learning rate 1e-4 -> 1e-3 over 2 warm-up epochs -> 1e-4 at the last epoch
(chemprop's schedule), 12 epochs, one CPU thread (about 5 minutes an epoch on 110,000 molecules).
Lightning's run is not seeded bit for bit (data order seeded, weights initialised by torch's default RNG).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--target", default="gap")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=300)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--limit", type=int, default=None, help="first N molecules of each split (a smoke run)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("-o", "--out", required=True, help="output prefix")
    args = ap.parse_args()
    try:
        import torch
        from chemprop import data, featurizers, models, nn
        from lightning import pytorch as pl
    except ImportError as exc:
        sys.exit(f"this script trains with chemprop ({exc}): pip install chemprop==2.3.1")
    from safetensors.torch import save_file

    from chemaccel.chem.store import MoleculeStore
    from chemaccel.datasets.qm9 import read_qm9_split
    from chemaccel.property.graph_model import from_chemprop_state

    torch.set_num_threads(1)
    split = read_qm9_split(args.store)
    with MoleculeStore.open(args.store) as store:
        batch = store.molecule_slice(0, len(store))
    import h5py

    with h5py.File(args.store, "r") as f:
        values = f["properties"][args.target][:]

    def points(rows: np.ndarray) -> list:
        rows = rows[: args.limit] if args.limit else rows
        return [data.MoleculeDatapoint.from_smi(batch.smiles[int(i)], [float(values[int(i)])]) for i in rows]

    train, valid = points(split["train"]), points(split["valid"])
    feat = featurizers.SimpleMoleculeMolGraphFeaturizer()
    train_set, valid_set = data.MoleculeDataset(train, feat), data.MoleculeDataset(valid, feat)
    scaler = train_set.normalize_targets()
    valid_set.normalize_targets(scaler)
    mp = nn.BondMessagePassing(d_h=args.hidden, depth=args.depth)
    ffn = nn.RegressionFFN(input_dim=mp.output_dim, hidden_dim=300, n_layers=2,
                           output_transform=nn.UnscaleTransform.from_standard_scaler(scaler))
    model = models.MPNN(mp, nn.MeanAggregation(), ffn, batch_norm=True, metrics=[nn.metrics.MAE()],
                        warmup_epochs=2, init_lr=1e-4, max_lr=1e-3, final_lr=1e-4)
    work = Path(args.out + ".work")
    best = pl.callbacks.ModelCheckpoint(dirpath=work, filename="best", monitor="val_loss", mode="min", save_last=True)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=args.epochs, enable_progress_bar=True,
                         logger=pl.loggers.CSVLogger(work), callbacks=[best])
    t0 = time.time()
    trainer.fit(model, data.build_dataloader(train_set, batch_size=64, num_workers=0, seed=0),
                data.build_dataloader(valid_set, batch_size=256, num_workers=0, shuffle=False),
                ckpt_path=str(work / "last.ckpt") if args.resume and (work / "last.ckpt").is_file() else None)
    print(f"trained in {time.time() - t0:.0f} s; best {best.best_model_path}")
    chosen = models.MPNN.load_from_checkpoint(best.best_model_path).eval()
    save_file({k: v.contiguous() for k, v in from_chemprop_state(chosen.state_dict()).items()}, args.out + ".safetensors")
    arch = {"d_v": feat.atom_fdim, "d_e": feat.bond_fdim, "d_h": args.hidden, "depth": args.depth, "ffn_hidden": 300,
            "ffn_layers": 2, "trained_with": "chemprop 2.3.1"}
    Path(args.out + ".json").write_text(json.dumps(arch, indent=1))
    check = valid[:200]
    loader = data.build_dataloader(data.MoleculeDataset(check, feat), batch_size=200, num_workers=0, shuffle=False)
    with torch.no_grad():
        pred = np.concatenate([chosen(b.bmg).numpy()[:, 0] for b in loader])
    smiles = [batch.smiles[int(i)] for i in split["valid"][:200]]
    Path(args.out + ".check.json").write_text(json.dumps({"smiles": smiles, "chemprop": pred.tolist()}))
    print(f"wrote {args.out}.safetensors, .json, .check.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
