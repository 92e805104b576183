"""Reading and writing molecule files: every format, every bad input, round trips."""

from __future__ import annotations

import gzip
import inspect
import itertools
import sqlite3
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from chemaccel.chem.molecules import (
    MoleculeRecord,
    canonical_smiles,
    read_all,
    read_molecules,
    write_csv,
    write_sdf,
)
from chemaccel.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "resources" / "examples"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------
# SMILES


def test_canonical_smiles():
    assert canonical_smiles("OCC") == "CCO"
    assert canonical_smiles("C1=CC=CC=C1") == "c1ccccc1"
    with pytest.raises(InputError) as info:
        canonical_smiles("C1CC")
    assert str(info.value) == "<smiles>: cannot parse SMILES 'C1CC': unclosed ring"


def test_smiles_file_reads_names_and_skips_comments():
    good, bad = read_all(EXAMPLES / "molecules.smi")
    assert bad == []
    assert len(good) == 20
    assert [r.index for r in good] == list(range(1, 21))
    assert good[0].name == "aspirin" and good[0].smiles == "CC(=O)Oc1ccccc1C(=O)O"
    assert good[3].name == "caffeine" and good[3].smiles == canonical_smiles("Cn1cnc2c1c(=O)n(C)c(=O)n2C")
    assert all(r.ok and r.error is None and not r.has_3d and r.geometry_source is None for r in good)


def test_smiles_errors_name_record_and_reason_and_keep_good(capfd):
    path = EXAMPLES / "with_errors.smi"
    good, bad = read_all(path)
    assert [r.name for r in good] == ["ethanol", "benzene", "aspirin", "caffeine"]
    assert [r.index for r in good] == [1, 2, 5, 8]
    assert {r.index: r.error for r in bad} == {
        3: "cannot parse SMILES 'C(C)(C)(C)(C)C': "
        "Explicit valence for atom # 0 C, 5, is greater than permitted",
        4: "cannot parse SMILES 'C1CC': unclosed ring",
        6: "cannot parse SMILES 'not_a_smiles': syntax error at position 3",
        7: "cannot parse SMILES 'c1cccc1': Can't kekulize mol. Unkekulized atoms: 0 1 2 3 4",
    }
    assert bad[0].error_line() == (
        f"{path}: record 3: cannot parse SMILES 'C(C)(C)(C)(C)C': "
        "Explicit valence for atom # 0 C, 5, is greater than permitted"
    )
    assert all(not r.ok and r.mol is None and r.smiles == "" for r in bad)
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # rdkit's own log is captured, not printed


def test_smiles_header_blank_lines_and_names_with_spaces(tmp_path):
    path = _write(tmp_path / "m.smi", "SMILES Name\n\n  OCC   ethyl alcohol \n# comment\nC\n")
    records = list(read_molecules(path))
    assert [(r.index, r.smiles, r.name) for r in records] == [(1, "CCO", "ethyl alcohol"), (2, "C", "")]


def test_reader_is_lazy_and_memory_is_bounded(tmp_path):
    path = tmp_path / "big.smi"
    with open(path, "w") as handle:
        for i in range(20000):
            handle.write(f"CC(=O)O acid{i}\n")
    stream = read_molecules(path)
    assert inspect.isgenerator(stream)
    assert [r.name for r in itertools.islice(stream, 3)] == ["acid0", "acid1", "acid2"]
    stream.close()
    tracemalloc.start()
    try:
        count = sum(1 for r in read_molecules(path) if r.ok)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20000
    assert peak < 2_000_000  # records are not accumulated


# --------------------------------------------------------------------------------------------------
# whole-file problems


BINARY = "binary file (contains NUL bytes), not a text molecule file"
NOT_UTF8 = "not a UTF-8 text file (binary or another encoding)"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.smi", b"", "empty file"),
        ("blank.smi", b"\n  \n\n", "empty file (only blank lines)"),
        ("binary.smi", b"CCO\x00\x01\x02\xff" * 10, BINARY),
        ("latin.smi", "CCO \xe9thanol\n".encode("latin-1"), NOT_UTF8),
        ("binary.sdf", bytes(range(256)), BINARY),
        ("bad.sdf.gz", b"not gzip at all", "not a valid gzip file"),
    ],
)
def test_whole_file_problems_raise_at_once(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_molecules(path)  # raised before iterating
    assert str(info.value) == f"{path}: {reason}"
    assert info.value.record is None


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(InputError, match=r"nope\.smi: no such file$"):
        read_molecules(tmp_path / "nope.smi")
    path = _write(tmp_path / "mols.pdb", "ATOM\n")
    with pytest.raises(InputError) as info:
        read_molecules(path)
    message = str(info.value)
    assert message.startswith(f"{path}: unknown file type '.pdb'; known: .smi")
    for ext in (".csv", ".sdf", ".xyz", ".db"):
        assert ext in message
    assert "\n" not in message


def test_fmt_overrides_extension(tmp_path):
    path = _write(tmp_path / "mols.dat", "smiles,name\nOCC,ethanol\n")
    assert [r.smiles for r in read_molecules(path, fmt="csv")] == ["CCO"]
    with pytest.raises(InputError, match="unknown format 'pdb'"):
        read_molecules(path, fmt="pdb")


# --------------------------------------------------------------------------------------------------
# CSV


def test_csv_autodetects_smiles_and_name_columns():
    good, bad = read_all(EXAMPLES / "molecules.csv")  # the header says "SMILES"
    assert bad == [] and len(good) == 20
    assert good[0].name == "aspirin"
    assert good[0].smiles == "CC(=O)Oc1ccccc1C(=O)O"
    assert good[0].props == {"mol_weight": 180.16, "logp": 1.31}


def test_csv_without_smiles_column_names_the_columns():
    path = EXAMPLES / "no_smiles_column.csv"
    with pytest.raises(InputError) as info:
        read_molecules(path)
    assert str(info.value) == (
        f"{path}: no SMILES column found (the columns are: name, formula, boiling_point); "
        "name one with --smiles-column"
    )


def test_csv_smiles_column_option_and_bad_rows(tmp_path):
    text = "ID;Structure;pIC50\nm1;OCC;6.5\nm2;C(C)(C)(C)(C)C;7\nm3;;5\nm4;CCN;n/a;extra\nm5;c1ccccc1\n"
    path = _write(tmp_path / "assay.csv", text)
    records = list(read_molecules(path, smiles_column="structure"))
    assert [r.index for r in records] == [1, 2, 3, 4, 5]
    assert records[0].smiles == "CCO" and records[0].name == "m1" and records[0].props == {"pIC50": 6.5}
    assert records[1].error.startswith("cannot parse SMILES 'C(C)(C)(C)(C)C': Explicit valence")
    assert records[2].error == "empty SMILES" and records[2].name == "m3"
    assert records[3].error == "row has 4 fields but the header has 3"
    assert records[4].ok and records[4].props == {}  # a missing trailing cell is just missing
    with pytest.raises(InputError, match=r"no column 'smi'; the columns are: ID, Structure, pIC50"):
        read_molecules(path, smiles_column="smi")


def test_tsv(tmp_path):
    path = _write(tmp_path / "m.tsv", "name\tsmiles\tlabel\nx\tOCC\tactive\n")
    (record,) = read_molecules(path)
    assert (record.smiles, record.name, record.props) == ("CCO", "x", {"label": "active"})


# --------------------------------------------------------------------------------------------------
# SDF


def test_sdf_keeps_3d_coordinates_and_properties():
    good, bad = read_all(EXAMPLES / "molecules.sdf")
    assert bad == [] and len(good) == 10
    first = good[0]
    assert first.name == "aspirin" and first.smiles == "CC(=O)Oc1ccccc1C(=O)O"
    assert first.props["mol_weight"] == 180.16 and first.props["forcefield"] == "MMFF94"
    assert first.has_3d and first.geometry_source == "file"
    assert first.positions.shape == (first.mol.GetNumAtoms(), 3) == (21, 3)  # hydrogens kept
    assert list(first.numbers[:4]) == [6, 6, 8, 8]
    np.testing.assert_allclose(first.positions[0], [3.0775, 1.1828, -0.8399])


def test_sdf_broken_block_and_bad_valence_become_error_records(capfd):
    path = EXAMPLES / "with_errors.sdf"
    records = list(read_molecules(path))
    assert [r.index for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r.name for r in records if r.ok] == ["ethanol", "benzene", "acetic_acid", "acetonitrile"]
    assert records[2].error_line() == (
        f"{path}: record 3: cannot parse molfile block: Cannot convert 'not' to unsigned int on line 63"
    )
    assert records[4].error_line() == (
        f"{path}: record 5: cannot sanitize molecule: "
        "Explicit valence for atom # 0 C, 5, is greater than permitted"
    )
    assert records[3].props == {"activity": 3.0}
    assert capfd.readouterr().err == ""


def test_gzipped_sdf_and_mol_file(tmp_path):
    gz = tmp_path / "m.sdf.gz"
    gz.write_bytes(gzip.compress((EXAMPLES / "molecules.sdf").read_bytes()))
    expected = [r.smiles for r in read_molecules(EXAMPLES / "molecules.sdf")]
    assert [r.smiles for r in read_molecules(gz)] == expected
    block = (EXAMPLES / "molecules.sdf").read_text().split("$$$$")[0]
    (record,) = read_molecules(_write(tmp_path / "aspirin.mol", block))
    assert record.smiles == "CC(=O)Oc1ccccc1C(=O)O"


def test_truncated_gzip_raises_input_error_after_the_good_records(tmp_path):
    data = gzip.compress((EXAMPLES / "molecules.smi").read_bytes() * 200)
    path = tmp_path / "cut.smi.gz"
    path.write_bytes(data[: len(data) // 2])
    seen = []
    with pytest.raises(InputError, match=r"cut\.smi\.gz: cannot read beyond record \d+: "):
        for record in read_molecules(path):
            seen.append(record)
    assert len(seen) > 20 and all(r.ok for r in seen)


def test_overlong_sdf_block_is_an_error_record(tmp_path, monkeypatch):
    from chemaccel.chem import readers

    monkeypatch.setattr(readers, "MAX_BLOCK_LINES", 40)
    blocks = (EXAMPLES / "with_errors.sdf").read_text().split("$$$$\n")
    text = blocks[0] + "$$$$\n" + "junk\n" * 100 + "$$$$\n" + blocks[1] + "$$$$\n"
    records = list(read_molecules(_write(tmp_path / "long.sdf", text)))
    assert [r.name for r in records if r.ok] == ["ethanol", "benzene"]
    assert records[1].error == "block starting on line 27 has more than 40 lines without '$$$$'"


# --------------------------------------------------------------------------------------------------
# XYZ


def test_extxyz_frames_props_and_perceived_bonds():
    good, bad = read_all(EXAMPLES / "molecules.xyz")
    assert bad == []
    assert [r.name for r in good] == ["water", "methane", "ethanol", "acetonitrile", "benzene"]
    assert [r.smiles for r in good] == ["O", "C", "CCO", "CC#N", "c1ccccc1"]
    assert all(set(r.props) == {"energy"} and isinstance(r.props["energy"], float) for r in good)
    ethanol = good[2]
    assert ethanol.positions.shape == (9, 3) and list(ethanol.numbers[:3]) == [6, 6, 8]
    assert ethanol.geometry_source == "file"


def test_xyz_wrong_atom_count_and_bad_atom_line_resume_at_next_frame():
    path = EXAMPLES / "with_errors.xyz"
    records = list(read_molecules(path))
    assert [(r.index, r.ok) for r in records] == [(1, True), (2, False), (3, True), (4, False), (5, True)]
    assert records[1].error_line() == f"{path}: record 2: frame says 5 atoms but has 3 atom lines"
    assert records[3].error == "bad atom line 'H 0.96 0.0'"
    assert [r.smiles for r in records if r.ok] == ["O", "CCO", "C"]


def test_xyz_extra_atom_lines_unknown_element_and_failed_bond_perception(tmp_path):
    text = (
        "4\nmethyl radical\nC 0 0 0\nH 1.08 0 0\nH -0.54 0.935 0\nH -0.54 -0.935 0\n"
        "2\ntoo many\nH 0 0 0\nH 0.74 0 0\nH 3 0 0\n"
        "1\nunknown\nQq 0 0 0\n"
        "3\nname=water charge=0 note=\"a b\"\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n"
    )
    records = list(read_molecules(_write(tmp_path / "r.xyz", text)))
    radical = records[0]
    assert radical.ok and radical.mol is None and radical.smiles == "" and radical.positions.shape == (4, 3)
    assert radical.props["bonds"].startswith("not perceived: ")
    assert records[1].error == "frame says 2 atoms but has 3 atom lines"
    assert records[2].error == "unknown element 'Qq' in atom line 'Qq 0 0 0'"
    water = records[3]
    assert (water.name, water.smiles, water.props) == ("water", "O", {"charge": 0, "note": "a b"})


# --------------------------------------------------------------------------------------------------
# ASE database


def test_ase_db_qm9_fixture(shared_data):
    good, bad = read_all(shared_data / "schnetpack" / "test_qm9.db")
    assert bad == [] and len(good) == 20
    assert [r.smiles for r in good[:3]] == ["C", "N", "O"]
    methane = good[0]
    assert list(methane.numbers) == [6, 1, 1, 1, 1] and methane.positions.shape == (5, 3)
    assert methane.props["energy_U0"] == pytest.approx(-40.47893)
    assert methane.charge == 0 and methane.geometry_source == "file"


def test_ase_db_written_here(tmp_path):
    from ase import Atoms
    from ase.db import connect

    path = tmp_path / "mols.db"
    with connect(str(path)) as db:
        water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
        db.write(water, name="water", energy_ev=-14.2)
        db.write(Atoms("CH3", positions=[[0, 0, 0], [1.08, 0, 0], [-0.54, 0.935, 0], [-0.54, -0.935, 0]]))
    water, methyl = read_molecules(path)
    assert (water.name, water.smiles, water.props) == ("water", "O", {"energy_ev": -14.2})
    assert methyl.ok and methyl.mol is None and methyl.props["bonds"].startswith("not perceived")


def test_files_that_are_not_ase_databases(tmp_path):
    text_db = _write(tmp_path / "text.db", "not a database\n")
    with pytest.raises(InputError, match=r"text\.db: not an ASE database \(not an SQLite file\)$"):
        read_molecules(text_db)
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x INTEGER)")
    con.commit()
    con.close()
    before = other.read_bytes()
    with pytest.raises(InputError, match="without a 'systems' table"):
        read_molecules(other)
    assert other.read_bytes() == before  # ASE did not add its tables to someone else's file


# --------------------------------------------------------------------------------------------------
# writers


def test_write_sdf_round_trip_keeps_smiles_props_and_coordinates(tmp_path):
    original = [r for r in read_molecules(EXAMPLES / "molecules.sdf")]
    out = tmp_path / "copy.sdf"
    assert write_sdf(iter(original), out) == 10
    again = list(read_molecules(out))
    assert [r.smiles for r in again] == [r.smiles for r in original]
    assert [r.name for r in again] == [r.name for r in original]
    assert [r.props for r in again] == [r.props for r in original]
    for a, b in zip(original, again):
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-4)


def test_write_sdf_skips_bad_records_and_gives_smiles_2d_coordinates(tmp_path):
    out = tmp_path / "out.sdf"
    assert write_sdf(read_molecules(EXAMPLES / "with_errors.smi"), out) == 4
    again = list(read_molecules(out))
    caffeine = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"
    assert [r.smiles for r in again] == ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", caffeine]
    assert not any(r.has_3d for r in again)


def test_write_csv_columns_status_and_props(tmp_path):
    out = tmp_path / "out.csv"
    assert write_csv(read_molecules(EXAMPLES / "with_errors.sdf"), out) == 6
    lines = out.read_text().splitlines()
    assert lines[0] == "index,name,smiles,status,activity"
    assert lines[1] == "1,ethanol,CCO,ok,1.5"
    assert lines[3].startswith("3,broken_block,,cannot parse molfile block: Cannot convert")
    (record,) = [r for r in read_molecules(out, smiles_column="smiles") if r.index == 1]
    assert record.props == {"index": 1.0, "status": "ok", "activity": 1.5}
    out2 = tmp_path / "cols.csv"
    write_csv(read_molecules(EXAMPLES / "molecules.csv"), out2, extra_columns=["logp"])
    assert out2.read_text().splitlines()[1] == "1,aspirin,CC(=O)Oc1ccccc1C(=O)O,ok,1.31"


def test_writers_are_atomic(tmp_path):
    def records():
        yield from read_molecules(EXAMPLES / "molecules.smi")
        raise RuntimeError("disk on fire")

    for writer, name in ((write_csv, "out.csv"), (write_sdf, "out.sdf")):
        with pytest.raises(RuntimeError):
            writer(records(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_record_basics():
    bad = MoleculeRecord.failed("f.smi", 7, "cannot parse\n SMILES")
    assert not bad.ok and bad.smiles == "" and bad.error_line() == "f.smi: record 7: cannot parse SMILES"
    geometry_only = MoleculeRecord("f.xyz", 1, numbers=np.array([1]), positions=np.zeros((1, 3)))
    assert geometry_only.ok and geometry_only.smiles == ""


def test_sdf_block_with_non_utf8_bytes_is_a_bad_record_not_a_crash(tmp_path):
    blocks = (EXAMPLES / "molecules.sdf").read_bytes().split(b"$$$$\n")
    lines = blocks[2].split(b"\n")  # beyond the first KB, which is checked for UTF-8 as a whole
    lines[4] = lines[4][:30] + b"\xef\xbf" + lines[4][32:]  # an atom line with bytes that are not UTF-8
    blocks[2] = b"\n".join(lines)
    path = tmp_path / "bytes.sdf"
    path.write_bytes(b"$$$$\n".join(blocks))
    records = list(read_molecules(path))
    assert not records[2].ok and records[2].index == 3 and "\n" not in records[2].error
    assert sum(r.ok for r in records) == len(records) - 1 and len(records) == len(blocks) - 1
