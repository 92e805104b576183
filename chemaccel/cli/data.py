"""``chemaccel data``: build and inspect HDF5 molecule stores.

* ``chemaccel data qm9 -o qm9.h5 [--limit N] [--source DIR|ARCHIVE] [--download] [--overwrite] [--json]``
* ``chemaccel data info STORE [--json]``
* ``chemaccel data embed STORE [--name mmff] [--workers N] [--seed S] [--splits valid,test] [--time-limit S]``
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from chemaccel.cli.common import print_json
from chemaccel.errors import InputError

QM9_EPILOG = """\
sources (first that applies):
  --source DIR       a folder with qm9pack's qm9_part1..3.csv
  --source FILE      the original archive dsgdb9nsd.xyz.tar.bz2 (or any tar of QM9 .xyz files)
  --download         fetch the original archive from figshare into $CHEMACCEL_CACHE (~/.cache/chemaccel)
  (default)          the installed qm9pack package: pip install 'chemaccel[qm9]'

energies are stored in eV (converted from Hartree), the train/valid/test split is fixed by --seed.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("data", help="build and inspect HDF5 molecule stores (QM9 ...)")
    verbs = group.add_subparsers(dest="verb", metavar="<verb>", required=True)

    qm9 = verbs.add_parser(
        "qm9",
        help="convert QM9 (130,831 molecules) into an HDF5 molecule store",
        epilog=QM9_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    qm9.add_argument("-o", "--output", required=True, type=Path, help="the store to write, e.g. qm9.h5")
    qm9.add_argument("--limit", type=_positive, default=None, help="only the first N molecules")
    qm9.add_argument("--source", type=Path, default=None, help="qm9pack CSV folder or QM9 .xyz archive")
    qm9.add_argument("--download", action="store_true", help="download the original archive from figshare")
    qm9.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    qm9.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    qm9.set_defaults(func=run_qm9)

    embed = verbs.add_parser(
        "embed",
        help="force-field geometries (ETKDG + MMFF) for every molecule of a store, from its SMILES",
        description="Embed each molecule's SMILES in 3D (rdkit ETKDGv3, random-coordinate retries, "
        "MMFF94 with a UFF fall-back) and store the coordinates as a named geometry set beside the "
        "store's own (DFT) ones. Resumable: run the same command again after a kill or Ctrl-C. "
        "Molecules that cannot be embedded are listed with the reason in STORE.NAME.failures.csv.",
    )
    embed.add_argument("store", type=Path, help="an HDF5 molecule store with SMILES (chemaccel data qm9)")
    embed.add_argument("--name", default="mmff", help="name of the geometry set (default: mmff)")
    embed.add_argument("--workers", type=_positive, default=max(1, (os.cpu_count() or 1)),
                       help="processes (default: all cores)")
    embed.add_argument("--splits", default=None,
                       help="only these splits, comma-separated (e.g. valid,test); default: every molecule")
    embed.add_argument("--attempts", type=_positive, default=None, help="ETKDG attempts per molecule (default 10)")
    embed.add_argument("--time-limit", type=float, default=None, help="seconds per molecule (default 10)")
    embed.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    embed.set_defaults(func=run_embed)

    rx = verbs.add_parser(
        "reactions",
        help="a forward-reaction corpus from every USPTO set in a folder (reagents apart, held-out sets removed)",
        description="Read USPTO-full (GLN), USPTO-MIT valid, USPTO-15K and USPTO-50K train/valid from DATA "
        "(the layout of ../shared/data), strip atom maps, canonicalize, separate reactants from reagents "
        "by the atom mapping, remove duplicates and every reaction whose product is a product of the "
        "USPTO-MIT or USPTO-50K TEST split, and write OUT/train.tsv and OUT/valid.tsv "
        "(reactants, reagents, product, source). Prints the counts per source.",
    )
    rx.add_argument("--data", type=Path, required=True, help="folder holding uspto_full_gln/, uspto_mit/, ...")
    rx.add_argument("-o", "--out", type=Path, required=True, help="folder to write train.tsv and valid.tsv")
    rx.add_argument("--valid-fraction", type=float, default=0.02, help="products held out for validation")
    rx.add_argument("--workers", type=_positive, default=max(1, (os.cpu_count() or 1)))
    rx.add_argument("--json", action="store_true", help="print the counts as one JSON object")
    rx.set_defaults(func=run_reactions)

    info = verbs.add_parser("info", help="size, properties with units and splits of a store")
    info.add_argument("store", type=Path, help="an HDF5 molecule store (.h5)")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=run_info)


def run_qm9(args: argparse.Namespace) -> int:
    from chemaccel.datasets import qm9
    from chemaccel.reporting import TqdmReporter

    reporter = TqdmReporter(file=sys.stderr)  # bars and messages on stderr: stdout stays JSON-clean
    seed = getattr(args, "seed", 0)  # the global --seed
    common = dict(limit=args.limit, reporter=reporter, seed=seed, overwrite=args.overwrite)
    try:
        if args.download and args.source is not None:
            raise InputError(str(args.source), "pass either --source or --download, not both")
        if args.download:
            archive = qm9.download_qm9(reporter=reporter)
            summary = qm9.convert_qm9_archive(args.output, archive, **common)
        elif args.source is not None and args.source.is_file():
            summary = qm9.convert_qm9_archive(args.output, args.source, **common)
        else:
            summary = qm9.convert_qm9(args.output, source_dir=args.source, **common)
    finally:
        reporter.close()
    if summary.cancelled:
        print(f"cancelled after {summary.n_molecules} molecules; nothing written to {summary.path}")
        return 130
    if args.json:
        print_json(summary.to_dict())
        return 0
    print(f"wrote {summary.path}: {summary.n_molecules:,} molecules, {summary.n_atoms:,} atoms "
          f"in {summary.seconds:.1f} s (source: {summary.source})")  # fmt: skip
    print("properties: " + ", ".join(f"{k} [{u}]" if u else k for k, u in summary.properties.items()))
    print("splits: " + ", ".join(f"{k} {v:,}" for k, v in summary.splits.items()))
    return 0


def run_embed(args: argparse.Namespace) -> int:
    from chemaccel import api
    from chemaccel.cli.common import cancel_on_sigint
    from chemaccel.reporting import TqdmReporter

    options: dict = {"seed": getattr(args, "seed", 0)}
    if args.splits:
        options["splits"] = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    if args.attempts is not None:
        options["max_attempts"] = args.attempts
    if args.time_limit is not None:
        options["time_limit"] = args.time_limit
    reporter = TqdmReporter(file=sys.stderr)
    try:
        with cancel_on_sigint(reporter):
            summary = api.embed_store(args.store, args.name, workers=args.workers, reporter=reporter, **options)
    finally:
        reporter.close()
    if summary.cancelled:
        print("cancelled; the embedded chunks are kept: run the same command again to resume")
        return 130
    if args.json:
        print_json(summary.to_dict())
        return 0
    print(f"{args.store}: geometry set {summary.name!r}: {summary.made:,} embedded, {summary.failed:,} failed "
          f"({100 * summary.failure_rate:.3f} %), {summary.skipped:,} skipped, in {summary.seconds:.0f} s")
    for note, count in sorted(summary.notes.items(), key=lambda kv: -kv[1]):
        print(f"  note: {note}: {count:,}")
    if summary.failed:
        print(f"failures with reasons: {summary.failures_csv}")
    return 0


def run_reactions(args: argparse.Namespace) -> int:
    from chemaccel import api
    from chemaccel.reporting import TqdmReporter

    if not 0 < args.valid_fraction < 0.5:
        raise InputError("--valid-fraction", f"must lie in (0, 0.5), got {args.valid_fraction}")
    reporter = TqdmReporter(file=sys.stderr)
    try:
        summary = api.build_reaction_corpus(args.data, args.out, args.valid_fraction, seed=getattr(args, "seed", 0),
                                            workers=args.workers, reporter=reporter)
    finally:
        reporter.close()
    if args.json:
        print_json(summary.to_dict())
        return 0
    print(f"{'source':<18}{'read':>9}{'unreadable':>12}{'trivial':>9}{'held-out':>10}{'duplicate':>11}"
          f"{'kept':>9}{'w/ reagents':>13}")
    for source in summary.read:
        print(f"{source:<18}{summary.read[source]:>9,}{summary.unreadable[source]:>12,}{summary.trivial[source]:>9,}"
              f"{summary.held_out[source]:>10,}{summary.duplicates[source]:>11,}{summary.kept[source]:>9,}"
              f"{summary.with_reagents[source]:>13,}")
    print(f"held-out products (USPTO-MIT test + USPTO-50K test): {summary.held_out_products:,}; removed "
          f"{sum(summary.held_out.values()):,} reactions that make one of them")
    print(f"wrote {args.out}/train.tsv ({summary.splits['train']:,}) and valid.tsv ({summary.splits['valid']:,})")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from chemaccel.chem.store import MoleculeStore

    with MoleculeStore.open(args.store) as store:
        n_atoms = store.n_atoms
        conversions = store.property_conversions
        info = {
            "path": str(args.store),
            "bytes": args.store.stat().st_size,
            "molecules": len(store),
            "atoms": int(n_atoms.sum()),
            "atoms_per_molecule": {
                "min": int(n_atoms.min()) if len(n_atoms) else 0,
                "max": int(n_atoms.max()) if len(n_atoms) else 0,
                "mean": float(n_atoms.mean()) if len(n_atoms) else 0.0,
            },
            "properties": {
                name: {"unit": unit, **({"conversion": conversions[name]} if name in conversions else {})}
                for name, unit in store.property_units.items()
            },
            "splits": {name: int(len(idx)) for name, idx in store.splits().items()},
            "atomrefs": {name: unit for name, (_, unit) in store.atomrefs().items()},
            "attrs": store.attrs,
        }
    if args.json:
        print_json(info)
        return 0
    stats = info["atoms_per_molecule"]
    sizes = f"{stats['min']}-{stats['max']} per molecule, mean {stats['mean']:.1f}"
    print(f"{info['path']}: {info['bytes'] / 1e6:.1f} MB, {info['molecules']:,} molecules, "
          f"{info['atoms']:,} atoms ({sizes})")  # fmt: skip
    attrs = info["attrs"]
    source = f"; source: {attrs['source']}" if "source" in attrs else ""
    print(f"format: {attrs.get('format')} v{attrs.get('format_version')}, written by chemaccel "
          f"{attrs.get('chemaccel_version')}{source}")  # fmt: skip
    print("properties:")
    for name, prop in info["properties"].items():
        extra = f"  ({prop['conversion']})" if "conversion" in prop else ""
        print(f"  {name:<24} {prop['unit'] or '-'}{extra}")
    if info["splits"]:
        print("splits: " + ", ".join(f"{k} {v:,}" for k, v in info["splits"].items()))
    if info["atomrefs"]:
        print("atom references: " + ", ".join(f"{k} [{u}]" for k, u in info["atomrefs"].items()))
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
