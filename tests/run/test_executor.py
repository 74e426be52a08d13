"""The executor's parts that need no Prefect server: batch sizes, batches, the queue of
batches to run, the task runners and what a crashed batch becomes. Mapping batches over
real task runs, with a worker that dies, is tested end to end (tests/flows)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prefect.task_runners import ThreadPoolTaskRunner
from run_helpers import file_refs, make_job

from newsprep.config import ConfigError, RunOptions
from newsprep.run.batching import MAX_BATCH_SIZE, auto_batch_size, batches
from newsprep.run.engine.batch import process_batch
from newsprep.run.ledger.records import Batch
from newsprep.run.orchestration.executor import (
    BatchExecutor,
    _Queue,
    batch_units,
    make_pool,
    make_task_runner,
)
from newsprep.run.retry import MAX_BATCH_CRASHES
from newsprep.tasks.io.refs import ArticleRef

LOGGER = logging.getLogger("test")


def refs(count: int) -> list[ArticleRef]:
    return [ArticleRef(id=f"{n}.txt", source="s") for n in range(count)]


def test_batches_are_consecutive_and_numbered() -> None:
    made = list(batches(refs(7), 3))
    assert [(b.index, [r.id for r in b.articles]) for b in made] == [
        (0, ["0.txt", "1.txt", "2.txt"]), (1, ["3.txt", "4.txt", "5.txt"]), (2, ["6.txt"])
    ]
    assert list(batches([], 3)) == []


@pytest.mark.parametrize(
    ("articles", "workers", "size"),
    [(0, 2, 1), (6, 2, 3), (100, 2, 50), (20_000, 2, MAX_BATCH_SIZE), (10_000, 4, 313)],
)
def test_auto_batch_size(articles: int, workers: int, size: int) -> None:
    assert auto_batch_size(articles, workers) == size


def test_the_queue_gives_crashed_batches_first() -> None:
    queue = _Queue(iter(batches(refs(4), 1)))
    first = queue.take(2)
    assert [b.index for b in first] == [0, 1]
    queue.again.append(first[0])
    assert [b.index for b in queue.take(5)] == [0, 2, 3]
    assert not queue.more() and queue.take(1) == []


def test_task_runners() -> None:
    runner = make_task_runner(RunOptions(runner="process"), 3)
    assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 6
    assert make_task_runner(RunOptions(runner="thread"), 3)._max_workers == 3


def test_only_the_process_runner_has_a_pool() -> None:
    assert BatchExecutor(RunOptions(runner="thread"), 2, "en", LOGGER).pool is None
    with BatchExecutor(RunOptions(runner="process"), 1, "en", LOGGER) as executor:
        assert executor.pool is not None
        assert executor.pool._current().submit(sum, [1, 2]).result() == 3


def test_a_batch_crashing_is_run_again_then_its_unfinished_articles_fail(
    source: Path, tmp_path: Path
) -> None:
    job = make_job(source, tmp_path / "out", checkpoint_dir=str(tmp_path / "notes"))
    articles = tuple(file_refs(source))
    finished = process_batch(articles[:2], 5, job)  # before the batch crashed
    batch = Batch(5, articles)
    executor = BatchExecutor(RunOptions(runner="thread"), 1, "en", LOGGER)
    queue = _Queue(iter([]))
    for crash in range(1, MAX_BATCH_CRASHES):
        assert list(executor._crashed(batch, RuntimeError("boom"), queue, batch_units(job))) == []
        assert queue.take(1) == [batch], f"crash {crash} runs it again"
    (outcome,) = executor._crashed(batch, RuntimeError("boom"), queue, batch_units(job))
    assert outcome.index == 5 and queue.take(1) == []
    assert outcome.records[:2] == finished
    assert {(r.status, r.reason, r.detail) for r in outcome.records[2:]} == {
        ("failed", "worker-crash", "RuntimeError: boom")
    }


def test_dask_without_distributed_is_a_configuration_error(monkeypatch) -> None:
    import sys

    monkeypatch.delitem(sys.modules, "newsprep.run.engine.dask_pool", raising=False)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError, match="needs distributed"):
        make_pool(RunOptions(runner="dask"), 1, "en")


def test_a_dask_scheduler_that_does_not_answer_stops_the_run_in_one_line(monkeypatch) -> None:
    """A run on a cluster of its own address asks the scheduler for its size; one that
    does not answer is a configuration error naming it (a run given --workers asks
    nothing)."""
    import socket

    from newsprep.config import RunConfig
    from newsprep.run.engine import dask_pool
    from newsprep.run.orchestration import executor

    monkeypatch.setattr(dask_pool, "CONNECT_SECONDS", 2)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    config = RunConfig(options=RunOptions(runner="dask", dask_address=address))
    with pytest.raises(ConfigError, match=f"the Dask scheduler at {address} cannot be reached"):
        executor.with_cluster_workers(config)
    given = RunConfig(options=RunOptions(runner="dask", dask_address=address, workers=3))
    assert executor.with_cluster_workers(given) is given
