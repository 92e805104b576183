"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: ../shared/data next to the repository root; ``$CHEMACCEL_SHARED_DATA`` overrides it.
SHARED_DATA_ENV = "CHEMACCEL_SHARED_DATA"


def shared_data_dir() -> Path:
    env = os.environ.get(SHARED_DATA_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of public data sets (../shared/data); skips the test when it is absent."""
    folder = shared_data_dir()
    if not folder.is_dir():
        pytest.skip(f"shared data folder {folder} not found (set ${SHARED_DATA_ENV} to its path)")
    return folder


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (training, full data sets) are skipped in CI (``CI=true``)."""
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    skip = pytest.mark.skip(reason="slow test: skipped in CI (CI=true); run locally without CI set")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
