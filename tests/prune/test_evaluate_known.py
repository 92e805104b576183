"""``chemaccel.prune.evaluate.evaluate`` field by field against answers computed here: which split and how many
samples it reads, the test error against an independent numpy count, the sizes of the shipped LeNet-5, and
the bookkeeping fields (device, split, speedup, granularity, threads, key order)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from chemaccel import api
from chemaccel.errors import ConfigError
from chemaccel.prune import evaluate as prune_evaluate
from chemaccel.prune.evaluate import KEYS, evaluate

from .test_cli_prune import write_idx

FOLDER = Path(__file__).resolve().parents[2] / "resources" / "models" / "lenet5-mnist-autoprune"
MEAN, STD = 0.1307, 0.3081  # the normalisation recorded in the folder's config.json


@pytest.fixture(scope="module")
def idx(tmp_path_factory) -> tuple[Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """An IDX folder whose splits differ in size (30 train, 50 test): digit-like strokes, random labels."""
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("mnist_known")
    splits = {}
    for prefix, name, n in (("train", "train", 30), ("t10k", "test", 50)):
        images = np.zeros((n, 28, 28), dtype=np.int64)
        for i in range(n):
            r, c = rng.integers(4, 20, 2)
            images[i, r:r + 8, c:c + 3] = 255  # a bar somewhere: the model answers differently per image
            images[i, r + rng.integers(0, 6), c:c + 8] = 255
        labels = rng.integers(0, 10, n)
        write_idx(folder, prefix, images, labels)
        splits[name] = (images, labels)
    return folder, splits


def _error_by_hand(images: np.ndarray, labels: np.ndarray) -> float:
    model = api.load_model(FOLDER).eval()
    x = torch.tensor(((images / 255.0 - MEAN) / STD)[:, None], dtype=torch.float32)
    with torch.no_grad():
        predicted = model(x).argmax(1).numpy()
    return float(np.mean(predicted != labels))


def test_the_test_split_by_default_and_its_error_counted_as_by_hand(idx):
    folder, splits = idx
    stats = evaluate(FOLDER, folder, latency_repeats=0)
    assert stats["split"] == "test" and stats["samples"] == 50
    assert stats["test_error"] == _error_by_hand(*splits["test"])
    assert 0.0 < stats["test_error"] < 1.0  # images the model tells apart: the count means something
    train = evaluate(FOLDER, folder, split="train", limit=20, latency_repeats=0)
    assert train["split"] == "train" and train["samples"] == 20
    assert train["test_error"] == _error_by_hand(splits["train"][0][:20], splits["train"][1][:20])


def test_tensor_data_with_a_limit_and_no_data(idx):
    _, splits = idx
    images, labels = splits["test"]
    x = torch.tensor(((images / 255.0 - MEAN) / STD)[:, None], dtype=torch.float32)
    y = torch.tensor(labels)
    stats = evaluate(FOLDER, (x, y), limit=7, latency_repeats=0)
    assert stats["samples"] == 7 and stats["test_error"] == _error_by_hand(images[:7], labels[:7])
    none = evaluate(FOLDER, None, latency_repeats=0)
    assert none["test_error"] is None and none["samples"] == 0 and none["split"] is None
    with pytest.raises(ConfigError, match=r"samples of shape \(1, 14, 14\), the model expects \(1, 28, 28\)"):
        evaluate(FOLDER, (torch.zeros(3, 1, 14, 14), torch.zeros(3, dtype=torch.long)), latency_repeats=0)


def test_sizes_and_bookkeeping_of_the_shipped_lenet5(monkeypatch):
    seen = {}
    real = prune_evaluate.measure

    def spy(model, example, **kwargs):
        seen.update(kwargs, example_shape=tuple(example.shape))
        return real(model, example, **{**kwargs, "latency_repeats": 2})

    monkeypatch.setattr(prune_evaluate, "measure", spy)
    stats = evaluate(FOLDER)
    # the documented defaults reach the measurement: 50 timed single-sample passes on a (1, 1, 28, 28) input
    assert seen["latency_repeats"] == 50 and seen["latency_batch"] == 1 and seen["example_shape"] == (1, 1, 28, 28)
    assert list(stats)[:len(KEYS)] == list(KEYS)
    assert stats["params_total"] == 431080  # Caffe's LeNet-5: 20 and 50 5x5 filters, 500 hidden, 10 out
    assert stats["compression"] == pytest.approx(171.40357852882704)  # as recorded when it was shipped
    assert stats["compression"] == stats["params_total"] / stats["params_nonzero"]
    assert stats["device"] == "cpu" and stats["granularity"] == "unstructured" and stats["compacted"] is False
    assert stats["threads"] == torch.get_num_threads()
    assert stats["speedup"] == stats["latency_dense_ms"] / stats["latency_ms"]
