"""Reaction prediction as low-capacity SMILES-to-SMILES translation (the ``reaction`` engine).

Forward prediction (reactants -> product) with a small encoder-decoder transformer trained by eole
(the successor of OpenNMT-py) in this process. Modules, one idea each:

* :mod:`~chemaccel.reaction.config` - :class:`ReactionConfig` and the ``low`` / ``mt`` presets;
* :mod:`~chemaccel.reaction.data` - USPTO pairs in the forward direction, augmentation, corpus files;
* :mod:`~chemaccel.reaction.eole_bridge` - the only module that knows eole's internals;
* :mod:`~chemaccel.reaction.engine` - :class:`ReactionTrainer` (``run(reporter)``, resume, export);
* :mod:`~chemaccel.reaction.storage` - model folders, checkpoint averaging, :func:`load_model`;
* :mod:`~chemaccel.reaction.model` - :class:`ReactionModel` with ``predict(reactions, k)``;
* :mod:`~chemaccel.reaction.evaluate` - top-k exact match, invalid rate, speed.

eole is imported only when a model is trained or loaded (install ``chemaccel[reaction]``).
"""

from chemaccel.reaction.config import PRESETS, ReactionConfig
from chemaccel.reaction.engine import ReactionTrainer, TrainResult
from chemaccel.reaction.evaluate import evaluate, evaluate_pairs
from chemaccel.reaction.model import Candidate, ReactionModel, ReactionPrediction
from chemaccel.reaction.storage import export_model, load_model

__all__ = [
    "PRESETS", "ReactionConfig", "ReactionTrainer", "TrainResult", "evaluate", "evaluate_pairs",
    "Candidate", "ReactionModel", "ReactionPrediction", "export_model", "load_model",
]
