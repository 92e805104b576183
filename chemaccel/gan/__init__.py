"""Parallel orthogonal multi-generator GAN: K generators sharing most parameters, pushed apart.

One file per idea:

* :mod:`~chemaccel.gan.config`: :class:`GanConfig`;
* :mod:`~chemaccel.gan.layers`: stacked (batched) linear layers, per-generator BatchNorm, maxout;
* :mod:`~chemaccel.gan.generator`: :class:`MultiGenerator` (private first layers, shared rest, one pass);
* :mod:`~chemaccel.gan.discriminator`: discriminator with an MGAN classifier head;
* :mod:`~chemaccel.gan.orthogonality`: the orthogonality term (features, outputs or weights);
* :mod:`~chemaccel.gan.placement`: model parallelism over devices (pure logic);
* :mod:`~chemaccel.gan.toy`, :mod:`~chemaccel.gan.metrics`: PacGAN's 2-D mixtures and mode metrics;
* :mod:`~chemaccel.gan.molgraph`, :mod:`~chemaccel.gan.data`: MolGAN-style graphs and training data;
* :mod:`~chemaccel.gan.model`, :mod:`~chemaccel.gan.engine`, :mod:`~chemaccel.gan.storage`: the model,
  :class:`GanTrainer` ``.run(reporter)`` and model folders.
"""

from __future__ import annotations

from chemaccel.gan.config import GanConfig
from chemaccel.gan.engine import GanResult, GanTrainer
from chemaccel.gan.model import GanModel
from chemaccel.gan.placement import Placement, plan_placement
from chemaccel.gan.storage import load_gan, save_gan

__all__ = ["GanConfig", "GanModel", "GanResult", "GanTrainer", "Placement", "load_gan", "plan_placement", "save_gan"]
