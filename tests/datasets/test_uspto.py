"""USPTO readers: counts and first records of the real files, atom maps, bad lines, the download path."""

from __future__ import annotations

import gzip
import io
import itertools
import tarfile
import time
from pathlib import Path

import pytest

from chemaccel.chem.reactions import canonicalize_smiles, remove_atom_maps, split_reaction
from chemaccel.datasets.uspto import (
    USPTO_MIT_URL,
    ReactionRecord,
    detokenize,
    fetch_uspto50k,
    fetch_uspto_mit,
    read_uspto50k,
    read_uspto_mit,
)
from chemaccel.errors import InputError
from chemaccel.reporting import RecordingReporter

# First line of USPTO-MIT valid.txt, verbatim.
MIT_LINE_1 = (
    "[CH3:15][C:16](=[O:17])[CH3:18].[CH3:3][O:4][c:5]1[cH:6][cH:7][c:8]([S:11](=[O:12])(=[O:13])[Cl:14])"
    "[cH:9][cH:10]1.[I-:1].[Na+:2]>>[CH3:3][O:4][c:5]1[cH:6][cH:7][c:8]([S:11](=[O:12])[O-:13])[cH:9][cH:10]1"
    ".[Na+:2] 11-14;11-13"
)
MIT_1_REACTANTS = "CC(C)=O.COc1ccc(S(=O)(=O)Cl)cc1.[I-].[Na+]"
MIT_1_PRODUCT = "COc1ccc(S(=O)[O-])cc1.[Na+]"


@pytest.fixture(scope="module")
def uspto50k(shared_data: Path) -> Path:
    folder = shared_data / "uspto50k"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


@pytest.fixture(scope="module")
def uspto_mit(shared_data: Path) -> Path:
    folder = shared_data / "uspto_mit"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


def write_tar_gz(path: Path, member: str, text: str) -> Path:
    data = text.encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


# ---------------------------------------------------------------------------------------- chem helpers


def test_remove_atom_maps_known_example():
    assert remove_atom_maps("[CH3:1][OH:2]") == "CO"
    reactants, product = MIT_LINE_1.split()[0].split(">>")
    assert remove_atom_maps(reactants) == MIT_1_REACTANTS
    assert remove_atom_maps(product) == MIT_1_PRODUCT
    assert remove_atom_maps(MIT_LINE_1.split()[0]) == f"{MIT_1_REACTANTS}>>{MIT_1_PRODUCT}"
    assert ":" not in remove_atom_maps("[NH2:5][c:4]1[cH:3][cH:2][cH:1][cH:6][cH:7]1")


def test_canonicalize_smiles_multi_component_and_errors():
    assert canonicalize_smiles("OCC.C") == "C.CCO"
    assert canonicalize_smiles(" c1ccccc1 ") == "c1ccccc1"
    with pytest.raises(ValueError, match="empty"):
        canonicalize_smiles("  ")
    with pytest.raises(ValueError, match="valence"):
        canonicalize_smiles("C(C)(C)(C)(C)C")
    with pytest.raises(ValueError, match="cannot parse SMILES"):
        canonicalize_smiles("C1CC")


def test_split_reaction():
    assert split_reaction("CC.O>>CCO") == ("CC.O", "", "CCO")
    assert split_reaction("CC>[Pt]>CC") == ("CC", "[Pt]", "CC")
    with pytest.raises(ValueError, match="two '>'"):
        split_reaction("CC>CC")
    with pytest.raises(ValueError, match="whitespace"):
        split_reaction("CC>>CC 1-2")


def test_detokenize():
    assert detokenize("C C ( = O ) [ N H + ] \n") == "CC(=O)[NH+]"


# ------------------------------------------------------------------------------------------ USPTO-50K


def test_uspto50k_counts(uspto50k: Path):
    counts = {split: sum(1 for _ in read_uspto50k(uspto50k, split)) for split in ("train", "valid", "test")}
    assert counts == {"train": 40029, "valid": 5004, "test": 5004}


def test_uspto50k_first_record_forward_and_retro(uspto50k: Path):
    first = next(read_uspto50k(uspto50k, "train"))
    assert first.ok and first.index == 1 and first.reaction_class == 1
    assert first.source.endswith("src-train.txt")
    assert first.product == "O=C1CC[C@H](CN2CCN(CCOc3cc4ncnc(Nc5ccc(F)c(Cl)c5)c4cc3OC3CCCC3)CC2)O1"
    assert first.reactants == (
        "CS(=O)(=O)OC[C@H]1CCC(=O)O1.Fc1ccc(Nc2ncnc3cc(OCCN4CCNCC4)c(OC4CCCC4)cc23)cc1Cl"
    )
    assert (first.src, first.tgt) == (first.reactants, first.product)
    assert "<RX" not in first.src + first.tgt and " " not in first.src + first.tgt

    retro = next(read_uspto50k(uspto50k, "train", direction="retro"))
    assert (retro.src, retro.tgt) == (first.product, first.reactants)
    second = list(itertools.islice(read_uspto50k(uspto50k, "train"), 3))[1]
    assert second.reaction_class == 6


def test_uspto50k_classes_and_canonical(uspto50k: Path):
    records = list(itertools.islice(read_uspto50k(uspto50k, "valid", canonicalize=True), 200))
    assert all(r.ok for r in records)
    assert {r.reaction_class for r in records} <= set(range(1, 11))
    raw = list(itertools.islice(read_uspto50k(uspto50k, "valid"), 200))
    assert sum(a.product == b.product for a, b in zip(records, raw)) >= 190  # the files are canonical


def test_uspto50k_bad_lines(tmp_path: Path):
    (tmp_path / "src-valid.txt").write_text(
        "<RX_3> C C O\n"  # fine
        "<RX_x> C C O\n"  # bad class token
        "<RX_2>\n"  # no product
        "C C N\n"  # no class token: allowed
        "<RX_1> C 1 C C\n"  # unclosed ring
        "<RX_4> C\n"  # tgt has no line 6
    )
    (tmp_path / "tgt-valid.txt").write_text("C C . O\nC C . O\nC C . O\nC C . N\nC C\n")
    records = list(read_uspto50k(tmp_path, "valid"))
    assert [r.index for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0] == ReactionRecord(str(tmp_path / "src-valid.txt"), 1, "CC.O", "CCO", 3, None)
    assert "reaction-class token '<RX_x>'" in records[1].error
    assert records[2].error == "empty product (src)"
    assert records[3].ok and records[3].reaction_class is None
    assert records[4].ok and records[4].product == "C1CC"  # not canonicalized: text kept
    assert records[5].error == "tgt-valid.txt has no line 6"
    assert records[5].error_line() == f"{tmp_path / 'src-valid.txt'}: record 6: tgt-valid.txt has no line 6"

    checked = list(read_uspto50k(tmp_path, "valid", canonicalize=True))
    assert "unclosed ring" in checked[4].error and checked[0].ok


def test_uspto50k_missing_file_and_bad_arguments(tmp_path: Path):
    with pytest.raises(InputError, match="src-test.txt"):
        read_uspto50k(tmp_path, "test")
    with pytest.raises(InputError, match="unknown split"):
        read_uspto50k(tmp_path, "dev")
    with pytest.raises(InputError, match="unknown direction"):
        read_uspto50k(tmp_path, "test", direction="sideways")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ USPTO-MIT


def test_uspto_mit_valid_count_and_first_records(uspto_mit: Path):
    start = time.perf_counter()
    raw = list(read_uspto_mit(uspto_mit, "valid", canonicalize=False))
    assert time.perf_counter() - start < 10
    assert len(raw) == 30000 and all(r.ok for r in raw)
    assert raw[0].index == 1 and raw[-1].index == 30000
    assert raw[0].reactants == MIT_LINE_1.split()[0].split(">>")[0]
    assert raw[0].source.endswith("valid.txt.tar.gz")

    first = list(itertools.islice(read_uspto_mit(uspto_mit, "valid"), 50))
    assert all(r.ok for r in first)
    assert (first[0].reactants, first[0].product) == (MIT_1_REACTANTS, MIT_1_PRODUCT)
    assert first[0].reaction_class is None
    assert all(":" not in r.reactants + r.product for r in first)
    assert all(canonicalize_smiles(r.product) == r.product for r in first)
    # the same reactions, atom maps removed record by record
    assert [r.product for r in first] == [remove_atom_maps(r.product) for r in raw[:50]]


def test_uspto_mit_file_path_and_test_split_head(uspto_mit: Path):
    records = list(itertools.islice(read_uspto_mit(uspto_mit / "test.txt.tar.gz", direction="retro"), 5))
    assert len(records) == 5 and all(r.ok for r in records)
    assert records[0].src == records[0].product


def test_uspto_mit_bad_lines(tmp_path: Path):
    text = (
        MIT_LINE_1 + "\n"
        "CC.O>>CCO 1-2 extra\n"  # three fields
        "CCO 1-2\n"  # not a reaction
        "\n"  # blank: skipped
        "[CH3:1][C:2](C)(C)(C)C>>[CH3:1]C 1-2\n"  # bad valence
        "[CH3:1][OH:2]>[Pt]>[CH2:1]=[O:2] 1-2\n"  # reagents joined to the reactants
        ">>CC 1-2\n"  # empty reactant side
    )
    path = write_tar_gz(tmp_path / "valid.txt.tar.gz", "valid.txt", text)
    records = list(read_uspto_mit(tmp_path, "valid"))
    assert [r.index for r in records] == [1, 2, 3, 5, 6, 7]
    assert records[0].ok and records[0].product == MIT_1_PRODUCT
    assert "found 3 fields" in records[1].error
    assert "two '>'" in records[2].error
    assert "valence" in records[3].error and records[3].source == str(path)
    assert (records[4].reactants, records[4].product) == ("CO.[Pt]", "C=O")
    assert records[5].error == "empty reactants"

    plain = tmp_path / "plain.txt"
    plain.write_text(text)
    assert [r.error for r in read_uspto_mit(plain)] == [r.error for r in records]
    gz = tmp_path / "plain.txt.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    assert [r.product for r in read_uspto_mit(gz)] == [r.product for r in records]


def test_uspto_mit_damaged_and_missing(tmp_path: Path):
    path = write_tar_gz(tmp_path / "valid.txt.tar.gz", "valid.txt", (MIT_LINE_1 + "\n") * 2000)
    data = path.read_bytes()
    cut = tmp_path / "cut.txt.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.txt.tar.gz"):
        list(read_uspto_mit(cut, canonicalize=False))
    with pytest.raises(InputError, match="file not found"):
        read_uspto_mit(tmp_path / "nope.txt.tar.gz")
    with pytest.raises(InputError, match="needs a split"):
        read_uspto_mit(tmp_path)
    with pytest.raises(InputError, match="no test.txt.tar.gz"):
        read_uspto_mit(tmp_path, "test")


# ------------------------------------------------------------------------------------------ downloads


def test_fetch_uspto_mit_file_url(tmp_path: Path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    write_tar_gz(mirror / "valid.txt.tar.gz", "valid.txt", MIT_LINE_1 + "\n")
    reporter = RecordingReporter()
    url = mirror.as_uri() + "/"
    path = fetch_uspto_mit("valid", cache_dir=tmp_path / "cache", base_url=url, reporter=reporter)
    assert path == tmp_path / "cache" / "valid.txt.tar.gz" and path.is_file()
    assert reporter.starts and reporter.starts[0][0] == "download valid.txt.tar.gz"
    [record] = list(read_uspto_mit(path))
    assert (record.reactants, record.product) == (MIT_1_REACTANTS, MIT_1_PRODUCT)
    # cached: a second call does not download again
    again = RecordingReporter()
    assert fetch_uspto_mit("valid", tmp_path / "cache", base_url="file:///nowhere/", reporter=again) == path
    assert not again.starts
    with pytest.raises(InputError, match="sha256 mismatch"):
        fetch_uspto_mit("valid", tmp_path / "other", base_url=url, sha256="0" * 64)
    with pytest.raises(InputError, match="unknown split"):
        fetch_uspto_mit("dev", tmp_path)
    assert USPTO_MIT_URL.startswith("https://github.com/connorcoley/rexgen_direct/")


def test_fetch_uspto50k_file_url(tmp_path: Path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "src-test.txt").write_text("<RX_7> C C O\n")
    (mirror / "tgt-test.txt").write_text("C C = O\n")
    folder = fetch_uspto50k("test", cache_dir=tmp_path / "cache", base_url=mirror.as_uri() + "/")
    [record] = list(read_uspto50k(folder, "test"))
    assert (record.reactants, record.product, record.reaction_class) == ("CC=O", "CCO", 7)
