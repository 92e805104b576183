"""3D embedding: sane MMFF94 geometries, determinism, the UFF fallback and failures as error records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from chemaccel.chem import conformers
from chemaccel.chem.conformers import embed_3d, embed_records
from chemaccel.chem.molecules import read_molecules

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"

#: Typical MMFF94 bond lengths in Angstrom.
REFERENCE = {("C", "C"): 1.51, ("C", "O"): 1.42, ("C", "H"): 1.09, ("H", "O"): 0.97}


def _bond_lengths(mol: Chem.Mol) -> list[tuple[tuple[str, str], float]]:
    pos = mol.GetConformer().GetPositions()
    out = []
    for bond in mol.GetBonds():
        a, b = bond.GetBeginAtom(), bond.GetEndAtom()
        key = tuple(sorted((a.GetSymbol(), b.GetSymbol())))
        out.append((key, float(np.linalg.norm(pos[a.GetIdx()] - pos[b.GetIdx()]))))
    return out


def test_ethanol_geometry_is_chemically_sane():
    result = embed_3d(Chem.MolFromSmiles("CCO"), seed=0)
    assert result.ok and result.error is None
    assert result.forcefield == "MMFF94" and result.note is None and result.attempts == 1
    assert isinstance(result.energy, float) and -10 < result.energy < 10  # kcal/mol
    mol = result.mol
    assert mol.GetNumAtoms() == 9 and mol.GetConformer().Is3D()
    lengths = _bond_lengths(mol)
    errors = [length - REFERENCE[key] for key, length in lengths]
    assert np.sqrt(np.mean(np.square(errors))) < 0.02
    (cc,) = [length for key, length in lengths if key == ("C", "C")]
    assert cc == pytest.approx(1.51, abs=0.03)


def test_aromatic_ring_bonds():
    mol = embed_3d(Chem.MolFromSmiles("c1ccccc1"), seed=0).mol
    cc = [length for key, length in _bond_lengths(mol) if key == ("C", "C")]
    assert len(cc) == 6 and all(1.37 < x < 1.42 for x in cc)


def test_same_seed_same_coordinates_other_seed_other_coordinates():
    mol = Chem.MolFromSmiles("CC(C)Cc1ccc(cc1)C(C)C(=O)O")
    a = embed_3d(mol, seed=3).mol.GetConformer().GetPositions()
    b = embed_3d(mol, seed=3).mol.GetConformer().GetPositions()
    c = embed_3d(mol, seed=4).mol.GetConformer().GetPositions()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c, atol=1e-3)


def test_uff_fallback_is_reported():
    result = embed_3d(Chem.MolFromSmiles("C[Se]C"), seed=0)
    assert result.ok and result.forcefield == "UFF"
    assert result.note == "MMFF94 has no parameters for this molecule; optimized with UFF"


def test_no_optimization():
    result = embed_3d(Chem.MolFromSmiles("CCO"), seed=0, optimize=False)
    assert result.ok and result.energy is None and result.forcefield is None


def test_embedding_failure(monkeypatch):
    monkeypatch.setattr(conformers.rdDistGeom, "EmbedMolecule", lambda mol, params: -1)
    monkeypatch.setattr(conformers, "_layout_embedding", lambda mol, seed: False)
    result = embed_3d(Chem.MolFromSmiles("CCO"), seed=0, max_attempts=3)
    assert not result.ok and result.mol is None
    assert result.error == "3D embedding failed after 3 attempts" and result.attempts == 3
    assert embed_3d(Chem.Mol(), seed=0).error == "no atoms to embed"


def test_embed_records_fills_geometry_and_passes_errors_through():
    records = list(embed_records(read_molecules(EXAMPLES / "with_errors.smi"), seed=0))
    assert [r.index for r in records] == list(range(1, 9))
    good = [r for r in records if r.ok]
    assert [r.name for r in good] == ["ethanol", "benzene", "aspirin", "caffeine"]
    for record in good:
        assert record.geometry_source == "forcefield"
        assert record.positions.shape == (record.mol.GetNumAtoms(), 3)
        assert list(record.numbers) == [a.GetAtomicNum() for a in record.mol.GetAtoms()]
        assert record.props["forcefield"] == "MMFF94" and isinstance(record.props["forcefield_energy"], float)
    assert good[0].smiles == "CCO" and len(good[0].numbers) == 9
    bad = [r for r in records if not r.ok]
    assert [r.index for r in bad] == [3, 4, 6, 7]
    assert bad[1].error == "cannot parse SMILES 'C1CC': unclosed ring"


def test_embed_records_keeps_file_geometry_unless_asked():
    (first, *_) = read_molecules(EXAMPLES / "molecules.sdf")
    (kept,) = embed_records([first], seed=0)
    assert kept is first
    (redone,) = embed_records([first], seed=5, keep_existing=False)
    assert redone.geometry_source == "forcefield" and redone.smiles == first.smiles
    assert not np.allclose(redone.positions, first.positions)


def test_embed_records_failure_becomes_error_record(monkeypatch):
    monkeypatch.setattr(conformers.rdDistGeom, "EmbedMolecule", lambda mol, params: -1)
    monkeypatch.setattr(conformers, "_layout_embedding", lambda mol, seed: False)
    record = next(embed_records(read_molecules(EXAMPLES / "with_errors.smi"), seed=0, max_attempts=2))
    assert not record.ok and record.name == "ethanol"
    assert record.error_line().endswith("with_errors.smi: record 1: 3D embedding failed after 2 attempts")


def test_strained_cage_that_etkdg_cannot_embed_gets_the_layout_fallback():
    # a QM9 cage (rdkit's tetrahedral-centre check rejects every ETKDG attempt)
    mol = Chem.MolFromSmiles("C1C2C1C13CC2C1CO3")
    result = embed_3d(mol, seed=0)
    assert result.ok and result.forcefield == "MMFF94"
    assert result.note.startswith("ETKDG failed 3 times, so force-field relaxation from a 2D layout")
    pos = result.mol.GetConformer().GetPositions()
    for bond in result.mol.GetBonds():  # every bond a sensible length (C-H 1.09, C-C/C-O 1.4-1.6 A)
        d = np.linalg.norm(pos[bond.GetBeginAtomIdx()] - pos[bond.GetEndAtomIdx()])
        assert 1.0 < d < 1.7
    again = embed_3d(mol, seed=0).mol.GetConformer().GetPositions()
    assert np.array_equal(pos, again)  # seeded


def test_time_limit_ends_a_hopeless_embedding():
    result = embed_3d(Chem.MolFromSmiles("C" * 400), seed=0, time_limit=1)
    assert not result.ok
    assert result.error.startswith("3D embedding ran out of its time limit (1 s)")
