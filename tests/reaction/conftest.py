"""Fixtures: 20 small reactions in USPTO-50K's layout, and one tiny model trained on them (CPU, seconds)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from rdkit import Chem

from chemaccel.chem.reactions import tokenize

with warnings.catch_warnings():  # eole warns about optional CUDA extensions at import
    warnings.simplefilter("ignore")
    pytest.importorskip("eole", reason="the reaction engine needs eole (pip install 'chemaccel[reaction]')")

# (reactants, product, USPTO-50K class): esterifications, amide couplings, alkylations, reductions
REACTIONS = [
    ("CC(=O)O.OCC", "CCOC(C)=O", 2),
    ("CC(=O)Cl.NCc1ccccc1", "CC(=O)NCc1ccccc1", 2),
    ("O=C(O)c1ccccc1.CO", "COC(=O)c1ccccc1", 2),
    ("CC(=O)Cl.Nc1ccccc1", "CC(=O)Nc1ccccc1", 2),
    ("BrCc1ccccc1.Oc1ccccc1", "c1ccc(COc2ccccc2)cc1", 1),
    ("CI.Oc1ccc(Cl)cc1", "COc1ccc(Cl)cc1", 1),
    ("CCBr.NCCO", "CCNCCO", 1),
    ("O=Cc1ccccc1", "OCc1ccccc1", 7),
    ("CC(C)=O", "CC(C)O", 7),
    ("O=[N+]([O-])c1ccccc1", "Nc1ccccc1", 7),
    ("CC(=O)OC(C)=O.OCc1ccccc1", "CC(=O)OCc1ccccc1", 2),
    ("O=C(Cl)c1ccccc1.NCC", "CCNC(=O)c1ccccc1", 2),
    ("CCOC(=O)CC.O", "CCC(=O)O", 9),
    ("COC(=O)c1ccc(C)cc1", "Cc1ccc(C(=O)O)cc1", 9),
    ("CC(C)(C)OC(=O)NCCN", "NCCN", 6),
    ("CC(C)(C)OC(=O)N1CCNCC1", "C1CNCCN1", 6),
    ("Brc1ccccc1.OB(O)c1ccccc1", "c1ccc(-c2ccccc2)cc1", 3),
    ("Brc1ccc(C)cc1.OB(O)c1ccccc1", "Cc1ccc(-c2ccccc2)cc1", 3),
    ("ClCCl.Oc1ccccc1O", "c1ccc2c(c1)OCO2", 4),
    ("CCN.O=Cc1ccccc1", "CCNCc1ccccc1", 1),
]


def _canon(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def write_uspto50k(folder: Path, reactions=REACTIONS, splits=("train", "valid", "test")) -> Path:
    """Write ``reactions`` as USPTO-50K files (retro layout: src = class token + product)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in splits:
        with open(folder / f"src-{split}.txt", "w") as src, open(folder / f"tgt-{split}.txt", "w") as tgt:
            for reactants, product, cls in reactions:
                src.write(f"<RX_{cls}> " + " ".join(tokenize(_canon(product))) + "\n")
                tgt.write(" ".join(tokenize(reactants)) + "\n")
    return folder


TINY = dict(layers=1, hidden_size=32, heads=2, ff_size=64, steps=4, batch_tokens=512, save_every=2,
            valid_every=2, keep_checkpoints=2, average_last=2, warmup_steps=10, max_tokens=100)


@pytest.fixture(scope="session")
def uspto_tiny(tmp_path_factory) -> Path:
    return write_uspto50k(tmp_path_factory.mktemp("uspto50k"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, uspto_tiny) -> Path:
    """A 1-layer model trained 4 steps on the 20 reactions (its predictions are nonsense; shapes are not)."""
    from chemaccel.reaction import ReactionConfig, ReactionTrainer
    from chemaccel.runtime import RuntimeConfig

    out = tmp_path_factory.mktemp("models") / "tiny"
    ReactionTrainer(ReactionConfig(**TINY), uspto_tiny, out, runtime=RuntimeConfig(device="cpu")).run()
    return out
