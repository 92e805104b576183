"""A model folder whose config.json asks for more than its weights hold is refused before any memory is taken.

Each load runs in a child process under a 2 GiB address-space limit: building the module the config asks
for would need 10 GB or more, so only the check before the build (on torch's meta device, against the
tensor shapes in the file) lets the child answer in one line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "resources" / "models"

CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3, 2 * 1024 ** 3))
from chemaccel import api
from chemaccel.errors import ModelFileError
try:
    api.load_model(sys.argv[1])
except ModelFileError as exc:
    print("refused:", exc)
    sys.exit(0)
print("loaded")
sys.exit(3)
"""


def _copy_with(tmp_path: Path, model: str, change) -> Path:
    folder = tmp_path / model
    shutil.copytree(MODELS / model, folder)
    config = json.loads((folder / "config.json").read_text())
    change(config["architecture"])
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _load_under_limit(folder: Path) -> str:
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    return out.stdout.strip()


def _wider_blocks(arch):
    for member in arch.get("members", [arch]):
        for block in member["blocks"]:
            block["n_filters"] = 20_000_000


def _wider_lenet(arch):
    arch["model"]["widths"] = [20, 50, 50_000_000]


@pytest.mark.parametrize("model, change, expect", [
    ("qm9-gap-schnet-pruned", _wider_blocks, "interactions.0"),
    ("qm9-gap-schnet-ff", _wider_blocks, "interactions.0"),
    ("lenet5-mnist-autoprune", _wider_lenet, "config.json makes"),
])
def test_a_config_asking_for_more_than_its_weights_is_refused_in_one_line(tmp_path, model, change, expect):
    line = _load_under_limit(_copy_with(tmp_path, model, change))
    assert line.startswith("refused:") and "does not match the weights" in line and expect in line
    assert "\n" not in line
