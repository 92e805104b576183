"""Training and evaluation data for forward reaction prediction (reactants -> product).

USPTO-50K is stored for retrosynthesis; :func:`load_pairs` reads it in the forward direction (the
readers of :mod:`chemaccel.datasets.uspto` swap the sides and drop the class token, keeping it as
``reaction_class``). The USPTO-MIT validation split may be added as extra training data; its test
split is an evaluation set and :func:`training_pairs` refuses it.

Augmentation (:func:`augment_pairs`) adds copies whose reactant SMILES are written with random atom
orders and a random order of the molecules (rdkit's random SMILES); the target product stays canonical,
as in the Molecular Transformer's augmented training.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rdkit import Chem

from chemaccel.chem.reactions import tokenize
from chemaccel.datasets.uspto import ReactionRecord, read_uspto50k, read_uspto_mit
from chemaccel.errors import InputError

DataFormat = Literal["uspto50k", "uspto_mit", "corpus"]


@dataclass(frozen=True)
class ReactionPair:
    """One forward example: reactant SMILES in, product SMILES out.

    Attributes:
        src: reactants (and reagents), molecules separated by ``'.'``.
        tgt: the product.
        reaction_class: USPTO-50K class 1-10, or None.
        source: where it came from (file and line), for messages.
    """

    src: str
    tgt: str
    reaction_class: int | None = None
    source: str = ""


def detect_format(folder: str | Path, split: str) -> DataFormat:
    """Which USPTO layout ``folder`` holds for ``split``: ``uspto50k`` or ``uspto_mit``.

    Raises:
        InputError: neither ``src-{split}.txt`` nor ``{split}.txt(.tar.gz)`` is there.
    """
    path = Path(folder)
    if not path.is_dir():
        raise InputError(path, "data folder not found (expected a USPTO-50K or USPTO-MIT folder, or a corpus)")
    if (path / f"{split}.tsv").is_file():
        return "corpus"
    if (path / f"src-{split}.txt").is_file():
        return "uspto50k"
    if (path / f"{split}.txt.tar.gz").is_file() or (path / f"{split}.txt").is_file():
        return "uspto_mit"
    raise InputError(
        path, f"no USPTO data for split {split!r} (expected src-{split}.txt + tgt-{split}.txt, "
        f"{split}.txt.tar.gz, or a corpus's {split}.tsv from `chemaccel data reactions`)"
    )


def read_records(folder: str | Path, split: str) -> Iterator[ReactionRecord]:
    """Forward-direction records of either layout (USPTO-MIT atom maps removed, canonical)."""
    if detect_format(folder, split) == "uspto50k":
        return read_uspto50k(folder, split, "forward")
    return read_uspto_mit(folder, split, "forward", canonicalize=True)


def read_corpus(folder: str | Path, split: str) -> Iterator[ReactionPair]:
    """The pairs of a corpus split (``{split}.tsv`` of :mod:`chemaccel.datasets.reaction_corpus`).

    ``src`` is the reaction as a chemist types it: reactants and reagents mixed, joined by '.'.
    """
    import csv

    path = Path(folder) / f"{split}.tsv"
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None or header[:3] != ["reactants", "reagents", "product"]:
            raise InputError(path, f"not a reaction corpus: header {header!r} (expected reactants, reagents, "
                                   "product, source)")
        for line, row in enumerate(reader, start=2):
            if len(row) < 3 or not row[0] or not row[2]:
                raise InputError(path, "needs reactants, reagents and product columns", record=line)
            src = ".".join(part for part in (row[0], row[1]) if part)
            yield ReactionPair(src, row[2], None, f"{path.name}:{line}" + (f" ({row[3]})" if len(row) > 3 else ""))


def load_pairs(folder: str | Path, split: str, limit: int | None = None) -> tuple[list[ReactionPair], list[str]]:
    """Read up to ``limit`` forward pairs of one split; returns the pairs and one line per bad record."""
    pairs: list[ReactionPair] = []
    errors: list[str] = []
    if detect_format(folder, split) == "corpus":
        for pair in read_corpus(folder, split):
            if limit is not None and len(pairs) >= limit:
                break
            pairs.append(pair)
        return pairs, errors
    for record in read_records(folder, split):
        if limit is not None and len(pairs) >= limit:
            break
        if not record.ok:
            errors.append(record.error_line())
            continue
        pairs.append(ReactionPair(record.src, record.tgt, record.reaction_class, f"{record.source}:{record.index}"))
    return pairs, errors


def training_pairs(
    folder: str | Path, mit_folder: str | Path | None = None, limit: int | None = None
) -> tuple[list[ReactionPair], list[str]]:
    """The training split of ``folder``, plus the USPTO-MIT *validation* split when ``mit_folder`` is given.

    The USPTO-MIT test split is never read here: it is held out for the final evaluation.
    """
    pairs, errors = load_pairs(folder, "train", limit)
    if mit_folder is not None:
        extra, extra_errors = load_pairs(mit_folder, "valid", limit)
        pairs += extra
        errors += extra_errors
    return pairs, errors


def as_model_reads(pairs: Iterable[ReactionPair], reagents: str) -> tuple[list[ReactionPair], list[str]]:
    """Each pair's source as a model trained with ``reagents`` (``drop`` / ``mixed``) reads it in use.

    The source goes through :func:`chemaccel.reaction.reagents.model_input`, the function prediction
    uses, so training and use agree (with ``drop``: known reagents are set aside here as there).
    Returns the pairs and one line per source that cannot be read.
    """
    from chemaccel.reaction.reagents import model_input

    out: list[ReactionPair] = []
    errors: list[str] = []
    for pair in pairs:
        try:
            src, _ = model_input(pair.src, reagents)
        except ValueError as exc:
            errors.append(f"{pair.source}: {exc}")
            continue
        out.append(ReactionPair(src, pair.tgt, pair.reaction_class, pair.source))
    return out, errors


def random_smiles(smiles: str, rng: random.Random) -> str:
    """``smiles`` with a random atom order per molecule and the molecules shuffled (same chemistry).

    Returns ``smiles`` unchanged when rdkit cannot parse it.
    """
    parts = smiles.split(".")
    out = []
    for part in parts:
        mol = Chem.MolFromSmiles(part)
        if mol is None or mol.GetNumAtoms() == 0:
            return smiles
        out.append(Chem.MolToRandomSmilesVect(mol, 1, randomSeed=rng.randrange(1, 2**31))[0])
    rng.shuffle(out)
    return ".".join(out)


def augment_pairs(pairs: list[ReactionPair], copies: int, seed: int = 0) -> list[ReactionPair]:
    """``pairs`` followed by ``copies`` randomized-reactant copies of each (targets unchanged)."""
    if copies <= 0:
        return list(pairs)
    rng = random.Random(seed)
    out = list(pairs)
    for _ in range(copies):
        out.extend(ReactionPair(random_smiles(p.src, rng), p.tgt, p.reaction_class, p.source) for p in pairs)
    return out


def tokenized(pairs: Iterable[ReactionPair], max_tokens: int) -> tuple[list[tuple[list[str], list[str]]], int]:
    """Token lists of each pair; pairs with a side longer than ``max_tokens`` or untokenizable are skipped.

    Returns:
        the token pairs and the number skipped.
    """
    out: list[tuple[list[str], list[str]]] = []
    skipped = 0
    for pair in pairs:
        try:
            src, tgt = tokenize(pair.src), tokenize(pair.tgt)
        except ValueError:
            skipped += 1
            continue
        if len(src) > max_tokens or len(tgt) > max_tokens:
            skipped += 1
            continue
        out.append((src, tgt))
    return out, skipped


def write_corpus(token_pairs: list[tuple[list[str], list[str]]], src_path: Path, tgt_path: Path) -> None:
    """Write space-separated token lines (eole's text corpus format), one pair per line."""
    src_path.parent.mkdir(parents=True, exist_ok=True)
    with open(src_path, "w", encoding="utf-8") as fs, open(tgt_path, "w", encoding="utf-8") as ft:
        for src, tgt in token_pairs:
            fs.write(" ".join(src) + "\n")
            ft.write(" ".join(tgt) + "\n")


def token_counts(token_pairs: Iterable[tuple[list[str], list[str]]]) -> Counter[str]:
    """How often each token occurs on either side (one shared vocabulary)."""
    counts: Counter[str] = Counter()
    for src, tgt in token_pairs:
        counts.update(src)
        counts.update(tgt)
    return counts


def write_vocab(counts: Counter[str], path: Path) -> None:
    """eole's vocabulary file: ``token<TAB>count`` lines, most frequent first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for token, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            fh.write(f"{token}\t{count}\n")
