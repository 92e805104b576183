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
from chemaccel.property import keys
from chemaccel.property.data import collate_geometries
from chemaccel.reporting import NullReporter, Reporter

CHUNK = 1000


@dataclass
class PredictionRow:
    """One input's result.

    ``values`` (target -> eV) when ``status == "ok"``; ``uncertainty``: the calibrated standard
    uncertainty (eV) and ``interval90`` the half-width of the 90 % interval (eV), per target, when the
    model carries a calibration; ``domain`` is ``in`` or ``outside`` (``domain_reason`` says why),
    ``unknown`` for a model without domain data whose element and geometry checks pass, or ``""`` when
    there is no value.
    """

    index: int
    name: str = ""
    smiles: str = ""
    geometry: str = ""
    values: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    note: str = ""
    uncertainty: dict[str, float] = field(default_factory=dict)
    interval90: dict[str, float] = field(default_factory=dict)
    domain: str = ""
    domain_reason: str = ""
    spread: dict[str, float] = field(default_factory=dict)
    latent: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class PropertyModel:
    """A loaded property model: ``predict`` molecules, ``evaluate`` on a store.

    Attributes:
        module: the :class:`PropertySchNet` or :class:`~chemaccel.property.ensemble.EnsembleSchNet` (eval
            mode); info: its ``config.json``; targets: output names; rules: its applicability domain
            (:class:`~chemaccel.property.domain.DomainRules`, None for models made before domains);
            calibration: target -> :class:`~chemaccel.property.uncertainty.Calibration` (may be empty);
            conformers: force-field conformers averaged per SMILES input.
    """

    def __init__(self, module: torch.nn.Module, info: ModelInfo, path: Path | None = None) -> None:
        from chemaccel.property.domain import DomainRules
        from chemaccel.property.uncertainty import Calibration

        self.module, self.info, self.path = module.eval(), info, path
        self.targets = list(module.targets)
        arch = info.architecture
        self.elements = set(arch.get("elements") or [])
        self.rules = DomainRules.from_json(arch.get("domain"))
        if self.rules is not None and not self.elements:
            self.elements = set(self.rules.elements)
        self.calibration = {t: Calibration.from_json(c) for t, c in (arch.get("uncertainty") or {}).items()}
        self.conformers = max(1, int(arch.get("conformers", 1)))
        #: the 2D member (a GraphMPNN read from each row's SMILES) and the 3D share of the blend, per target
        self.graph = getattr(module, "graph", None)
        self.weight_3d = np.ones(len(self.targets))
        if self.graph is not None:
            # float64: a row's value then does not hang on the thread count or the rows batched with it (to
            # ~1e-15 eV: the same rows from one process, several workers or Ray actors); the network is small
            self.graph.double()
            self.weight_3d = np.asarray(self.graph.arch.get("weight_3d", [0.5] * len(self.targets)), dtype=np.float64)

    def __repr__(self) -> str:
        return f"PropertyModel({str(self.path)!r}, targets={self.targets})"

    def predict(self, molecules: Iterable[Any], batch_size: int = 100, seed: int = 0) -> list[PredictionRow]:
        """Predict every molecule; SMILES strings, MoleculeRecords, ASE Atoms or (numbers, positions)."""
        records = (_as_record(m, i + 1) for i, m in enumerate(molecules))
        return list(self.predict_records(records, batch_size=batch_size, seed=seed))

    def predict_records(self, records: Iterable[MoleculeRecord], batch_size: int = 100, seed: int = 0,
                        workers: int = 1) -> Iterator[PredictionRow]:
        """Stream rows for records, in order, ``batch_size`` molecules per forward pass.

        ``workers`` > 1 embeds each batch's SMILES in that many processes, as ``predict --workers`` does (the
        same calls and seeds, so the same rows); closing the iterator early shuts them down."""
        it = iter(records)
        batches: Iterator[list[MoleculeRecord]] = iter(lambda: list(itertools.islice(it, batch_size)), [])
        pool = None
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)
            batches = _embedded_ahead(pool, workers, batches, seed, self.conformers)
        try:
            for chunk in batches:
                yield from self._predict_chunk(chunk, seed)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    @torch.no_grad()
    def predict_geometries(self, numbers: Sequence[np.ndarray], positions: Sequence[np.ndarray]) -> np.ndarray:
        """(molecules, targets) in eV for raw geometries (no checks)."""
        device = next(self.module.parameters()).device
        batch = {k: v.to(device) for k, v in collate_geometries(numbers, positions, self.module.cutoff).items()}
        return self.module(batch).cpu().numpy().astype(np.float64)

    @torch.no_grad()
    def predict_details(self, numbers: Sequence[np.ndarray], positions: Sequence[np.ndarray]
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Per-member values (members, molecules, targets) in eV and each molecule's latent score."""
        from chemaccel.property.domain import latent_scores
        from chemaccel.property.ensemble import EnsembleSchNet, predict_all

        device = next(self.module.parameters()).device
        batch = {k: v.to(device) for k, v in collate_geometries(numbers, positions, self.module.cutoff).items()}
        members, features = predict_all(self.module, batch)
        latent = np.zeros(len(numbers))
        if isinstance(self.module, EnsembleSchNet) and self.rules is not None and self.rules.latent_threshold > 0:
            latent = latent_scores(features, batch[keys.Z], batch[keys.IDX_M], len(numbers),
                                   self.module.domain_mean, self.module.domain_precision)
        return members.cpu().numpy().astype(np.float64), latent

    def _predict_chunk(self, chunk: list[MoleculeRecord], seed: int, conformers: int | None = None) -> list[PredictionRow]:
        from chemaccel.property.domain import geometry_reasons, graph_facts, graph_reasons, nonfinite

        n_conf = self.conformers if conformers is None else max(1, int(conformers))
        rows: list[PredictionRow] = []
        todo: list[tuple[int, list[tuple[np.ndarray, np.ndarray]]]] = []
        reasons: dict[int, list[str]] = {}
        for rec in embed_records(chunk, seed=seed):
            row = PredictionRow(rec.index, rec.name, _smiles(rec), rec.geometry_source or "")
            rows.append(row)
            if not rec.ok:
                row.status = f"error: {rec.error}"
                continue
            if rec.positions is None or rec.numbers is None:
                row.status = "error: no 3D geometry"
                continue
            if nonfinite(rec.positions):
                row.status = f"error: non-finite coordinates (NaN or infinity) in record {rec.index}"
                continue
            unknown = sorted({int(z) for z in rec.numbers} - self.elements) if self.elements else []
            if unknown:
                from ase.data import chemical_symbols

                names = ", ".join(chemical_symbols[z] if z < len(chemical_symbols) else str(z) for z in unknown)
                row.status = f"error: element(s) {names} not seen in training (record {rec.index})"
                continue
            row.note = _notes(rec)
            why: list[str] = []
            if self.rules is not None:
                if rec.mol is not None:
                    why += graph_reasons(graph_facts(rec.mol), self.rules)
                elif self.rules.max_atoms and len(rec.numbers) > self.rules.max_atoms:
                    why.append(f"{len(rec.numbers)} atoms (training molecules: at most {self.rules.max_atoms})")
            fragments = _fragments(rec)
            why += geometry_reasons(rec.numbers, rec.positions, fragments)
            geoms = [(np.asarray(rec.numbers), np.asarray(rec.positions, dtype=np.float64))]
            if n_conf > 1 and rec.geometry_source == "forcefield" and rec.mol is not None:
                extra = rec.props.get("extra_conformers")  # embedded already (evaluate's worker pool)
                geoms += extra if extra is not None else _more_conformers(rec, seed, n_conf - 1)
            reasons[len(rows) - 1] = why
            todo.append((len(rows) - 1, geoms))
        if todo:
            flat = [g for _, geoms in todo for g in geoms]
            members, latent = self.predict_details([g[0] for g in flat], [g[1] for g in flat])
            graph = self._graph_values([rows[k].smiles for k, _ in todo])
            start = 0
            for j, (k, geoms) in enumerate(todo):
                part = members[:, start:start + len(geoms)]  # (members, conformers, targets)
                lat = float(latent[start:start + len(geoms)].max())
                start += len(geoms)
                self._fill(rows[k], part.reshape(-1, part.shape[-1]), lat, reasons[k], graph[j])
        return rows

    def _graph_values(self, smiles: list[str]) -> np.ndarray:
        """(rows, targets) from the 2D member; NaN without one, or where a row has no bond graph."""
        out = np.full((len(smiles), len(self.targets)), np.nan)
        if self.graph is not None:
            have = [i for i, s in enumerate(smiles) if s]
            if have:
                out[have] = self.graph.predict_smiles([smiles[i] for i in have])
        return out

    def _fill(self, row: PredictionRow, values: np.ndarray, latent: float, why: list[str],
              graph: np.ndarray | None = None) -> None:
        from chemaccel.property.domain import verdict

        mean, spread = values.mean(0), values.std(0)
        disagreement = np.zeros(len(self.targets))
        if graph is not None and np.all(np.isfinite(graph)):
            disagreement = np.abs(mean - graph)
            mean = self.weight_3d * mean + (1.0 - self.weight_3d) * graph
        elif self.graph is not None:
            row.note = "; ".join(n for n in (row.note, "3D members only (no bond graph for the 2D member)") if n)
        row.values = {t: float(v) for t, v in zip(self.targets, mean)}
        row.spread = {t: float(v) for t, v in zip(self.targets, spread)}
        row.latent = latent
        for t, s, d in zip(self.targets, spread, disagreement):
            cal = self.calibration.get(t)
            if cal is not None:
                row.uncertainty[t] = float(cal.sigma(s, latent, d))
                row.interval90[t] = float(cal.half_width(s, latent, d))
        if self.rules is not None and self.rules.latent_threshold > 0 and latent > self.rules.latent_threshold:
            why = [*why, f"atom environments unlike the training set (latent distance {latent:.1f} > "
                         f"{self.rules.latent_threshold:.1f})"]
        if self.rules is None and not why:
            row.domain, row.domain_reason = "unknown", "this model has no domain data: only elements and geometry checked"
        else:
            row.domain, row.domain_reason = verdict(why)

    def evaluate(self, store: str | Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
        from chemaccel.property.evaluate import evaluate_model

        return evaluate_model(self, store, split=split, limit=limit)


def embed_chunk(records: list[MoleculeRecord], seed: int, n_conf: int) -> list[MoleculeRecord]:
    """The embedding stage of :meth:`PropertyModel._predict_chunk` on its own (for worker processes).

    Records without 3D coordinates are embedded with ``seed`` and get ``n_conf - 1`` further conformers in
    their props, exactly as the one-process path makes them; records with coordinates and error records
    pass through. The model then reads the result without embedding anything.
    """
    import dataclasses

    out = []
    for rec in embed_records(records, seed=seed):
        if rec.ok and n_conf > 1 and rec.geometry_source == "forcefield" and rec.mol is not None:
            more = _more_conformers(rec, seed, n_conf - 1)
            rec = dataclasses.replace(rec, props={**rec.props, "extra_conformers": more})
        out.append(rec)
    return out


def _ignore_sigint() -> None:
    """Worker processes leave Ctrl-C to the main one, which stops after the chunk in hand."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _embedded_ahead(pool: Any, workers: int, batches: Iterator[list[MoleculeRecord]], seed: int,
                    n_conf: int, depth: int = 2) -> Iterator[list[MoleculeRecord]]:
    """Each batch embedded by ``workers`` processes of ``pool``, in input order, with ``depth`` batches handed
    to them ahead while the caller runs the model (the processes never wait for the model). The first
    batches are handed over at once, before this returns, so the caller can load the model meanwhile."""
    from collections import deque
    from concurrent.futures import Future

    def submit(batch: list[MoleculeRecord]) -> list[Any]:
        if not any(rec.ok and not rec.has_3d for rec in batch):  # 3D input (XYZ, SDF ...): nothing to embed,
            done: Future = Future()  # so no round trip through the processes (embed_chunk would pass it as is)
            done.set_result(batch)
            return [done]
        step = max(1, -(-len(batch) // (4 * workers)))  # 4 parts per worker: a slow molecule delays one part
        return [pool.submit(embed_chunk, batch[i:i + step], seed, n_conf) for i in range(0, len(batch), step)]

    pending: deque[list[Any]] = deque()

    def fill() -> None:
        while len(pending) < depth:
            batch = next(batches, None)
            if batch is None:
                return
            pending.append(submit(batch))

    def results() -> Iterator[list[MoleculeRecord]]:
        while pending:
            futures = pending.popleft()
            fill()
            yield [rec for future in futures for rec in future.result()]

    fill()
    return results()


class DeferredModel:
    """A property model folder whose weights load when :meth:`load` is called: what ``predict_file`` needs
    before (targets, conformers, the folder's hash) comes from ``config.json`` alone, so the embedding
    processes of ``--workers`` start on the first chunks while this process imports the SchNet code and
    loads the weights (about 2.4 s of CPU that would otherwise come before any embedding)."""

    def __init__(self, path: str | Path, device: str | Any = "cpu") -> None:
        from chemaccel.checkpoint import WEIGHTS_NAME, inside_folder, load_safetensors, read_model_info

        self.path, self.device = Path(path), device
        self.info = read_model_info(self.path)
        load_safetensors(inside_folder(self.path, WEIGHTS_NAME))  # damaged weights: one line, before any work
        arch = self.info.architecture
        self.targets = list(arch.get("targets") or self.info.config.get("targets") or [])
        self.conformers = max(1, int(arch.get("conformers", 1)))

    def load(self) -> PropertyModel:
        """The loaded model (errors as :func:`chemaccel.api.load_model`'s)."""
        from chemaccel.property.storage import load_model

        model = load_model(self.path, self.device)
        if list(model.targets) != self.targets:
            from chemaccel.errors import ModelFileError

            raise ModelFileError(f"{self.path}: config.json names targets {self.targets}, the weights "
                                 f"{list(model.targets)}")
        return model


def predict_file(model: PropertyModel | DeferredModel, source: str | Path, out: str | Path, chunk: int = CHUNK,
                 reporter: Reporter | None = None, seed: int = 0, resume: bool = False,
                 conformers: int | None = None, workers: int = 1) -> dict[str, int]:
    """Stream ``source`` (SMILES/CSV/SDF/XYZ/ASE db/HDF5 store) to a CSV, ``chunk`` records in memory at once.

    Columns: ``index, name, smiles, geometry, <target>_eV..., status, note``; one row per record, in
    input order. ``out`` is written in place, chunk by chunk (each written whole and fsync-ed, see
    :mod:`chemaccel.batch_output`), with ``out.resume.json`` beside it. With ``resume`` the complete
    chunks of an earlier, interrupted run are kept, that many records are skipped by the reader (not
    parsed, embedded or predicted) and the rest appended: the result equals an uninterrupted run's.
    ``reporter.should_stop()`` is checked after each chunk; the output is then consistent and resumable.
    ``workers`` > 1 embeds the SMILES of each chunk in that many processes (:func:`embed_chunk`, the same
    calls and seeds as one process, so the same rows) while the model runs in this one; a
    :class:`DeferredModel` is loaded once they have started (a model that fails to load then stops the
    processes, and nothing is written).

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
    header = csv_header(model.targets)
    fingerprint = {"engine": "property", "model_sha256": _model_id(model), "input": file_fingerprint(source),
                   "chunk": chunk, "seed": seed}
    if conformers is not None:
        fingerprint["conformers"] = int(conformers)
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
    n_conf = model.conformers if conformers is None else max(1, int(conformers))
    from contextlib import nullcontext

    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        workers_pool: Any = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)
    else:
        workers_pool = nullcontext()
    with workers_pool as pool:  # shut down however this ends (a model that fails to load included)
        batches: Iterator[list[MoleculeRecord]] = iter(lambda: list(itertools.islice(records, chunk)), [])
        if pool is not None:  # the first chunks are embedding from here on, and the next while the model runs
            batches = _embedded_ahead(pool, workers, batches, seed, n_conf)
        try:
            if isinstance(model, DeferredModel):
                model = model.load()
            with writer:
                for batch in batches:
                    rows = model._predict_chunk(batch, seed, conformers=conformers)
                    writer.write_rows([_csv_row(row, model.targets) for row in rows])
                    for row in rows:
                        counts["ok" if row.ok else "error"] += 1
                    counts["rows"] = writer.rows_done
                    reporter.on_progress(writer.rows_done, None, {"errors": float(counts["error"])})
                    if reporter.should_stop():
                        counts["cancelled"] = 1
                        break
                else:
                    writer.finish(ok=counts["ok"], error=counts["error"])
                    counts["complete"] = 1
        finally:
            if pool is not None:  # a stop drops the chunks embedded ahead instead of waiting for them
                pool.shutdown(wait=True, cancel_futures=True)
    return counts


def typed_smiles(text: str) -> str | None:
    """``text`` itself when it is one SMILES typed where a molecule file was expected (``chemaccel property
    predict 'c1ccccc1O'``), None when it names a file (or ``-``, standard input).

    Raises:
        InputError: neither a file nor a SMILES rdkit reads (the reason is given); or a file name whose
            file is not there.
    """
    from chemaccel.chem.molecules import FORMATS
    from chemaccel.errors import InputError

    if not text.strip():
        raise InputError("''", "an empty argument: give a SMILES or a file of molecules")
    if text == "-":
        return None
    path = Path(text)
    try:
        if path.exists():
            return None
    except OSError:  # longer than a file name may be: not a file
        pass
    bare = text[:-3] if text.lower().endswith(".gz") else text
    if Path(bare).suffix.lower() in FORMATS or (path.parent != Path(".") and path.parent.is_dir()):
        raise InputError(text, "file not found")
    mol, reason = parse_smiles(text)
    if mol is None:
        raise InputError(text, f"no such file, and not a SMILES ({reason})")
    return text


def csv_header(targets: Sequence[str]) -> list[str]:
    """The columns of a prediction CSV."""
    return ["index", "name", "smiles", "geometry", *[f"{t}_eV" for t in targets],
            *[f"{t}_{kind}_eV" for t in targets for kind in ("uncertainty", "interval90")],
            "domain", "domain_reason", "status", "note"]


def _csv_row(row: PredictionRow, targets: Sequence[str]) -> list[object]:
    vals = [f"{row.values[t]:.6f}" if row.ok else "" for t in targets]
    unc = [f"{src[t]:.6f}" if row.ok and t in src else "" for t in targets for src in (row.uncertainty, row.interval90)]
    return [row.index, row.name, row.smiles, row.geometry, *vals, *unc, row.domain, row.domain_reason,
            row.status, row.note]


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
    return "; ".join(notes)


def _fragments(rec: MoleculeRecord) -> int:
    """Pieces the molecule has by its graph (1 when there is no graph to ask)."""
    if rec.mol is None:
        return 1
    from rdkit import Chem

    return len(Chem.GetMolFrags(rec.mol))


def _more_conformers(rec: MoleculeRecord, seed: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Further force-field conformers of an embedded record (seeds after ``seed``), same atom order."""
    from chemaccel.chem.conformers import embed_3d
    from chemaccel.chem.records import geometry_of

    out = []
    for k in range(1, n + 1):
        res = embed_3d(rec.mol, seed=seed + 1000 * k)
        geometry = geometry_of(res.mol) if res.ok and res.mol is not None else None
        if geometry is not None and len(geometry[0]) == len(rec.numbers):
            out.append(geometry)
    return out
