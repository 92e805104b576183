"""The reaction corpus builder: reagents told apart by the atom maps, held-out products removed, counts."""

from __future__ import annotations

import csv
import io
import lzma
import tarfile

from chemaccel.datasets.reaction_corpus import build_corpus, split_by_maps

# acetyl chloride + aniline with triethylamine (a reagent: no atom in the edits / product)
MIT_VALID = ("[CH3:1][C:2](=[O:3])[Cl:4].[NH2:5][c:6]1[cH:7][cH:8][cH:9][cH:10][cH:11]1.[CH3:12][CH2:13][N:14]"
             "([CH2:15][CH3:16])[CH2:17][CH3:18]>>CC(=O)Nc1ccccc1 2-4;2-5\n")
# the same reaction again (a duplicate) and an ester hydrolysis whose product is a held-out product
MIT_VALID += MIT_VALID
MIT_VALID += "[CH3:1][C:2](=[O:3])[O:4][CH3:5].[Na+:6].[OH-:7]>>CC(=O)O 2-4;2-7\n"
MIT_TEST = "[CH3:1][C:2](=[O:3])[O:4][CH2:5][CH3:6].[OH2:7]>>CC(=O)O 2-4;2-7\n"
# USPTO-15K: mapped product; the sodium hydride never shares a map with it
U15K = "[CH3:1][I:2].[OH:3][c:4]1[cH:5][cH:6][cH:7][cH:8][cH:9]1.[Na+:10].[H-:11]>>[CH3:1][O:3][c:4]1[cH:5][cH:6][cH:7][cH:8][cH:9]1 1-2;1-3\n"
GLN = "input,target\n[CH3:1][C:2](=[O:3])[NH:4][CH3:5],[CH3:1][C:2](=[O:3])[OH:6].[NH2:4][CH3:5].ClCCl\n"


def _tar(path, name, text):
    data = text.encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_split_by_maps():
    assert split_by_maps(["[CH3:1]Cl", "CCN(CC)CC", "[Na+:9]"], {1}) == (["[CH3:1]Cl"], ["CCN(CC)CC", "[Na+:9]"])


def test_build_corpus(tmp_path):
    data = tmp_path / "data"
    (data / "uspto_mit").mkdir(parents=True)
    _tar(data / "uspto_mit" / "valid.txt.tar.gz", "valid.txt", MIT_VALID)
    _tar(data / "uspto_mit" / "test.txt.tar.gz", "test.txt", MIT_TEST)
    (data / "uspto15k").mkdir()
    with lzma.open(data / "uspto15k" / "train.txt.xz", "wt") as fh:
        fh.write(U15K)
    (data / "uspto_full_gln").mkdir()
    with lzma.open(data / "uspto_full_gln" / "uspto_valT.csv.xz", "wt") as fh:
        fh.write(GLN)
    (data / "uspto50k").mkdir()
    (data / "uspto50k" / "src-train.txt").write_text("<RX_1> C C ( = O ) N C C\nC C (\n")
    (data / "uspto50k" / "tgt-train.txt").write_text("C C ( = O ) O . N C C\nC C\n")
    summary = build_corpus(data, tmp_path / "corpus", valid_fraction=0.25, workers=1)
    assert dict(summary.read) == {"uspto_full": 1, "uspto_mit_valid": 3, "uspto15k": 1, "uspto50k": 2}
    assert summary.held_out_products == 1 and dict(summary.held_out) == {"uspto_mit_valid": 1}
    assert dict(summary.duplicates) == {"uspto_mit_valid": 1}
    assert dict(summary.unreadable) == {"uspto50k": 1}
    assert sum(summary.kept.values()) == 4 and summary.splits["train"] + summary.splits["valid"] == 4
    rows = []
    for name in ("train", "valid"):
        with open(tmp_path / "corpus" / f"{name}.tsv") as fh:
            rows += list(csv.DictReader(fh, delimiter="\t"))
    by_source = {r["source"]: r for r in rows}
    assert by_source["uspto_mit_valid"] == {"reactants": "CC(=O)Cl.Nc1ccccc1", "reagents": "CCN(CC)CC",
                                            "product": "CC(=O)Nc1ccccc1", "source": "uspto_mit_valid"}
    assert by_source["uspto15k"]["reactants"] == "CI.Oc1ccccc1" and by_source["uspto15k"]["reagents"] == "[H-].[Na+]"
    assert by_source["uspto_full"] == {"reactants": "CC(=O)O.CN", "reagents": "ClCCl", "product": "CNC(C)=O",
                                       "source": "uspto_full"}
    assert by_source["uspto50k"]["reagents"] == "" and by_source["uspto50k"]["product"] == "CCNC(C)=O"


def test_edit_atoms_read_both_edit_formats():
    from chemaccel.datasets.reaction_corpus import _edit_atoms

    assert _edit_atoms("11-14;11-13") == {11, 13, 14}
    assert _edit_atoms("29;;29-30-2.0,30-31-1.0;29-30-3.0") == {29, 30, 31}


def test_mit_as_given_removes_maps_and_keeps_reagents(tmp_path):
    from chemaccel.datasets.reaction_corpus import mit_as_given

    (tmp_path / "uspto_mit").mkdir()
    _tar(tmp_path / "uspto_mit" / "valid.txt.tar.gz", "valid.txt", MIT_VALID)
    inputs, expected = mit_as_given(tmp_path / "uspto_mit", "valid", 10, seed=0)
    assert sorted(expected) == ["CC(=O)Nc1ccccc1", "CC(=O)Nc1ccccc1", "CC(=O)O"]
    assert "CC(=O)Cl.CCN(CC)CC.Nc1ccccc1" in inputs  # the base stays in, as a chemist types it
    assert all(":" not in smi for smi in inputs)
