"""2D depictions: PNG bytes and SVG text for molecules and SMILES, whatever their coordinates."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from chemaccel import api
from chemaccel.chem.depict import PNG_MAGIC, depict_png, depict_svg
from chemaccel.errors import InputError

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_MAGIC and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_png_from_smiles_has_the_magic_bytes_and_size():
    png = depict_png("CC(=O)Oc1ccccc1C(=O)O", (120, 90))
    assert _png_size(png) == (120, 90)
    assert _png_size(depict_png("c1ccccc1", 64)) == (64, 64)


def test_png_from_3d_records_with_hydrogens():
    records = [r for r in api.read_molecules(EXAMPLES / "molecules.sdf") if r.ok]
    assert records and records[0].mol.GetNumConformers() == 1
    for record in records[:3]:
        assert depict_png(record.mol, 80)[:8] == PNG_MAGIC
        assert record.mol.GetConformer().Is3D()  # the record's molecule is left alone


def test_svg_and_legend():
    svg = depict_svg("CCO", (200, 150), legend="ethanol")
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg and "width='200px'" in svg


def test_exported_through_the_api():
    assert api.depict_png is depict_png and api.depict_svg is depict_svg


@pytest.mark.parametrize("bad", ["C1CC", None])
def test_bad_input_is_an_input_error(bad):
    with pytest.raises(InputError):
        depict_png(bad)


def test_size_must_be_positive():
    with pytest.raises(InputError, match="size must be positive"):
        depict_png("CCO", (0, 10))
