"""The seam to eole (the successor of OpenNMT-py): configs, training hooks, safe checkpoints.

Everything that knows eole's internals lives here, so an eole upgrade touches one file.

* :func:`eole_train_config` maps a :class:`~chemaccel.reaction.config.ReactionConfig` onto eole's
  pydantic ``TrainConfig`` (an encoder-decoder ``transformer`` with shared embeddings, sinusoidal
  positions, biases everywhere, ReLU: the OpenNMT-py transformer the Molecular Transformer used).
  ``add_final_linear_bias`` is set together with ``add_qkvbias``: with the latter alone eole 0.6.4 saves
  a config that asks for a bias it never trained, and the reloaded model predicts NaN scores.
* :func:`train` runs eole's single-process training loop in this process, with three hooks:
  a report manager that forwards every step's loss/accuracy to our :class:`Reporter`; a wrapper around
  the batch iterator that stops yielding once ``reporter.should_stop()`` is True (eole then writes its
  final checkpoint; at least one step always runs, eole fails on an empty loop); and a model saver that
  writes the optimizer state as safetensors + JSON (:func:`chemaccel.checkpoint.save_training_state`)
  instead of eole's pickled ``optimizer.pt``, and marks each finished checkpoint with ``done.json``.

A checkpoint folder ``work/eole/step_N`` holds eole's own files: ``config.json``, ``vocab.json``,
``model.00.safetensors`` and our ``optimizer/`` state; nothing in it is unpickled.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from chemaccel.checkpoint import atomic_write_json, load_safetensors, load_training_state, save_training_state
from chemaccel.errors import ChemAccelError, ConfigError, DeviceError, NotAvailableError
from chemaccel.reaction.config import ReactionConfig
from chemaccel.reporting import Reporter

DONE_MARK = "done.json"
OPTIM_DIR = "optimizer"


@contextmanager
def quiet_eole() -> Iterator[None]:
    """Import eole without its warnings about optional CUDA extensions; a clear error when missing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import eole  # noqa: F401
        except ImportError as exc:
            raise NotAvailableError(
                f"the reaction engine needs eole 0.6.4: pip install 'chemaccel[reaction]' ({exc})"
            ) from None
        yield


def eole_device(device: torch.device, parallel: DataParallel | None = None) -> int:
    """eole's device id: -1 for the CPU, the GPU's index on a GPU.

    A single process trains on ``cuda:0`` only (pick another GPU with CUDA_VISIBLE_DEVICES); under
    torchrun each process takes its local rank's GPU.
    """
    if device.type == "cpu":
        return -1
    if device.type == "cuda" and ((device.index or 0) == 0 or parallel is not None):
        return device.index or 0
    raise DeviceError(
        f"the reaction engine runs on cpu or cuda:0 (eole's single-process mode), not {device}; "
        f"pick another GPU with CUDA_VISIBLE_DEVICES"
    )


def model_section(cfg: ReactionConfig) -> dict[str, Any]:
    """eole's ``model`` section for ``cfg``."""
    if cfg.same_sides:
        depth: dict[str, Any] = {"layers": cfg.layers}
    else:  # eole's top-level ``layers`` would overwrite both, so each side gets its own shape
        depth = {"encoder": {"encoder_type": "transformer", "layers": cfg.layers, "heads": cfg.heads,
                             "transformer_ff": cfg.ff_size},
                 "decoder": {"decoder_type": "transformer", "layers": cfg.n_decoder_layers,
                             "heads": cfg.n_decoder_heads, "transformer_ff": cfg.n_decoder_ff}}
    return {
        "architecture": "transformer",
        **depth,
        "hidden_size": cfg.hidden_size,
        "heads": cfg.heads,
        **({"head_dim": cfg.head_dim} if cfg.head_dim else {}),
        "transformer_ff": cfg.ff_size,
        "embeddings": {"word_vec_size": cfg.hidden_size, "position_encoding_type": "SinusoidalInterleaved"},
        "share_embeddings": True,
        "share_decoder_embeddings": True,
        "add_qkvbias": True,
        "add_final_linear_bias": True,
        "add_ffnbias": True,
        "mlp_activation_fn": "relu",
        "layer_norm": "standard",
    }


#: our precision names (Lightning's, see chemaccel.runtime) -> eole's compute_dtype
PRECISION_TO_EOLE = {"32-true": "fp32", "16-mixed": "fp16", "bf16-mixed": "bf16"}


def eole_train_config(
    cfg: ReactionConfig, work: Path, device_id: int, resume_from: Path | None = None, valid: bool = True,
    precision: str = "32-true", init_from: Path | None = None,
) -> Any:
    """eole's ``TrainConfig`` for training ``cfg`` on the corpus files written in ``work``.

    ``precision`` is a :class:`~chemaccel.runtime.RuntimeConfig` precision: ``32-true`` (default),
    ``16-mixed`` (GPU only; eole's fp16 with loss scaling) or ``bf16-mixed``. ``init_from`` (an eole model
    folder, see :func:`write_eole_folder`) starts from its weights with a new optimizer and schedule
    (eole's ``reset_optim: all``); ``resume_from`` continues a checkpoint, optimizer and step included.
    """
    if precision not in PRECISION_TO_EOLE:
        raise ConfigError(f"the reaction engine trains in {', '.join(PRECISION_TO_EOLE)}, not {precision!r}")
    if precision == "16-mixed" and device_id < 0:
        raise ConfigError("precision 16-mixed needs a CUDA GPU; on the CPU use 32-true")
    with quiet_eole():
        from eole.config.run import TrainConfig

    data: dict[str, Any] = {"corpus_1": {"path_src": str(work / "src-train.txt"), "path_tgt": str(work / "tgt-train.txt")}}
    if valid:
        data["valid"] = {"path_src": str(work / "src-valid.txt"), "path_tgt": str(work / "tgt-valid.txt")}
    training: dict[str, Any] = {
        "model_path": str(work / "eole"),
        "train_steps": cfg.steps,
        "batch_size": cfg.batch_tokens,
        "batch_type": "tokens",
        "normalization": "tokens",
        "valid_batch_size": cfg.batch_tokens,
        "accum_count": [1],
        "optim": "adam",
        "adam_beta1": 0.9,
        "adam_beta2": cfg.adam_beta2,
        "learning_rate": cfg.learning_rate,
        "decay_method": "noam",
        "warmup_steps": cfg.warmup_steps,
        "label_smoothing": cfg.label_smoothing,
        "max_grad_norm": cfg.max_grad_norm,
        "dropout": [cfg.dropout],
        "attention_dropout": [cfg.attention_dropout],
        "param_init_method": "xavier_uniform",
        "save_checkpoint_steps": cfg.save_every,
        "keep_checkpoint": cfg.keep_checkpoints,
        "valid_steps": cfg.valid_every,
        "world_size": 1,
        "gpu_ranks": [] if device_id < 0 else [0],
        "num_workers": 0,
        "bucket_size": 2048,
        "bucket_size_init": 256,
        "bucket_size_increment": 256,
        "compute_dtype": PRECISION_TO_EOLE[precision],
        "self_attn_backend": "pytorch",
    }
    if resume_from is not None and init_from is not None:
        raise ConfigError("resume_from and init_from exclude each other")
    if resume_from is not None:
        training["train_from"] = str(resume_from)
        # eole takes options the new config leaves out from the checkpoint's config: a checkpoint of a
        # warm-started run says reset_optim "all", which would restart the step count and the schedule
        training["reset_optim"] = "none"
    elif init_from is not None:
        training["train_from"] = str(init_from)
        training["reset_optim"] = "all"
    return TrainConfig(
        src_vocab=str(work / "vocab.txt"),
        share_vocab=True,
        src_vocab_size=10_000,
        src_words_min_frequency=cfg.min_token_count,
        vocab_size_multiple=1,
        seed=cfg.seed,
        n_sample=0,
        skip_empty_level="silent",
        report_every=50,
        data=data,
        model=model_section(cfg),
        training=training,
    )


def complete_checkpoints(work: Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` of each finished eole checkpoint in ``work/eole``, oldest first."""
    root = work / "eole"
    found = []
    if root.is_dir():
        for child in root.iterdir():
            if child.is_dir() and child.name.startswith("step_") and (child / DONE_MARK).is_file():
                try:
                    found.append((int(child.name[5:]), child))
                except ValueError:
                    continue
    return sorted(found)


def checkpoint_problem(folder: Path) -> str | None:
    """Why the eole checkpoint ``folder`` cannot be resumed from (damaged JSON, weights or optimizer state),
    or None when it reads."""
    try:
        read_eole_checkpoint(folder)
        load_safetensors(folder / "model.00.safetensors")
        load_training_state(folder / OPTIM_DIR)
    except (OSError, ValueError, ChemAccelError) as exc:
        return " ".join(str(exc).split())
    return None


def _make_saver_class():
    from eole.models.model_saver import TrainingModelSaver

    class SafeModelSaver(TrainingModelSaver):
        """eole's saver, with the optimizer state as safetensors + JSON and a completion mark."""

        on_saved: Callable[[int, Path], None] | None = None
        extra_state: Callable[[Path], None] | None = None  # more state written into each checkpoint

        def _save_optimizer(self) -> None:
            save_training_state(Path(self.model_path) / self.step_dir / OPTIM_DIR, self.optim.state_dict())

        def _make_symlink(self, item: str) -> None:  # the step folders are the checkpoints; no links
            return None

        def _save(self, step: int) -> None:
            super()._save(step)  # under torchrun: process 0 writes, then every process meets at a barrier
            if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
                return
            folder = Path(self.model_path) / self.step_dir
            if self.extra_state is not None:
                self.extra_state(folder)
            atomic_write_json(folder / DONE_MARK, {"step": step})
            if self.on_saved is not None:
                self.on_saved(step, folder)

    return SafeModelSaver


def _make_report_class():
    from eole.utils.report_manager import ReportMgrBase

    class ReporterBridge(ReportMgrBase):
        """Forwards each step (loss, token accuracy, learning rate, tokens in the batch) to a Reporter."""

        def __init__(self, reporter: Reporter, total: int, history: list[dict[str, float]]) -> None:
            super().__init__(report_every=1, start_time=-1.0)
            self.reporter = reporter
            self.total = total
            self.history = history
            self.extra: Callable[[], dict[str, float]] | None = None  # more metrics for the progress line

        def report_training(self, step, num_steps, learning_rate, patience, report_stats, multigpu=False):
            from eole.utils import Statistics

            metrics = {"loss": float(report_stats.xent()), "token_acc": float(report_stats.accuracy()) / 100.0,
                       "lr": float(learning_rate),
                       "tokens": float(report_stats.n_src_tokens + report_stats.n_tokens)}
            if self.extra is not None:
                metrics.update(self.extra())
            self.reporter.on_progress(int(step), self.total, metrics)
            return Statistics()

        def _report_step(self, lr, patience, step, valid_stats=None, train_stats=None):
            if valid_stats is not None:
                row = {"step": float(step), "valid_loss": float(valid_stats.xent()),
                       "valid_token_acc": float(valid_stats.accuracy()) / 100.0}
                self.history.append(row)
                self.reporter.on_message(
                    f"step {step}: validation loss {row['valid_loss']:.4f}, token accuracy {row['valid_token_acc']:.4f}"
                )

    return ReporterBridge


class DataParallel:
    """Data parallelism across torchrun processes around eole's single-process training loop.

    eole's own multi-GPU mode spawns its processes itself and gathers with CUDA buffers; under torchrun
    (GPUs with NCCL, or CPUs with gloo) this class does the three things data parallelism needs instead:
    every process starts from process 0's weights (:meth:`broadcast`), reads every ``world_size``-th block
    of the corpus (eole's stride and offset), and replaces its gradients by their mean over the processes
    before each optimizer step (:meth:`synchronize`, installed as eole's gradient synchronizer). A stop
    asked for in any process (Ctrl-C, Cancel, a time budget) stops all of them at the same step
    (:meth:`any_true`). Process 0 alone validates, reports and writes checkpoints.

    Args:
        fabric: a launched Lightning Fabric (:func:`chemaccel.runtime.make_fabric`); its process group is
            the one used.
    """

    def __init__(self, fabric: Any) -> None:
        self.fabric = fabric
        self.world_size = int(fabric.world_size)
        self.rank = int(fabric.global_rank)
        self.model: torch.nn.Module | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        self.fabric.barrier()

    def broadcast(self, model: torch.nn.Module) -> None:
        """Copy process 0's parameters and buffers into every process."""
        import torch.distributed as dist

        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                dist.broadcast(tensor.data, src=0)

    def synchronize(self) -> None:
        """Every gradient becomes its mean over the processes (eole calls this before each step)."""
        from chemaccel.runtime import average_gradients

        assert self.model is not None, "attach the model first"
        params = [p for p in self.model.parameters() if p.requires_grad]
        for p in params:  # a parameter without a gradient here may have one elsewhere: count it as zero
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        average_gradients(self.fabric, params)

    def any_true(self, flag: bool) -> bool:
        """True in every process when ``flag`` is True in any of them."""
        device = self.fabric.device
        total = self.fabric.all_reduce(torch.tensor([1.0 if flag else 0.0], device=device), reduce_op="sum")
        return bool(total.item() > 0)


def _stoppable(batches: Iterator[Any], reporter: Reporter, parallel: DataParallel | None = None) -> Iterator[Any]:
    """Yield eole's batches until the reporter asks to stop (never before the first step).

    Under torchrun every process asks every other one before each batch, so all stop at the same step.
    """
    first = True
    for item in batches:
        if not first:
            stop = reporter.should_stop()
            if parallel is not None:
                stop = parallel.any_true(stop)
            if stop:
                return
        first = False
        yield item


def _load_metadata(resume_from: Path, with_optimizer: bool = True) -> dict[str, Any]:
    """eole's checkpoint metadata (config, vocabulary) plus our safetensors optimizer state (a resumed run)."""
    from eole.models.model_saver import get_metadata

    metadata = get_metadata(str(resume_from))  # reads JSON; there is no optimizer.pt to unpickle
    if with_optimizer:
        metadata["optim"] = load_training_state(resume_from / OPTIM_DIR)
    return metadata


def train(
    cfg: ReactionConfig,
    work: Path,
    device: torch.device,
    reporter: Reporter,
    resume_from: Path | None = None,
    valid: bool = True,
    on_saved: Callable[[int, Path], None] | None = None,
    precision: str = "32-true",
    init_from: Path | None = None,
    parallel: DataParallel | None = None,
    gate_phase: Callable[[torch.nn.Module, Any], Any] | None = None,
    loss_hook: Callable[[torch.nn.Module, list[str]], torch.nn.Module] | None = None,
) -> dict[str, Any]:
    """Train with eole in this process on the corpus in ``work``; checkpoints go to ``work/eole``.

    ``resume_from`` continues a checkpoint (optimizer and step included); ``init_from`` (an eole model folder)
    starts a new training from its weights. ``parallel`` (under torchrun) makes this process one of a
    data-parallel group (:class:`DataParallel`); process 0 alone writes checkpoints. ``gate_phase(model,
    synchronizer)`` builds a :class:`chemaccel.reaction.unit_prune.GatePhase` that trains AutoPrune gates
    beside the weights (it stands in for eole's gradient synchronizer; its state goes into every checkpoint
    and is read back on resume). ``loss_hook(train_loss, target_vocabulary)`` returns the module that
    stands in for eole's training loss (:class:`chemaccel.reaction.distill.DistillingLoss`).

    Returns:
        ``{"last_step": int, "history": [validation rows], "model": the trained eole module, "gates": the
        GatePhase or None}``.
    """
    device_id = eole_device(device, parallel)
    with quiet_eole():
        from eole.train_single import configure_process

    work.mkdir(parents=True, exist_ok=True)
    log = "eole-train.log" if parallel is None or parallel.is_main else f"eole-train.rank{parallel.rank}.log"
    with eole_log(work / log):
        config = eole_train_config(cfg, work, device_id, resume_from, valid, precision, init_from)
        configure_process(config, device_id)
        return _train(cfg, config, work, device_id, reporter, resume_from, valid, on_saved, init_from, parallel,
                      gate_phase, loss_hook)


def _train(cfg, config, work, device_id, reporter, resume_from, valid, on_saved, init_from=None,
           parallel: DataParallel | None = None, gate_phase=None, loss_hook=None) -> dict[str, Any]:
    with quiet_eole():
        from eole.constants import CorpusTask
        from eole.inputters.dynamic_iterator import build_dynamic_dataset_iter
        from eole.models.model import get_model_class
        from eole.train_single import TrainingInitializer
        from eole.trainer import build_trainer
        from eole.utils.optimizers import Optimizer

    class _Initializer(TrainingInitializer):
        def _load_metadata(self):
            if resume_from is not None:
                return _load_metadata(resume_from)
            return None if init_from is None else _load_metadata(init_from, with_optimizer=False)

    context = _Initializer(config).initialize()
    model = get_model_class(context.config.model).for_training(
        context.config.model, context.vocabs, context.config.training, metadata=context.metadata, device_id=device_id
    )
    if parallel is not None:
        parallel.broadcast(model)  # the same start everywhere, whatever each process's random state
    optim = Optimizer.from_config(model, context.config, metadata=context.metadata)
    main = parallel is None or parallel.is_main
    # every process has a saver: eole's meets the others at a barrier after process 0 has written
    saver_cls = _make_saver_class()
    saver = saver_cls(context.config.training.model_path, model, context.config, context.vocabs, optim,
                      context.config.training.keep_checkpoint, context.config.training.save_format, device_id,
                      context.transforms)
    saver.on_saved = on_saved if main else None
    # eole's trainer looks up its rank in gpu_ranks by device id; each torchrun process is eole's rank 0
    trainer = build_trainer(context.config, min(device_id, 0), model, context.vocabs, optim, model_saver=saver)
    history: list[dict[str, float]] = []
    if parallel is not None:
        parallel.model = model
        trainer.gradient_synchronizer = parallel
    phase = None
    if gate_phase is not None:
        phase = gate_phase(model, trainer.gradient_synchronizer)
        if resume_from is not None:
            phase.load(resume_from)
        trainer.gradient_synchronizer = phase
        saver.extra_state = phase.save
    if loss_hook is not None:  # eole's trainer and its batch processor each hold the training loss
        trainer.train_loss = loss_hook(trainer.train_loss, list(context.vocabs["tgt"].ids_to_tokens))
        trainer.batch_processor.train_loss = trainer.train_loss
    trainer.report_manager = _make_report_class()(reporter, cfg.steps, history)
    extras = ([phase.metrics] if phase is not None else []) + (
        [lambda: {"distill_kl": getattr(trainer.train_loss, "last_term", 0.0)}] if loss_hook is not None else [])
    if extras:  # the progress line also shows the gates' state and the teacher's term per token
        trainer.report_manager.extra = lambda: {k: v for extra in extras for k, v in extra().items()}
    stride, offset = (1, 0) if parallel is None else (parallel.world_size, parallel.rank)
    train_iter = build_dynamic_dataset_iter(context.config, context.transforms, context.vocabs,
                                            task=CorpusTask.TRAIN, stride=stride, offset=offset, device_id=device_id)
    valid_iter = None
    if valid and main:
        valid_iter = build_dynamic_dataset_iter(context.config, context.transforms, context.vocabs,
                                                task=CorpusTask.VALID, device_id=device_id)
    start = optim.training_step
    if start > cfg.steps:
        return {"last_step": start - 1, "history": history, "model": model, "gates": phase}
    reporter.on_start("train reaction model", cfg.steps)
    trainer.train(_StopWrapper(train_iter, reporter, parallel), cfg.steps, save_checkpoint_steps=cfg.save_every,
                  valid_iter=valid_iter, valid_steps=cfg.valid_every)
    return {"last_step": optim.training_step - 1, "history": history, "model": model, "gates": phase}


class _StopWrapper:
    """An iterable over eole's batch iterator that honours ``reporter.should_stop()``."""

    def __init__(self, inner: Any, reporter: Reporter, parallel: DataParallel | None = None) -> None:
        self.inner = inner
        self.reporter = reporter
        self.parallel = parallel

    def __iter__(self) -> Iterator[Any]:
        return _stoppable(iter(self.inner), self.reporter, self.parallel)


class _LogRouter(logging.Filter):
    """A filter on eole's logger: records go to a file (or nowhere), warnings to Python logging.

    eole re-initialises its logger (console handler) from inside its data iterator; a filter on the
    logger itself survives that, so nothing of eole's reaches the console unless it is a warning.
    """

    def __init__(self, path: Path | None) -> None:
        super().__init__()
        self.handler: logging.Handler | None = None
        if path is not None:
            self.handler = logging.FileHandler(path, encoding="utf-8")
            self.handler.setFormatter(logging.Formatter("[%(asctime)s %(levelname)s] %(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        if self.handler is not None:
            self.handler.handle(record)
        if record.levelno >= logging.WARNING:
            logging.getLogger("chemaccel.reaction.eole").log(record.levelno, "%s", record.getMessage())
        return False

    def close(self) -> None:
        if self.handler is not None:
            self.handler.close()


@contextmanager
def eole_log(path: Path | None = None) -> Iterator[None]:
    """Route eole's log to ``path`` (or drop it) and silence its deprecation warnings in the block."""
    logger = logging.getLogger("eole")
    router = _LogRouter(path)
    logger.addFilter(router)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.removeFilter(router)
        router.close()


def read_eole_checkpoint(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """eole's ``config.json`` and ``vocab.json`` of a checkpoint folder (plain JSON)."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    return config, vocab


def write_eole_folder(folder: Path, config: dict[str, Any], vocab: dict[str, Any], weights: Path) -> None:
    """Lay out ``folder`` the way eole's inference reads a model (config, vocab, weights link)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    target = folder / "model.00.safetensors"
    target.unlink(missing_ok=True)  # laid out before (a run that stopped before its first checkpoint, started again)
    try:
        os.symlink(os.path.abspath(weights), target)
    except OSError:  # pragma: no cover - file systems without links
        import shutil

        shutil.copyfile(weights, target)
