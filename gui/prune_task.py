"""The task behind the Train / prune panel: the engine's job (:func:`chemaccel.api.run_prune_job`, the
same one ``chemaccel prune run`` runs) and what the panel reads from its progress messages.
"""

from __future__ import annotations

from chemaccel import api
from chemaccel_gui.jobs import message_numbers

DENSE_TASK = api.PRUNE_DENSE_TASK
PruneJobSpec = api.PruneJobSpec
PruneOutcome = api.PruneOutcome
run_prune = api.run_prune_job


def save_outcome(outcome: PruneOutcome, path):
    """Write the pruned model as a model folder, noting that the app made it."""
    return api.save_prune_outcome(outcome, path,
                                  notes=f"AutoPrune in the chemaccel app on {outcome.spec.data.name}")


def epoch_row(text: str) -> dict[str, float] | None:
    """The numbers of an end-of-epoch message (``"epoch=3 phase=prune loss=0.1 ... val_error=0.02"``, or
    ``"dense training: epoch=1 ..."``), None for any other message."""
    dense = text.startswith(DENSE_TASK + ": ")
    tail = text.removeprefix(DENSE_TASK + ": ")
    if not tail.startswith("epoch="):
        return None
    return {"dense": 1.0, **message_numbers(tail)} if dense else message_numbers(tail)


__all__ = ["DENSE_TASK", "PruneJobSpec", "PruneOutcome", "epoch_row", "run_prune", "save_outcome"]
