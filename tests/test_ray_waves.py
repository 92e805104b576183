"""How a Ray job is cut: shards per Ray Data pipeline (each one starts its actors and drains at the end), and
whether embedding and the model run in separate stages."""

from __future__ import annotations

from chemaccel.ray_batch import wave_size


def test_a_wave_grows_with_the_cluster():
    assert wave_size(2) == 32  # this machine, chunks of 1,000 (the default): the floor of 32 shards
    assert wave_size(4) == 32
    assert wave_size(16) == 128  # a lent GPU machine's 16 cores
    assert wave_size(64) == 512
    assert wave_size(0) == 32  # a cluster that reports no CPU yet


def test_a_wave_holds_at_least_20000_records():
    assert wave_size(2, chunk=100) == 200  # small chunks: the wave boundary (~11 s) stays ~3 % of a wave
    assert wave_size(2, chunk=300) == 67  # rounded up
    assert wave_size(64, chunk=100) == 512  # the per-CPU rule is larger


def test_the_stages_split_only_where_the_model_takes_gpus():
    from chemaccel.ray_batch import RayStages

    def cpu(records):
        return records

    assert not RayStages(cpu=cpu, model_factory=object).split  # CPUs: one pool of actors embeds and predicts
    assert RayStages(cpu=cpu, model_factory=object, gpus_per_actor=1.0).split  # CPU tasks feed GPU actors
    assert RayStages(cpu=cpu, model_factory=object, two_stage=True).split
    assert not RayStages(cpu=cpu, model_factory=object, gpus_per_actor=0.5, two_stage=False).split
