"""The task behind the Reaction panel: top-k products of reactant SMILES, with depictions, in a worker.

It calls the reaction engine's public API: ``chemaccel.api.load_model(folder)`` gives a
``ReactionModel`` whose ``predict(rows, k=k)`` returns one ``ReactionPrediction`` per row (``status``
"ok" or the reason the row was not predicted, and ``candidates`` with ``smiles``, ``valid``, ``score``).
Depictions are drawn here too (:func:`chemaccel.api.depict_png`), off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chemaccel import api

#: Inputs decoded between two progress reports / cancel checks.
CHUNK = 8
#: At most this many reactions are read from a file into the panel.
MAX_REACTIONS = 1000
DEPICTION = (150, 96)
#: Inputs longer than this are shortened in the legend under the reactants' depiction.
LEGEND_CHARS = 36


@dataclass
class DepictedPrediction:
    """One input row: the engine's prediction plus PNG depictions (None where there is none)."""

    prediction: Any  # chemaccel.reaction.ReactionPrediction
    reactants_png: bytes | None = None
    candidate_pngs: list[bytes | None] = field(default_factory=list)


def read_reactions(path: str | Path, limit: int = MAX_REACTIONS) -> tuple[list[str], int]:
    """Reactions of a text file, one per line (blank lines and ``#`` comments skipped; a name after the
    reaction SMILES is dropped); returns the first ``limit`` and how many there are.

    Raises:
        chemaccel.api.InputError: the file cannot be read as text.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise api.InputError(path, "file not found") from None
    except UnicodeDecodeError:
        raise api.InputError(path, "not a text file (one reaction SMILES per line expected)") from None
    except OSError as exc:
        raise api.InputError(path, f"cannot read: {exc.strerror or exc}") from None
    lines = [line.strip() for line in text.splitlines()]
    rows = [api.reaction_of_line(line) for line in lines if line and not line.startswith("#")]
    if not rows:
        raise api.InputError(path, "no reactions (the file is empty)")
    return rows[:limit], len(rows)


def load_reaction_model(path: Path, device: str = "cpu",
                        cache: dict[tuple[str, str], Any] | None = None) -> Any:
    """The reaction model of a folder on ``device``, reusing ``cache``."""
    key = (str(Path(path).resolve()), device)
    if cache is not None and key in cache:
        return cache[key]
    api.expect_engine(api.read_model_info(path), "reaction", path)
    model = api.load_model(path, device)
    if cache is not None:
        cache[key] = model
    return model


def depict(smiles: str, size: tuple[int, int] = DEPICTION, legend: str = "") -> bytes | None:
    try:
        return api.depict_png(smiles, size, legend=legend)
    except Exception:  # noqa: BLE001 - a molecule rdkit cannot draw just has no picture
        return None


def predict_reactions(reporter: api.Reporter, path: Path, rows: Sequence[str], k: int, device: str = "cpu",
                      cache: dict[tuple[str, str], Any] | None = None, workers: int = 1) -> list[DepictedPrediction]:
    """Predict the top-``k`` products of every row; a cancel raises :class:`~chemaccel.api.Cancelled`.

    ``workers`` > 1 decodes in that many processes, each loading the model once (the path of
    ``chemaccel reaction predict --workers``: the same rows); they are spawned, not forked, since this
    process has threads of its own, and a cancel shuts them down with the chunks not started."""
    if not rows:
        raise api.InputError("<reactions>",
                             "no reactions to predict: type or paste reactant SMILES, one per line")
    path = Path(path)
    total = len(rows)
    reporter.on_start(f"Loading {path.name}", None)
    chunks = (list(rows[start:start + CHUNK]) for start in range(0, total, CHUNK))
    if workers > 1:
        api.expect_engine(api.read_model_info(path), "reaction", path)  # each process loads it
        predictions = api.predict_reaction_chunks(path, chunks, k, workers, device, start_method="spawn")
    else:
        model = load_reaction_model(path, device, cache)
        predictions = (model.predict(chunk, k=k) for chunk in chunks)
    reporter.on_start(f"Predicting top-{k} products" + (f" in {workers} processes" if workers > 1 else ""), total)
    out: list[DepictedPrediction] = []
    try:
        for chunk_predictions in predictions:
            if reporter.should_stop():
                raise api.Cancelled("reaction prediction cancelled")
            for prediction in chunk_predictions:
                out.append(_depicted(prediction))
            reporter.on_progress(len(out), total, {"errors": float(sum(not p.prediction.ok for p in out))})
    finally:
        predictions.close()  # a pool of workers shuts down with the chunks not started
    return out


def _depicted(prediction: Any) -> DepictedPrediction:
    reactants = prediction.input.split(">")[0] if prediction.ok else ""
    text = prediction.input.strip()
    legend = text if len(text) <= LEGEND_CHARS else text[:LEGEND_CHARS - 3] + "..."
    return DepictedPrediction(
        prediction,
        depict(reactants, (DEPICTION[0], DEPICTION[1] + 20), legend) if reactants else None,
        [depict(c.smiles) if c.valid else None for c in prediction.candidates],
    )
