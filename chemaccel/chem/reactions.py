"""Reaction SMILES: split into roles, canonicalize the components, remove atom maps, tokenize.

A reaction SMILES is ``reactants>reagents>products`` (``a>>b`` when there are no reagents); each role
is a multi-component SMILES whose molecules are separated by ``'.'``. Atom-mapped data sets (USPTO-MIT)
write ``[CH3:15]``; a translation model reads and writes the SMILES without maps, so
:func:`remove_atom_maps` sets every map number to 0 and returns the canonical form.

Translation models read SMILES as tokens: :func:`tokenize` is the regular expression of the Molecular
Transformer (Schwaller et al., ACS Cent. Sci. 2019), one token per atom (bracket atoms whole, ``Cl``
and ``Br`` as one), bond, branch, ring-closure digit (``%nn`` whole) and ``'.'``. It is lossless:
``detokenize(tokenize(s)) == s`` for every string it accepts (checked over all of USPTO-50K), and a
string with characters the expression does not cover is rejected rather than silently changed.

All functions raise :class:`ValueError` with a one-line reason; readers turn it into an error record.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Sequence

from rdkit import Chem

from chemaccel.chem.records import parse_smiles, shown


#: The Molecular Transformer's SMILES token pattern (Schwaller et al. 2019, ``smi_tokenizer``).
SMILES_TOKEN_PATTERN = (
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|\%[0-9]{2}|[0-9])"
)
_SMILES_TOKEN_RE = re.compile(SMILES_TOKEN_PATTERN)


def tokenize(smiles: str) -> list[str]:
    """Split a SMILES (or reaction SMILES) into Molecular Transformer tokens, losslessly.

    Example: ``"CC(=O)Cl"`` -> ``["C", "C", "(", "=", "O", ")", "Cl"]``.

    Raises:
        ValueError: empty, or characters the token pattern does not cover (whitespace, a lone ``]``,
            lower-case letters outside brackets such as ``"x"``); the message names the first one.
    """
    if not smiles:
        raise ValueError("empty SMILES")
    tokens = _SMILES_TOKEN_RE.findall(smiles)
    if "".join(tokens) != smiles:
        pos = 0
        for match in _SMILES_TOKEN_RE.finditer(smiles):
            if match.start() != pos:
                break
            pos = match.end()
        raise ValueError(
            f"SMILES {shown(smiles)} has {smiles[pos]!r} at position {pos + 1}, which is not a SMILES token"
        )
    return tokens


def detokenize(tokens: Sequence[str] | str) -> str:
    """The inverse of :func:`tokenize`: a token list, or tokens separated by spaces, joined."""
    if isinstance(tokens, str):
        return "".join(tokens.split())
    return "".join(tokens)


class ReactionParts(NamedTuple):
    """The three roles of a reaction SMILES (each may be ``""``)."""

    reactants: str
    reagents: str
    products: str


def split_reaction(reaction: str) -> ReactionParts:
    """Split ``reactants>reagents>products`` (or ``reactants>>products``) into its three roles.

    Surrounding whitespace is ignored; text after the first inner whitespace (CXSMILES extensions,
    bond edits) is not part of the reaction and is rejected, so callers split their fields first.

    Raises:
        ValueError: not exactly two ``'>'``, or whitespace inside.
    """
    text = reaction.strip()
    if any(ch.isspace() for ch in text):
        raise ValueError(f"reaction SMILES {shown(text)} contains whitespace")
    parts = text.split(">")
    if len(parts) != 3:
        raise ValueError(f"reaction SMILES {shown(text)} needs 'reactants>reagents>products' (two '>')")
    return ReactionParts(*parts)


def join_reaction(reactants: str, products: str, reagents: str = "") -> str:
    """The inverse of :func:`split_reaction`: ``reactants>reagents>products``."""
    return f"{reactants}>{reagents}>{products}"


def canonicalize_smiles(smiles: str) -> str:
    """Canonical SMILES of a (multi-component) SMILES; components come out in rdkit's canonical order.

    Atom maps, if any, are kept (use :func:`remove_atom_maps` to drop them).

    Raises:
        ValueError: empty, or rdkit cannot parse / sanitize it (the reason is in the message).
    """
    text = smiles.strip()
    if not text:
        raise ValueError("empty SMILES")
    mol, reason = parse_smiles(text)
    if mol is None:
        raise ValueError(reason or f"cannot parse SMILES {shown(text)}")
    return Chem.MolToSmiles(mol)


def remove_atom_maps(smiles: str) -> str:
    """Remove atom-map numbers and return the canonical SMILES.

    Works on a (multi-component) SMILES and on a reaction SMILES (each role separately; an empty role
    stays empty). The result is rdkit's canonical SMILES of the map-free molecules, the form in which
    :func:`canonicalize_smiles` writes a model's prediction (checked on the USPTO-MIT validation set:
    re-canonicalizing the output changes none of the 29,998 reactions rdkit parses; 2 have a
    pentavalent carbon / hexavalent phosphorus that rdkit rejects).

    Example: ``"[CH3:1][OH:2]"`` -> ``"CO"``.

    Raises:
        ValueError: a component rdkit cannot parse (the reason is in the message).
    """
    text = smiles.strip()
    if ">" in text:
        parts = split_reaction(text)
        return join_reaction(
            _unmapped(parts.reactants) if parts.reactants else "",
            _unmapped(parts.products) if parts.products else "",
            _unmapped(parts.reagents) if parts.reagents else "",
        )
    return _unmapped(text)


def _unmapped(smiles: str) -> str:
    text = smiles.strip()
    if not text:
        raise ValueError("empty SMILES")
    mol, reason = parse_smiles(text)
    if mol is None:
        raise ValueError(reason or f"cannot parse SMILES {shown(text)}")
    for atom in mol.GetAtoms():
        atom.SetAtomMapNum(0)
    return Chem.MolToSmiles(mol)
