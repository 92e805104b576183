"""Evaluation: top-k exact match after canonicalization, invalid SMILES, speed.

A prediction is correct at rank n when the canonical SMILES of one of the first n candidates equals the
canonical SMILES of the recorded product (rdkit canonical form, atom maps removed; the molecules of a
multi-component product in canonical order). Candidates are ranked as
:meth:`~chemaccel.reaction.model.ReactionModel.predict` returns them (valid products first, each once).
``invalid_rate`` is the share of top-1 candidates that rdkit cannot parse (rows whose whole beam is
invalid); ``invalid_rate_all`` counts every candidate. USPTO-50K results are also split by
reaction class.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from chemaccel.chem.reactions import canonicalize_smiles
from chemaccel.errors import ConfigError, InputError
from chemaccel.reaction.confidence import confidence_report
from chemaccel.reaction.data import ReactionPair, detect_format, load_pairs
from chemaccel.reaction.model import BEAM_MARGIN, CONFIDENCE_BEAM, ReactionModel
from chemaccel.reporting import NullReporter, Reporter

TOPS = (1, 2, 3, 5)


def _canonical(smiles: str) -> str:
    try:
        return canonicalize_smiles(smiles)
    except ValueError:
        return smiles


def evaluate_pairs(model: ReactionModel, pairs: list[ReactionPair], k: int = 5, batch_size: int = 32,
                   reporter: Reporter | None = None) -> dict[str, Any]:
    """Score ``model`` on ``pairs`` (``k`` candidates, ``k`` >= 5 for top-5; the beam is predict's, see
    :meth:`~chemaccel.reaction.model.ReactionModel.predict`).

    Returns:
        ``n``, ``top1``..``top5`` (fractions), ``invalid_rate``, ``invalid_rate_all``, ``not_predicted``
        (rows the model refused: too long, unknown tokens), ``params``, ``reactions_per_s``, ``seconds``,
        ``beam``, ``threads``, ``per_class`` (when the pairs carry reaction classes) and ``confidence``
        (:func:`~chemaccel.reaction.confidence.confidence_report` of the rows with a confidence; None when
        the model has no calibration).
    """
    reporter = reporter or NullReporter()
    if not pairs:
        raise InputError("<data>", "no reactions to evaluate")
    if k < max(TOPS):
        raise ConfigError(f"evaluation needs at least {max(TOPS)} candidates, got {k}")
    hits = {n: 0 for n in TOPS}
    by_class: dict[int, dict[str, int]] = defaultdict(lambda: {"n": 0, **{f"top{n}": 0 for n in TOPS}})
    invalid_top1 = invalid_all = total_candidates = refused = 0
    confident: list[tuple[float, bool]] = []
    reporter.on_start("evaluate", len(pairs))
    seconds = 0.0
    done = 0
    for start in range(0, len(pairs), batch_size):
        if reporter.should_stop():
            break
        chunk = pairs[start:start + batch_size]
        t0 = time.perf_counter()
        predictions = model.predict([p.src for p in chunk], k=k, batch_size=batch_size)
        seconds += time.perf_counter() - t0
        for pair, pred in zip(chunk, predictions):
            target = _canonical(pair.tgt)
            ranks = [c.smiles for c in pred.candidates]
            rank = ranks.index(target) + 1 if target in ranks else None
            if pred.confidence is not None:
                confident.append((pred.confidence, rank == 1))
            if not pred.ok:
                refused += 1
            if pred.candidates:
                invalid_top1 += not pred.candidates[0].valid
            else:
                invalid_top1 += 1
            invalid_all += sum(not c.valid for c in pred.candidates)
            total_candidates += len(pred.candidates)
            row = by_class[pair.reaction_class] if pair.reaction_class is not None else None
            if row is not None:
                row["n"] += 1
            for n in TOPS:
                if rank is not None and rank <= n:
                    hits[n] += 1
                    if row is not None:
                        row[f"top{n}"] += 1
        done += len(chunk)
        reporter.on_progress(done, len(pairs), {"top1": hits[1] / done})
    n = done
    result: dict[str, Any] = {"n": n}
    result.update({f"top{t}": hits[t] / n for t in TOPS})
    result.update({
        "invalid_rate": invalid_top1 / n,
        "invalid_rate_all": invalid_all / max(1, total_candidates),
        "not_predicted": refused,
        "params": model.num_parameters,
        "reactions_per_s": n / seconds if seconds > 0 else 0.0,
        "seconds": seconds,
        "beam": max(k + BEAM_MARGIN, CONFIDENCE_BEAM),
        "k": k,
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "device": str(model.device),
    })
    # the calibrated top-1 confidence on these rows (rows without one, e.g. refused, left out)
    result["confidence"] = confidence_report(*zip(*confident)) if confident else None
    if by_class:
        result["per_class"] = {
            str(cls): {"n": row["n"], **{f"top{t}": row[f"top{t}"] / row["n"] for t in TOPS}}
            for cls, row in sorted(by_class.items())
        }
    return result


def evaluate(model: ReactionModel, data_dir: str | Path, split: str = "test", limit: int | None = None,
             k: int = 5, batch_size: int = 32, reporter: Reporter | None = None) -> dict[str, Any]:
    """Evaluate on a USPTO-50K or USPTO-MIT folder (the layout is detected), the first ``limit`` reactions.

    Unreadable records are left out and counted in ``skipped_records``.
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be a positive integer, got {limit!r}")
    fmt = detect_format(data_dir, split)
    pairs, errors = load_pairs(data_dir, split, limit)
    if not pairs:
        first = f"; first: {errors[0]}" if errors else ""
        raise InputError(data_dir, f"no readable reactions in the {split} split ({len(errors)} unreadable{first})")
    result = evaluate_pairs(model, pairs, k=k, batch_size=batch_size, reporter=reporter)
    result.update({"data": str(data_dir), "format": fmt, "split": split, "skipped_records": len(errors)})
    return result


def evaluate_folder(model_folder: str | Path, data: str | Path, *, device: str | torch.device = "cpu",
                    split: str = "test", limit: int | None = None, k: int = 5, batch_size: int = 32,
                    reporter: Reporter | None = None) -> dict[str, Any]:
    """The engine contract's evaluate (:mod:`chemaccel.engines`): :func:`evaluate` of a model folder loaded
    onto ``device``, on ``split`` of the reaction folder ``data``."""
    from chemaccel.reaction.storage import load_model

    return evaluate(load_model(model_folder, device=str(device)), data, split=split, limit=limit, k=k,
                    batch_size=batch_size, reporter=reporter)
