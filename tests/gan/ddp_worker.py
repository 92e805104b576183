"""Run by tests/gan/test_ddp.py under ``torchrun --nproc_per_node=2``: a tiny ring GAN trained data-parallel;
every process reports a checksum of its generator and discriminator (equal when DDP averages gradients)."""

import sys

import torch

from chemaccel.gan import GanConfig, GanTrainer
from chemaccel.runtime import RuntimeConfig
from tests.torchrun import emit  # noqa: E402  (PYTHONPATH set by tests/torchrun.py)


SMILES = ["C", "CC", "CCO", "CC=O", "C#N", "CC#C", "OCC=O", "CN", "CCN", "C1CC1", "c1ccoc1", "CC(C)O", "OC=O",
          "NC=O", "CC(=O)C", "C1CO1", "FC(F)F", "CCCC", "N#CC#N", "CC(N)=O"]


def main(ckpt: str, data: str = "ring8") -> None:
    torch.set_num_threads(1)
    cfg = GanConfig(data="ring8", n_generators=2, gen_hidden=16, gen_layers=2, disc_hidden=16, disc_layers=2,
                    steps=40, n_train=1000, eval_samples=200, checkpoint_every=20, batch_size=32)
    if data == "qm9":  # graphs, with the connectivity term and the novelty critic
        cfg = cfg.replace(data="qm9", noise_dim=4, steps=6, batch_size=16, eval_samples=20,
                          checkpoint_every=3, connectivity_weight=1.0, novelty_weight=1.0,
                          diversity_weight=0.01)
    result = GanTrainer(cfg, RuntimeConfig(device="cpu", seed=0)).run(
        None, data=SMILES if data == "qm9" else None, checkpoint_dir=ckpt)
    checksum = float(sum(p.double().sum() for p in result.model.parameters()))
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    emit({"rank": rank, "world_size": world, "checksum": checksum, "status": result.status})


if __name__ == "__main__":
    main(*sys.argv[1:])
