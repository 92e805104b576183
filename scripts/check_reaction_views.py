"""Test-time augmentation for a reaction model: does reading each reaction several ways help?

    python scripts/check_reaction_views.py -m uspto-forward-reagents --corpus corpus --n 500 --views 8

Each reaction of the corpus's validation split is decoded as the model reads it (canonical) and as
``--views`` random SMILES of the same molecules (rdkit's random atom order, the molecules shuffled:
the Augmented Transformer's test-time augmentation); each product's support is pooled over the views
three ways (summed probability, summed reciprocal rank, top-1 votes) and scored with top-1 / top-5
against predict's single reading. Two sets, as scripts/compare_reaction_models.py draws them: ``--n``
reactions (seed 0) and the split's USPTO-MIT rows. One JSON line per set, view count and pooling.
The corpus's validation split is never trained on.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

POOLS = {
    "probability": lambda rank, c: math.exp(c.score),
    "reciprocal_rank": lambda rank, c: 1.0 / (rank + 1),
    "top1_votes": lambda rank, c: (rank == 0) + 1e-3 * math.exp(c.score),
}


def pooled(beams, pool) -> list[str]:
    """Products of several readings' ranked beams, best pooled support first (starting materials given
    back and invalid strings left out, as predict puts them last)."""
    support: dict[str, float] = defaultdict(float)
    for beam in beams:
        for rank, c in enumerate(c for c in beam if c.valid and not c.unchanged):
            support[c.smiles] += POOLS[pool](rank, c)
    return sorted(support, key=lambda s: -support[s]) or [c.smiles for c in beams[0][:1]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", default="uspto-forward-reagents")
    ap.add_argument("--corpus", type=Path, required=True, help="a corpus of `chemaccel data reactions`")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--views", type=int, default=8, help="random readings besides the canonical one")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    from chemaccel import api
    from chemaccel.chem.reactions import canonicalize_smiles, tokenize
    from chemaccel.reaction.data import load_pairs, random_smiles
    from chemaccel.reaction.model import CONFIDENCE_BEAM, OK, UNKNOWN_TOKEN, rank_candidates

    model = api.load_model(args.model)
    pairs, _ = load_pairs(args.corpus, "valid")
    pick = np.random.default_rng(0).permutation(len(pairs))[:args.n]
    sets = {"sample": [pairs[i] for i in pick], "uspto_mit": [p for p in pairs if "uspto_mit" in p.source]}
    for name, chosen in sets.items():
        rng = random.Random(1)
        rows = []  # (target, input molecules, token lists of the readings)
        for pair in chosen:
            status, tokens, _, molecules = model._check(pair.src)
            if status != OK:
                continue
            readings = [tokens]
            if UNKNOWN_TOKEN not in tokens:  # a reading with <unk> has no molecules to rewrite
                for _ in range(args.views):
                    again = tokenize(random_smiles("".join(tokens), rng))
                    readings.append([t if t in model.vocab_tokens else UNKNOWN_TOKEN for t in again])
            rows.append((canonicalize_smiles(pair.tgt), molecules, readings))
        jobs = [(i, " ".join(r)) for i, row in enumerate(rows) for r in row[2]]
        beams: dict[int, list] = defaultdict(list)
        for start in range(0, len(jobs), args.batch_size):
            chunk = jobs[start:start + args.batch_size]
            for (i, _), beam in zip(chunk, model._beam([src for _, src in chunk], CONFIDENCE_BEAM, args.batch_size)):
                beams[i].append(rank_candidates(beam, rows[i][1]))
        for views in sorted({0, 1, 2, 4, args.views}):
            for pool in POOLS if views else ("probability",):
                ranked = [pooled(beams[i][:views + 1], pool) for i in range(len(rows))]
                top1 = sum(r[:1] == [row[0]] for r, row in zip(ranked, rows)) / len(chosen)
                top5 = sum(row[0] in r[:5] for r, row in zip(ranked, rows)) / len(chosen)
                print(json.dumps({"set": name, "n": len(chosen), "readings": views + 1, "pool": pool,
                                  "top1": round(top1, 4), "top5": round(top5, 4)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
