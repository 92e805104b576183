"""Batch prediction on Ray Data: from a laptop's cores to a cluster, with the rows of the one-process run.

``chemaccel property predict IN -m MODEL -o OUT --ray [ADDRESS]`` runs here (``chemaccel[cluster]`` installs
Ray). The driver reads the input in order (SMILES, CSV, SDF, XYZ, ASE db, molecule stores and Parquet with a
SMILES column) and cuts it into shards of ``chunk`` records: exactly the chunks of the one-process run, so
the model sees the same batches with the same seeds and every row is the same. Each wave of shards (8 per
CPU of the cluster, at least 32 and at least 20,000 records: :func:`wave_size`) becomes a Ray Data pipeline:

* a CPU stage: 3D embedding of the SMILES (:func:`embed_chunk`);
* a model stage: actors that load the model once and predict;
* the driver takes the shards back in order and writes each as ``OUT.shards/shard-NNNNNN.csv``, then its
  check file (row count and SHA-256); at the end the shards are merged into ``OUT`` (CSV, or Parquet when
  ``OUT`` ends in ``.parquet``).

Where the model runs on GPUs (``num_gpus`` per actor), the CPU stage is a pool of Ray tasks (one CPU each)
feeding the GPU actors. On CPUs only, both stages run in one pool of actors, one per cluster CPU (1 CPU
each): each loads the model once, embeds a shard and predicts it. Measured on 2 CPUs (docs/benchmarks.md),
the two-stage layout ran three busy processes on two cores there (two embedding tasks, the model actor) and
sent every embedded shard through the object store: its embedding took 20 % and its model 50 % more CPU
than in one process, and 20,000 SMILES ran 1.56x one process, against 1.86x in one pool.

Resume: ``OUT.shards/manifest.json`` records the model, the input and the options; a run with the same
ones skips every shard whose file matches its check file, so a failed or killed job (driver or cluster)
continues where it stopped. Ray retries a task whose worker died and restarts a dead actor; the final count
line says how many shard attempts were retried. A bad record stays a row with its status, as always.

Reading happens in the driver (about 10,000 SMILES/s); embedding and the model scale with the cluster.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from chemaccel.batch_output import ResumeError, encode_rows, file_fingerprint
from chemaccel.checkpoint import atomic_write_bytes
from chemaccel.chem.writers import atomic_path
from chemaccel.errors import ConfigError, InputError, NotAvailableError
from chemaccel.reporting import NullReporter, Reporter

MANIFEST = "manifest.json"
FORMAT = "chemaccel-ray-shards"
WAVE = 32  # shards per Ray Data pipeline at least (the driver holds a wave's records in memory) ...
WAVE_PER_CPU = 8  # ... and this many per CPU of the cluster, so a wave keeps every CPU busy for a while
WAVE_RECORDS = 20_000  # ... and this many records at least: a wave boundary costs ~11 s on 2 CPUs


def wave_size(cpus: float, chunk: int = 1000) -> int:
    """Shards of ``chunk`` records per pipeline on a cluster of ``cpus`` CPUs. Each wave is one Ray Data
    execution: its model actors start and load the model, and its last shards leave CPUs idle while they
    drain (together ~11 s on 2 CPUs, measured: 6,400 SMILES in chunks of 100 took 105 s in two waves, 94 s
    in one), so a wave must be long against both: at least 20,000 records (~6 min of 3D embedding on 2
    CPUs, so a boundary costs ~3 %), and 8 shards per CPU (64 CPUs: 512 shards). The driver holds one
    wave's records (20,000 parsed SMILES: some tens of MB)."""
    return max(WAVE, int(WAVE_PER_CPU * max(0.0, cpus)), -(-WAVE_RECORDS // max(1, int(chunk))))


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise NotAvailableError("--ray needs Ray: pip install 'chemaccel[cluster]' (ray[data] 2.60.0)") from None
    return ray


def start_ray(address: str | None, num_cpus: int | None = None) -> Any:
    """Connect to ``address`` (``auto``: the cluster this machine belongs to) or start a local instance
    (``None`` / ``local``) with ``num_cpus`` CPUs; returns ``ray``."""
    import logging

    ray = require_ray()
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its plan and progress lines: our reporter speaks
    if not ray.is_initialized():
        if address in (None, "", "local"):
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    return ray


# ---------------------------------------------------------------------------------------------- input
def read_records(source: str | Path, skip: int = 0) -> Iterator[Any]:
    """The records of a molecule file in order (whole-file problems raise here, before any record);
    Parquet files are read by their SMILES column."""
    if str(source).lower().endswith(".parquet"):
        return _parquet_records(Path(source), skip)
    from chemaccel.chem.molecules import read_molecules

    return read_molecules(source, skip=skip)


def _parquet_records(path: Path, skip: int) -> Iterator[Any]:
    import pyarrow.parquet as pq

    from chemaccel.chem.readers import SMILES_COLUMNS

    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        table = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise InputError(path, f"not a readable Parquet file ({exc})") from None
    names = table.schema_arrow.names
    column = next((n for n in names if n.lower() in SMILES_COLUMNS), None)
    if column is None:
        raise InputError(path, f"no SMILES column (looked for {', '.join(SMILES_COLUMNS)}; columns: "
                               f"{', '.join(names)})")
    name_col = next((n for n in names if n.lower() in ("name", "id", "title")), None)
    return _parquet_rows(path, table, column, name_col, skip)


def _parquet_rows(path: Path, table: Any, column: str, name_col: str | None, skip: int) -> Iterator[Any]:
    from chemaccel.chem.records import MoleculeRecord, parse_smiles

    index = 0
    for batch in table.iter_batches(columns=[column] + ([name_col] if name_col else [])):
        smiles = batch.column(0).to_pylist()
        labels = batch.column(1).to_pylist() if name_col else [""] * len(smiles)
        for text, label in zip(smiles, labels):
            index += 1
            if index <= skip:
                continue
            mol, error = parse_smiles(text or "")
            if mol is None:
                yield MoleculeRecord.failed(str(path), index, error or "empty SMILES")
            else:
                yield MoleculeRecord(str(path), index, mol=mol, name=str(label or ""))


# --------------------------------------------------------------------------------------------- shards
@dataclass
class ShardFolder:
    """``OUT.shards/``: one CSV per shard (no header) with a check file, and the run's manifest."""

    out: Path
    header: list[str]
    fingerprint: dict[str, Any]

    @property
    def folder(self) -> Path:
        return self.out.with_name(self.out.name + ".shards")

    def csv(self, k: int) -> Path:
        return self.folder / f"shard-{k:06d}.csv"

    def check(self, k: int) -> Path:
        return self.folder / f"shard-{k:06d}.json"

    def open(self, resume: bool) -> set[int]:
        """Create or adopt the folder; the shards already done (resume), else none."""
        manifest = self.folder / MANIFEST
        mine = {"format": FORMAT, "header": self.header, **self.fingerprint}
        if resume and manifest.is_file():
            try:
                theirs = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                theirs = {}
            differs = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            if differs:
                raise ResumeError(f"{self.folder}: made by another run ({', '.join(differs)} differ); "
                                  "start again without --resume")
            return {k for k in self._listed() if self.is_done(k)}
        if self.folder.is_dir():
            for file in self.folder.glob("shard-*"):
                file.unlink()
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(manifest, json.dumps(mine, indent=1).encode())
        return set()

    def _listed(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("shard-*.json"))

    def is_done(self, k: int) -> bool:
        try:
            check = json.loads(self.check(k).read_text(encoding="utf-8"))
            data = self.csv(k).read_bytes()
        except (OSError, ValueError):
            return False
        return hashlib.sha256(data).hexdigest() == check.get("sha256") and data.count(b"\n") == check.get("rows")

    def write(self, k: int, rows: Sequence[Sequence[object]]) -> None:
        data = encode_rows(rows)
        atomic_write_bytes(self.csv(k), data)
        atomic_write_bytes(self.check(k), json.dumps({"rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()})
                      .encode())

    def merge(self, n_shards: int) -> None:
        """Concatenate the shards, in order, into ``out`` (CSV with the header, or Parquet)."""
        if self.out.suffix.lower() == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            rows = [row for k in range(n_shards) for row in csv.reader(io.StringIO(
                self.csv(k).read_text(encoding="utf-8")))]
            columns = {name: [r[i] for r in rows] for i, name in enumerate(self.header)}
            with atomic_path(self.out) as tmp:
                pq.write_table(pa.table(columns), tmp)
            return
        with atomic_path(self.out) as tmp, open(tmp, "wb") as fh:
            fh.write(encode_rows([self.header]))
            for k in range(n_shards):
                fh.write(self.csv(k).read_bytes())
            fh.flush()
            os.fsync(fh.fileno())


# ------------------------------------------------------------------------------------------- the job
@dataclass(frozen=True)
class RayStages:
    """What a prediction job runs on Ray: ``cpu(records) -> records`` in tasks, and ``model_factory()``
    building in each actor the callable ``predict(records) -> (csv rows, n_ok, n_error)``."""

    cpu: Callable[[list[Any]], list[Any]]
    model_factory: Callable[[], Callable[[list[Any]], tuple[list[list[object]], int, int]]]
    #: model actors; None: 1 in the two-stage layout, one per cluster CPU in the one-pool layout
    actors: int | None = None
    gpus_per_actor: float = 0.0
    #: CPUs each model actor reserves in the two-stage layout. 0 by default: the model is about ten times
    #: faster than the 3D embedding, so the actors share the CPUs that the embedding tasks hold instead of
    #: keeping one idle (on 2 CPUs one reserved for the actor would halve the embedding)
    cpus_per_actor: float = 0.0
    #: True: CPU tasks feed model actors; False: one pool of 1-CPU actors does both; None: two stages
    #: only where the actors take GPUs (see the module docstring)
    two_stage: bool | None = None

    @property
    def split(self) -> bool:
        return self.gpus_per_actor > 0 if self.two_stage is None else self.two_stage


def run_sharded(items: Iterator[Any], shards: ShardFolder, stages: RayStages, chunk: int, resume: bool = False,
                reporter: Reporter | None = None) -> dict[str, int]:
    """Run the job over ``items`` (the input's records, in order; see the module docstring); returns ``ok``, ``error``, ``rows``, ``shards``,
    ``skipped_shards`` (done before), ``retried`` (shard attempts Ray ran again) and ``cancelled``."""
    ray = require_ray()
    reporter = reporter or NullReporter()
    done = shards.open(resume)
    counter = _define_counter().remote()
    counts = {"ok": 0, "error": 0, "rows": 0, "shards": 0, "skipped_shards": 0, "retried": 0, "cancelled": 0}
    if done:
        reporter.on_message(f"{shards.folder}: {len(done)} shards done before are kept")
    reporter.on_start("predict (ray)", None)
    records = iter(items)
    per_wave = wave_size(float(ray.cluster_resources().get("CPU", 0)), chunk)
    k, exhausted = 0, False
    while not exhausted:
        wave: list[tuple[int, list[Any]]] = []
        while len(wave) < per_wave:
            batch = list(itertools.islice(records, chunk))
            if not batch:
                exhausted = True
                break
            if k in done:
                counts["skipped_shards"] += 1
                counts["rows"] += len(batch)
            else:
                wave.append((k, batch))
            k += 1
        if not wave:
            continue
        for shard, rows, n_ok, n_error in _run_wave(ray, wave, stages, counter):
            shards.write(shard, rows)
            counts["ok"] += n_ok
            counts["error"] += n_error
            counts["rows"] += len(rows)
            reporter.on_progress(counts["rows"], None, {"errors": float(counts["error"])})
        if reporter.should_stop():
            counts["cancelled"] = 1
            break
    counts["shards"] = k
    counts["retried"] = int(ray.get(counter.retried.remote()))
    if not counts["cancelled"]:
        shards.merge(k)
    return counts


def _run_wave(ray: Any, wave: list[tuple[int, list[Any]]], stages: RayStages, counter: Any
              ) -> Iterator[tuple[int, list[list[object]], int, int]]:
    """One Ray Data pipeline over a wave of shards; yields them back in order. The records and rows travel
    as Python objects in the rows (Ray serializes them between its own processes)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    items = [{"shard": k, "records": batch} for k, batch in wave]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    cpu = stages.cpu

    def cpu_stage(row: dict[str, Any]) -> dict[str, Any]:
        ray.get(counter.attempt.remote("cpu", int(row["shard"])))
        return {"shard": row["shard"], "records": cpu(list(row["records"]))}

    factory = stages.model_factory

    class ModelStage:
        """The model loaded once; with ``embed``, the CPU stage run here first (the one-pool layout)."""

        def __init__(self, embed: bool = False) -> None:
            self.predict = factory()
            self.embed = embed

        def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, list[Any]] = {"shard": [], "rows": [], "ok": [], "error": []}
            for shard, records in zip(batch["shard"], batch["records"]):
                records = list(records)
                if self.embed:
                    ray.get(counter.attempt.remote("cpu", int(shard)))
                    records = cpu(records)
                ray.get(counter.attempt.remote("model", int(shard)))
                rows, n_ok, n_error = self.predict(records)
                out["shard"].append(int(shard))
                out["rows"].append(rows)
                out["ok"].append(n_ok)
                out["error"].append(n_error)
            return out

    # Ray Data's defaults retry a task whose worker died and restart a dead actor.
    if not stages.split:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        size = max(1, min(len(wave), cpus, stages.actors or cpus))  # 1 CPU each: no more than fit
        predicted = ds.map_batches(ModelStage, fn_constructor_kwargs={"embed": True}, batch_size=1,
                                   compute=ray.data.ActorPoolStrategy(size=size), num_cpus=1)
    else:
        # The CPU stage states its resources through a function so that Ray does not fuse it into the
        # actors (which would embed in them, one shard at a time per actor, instead of in tasks on every
        # free CPU).
        import warnings

        with warnings.catch_warnings():  # ray_remote_args_fn is deprecated from 2.60 (pinned) and still the way
            warnings.simplefilter("ignore", DeprecationWarning)
            predicted = ds.map(cpu_stage, ray_remote_args_fn=lambda: {"num_cpus": 1}).map_batches(
                ModelStage, batch_size=1, compute=ray.data.ActorPoolStrategy(size=max(1, stages.actors or 1)),
                num_cpus=stages.cpus_per_actor, num_gpus=stages.gpus_per_actor or None)
    for row in predicted.iter_rows():
        yield int(row["shard"]), [list(r) for r in row["rows"]], int(row["ok"]), int(row["error"])


def _define_counter() -> Any:
    ray = require_ray()

    @ray.remote(num_cpus=0)
    class AttemptCounter:
        """How often each (stage, shard) ran: the attempts beyond the first are Ray's retries."""

        def __init__(self) -> None:
            self.seen: dict[tuple[str, int], int] = {}

        def attempt(self, stage: str, shard: int) -> int:
            key = (stage, shard)
            self.seen[key] = self.seen.get(key, 0) + 1
            return self.seen[key]

        def retried(self) -> int:
            return sum(n - 1 for n in self.seen.values())

    return AttemptCounter


def input_fingerprint(source: str | Path) -> dict[str, Any]:
    if str(source) == "-":
        raise ConfigError("--ray reads a file, not stdin")
    return file_fingerprint(source)
