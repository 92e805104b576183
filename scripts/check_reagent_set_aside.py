"""What setting known reagents aside costs: reactions whose atom maps say a "known reagent" is a reactant.

    python scripts/check_reagent_set_aside.py -m resources/models/uspto-forward-reagents --corpus corpus

A reactants-only model (``reagents = drop``) sets aside every molecule of
``chemaccel/reaction/known_reagents.txt``, wherever it is typed. Sometimes one of them does react (methanol
making a methyl ester, water hydrolysing, DMF formylating); the atom maps of the corpus say when (its
``reactants`` column holds the molecules that give atoms to the product). For each source of the corpus's
VALIDATION split this prints how many reactions have such a molecule and the model's top-1 on them and on
the rest, each reaction typed with reactants and reagents mixed, as a user types it; and, on the first
group, the top-1 when the model is given the reacting molecules too (what a model that reads reactive
reagents would be given; the drop model never saw such inputs in training). No test split is read.
The whole split takes about 25 minutes on one thread; ``--n 300`` scores the same 300 reactions per source
(drawn with seed 0) for every model, to compare models quickly.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections import defaultdict
from pathlib import Path

from chemaccel import api
from chemaccel.chem.reactions import canonicalize_smiles, tokenize
from chemaccel.reaction.model import CONFIDENCE_BEAM, UNKNOWN_TOKEN, rank_candidates
from chemaccel.reaction.reagents import components, known_reagents


def reacting_read_too(model, rows: list[dict]) -> list[str]:
    """Top-1 products of ``rows`` when the model reads every molecule that reacts (known reagents
    included): the corpus's ``reactants`` column, canonical, as the model's tokens."""
    sources = [" ".join(t if t in model.vocab_tokens else UNKNOWN_TOKEN
                        for t in tokenize(canonicalize_smiles(r["reactants"]))) for r in rows]
    tops = []
    for start in range(0, len(rows), 64):
        beams = model._beam(sources[start:start + 64], CONFIDENCE_BEAM, 64)
        for row, beam in zip(rows[start:start + 64], beams):
            typed = frozenset(canonicalize_smiles(m) for m in components(row["reactants"]))
            ranked = rank_candidates(beam, typed)
            tops.append(ranked[0].smiles if ranked else "")
    return tops


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True, help="model folder or shipped name")
    ap.add_argument("--corpus", type=Path, required=True, help="a corpus of `chemaccel data reactions`")
    ap.add_argument("--n", type=int, default=0, metavar="N",
                    help="score N reactions per source, drawn with seed 0 (default 0: all of them)")
    args = ap.parse_args()
    if args.n < 0:
        ap.error(f"--n must be 0 (all) or a positive number, got {args.n}")
    known = known_reagents()
    with (args.corpus / "valid.tsv").open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    model = api.load_model(args.model)
    by_source: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_source[row["source"]].append(row)
    for source, chosen in sorted(by_source.items()):
        if 0 < args.n < len(chosen):
            chosen = random.Random(0).sample(chosen, args.n)
        typed = [".".join(p for p in (r["reactants"], r["reagents"]) if p) for r in chosen]
        preds = model.predict(typed, k=5, batch_size=64)
        groups = {"a known reagent reacts": [0, 0], "the rest": [0, 0]}
        reacting = []
        for row, pred in zip(chosen, preds):
            reacts = any(c in known for c in components(row["reactants"]))
            g = groups["a known reagent reacts" if reacts else "the rest"]
            g[0] += 1
            g[1] += bool(pred.candidates) and pred.candidates[0].smiles == canonicalize_smiles(row["product"])
            if reacts:
                reacting.append(row)
        tops = reacting_read_too(model, reacting)
        read_too = sum(top == canonicalize_smiles(r["product"]) for r, top in zip(reacting, tops))
        print(json.dumps({"source": source, **{name: {"n": n, "top1": round(right / n, 3) if n else None}
                                              for name, (n, right) in groups.items()},
                          "reacting_read_too_top1": round(read_too / len(reacting), 3) if reacting else None}),
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
