"""Regenerate the generated example molecule files in resources/examples/.

Hand-written (edit them directly; this script only reads molecules.smi):
    molecules.smi         20 drug-like molecules with names (and a comment line)
    with_errors.smi       good lines mixed with an impossible valence, an unclosed ring, garbage,
                          and an aromatic ring that cannot be kekulized
    no_smiles_column.csv  a CSV without a SMILES column
    empty.smi             an empty file

Generated here (deterministic: rdkit ETKDGv3 + MMFF94 with seed 0):
    molecules.csv         name, SMILES, mol_weight, logp for the molecules of molecules.smi
    molecules.sdf         the first 10 molecules of molecules.smi in 3D, with SD properties
    with_errors.sdf       good 3D blocks, a broken block (3) and a block with a 5-valent carbon (5)
    molecules.xyz         small molecules as extXYZ frames (name=, energy= MMFF94 kcal/mol)
    with_errors.xyz       plain XYZ: good frames, a frame with a wrong atom count (2) and a frame with
                          a bad atom line (4)

Usage:
    python scripts/make_examples.py [--out resources/examples]
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import replace
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors

from chemaccel.chem.conformers import embed_3d, embed_records
from chemaccel.chem.molecules import read_all, write_sdf

EXAMPLES = Path(__file__).resolve().parent.parent / "resources" / "examples"
SEED = 0
XYZ_MOLECULES = [
    ("water", "O"),
    ("methane", "C"),
    ("ethanol", "CCO"),
    ("acetonitrile", "CC#N"),
    ("benzene", "c1ccccc1"),
]

BROKEN_BLOCK = """broken_block
  hand-made: the counts line below is not a counts line

not a counts line
M  END
$$$$
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=EXAMPLES)
    out: Path = parser.parse_args(argv).out
    good, _ = read_all(out / "molecules.smi")

    with open(out / "molecules.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "SMILES", "mol_weight", "logp"])
        for record in good:
            mol = record.mol
            writer.writerow(
                [record.name, record.smiles, f"{Descriptors.MolWt(mol):.2f}", f"{Crippen.MolLogP(mol):.2f}"]
            )

    first = [replace(r, props={"mol_weight": round(Descriptors.MolWt(r.mol), 2)}) for r in good[:10]]
    write_sdf(embed_records(first, seed=SEED), out / "molecules.sdf")

    write_with_errors_sdf(out / "with_errors.sdf")
    write_xyz(out / "molecules.xyz")
    write_with_errors_xyz(out / "with_errors.xyz")


def _block(smiles: str, name: str, **props: object) -> str:
    result = embed_3d(Chem.MolFromSmiles(smiles), seed=SEED)
    mol = result.mol
    mol.SetProp("_Name", name)
    for key, value in props.items():
        mol.SetProp(key, str(value))
    text = Chem.MolToMolBlock(mol)
    fields = "".join(f"> <{key}>\n{mol.GetProp(key)}\n\n" for key in props)
    return f"{text}{fields}$$$$\n"


def write_with_errors_sdf(path: Path) -> None:
    bad_valence = Chem.MolFromSmiles("C(C)(C)(C)(C)C", sanitize=False)
    bad_valence.SetProp("_Name", "impossible_valence")
    blocks = [
        _block("CCO", "ethanol", activity=1.5),
        _block("c1ccccc1", "benzene", activity=0.25),
        BROKEN_BLOCK,
        _block("CC(=O)O", "acetic_acid", activity=3.0),
        Chem.MolToMolBlock(bad_valence, kekulize=False) + "> <activity>\n9.9\n\n$$$$\n",
        _block("CC#N", "acetonitrile", activity=0.5),
    ]
    path.write_text("".join(blocks), encoding="utf-8")


def _xyz_frame(smiles: str, name: str, extended: bool) -> str:
    result = embed_3d(Chem.MolFromSmiles(smiles), seed=SEED)
    mol = result.mol
    pos = mol.GetConformer().GetPositions()
    if extended:
        comment = f'Properties=species:S:1:pos:R:3 name={name} energy={result.energy:.6f} pbc="F F F"'
    else:
        comment = name
    atoms = [
        f"{a.GetSymbol():<2s} {x:12.6f} {y:12.6f} {z:12.6f}" for a, (x, y, z) in zip(mol.GetAtoms(), pos)
    ]
    return "\n".join([str(mol.GetNumAtoms()), comment, *atoms]) + "\n"


def write_xyz(path: Path) -> None:
    path.write_text("".join(_xyz_frame(s, n, extended=True) for n, s in XYZ_MOLECULES), encoding="utf-8")


def write_with_errors_xyz(path: Path) -> None:
    methane = _xyz_frame("C", "methane_missing_atoms", extended=False).splitlines()
    short = "\n".join(methane[:5]) + "\n"  # says 5 atoms, has 3 atom lines
    bad_line = "3\nbad_atom_line\nO 0.0 0.0 0.0\nH 0.96 0.0\nH -0.24 0.93 0.0\n"
    frames = [
        _xyz_frame("O", "water", extended=False),
        short,
        _xyz_frame("CCO", "ethanol", extended=False),
        bad_line,
        _xyz_frame("C", "methane", extended=False),
    ]
    path.write_text("".join(frames), encoding="utf-8")


if __name__ == "__main__":
    main()
