"""Run by tests/property/test_ddp.py under ``torchrun --nproc_per_node=2``: a tiny training, then every
process reports the sum of its weights (they must agree when the gradients are averaged)."""

import sys

import torch

from chemaccel.property import PropertyConfig, PropertyTrainer
from chemaccel.runtime import RuntimeConfig
from tests.torchrun import emit  # noqa: E402  (PYTHONPATH set by tests/torchrun.py)


def main(store: str, out: str) -> None:
    torch.set_num_threads(1)
    cfg = PropertyConfig(targets=("gap",), n_atom_basis=16, n_filters=16, n_interactions=2, n_rbf=12, batch_size=16,
                         max_epochs=3, checkpoint_every=1000, lr_schedule="cosine", time_limit_minutes=1e-6)
    trainer = PropertyTrainer(cfg, store, out, runtime=RuntimeConfig(device="cpu"))
    result = trainer.run()
    checksum = float(sum(p.double().sum() for p in result.model.parameters()))
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    emit({"rank": rank, "world_size": world, "checksum": checksum, "status": result.status,
                      "dense_epochs": sum(1 for row in result.history if row["phase"] == 0)})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
