"""The tasks behind the NAS panel: the engine's search job (:func:`chemaccel.api.run_nas_search_job`, the one
``chemaccel nas search`` runs), what a NAS model folder or a genotype file says (through
:mod:`chemaccel.api`), and what the panel reads from the search's progress messages.
"""

from __future__ import annotations

from chemaccel import api
from chemaccel_gui.jobs import message_numbers

#: What the distillation switch sets when both weights are 0 (``chemaccel nas search --distill``).
DISTILL_DEFAULTS = {"feature_weight": 1.0, "logit_weight": 1.0}
TEACHER_TASK = "train teacher"


def epoch_row(text: str) -> dict[str, float] | None:
    """The numbers of the search's end-of-epoch message (``"epoch=2 loss=0.5 val_loss=0.6 val_accuracy=0.8
    skips_before_cap=1 max_skip_per_cell=1 seconds=3.2"``); None for any other message."""
    if not text.startswith("epoch="):
        return None
    return message_numbers(text)


NasSearchSpec = api.NasSearchSpec
NasSearchOutcome = api.NasSearchOutcome
NasModelView = api.NasModelView
run_search = api.run_nas_search_job
save_search_genotype = api.save_nas_genotype
read_genotype = api.read_genotype
describe_model = api.describe_nas_model
