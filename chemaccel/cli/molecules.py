"""``chemaccel molecules info|convert|embed``: look at, convert and embed molecule files.

Bad records never stop a command: each is listed on stderr as ``FILE: record N: reason`` and counted
in the summary. The exit status is 1 only when not a single molecule could be read (or written).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from chemaccel.cli.common import eprint, print_json
from chemaccel.errors import InputError

#: Bad records listed by ``info`` (the rest are counted).
MAX_LISTED = 20
#: Bad records included in ``--json`` output.
MAX_JSON_ERRORS = 100
OUTPUT_TYPES = (".csv", ".sdf", ".h5")

INFO_EPILOG = """\
examples:
  chemaccel molecules info resources/examples/molecules.sdf
  chemaccel molecules info resources/examples/with_errors.smi --json
  chemaccel molecules info assay.csv --smiles-column Structure
"""
CONVERT_EPILOG = """\
examples:
  chemaccel molecules convert resources/examples/with_errors.sdf -o good.csv
  chemaccel molecules convert resources/examples/molecules.smi -o molecules.sdf
  chemaccel molecules convert assay.csv --smiles-column Structure -o assay.sdf --json

The output format follows the extension (.csv or .sdf). Bad records are listed on stderr and
skipped; the exit status is 1 only when no molecule could be read.
"""
EMBED_EPILOG = """\
examples:
  chemaccel molecules embed resources/examples/molecules.smi -o embedded.sdf
  chemaccel molecules embed mols.csv -o mols3d.sdf --seed 7 --json

Each molecule gets hydrogens and 3D coordinates (rdkit ETKDGv3, then MMFF94; UFF where MMFF94 has no
parameters). Molecules that already have 3D coordinates keep them unless --reembed is given.
"""


def add_parser(sub: Any) -> None:
    """Register ``molecules`` and its verbs on the top-level subparsers."""
    group = sub.add_parser(
        "molecules",
        help="inspect, convert and 3D-embed molecule files (SMILES, CSV, SDF, XYZ, ASE db)",
        description="Read SMILES (.smi), CSV/TSV, SDF/MOL, XYZ/extXYZ and ASE database (.db) files.",
    )
    verbs = group.add_subparsers(dest="verb", metavar="<verb>", required=True)

    info = verbs.add_parser(
        "info",
        help="count records, atoms, elements and properties; list bad records",
        description="Summarise a molecule file: records, bad records, atoms, elements, 3D, properties.",
        epilog=INFO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument("file", help="molecule file (.smi .csv .tsv .sdf .mol .xyz .extxyz .db .h5, text formats may be .gz)")
    _common_flags(info)
    info.set_defaults(func=run_info)

    convert = verbs.add_parser(
        "convert",
        help="write the readable molecules of a file as CSV, SDF or an HDF5 store",
        description="Convert a molecule file to CSV, SDF or an HDF5 store (.h5, needs 3D coordinates), skipping (and listing) bad records.",
        epilog=CONVERT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    convert.add_argument("input", help="molecule file to read")
    convert.add_argument("-o", "--output", required=True, help="output file: .csv, .sdf or .h5")
    _common_flags(convert)
    convert.set_defaults(func=run_convert)

    embed = verbs.add_parser(
        "embed",
        help="add hydrogens and 3D coordinates (ETKDGv3 + MMFF94), write SDF",
        description="Embed molecules in 3D and write them, with hydrogens, to an SDF file.",
        epilog=EMBED_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    embed.add_argument("input", help="molecule file to read")
    embed.add_argument("-o", "--output", required=True, help="output SDF file")
    embed.add_argument(
        "--seed",
        dest="embed_seed",
        metavar="N",
        type=int,
        default=None,
        help="embedding seed (default: the global --seed)",
    )
    embed.add_argument(
        "--reembed", action="store_true", help="embed again molecules that already have 3D coordinates"
    )
    _common_flags(embed)
    embed.set_defaults(func=run_embed)


def _common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smiles-column", metavar="C", help="CSV/TSV: the column that holds SMILES (default: auto-detected)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of text")


# --------------------------------------------------------------------------------------------------
# bookkeeping shared by the verbs


class BadRecords:
    """Counts bad records and lists them on stderr (all, or the first ``limit`` then a count)."""

    def __init__(self, limit: int | None = None, write: Callable[[str], None] = eprint) -> None:
        self.count = 0
        self.limit = limit
        self.lines: list[str] = []
        self._write = write

    def add(self, line: str) -> None:
        self.count += 1
        if len(self.lines) < MAX_JSON_ERRORS:
            self.lines.append(line)
        if self.limit is None or self.count <= self.limit:
            self._write(line)

    def finish(self) -> None:
        if self.limit is not None and self.count > self.limit:
            self._write(f"... and {self.count - self.limit} more")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _first_or_fail(records: Iterator[Any], path: str, what: str, *tallies: BadRecords) -> Iterator[Any]:
    """``records`` unchanged, or :class:`InputError` when it is empty (checked before any output)."""
    first = next(records, None)
    if first is None:
        failed = sum(t.count for t in tallies)
        raise InputError(path, f"no molecule could be {what} ({_plural(failed, 'bad record')})")
    return itertools.chain([first], records)


def _output_type(path: str, allowed: Iterable[str]) -> str:
    suffix = Path(path).suffix.lower()
    allowed = tuple(allowed)
    if suffix not in allowed:
        shown = f"'{suffix}'" if suffix else "no extension"
        raise InputError(path, f"cannot write {shown}; the output must end in {' or '.join(allowed)}")
    return suffix


# --------------------------------------------------------------------------------------------------
# info


def run_info(args: argparse.Namespace) -> int:
    from chemaccel.chem.molecules import detect_format, read_molecules

    path = args.file
    bad = BadRecords(limit=MAX_LISTED)
    stats = _Stats()
    for record in read_molecules(path, smiles_column=args.smiles_column):
        if record.ok:
            stats.add(record)
        else:
            bad.add(record.error_line())
    bad.finish()
    summary = {
        "file": str(path),
        "format": detect_format(path),
        "records": stats.count + bad.count,
        "ok": stats.count,
        "bad": bad.count,
        **stats.as_dict(),
        "bad_records": bad.lines[:MAX_LISTED],
    }
    if args.json:
        print_json(summary)
    else:
        _print_info(summary)
    return 0


class _Stats:
    """Running statistics over good records (bounded memory)."""

    def __init__(self) -> None:
        self.count = 0
        self.atom_sum = 0
        self.atom_min = self.heavy_min = sys.maxsize
        self.atom_max = self.heavy_max = 0
        self.heavy_sum = 0
        self.elements: Counter[str] = Counter()
        self.with_3d = 0
        self.props: dict[str, None] = {}

    def add(self, record: Any) -> None:
        elements = _elements(record)
        total = sum(elements.values())
        heavy = total - elements.get("H", 0)
        self.count += 1
        self.atom_sum += total
        self.heavy_sum += heavy
        self.atom_min, self.atom_max = min(self.atom_min, total), max(self.atom_max, total)
        self.heavy_min, self.heavy_max = min(self.heavy_min, heavy), max(self.heavy_max, heavy)
        self.elements.update(elements)
        self.with_3d += int(record.has_3d)
        for key in record.props:
            self.props.setdefault(key, None)

    def as_dict(self) -> dict[str, Any]:
        n = max(self.count, 1)
        empty = self.count == 0
        atoms = {"min": self.atom_min, "mean": self.atom_sum / n, "max": self.atom_max}
        heavy = {"min": self.heavy_min, "mean": self.heavy_sum / n, "max": self.heavy_max}
        return {
            "atoms": None if empty else atoms,
            "heavy_atoms": None if empty else heavy,
            "elements": dict(sorted(self.elements.items(), key=lambda kv: _hill_key(kv[0]))),
            "with_3d": self.with_3d,
            "has_3d": self.with_3d > 0,
            "properties": list(self.props),
        }


def _elements(record: Any) -> Counter[str]:
    """Element counts of one record, hydrogens (implicit or explicit) included."""
    counts: Counter[str] = Counter()
    if record.mol is not None:
        for atom in record.mol.GetAtoms():
            counts[atom.GetSymbol()] += 1
            if atom.GetTotalNumHs():
                counts["H"] += atom.GetTotalNumHs()
    elif record.numbers is not None:
        from ase.data import chemical_symbols

        counts.update(chemical_symbols[int(z)] for z in record.numbers)
    return counts


def _hill_key(symbol: str) -> tuple[int, str]:
    return ({"C": 0, "H": 1}.get(symbol, 2), symbol)


def _print_info(s: dict[str, Any]) -> None:
    print(f"file        {s['file']} ({s['format']})")
    print(f"records     {s['records']}: {s['ok']} ok, {s['bad']} bad")
    if s["atoms"] is not None:
        a, h = s["atoms"], s["heavy_atoms"]
        print(f"atoms       min {a['min']}, mean {a['mean']:.1f}, max {a['max']} (hydrogens included)")
        print(f"heavy atoms min {h['min']}, mean {h['mean']:.1f}, max {h['max']}")
        print("elements    " + ", ".join(f"{el} {n}" for el, n in s["elements"].items()))
    print(f"3D          {s['with_3d']} of {s['ok']} molecules have 3D coordinates")
    print("properties  " + (", ".join(s["properties"]) if s["properties"] else "(none)"))


# --------------------------------------------------------------------------------------------------
# convert


def run_convert(args: argparse.Namespace) -> int:
    from chemaccel.chem.molecules import read_molecules, write_csv, write_sdf

    kind = _output_type(args.output, OUTPUT_TYPES)
    records = read_molecules(args.input, smiles_column=args.smiles_column)
    bad = BadRecords()
    no_graph = BadRecords()

    def good() -> Iterator[Any]:
        for record in records:
            if not record.ok:
                bad.add(record.error_line())
            elif kind == ".sdf" and record.mol is None:
                reason = f"no bonds to write to SDF ({record.props.get('bonds', 'not perceived')})"
                no_graph.add(str(InputError(record.source, reason, record.index)))
            else:
                yield record

    stream = _first_or_fail(good(), args.input, "read", bad, no_graph)
    if kind == ".h5":
        from chemaccel.chem.store_records import write_store

        written = write_store(stream, args.output, on_skip=no_graph.add)
    else:
        written = write_csv(stream, args.output) if kind == ".csv" else write_sdf(stream, args.output)
    summary = {
        "input": str(args.input),
        "output": str(args.output),
        "written": written,
        "bad": bad.count,
        "not_writable": no_graph.count,
        "bad_records": bad.lines + no_graph.lines,
    }
    if args.json:
        print_json(summary)
    else:
        text = f"wrote {_plural(written, 'molecule')} to {args.output}"
        text += f"; {_plural(bad.count, 'bad record')} skipped"
        if no_graph.count:
            text += f"; {no_graph.count} not writable as {kind} skipped"
        print(text)
    return 0


# --------------------------------------------------------------------------------------------------
# embed


def run_embed(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from chemaccel.chem.conformers import embed_records
    from chemaccel.chem.molecules import read_molecules, write_sdf

    _output_type(args.output, (".sdf",))
    seed = args.embed_seed if args.embed_seed is not None else getattr(args, "seed", 0)
    records = read_molecules(args.input, smiles_column=args.smiles_column)
    bar = tqdm(desc="embedding", unit="mol", file=sys.stderr, disable=None, dynamic_ncols=True)

    def write(line: str) -> None:
        tqdm.write(line, file=sys.stderr)

    bad = BadRecords(write=write)
    failed = BadRecords(write=write)
    counts = Counter[str]()

    def inputs() -> Iterator[Any]:
        for record in records:
            if record.ok:
                yield record
            else:
                bar.update(1)
                bad.add(record.error_line())

    def embedded() -> Iterator[Any]:
        for record in embed_records(inputs(), seed=seed, keep_existing=not args.reembed):
            bar.update(1)
            if not record.ok:
                failed.add(record.error_line())
            elif record.mol is None:
                failed.add(str(InputError(record.source, "no bonds to write to SDF", record.index)))
            else:
                counts[record.geometry_source or "none"] += 1
                yield record

    try:
        stream = _first_or_fail(embedded(), args.input, "embedded", bad, failed)
        written = write_sdf(stream, args.output)
    finally:
        bar.close()
    summary = {
        "input": str(args.input),
        "output": str(args.output),
        "seed": seed,
        "written": written,
        "embedded": counts["forcefield"],
        "kept_3d": counts["file"],
        "failed": failed.count,
        "bad": bad.count,
        "bad_records": bad.lines + failed.lines,
    }
    if args.json:
        print_json(summary)
    else:
        text = f"embedded {_plural(counts['forcefield'], 'molecule')} into {args.output}"
        if counts["file"]:
            text += f"; kept the 3D coordinates of {counts['file']} from the file"
        text += f"; {failed.count} failed; {_plural(bad.count, 'bad record')} skipped"
        print(text)
    return 0
