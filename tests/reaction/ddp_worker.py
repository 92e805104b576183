"""Run by tests/reaction/test_ddp.py under ``torchrun --nproc_per_node=2``: a tiny reaction training (eole's
loop in each process, gradients averaged by chemaccel), optionally resumed; every process reports the sum
of its model's weights, which must agree."""

import sys
import warnings

import torch

warnings.simplefilter("ignore")

from chemaccel.reaction import ReactionConfig, ReactionTrainer  # noqa: E402
from chemaccel.runtime import RuntimeConfig  # noqa: E402
from tests.reaction.conftest import TINY  # noqa: E402  (PYTHONPATH set by tests/torchrun.py)
from tests.torchrun import emit  # noqa: E402


def main(data: str, out: str, steps: str, resume: str) -> None:
    torch.set_num_threads(1)
    cfg = ReactionConfig(**{**TINY, "steps": int(steps), "save_every": 2, "valid_every": 2})
    trainer = ReactionTrainer(cfg, data, out, runtime=RuntimeConfig(device="cpu"))
    result = trainer.run(resume=resume == "resume")
    model = trainer.trained_module
    checksum = float(sum(p.double().sum() for p in model.parameters()))
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    emit({"rank": rank, "world_size": world, "checksum": checksum, "last_step": result.last_step,
                      "folder": str(result.model_dir)})


if __name__ == "__main__":
    main(*sys.argv[1:5])
