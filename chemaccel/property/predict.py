"""Prediction: ``load_model(path).predict(molecules)`` and the streaming batch CSV writer.

Inputs: SMILES (embedded in 3D with rdkit ETKDG + MMFF; such rows say ``geometry=forcefield``), records
with 3D coordinates (XYZ, SDF, ASE db, a molecule store: ``geometry=file``), ASE ``Atoms``, or
``(numbers, positions)`` pairs. A 2D SDF record has no 3D geometry and is embedded like a SMILES, with a
note. Every input gives one output row, in input order, with ``status`` ``ok`` or ``error: reason``
(unreadable record, SMILES that cannot be embedded, an element the model never saw). Overlapping atoms
(closer than 0.5 Angstrom) give a warning in ``note``. Energies in eV.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from chemaccel.checkpoint import ModelInfo
from chemaccel.chem.conformers import embed_records
from chemaccel.chem.molecules import read_molecules
from chemaccel.chem.records import MoleculeRecord, parse_smiles
from chemaccel.property.data import collate_geometries
from chemaccel.property.model import PropertySchNet
from chemaccel.reporting import NullReporter, Reporter

OVERLAP_ANGSTROM = 0.5
CHUNK = 1000


@dataclass
class PredictionRow:
    """One input's result: ``values`` (target -> eV) when ``status == "ok"``."""

    index: int
    name: str = ""
    smiles: str = ""
    geometry: str = ""
    values: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class PropertyModel:
    """A loaded property model: ``predict`` molecules, ``evaluate`` on a store.

    Attributes:
        module: the :class:`PropertySchNet` (eval mode); info: its ``config.json``; targets: output names.
    """

    def __init__(self, module: PropertySchNet, info: ModelInfo, path: Path | None = None) -> None:
        self.module, self.info, self.path = module.eval(), info, path
        self.targets = list(module.targets)
        self.elements = set(info.architecture.get("elements") or [])

    def __repr__(self) -> str:
        return f"PropertyModel({str(self.path)!r}, targets={self.targets})"

    def predict(self, molecules: Iterable[Any], batch_size: int = 100, seed: int = 0) -> list[PredictionRow]:
        """Predict every molecule; SMILES strings, MoleculeRecords, ASE Atoms or (numbers, positions)."""
        records = (_as_record(m, i + 1) for i, m in enumerate(molecules))
        return list(self.predict_records(records, batch_size=batch_size, seed=seed))

    def predict_records(self, records: Iterable[MoleculeRecord], batch_size: int = 100, seed: int = 0) -> Iterator[PredictionRow]:
        """Stream rows for records, in order, ``batch_size`` molecules per forward pass."""
        it = iter(records)
        while True:
            chunk = list(itertools.islice(it, batch_size))
            if not chunk:
                return
            yield from self._predict_chunk(chunk, seed)

    @torch.no_grad()
    def predict_geometries(self, numbers: Sequence[np.ndarray], positions: Sequence[np.ndarray]) -> np.ndarray:
        """(molecules, targets) in eV for raw geometries (no checks)."""
        device = next(self.module.parameters()).device
        batch = {k: v.to(device) for k, v in collate_geometries(numbers, positions, self.module.cutoff).items()}
        return self.module(batch).cpu().numpy().astype(np.float64)

    def _predict_chunk(self, chunk: list[MoleculeRecord], seed: int) -> list[PredictionRow]:
        rows: list[PredictionRow] = []
        todo: list[tuple[int, MoleculeRecord]] = []
        for rec in embed_records(chunk, seed=seed):
            row = PredictionRow(rec.index, rec.name, _smiles(rec), rec.geometry_source or "")
            if not rec.ok:
                row.status = f"error: {rec.error}"
            elif rec.positions is None or rec.numbers is None:
                row.status = "error: no 3D geometry"
            else:
                unknown = sorted({int(z) for z in rec.numbers} - self.elements) if self.elements else []
                if unknown:
                    from ase.data import chemical_symbols

                    names = ", ".join(chemical_symbols[z] if z < len(chemical_symbols) else str(z) for z in unknown)
                    row.status = f"error: element(s) {names} not seen in training (record {rec.index})"
                else:
                    row.note = _notes(rec)
                    todo.append((len(rows), rec))
            rows.append(row)
        if todo:
            values = self.predict_geometries([r.numbers for _, r in todo], [r.positions for _, r in todo])
            for (k, _), v in zip(todo, values):
                rows[k].values = {t: float(x) for t, x in zip(self.targets, v)}
        return rows

    def evaluate(self, store: str | Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
        from chemaccel.property.evaluate import evaluate_model

        return evaluate_model(self, store, split=split, limit=limit)


def predict_file(model: PropertyModel, source: str | Path, out: str | Path, chunk: int = CHUNK,
                 reporter: Reporter | None = None, seed: int = 0) -> dict[str, int]:
    """Stream ``source`` (SMILES/CSV/SDF/XYZ/ASE db/HDF5 store) to a CSV, ``chunk`` records in memory at a time.

    Columns: ``index, name, smiles, geometry, <target>_eV..., status, note``. Returns counts ok / error.
    """
    reporter = reporter or NullReporter()
    records = read_molecules(source)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    counts = {"ok": 0, "error": 0}
    reporter.on_start("predict", None)
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "name", "smiles", "geometry", *[f"{t}_eV" for t in model.targets], "status", "note"])
        for row in model.predict_records(records, batch_size=chunk, seed=seed):
            vals = [f"{row.values[t]:.6f}" if row.ok else "" for t in model.targets]
            writer.writerow([row.index, row.name, row.smiles, row.geometry, *vals, row.status, row.note])
            counts["ok" if row.ok else "error"] += 1
            n = counts["ok"] + counts["error"]
            if n % chunk == 0:
                reporter.on_progress(n, None, {"errors": float(counts["error"])})
            if reporter.should_stop():
                break
    tmp.replace(out)
    return counts


def _as_record(m: Any, index: int) -> MoleculeRecord:
    if isinstance(m, MoleculeRecord):
        return m
    if isinstance(m, str):
        mol, error = parse_smiles(m)
        if mol is None:
            return MoleculeRecord.failed("<input>", index, error or "invalid SMILES")
        return MoleculeRecord("<input>", index, mol=mol, name=m)
    if hasattr(m, "get_atomic_numbers") and hasattr(m, "get_positions"):
        return MoleculeRecord("<input>", index, numbers=np.asarray(m.get_atomic_numbers()),
                              positions=np.asarray(m.get_positions(), dtype=np.float64), geometry_source="file")
    if isinstance(m, tuple) and len(m) == 2:
        return MoleculeRecord("<input>", index, numbers=np.asarray(m[0]), positions=np.asarray(m[1], dtype=np.float64),
                              geometry_source="file")
    return MoleculeRecord.failed("<input>", index, f"cannot predict a {type(m).__name__}")


def _smiles(rec: MoleculeRecord) -> str:
    try:
        return rec.smiles if rec.mol is not None else ""
    except Exception:  # noqa: BLE001 - a SMILES for display only
        return ""


def _notes(rec: MoleculeRecord) -> str:
    notes = []
    if rec.geometry_source == "forcefield":
        notes.append("force-field geometry (embedded from the graph)")
    if "embed_note" in rec.props:
        notes.append(str(rec.props["embed_note"]))
    pos = np.asarray(rec.positions, dtype=np.float64)
    if len(pos) > 1:
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        d[np.diag_indices(len(pos))] = np.inf
        if d.min() < OVERLAP_ANGSTROM:
            notes.append(f"warning: overlapping atoms ({d.min():.2f} A apart)")
    return "; ".join(notes)
