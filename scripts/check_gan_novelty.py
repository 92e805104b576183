"""Where the "novel" molecules of a QM9 GAN come from: novelty against the molecules the model trained on,
against the store's whole train split, and how many novel samples are QM9 molecules of the other splits.

    python scripts/check_gan_novelty.py resources/models/gan-qm9 --store qm9.h5 [-n 10000]

It reads the SMILES of every split of the store (the valid and test splits included) for a descriptive
figure about a finished model; nothing is trained or chosen on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rdkit import Chem, RDLogger  # noqa: E402

from chemaccel.chem.store import MoleculeStore  # noqa: E402
from chemaccel.gan import load_gan  # noqa: E402
from chemaccel.gan.molgraph import hash_set, in_training_set, molecule_metrics  # noqa: E402


def canonical(smiles: str) -> str | None:
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    return Chem.MolToSmiles(mol) if mol is not None else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="a QM9 GAN model folder")
    p.add_argument("--store", type=Path, required=True, help="the molecule store it was trained from")
    p.add_argument("-n", type=int, default=10000, help="samples (default 10,000, seed 0)")
    args = p.parse_args()
    RDLogger.DisableLog("rdApp.*")
    with MoleculeStore.open(args.store) as store:
        splits = store.splits()
        smiles: list[str] = []
        for batch in store.iter_batches(8192):
            smiles.extend(batch.smiles)
    by_split = {name: hash_set([c for c in (canonical(smiles[i]) for i in idx) if c])
                for name, idx in splits.items()}
    model = load_gan(args.model)
    generated = model.sample_smiles(args.n, seed=0)
    valid = [s for s in generated if s]
    trained = model.train_hashes
    novel = [s for s in valid if not in_training_set([s], trained)[0]]
    out = {"model": str(args.model), "n_samples": args.n, "n_valid": len(valid),
           "training_molecules": int(len(trained)),
           "novelty_vs_trained_on": molecule_metrics(generated, trained)["novelty"]}
    if "train" in by_split:
        out["train_split_molecules"] = int(len(by_split["train"]))
        out["novelty_vs_whole_train_split"] = molecule_metrics(generated, by_split["train"])["novelty"]
    for name, hashes in by_split.items():
        out[f"novel_samples_in_{name}_split"] = int(in_training_set(novel, hashes).sum())
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
