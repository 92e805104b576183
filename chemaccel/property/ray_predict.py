"""``chemaccel property predict ... --ray``: the streaming prediction of :func:`predict_file` as a Ray Data
job (:mod:`chemaccel.ray_batch`): embedding in CPU tasks, the model in actors that load it once, the same
chunks and seeds as one process, so the same rows; ordered shards, resumable."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chemaccel.property.predict import CHUNK, csv_header, embed_chunk
from chemaccel.reporting import Reporter


@dataclass(frozen=True)
class ShardPredictor:
    """Builds, inside a Ray actor, the model stage: the model loaded once on ``device``."""

    model_path: str
    device: str
    seed: int
    conformers: int | None

    def __call__(self) -> Any:
        from chemaccel.property.predict import _csv_row
        from chemaccel.property.storage import load_model

        model = load_model(Path(self.model_path), self.device)

        def predict(records: list[Any]) -> tuple[list[list[object]], int, int]:
            rows = model._predict_chunk(records, self.seed, conformers=self.conformers)
            n_ok = sum(r.ok for r in rows)
            return [_csv_row(r, model.targets) for r in rows], n_ok, len(rows) - n_ok

        return predict


def predict_file_ray(model: Any, source: str | Path, out: str | Path, address: str | None = None,
                     chunk: int = CHUNK, reporter: Reporter | None = None, seed: int = 0, resume: bool = False,
                     conformers: int | None = None, actors: int | None = None, gpus_per_actor: float = 0.0,
                     num_cpus: int | None = None) -> dict[str, int]:
    """Predict ``source`` into ``out`` on Ray (see :mod:`chemaccel.ray_batch`); ``model`` is a loaded
    property model whose folder the actors load again. Returns the counts of
    :func:`chemaccel.ray_batch.run_sharded`."""
    from chemaccel import ray_batch
    from chemaccel.errors import ConfigError
    from chemaccel.property.predict import _model_id

    if model.path is None:
        raise ConfigError("--ray loads the model in each actor: give a model folder")
    records = ray_batch.read_records(source)  # whole-file problems before Ray starts
    n_conf = model.conformers if conformers is None else max(1, int(conformers))
    fingerprint = {"engine": "property", "model_sha256": _model_id(model), "input": ray_batch.input_fingerprint(source),
                   "chunk": int(chunk), "seed": int(seed)}
    if conformers is not None:
        fingerprint["conformers"] = int(conformers)
    shards = ray_batch.ShardFolder(Path(out), csv_header(model.targets), fingerprint)
    stages = ray_batch.RayStages(
        cpu=functools.partial(embed_chunk, seed=seed, n_conf=n_conf),
        model_factory=ShardPredictor(str(model.path), "cuda" if gpus_per_actor else "cpu", seed, conformers),
        actors=actors, gpus_per_actor=gpus_per_actor)
    ray_batch.start_ray(address, num_cpus)
    return ray_batch.run_sharded(records, shards, stages, int(chunk), resume=resume, reporter=reporter)
