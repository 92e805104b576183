"""Reactants told apart from reagents in typed reactions; salts written either way read alike."""

from __future__ import annotations

import pytest

from chemaccel.reaction.reagents import components, known_reagents, split_input

KNOWN = frozenset({"CCN(CC)CC", "[Na+]", "[OH-]", "[K+]", "O=C([O-])[O-]", "ClCCl"})


def test_salts_are_disconnected_either_way():
    assert sorted(components("O[Na]")) == sorted(components("[Na+].[OH-]")) == ["[Na+]", "[OH-]"]
    assert sorted(components("OC(=O)O[K]")) == ["O=C([O-])O", "[K+]"]
    with pytest.raises(ValueError, match="cannot parse SMILES"):
        components("C1CC")


def test_known_reagents_are_set_aside():
    parts = split_input("CC(=O)Cl.Nc1ccccc1.CCN(CC)CC", KNOWN)
    assert parts.reactants == ["CC(=O)Cl", "Nc1ccccc1"] and parts.reagents == ["CCN(CC)CC"] and not parts.explicit
    parts = split_input("CCOC(=O)c1ccccc1.O[Na]", KNOWN)
    assert parts.reactants == ["CCOC(=O)c1ccccc1"] and sorted(parts.reagents) == ["[Na+]", "[OH-]"]
    # only known reagents: nothing is set aside (the user meant them as reactants)
    assert split_input("CCN(CC)CC.ClCCl", KNOWN).reactants == ["CCN(CC)CC", "ClCCl"]


def test_explicit_split_is_kept():
    parts = split_input("CC(=O)Cl.Nc1ccccc1>CCN(CC)CC.ClCCl>", KNOWN)
    assert parts.explicit and parts.reactants == ["CC(=O)Cl", "Nc1ccccc1"] and parts.reagents == ["CCN(CC)CC", "ClCCl"]
    with pytest.raises(ValueError, match="no reactants before '>'"):
        split_input(">CCN(CC)CC>", KNOWN)
    with pytest.raises(ValueError, match="empty input"):
        split_input("  ", KNOWN)


def test_shipped_list_knows_common_reagents():
    known = known_reagents()
    for smiles in ("CCN(CC)CC", "[Na+]", "[K+]", "ClCCl", "O=C([O-])[O-]"):
        assert smiles in known, smiles
    assert "Nc1ccccc1" not in known and "CC(=O)Cl" not in known
