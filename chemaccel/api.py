"""The public API: everything the GUI, scripts and embedding tools may use, listed explicitly.

Example::

    from chemaccel import api
    records = list(api.read_molecules("mols.sdf"))       # each record: a molecule or a reason
    good = [r for r in records if r.ok]

Each engine is one line of the registry :data:`chemaccel.engines.ENGINES` (its config, loader, evaluate,
workflow and CLI module); :func:`load_model` and :func:`evaluate` dispatch on a folder's ``engine`` through
it (:data:`MODEL_LOADERS` is its loaders, ``"module:function"``), so any shipped or trained model is
rebuilt from JSON + safetensors without importing every engine up front. The front ends (CLI, GUI, demo)
use only this module; docs/architecture.md describes the layers.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from chemaccel._version import __version__
from chemaccel.checkpoint import ModelInfo, expect_engine, load_model_folder, read_model_info, save_model_folder
from chemaccel.chem.conformers import embed_3d, embed_records
from chemaccel.chem.depict import depict_png, depict_svg
from chemaccel.chem.molecules import MoleculeRecord, canonical_smiles, read_all, read_molecules, write_csv, write_sdf
from chemaccel.chem.readers import molecules_from_text
from chemaccel.chem.store import MoleculeStore
from chemaccel.engines import ENGINES, EXTRA_LOADERS, Engine, engine
from chemaccel.errors import (
    Cancelled, ChemAccelError, ConfigError, DeviceError, InputError, ModelFileError, NotAvailableError,
    StoreError,
)
from chemaccel.reporting import (
    LoggingReporter, NullReporter, RecordingReporter, Reporter, StopFlag, TqdmReporter,
)
from chemaccel.shipped import DEFAULT_MODELS, examples_dir, models_dir, shipped_names
from chemaccel.runtime import RuntimeConfig, available_devices, describe_device, resolve_device, seed_everything
from chemaccel.gan.config import GanConfig
from chemaccel.property.config import PropertyConfig
from chemaccel.nas.config import PRECISIONS as NAS_PRECISIONS, RetrainConfig, SearchConfig
from chemaccel.nas.workflow import (
    NasModelView, NasRetrainOutcome, NasRetrainSpec, NasSearchOutcome, NasSearchSpec,
    describe_model as describe_nas_model, read_genotype, run_retrain as run_nas_retrain_job,
    run_search as run_nas_search_job, save_search_genotype as save_nas_genotype,
)
from chemaccel.prune.config import PruneConfig
from chemaccel.prune.models import MODEL_KINDS as PRUNE_ARCHITECTURES
from chemaccel.prune.workflow import DENSE_TASK as PRUNE_DENSE_TASK, PruneJobSpec, PruneOutcome
from chemaccel.reaction.config import ReactionConfig

#: ``engine`` of a model folder -> ``"module:function"`` of its loader (the engine registry's, and extras)
MODEL_LOADERS: dict[str, str] = {**{name: e.load for name, e in ENGINES.items()}, **EXTRA_LOADERS}


def load_model(path: str | Path, device: str | Any = "cpu") -> Any:
    """Load any chemaccel model folder, or a shipped model by name, onto ``device``, dispatching on its
    ``engine``; never unpickles anything."""
    from chemaccel.shipped import resolve_model

    path = resolve_model(path)
    info = read_model_info(path)
    target = MODEL_LOADERS.get(info.engine)
    if target is None:
        raise NotAvailableError(
            f"{path}: a model of engine {info.engine!r} cannot be loaded by this chemaccel {__version__} "
            f"(known: {', '.join(sorted(MODEL_LOADERS))})"
        )
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)(Path(path), device)


def evaluate(path: str | Path, data: Any = None, device: str | Any = "cpu", **options: Any) -> dict[str, Any]:
    """The figures of any model folder (or shipped model's name) on ``data``, through its engine's
    evaluate (:mod:`chemaccel.engines`): an IDX folder for prune and nas, a molecule store for property, a
    reaction folder for reaction, a reference set (optional) for gan. ``options`` go to the engine's
    evaluate (e.g. ``split``, ``limit``)."""
    from chemaccel.shipped import resolve_model

    path = resolve_model(path)
    info = read_model_info(path)
    if info.engine not in ENGINES:
        raise NotAvailableError(f"{path}: no engine {info.engine!r} to evaluate it in this chemaccel "
                                f"(known: {', '.join(sorted(ENGINES))})")
    return ENGINES[info.engine].evaluator()(path, data, device=device, **options)


def workflow(name: str) -> Any:
    """The workflow module of engine ``name`` (its jobs: train / prune / search / sample with checkpoints,
    resume and a :class:`Reporter`), imported now. A new engine's CLI module and desktop panel reach its jobs
    through this, so adding an engine adds nothing to this module; the named functions below are the
    existing engines' shortcuts for embedding code."""
    return engine(name).resolve("workflow")


def engine_config(name: str) -> Any:
    """The typed, frozen settings class of engine ``name`` (``from_dict`` / ``to_dict``)."""
    return engine(name).resolve("config")


def prune(model: Any, data: Any, config: Any = None, reporter: Reporter | None = None, val_data: Any = None,
          checkpoint_dir: str | Path | None = None, resume: bool = False) -> Any:
    """Prune ``model`` with AutoPrune (Xiao, Wang and Rajasekaran, NeurIPS 2019).

    Args:
        model: any ``torch.nn.Module`` with Linear/Conv layers (pruned in place).
        data: training data: an ``(inputs, targets)`` tensor pair or a torch Dataset.
        config: a :class:`chemaccel.prune.PruneConfig` or a dict for ``PruneConfig.from_dict`` (None: defaults).
        reporter: progress and cancellation (:class:`Reporter`).
        val_data: optional validation data, same forms as ``data``.
        checkpoint_dir, resume: training checkpoints (cancel leaves one; ``resume=True`` continues).

    Returns:
        a :class:`chemaccel.prune.PruneResult` (pruned model, measurements, history).
    """
    from chemaccel.prune import AutoPrune, PruneConfig

    if config is None:
        config = PruneConfig()
    elif not isinstance(config, PruneConfig):
        config = PruneConfig.from_dict(config)
    return AutoPrune(config).run(model, data, val_data, reporter, checkpoint_dir=checkpoint_dir, resume=resume)


def run_prune_job(reporter: Reporter | None, spec: Any) -> Any:
    """Run one AutoPrune job as ``chemaccel prune run`` and the app run it: read an IDX image folder, train
    a built-in architecture dense first (or start from a model folder), prune with checkpoints in
    ``spec.work`` (:mod:`chemaccel.prune.workflow`). ``spec`` is a :class:`PruneJobSpec`; returns a
    :class:`chemaccel.prune.workflow.PruneOutcome` (``.cancelled``, ``.result``, ``.layers``); write it
    with :func:`save_prune_outcome`."""
    from chemaccel.prune.workflow import run_job

    return run_job(reporter, spec)


def save_prune_outcome(outcome: Any, path: str | Path, notes: str = "") -> Path:
    """Write a finished :func:`run_prune_job` outcome as a prune model folder; returns the folder."""
    from chemaccel.prune.workflow import save_outcome

    return save_outcome(outcome, path, notes=notes)


def evaluate_pruned(model: str | Path, data: Any = None, split: str = "test", limit: int | None = None,
                    latency_repeats: int = 50, device: str | Any = "cpu") -> dict[str, Any]:
    """Measure a prune model folder: sizes, FLOPs and CPU latency, and with ``data`` (an IDX folder or
    ``(x, y)`` tensors) the error on ``split`` on ``device`` (:func:`chemaccel.prune.evaluate.evaluate`)."""
    from chemaccel.prune.evaluate import evaluate

    return evaluate(model, data, split=split, limit=limit, latency_repeats=latency_repeats, device=device)


def measure_pruned(model: Any, example: Any, reference: Any = None, latency_repeats: int = 50) -> dict[str, Any]:
    """Sizes, FLOPs (against ``reference``, the dense model) and CPU latency of a (pruned) module on one
    ``example`` input (:func:`chemaccel.prune.measure.measure`)."""
    from chemaccel.prune.measure import measure

    return measure(model, example, reference=reference, latency_repeats=latency_repeats)


def prune_table(stats: dict[str, Any]) -> str:
    """The per-layer text table of :func:`evaluate_pruned`'s (or a prune result's) measurements."""
    from chemaccel.prune.measure import format_table

    return format_table(stats)


def evaluate_nas(model: str | Path, data: Any = None, split: str = "test", limit: int | None = None,
                 device: str | Any = "cpu") -> dict[str, Any]:
    """Measure a NAS model folder: parameters, skips per cell, and with ``data`` (an IDX folder or
    ``(x, y)``) the accuracy on ``split`` (:func:`chemaccel.nas.evaluate.evaluate`)."""
    from chemaccel.nas.evaluate import evaluate

    return evaluate(model, data, split=split, limit=limit, device=device)


def train_reaction(config: Any, data_dir: str | Path, out: str | Path, reporter: Reporter | None = None,
                   resume: bool = False, runtime: RuntimeConfig | None = None, mit_dir: str | Path | None = None,
                   limit: int | None = None, init_from: str | Path | None = None,
                   keep_decoder_layers: Any = None, keep_heads: int | None = None,
                   keep_neurons: int | None = None, prune_budget: float | None = None,
                   prune_scope: str = "all", keep_decoder_heads: int | None = None,
                   keep_decoder_neurons: int | None = None, distill_from: str | Path | None = None,
                   distill_alpha: float = 0.5, distill_temperature: float = 1.0) -> Any:
    """Train a forward reaction model (reactants -> product) on a USPTO-50K-format folder with eole.

    Args:
        config: a :class:`ReactionConfig` (``ReactionConfig.from_preset("low")``), a dict for
            ``ReactionConfig.from_dict``, or a preset name ("low", "mt").
        data_dir: folder with ``src-/tgt-{train,valid}.txt`` (USPTO-50K's layout, read forward).
        out: model folder to write; checkpoints go to ``<out>.work`` (``resume=True`` continues).
        reporter: progress and cancellation (cancel leaves a checkpoint and a valid model folder).
        runtime: device (cpu or cuda:0); mit_dir: USPTO-MIT folder for ``extra_mit_valid``.
        limit: read only the first N reactions of each split.
        init_from: a reaction model folder to start from (its vocabulary and weights).
        keep_decoder_layers: with ``init_from``: keep only these decoder layers of it (indices, or text such
            as ``"0,2,5"``), copied once into ``<out>.work/init-model`` (a resumed run keeps its copy).
        keep_heads, keep_neurons: with ``init_from``: keep the largest heads of every attention module and
            neurons of every feed-forward block (:mod:`chemaccel.reaction.compact`; None: all), removed from
            the weights in that copy, and fine-tune the smaller model (``config`` takes its shape).
        keep_decoder_heads, keep_decoder_neurons: the same for the decoder's modules alone (None: as
            ``keep_heads`` / ``keep_neurons``); the decoder's heads are where a decoding step's time goes.
        distill_from: a distilling teacher (a reaction model folder or shipped name with the student's
            vocabulary, e.g. the ``init_from`` a compact student was made from): every step also matches its
            next-token distributions with weight ``distill_alpha`` at ``distill_temperature``
            (:mod:`chemaccel.reaction.distill`).
        prune_budget: with ``init_from``: AutoPrune its heads and feed-forward neurons while training
            (:mod:`chemaccel.reaction.unit_prune`) to keep this fraction of their parameters; the model folder
            written is compacted to the units left open (fine-tune it with a second run).
        prune_scope: with ``prune_budget``: what is pruned, ``all`` heads and neurons, the ``decoder``'s, or
            the ``decoder-heads`` only (where a decoding step's time goes; the encoder hardly counts).

    Returns:
        a :class:`chemaccel.reaction.TrainResult`; load the model with :func:`load_model`.
    """
    from chemaccel.reaction import ReactionTrainer
    from chemaccel.reaction.storage import drop_decoder_layers, parse_kept_layers

    if isinstance(config, str):
        config = ReactionConfig.from_preset(config)
    elif not isinstance(config, ReactionConfig):
        config = ReactionConfig.from_dict(config)
    prune = None
    if prune_budget is not None:
        from chemaccel.reaction.unit_prune import UnitPruneConfig

        if any(k is not None for k in (keep_heads, keep_neurons, keep_decoder_heads, keep_decoder_neurons,
                                       keep_decoder_layers)):
            raise ConfigError("--prune-budget finds the heads and neurons to keep itself: not with --keep-heads, "
                              "--keep-neurons, --keep-decoder-heads/neurons or --keep-decoder-layers")
        prune = UnitPruneConfig(budget=prune_budget, scope=prune_scope)
    if keep_decoder_layers is not None:
        if init_from is None:
            raise ConfigError("keeping decoder layers needs a model to start from (--init-from)")
        keep = parse_kept_layers(keep_decoder_layers) if isinstance(keep_decoder_layers, str) else list(
            keep_decoder_layers)
        if config.decoder_layers != len(keep):
            raise ConfigError(f"decoder_layers {config.decoder_layers} but {len(keep)} decoder layers kept")
        copy = Path(out).with_name(Path(out).name + ".work") / "init-model"
        if not (resume and copy.is_dir()):
            drop_decoder_layers(init_from, copy, keep)
        init_from = copy
    if any(k is not None for k in (keep_heads, keep_neurons, keep_decoder_heads, keep_decoder_neurons)):
        from chemaccel.checkpoint import read_model_info
        from chemaccel.reaction.compact import shrink_model

        if init_from is None or keep_decoder_layers is not None:
            raise ConfigError("keeping heads or neurons needs a model to start from (--init-from), and not "
                              "--keep-decoder-layers in the same run")
        copy = Path(out).with_name(Path(out).name + ".work") / "init-model"
        if not (resume and copy.is_dir()):
            shrink_model(init_from, copy, heads=keep_heads, neurons=keep_neurons, decoder_heads=keep_decoder_heads,
                         decoder_neurons=keep_decoder_neurons)
        small = ReactionConfig.from_dict(read_model_info(copy).config)
        config = config.replace(heads=small.heads, head_dim=small.head_width, ff_size=small.ff_size,
                                decoder_heads=small.decoder_heads, decoder_ff_size=small.decoder_ff_size)
        init_from = copy
    distill = None
    if distill_from is not None:
        from chemaccel.reaction.distill import DistillConfig

        distill = DistillConfig(str(distill_from), distill_alpha, distill_temperature)
    trainer = ReactionTrainer(config, data_dir, out, runtime=runtime, mit_dir=mit_dir, limit=limit,
                              init_from=init_from, prune=prune, distill=distill)
    return trainer.run(reporter, resume=resume)


def read_reactions(path: str | Path, column: str | None = None) -> Any:
    """The reactions of a text file (one per line, ``-`` for stdin) or of a CSV/TSV column, streamed
    (:func:`chemaccel.reaction.batch.read_reactions`); whole-file problems raise at once."""
    from chemaccel.reaction.batch import read_reactions as read

    return read(str(path), column)


def typed_reaction(text: str) -> str | None:
    """``text`` when it is a reaction SMILES typed where a file name was expected, None for a file or ``-``;
    :class:`~chemaccel.errors.InputError` when it is neither (:func:`chemaccel.reaction.batch.typed_reaction`)."""
    from chemaccel.reaction.batch import typed_reaction as typed

    return typed(text)


def reaction_text_lines(prediction: Any) -> list[str]:
    """A reaction prediction as terminal lines: input, note, confidence, numbered candidates
    (:func:`chemaccel.reaction.batch.text_lines`)."""
    from chemaccel.reaction.batch import text_lines

    return text_lines(prediction)


def reaction_of_line(line: str) -> str:
    """The reaction of one line of a text file: its first field; a name after whitespace is dropped
    (:func:`chemaccel.reaction.batch.reaction_of_line`)."""
    from chemaccel.reaction.batch import reaction_of_line as first_field

    return first_field(line)


def reaction_csv_header(k: int) -> list[str]:
    """The columns of ``reaction predict``'s CSV with ``k`` candidates."""
    from chemaccel.reaction.batch import csv_header

    return csv_header(k)


def reaction_csv_rows(predictions: Any, k: int, first_row: int) -> list[list[object]]:
    """``reaction predict``'s CSV rows of a reaction model's predictions, numbered from ``first_row``."""
    from chemaccel.reaction.batch import csv_rows

    return csv_rows(predictions, k, first_row)


def predict_reactions_ray(model_path: str | Path, source: str | Path, out: str | Path, address: str | None = None,
                          reporter: Reporter | None = None, **options: Any) -> dict[str, int]:
    """``reaction predict`` as a Ray Data job (local instance or cluster; the model in actors, the same rows,
    ordered shards, resumable): :func:`chemaccel.reaction.batch.predict_reactions_ray`. Needs
    ``chemaccel[cluster]``."""
    from chemaccel.reaction.batch import predict_reactions_ray as run

    return run(model_path, source, out, address, reporter=reporter, **options)


def predict_reaction_chunks(model_path: str | Path, chunks: Any, k: int, workers: int, device: str = "cpu",
                            start_method: str | None = None) -> Any:
    """Predictions of each chunk of reactions, in order, by ``workers`` processes that each load the model
    once (``reaction predict --workers``; :func:`chemaccel.reaction.batch.predict_chunks_in_processes`).
    ``start_method`` ("spawn", "forkserver", "fork"; default: the platform's) starts the processes: a
    program with threads of its own (a GUI) should spawn them."""
    from chemaccel.reaction.batch import predict_chunks_in_processes

    return predict_chunks_in_processes(model_path, chunks, k, workers, device, start_method=start_method)


def reaction_kept_layers(text: str) -> list[int]:
    """The decoder layer indices of ``--keep-decoder-layers`` text such as ``"0,2,5"`` (one-line error if bad)."""
    from chemaccel.reaction.storage import parse_kept_layers

    return parse_kept_layers(text)


def reaction_unit_shape(model: str | Path) -> dict[str, int]:
    """The decoder depth, heads and feed-forward widths of a reaction model folder (or shipped name), as
    ReactionConfig fields: a run that starts from a compacted or layer-pruned model (``init_from``) trains at
    this shape."""
    from chemaccel.shipped import resolve_model

    folder = resolve_model(model)
    config = ReactionConfig.from_dict(expect_engine(read_model_info(folder), "reaction", folder).config)
    return {"heads": config.heads, "head_dim": config.head_width, "ff_size": config.ff_size,
            "decoder_layers": config.decoder_layers, "decoder_heads": config.decoder_heads,
            "decoder_ff_size": config.decoder_ff_size}


def evaluate_reaction(model: Any, data_dir: str | Path, split: str = "test", limit: int | None = None, k: int = 5,
                      batch_size: int = 32, reporter: Reporter | None = None) -> dict[str, Any]:
    """Top-k accuracy of a reaction model on a USPTO-50K or USPTO-MIT folder
    (:func:`chemaccel.reaction.evaluate.evaluate`)."""
    from chemaccel.reaction.evaluate import evaluate

    return evaluate(model, data_dir, split=split, limit=limit, k=k, batch_size=batch_size, reporter=reporter)


def train_gan(config: Any = None, data: Any = None, reporter: Reporter | None = None, out: str | Path | None = None,
              runtime: RuntimeConfig | None = None, checkpoint_dir: str | Path | None = None,
              resume: bool = False) -> Any:
    """Train K generators with shared layers, a generator classifier and an orthogonality term (K=1: a GAN).

    Args:
        config: a :class:`chemaccel.gan.GanConfig` or a dict for ``GanConfig.from_dict`` (None: defaults, ring8).
        data: ``vectors``: an (n, d) array; ``qm9``: a molecule store path or a list of SMILES; toys: None.
        reporter: progress and cancellation (:class:`Reporter`).
        out: write the trained model folder here (also after divergence: the last good state).
        runtime: device, precision, seed.
        checkpoint_dir, resume: training checkpoints (cancel leaves one; ``resume=True`` continues).

    Returns:
        a :class:`chemaccel.gan.GanResult` (model, status, reason, metrics, history).
    """
    from chemaccel.gan import GanConfig, GanTrainer

    if config is None:
        config = GanConfig()
    elif not isinstance(config, GanConfig):
        config = GanConfig.from_dict(config)
    result = GanTrainer(config, runtime).run(reporter, data=data, checkpoint_dir=checkpoint_dir, resume=resume)
    from chemaccel.runtime import is_main_process

    if out is not None and result.status != "cancelled" and is_main_process():
        save_gan_result(out, result)
    return result


def save_gan_result(path: str | Path, result: Any) -> Path:
    """Write a :class:`chemaccel.gan.GanResult`'s model as a model folder, with its scalar metrics and how
    the run ended; returns the folder."""
    from chemaccel.gan import save_gan

    return save_gan(path, result.model, metrics={k: v for k, v in result.metrics.items()
                                                 if isinstance(v, (int, float, str)) and not isinstance(v, bool)},
                    notes=f"{result.status}: {result.reason}")


def read_reference_molecules(path: str | Path) -> list[str]:
    """Reference SMILES for a molecule generator's distribution metrics: a molecule store's test split or a
    SMILES file (:func:`chemaccel.gan.distribution.read_reference`)."""
    from chemaccel.gan.distribution import read_reference

    return read_reference(path)


def embed_store(path: str | Path, name: str = "mmff", workers: int = 1, reporter: Reporter | None = None,
                **settings: Any) -> Any:
    """Force-field geometries (ETKDG + MMFF) for every molecule of a store, as the geometry set ``name``.

    ``settings``: fields of :class:`chemaccel.chem.embed_store.EmbedSettings` (seed, max_attempts, max_iters,
    time_limit, splits). Resumable: the same call continues after a kill. Returns an ``EmbedSummary``.
    """
    from chemaccel.chem.embed_store import EmbedSettings
    from chemaccel.chem.embed_store import embed_store as _embed

    return _embed(path, name, EmbedSettings(**settings), workers=workers, reporter=reporter)


def build_reaction_corpus(data: str | Path, out: str | Path, valid_fraction: float = 0.02, seed: int = 0,
                          workers: int = 1, reporter: Reporter | None = None) -> Any:
    """A reagent-aware forward corpus from the USPTO sets under ``data`` (held-out test products removed);
    see :mod:`chemaccel.datasets.reaction_corpus`. Returns its ``CorpusSummary`` (counts per source)."""
    from chemaccel.datasets.reaction_corpus import build_corpus

    return build_corpus(data, out, valid_fraction, seed=seed, workers=workers, reporter=reporter)


def evaluate_property_inputs(model: Any, store: str | Path, split: str = "test", geometry: str = "smiles",
                             limit: int | None = None, workers: int = 1, seed: int = 0,
                             reporter: Reporter | None = None, conformers: int | None = None) -> dict[str, Any]:
    """A property model through its prediction path on a store split, from ``smiles``, ``dft`` or a geometry
    set: MAE, failures, interval coverage, domain split and the parameter count (see
    :mod:`chemaccel.property.evaluate_rows`)."""
    from chemaccel.property.evaluate_rows import evaluate_rows
    from chemaccel.property.model import count_parameters

    out = evaluate_rows(model, store, split=split, geometry=geometry, limit=limit, workers=workers, seed=seed,
                        reporter=reporter, conformers=conformers)
    out["params"] = count_parameters(model.module)
    return out


def train_property(config: Any, store: str | Path, out: str | Path | None = None, reporter: Reporter | None = None,
                   runtime: RuntimeConfig | None = None, resume: bool = False, init_from: str | Path | None = None) -> Any:
    """Train (and optionally prune) a SchNet property model on a QM9 molecule store.

    Args:
        config: a :class:`chemaccel.property.PropertyConfig` or a dict for ``PropertyConfig.from_dict``.
        store: a store from ``chemaccel data qm9`` (its fixed train/valid split is used).
        out: model folder to write; checkpoints go to ``<out>.work`` (``resume=True`` continues).
        reporter: progress and cancellation (cancel leaves a checkpoint).
        runtime: device, precision, seed.
        init_from: a trained dense model folder to prune instead of training from scratch.

    Returns:
        a :class:`chemaccel.property.PropertyResult`; load the model with :func:`load_model`.
    """
    from chemaccel.property import PropertyConfig, PropertyTrainer

    if not isinstance(config, PropertyConfig):
        config = PropertyConfig.from_dict(config)
    return PropertyTrainer(config, store, out, runtime=runtime, init_from=init_from).run(reporter, resume=resume)


def predict_property_file(model: Any, source: str | Path, out: str | Path, reporter: Reporter | None = None,
                          device: str | Any = "cpu", **options: Any) -> dict[str, int]:
    """Stream a molecule file through a property model (:func:`load_model` of a property folder) into a CSV
    with value, uncertainty and verdict columns, resumable (:func:`chemaccel.property.predict.predict_file`:
    ``chunk``, ``seed``, ``resume``, ``conformers``, ``workers``); returns the row counts.

    ``model`` may also be the folder (or a shipped model's name): it is then loaded onto ``device`` only
    once the ``workers`` embedding processes have started on the first chunks (the same rows, sooner)."""
    from chemaccel.property.predict import predict_file

    if isinstance(model, (str, Path)):
        model = _deferred_property_model(model, device)
    return predict_file(model, source, out, reporter=reporter, **options)


def typed_smiles(text: str) -> str | None:
    """``text`` when it is a SMILES typed where a molecule file was expected, None for a file or ``-``;
    :class:`~chemaccel.errors.InputError` when it is neither (:func:`chemaccel.property.predict.typed_smiles`)."""
    from chemaccel.property.predict import typed_smiles as typed

    return typed(text)


def _deferred_property_model(model: str | Path, device: str | Any = "cpu") -> Any:
    """A property folder (or shipped name) as a :class:`chemaccel.property.predict.DeferredModel`."""
    from chemaccel.property.predict import DeferredModel
    from chemaccel.shipped import resolve_model

    path = resolve_model(model)
    expect_engine(read_model_info(path), "property", path)
    return DeferredModel(path, device)


def predict_property_file_ray(model: Any, source: str | Path, out: str | Path, address: str | None = None,
                              reporter: Reporter | None = None, **options: Any) -> dict[str, int]:
    """:func:`predict_property_file` as a Ray Data job on a local instance (``address`` None or ``local``)
    or a cluster (``auto`` or its address): the same rows, ordered shards, resumable
    (:func:`chemaccel.property.ray_predict.predict_file_ray`; options ``chunk``, ``seed``, ``resume``,
    ``conformers``, ``actors``, ``gpus_per_actor``, ``num_cpus``). ``model`` may be the folder: only the
    actors then load the weights. Needs ``chemaccel[cluster]``."""
    from chemaccel.property.ray_predict import predict_file_ray

    if isinstance(model, (str, Path)):  # the actors load it; this process only needs its config.json
        model = _deferred_property_model(model)
    return predict_file_ray(model, source, out, address, reporter=reporter, **options)


def evaluate_property(model: Any, store: str | Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    """MAE (meV) per target of a property model on ``split`` of a molecule store, in its stored geometry,
    with parameters, FLOPs and molecules/s (:func:`chemaccel.property.evaluate.evaluate_model`)."""
    from chemaccel.property.evaluate import evaluate_model

    return evaluate_model(model, store, split=split, limit=limit)


def nas_search(data: Any, config: Any = None, reporter: Reporter | None = None, teacher: Any = None,
               teacher_layers: Any = None, checkpoint_dir: str | Path | None = None, resume: bool = False) -> Any:
    """Search a cell architecture with DARTS (Liu et al. ICLR 2019), optionally distilled from a teacher.

    Args:
        data: TRAINING images and labels, an ``(x (N, C, H, W), y)`` tensor pair; the search splits it into a
            weight half and an architecture half (never pass the test split).
        config: a :class:`chemaccel.nas.SearchConfig` or a dict for ``SearchConfig.from_dict`` (None: defaults,
            plain DARTS; ``feature_weight`` / ``logit_weight`` > 0 turn distillation on).
        reporter: progress and cancellation (:class:`Reporter`).
        teacher, teacher_layers: your own teacher module and the names of its layers to distil (default: the
            engine trains a small CNN first).
        checkpoint_dir, resume: training checkpoints (cancel leaves one; ``resume=True`` continues).

    Returns:
        a :class:`chemaccel.nas.SearchResult` (``genotype``, ``history``, skip counts, timing).
    """
    from chemaccel.nas import NasSearch, SearchConfig

    if config is None:
        config = SearchConfig()
    elif not isinstance(config, SearchConfig):
        config = SearchConfig.from_dict(config)
    return NasSearch(config).run(data, reporter, teacher=teacher, teacher_layers=teacher_layers,
                                 checkpoint_dir=checkpoint_dir, resume=resume)


def nas_retrain(genotype: Any, data: Any, out: str | Path | None = None, config: Any = None,
                reporter: Reporter | None = None, test_data: Any = None, normalization: Any = None,
                teacher: Any = None, teacher_layers: Any = None, checkpoint_dir: str | Path | None = None,
                resume: bool = False) -> Any:
    """Train the network of a genotype from scratch (optionally distilled) and write a model folder.

    Args:
        genotype: a :class:`chemaccel.nas.Genotype`, its JSON dict, or a genotype file path.
        data: training images and labels, an ``(x, y)`` tensor pair.
        out: model folder to write (config.json with engine ``nas`` and the genotype, model.safetensors).
        config: a :class:`chemaccel.nas.RetrainConfig` or a dict for ``RetrainConfig.from_dict``.
        reporter: progress and cancellation.
        test_data: ``(x, y)`` measured once at the end; its accuracy is written into the folder.
        normalization: the (mean, std) applied to the images, stored for evaluation.
        teacher, teacher_layers, checkpoint_dir, resume: as for :func:`nas_search`.

    Returns:
        a :class:`chemaccel.nas.RetrainResult` (model, metrics, history, folder).
    """
    from chemaccel.nas import Genotype, NasRetrain, RetrainConfig, load_genotype

    if isinstance(genotype, (str, Path)):
        genotype = load_genotype(genotype)
    elif not isinstance(genotype, Genotype):
        genotype = Genotype.from_dict(genotype)
    if config is None:
        config = RetrainConfig()
    elif not isinstance(config, RetrainConfig):
        config = RetrainConfig.from_dict(config)
    return NasRetrain(config).run(genotype, data, out, reporter, test_data=test_data, normalization=normalization,
                                  teacher=teacher, teacher_layers=teacher_layers, checkpoint_dir=checkpoint_dir,
                                  resume=resume)


__all__ = [
    "nas_search", "nas_retrain", "run_nas_search_job", "save_nas_genotype", "run_nas_retrain_job", "evaluate_nas",
    "describe_nas_model", "read_genotype", "NasSearchSpec", "NasSearchOutcome", "NasRetrainSpec",
    "NasRetrainOutcome", "NasModelView", "SearchConfig", "RetrainConfig", "NAS_PRECISIONS",
    "train_property", "PropertyConfig", "predict_property_file", "predict_property_file_ray", "evaluate_property", "embed_store", "evaluate_property_inputs", "build_reaction_corpus",
    "train_gan", "save_gan_result", "GanConfig", "read_reference_molecules",
    "train_reaction", "read_reactions", "reaction_of_line", "typed_reaction", "reaction_text_lines", "reaction_csv_header", "reaction_csv_rows", "predict_reactions_ray",
    "predict_reaction_chunks", "reaction_kept_layers", "evaluate_reaction", "ReactionConfig",
    "prune", "run_prune_job", "save_prune_outcome", "evaluate_pruned", "measure_pruned", "prune_table", "PruneJobSpec", "PruneOutcome", "PruneConfig",
    "PRUNE_ARCHITECTURES", "PRUNE_DENSE_TASK",
    "__version__",
    "Cancelled", "ChemAccelError", "ConfigError", "DeviceError", "InputError", "ModelFileError",
    "NotAvailableError",
    "StoreError",
    "MoleculeRecord", "read_molecules", "read_all", "molecules_from_text", "write_csv", "write_sdf", "canonical_smiles",
    "embed_3d", "embed_records", "MoleculeStore",
    "depict_png", "depict_svg",
    "ENGINES", "Engine", "engine", "engine_config", "workflow", "evaluate", "examples_dir", "models_dir", "shipped_names", "DEFAULT_MODELS",
    "ModelInfo", "save_model_folder", "load_model_folder", "read_model_info", "expect_engine", "load_model", "MODEL_LOADERS",
    "Reporter", "NullReporter", "TqdmReporter", "LoggingReporter", "RecordingReporter", "StopFlag",
    "RuntimeConfig", "available_devices", "describe_device", "resolve_device", "seed_everything",
]
