"""Prediction: ``load_model(path).predict(molecules)`` and the streaming batch CSV writer.

Inputs: SMILES (embedded in 3D with rdkit ETKDG + MMFF; such rows say ``geometry=forcefield``), records
with 3D coordinates (XYZ, SDF, ASE db, a molecule store: ``geometry=file``), ASE ``Atoms``, or
``(numbers, positions)`` pairs. A 2D SDF record has no 3D geometry and is embedded like a SMILES, with a
note. Every input gives one output row, in input order, with ``status`` ``ok`` or ``error: reason``
(unreadable record, SMILES that cannot be embedded, an element the model never saw). Overlapping atoms
(closer than 0.5 Angstrom) give a warning in ``note``. Energies in eV.
"""

from __future__ import annotations

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
                 reporter: Reporter | None = None, seed: int = 0, resume: bool = False) -> dict[str, int]:
    """Stream ``source`` (SMILES/CSV/SDF/XYZ/ASE db/HDF5 store) to a CSV, ``chunk`` records in memory at once.

    Columns: ``index, name, smiles, geometry, <target>_eV..., status, note``; one row per record, in
    input order. ``out`` is written in place, chunk by chunk (each written whole and fsync-ed, see
    :mod:`chemaccel.batch_output`), with ``out.resume.json`` beside it. With ``resume`` the complete
    chunks of an earlier, interrupted run are kept, that many records are skipped by the reader (not
    parsed, embedded or predicted) and the rest appended: the result equals an uninterrupted run's.
    ``reporter.should_stop()`` is checked after each chunk; the output is then consistent and resumable.

    Returns:
        counts: ``ok`` and ``error`` rows written by this call, ``resumed`` rows kept from before,
        ``rows`` in ``out`` now, ``cancelled`` (1 when stopped early), ``complete`` (1 when done).

    Raises:
        InputError: the input cannot be read (nothing is written then).
        ResumeError: ``resume`` and ``out`` was written by another model, input or chunk size.
    """
    from chemaccel.batch_output import ResumableCsv, file_fingerprint

    reporter = reporter or NullReporter()
    chunk = max(1, int(chunk))
    read_molecules(source)  # whole-file problems (missing, empty, binary ...) before anything is written
    header = ["index", "name", "smiles", "geometry", *[f"{t}_eV" for t in model.targets], "status", "note"]
    fingerprint = {"engine": "property", "model_sha256": _model_id(model), "input": file_fingerprint(source),
                   "chunk": chunk, "seed": seed}
    writer = ResumableCsv(out, header, fingerprint, about={"model": str(model.path or "")}, resume=resume,
                          align=chunk)
    counts = {"ok": 0, "error": 0, "resumed": writer.rows_done, "rows": writer.rows_done, "cancelled": 0,
              "complete": int(writer.complete)}
    if writer.complete:
        reporter.on_message(f"{out}: already complete ({writer.rows_done} rows); nothing to do")
        return counts
    records = read_molecules(source, skip=writer.rows_done)
    if writer.rows_done or writer.dropped_bytes:
        reporter.on_message(writer.resume_note())
    reporter.on_start("predict", None)
    with writer:
        while True:
            batch = list(itertools.islice(records, chunk))
            if not batch:
                writer.finish(ok=counts["ok"], error=counts["error"])
                counts["complete"] = 1
                break
            rows = model._predict_chunk(batch, seed)
            writer.write_rows([_csv_row(row, model.targets) for row in rows])
            for row in rows:
                counts["ok" if row.ok else "error"] += 1
            counts["rows"] = writer.rows_done
            reporter.on_progress(writer.rows_done, None, {"errors": float(counts["error"])})
            if reporter.should_stop():
                counts["cancelled"] = 1
                break
    return counts


def _csv_row(row: PredictionRow, targets: Sequence[str]) -> list[object]:
    vals = [f"{row.values[t]:.6f}" if row.ok else "" for t in targets]
    return [row.index, row.name, row.smiles, row.geometry, *vals, row.status, row.note]


def _model_id(model: PropertyModel) -> str:
    """The model folder's hash, or (a model built in memory) a hash of its tensors."""
    from chemaccel.batch_output import model_fingerprint

    if model.path is not None and (Path(model.path) / "config.json").is_file():
        return model_fingerprint(model.path)
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


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
