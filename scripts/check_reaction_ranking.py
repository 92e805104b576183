"""Compare how a reaction model's beam is ranked: beam order vs. valid products first, each once.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/check_reaction_ranking.py resources/models/uspto-forward-reagents \
        --split valid --limit 500 --beams 5,10

Scores top-1 and top-5 exact match (canonical SMILES) both ways from the same beams, on the
**validation** split by default: this is how the ranking rule of ``ReactionModel.predict`` was chosen.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chemaccel.chem.reactions import canonicalize_smiles  # noqa: E402
from chemaccel.reaction import load_model  # noqa: E402
from chemaccel.reaction.data import load_pairs  # noqa: E402
from chemaccel.reaction.model import rank_candidates  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "uspto50k"))
    p.add_argument("--split", default="valid", choices=["train", "valid"],
                   help="never the test split: this choice is a selection")
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--beams", default="5,10")
    args = p.parse_args()
    model = load_model(args.model)
    pairs, _ = load_pairs(args.data, args.split, args.limit)
    for beam in [int(b) for b in args.beams.split(",")]:
        t0 = time.perf_counter()
        raw = model.predict([pair.src for pair in pairs], k=beam, rank=False)
        seconds = time.perf_counter() - t0
        ranked = [rank_candidates(pred.candidates) for pred in raw]  # what predict() returns by default
        hits = {"beam_order": [0, 0], "valid_first": [0, 0]}
        for pair, pred, ranked_row in zip(pairs, raw, ranked):
            target = canonicalize_smiles(pair.tgt)
            for name, row in (("beam_order", pred.candidates), ("valid_first", ranked_row)):
                smiles = [c.smiles for c in row]
                hits[name][0] += target in smiles[:1]
                hits[name][1] += target in smiles[:5]
        n = len(pairs)
        print(json.dumps({"beam": beam, "n": n, "split": args.split, "reactions_per_s": round(n / seconds, 1),
                          **{f"{name}_top{k}": round(v[i] / n, 4) for name, v in hits.items()
                             for i, k in enumerate((1, 5))}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
