"""Batch reaction prediction: reading reactions (a text file, one per line, or a CSV/TSV column), the CSV
rows of ``chemaccel reaction predict``, and the same job on Ray Data (:mod:`chemaccel.ray_batch`).

A text file's line is a reaction SMILES optionally followed by whitespace and a name, as in a ``.smi``
molecule file (``CC(=O)Cl.Nc1ccccc1 acetyl chloride + aniline``); the name is not part of the reaction, and
each line, blank ones included, is one row, so row N of the output is line N of the input."""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence, TextIO

from chemaccel.errors import InputError
from chemaccel.reporting import Reporter

_COLUMN_GUESSES = ("reactants", "reaction", "rxn_smiles", "reaction_smiles", "smiles", "input")


def csv_header(k: int) -> list[str]:
    """The columns of a prediction CSV with ``k`` candidates."""
    header = ["row", "input", "status", "note", "confidence"]
    for i in range(1, k + 1):
        header += [f"product_{i}", f"valid_{i}", f"score_{i}"]
    return header


def csv_rows(predictions: Sequence[Any], k: int, first_row: int) -> list[list[object]]:
    """The CSV rows of ``predictions`` (:class:`~chemaccel.reaction.model.ReactionPrediction`), numbered from
    ``first_row``."""
    width = len(csv_header(k))
    rows = []
    for n, pred in enumerate(predictions, first_row):
        conf = "" if pred.confidence is None else f"{pred.confidence:.4f}"
        row: list[object] = [n, pred.input, pred.status, pred.note, conf]
        for c in pred.candidates:
            row += [c.smiles, int(c.valid), f"{c.score:.4f}"]
        rows.append(row + [""] * (width - len(row)))
    return rows


def text_lines(prediction: Any) -> list[str]:
    """One prediction as a chemist reads it on a terminal: the input (with the note on what was read of it
    and the confidence), then one numbered line per candidate."""
    head = f"  {prediction.input}"
    if prediction.note:
        head += f"   ({prediction.note})"
    lines = [head]
    if prediction.confidence is not None:
        lines.append(f"    confidence {prediction.confidence:.0%} that 1. is right")
    if not prediction.ok:
        lines.append(f"    {prediction.status}")
    for rank, c in enumerate(prediction.candidates, 1):
        what = "INVALID SMILES" if not c.valid else "a starting material, unchanged" if c.unchanged else "valid"
        lines.append(f"    {rank}. {c.smiles:<40} score {c.score:6.3f}  {what}")
    return lines


#: suffixes that name a file of reactions, never a SMILES typed on the command line
FILE_SUFFIXES = (".txt", ".csv", ".tsv", ".smi", ".smiles", ".rsmi", ".dat", ".json")


def typed_reaction(text: str) -> str | None:
    """``text`` itself when it is a reaction typed where a file name was expected (``chemaccel reaction
    predict 'CC(=O)Cl.Nc1ccccc1'``), else None (it names a file, or ``-`` for stdin).

    Raises:
        InputError: ``text`` is neither a file nor a reaction SMILES rdkit reads (the reason is given).
    """
    from chemaccel.reaction.reagents import split_input

    if not text.strip():  # '' would otherwise name the current folder
        raise InputError("''", "an empty argument: give a reaction SMILES, a file of reactions, or - for standard input")
    if text == "-" or _is_path(text, Path.exists):
        return None
    path = Path(text)  # '/' and '\\' are also SMILES bonds (C/C=C/C): a path only when its folder exists
    if path.suffix.lower() in FILE_SUFFIXES or (path.parent != Path(".") and _is_path(path.parent, Path.is_dir)):
        raise InputError(text, "file not found")
    try:
        split_input(text)
    except ValueError as exc:
        raise InputError(text, f"no such file, and not a reaction SMILES ({exc})") from None
    return text


def _is_path(text: str | Path, test: Any) -> bool:
    """``test(Path(text))``, False where the name cannot be a path at all (a long reaction SMILES is longer
    than a file name may be: the operating system refuses to look it up)."""
    try:
        return bool(test(Path(text)))
    except (OSError, ValueError):
        return False


def read_reactions(path: str, column: str | None = None) -> Iterator[str]:
    """Reactions of a text file (one per line) or a CSV/TSV column, streamed; checks the file first."""
    if path != "-":
        p = Path(path)
        if not p.is_file():
            raise InputError(path, "file not found")
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _csv_column(path, column, "\t" if suffix == ".tsv" else ",")
    if column:
        raise InputError(path, "--column needs a .csv or .tsv file")
    return _lines(path)


def reaction_of_line(line: str) -> str:
    """The reaction of one text line: its first whitespace-separated field (a name after it is dropped)."""
    fields = line.split(None, 1)
    return fields[0] if fields else ""


def _lines(path: str) -> Iterator[str]:
    handle: TextIO = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")
    try:
        for line in handle:
            yield reaction_of_line(line)
    finally:
        if handle is not sys.stdin:
            handle.close()


def _csv_column(path: str, column: str | None, delimiter: str) -> Iterator[str]:
    handle = open(path, encoding="utf-8", errors="replace", newline="")
    reader = csv.reader(handle, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        handle.close()
        raise InputError(path, "no reactions (the input is empty)")
    names = [h.strip() for h in header]
    if column is not None:
        if column not in names:
            handle.close()
            raise InputError(path, f"no column {column!r} (columns: {', '.join(names)})")
        index = names.index(column)
    else:
        lowered = [n.lower() for n in names]
        index = next((lowered.index(g) for g in _COLUMN_GUESSES if g in lowered), 0)

    def rows() -> Iterator[str]:
        with handle:
            for fields in reader:
                yield fields[index] if index < len(fields) else ""

    return rows()




@dataclass(frozen=True)
class ShardPredictor:
    """Builds, inside a Ray actor, the model stage: the model loaded once on ``device``."""

    model_path: str
    device: str
    k: int

    def __call__(self) -> Any:
        from chemaccel.reaction.storage import load_model

        model = load_model(self.model_path, device=self.device)

        def predict(items: list[tuple[int, str]]) -> tuple[list[list[object]], int, int]:
            preds = model.predict([text for _, text in items], k=self.k)
            ok = sum(p.ok for p in preds)
            return csv_rows(preds, self.k, first_row=items[0][0]), ok, len(preds) - ok

        return predict


def _passthrough(items: list[Any]) -> list[Any]:
    return items  # reactions are canonicalized and tokenized with the model, in the actors


def predict_reactions_ray(model_path: str | Path, source: str | Path, out: str | Path, address: str | None = None,
                          reporter: Reporter | None = None, column: str | None = None, k: int = 5, chunk: int = 256,
                          resume: bool = False, actors: int | None = None, gpus_per_actor: float = 0.0,
                          num_cpus: int | None = None) -> dict[str, int]:
    """``reaction predict`` as a Ray Data job: shards of ``chunk`` reactions, the model in ``actors`` actors,
    the one-process run's rows; ordered shards in ``OUT.shards/``, merged into ``out``, resumable."""
    from chemaccel import ray_batch
    from chemaccel.batch_output import model_fingerprint

    fingerprint = {"engine": "reaction", "model_sha256": model_fingerprint(model_path),
                   "input": ray_batch.input_fingerprint(source), "column": column, "k": k, "chunk": chunk}
    items = enumerate(read_reactions(str(source), column), 1)
    first = next(items, None)
    if first is None:
        raise InputError(source, "no reactions (the input is empty)")
    shards = ray_batch.ShardFolder(Path(out), csv_header(k), fingerprint)
    stages = ray_batch.RayStages(cpu=_passthrough,
                                 model_factory=ShardPredictor(str(model_path), "cuda" if gpus_per_actor else "cpu", k),
                                 actors=actors, gpus_per_actor=gpus_per_actor)
    ray_batch.start_ray(address, num_cpus)
    import itertools

    return ray_batch.run_sharded(itertools.chain([first], items), shards, stages, chunk, resume=resume,
                                 reporter=reporter)


_POOL_MODEL: Any = None
_POOL_ERROR = ""  # a worker whose model did not load says why with every chunk (one line, no traceback)


def _pool_init(model_path: str, device: str) -> None:
    """A worker process: one thread, Ctrl-C left to the main process, the model loaded once."""
    import signal

    import torch

    from chemaccel.reaction.storage import load_model

    from chemaccel.errors import ChemAccelError

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    global _POOL_MODEL, _POOL_ERROR
    try:
        _POOL_MODEL = load_model(model_path, device=device)
    except ChemAccelError as exc:
        _POOL_ERROR = str(exc)


def _pool_predict(chunk: list[str], k: int) -> list[Any]:
    if _POOL_ERROR:
        from chemaccel.errors import ChemAccelError

        raise ChemAccelError(_POOL_ERROR)
    return _POOL_MODEL.predict(chunk, k=k)


def predict_chunks_in_processes(model_path: str | Path, chunks: Iterator[list[str]], k: int, workers: int,
                                device: str = "cpu", start_method: str | None = None) -> Iterator[list[Any]]:
    """The predictions of each chunk, in order, computed by ``workers`` processes that each load the model
    once (at most two chunks per process in flight); the rows equal one process's. Stopping the iteration
    early cancels the chunks not started. ``start_method`` is multiprocessing's (None: the platform's
    default); a process with threads of its own (the desktop app) spawns, since a forked child of a
    threaded parent can inherit a lock held by another thread."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from chemaccel.errors import ChemAccelError

    context = multiprocessing.get_context(start_method) if start_method else None
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_pool_init,
                               initargs=(str(model_path), device))
    pending: deque = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(_pool_predict, chunk, k))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool:
        raise ChemAccelError(f"{model_path}: a worker process could not load or run the model (it died); "
                             "run with --workers 1 to see why") from None
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
