"""The cached default QM9 store that `chemaccel property evaluate` uses when --data is left out."""

import pytest

from chemaccel.reporting import RecordingReporter


def test_default_store_is_built_once_in_the_cache(tmp_path, monkeypatch):
    pytest.importorskip("qm9pack", reason="qm9pack (chemaccel[qm9]) holds QM9")
    import chemaccel.datasets.qm9 as qm9

    monkeypatch.setenv("CHEMACCEL_CACHE", str(tmp_path / "cache"))
    calls = []
    real = qm9.convert_qm9

    def small(path, **kwargs):
        calls.append(path)
        return real(path, limit=50, **kwargs)

    monkeypatch.setattr(qm9, "convert_qm9", small)
    reporter = RecordingReporter()
    first = qm9.default_qm9_store(reporter)
    assert first == tmp_path / "cache" / "qm9.h5" and first.is_file()
    assert any("building the QM9 store" in m for m in reporter.messages)
    assert qm9.default_qm9_store() == first and len(calls) == 1  # reused, not rebuilt
    assert set(qm9.read_qm9_split(first)) >= {"train", "valid", "test"}
