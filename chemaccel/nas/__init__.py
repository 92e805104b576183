"""NAS: differentiable architecture search (DARTS) stabilised and guided by a distilling teacher.

Liu, Simonyan and Yang, "DARTS: Differentiable Architecture Search" (ICLR 2019), with knowledge
distillation of a teacher's intermediate features (through small adapters) and temperature-scaled logits
into the supernet during search and into the derived network during retraining. One file per idea:

* :mod:`~chemaccel.nas.ops`: the candidate operations, in a registry a user extends (:func:`register_op`);
* :mod:`~chemaccel.nas.supernet`: :class:`MixedOp`, search cells, the :class:`SuperNet` with its
  architecture parameters; :mod:`~chemaccel.nas.architect`: first- and second-order architecture steps;
* :mod:`~chemaccel.nas.genotype`: :class:`Genotype` (top-2 derivation, skip cap, JSON, validation);
* :mod:`~chemaccel.nas.distill`: hooks, adapters, feature and logit losses; :mod:`~chemaccel.nas.teacher`:
  the teacher the engine trains itself and the shared training loop;
* :mod:`~chemaccel.nas.derived`: the derived network; :mod:`~chemaccel.nas.config`: :class:`SearchConfig`,
  :class:`RetrainConfig`; :mod:`~chemaccel.nas.search`, :mod:`~chemaccel.nas.retrain`: the engine;
  :mod:`~chemaccel.nas.storage`, :mod:`~chemaccel.nas.evaluate`: model folders and their figures;
* :mod:`~chemaccel.nas.mlp_space`, :mod:`~chemaccel.nas.mlp_search`: the same search over a small MLP
  space for molecular properties from fingerprints.
"""

from __future__ import annotations

from chemaccel.nas.config import RetrainConfig, SearchConfig
from chemaccel.nas.data import load_images
from chemaccel.nas.derived import DerivedNetwork, count_params
from chemaccel.nas.genotype import Genotype, GenotypeError, load_genotype, save_genotype
from chemaccel.nas.ops import CONV_OPS, DARTS_OPS, register_op
from chemaccel.nas.retrain import NasRetrain, RetrainResult
from chemaccel.nas.search import NasSearch, SearchResult
from chemaccel.nas.storage import load_nas
from chemaccel.nas.supernet import MixedOp, SuperNet
from chemaccel.nas.teacher import TrainingDiverged

__all__ = [
    "CONV_OPS", "DARTS_OPS", "DerivedNetwork", "Genotype", "GenotypeError", "MixedOp", "NasRetrain", "NasSearch",
    "RetrainConfig", "RetrainResult", "SearchConfig", "SearchResult", "SuperNet", "TrainingDiverged",
    "count_params", "load_genotype", "register_op", "save_genotype",
    # what a client needs to run a job like ``chemaccel nas search`` and show model folders (the desktop app)
    "load_images", "load_nas",
]
