"""AutoPrune: prune any ``nn.Module`` by training auxiliary gate parameters, then compact it.

Xiao, Wang and Rajasekaran, "AutoPrune: Automatic Network Pruning by Regularizing Auxiliary Parameters",
NeurIPS 2019. One file per idea:

* :mod:`~chemaccel.prune.config`: :class:`PruneConfig`;
* :mod:`~chemaccel.prune.gates`: auxiliary parameters, hard threshold, straight-through estimators, the
  hook for custom modules (:func:`register_gate_hook`);
* :mod:`~chemaccel.prune.schedule`: lambda reaching a budget; :mod:`~chemaccel.prune.costs`: unit costs;
* :mod:`~chemaccel.prune.engine`: :class:`AutoPrune` ``.run(model, train, val, reporter)``;
* :mod:`~chemaccel.prune.compact`: physical removal of pruned units; :mod:`~chemaccel.prune.storage`:
  model folders; :mod:`~chemaccel.prune.measure` and :mod:`~chemaccel.prune.evaluate`: figures;
* :mod:`~chemaccel.prune.models`: LeNet-300-100, LeNet-5, a Fashion-MNIST CNN;
  :mod:`~chemaccel.prune.baselines`: magnitude and L1-filter pruning;
* :mod:`~chemaccel.prune.workflow`: the job a user runs (``chemaccel prune run``, the app's panel).

Prune any module with :func:`chemaccel.api.prune` ``(model, data, config, reporter)``.
"""

from __future__ import annotations

from chemaccel.prune.baselines import fit
from chemaccel.prune.config import PruneConfig
from chemaccel.prune.data import load_image_split, normalization_for, split_validation
from chemaccel.prune.engine import AutoPrune, PruneResult, TrainingDiverged
from chemaccel.prune.gates import GateSpec, register_gate_hook
from chemaccel.prune.models import MODEL_KINDS, build_model, default_architecture
from chemaccel.prune.storage import load_pruned, save_pruned

__all__ = [
    "AutoPrune", "GateSpec", "PruneConfig", "PruneResult", "TrainingDiverged", "register_gate_hook",
    # what a client needs to build a job like ``chemaccel prune run`` (the desktop app's Train / prune panel)
    "MODEL_KINDS", "build_model", "default_architecture", "fit", "load_image_split", "normalization_for",
    "split_validation", "load_pruned", "save_pruned",
]
