"""A forward-reaction corpus from every USPTO set at hand: reactants and reagents apart, held-out sets removed.

Sources (each optional; see ``../shared/data/README.md`` for what they are):

* ``uspto_full_gln/uspto_{val,test}T.csv.xz``: USPTO-full (Dai et al.), ``input`` = mapped product,
  ``target`` = mapped reactants; a target molecule without a mapped atom is a reagent;
* ``uspto_mit/valid.txt.tar.gz`` and ``uspto15k/{train,valid,test}.txt.xz``: mapped
  ``reactants.reagents>>product`` plus the bond edits; a molecule sharing an atom map with the product
  is a reactant (when the product carries no maps: a molecule with an atom in the bond edits, the WLN
  definition), the others are reagents;
* ``uspto50k/tgt-{train,valid}.txt`` + ``src-*``: reactants and product, no reagents.

Every molecule is canonicalized without atom maps. Removed: reactions rdkit cannot read, reactions whose
product is one of their reactants, duplicates (same reactants, reagents and product), and every reaction
whose product is the product of a reaction in a HELD-OUT set (USPTO-MIT test, USPTO-50K test), so the
corpus never teaches a held-out answer. Then a validation split of the corpus's own (by product, so the
same product is never on both sides) and the rest for training.

Output, one TSV per split: ``reactants<TAB>reagents<TAB>product<TAB>source`` (molecules joined by '.').
"""

from __future__ import annotations

import csv
import lzma
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from chemaccel.errors import InputError
from chemaccel.reporting import NullReporter, Reporter

_MAP = re.compile(r":(\d+)\]")
COLUMNS = ("reactants", "reagents", "product", "source")


@dataclass
class CorpusSummary:
    """Counts of what :func:`build_corpus` read, kept and removed, per source."""

    read: Counter = field(default_factory=Counter)
    unreadable: Counter = field(default_factory=Counter)
    trivial: Counter = field(default_factory=Counter)
    held_out: Counter = field(default_factory=Counter)
    duplicates: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)
    with_reagents: Counter = field(default_factory=Counter)
    splits: dict[str, int] = field(default_factory=dict)
    held_out_products: int = 0

    def to_dict(self) -> dict:
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in self.__dict__.items()}


def _maps(smiles: str) -> set[int]:
    return {int(m) for m in _MAP.findall(smiles)}


def split_by_maps(molecules: list[str], keep: set[int]) -> tuple[list[str], list[str]]:
    """(reactants, reagents): a molecule with an atom map in ``keep`` is a reactant."""
    reactants, reagents = [], []
    for mol in molecules:
        (reactants if _maps(mol) & keep else reagents).append(mol)
    return reactants, reagents


def _raw_gln(folder: Path) -> Iterator[tuple[str, list[str], list[str], str]]:
    for name in ("uspto_valT.csv.xz", "uspto_testT.csv.xz"):
        path = folder / name
        if not path.is_file():
            continue
        with lzma.open(path, "rt") as fh:
            for row in csv.DictReader(fh):
                mols = row["target"].split(".")
                reactants = [m for m in mols if _maps(m)]
                reagents = [m for m in mols if not _maps(m)]
                yield "uspto_full", reactants, reagents, row["input"]


def _lines(path: Path) -> Iterator[str]:
    """Text lines of a plain, .gz, .tar.gz or .xz file."""
    if path.name.endswith(".xz"):
        with lzma.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            yield from fh
        return
    from chemaccel.datasets.uspto import _open_lines

    with _open_lines(path) as lines:
        yield from lines


def _edit_atoms(edits: str) -> set[int]:
    """Atom maps named by the bond edits (``11-14;11-13`` or ``29;;29-30-2.0,30-31-1.0;29-30-3.0``)."""
    atoms = set()
    for item in re.split(r"[;,\s]+", edits):
        for part in item.split("-")[:2]:
            if part.isdigit():
                atoms.add(int(part))
    return atoms


def _raw_edits(path: Path, source: str) -> Iterator[tuple[str, list[str], list[str], str]]:
    for line in _lines(path):
        line = line.strip()
        if not line:
            continue
        rxn, _, edits = line.partition(" ")
        left, _, product = rxn.partition(">>")
        mols = left.split(".")
        keep = _maps(product) or _edit_atoms(edits)
        reactants, reagents = split_by_maps(mols, keep)
        yield source, reactants, reagents, product


def _raw_50k(folder: Path, split: str) -> Iterator[tuple[str, list[str], list[str], str]]:
    src, tgt = folder / f"src-{split}.txt", folder / f"tgt-{split}.txt"
    if not (src.is_file() and tgt.is_file()):
        return
    with open(src) as fs, open(tgt) as ft:
        for s, t in zip(fs, ft):
            tokens = s.split()
            product = "".join(tokens[1:] if tokens and tokens[0].startswith("<RX_") else tokens)
            yield "uspto50k", "".join(t.split()).split("."), [], product


def raw_reactions(data: Path) -> Iterator[tuple[str, list[str], list[str], str]]:
    """(source, reactant molecules, reagent molecules, product), mapped or not, from every source found."""
    yield from _raw_gln(data / "uspto_full_gln")
    mit = data / "uspto_mit" / "valid.txt.tar.gz"
    if mit.is_file():
        yield from _raw_edits(mit, "uspto_mit_valid")
    for split in ("train", "valid", "test"):
        path = data / "uspto15k" / f"{split}.txt.xz"
        if path.is_file():
            yield from _raw_edits(path, "uspto15k")
    for split in ("train", "valid"):
        yield from _raw_50k(data / "uspto50k", split)


def _canonical(mols: list[str]) -> list[str] | None:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    out = []
    for smi in mols:
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            return None
        for atom in mol.GetAtoms():
            atom.SetAtomMapNum(0)
        out.append(Chem.MolToSmiles(mol))
    return sorted(out)


def canonical_reaction(item: tuple[str, list[str], list[str], str]) -> tuple[str, str, str, str] | None:
    """(reactants, reagents, product, source), canonical and map-free; None when rdkit cannot read it."""
    source, reactants, reagents, product = item
    r, g, p = _canonical(reactants), _canonical(reagents), _canonical(product.split("."))
    if r is None or g is None or p is None or not r or not p:
        return None
    return ".".join(r), ".".join(g), ".".join(p), source


def _chunks(items, size):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _canon_chunk(chunk):
    return [canonical_reaction(item) for item in chunk]


def held_out_products(data: Path) -> set[str]:
    """Canonical products of the held-out sets (USPTO-MIT test, USPTO-50K test) that are present."""
    products: set[str] = set()
    mit = data / "uspto_mit" / "test.txt.tar.gz"
    items = []
    if mit.is_file():
        items += list(_raw_edits(mit, "mit_test"))
    items += list(_raw_50k(data / "uspto50k", "test"))
    for item in items:
        p = _canonical(item[3].split("."))
        if p:
            products.add(".".join(p))
    return products


def build_corpus(data: str | Path, out: str | Path, valid_fraction: float = 0.02, seed: int = 0,
                 workers: int = 1, reporter: Reporter | None = None) -> CorpusSummary:
    """Read every source under ``data``, clean, deduplicate, drop held-out products, write the splits.

    Writes ``out/train.tsv`` and ``out/valid.tsv`` (see the module docstring) and returns the counts.

    Raises:
        InputError: ``data`` holds none of the sources.
    """
    data, out = Path(data), Path(out)
    reporter = reporter or NullReporter()
    summary = CorpusSummary()
    raw = list(raw_reactions(data))
    if not raw:
        raise InputError(data, "no USPTO source found (uspto_full_gln, uspto_mit, uspto15k, uspto50k)")
    for item in raw:
        summary.read[item[0]] += 1
    reporter.on_message("reading the held-out products (USPTO-MIT test, USPTO-50K test) to remove them")
    held = held_out_products(data)
    summary.held_out_products = len(held)
    reporter.on_start("canonicalize", len(raw))
    results: list = []
    chunks = list(_chunks(raw, 2000))
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(_canon_chunk, chunks):
                results += part
                reporter.on_progress(len(results), len(raw))
    else:
        for chunk in chunks:
            results += _canon_chunk(chunk)
            reporter.on_progress(len(results), len(raw))
    seen: set[tuple[str, str, str]] = set()
    kept: list[tuple[str, str, str, str]] = []
    for item, res in zip(raw, results):
        source = item[0]
        if res is None:
            summary.unreadable[source] += 1
            continue
        reactants, reagents, product, _ = res
        if product in reactants.split(".") or product in reagents.split("."):
            summary.trivial[source] += 1
            continue
        if product in held:
            summary.held_out[source] += 1
            continue
        key = (reactants, reagents, product)
        if key in seen:
            summary.duplicates[source] += 1
            continue
        seen.add(key)
        kept.append(res)
        summary.kept[source] += 1
        summary.with_reagents[source] += bool(reagents)
    products = sorted({r[2] for r in kept})
    rng = np.random.default_rng(seed)
    valid_products = set(rng.choice(products, size=int(round(valid_fraction * len(products))), replace=False).tolist())
    out.mkdir(parents=True, exist_ok=True)
    splits = {"train": [r for r in kept if r[2] not in valid_products], "valid": [r for r in kept if r[2] in valid_products]}
    for name, rows in splits.items():
        order = rng.permutation(len(rows))
        tmp = out / f".{name}.tsv.tmp"
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh, delimiter="\t", lineterminator="\n")
            w.writerow(COLUMNS)
            for k in order:
                w.writerow(rows[k])
        tmp.replace(out / f"{name}.tsv")
        summary.splits[name] = len(rows)
    return summary


def mit_as_given(folder: str | Path, split: str, n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` USPTO-MIT reactions of ``split`` (a seeded draw) as a chemist would type them: atom maps
    removed, reagents mixed in with the reactants; returns (inputs, expected products)."""
    import random

    from chemaccel.chem.reactions import remove_atom_maps

    items = list(_raw_edits(Path(folder) / f"{split}.txt.tar.gz", f"uspto_mit_{split}"))
    random.Random(seed).shuffle(items)
    inputs, expected = [], []
    for _, reactants, reagents, product in items[:n]:
        try:
            inputs.append(remove_atom_maps(".".join(reactants + reagents)))
            expected.append(remove_atom_maps(product))
        except ValueError:
            continue
    return inputs, expected
