"""Run by tests/reaction/test_ddp.py under ``torchrun --nproc_per_node=2``: a tiny reaction training (eole's
loop in each process, gradients averaged by chemaccel), optionally resumed; every process prints the sum
of its model's weights, which must agree."""

import json
import sys
import warnings
from pathlib import Path

import torch

warnings.simplefilter("ignore")

from chemaccel.reaction import ReactionConfig, ReactionTrainer  # noqa: E402
from chemaccel.runtime import RuntimeConfig  # noqa: E402

# tests/reaction/conftest.py's TINY (this script runs outside pytest, without the tests package)
TINY = dict(layers=1, hidden_size=32, heads=2, ff_size=64, steps=4, batch_tokens=512, save_every=2,
            valid_every=2, keep_checkpoints=2, average_last=2, warmup_steps=10, max_tokens=100)


def main(data: str, out: str, steps: str, resume: str) -> None:
    torch.set_num_threads(1)
    cfg = ReactionConfig(**{**TINY, "steps": int(steps), "save_every": 2, "valid_every": 2})
    trainer = ReactionTrainer(cfg, data, out, runtime=RuntimeConfig(device="cpu"))
    result = trainer.run(resume=resume == "resume")
    model = trainer.trained_module
    checksum = float(sum(p.double().sum() for p in model.parameters()))
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    print(json.dumps({"rank": rank, "world_size": world, "checksum": checksum, "last_step": result.last_step,
                      "folder": str(result.model_dir)}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
