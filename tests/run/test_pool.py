"""The stage pool's worker processes (newsprep/run/pool.py)."""

from __future__ import annotations

import os

import pytest

from newsprep.run.pool import StagePool, start_fork_server


def test_each_pool_gives_its_workers_the_environment_of_its_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fork server outlives a run (it starts once per process); a later run's workers
    must still see that run's environment (credentials, FSSPEC_* options)."""
    start_fork_server()
    with StagePool(2) as pool:
        assert pool._current().submit(os.getenv, "NEWSPREP_POOL_MARK").result() is None
    monkeypatch.setenv("NEWSPREP_POOL_MARK", "second run")
    with StagePool(2) as pool:
        workers = [pool._current().submit(os.getenv, "NEWSPREP_POOL_MARK") for _ in range(4)]
        assert {future.result() for future in workers} == {"second run"}
