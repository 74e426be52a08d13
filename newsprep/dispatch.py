"""Running batches on a task runner: batch size, the runner, bounded in-flight mapping."""

from __future__ import annotations

import math
import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import BrokenExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from prefect.futures import as_completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote, unmapped

from newsprep.config import ConfigError, RunOptions
from newsprep.tasks.article import ArticleRef, Job, crashed_batch_records
from newsprep.tasks.prefect_tasks import Batch, BatchOutcome, normalize_batch
from newsprep.workers import stage_pool

# A task run costs ~50-100 ms of CPU in the flow process and the server against ~2.5 ms
# of text work per article; past this size a batch only delays progress and retries.
MAX_BATCH_SIZE = 1000
BATCHES_PER_WORKER = 8  # enough batches that no worker idles long at the end
MAX_BATCH_CRASHES = 3  # a batch whose task crashes this often fails its unfinished articles


def cpu_count() -> int:
    """Cores this process may use (its affinity), not the machine's."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def auto_batch_size(articles: int, workers: int) -> int:
    """Large enough that orchestration is noise next to the text work, small enough that
    every worker gets several batches."""
    spread = math.ceil(articles / (workers * BATCHES_PER_WORKER))
    per_worker = math.ceil(articles / workers) if articles else 1
    return max(1, min(MAX_BATCH_SIZE, max(spread, min(50, per_worker))))


def make_task_runner(options: RunOptions, workers: int) -> TaskRunner:
    """Task runs in threads for `process` (the stages run in the stage pool, see
    newsprep/workers.py) and `thread`; on a Dask cluster for `dask`."""
    if options.runner == "process":
        # two task runs per stage-pool worker: each worker's next batch is already queued
        # in the pool while Prefect records the task run that just finished
        return ThreadPoolTaskRunner(max_workers=2 * workers)
    if options.runner == "thread":
        return ThreadPoolTaskRunner(max_workers=workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        message = "runner 'dask' needs prefect-dask: pip install 'newsprep[dask]'"
        raise ConfigError(message) from None
    if options.dask_address:
        return DaskTaskRunner(address=options.dask_address)
    # one single-threaded worker process per core: the stages hold the GIL
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True}
    )


def stage_workers(options: RunOptions, workers: int, lang: str) -> AbstractContextManager:
    """For the `process` runner, the run's stage pool, its workers starting now so they
    are ready when the first batch is; nothing for the other runners."""
    return stage_pool(workers, lang) if options.runner == "process" else nullcontext()


def batches(refs: Iterable[ArticleRef], size: int) -> Iterator[Batch]:
    """Consecutive batches of up to `size` articles, numbered from 0."""
    chunk: list[ArticleRef] = []
    number = 0
    for ref in refs:
        chunk.append(ref)
        if len(chunk) == size:
            yield Batch(number, tuple(chunk))
            chunk, number = [], number + 1
    if chunk:
        yield Batch(number, tuple(chunk))


def run_batches(
    options: RunOptions, workers: int, queue: Iterator[Batch], job: Job, logger: Any
) -> Iterator[BatchOutcome]:
    """Map `normalize_batch` over the batches, at most 2 per worker in flight, yielding
    outcomes as they finish: memory stays flat however large the corpus is.

    A batch whose task crashed (its worker process died, say) runs again, on a fresh
    runner when the crash broke the pool; its checkpoint keeps it from redoing the
    articles it finished. After MAX_BATCH_CRASHES its unfinished articles fail.
    With the `process` runner, call it inside `stage_workers`.
    """
    in_flight = 2 * workers
    # quote: Prefect would walk every article of a batch looking for futures; prefect-dask
    # hands a quoted value to the task as a plain tuple, so not there
    wrap = quote if options.runner != "dask" else (lambda value: value)
    again: deque[Batch] = deque()
    crashes: Counter[int] = Counter()
    exhausted = False
    while again or not exhausted:
        with make_task_runner(options, workers) as runner:
            pending: dict[Any, Batch] = {}
            while pending or again or not exhausted:
                room: list[Batch] = []
                while len(pending) + len(room) < in_flight and (again or not exhausted):
                    if again:
                        room.append(again.popleft())
                    elif (batch := next(queue, None)) is None:
                        exhausted = True
                    else:
                        room.append(batch)
                if room:
                    futures = runner.map(
                        normalize_batch,
                        {"batch": [wrap(b) for b in room], "job": unmapped(wrap(job))},
                    )
                    pending.update(zip(futures, room, strict=True))
                if not pending:
                    break
                done = next(as_completed(list(pending)))
                batch = pending.pop(done)
                try:
                    yield done.result()
                    continue
                except Exception as exc:  # the task crashed, not an article: see records
                    error = f"{type(exc).__name__}: {exc}"
                    crashes[batch.index] += 1
                    logger.warning("batch %d crashed (%s), crash %d of %d", batch.index, error,
                                   crashes[batch.index], MAX_BATCH_CRASHES)
                    if crashes[batch.index] >= MAX_BATCH_CRASHES:
                        records = crashed_batch_records(batch.articles, batch.index, job, error)
                        yield BatchOutcome(batch.index, [r.to_dict() for r in records])
                    else:
                        again.append(batch)
                    if not isinstance(exc, BrokenExecutor):
                        continue
                # the pool is broken: what was in flight with it runs again on a new one
                for future, other in pending.items():
                    try:
                        yield future.result()
                    except Exception:
                        again.append(other)
                break
