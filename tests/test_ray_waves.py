"""How many shards go into one Ray Data pipeline (each one loads the model in its actors and drains at the end)."""

from __future__ import annotations

from chemaccel.ray_batch import wave_size


def test_a_wave_grows_with_the_cluster():
    assert wave_size(2) == 32  # this machine: the floor
    assert wave_size(4) == 32
    assert wave_size(16) == 128  # a lent GPU machine's 16 cores
    assert wave_size(64) == 512
    assert wave_size(0) == 32  # a cluster that reports no CPU yet
