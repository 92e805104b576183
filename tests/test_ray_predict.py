"""``property predict --ray`` on a local Ray instance (2 CPUs): the rows of the one-process run, ordered
shards, resume, Parquet in and out, one-line errors. Skips only where Ray is not installed (CI installs it
with the test extra)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'chemaccel[cluster]')")

from chemaccel.cli import main  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance, and this process on one torch thread as each Ray actor is: float32 sums over
    a different number of threads differ in the last printed digit (1e-6 eV), so byte-equal rows need equal
    thread counts (the tests passed only when an earlier test module had left one thread behind)."""
    import torch

    from chemaccel.ray_batch import start_ray

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start_ray(None, num_cpus=2)
    yield
    ray.shutdown()
    torch.set_num_threads(threads)


def _smiles_file(path: Path, n: int) -> Path:
    rows = list(csv.reader(open(EXAMPLES / "qm9_gap_2k.csv", encoding="utf-8")))[1:n + 1]
    lines = [r[0] for r in rows]
    lines.insert(7, "C1CC")  # an unclosed ring: a row with its error, not a stop
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_ray_gives_the_one_process_rows_and_resumes_by_shard(tmp_path, local_ray, capsys):
    source = _smiles_file(tmp_path / "in.smi", 240)
    common = ["-m", "qm9-gap-schnet-ff", "--chunk", "40", "--conformers", "1"]
    assert main(["property", "predict", str(source), "-o", str(tmp_path / "one.csv"), *common]) == 0
    assert main(["property", "predict", str(source), "-o", str(tmp_path / "ray.csv"), *common, "--ray"]) == 0
    err = capsys.readouterr().err
    assert "241 rows in 7 shards" in err and "240 ok, 1 with errors, 0 retried" in err
    one = (tmp_path / "one.csv").read_bytes()
    assert (tmp_path / "ray.csv").read_bytes() == one
    shards = tmp_path / "ray.csv.shards"
    assert sorted(p.name for p in shards.glob("shard-*.csv")) == [f"shard-{k:06d}.csv" for k in range(7)]

    # a shard lost (or half-written) is redone on resume; the others are kept
    (shards / "shard-000003.csv").write_bytes(b"cut")
    (tmp_path / "ray.csv").unlink()
    assert main(["property", "predict", str(source), "-o", str(tmp_path / "ray.csv"), *common, "--ray",
                 "--resume"]) == 0
    assert "6 shards kept from before" in capsys.readouterr().err
    assert (tmp_path / "ray.csv").read_bytes() == one

    # another seed is another run: resume refuses in one line
    assert main(["--seed", "1", "property", "predict", str(source), "-o", str(tmp_path / "ray.csv"), *common,
                 "--ray", "--resume"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("chemaccel: error:") and "seed" in err and "\n" not in err


def test_ray_reads_and_writes_parquet(tmp_path, local_ray):
    import pyarrow as pa
    import pyarrow.parquet as pq

    smiles = [r[0] for r in list(csv.reader(open(EXAMPLES / "qm9_gap_2k.csv", encoding="utf-8")))[1:61]]
    pq.write_table(pa.table({"id": [f"m{i}" for i in range(60)], "smiles": smiles}), tmp_path / "in.parquet")
    (tmp_path / "in.smi").write_text("\n".join(f"{s} m{i}" for i, s in enumerate(smiles)) + "\n", encoding="utf-8")
    common = ["-m", "qm9-gap-schnet-ff", "--chunk", "25", "--conformers", "1", "--ray"]
    assert main(["property", "predict", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"),
                 *common]) == 0
    assert main(["property", "predict", str(tmp_path / "in.smi"), "-o", str(tmp_path / "out.csv"), *common]) == 0
    table = pq.read_table(tmp_path / "out.parquet").to_pydict()
    rows = list(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert table["gap_eV"] == [r["gap_eV"] for r in rows] and table["name"] == [f"m{i}" for i in range(60)]
    assert set(table["status"]) == {"ok"}


def test_parquet_without_a_smiles_column_is_one_line(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "bad.parquet")
    assert main(["property", "predict", str(tmp_path / "bad.parquet"), "-m", "qm9-gap-schnet-ff",
                 "-o", str(tmp_path / "o.csv"), "--ray"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("chemaccel: error:") and "no SMILES column" in err and "bad.parquet" in err


def _die_once(records, marker):
    """A CPU stage whose worker process dies the first time it meets record 41."""
    import os

    if any(r.index == 41 for r in records) and not Path(marker).exists():
        Path(marker).touch()
        os._exit(1)
    return records


class _IndexModel:
    def __call__(self):
        return lambda records: ([[r.index, r.smiles] for r in records], len(records), 0)


@pytest.mark.parametrize("two_stage", [False, True], ids=["one-pool", "two-stage"])
def test_a_dead_worker_is_retried_and_counted(tmp_path, local_ray, two_stage):
    """On CPUs (the default) a pool of actors embeds and predicts, and the process that dies is an actor;
    with GPUs CPU tasks feed the model actors, and it is a task."""
    import functools

    from chemaccel.ray_batch import RayStages, ShardFolder, read_records, run_sharded

    source = _smiles_file(tmp_path / "in.smi", 99)  # 100 records, shards of 20
    shards = ShardFolder(tmp_path / "out.csv", ["index", "smiles"], {"test": 1})
    stages = RayStages(cpu=functools.partial(_die_once, marker=str(tmp_path / "died")), model_factory=_IndexModel(),
                       two_stage=two_stage)
    assert stages.split is two_stage
    counts = run_sharded(read_records(source), shards, stages, chunk=20)
    assert (tmp_path / "died").exists() and counts["retried"] == 1
    assert (counts["rows"], counts["ok"], counts["shards"]) == (100, 100, 5)
    rows = list(csv.reader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert rows[0] == ["index", "smiles"] and [int(r[0]) for r in rows[1:]] == list(range(1, 101))


def test_reaction_predict_on_ray_gives_the_one_process_rows(tmp_path, local_ray, capsys):
    source = EXAMPLES / "reactions_with_reagents.csv"
    common = ["-m", "uspto-forward-reagents", "-k", "3", "--chunk", "5", "--column", "input"]
    assert main(["reaction", "predict", str(source), "-o", str(tmp_path / "one.csv"), *common]) == 0
    assert main(["reaction", "predict", str(source), "-o", str(tmp_path / "ray.csv"), *common, "--ray"]) == 0
    err = capsys.readouterr().err
    assert "0 retried" in err and "predicted" in err
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert main(["reaction", "predict", str(source), "-o", "-", *common, "--ray"]) == 1
    assert "not stdout" in capsys.readouterr().err
