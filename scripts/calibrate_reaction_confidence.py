"""Fit a reaction model's top-1 confidence on validation reactions and store it in its config.json.

    python scripts/calibrate_reaction_confidence.py -m resources/models/uspto-forward-reagents \
        --mit ../shared/data/uspto_mit --n 2000

Takes ``--n`` reactions (seeded draw) of the USPTO-MIT VALIDATION split as given (maps removed, reagents
mixed in: what the model meets from users), predicts them at the beam predict uses (``CONFIDENCE_BEAM``), fits the Platt scaling of
:mod:`chemaccel.reaction.confidence` on the first half and reports on the second half: the expected
calibration error, and the top-1 accuracy of the most confident half against the rest. Then refits on
all of them and writes ``metrics.confidence`` (weights, what it was fitted on, the held-half figures).
Refused rows are left out (they get no confidence); rows whose best candidate is a starting material
given back unchanged get 0 by rule and are counted, not fitted. No test split is read. A model trained on a corpus
that holds the USPTO-MIT validation split (``chemaccel data reactions``) is fitted on the corpus's own
validation split instead (``--corpus``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from chemaccel import api
from chemaccel.checkpoint import atomic_write_json
from chemaccel.datasets.reaction_corpus import mit_as_given
from chemaccel.reaction.confidence import calibration_error, features, fit, probability
from chemaccel.reaction.model import CONFIDENCE_BEAM


def corpus_valid(folder: Path, n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` reactions (seeded draw) of a corpus's validation split: typed inputs and canonical products."""
    from chemaccel.chem.reactions import canonicalize_smiles
    from chemaccel.reaction.data import load_pairs

    pairs, _ = load_pairs(folder, "valid")
    pick = np.random.default_rng(seed).permutation(len(pairs))[:n]
    return [pairs[i].src for i in pick], [canonicalize_smiles(pairs[i].tgt) for i in pick]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", type=Path, required=True)
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--mit", type=Path, help="folder with USPTO-MIT valid.txt.tar.gz")
    source.add_argument("--corpus", type=Path,
                        help="a corpus of `chemaccel data reactions` (its valid.tsv): for a model trained on that "
                             "corpus, whose training data holds the USPTO-MIT validation split")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--dry-run", action="store_true", help="report only; do not write config.json")
    args = ap.parse_args()
    if args.mit is not None:
        inputs, expected = mit_as_given(args.mit, "valid", args.n, seed=1)
        fitted_on = "USPTO-MIT validation reactions as given (seed 1)"
    else:
        inputs, expected = corpus_valid(args.corpus, args.n, seed=1)
        fitted_on = f"reactions of {args.corpus.name}/valid.tsv as typed, reagents mixed in (seed 1)"
    model = api.load_model(args.model)
    preds = model.predict(inputs, k=5)
    rows = []
    no_product = no_product_right = 0
    for pred, want in zip(preds, expected):
        f = features(pred.candidates) if pred.ok else None
        if f is not None:
            rows.append((f[0], f[1], float(pred.candidates[0].smiles == want)))
        elif pred.ok and pred.candidates and pred.candidates[0].unchanged:  # confidence 0 by rule, not fitted
            no_product += 1
            no_product_right += pred.candidates[0].smiles == want
    data = np.array(rows)
    half = len(data) // 2
    a, b = data[:half], data[half:]
    w = fit(a[:, 0], a[:, 1], a[:, 2])
    p = np.array([probability(w, s, m) for s, m, _ in b])
    order = np.argsort(-p)
    top, rest = order[: len(order) // 2], order[len(order) // 2:]
    held = {"ece": calibration_error(p, b[:, 2]), "accuracy": float(b[:, 2].mean()), "mean_confidence": float(p.mean()),
            "accuracy_most_confident_half": float(b[top, 2].mean()), "accuracy_other_half": float(b[rest, 2].mean()),
            "n": int(len(b))}
    no_product_rows = {"n": no_product, "right": int(no_product_right)}  # confidence 0, all rows
    weights = fit(data[:, 0], data[:, 1], data[:, 2])
    print(json.dumps({"fitted_on_half": w, "held_half": held, "weights_all": weights,
                      "no_product_rows": no_product_rows}, indent=1))
    if not args.dry_run:
        path = args.model / "config.json"
        config = json.loads(path.read_text())
        config["metrics"]["confidence"] = {
            "weights": weights, "features": "sigmoid(w0 + w1 * top score + w2 * margin over the 2nd valid)",
            "fitted_on": f"{len(data)} {fitted_on}, beam {CONFIDENCE_BEAM}",
            "held_half": held, "no_product_rows": no_product_rows}
        atomic_write_json(path, config)
        print(f"wrote metrics.confidence into {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
