"""Shared fixtures: one real Prefect server per test session, paths to the golden pair."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO.parent / "shared" / "golden"
GOLDEN_RAW = GOLDEN / "cnn-xinjiang.raw.txt"
GOLDEN_CNNDM = GOLDEN / "cnn-xinjiang.cnndm.txt"
SAMPLE = REPO / "newsprep" / "sample"


@pytest.fixture(scope="session")
def prefect_server():
    """A real Prefect API server (SQLite, on 127.0.0.1) for the whole session.

    PREFECT_API_URL is also exported, so process-pool workers report to the same server.
    """
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_test_harness(server_startup_timeout=60):
        url = PREFECT_API_URL.value()
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture
def golden_raw() -> Path:
    if not GOLDEN_RAW.exists():
        pytest.fail(f"the golden pair is missing: expected {GOLDEN} beside the repository")
    return GOLDEN_RAW
