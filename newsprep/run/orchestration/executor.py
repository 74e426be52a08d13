"""The executor: shards (or batches) as mapped Prefect task runs on the run's task runner.

It owns the run's workers (the `process` runner's stage pool, the `dask` runner's
cluster) and hands them to each task; it keeps at most two units per worker in flight,
so memory stays flat however large the corpus is, and runs a crashed unit again as the
retry policy says (newsprep/run/retry.py).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote, unmapped

from newsprep.config import ConfigError, RunConfig, RunOptions
from newsprep.run.engine.batch import Job, crashed_batch_records
from newsprep.run.engine.pool import StagePool, units_at_once
from newsprep.run.engine.shard import ShardGroup, ShardJob, ShardOutcome, crashed_group
from newsprep.run.ledger.records import Batch, BatchOutcome
from newsprep.run.orchestration.prefect_tasks import normalize_batch, normalize_shards
from newsprep.run.retry import MAX_BATCH_CRASHES

if TYPE_CHECKING:
    from newsprep.run.engine.dask_pool import DaskPool

WAIT_SECONDS = 2.0  # how often a run hears of its unfinished shards' progress


def make_task_runner(options: RunOptions, workers: int) -> TaskRunner:
    """Task runs in the flow's threads: with `process` and `dask` each hands its unit to
    the run's workers (the stage pool, the Dask cluster) and waits, two a worker so that
    the next one is queued while Prefect records the one that just finished; with
    `thread` each runs its unit itself."""
    if options.runner == "thread":
        return ThreadPoolTaskRunner(max_workers=workers)
    return ThreadPoolTaskRunner(max_workers=2 * workers)


def make_pool(options: RunOptions, workers: int, lang: str) -> StagePool | DaskPool | None:
    """The run's workers: the stage pool's processes, a Dask cluster, or none (the
    `thread` runner's task runs do the work)."""
    if options.runner == "process":
        return StagePool(workers, lang)
    if options.runner == "thread":
        return None
    try:
        from newsprep.run.engine.dask_pool import DaskPool
    except ImportError:
        message = "runner 'dask' needs distributed: pip install 'newsprep[dask]'"
        raise ConfigError(message) from None
    return DaskPool(workers, options.dask_address)


def with_cluster_workers(config: RunConfig) -> RunConfig:
    """A run on a Dask cluster of its own (`dask_address`) with no `workers` given takes
    as many workers as the cluster has threads: a run cuts at least a few task runs for
    each worker, so that all of them have work to the end."""
    options = config.options
    if options.runner != "dask" or not options.dask_address or options.workers:
        return config
    from newsprep.run.engine.dask_pool import cluster_threads

    threads = cluster_threads(options.dask_address)
    workers = options.model_copy(update={"workers": max(1, threads)})
    return config.model_copy(update={"options": workers})


class BatchExecutor:
    """Runs a run's batches; a context manager that starts and stops the stage pool.

    With the `process` runner the pool's workers start on entering, so they are ready
    when the first batch is; the other runners have no pool.
    """

    def __init__(
        self, options: RunOptions, workers: int, lang: str, logger: Any, io_bound: bool = False,
        pool: StagePool | None = None,
    ) -> None:
        workers = units_at_once(options, workers, io_bound)
        self.options, self.workers, self.logger = options, workers, logger
        # `pool`: the stage pool the command started ahead of the flow (run/early.py)
        self.pool = pool if pool is not None else make_pool(options, workers, lang)
        self.in_flight = 2 * workers
        self.on_wait: Callable[[], None] | None = None

    def __enter__(self) -> BatchExecutor:
        if self.pool is not None:
            self.pool.start()  # the stage pool's workers, or the Dask cluster's
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.close()

    def run(self, queue: Iterable[Batch], job: Job) -> Iterator[BatchOutcome]:
        """Map `normalize_batch` over the batches, yielding outcomes as they finish.

        A batch whose task crashed runs again (after a broken pool, on a fresh task runner
        and pool, with what was in flight beside it); its checkpoint keeps it from redoing
        the articles it finished. After MAX_BATCH_CRASHES its unfinished articles fail.
        """
        yield from self._run(queue, batch_units(job))

    def run_shards(
        self, groups: Iterable[ShardGroup], sjob: ShardJob
    ) -> Iterator[ShardOutcome]:
        """Map `normalize_shards` over the groups of shards, yielding each shard's outcome
        as its group finishes. A group whose task crashed runs again (its shards' markers,
        checkpoints and journals keep what they finished); after MAX_BATCH_CRASHES each of
        its shards counts as one failed item, its part as it was, and the next run takes
        it again."""
        for outcomes in self._run(groups, shard_units(sjob)):
            yield from outcomes

    def _run(self, queue: Iterable[Any], units: _Units) -> Iterator[Any]:
        state = _Queue(iter(queue))
        while state.more():
            with make_task_runner(self.options, self.workers) as runner:
                yield from self._run_on(runner, state, units)

    def _run_on(self, runner: TaskRunner, state: _Queue, units: _Units) -> Iterator[Any]:
        """Run units on one task runner until none are left or the pool breaks."""
        pending: dict[PrefectFuture, Any] = {}
        while True:
            room = state.take(self.in_flight - len(pending))
            if room:
                pending.update(zip(self._submit(runner, room, units), room, strict=True))
            if not pending:
                return
            done = self._next_done(list(pending))
            unit = pending.pop(done)
            try:
                yield done.result()
                continue
            except Exception as exc:  # the task crashed, not an article: see records
                yield from self._crashed(unit, exc, state, units)
                if not isinstance(exc, BrokenExecutor):
                    continue
            # the pool is broken: what was in flight with it runs again on a new one
            for future, other in pending.items():
                try:
                    yield future.result()
                except Exception:
                    state.again.append(other)
            return

    def _next_done(self, futures: list[PrefectFuture]) -> PrefectFuture:
        """The next future to finish; while none does, `on_wait` is called every
        WAIT_SECONDS (a run by shards reports what its shards have done so far)."""
        while True:
            try:
                return next(as_completed(futures, timeout=WAIT_SECONDS))
            except TimeoutError:
                if self.on_wait is not None:
                    self.on_wait()

    def _submit(self, runner: TaskRunner, room: list[Any], units: _Units) -> list[PrefectFuture]:
        parameters: dict[str, Any] = {
            units.parameter: [quote(unit) for unit in room],
            units.job_parameter: unmapped(quote(units.job)),
        }
        if self.pool is not None:
            parameters["pool"] = unmapped(quote(self.pool))
        return list(runner.map(units.task, parameters))

    def _crashed(self, unit: Any, exc: Exception, state: _Queue, units: _Units) -> Iterator[Any]:
        error = f"{type(exc).__name__}: {exc}"
        name = units.name(unit)
        state.crashes[name] += 1
        crashes = state.crashes[name]
        self.logger.warning(
            "%s crashed (%s), crash %d of %d", name, error, crashes, MAX_BATCH_CRASHES
        )
        if crashes >= MAX_BATCH_CRASHES:
            yield units.given_up(unit, error)
        else:
            state.again.append(unit)


@dataclass(frozen=True)
class _Units:
    """What the executor maps: the task, its parameters' names, the job they share, a
    unit's name (for crash counts and logs), and its outcome when it keeps crashing."""

    task: Any
    parameter: str
    job: Any
    name: Callable[[Any], str]
    given_up: Callable[[Any, str], Any]

    @property
    def job_parameter(self) -> str:
        return "job" if self.parameter == "batch" else "sjob"


def batch_units(job: Job) -> _Units:
    def given_up(batch: Batch, error: str) -> BatchOutcome:
        records = crashed_batch_records(batch.articles, batch.index, job, error)
        return BatchOutcome(batch.index, records)

    return _Units(normalize_batch, "batch", job, lambda b: f"batch {b.index}", given_up)


def shard_units(sjob: ShardJob) -> _Units:
    return _Units(normalize_shards, "shards", sjob, lambda g: g.name, crashed_group)


class _Queue:
    """The units still to run: crashed ones first, then the rest of the stream."""

    def __init__(self, stream: Iterator[Any]) -> None:
        self.stream, self.exhausted = stream, False
        self.again: deque[Any] = deque()
        self.crashes: Counter[str] = Counter()

    def more(self) -> bool:
        return bool(self.again) or not self.exhausted

    def take(self, room: int) -> list[Any]:
        taken: list[Any] = []
        while len(taken) < room and self.more():
            if self.again:
                taken.append(self.again.popleft())
            elif (batch := next(self.stream, None)) is None:
                self.exhausted = True
            else:
                taken.append(batch)
        return taken
