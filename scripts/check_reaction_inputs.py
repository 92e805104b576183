"""Reaction models on reactions as chemists type them: with reagents, salts either way, any order.

    python scripts/check_reaction_inputs.py -m resources/models/uspto-forward-reagents \
        --csv resources/examples/reactions_with_reagents.csv --mit ../shared/data/uspto_mit --split valid --n 400

Prints top-1 / top-5 / refused on the textbook reactions of ``--csv`` (``input``, ``expected``), one line
per reaction, and on ``--n`` reactions drawn (seeded) from a USPTO-MIT split AS GIVEN (atom maps removed,
reagents mixed in). Products are compared as RDKit canonical SMILES. The MIT test split is held out: read
it (``--split test``) only for a final model's figure.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from chemaccel import api
from chemaccel.chem.reactions import canonicalize_smiles


def score(model, inputs: list[str], expected: list[str], k: int = 5) -> tuple[dict, list]:
    preds = model.predict(inputs, k=k)
    top1 = top5 = refused = 0
    for pred, want in zip(preds, expected):
        if not pred.ok:
            refused += 1
            continue
        got = [c.smiles for c in pred.candidates if c.valid]
        top1 += bool(got) and got[0] == want
        top5 += want in got[:k]
    n = len(inputs)
    return {"n": n, "top1": top1 / n, "top5": top5 / n, "refused": refused / n}, preds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--csv", type=Path, default=None)
    ap.add_argument("--mit", type=Path, default=None, help="folder with USPTO-MIT {split}.txt.tar.gz")
    ap.add_argument("--split", default="valid", choices=["valid", "test"])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--mixed", action="store_true",
                    help="give the model every molecule as typed (reagents joined to the reactants): the "
                         "behaviour before reagents were told apart, for a same-run comparison")
    ap.add_argument("--explicit", action="store_true",
                    help="type each reaction as 'INPUT>>' (reactants and reagents before the '>'), the form a "
                         "chemist uses with a reaction SMILES")
    args = ap.parse_args()
    model = api.load_model(args.model)
    typed = (lambda s: s + ">>") if args.explicit else (lambda s: s)
    if args.mixed:
        import dataclasses

        model.config = dataclasses.replace(model.config, reagents="mixed")
    if args.csv:
        rows = list(csv.DictReader(args.csv.open()))
        figures, preds = score(model, [typed(r["input"]) for r in rows], [canonicalize_smiles(r["expected"]) for r in rows])
        for r, p in zip(rows, preds):
            got = p.candidates[0].smiles if p.ok and p.candidates else ""
            mark = "OK " if got == canonicalize_smiles(r["expected"]) else ("REF" if not p.ok else "   ")
            print(f"{mark} {r['name'][:44]:44s} {got if p.ok else p.status[:60]}   {p.note[:60]}")
        print(f"textbook reactions: {figures}")
    if args.mit:
        from chemaccel.datasets.reaction_corpus import mit_as_given

        inputs, expected = mit_as_given(args.mit, args.split, args.n, seed=0)
        figures, _ = score(model, [typed(s) for s in inputs], expected)
        print(f"USPTO-MIT {args.split}, {len(inputs)} reactions as given (reagents mixed in): {figures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
