"""Training a reaction model: data preparation, eole training, checkpoints, export.

:class:`ReactionTrainer` is the engine object: ``ReactionTrainer(config, data_dir, out).run(reporter)``
reads USPTO-50K (forward direction), writes the tokenized corpus and vocabulary into a work folder,
trains with eole in this process (:mod:`chemaccel.reaction.eole_bridge`) and exports the average of
the last ``average_last`` checkpoints as a model folder at ``out``.

The work folder (default ``<out>.work``) holds everything needed to resume: the corpus, the vocabulary
and eole's step checkpoints (JSON + safetensors, optimizer state included). ``resume=True`` continues
from the newest complete checkpoint; cancelling (``reporter.should_stop()``) stops at the next step,
writes a checkpoint, and still exports a valid model folder.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from chemaccel.checkpoint import atomic_write_json
from chemaccel.errors import ConfigError, InputError, ModelFileError
from chemaccel.reaction import data as rdata
from chemaccel.reaction import eole_bridge
from chemaccel.reaction.config import ReactionConfig
from chemaccel.reaction.storage import export_model
from chemaccel.reporting import NullReporter, Reporter, SilentReporter
from chemaccel.runtime import RuntimeConfig, distributed_env, make_fabric, resolve_device, seed_everything

VALID_LIMIT = 1000  # validation pairs used for the loss / token accuracy during training
DISTILL_RECORD = "distill.json"  # a distilled run's teacher settings, beside its checkpoints (checked on resume)


@dataclass
class TrainResult:
    """What :meth:`ReactionTrainer.run` did.

    Attributes:
        model_dir: the exported model folder.
        last_step: the last optimizer step trained (in total, over resumed runs).
        cancelled: True when the reporter asked to stop before ``config.steps``.
        history: validation rows (``step``, ``valid_loss``, ``valid_token_acc``) of this run.
        n_train: training pairs after filtering (and augmentation).
        skipped: training pairs dropped (too long, not tokenizable, unreadable).
    """

    model_dir: Path
    last_step: int
    cancelled: bool
    history: list[dict[str, float]] = field(default_factory=list)
    n_train: int = 0
    skipped: int = 0


class ReactionTrainer:
    """Train a forward reaction model on a USPTO-50K-format folder.

    Args:
        config: architecture and training (:class:`ReactionConfig`).
        data_dir: folder with ``src-train.txt``/``tgt-train.txt`` and ``src-valid.txt``/``tgt-valid.txt``
            (USPTO-50K's retro layout; read in the forward direction).
        out: the model folder to write.
        work_dir: checkpoints and corpus (default: ``out`` with ``.work`` appended).
        mit_dir: USPTO-MIT folder; its validation split is added to training when
            ``config.extra_mit_valid`` is set (its test split is never read).
        runtime: device and seed (the config's seed is used for training).
        limit: read at most this many pairs per split (tests, quick runs).
        init_from: a reaction model folder of the same architecture whose weights a new training starts
            from (fine-tuning, or a longer run continuing a shipped model), with a fresh optimizer and
            learning-rate schedule; its vocabulary is kept. Ignored when resuming a checkpoint.
        prune: AutoPrune the heads and feed-forward neurons while training (needs ``init_from``; see
            :mod:`chemaccel.reaction.unit_prune`): the gates' state goes into every checkpoint and the model
            folder written at the end is compacted to the open units (fine-tune it in a second run).
        distill: a :class:`~chemaccel.reaction.distill.DistillConfig`: every step also matches the teacher
            model's next-token distributions (the model the compact student was made from).
    """

    def __init__(self, config: ReactionConfig, data_dir: str | Path, out: str | Path, *,
                 work_dir: str | Path | None = None, mit_dir: str | Path | None = None,
                 runtime: RuntimeConfig | None = None, limit: int | None = None,
                 init_from: str | Path | None = None, prune: Any = None, distill: Any = None) -> None:
        if not isinstance(config, ReactionConfig):
            raise ConfigError(f"expected a ReactionConfig, got {type(config).__name__}")
        if config.extra_mit_valid and mit_dir is None:
            raise ConfigError("extra_mit_valid is set but no USPTO-MIT folder was given")
        self.config = config
        self.data_dir = Path(data_dir)
        self.out = Path(out)
        self.work = Path(work_dir) if work_dir is not None else self.out.with_name(self.out.name + ".work")
        self.mit_dir = Path(mit_dir) if mit_dir is not None else None
        self.runtime = runtime or RuntimeConfig()
        self.limit = limit
        self.init_from = Path(init_from) if init_from is not None else None
        if prune is not None and init_from is None:
            raise ConfigError("pruning heads and neurons starts from a trained model (--init-from)")
        self.prune = prune
        if distill is not None:  # a teacher that is not there fails now, not after the corpus is written
            from chemaccel.shipped import resolve_model

            resolve_model(distill.teacher)
        self.distill = distill
        #: the eole module trained by the last :meth:`run` in this process (under torchrun, every
        #: process's copy; they are identical), for inspection; the product is the model folder
        self.trained_module: Any = None

    # ------------------------------------------------------------------------------------------ data
    def prepare(self, reporter: Reporter) -> tuple[int, int]:
        """Write corpus and vocabulary into the work folder (once; a resumed run reuses them)."""
        marker = self.work / "data.json"
        recorded = ("max_tokens", "augment", "extra_mit_valid", "seed", "reagents", "min_token_count")
        recipe = {"data_dir": str(self.data_dir), "limit": self.limit,
                  "mit_dir": str(self.mit_dir) if self.config.extra_mit_valid else None,
                  **{k: getattr(self.config, k) for k in recorded}}
        if marker.is_file():
            meta = json.loads(marker.read_text(encoding="utf-8"))
            # older runs recorded no "reagents" / "min_token_count" (or no recipe at all): their defaults
            before = {"reagents": "drop", "min_token_count": 1, **meta.get("recipe", recipe)}
            if before == recipe:
                return int(meta["n_train"]), int(meta["skipped"])
        if rdata.detect_format(self.data_dir, "train") == "uspto_mit":
            raise InputError(self.data_dir, "training reads a USPTO-50K-format folder (src-train.txt, tgt-train.txt) "
                                            "or a corpus made by `chemaccel data reactions` (train.tsv, valid.tsv)")
        reporter.on_message(f"reading training data from {self.data_dir}")
        pairs, errors = rdata.training_pairs(
            self.data_dir, self.mit_dir if self.config.extra_mit_valid else None, self.limit
        )
        reporter.on_message(f"{len(pairs)} reactions read; writing each as the model reads it in use "
                            f"(reagents: {self.config.reagents})")
        pairs, unread = rdata.as_model_reads(pairs, self.config.reagents)
        errors += unread
        for line in errors[:5]:
            reporter.on_message(f"skipped: {line}")
        if not pairs:
            raise InputError(self.data_dir, "no readable training reactions")
        pairs = rdata.augment_pairs(pairs, self.config.augment, self.config.seed)
        train, skipped = rdata.tokenized(pairs, self.config.max_tokens)
        valid_pairs, _ = rdata.load_pairs(self.data_dir, "valid", min(self.limit or VALID_LIMIT, VALID_LIMIT))
        valid, _ = rdata.tokenized(rdata.as_model_reads(valid_pairs, self.config.reagents)[0], self.config.max_tokens)
        if not train or not valid:
            raise InputError(self.data_dir, "no training or validation reactions left after filtering")
        self.work.mkdir(parents=True, exist_ok=True)
        rdata.write_corpus(train, self.work / "src-train.txt", self.work / "tgt-train.txt")
        rdata.write_corpus(valid, self.work / "src-valid.txt", self.work / "tgt-valid.txt")
        rdata.write_vocab(rdata.token_counts(train + valid), self.work / "vocab.txt")
        atomic_write_json(marker, {"n_train": len(train), "skipped": skipped + len(errors), "n_valid": len(valid),
                                   "recipe": recipe, "config": self.config.to_dict()})
        reporter.on_message(f"{len(train)} training pairs ({skipped + len(errors)} skipped), {len(valid)} validation")
        return len(train), skipped + len(errors)

    # ------------------------------------------------------------------------------------------ run
    def run(self, reporter: Reporter | None = None, resume: bool = False,
            on_checkpoint: Callable[[int, Path], None] | None = None) -> TrainResult:
        """Train (or continue training) and export the model folder.

        Args:
            reporter: progress, messages and cancel.
            resume: continue from the newest complete checkpoint in the work folder. Without it an
                existing work folder with checkpoints is an error (nothing is overwritten silently).
            on_checkpoint: called with ``(step, eole step folder)`` after each checkpoint is written
                (e.g. to score it on validation reactions, or to export the model so far).
        """
        reporter = reporter or NullReporter()
        parallel = None
        if distributed_env() is not None:  # under torchrun: one process of a data-parallel group
            parallel = eole_bridge.DataParallel(make_fabric(self.runtime))
            device = parallel.fabric.device
        else:
            device = resolve_device(self.runtime.device)
        main = parallel is None or parallel.is_main
        if not main:
            reporter = SilentReporter(reporter)
        seed_everything(self.config.seed)
        checkpoints = eole_bridge.complete_checkpoints(self.work)
        if checkpoints and not resume:
            raise ConfigError(f"{self.work} already holds checkpoints (up to step {checkpoints[-1][0]}); "
                              f"resume with --resume, or choose another output")
        if resume and checkpoints:
            self._check_same_config()
            self._check_same_teacher()
        elif main:
            self._record_teacher()
        if not main:  # process 0 writes the corpus (and the warm-start folder); the others read them
            parallel.barrier()
        n_train, skipped = self.prepare(reporter)
        resume_from = self._newest_readable(checkpoints, reporter) if (resume and checkpoints) else None
        init = None
        if resume_from is not None:
            reporter.on_message(f"resuming from {resume_from.name}")
        elif self.init_from is not None:
            init = self._init_folder(reporter) if main else self.work / "init"
        if main and parallel is not None:
            parallel.barrier()
        gate_phase = self._gate_phase(parallel)
        outcome = eole_bridge.train(self.config, self.work, device, reporter, resume_from=resume_from,
                                    on_saved=lambda step, folder: self._saved(step, folder, on_checkpoint),
                                    precision=self.runtime.precision, init_from=init, parallel=parallel,
                                    gate_phase=gate_phase, loss_hook=self._loss_hook(device))
        self.trained_module = outcome["model"]
        if main:
            self._append_history(outcome["history"])
            checkpoints = eole_bridge.complete_checkpoints(self.work)
            last = checkpoints[-1][0]
            chosen = [folder for _, folder in checkpoints[-self.config.average_last:]]
            metrics = {"steps": last, "train_pairs": n_train, "history": self.history()}
            if self.distill is not None:
                metrics["distilled_from"] = self.distill.to_dict()
            if self.prune is None:
                export_model(self.out, self.config, chosen, metrics=metrics)
            else:
                from chemaccel.reaction.unit_prune import read_gates

                self._export_compact(chosen, metrics, read_gates(checkpoints[-1][1]), reporter)
            reporter.on_message(f"model written to {self.out} (step {last}, mean of {len(chosen)} checkpoint(s))")
        else:
            last = outcome["last_step"]
        if parallel is not None:
            parallel.barrier()  # the model folder is there when any process returns
        return TrainResult(self.out, last, last < self.config.steps, outcome["history"], n_train, skipped)

    def _loss_hook(self, device: torch.device) -> Callable[[Any, list[str]], Any] | None:
        """What stands in for eole's training loss in a distilled run (None: eole's own)."""
        if self.distill is None:
            return None
        from chemaccel.reaction.distill import DistillingLoss, load_teacher

        return lambda loss, vocab: DistillingLoss(loss, load_teacher(self.distill, vocab, device), self.distill)

    def _gate_phase(self, parallel: Any) -> Callable[[Any, Any], Any] | None:
        """The factory of the run's :class:`~chemaccel.reaction.unit_prune.GatePhase` (None: no pruning)."""
        if self.prune is None:
            return None
        if parallel is not None:
            raise ConfigError("pruning heads and neurons runs in one process (not under torchrun)")
        from chemaccel.reaction.unit_prune import GatePhase

        return lambda model, inner: GatePhase(model, self.config.head_width, self.prune, self.config.steps, inner)

    def _export_compact(self, chosen: list[Path], metrics: dict[str, Any], gates: dict[str, torch.Tensor],
                        reporter: Reporter | None = None) -> Path:
        """Export the mean of ``chosen`` and compact it to the units that ``gates`` (a gated run's newest
        state) leave open."""
        from chemaccel.reaction.unit_gates import shrink_to_gates

        dense = self.work / "dense-export"
        export_model(dense, self.config, chosen, metrics=metrics)
        out, counts = shrink_to_gates(dense, self.out, gates)
        if reporter is not None:
            open_heads = [int((m > 0).sum()) for k, m in gates.items() if k.endswith("attn")]
            open_neurons = [int((m > 0).sum()) for k, m in gates.items() if k.endswith("mlp")]
            shape = "; ".join(f"{where} {h} heads and {n} neurons per module" for where, (h, n) in counts.items())
            reporter.on_message(
                f"gates open: {sum(open_heads) / len(open_heads):.2f} heads per gated attention module"
                + (f", {sum(open_neurons) / len(open_neurons):.1f} neurons per gated feed-forward block"
                   if open_neurons else "") + f"; compacted to {shape}")
        return out

    @staticmethod
    def _newest_readable(checkpoints: list[tuple[int, Path]], reporter: Reporter) -> Path:
        """The newest checkpoint that reads; damaged newer ones are named and skipped (the kept older
        checkpoints are the previous good ones)."""
        for step, folder in reversed(checkpoints):
            problem = eole_bridge.checkpoint_problem(folder)
            if problem is None:
                return folder
            reporter.on_message(f"checkpoint at step {step} is damaged ({problem}); trying the one before")
        raise ModelFileError(f"none of the {len(checkpoints)} checkpoints in {checkpoints[0][1].parent} can be "
                             "read; start again without --resume in a new folder")

    def _init_folder(self, reporter: Reporter) -> Path:
        """Lay out ``init_from``'s weights as an eole model folder in the work folder; check it fits."""
        from chemaccel.checkpoint import WEIGHTS_NAME, expect_engine, read_model_info

        info = expect_engine(read_model_info(self.init_from), "reaction", self.init_from)
        before = ReactionConfig.from_dict(info.config)
        arch = ("layers", "n_decoder_layers", "hidden_size", "heads", "head_width", "ff_size", "n_decoder_heads",
                "n_decoder_ff")
        changed = [f"{n} {getattr(before, n)} vs {getattr(self.config, n)}" for n in arch
                   if getattr(before, n) != getattr(self.config, n)]
        if changed:
            raise ConfigError(f"cannot start from {self.init_from}: a different architecture ({', '.join(changed)})")
        eole_config, vocab = dict(info.architecture["eole_config"]), info.architecture["vocab"]
        eole_config["data"] = {}
        known = set(vocab.get("src", []))
        lines = (self.work / "vocab.txt").read_text(encoding="utf-8").splitlines()  # "token<TAB>count", by count
        counts = [(t, int(c)) for t, c in (line.split("\t") for line in lines if line)]
        unknown = [t for t, c in counts if t not in known and c >= self.config.min_token_count]
        rare = sum(1 for t, c in counts if t not in known and c < self.config.min_token_count)
        if rare:
            reporter.on_message(f"{rare} corpus token(s) seen fewer than {self.config.min_token_count} times are "
                                "read as <unk>")
        folder = self.work / "init"
        weights = self.init_from / WEIGHTS_NAME
        if unknown:
            vocab, weights = self._grown_vocabulary(vocab, unknown, weights, folder)
            reporter.on_message(f"{len(unknown)} corpus token(s) are not in {self.init_from.name}'s vocabulary; "
                                f"added with new embedding rows ({len(vocab['src'])} tokens now): "
                                f"{' '.join(unknown[:10])}")
        eole_bridge.write_eole_folder(folder, eole_config, vocab, weights)
        reporter.on_message(f"starting from the weights of {self.init_from} (new optimizer and schedule)")
        return folder

    @staticmethod
    def _grown_vocabulary(vocab: dict[str, Any], new: list[str], weights: Path,
                          folder: Path) -> tuple[dict[str, Any], Path]:
        """``vocab`` with ``new`` tokens appended, and weights whose vocabulary-sized tensors grow with it.

        Old tokens keep their index and rows. A new token's embedding row is the mean of the old rows plus
        small noise (its scale, so attention sees a typical input), and its output bias the lowest old bias
        (the model starts out never writing it); training moves both. Shared (tied) vocabularies only: one
        list serves the source and the target.
        """
        from safetensors.torch import save_file

        from chemaccel.checkpoint import load_safetensors

        if vocab.get("src") != vocab.get("tgt"):
            raise ConfigError("growing the vocabulary of a warm start needs a shared source/target vocabulary")
        size = len(vocab["src"])
        tensors = load_safetensors(weights)
        generator = torch.Generator().manual_seed(0)
        grown: dict[str, torch.Tensor] = {}
        for name, value in tensors.items():
            if value.dim() >= 1 and value.shape[0] == size and ("emb" in name or name.startswith("generator")):
                if value.dim() == 1:
                    extra = torch.full((len(new),), float(value.min()), dtype=value.dtype)
                else:
                    mean, spread = value.mean(0, keepdim=True), value.std(0, keepdim=True)
                    noise = torch.randn((len(new), *value.shape[1:]), generator=generator, dtype=value.dtype)
                    extra = mean + 0.1 * spread * noise
                value = torch.cat([value, extra.to(value.dtype)])
            grown[name] = value
        folder.mkdir(parents=True, exist_ok=True)
        path = folder.parent / "init-weights.safetensors"
        save_file({k: v.contiguous() for k, v in grown.items()}, str(path))
        tokens = list(vocab["src"]) + list(new)
        return {**vocab, "src": tokens, "tgt": list(tokens)}, path

    def _check_same_config(self) -> None:
        marker = self.work / "data.json"
        if not marker.is_file():
            return
        before = ReactionConfig.from_dict(json.loads(marker.read_text(encoding="utf-8"))["config"])
        arch = ("layers", "n_decoder_layers", "hidden_size", "heads", "ff_size", "n_decoder_heads", "n_decoder_ff",
                "max_tokens", "augment", "extra_mit_valid", "reagents", "min_token_count")
        changed = [name for name in arch if getattr(before, name) != getattr(self.config, name)]
        if changed:
            raise ConfigError(f"cannot resume {self.work} with a different {', '.join(changed)}")

    def _record_teacher(self) -> None:
        """Write the run's distillation settings (or that it has none) beside its checkpoints."""
        path = self.work / DISTILL_RECORD
        if self.distill is None:
            path.unlink(missing_ok=True)
        else:
            self.work.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, self.distill.to_dict())

    def _check_same_teacher(self) -> None:
        """A resumed run keeps its teacher (or its having none): the loss would change under the checkpoints."""
        path = self.work / DISTILL_RECORD
        before = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        now = self.distill.to_dict() if self.distill is not None else None
        if before != now:
            said = (lambda d: "no teacher" if d is None else
                    f"--distill-from {d['teacher']} --distill-alpha {d['alpha']} (temperature {d['temperature']})")
            raise ConfigError(f"cannot resume {self.work} with {said(now)}: it was started with {said(before)}")

    def _saved(self, step: int, folder: Path, callback: Callable[[int, Path], None] | None) -> None:
        self._prune_checkpoints()
        if callback is not None:
            callback(step, folder)

    def export(self, metrics: dict[str, Any] | None = None, min_step: int = 0) -> Path:
        """Export the mean of the newest ``average_last`` checkpoints (those at ``min_step`` or later) now.

        ``min_step`` keeps early, still fast-changing checkpoints out of the average (the newest one is
        always used).
        """
        checkpoints = eole_bridge.complete_checkpoints(self.work)
        if not checkpoints:
            raise ConfigError(f"{self.work} holds no checkpoint to export")
        late = [folder for step, folder in checkpoints if step >= min_step] or [checkpoints[-1][1]]
        chosen = late[-self.config.average_last:]
        metrics = {"steps": checkpoints[-1][0], "history": self.history(), **(metrics or {})}
        if self.prune is not None:  # a gated run: compacted to the newest checkpoint's open units
            from chemaccel.reaction.unit_prune import read_gates

            return self._export_compact(chosen, metrics, read_gates(checkpoints[-1][1]))
        return export_model(self.out, self.config, chosen, metrics=metrics)

    def _prune_checkpoints(self) -> None:
        checkpoints = eole_bridge.complete_checkpoints(self.work)
        for _, folder in checkpoints[: max(0, len(checkpoints) - self.config.keep_checkpoints)]:
            shutil.rmtree(folder, ignore_errors=True)

    def _append_history(self, rows: list[dict[str, float]]) -> None:
        path = self.work / "history.json"
        old = self.history()
        steps = {row["step"] for row in rows}
        atomic_write_json(path, [r for r in old if r["step"] not in steps] + rows)

    def history(self) -> list[dict[str, float]]:
        """All validation rows recorded in the work folder, over resumed runs."""
        path = self.work / "history.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
