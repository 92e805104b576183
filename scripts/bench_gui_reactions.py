"""The desktop app's Reaction panel: decoding in its own process (torch on every core) against N spawned
processes (the "processes" box; ``chemaccel reaction predict --workers``), for a few batch sizes, with the
same products checked. It calls the panel's task (``chemaccel_gui.reaction_predict.predict_reactions``)
without a window; depictions are drawn in both arms, as in the app. Picks the panel's "auto" threshold.

    python scripts/bench_gui_reactions.py --sizes 50 200 500 --workers 2

Input: the reactant lines of ``../shared/data/uspto50k/tgt-test.txt`` or, without the shared data, the
textbook reactions of ``resources/examples/reactions.txt`` repeated. Model: ``uspto-forward-reagents``, k=5.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("CHEMACCEL_SHARED_DATA", ROOT.parent / "shared" / "data"))


def reactions(n: int) -> list[str]:
    valid = SHARED / "uspto50k" / "tgt-test.txt"  # the reactants (src is the product, for retrosynthesis)
    if valid.is_file():
        rows = [line.replace(" ", "").strip() for line in valid.read_text().splitlines() if line.strip()]
    else:
        from chemaccel import api

        lines = (ROOT / "resources" / "examples" / "reactions.txt").read_text().splitlines()
        rows = [api.reaction_of_line(line) for line in lines if line.strip() and not line.startswith("#")]
    return [rows[i % len(rows)] for i in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("-m", "--model", default="uspto-forward-reagents")
    ap.add_argument("-k", type=int, default=5)
    args = ap.parse_args()
    from chemaccel import api
    from chemaccel.shipped import resolve_model
    from chemaccel_gui.reaction_predict import predict_reactions

    path = Path(resolve_model(args.model))
    cache: dict = {}
    predict_reactions(api.NullReporter(), path, reactions(2), args.k, cache=cache)  # load the model once, as the app
    results = []
    for n in args.sizes:
        rows = reactions(n)
        row = {"reactions": n}
        products = {}
        for arm, workers in (("in-process", 1), (f"{args.workers} processes", args.workers)):
            t0 = time.perf_counter()
            out = predict_reactions(api.NullReporter(), path, rows, args.k, cache=cache, workers=workers)
            row[arm] = round(n / (time.perf_counter() - t0), 1)
            products[arm] = [[c.smiles for c in p.prediction.candidates] for p in out]
        row["same_products"] = len({json.dumps(v) for v in products.values()}) == 1
        results.append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps({"model": args.model, "k": args.k, "torch_threads": __import__("torch").get_num_threads(),
                      "reactions_per_s": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
