"""The processes that run the text stages for the default `process` runner.

Prefect's task runs stay in threads of the flow process, where orchestrating one costs
little; each hands its batch to the run's `StagePool` of worker processes, which the
executor (run/orchestration/executor.py) owns and hands to the task. The workers never import
Prefect: a fork server that has imported only the stage code forks them (spawned where
there is no fork server), so they are ready in a fraction of a second, and the pool
starts them as the run starts, while the source is listed. A worker that dies breaks the
pool: its batches fail (the executor runs them again) and the next batch gets a fresh pool.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from typing import Protocol, TypeVar

import fsspec.config

from newsprep.config import RunOptions
from newsprep.lifeline import bind_to_parent, quiet_interrupts
from newsprep.run.engine.batch import Job, process_batch
from newsprep.run.engine.forkserver import fork_context
from newsprep.run.engine.shard import ShardGroup, ShardJob, ShardOutcome, run_group
from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.refs import ArticleRef
from newsprep.tasks.io.stores import forget_listings

T = TypeVar("T")
IO_BOUND_OVERSUBSCRIPTION = 2  # units at once per worker when SOURCE or DEST is remote


def _start_worker(
    lang: str, environ: dict[str, str], fsspec_conf: dict, flow_pid: int
) -> None:
    """Each worker sees the flow process's environment and fsspec settings (credentials,
    --storage-option) as they are when the pool starts, not as they were when the fork
    server started; then builds the tokenizer before the first batch arrives.

    A worker forked by the fork server ends when the fork server does."""
    if os.getppid() != flow_pid:  # the single-threaded fork server is its parent
        bind_to_parent(os.getppid())
    sys.unraisablehook = quiet_interrupts  # Ctrl-C reaches the workers too
    os.environ.clear()
    os.environ.update(environ)
    fsspec.config.conf.clear()
    fsspec.config.conf.update(fsspec_conf)
    forget_listings()  # a fork of a process that listed them in an earlier run
    from newsprep.tasks.stages.tokenize import moses_tokenizer

    moses_tokenizer(lang)


def _ready() -> None:
    """A no-op: submitting one per worker makes the pool start them all now."""


def units_at_once(options: RunOptions, workers: int, io_bound: bool) -> int:
    """Batches or groups at once (the stage pool's processes, the `thread` runner's
    threads): on an object store a unit waits for its first reads and its last writes
    (and for its slowest retry) while its worker's CPU has nothing to do, so two per core
    fill those waits. A Dask cluster's size is the cluster's."""
    if io_bound and options.runner != "dask":
        return workers * IO_BOUND_OVERSUBSCRIPTION
    return workers


class Workers(Protocol):
    """The run's workers, as the Prefect tasks use them: the stage pool, or a Dask
    cluster (dask_pool.py)."""

    def run(self, refs: Iterable[ArticleRef], index: int, job: Job) -> list[ArticleRecord]: ...
    def run_group(self, group: ShardGroup, sjob: ShardJob) -> list[ShardOutcome]: ...
    def call(self, function: Callable[..., T], *args: object) -> T: ...


class StagePool:
    """Worker processes for the stages; replaced by a fresh pool when one of them dies."""

    def __init__(self, workers: int, lang: str = "en") -> None:
        self.workers, self.lang = workers, lang
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        # groups begun ahead, by name: the executor that runs each, and its future
        self._early: dict[str, tuple[ProcessPoolExecutor, Future[list[ShardOutcome]]]] = {}

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=fork_context(),
                    initializer=_start_worker,
                    initargs=(self.lang, dict(os.environ), fsspec.config.conf, os.getpid()),
                )
            return self._executor

    def start(self) -> None:
        """Start every worker now, without waiting for them to be ready (in a fresh pool
        if one of the workers of the groups begun early died: that one is broken)."""
        executor = self._current()
        try:
            for _ in range(self.workers):
                executor.submit(_ready)
        except BrokenExecutor:
            self._discard(executor)
            fresh = self._current()
            for _ in range(self.workers):
                fresh.submit(_ready)

    def run(self, refs: Iterable[ArticleRef], index: int, job: Job) -> list[ArticleRecord]:
        return self.call(process_batch, tuple(refs), index, job)

    def begin_group(self, group: ShardGroup, sjob: ShardJob) -> Future[list[ShardOutcome]]:
        """Start a group in a worker now; `run_group` of the same group later waits for it
        (newsprep/run/early.py: the groups a run begins before its flow runs)."""
        executor = self._current()
        future = executor.submit(run_group, group, sjob)
        self._early[group.name] = (executor, future)
        return future

    def run_group(self, group: ShardGroup, sjob: ShardJob) -> list[ShardOutcome]:
        early = self._early.pop(group.name, None)
        if early is not None:
            return self._result(*early)
        return self.call(run_group, group, sjob)

    def call(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` in a worker (a module-level function, its arguments and
        result picklable)."""
        executor = self._current()
        return self._result(executor, executor.submit(function, *args))

    def _result(self, executor: ProcessPoolExecutor, future: Future[T]) -> T:
        try:
            return future.result()
        except BrokenExecutor:
            self._discard(executor)
            raise

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        """Drop a broken executor: the next call starts a fresh pool."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self, wait: bool = True) -> None:
        """Stop the pool: what is queued is dropped; with `wait`, what runs finishes first,
        else the workers are killed in it, as a kill -9 of the run would (the next run
        takes it up again), and are gone when this returns."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        # the executor forgets its processes on shutdown; Python 3.11 has no public handle
        workers = [] if wait else list((executor._processes or {}).values())
        executor.shutdown(wait=wait, cancel_futures=True)
        for process in workers:
            process.kill()
        for process in workers:
            process.join()

    def __enter__(self) -> StagePool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
