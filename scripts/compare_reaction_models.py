"""Reaction models side by side on a corpus's own validation split (reactions as typed, reagents mixed in).

    python scripts/compare_reaction_models.py --corpus corpus --n 1000 \
        resources/models/uspto-forward-reagents runs/another-model

Two sets, each scored by every model in the same run: ``--n`` reactions drawn (seed 0) from the whole
validation split, and all of its reactions that came from USPTO-MIT (the closest stand-in for USPTO-MIT
test that may be used while tuning). Prints one JSON line per set and model: top-1, top-5, invalid top-1,
refused rows, reactions/s (k = 5, predict's beam of 7). The corpus's validation split is never trained on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="model folders or shipped names")
    ap.add_argument("--corpus", type=Path, required=True, help="a corpus of `chemaccel data reactions`")
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    from chemaccel import api
    from chemaccel.reaction.data import load_pairs
    from chemaccel.reaction.evaluate import evaluate_pairs

    pairs, _ = load_pairs(args.corpus, "valid")
    pick = np.random.default_rng(0).permutation(len(pairs))[:args.n]
    sets = {"sample": [pairs[i] for i in pick], "uspto_mit": [p for p in pairs if "uspto_mit" in p.source]}
    for name, chosen in sets.items():
        for model in args.models:
            r = evaluate_pairs(api.load_model(model), chosen, k=5, batch_size=64)
            keys = ("n", "top1", "top5", "invalid_rate", "not_predicted", "reactions_per_s")
            print(json.dumps({"set": name, "model": model, **{k: r[k] for k in keys}}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
