"""Run by tests/gan/test_ddp.py under ``torchrun --nproc_per_node=2``: a tiny ring GAN trained data-parallel;
every process reports a checksum of its generator and discriminator (equal when DDP averages gradients)."""

import sys

import torch

from chemaccel.gan import GanConfig, GanTrainer
from chemaccel.runtime import RuntimeConfig
from tests.torchrun import emit  # noqa: E402  (PYTHONPATH set by tests/torchrun.py)


def main(ckpt: str) -> None:
    torch.set_num_threads(1)
    cfg = GanConfig(data="ring8", n_generators=2, gen_hidden=16, gen_layers=2, disc_hidden=16, disc_layers=2,
                    steps=40, n_train=1000, eval_samples=200, checkpoint_every=20, batch_size=32)
    result = GanTrainer(cfg, RuntimeConfig(device="cpu", seed=0)).run(None, checkpoint_dir=ckpt)
    checksum = float(sum(p.double().sum() for p in result.model.parameters()))
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    emit({"rank": rank, "world_size": world, "checksum": checksum, "status": result.status})


if __name__ == "__main__":
    main(sys.argv[1])
