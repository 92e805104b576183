"""Force-field geometries for a whole store: ETKDG + MMFF from each molecule's SMILES, as a geometry set.

``embed_store(path, "mmff")`` embeds every molecule (or those of chosen splits) in several processes,
in chunks. Each finished chunk is saved in a work folder beside the store (``<store>.<name>.work/``,
numpy files written under a temporary name and renamed), so a killed or cancelled job resumes where it
stopped; when all chunks are there the set is written into the store (see
:mod:`chemaccel.chem.geometry_sets`) and the work folder removed. Molecules that cannot be embedded keep
their reason in the set's ``status`` and in ``<store>.<name>.failures.csv``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chemaccel.chem.conformers import MAX_ATTEMPTS, MAX_ITERS, TIME_LIMIT_S
from chemaccel.chem.geometry_sets import write_geometry_set
from chemaccel.chem.store import MoleculeStore
from chemaccel.errors import ConfigError, StoreError
from chemaccel.reporting import NullReporter, Reporter

SKIPPED = "skipped (not in the chosen splits)"


@dataclass(frozen=True)
class EmbedSettings:
    """How a geometry set is made (recorded in the set's ``settings``).

    Attributes:
        seed: embedding seed (attempt k uses seed + k); a second conformer set is the same with another seed.
        max_attempts: ETKDG attempts per molecule (see :func:`chemaccel.chem.conformers.embed_3d`).
        max_iters: force-field minimisation steps at most.
        time_limit: seconds per molecule.
        splits: only the molecules of these store splits (None: all); the others are ``skipped``.
    """

    seed: int = 0
    max_attempts: int = MAX_ATTEMPTS
    max_iters: int = MAX_ITERS
    time_limit: float = TIME_LIMIT_S
    splits: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.splits is not None:
            object.__setattr__(self, "splits", tuple(self.splits))
        for name in ("max_attempts", "max_iters"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.time_limit > 0:
            raise ConfigError(f"time_limit must be > 0 seconds, got {self.time_limit!r}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["splits"] = list(self.splits) if self.splits is not None else None
        out["method"] = "rdkit ETKDGv3 + MMFF94 (UFF fall-back)"
        return out


@dataclass
class EmbedSummary:
    """What :func:`embed_store` did."""

    path: Path
    name: str
    molecules: int = 0
    made: int = 0
    failed: int = 0
    skipped: int = 0
    notes: dict[str, int] = field(default_factory=dict)
    failures_csv: Path | None = None
    seconds: float = 0.0
    resumed_chunks: int = 0
    cancelled: bool = False

    @property
    def failure_rate(self) -> float:
        return self.failed / max(1, self.made + self.failed)

    def to_dict(self) -> dict[str, Any]:
        out = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        out["failure_rate"] = self.failure_rate
        return out


def _embed_chunk(smiles: list[str], expected: list[int], todo: list[bool], settings: dict[str, Any]) -> dict:
    """Worker: embed one chunk; returns flat arrays, per-molecule counts, status and note."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from chemaccel.chem.conformers import embed_3d
    from chemaccel.chem.records import geometry_of, parse_smiles

    zs, rs, counts, status, notes = [], [], [], [], []
    for smi, n_ref, want in zip(smiles, expected, todo):
        z = r = None
        note = ""
        if not want:
            state = SKIPPED
        elif not smi:
            state = "no SMILES"
        else:
            mol, error = parse_smiles(smi)
            if mol is None:
                state = error or "invalid SMILES"
            else:
                res = embed_3d(mol, seed=settings["seed"], max_attempts=settings["max_attempts"],
                               max_iters=settings["max_iters"], time_limit=settings["time_limit"])
                if not res.ok:
                    state = res.error or "3D embedding failed"
                else:
                    nums, pos = geometry_of(res.mol) or (np.zeros(0, np.int64), np.zeros((0, 3)))
                    if n_ref and len(nums) != n_ref:
                        state = f"the SMILES has {len(nums)} atoms with hydrogens, the reference geometry {n_ref}"
                    elif not np.all(np.isfinite(pos)):
                        state = "the embedding gave non-finite coordinates"
                    else:
                        state, z, r, note = "", nums.astype(np.uint8), pos.astype(np.float32), res.note or ""
        counts.append(0 if z is None else len(z))
        if z is not None:
            zs.append(z)
            rs.append(r)
        status.append(state)
        notes.append(note)
    return {"numbers": np.concatenate(zs) if zs else np.zeros(0, np.uint8),
            "positions": np.concatenate(rs) if rs else np.zeros((0, 3), np.float32),
            "counts": np.array(counts, dtype=np.int64), "status": np.array(status, dtype=str),
            "notes": np.array(notes, dtype=str)}


def _save_chunk(work: Path, start: int, data: dict) -> None:
    tmp = work / f".c{start:08d}.tmp.npz"
    np.savez(tmp, **data)
    os.replace(tmp, work / f"c{start:08d}.npz")


def _load_chunk(work: Path, start: int) -> dict | None:
    path = work / f"c{start:08d}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception:  # noqa: BLE001 - a damaged chunk file is redone
        path.unlink(missing_ok=True)
        return None


def embed_store(path: str | Path, name: str = "mmff", settings: EmbedSettings | None = None, workers: int = 1,
                chunk: int = 500, reporter: Reporter | None = None) -> EmbedSummary:
    """Embed the store's molecules from their SMILES and write the geometry set ``name`` (resumable).

    Args:
        path: a molecule store with SMILES (e.g. ``chemaccel data qm9``).
        name: the set's name (``dft`` is the store's own and cannot be used).
        settings: :class:`EmbedSettings` (must equal those of an interrupted run to resume it).
        workers: processes embedding in parallel.
        chunk: molecules per unit of work (and of resume).
        reporter: progress in molecules; ``should_stop()`` cancels after the chunks in flight.
    """
    path, settings, reporter = Path(path), settings or EmbedSettings(), reporter or NullReporter()
    t0 = time.perf_counter()
    with MoleculeStore.open(path) as store:
        batch = store.molecule_slice(0, len(store))
        smiles, ref_counts = batch.smiles, np.diff(batch.offsets).astype(int).tolist()
        splits = store.splits()
    n = len(smiles)
    todo = np.ones(n, dtype=bool)
    if settings.splits is not None:
        unknown = [s for s in settings.splits if s not in splits]
        if unknown:
            raise ConfigError(f"{path}: no split(s) {unknown} (has {', '.join(splits) or 'none'})")
        todo[:] = False
        for s in settings.splits:
            todo[splits[s]] = True
    work = Path(f"{path}.{name}.work")
    work.mkdir(exist_ok=True)
    settings_file = work / "settings.json"
    wanted = {"settings": settings.to_dict(), "chunk": chunk, "molecules": n}
    if settings_file.is_file() and json.loads(settings_file.read_text()) != wanted:
        raise StoreError(f"{work}: an interrupted run with other settings is there; remove the folder to start "
                         "afresh or pass the same settings to resume it")
    settings_file.write_text(json.dumps(wanted, sort_keys=True))
    starts = list(range(0, n, chunk))
    results: dict[int, dict] = {}
    for s in starts:
        loaded = _load_chunk(work, s)
        if loaded is not None:
            results[s] = loaded
    summary = EmbedSummary(path, name, molecules=n, resumed_chunks=len(results))
    if results:
        reporter.on_message(f"resuming: {len(results)} of {len(starts)} chunks already embedded in {work}")
    reporter.on_start(f"embed {name}", n)
    done = sum(len(r["counts"]) for r in results.values())
    reporter.on_progress(done, n)
    pending = [s for s in starts if s not in results]
    config = settings.to_dict()
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures: dict[Any, int] = {}
        try:
            while pending or futures:
                while pending and len(futures) < 2 * max(1, workers) and not reporter.should_stop():
                    s = pending.pop(0)
                    e = min(n, s + chunk)
                    futures[pool.submit(_embed_chunk, smiles[s:e], ref_counts[s:e], todo[s:e].tolist(), config)] = s
                if not futures:
                    break
                finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for fut in finished:
                    s = futures.pop(fut)
                    data = fut.result()
                    _save_chunk(work, s, data)
                    results[s] = data
                    done += len(data["counts"])
                    failed = sum(int(((r["status"] != "") & (r["status"] != SKIPPED)).sum()) for r in results.values())
                    reporter.on_progress(done, n, {"failed": float(failed)})
                if reporter.should_stop():
                    pending.clear()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    if len(results) < len(starts):
        summary.cancelled = True
        summary.seconds = time.perf_counter() - t0
        reporter.on_message(f"cancelled: {len(results)} of {len(starts)} chunks kept in {work}; run again to resume")
        return summary
    return _finish(path, name, settings, smiles, starts, results, work, summary, t0, reporter)


def _finish(path: Path, name: str, settings: EmbedSettings, smiles: list[str], starts: list[int],
            results: dict[int, dict], work: Path, summary: EmbedSummary, t0: float, reporter: Reporter) -> EmbedSummary:
    numbers, positions, status, notes = [], [], [], []
    for s in starts:
        r = results[s]
        offsets = np.concatenate([[0], np.cumsum(r["counts"])])
        for k in range(len(r["counts"])):
            a, b = offsets[k], offsets[k + 1]
            numbers.append(r["numbers"][a:b])
            positions.append(r["positions"][a:b])
        status.extend(str(x) for x in r["status"])
        notes.extend(str(x) for x in r["notes"])
    write_geometry_set(path, name, numbers, positions, status, settings.to_dict())
    failures = Path(f"{path}.{name}.failures.csv")
    tmp = failures.with_name(failures.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "smiles", "reason"])
        for i, st in enumerate(status):
            if st and st != SKIPPED:
                w.writerow([i, smiles[i], st])
    os.replace(tmp, failures)
    summary.made = sum(1 for st in status if st == "")
    summary.skipped = sum(1 for st in status if st == SKIPPED)
    summary.failed = len(status) - summary.made - summary.skipped
    for note in notes:
        for part in filter(None, (p.strip() for p in note.split(";"))):
            key = part.split(" after ")[0].split(" in ")[0]
            summary.notes[key] = summary.notes.get(key, 0) + 1
    summary.failures_csv = failures
    summary.seconds = time.perf_counter() - t0
    shutil.rmtree(work, ignore_errors=True)
    return summary
