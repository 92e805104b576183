"""The ASE calculator: forces are minus the gradient of the energy (finite differences), and BFGS runs on it."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.optimize import BFGS

from chemaccel.errors import ConfigError
from chemaccel.property.calculator import PropertyCalculator
from chemaccel.property.storage import load_model


def _water() -> Atoms:
    return Atoms("OH2", positions=[[0.0, 0.0, 0.1], [0.78, 0.0, -0.45], [-0.70, 0.05, -0.5]])


def _double(path):
    model = load_model(path)
    model.module.double()  # float64: central differences are then exact to ~1e-8
    return model


def test_forces_are_minus_the_energy_gradient(trained_model):
    atoms = _water()
    atoms.calc = PropertyCalculator(_double(trained_model))
    forces = atoms.get_forces()
    assert forces.shape == (3, 3)
    h = 1e-3
    numeric = np.zeros_like(forces)
    for i in range(3):
        for k in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[i, k] += h
            minus.positions[i, k] -= h
            plus.calc = PropertyCalculator(_double(trained_model))
            minus.calc = PropertyCalculator(_double(trained_model))
            numeric[i, k] = -(plus.get_potential_energy() - minus.get_potential_energy()) / (2 * h)
    assert np.abs(forces).max() > 1e-3  # a real gradient, not zeros
    np.testing.assert_allclose(forces, numeric, atol=1e-6)
    # translating the molecule changes neither energy nor forces; the forces sum to zero
    np.testing.assert_allclose(forces.sum(0), 0.0, atol=1e-4)


def test_bfgs_steps_lower_the_model_energy(trained_model):
    # (the tiny model knows only equilibrium geometries and has no repulsive wall: a few steps only)
    atoms = _water()
    atoms.calc = PropertyCalculator(_double(trained_model))
    before = atoms.get_potential_energy()
    BFGS(atoms, logfile=None, maxstep=0.05).run(fmax=1e-4, steps=5)
    assert atoms.get_potential_energy() < before - 1e-4


def test_calculator_refuses_what_it_cannot_compute(trained_model):
    model = load_model(trained_model)
    with pytest.raises(ConfigError, match="not 'homo'"):
        PropertyCalculator(model, target="homo")
    atoms = Atoms("OSi", positions=[[0, 0, 0], [0, 0, 1.6]])
    atoms.calc = PropertyCalculator(model)
    with pytest.raises(ConfigError, match="not seen in training"):
        atoms.get_potential_energy()
    bad = _water()
    bad.positions[1, 0] = np.nan
    bad.calc = PropertyCalculator(model)
    with pytest.raises(ConfigError, match="non-finite"):
        bad.get_potential_energy()


SHIPPED_U0 = __import__("pathlib").Path(__file__).resolve().parents[2] / "resources" / "models" / "qm9-u0-schnet-pruned"


def test_shipped_u0_model_relaxes_a_molecule_with_bfgs():
    from rdkit import Chem

    from chemaccel.chem.conformers import embed_3d

    model = _double(SHIPPED_U0)
    mol = embed_3d(Chem.MolFromSmiles("CCO"), seed=0).mol
    atoms = Atoms(numbers=[a.GetAtomicNum() for a in mol.GetAtoms()], positions=mol.GetConformer().GetPositions())
    atoms.calc = PropertyCalculator(model)
    e0 = atoms.get_potential_energy()
    assert abs(e0 - (-4217.02)) < 0.5  # QM9 ethanol U0 -4217.02 eV (B3LYP minimum); MMFF geometry, model MAE 0.1 eV
    forces = atoms.get_forces()
    h = 1e-4
    for i, k in ((0, 0), (2, 1), (5, 2)):  # three components against central differences
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, k] += h
        minus.positions[i, k] -= h
        plus.calc, minus.calc = PropertyCalculator(model), PropertyCalculator(model)
        numeric = -(plus.get_potential_energy() - minus.get_potential_energy()) / (2 * h)
        assert abs(forces[i, k] - numeric) < 1e-5
    assert BFGS(atoms, logfile=None).run(fmax=0.05, steps=300)
    assert atoms.get_potential_energy() < e0 and np.abs(atoms.get_forces()).max() < 0.05
