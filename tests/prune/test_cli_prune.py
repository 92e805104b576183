import gzip
import json
import struct

import numpy as np

from chemaccel.cli import main


def write_idx(folder, prefix, images, labels):
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(struct.pack(">IIII", 0x803, len(images), 28, 28) + images.astype(np.uint8).tobytes())
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes())


def magnitude_pruned_lenet5(folder, weights):
    """A LeNet-5 cut to ``weights`` weights by magnitude (biases kept), saved as a prune model folder."""
    import torch

    from chemaccel.prune.baselines import magnitude_prune, make_permanent
    from chemaccel.prune.models import build_model, default_architecture
    from chemaccel.prune.storage import save_pruned

    arch = default_architecture("lenet5")
    torch.manual_seed(0)
    model = build_model(arch)
    magnitude_prune(model, weights)
    save_pruned(folder, make_permanent(model), arch, granularity="unstructured", compacted=False,
                normalization=(0.5, 0.5))


def tiny_mnist(folder, n=200):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, n)
    images = rng.integers(0, 60, (n, 28, 28))
    for i, lab in enumerate(labels):
        r, c = divmod(int(lab), 2)
        images[i, r * 14:(r + 1) * 14, c * 14:(c + 1) * 14] += 180
    write_idx(folder, "train", images, labels)
    write_idx(folder, "t10k", images[:50], labels[:50])


def test_cli_run_evaluate_report(tmp_path, capsys):
    data = tmp_path / "mnist"
    tiny_mnist(data)
    out = tmp_path / "pruned"
    code = main(["--device", "cpu", "prune", "run", "--model", "lenet300", "--data", str(data), "--budget", "0.5",
                 "--epochs", "2", "--finetune-epochs", "1", "--pretrain-epochs", "1", "-o", str(out)])
    assert code == 0 and (out / "config.json").exists() and (out / "model.safetensors").exists()
    assert (tmp_path / "pruned.work" / "state" / "state.json").exists()
    capsys.readouterr()
    assert main(["prune", "evaluate", str(out), "--data", str(data), "--json", "--repeats", "2"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["samples"] == 50 and 0 <= stats["test_error"] <= 1 and stats["params_total"] == 266610
    assert main(["prune", "report", str(out)]) == 0
    assert "Linear" in capsys.readouterr().out


def test_cli_bad_budget_is_one_line(tmp_path, capsys):
    data = tmp_path / "mnist"
    tiny_mnist(data, 20)
    code = main(["prune", "run", "--model", "lenet5", "--data", str(data), "--budget", "1.5",
                 "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "budget must be" in err and err.count("\n") == 1


def test_cli_evaluate_missing_folder(tmp_path, capsys):
    assert main(["prune", "evaluate", str(tmp_path / "nope"), "--json"]) == 1
    assert "no such model folder" in capsys.readouterr().err


def test_cli_recipe_flags_reach_the_saved_config(tmp_path, capsys):
    data = tmp_path / "mnist"
    tiny_mnist(data, 120)
    out = tmp_path / "pruned"
    code = main(["--device", "cpu", "prune", "run", "--model", "lenet300", "--data", str(data), "--budget", "0.5",
                 "--epochs", "1", "--finetune-epochs", "1", "--pretrain-epochs", "1", "--distill", "0.5",
                 "--augment-shift", "2", "-o", str(out)])
    assert code == 0
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["distill"] == 0.5 and config["augment_shift"] == 2 and config["distill_temperature"] == 4.0
    capsys.readouterr()
    code = main(["prune", "run", "--model", "lenet5", "--data", str(data), "--distill", "2",
                 "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "distill must be a weight in [0, 1]" in err and err.count("\n") == 1
