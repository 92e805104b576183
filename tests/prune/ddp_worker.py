"""Run by tests/prune/test_ddp.py under ``torchrun --nproc_per_node=2``: AutoPrune on a tiny synthetic
problem; every process reports a checksum of its pruned weights and gates (equal when gradients are averaged).
:func:`train` is also called in one process with the global batch (2 x 32) to compare."""

import sys

import torch
from torch import nn

from chemaccel.prune.config import PruneConfig
from chemaccel.prune.engine import AutoPrune
from chemaccel.runtime import RuntimeConfig
from tests.torchrun import emit  # noqa: E402  (PYTHONPATH set by tests/torchrun.py)


def train(ckpt: str, batch_size: int = 32) -> float:
    """AutoPrune on the toy problem; the sum of the pruned model's weights."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(512, 20)
    y = (x[:, :5].sum(1) > 0).long()
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 2))
    cfg = PruneConfig(granularity="structured", budget=0.5, epochs=3, finetune_epochs=1, batch_size=batch_size,
                      runtime=RuntimeConfig(device="cpu"))
    result = AutoPrune(cfg).run(model, (x, y), val_data=(x[:128], y[:128]), checkpoint_dir=ckpt)
    return float(sum(p.double().sum() for p in result.model.parameters()))


def main(ckpt: str) -> None:
    checksum = train(ckpt)
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    emit({"rank": rank, "world_size": world, "checksum": checksum})


if __name__ == "__main__":
    main(sys.argv[1])
