"""Reactants told apart from reagents in a reaction as a chemist types it.

A chemist writes ``acid chloride . amine . triethylamine`` or ``ester . [Na+].[OH-]`` or
``reactants>reagents>``. :func:`split_input` turns any of these into reactant and reagent molecules:

* salts are written either way (``O[Na]`` or ``[Na+].[OH-]``): metals are disconnected first (rdkit's
  MetalDisconnector), then each component is canonical;
* a component is a reagent when it is a KNOWN reagent: a molecule that the atom-mapped USPTO
  reactions at hand (USPTO-MIT validation, USPTO-15K) use as a reagent at least 5 times and at least 3 times
  as often as a reactant (``known_reagents.txt`` beside this module, made by
  ``scripts/make_reagent_list.py``); if that would leave no reactant, nothing is set aside;
* with ``reactants>reagents>`` everything after the first '>' is a reagent, and the same rule applies to
  the part before it: ``aldehyde.[Na+].[BH4-]>CO>`` reads as ``aldehyde>[Na+].[BH4-].CO>``. Training
  corpora are written mixed and pass through the rule, so a known reagent is never among the reactants a
  model was trained on; keeping the user's slot would hand the model what it never saw (the borohydride
  above came back as an unknown token and a wrong product).

A model trained on reactants only (``reagents: drop``, as the shipped ``uspto-forward-reagents``) is given
the reactants; one trained with them (``reagents: mixed``) gets both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from chemaccel.chem.reactions import split_reaction
from chemaccel.chem.records import parse_smiles, rdkit_log

KNOWN_REAGENTS_FILE = Path(__file__).with_name("known_reagents.txt")
#: an atom map number inside a bracket atom: ``[CH3:1]``
ATOM_MAP = re.compile(r"\[[^\]]*:\d+\]")


@dataclass(frozen=True)
class SplitInput:
    """Reactant and reagent molecules (canonical SMILES) of one input; ``explicit``: the user wrote ``>``."""

    reactants: list[str] = field(default_factory=list)
    reagents: list[str] = field(default_factory=list)
    explicit: bool = False
    products: str = ""  # what was typed after the second '>' (not read: the model predicts it)
    only_known: bool = False  # every molecule before '>' is a known reagent: they are read as the reactants
    # (10 of 20,000 training reactions sampled are typed so: the confidence says how far to trust the answer)


def components(smiles: str) -> list[str]:
    """Canonical SMILES of each component, metals disconnected (``O[Na]`` -> ``[OH-]``, ``[Na+]``), atom maps
    removed.

    Raises:
        ValueError: rdkit cannot read the SMILES (the reason is in the message).
    """
    from rdkit import Chem
    from rdkit.Chem.MolStandardize import rdMolStandardize

    mol, reason = parse_smiles(smiles)
    if mol is None:
        raise ValueError(f"not a valid reactant SMILES: {reason or 'cannot parse ' + repr(smiles)}")
    for atom in mol.GetAtoms():  # atom-mapped input (USPTO, Reaxys exports) reads as the plain molecule
        atom.SetAtomMapNum(0)
    with rdkit_log():
        mol = rdMolStandardize.MetalDisconnector().Disconnect(mol)
    return [Chem.MolToSmiles(frag) for frag in Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)]


@lru_cache(maxsize=1)
def known_reagents() -> frozenset[str]:
    """The shipped list of known reagents (canonical SMILES)."""
    if not KNOWN_REAGENTS_FILE.is_file():
        return frozenset()
    lines = KNOWN_REAGENTS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.split()[0] for line in lines if line.strip() and not line.startswith("#"))


def split_input(text: str, known: frozenset[str] | None = None) -> SplitInput:
    """Reactants and reagents of one typed reaction (see the module docstring).

    Raises:
        ValueError: empty, no reactants before '>', or a part rdkit cannot read.
    """
    known = known_reagents() if known is None else known
    line = text.strip()
    if not line:
        raise ValueError("empty input")
    if any(ch.isspace() for ch in line):
        shown = line if len(line) <= 60 else line[:57] + "..."
        raise ValueError(f"{shown!r} is not a SMILES (it contains whitespace)")
    if ">" in line:
        parts = split_reaction(line)
        if not parts.reactants:
            raise ValueError(f"{line!r} has no reactants before '>'")
        reactants, reagents = _set_aside(components(parts.reactants), known)
        return SplitInput(reactants, reagents + (components(parts.reagents) if parts.reagents else []), True,
                          parts.products, _all_known(reactants, known))
    reactants, reagents = _set_aside(components(line), known)
    return SplitInput(reactants, reagents, False, only_known=_all_known(reactants, known))


def _all_known(reactants: list[str], known: frozenset[str]) -> bool:
    return bool(reactants) and all(m in known for m in reactants)


def _set_aside(mols: list[str], known: frozenset[str]) -> tuple[list[str], list[str]]:
    """(reactants, known reagents) of ``mols``; all reactants when every one is a known reagent."""
    reactants = [m for m in mols if m not in known]
    if not reactants:
        return mols, []
    return reactants, [m for m in mols if m in known]


def model_input(text: str, mode: str, known: frozenset[str] | None = None) -> tuple[str, str]:
    """What a model trained with ``reagents=mode`` reads of one typed reaction, and a note for the user.

    ``drop``: the reactants alone (known reagents and the part after '>' set aside, named in the note);
    ``mixed``: reactants and reagents together. The result is rdkit-canonical. Training data goes through
    this same function (:mod:`chemaccel.reaction.data`), so a model sees in training what it sees in use.
    :func:`read_input` also gives the input's molecules.

    Raises:
        ValueError: as :func:`split_input`.
    """
    return _written(split_input(text, known), text, mode)


def read_input(text: str, mode: str, known: frozenset[str] | None = None) -> tuple[str, str, frozenset[str]]:
    """``(model input, note, molecules)`` of one typed reaction: the first two as :func:`model_input`;
    ``molecules``: the canonical SMILES of every molecule typed before the product (reactants and
    reagents, whether read or set aside), so a prediction can tell a product from a starting material.

    Raises:
        ValueError: as :func:`split_input`.
    """
    from chemaccel.chem.reactions import canonicalize_smiles

    parts = split_input(text, known)
    written, note = _written(parts, text, mode)
    molecules = set()
    for smiles in parts.reactants + parts.reagents:
        try:
            molecules.add(canonicalize_smiles(smiles))
        except ValueError:  # a fragment that only parses within its molecule: no product can equal it
            pass
    return written, note, frozenset(molecules)


def _written(parts: SplitInput, text: str, mode: str) -> tuple[str, str]:
    from chemaccel.chem.reactions import canonicalize_smiles

    notes = ["atom maps removed"] if ATOM_MAP.search(text) else []
    if parts.products:
        notes.append("the product typed after '>' is not read")
    if parts.only_known:
        notes.append("only known reagents, solvents or salts typed: all read as reactants")
    if mode == "drop":
        if parts.reagents:
            notes.append("reagents set aside: " + ".".join(parts.reagents))
        return canonicalize_smiles(".".join(parts.reactants)), "; ".join(notes)
    return canonicalize_smiles(".".join(parts.reactants + parts.reagents)), "; ".join(notes)
