"""Make ``chemaccel/reaction/known_reagents.txt``: molecules the atom-mapped USPTO data use as reagents.

    python scripts/make_reagent_list.py --data ../shared/data

Reads USPTO-MIT validation and USPTO-15K (atom-mapped, reagents mixed in; never a test split),
tells reagents from reactants by the atom maps (:mod:`chemaccel.datasets.reaction_corpus`), standardizes
each molecule as :func:`chemaccel.reaction.reagents.components` does (metals disconnected), and keeps
those seen as a reagent at least ``--min-count`` times and at least ``--ratio`` times as often as a
reactant. One canonical SMILES per line, followed by the two counts.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from chemaccel.datasets.reaction_corpus import _raw_edits
from chemaccel.reaction.reagents import KNOWN_REAGENTS_FILE, components


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--ratio", type=float, default=3.0)
    ap.add_argument("-o", "--out", type=Path, default=KNOWN_REAGENTS_FILE)
    args = ap.parse_args()
    as_reagent, as_reactant = Counter(), Counter()
    cache: dict[str, list[str]] = {}
    sources = [args.data / "uspto_mit" / "valid.txt.tar.gz"]
    sources += [args.data / "uspto15k" / f"{s}.txt.xz" for s in ("train", "valid")]
    n = 0
    for path in sources:
        for _, reactants, reagents, _ in _raw_edits(path, path.name):
            n += 1
            for counter, mols in ((as_reactant, reactants), (as_reagent, reagents)):
                for mol in mols:
                    if mol not in cache:
                        try:
                            from chemaccel.chem.reactions import remove_atom_maps

                            cache[mol] = components(remove_atom_maps(mol))
                        except ValueError:
                            cache[mol] = []
                    counter.update(cache[mol])
    keep = sorted((m for m, c in as_reagent.items() if c >= args.min_count and c >= args.ratio * as_reactant[m]),
                  key=lambda m: -as_reagent[m])
    lines = [f"# {len(keep)} known reagents from {n:,} atom-mapped reactions (USPTO-MIT valid, USPTO-15K train+valid):",
             "# SMILES  times-as-reagent  times-as-reactant  (scripts/make_reagent_list.py)"]
    lines += [f"{m} {as_reagent[m]} {as_reactant[m]}" for m in keep]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(keep)} known reagents from {n:,} reactions -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
