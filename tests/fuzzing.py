"""Hypothesis strategies and a runner that fuzz chemaccel's parsers (used by tests/test_fuzz.py for a
fast subset and by scripts/fuzz_parsers.py for 10,000 cases per parser).

Each case is a file made by mutating a valid seed file (byte edits, deleted/duplicated lines, cut
at a random point) or by random bytes; the parser must either return records (good or bad) or raise a
:class:`~chemaccel.errors.ChemAccelError`. Anything else "escapes" and is a bug.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chemaccel.errors import ChemAccelError

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"


def _seed_bytes(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes, alphabet: bytes) -> bytes:
    """A seed file with a few random edits: replace/insert/delete bytes, drop or repeat lines, truncate."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "dropline", "dupline", "truncate"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if op == "replace":
            data[pos] = draw(st.sampled_from(alphabet))
        elif op == "insert":
            data[pos:pos] = bytes(draw(st.lists(st.sampled_from(alphabet), min_size=1, max_size=8)))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op in ("dropline", "dupline"):
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines[i:i + 1] = [] if op == "dropline" else [lines[i], lines[i]]
            data = bytearray(b"\n".join(lines))
        else:
            del data[pos:]
    return bytes(data)


TEXT_ALPHABET = b"CNOSPFclnos()[]=#@+-123456789%/\\.* \t\n,\"'0:;xyzHe\x00\xff"


def file_strategy(seed_name: str) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(_seed_bytes(seed_name), TEXT_ALPHABET), st.binary(max_size=300))


def _store_seed() -> bytes:
    import tempfile

    from chemaccel.chem.store import MoleculeStore

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.h5"
        with MoleculeStore.create(path, {"energy": "eV"}) as store:
            store.append([np.array([8, 1, 1]), np.array([6, 1, 1, 1, 1])],
                         [np.zeros((3, 3)), np.eye(5, 3)], properties={"energy": np.array([1.0, 2.0])},
                         smiles=["O", "C"], names=["water", "methane"])
        return path.read_bytes()


def _molecule_parser(suffix: str) -> Callable[[Path, bytes], int]:
    from chemaccel.chem.molecules import read_molecules

    def parse(folder: Path, data: bytes) -> tuple[int, int]:
        path = folder / f"case{suffix}"
        path.write_bytes(data)
        good = bad = 0
        for record in read_molecules(path):
            if record.ok:
                good += 1
                _ = record.smiles
            else:
                assert "\n" not in record.error_line()
                bad += 1
        return good, bad

    return parse


def _model_parser(folder: Path, data: bytes) -> tuple[int, int]:
    """A model folder whose config.json or safetensors bytes are the case."""
    import torch

    from chemaccel.checkpoint import CONFIG_NAME, WEIGHTS_NAME, ModelInfo, load_model_folder, save_model_folder

    model = folder / "model"
    save_model_folder(model, ModelInfo(engine="fuzz", config={"a": 1}), {"w": torch.arange(6.0).reshape(2, 3)})
    target = CONFIG_NAME if data[:1] in (b"{", b" ") else WEIGHTS_NAME
    (model / target).write_bytes(data)
    load_model_folder(model)
    return 1, 0


def _reaction_parser(folder: Path, data: bytes) -> tuple[int, int]:
    from chemaccel.datasets.uspto import read_uspto_mit

    path = folder / "reactions.txt"
    path.write_bytes(data)
    good = bad = 0
    for rec in read_uspto_mit(path):
        good, bad = good + rec.ok, bad + (not rec.ok)
    return good, bad


REACTION_SEED = (b"[CH3:1][OH:2].[CH3:3][C:4](=[O:5])[Cl:6]>>[CH3:3][C:4](=[O:5])[O:2][CH3:1] 2-4-1.0\n"
                 b"[cH:1]1[cH:2][cH:3][cH:4][cH:5][cH:6]1.[Br:7][Br:8]>[Fe]>[Br:7][c:1]1[cH:2][cH:3][cH:4][cH:5][cH:6]1 1-7-1.0\n")


def _model_strategy() -> st.SearchStrategy[bytes]:
    import torch
    from safetensors.torch import save

    config = json.dumps({"format": "chemaccel-model", "format_version": 1, "engine": "fuzz", "config": {"a": 1},
                         "architecture": {}, "units": {}, "metrics": {}}).encode()
    weights = save({"w": torch.arange(6.0).reshape(2, 3)})
    return st.one_of(mutated(config, b'{}[]":,0123456789abcdefnrtu \x00'), mutated(weights, bytes(range(256))),
                     st.binary(max_size=200))


PARSERS: dict[str, tuple[Callable[[], st.SearchStrategy[bytes]], Callable[[Path, bytes], tuple[int, int]]]] = {
    "smi": (lambda: file_strategy("with_errors.smi"), _molecule_parser(".smi")),
    "csv": (lambda: file_strategy("molecules.csv"), _molecule_parser(".csv")),
    "sdf": (lambda: file_strategy("molecules.sdf"), _molecule_parser(".sdf")),
    "xyz": (lambda: file_strategy("molecules.xyz"), _molecule_parser(".xyz")),
    "h5": (lambda: st.one_of(mutated(_store_seed(), bytes(range(256))), st.binary(max_size=200)),
           _molecule_parser(".h5")),
    "model": (_model_strategy, _model_parser),
    "reaction": (lambda: st.one_of(mutated(REACTION_SEED, TEXT_ALPHABET + b">:"), st.binary(max_size=200)),
                 _reaction_parser),
}


def run_parser_fuzz(name: str, folder: Path, cases: int, seed: int = 0) -> dict[str, Any]:
    """Run ``cases`` hypothesis cases against parser ``name``; return counts and escaped exceptions."""
    strategy_factory, parse = PARSERS[name]
    stats: dict[str, Any] = {"cases": 0, "records_ok": 0, "records_bad": 0, "file_errors": 0, "escaped": []}
    case_dir = folder / name
    case_dir.mkdir(parents=True, exist_ok=True)

    @settings(max_examples=cases, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[__import__("hypothesis").Phase.generate])
    @given(strategy_factory())
    def one(data: bytes) -> None:
        stats["cases"] += 1
        try:
            good, bad = parse(case_dir, data)
            stats["records_ok"] += good
            stats["records_bad"] += bad
        except ChemAccelError as exc:
            assert "\n" not in str(exc), f"multi-line error: {exc!r}"
            stats["file_errors"] += 1
        except Exception as exc:  # noqa: BLE001 - this is what we are looking for
            if len(stats["escaped"]) < 20:
                stats["escaped"].append({"type": type(exc).__name__, "message": str(exc)[:300],
                                         "input": data[:200].decode("latin-1"),
                                         "where": traceback.format_exc().splitlines()[-3][:200]})

    one()
    return stats
