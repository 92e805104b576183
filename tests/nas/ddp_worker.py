"""Run by tests/nas/test_ddp.py under ``torchrun --nproc_per_node=2``: a tiny distilled DARTS search (second
order) and a tiny distilled retraining; every process reports checksums of its architecture weights and of
its retrained network (equal on both processes when the gradients are averaged)."""

import sys
from pathlib import Path

import torch

from chemaccel.nas import NasRetrain, NasSearch, RetrainConfig, SearchConfig
from chemaccel.runtime import RuntimeConfig
from tests.torchrun import emit  # noqa: E402  (PYTHONPATH set by tests/torchrun.py)


def main(work: str) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(128, 1, 8, 8)
    y = (x[:, 0, :4].mean((1, 2)) > 0).long()
    runtime = RuntimeConfig(device="cpu", seed=3)
    search = SearchConfig(layers=3, init_channels=4, nodes=2, epochs=2, batch_size=16, order="second",
                          feature_weight=0.5, logit_weight=0.5, teacher_epochs=1, teacher_width=4, runtime=runtime)
    found = NasSearch(search).run((x, y), checkpoint_dir=Path(work) / "search", resume=False)
    alphas = [w for rows in found.weights.values() for row in rows for w in row]  # softmax architecture weights
    retrain = RetrainConfig(layers=3, init_channels=4, epochs=2, batch_size=16, feature_weight=0.5, logit_weight=0.5,
                            teacher_epochs=1, teacher_width=4, runtime=runtime)
    done = NasRetrain(retrain).run(found.genotype, (x, y), Path(work) / "model", test_data=(x[:32], y[:32]),
                                   checkpoint_dir=Path(work) / "retrain")
    weights = float(sum(p.double().sum() for p in done.model.parameters()))
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    emit({"rank": rank, "world_size": world, "alphas": alphas, "checksum": weights,
                      "genotype": found.genotype.to_dict(), "folder": str(done.folder)})


if __name__ == "__main__":
    main(sys.argv[1])
