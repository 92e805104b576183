"""Distribution metrics of generated molecules, each against an independent computation."""

import math

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import AllChem, Descriptors, QED
from scipy.stats import wasserstein_distance

from chemaccel.errors import InputError
from chemaccel.gan.distribution import (distribution_metrics, fcd, fcd_available, internal_diversity,
                                        property_distances, read_reference, uniqueness_at)


def test_uniqueness_at_counts_the_first_n_samples_only():
    smiles = ["CCO", "CCO", None, "CCN", "CCC", "CCC"]
    assert uniqueness_at(smiles, 3) == 0.5  # CCO, CCO valid; one distinct
    assert uniqueness_at(smiles, 6) == 3 / 5
    assert uniqueness_at([None, ""], 2) == 0.0


def test_internal_diversity_is_one_minus_mean_pairwise_tanimoto():
    smiles = ["CCO", "CCN", "c1ccccc1", "CCO", None]
    fps = [AllChem.GetMorganFingerprintAsBitVect(Chem.MolFromSmiles(s), 2, nBits=1024) for s in smiles[:4]]
    sims = [DataStructs.TanimotoSimilarity(fps[i], fps[j]) for i in range(4) for j in range(i + 1, 4)]
    assert internal_diversity(smiles) == pytest.approx(1.0 - np.mean(sims), abs=1e-12)
    assert internal_diversity(["CCO", "CCO"]) == pytest.approx(0.0)
    assert math.isnan(internal_diversity(["CCO", None]))
    # a subset when there are more valid molecules than max_molecules
    assert 0.0 < internal_diversity(["CCO", "CCN", "CCC", "OCO"] * 3, max_molecules=4, seed=1) <= 1.0


def test_property_distances_match_scipy_on_rdkit_descriptors():
    gen, ref = ["CCO", "CCCCCC", None], ["CCN", "c1ccccc1O", "CC(=O)O"]
    d = property_distances(gen, ref)
    qed = lambda ss: [QED.qed(Chem.MolFromSmiles(s)) for s in ss if s]  # noqa: E731
    wt = lambda ss: [Descriptors.MolWt(Chem.MolFromSmiles(s)) for s in ss if s]  # noqa: E731
    assert d["qed"] == pytest.approx(wasserstein_distance(qed(gen), qed(ref)))
    assert d["weight"] == pytest.approx(wasserstein_distance(wt(gen), wt(ref)))
    assert d["heavy_atoms"] == pytest.approx(wasserstein_distance([3, 6], [3, 7, 4]))
    assert property_distances(gen, gen)["sa"] == 0.0


@pytest.mark.skipif(not fcd_available(), reason="fcd_torch is not installed")
def test_fcd_is_zero_for_the_same_set_and_positive_for_another():
    a = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCC", "OCCO"]
    b = ["C#N", "FC(F)F", "C1CC1", "NC=O", "CC#C", "OC=O"]
    assert fcd(a, a) == pytest.approx(0.0, abs=1e-3)
    assert fcd(a, b) > 1.0
    assert math.isnan(fcd(["CCO"], b))


def test_distribution_metrics_report_uniqueness_at_the_sizes_reached():
    smiles = ["CCO", "CCN"] * 600
    out = distribution_metrics(smiles, reference=["CCO", "CCC", "CCN"])
    assert out["uniqueness_1000"] == 2 / 1000 and "uniqueness_10000" not in out
    assert out["n_reference"] == 3 and out["w_heavy_atoms"] == pytest.approx(0.0)


def test_read_reference_from_a_smiles_file(tmp_path):
    f = tmp_path / "ref.csv"
    f.write_text("smiles,name\nCCO,ethanol\nnot_a_smiles,x\n\nc1ccccc1,benzene\n")
    assert read_reference(f) == ["CCO", "c1ccccc1"]
    bad = tmp_path / "bad.smi"
    bad.write_text("xx\nyy\n")
    with pytest.raises(InputError, match=r"bad.smi: no readable reference molecule \(of 2 records\)$"):
        read_reference(bad)
    with pytest.raises(InputError, match=r"missing.smi: reference file not found$"):
        read_reference(tmp_path / "missing.smi")
    upper = tmp_path / "upper.smi"
    upper.write_text("SMILES\nCCO\n", encoding="utf-8")  # the header is skipped whatever its case
    assert read_reference(upper) == ["CCO"]
    binary = tmp_path / "bin.smi"
    binary.write_bytes(b"CCO\n\xff\xfe\n")
    with pytest.raises(InputError, match=r"bin.smi: not a text SMILES file \(invalid start byte at byte 4\)$"):
        read_reference(binary)


@pytest.mark.parametrize("suffix", [".h5", ".HDF5"])
def test_read_reference_from_a_store_reads_its_test_split(tmp_path, suffix):
    import numpy as np
    from rdkit import Chem

    from chemaccel.chem.store import MoleculeStore

    smiles = ["C", "CC", "CCO", "CCN", "c1ccccc1", "not-a-smiles"]
    numbers = [np.array([a.GetAtomicNum() for a in Chem.AddHs(m).GetAtoms()]) if (m := Chem.MolFromSmiles(s))
               else np.array([6]) for s in smiles]
    positions = [np.zeros((len(z), 3)) + np.arange(len(z))[:, None] for z in numbers]
    path = tmp_path / f"s{suffix}"
    with MoleculeStore.create(path, {"gap": "eV"}) as store:
        store.append(numbers, positions, smiles=smiles, properties={"gap": np.zeros(len(smiles))})
        store.set_split("train", np.arange(2))
        store.set_split("test", np.arange(2, 6))
    assert read_reference(path) == ["CCO", "CCN", "c1ccccc1"]
