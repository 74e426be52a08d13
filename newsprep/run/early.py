"""A `newsprep run`'s first groups of shards, begun while the command imports Prefect.

Importing Prefect and creating the flow run keep one core of the command busy for ~1 s,
and the run's workers have nothing to do until the flow hands out the first groups. So
the command begins the run itself, in a thread (`begin_early_start`): it opens the run's
session, starts the stage pool, plans the shards in the pool's workers, as the flow's
plan would, and begins one group per worker. The flow, started in the same process with
the same config, takes all of it (`take_early_start`) instead of making its own, and the
task runs of those groups wait for them. The groups write what the flow's own would
write, where it would: a run killed before its flow started resumes like any other.

Only the command begins early, and only a run by shards on the stage pool; a
deployment's or the UI's run, and a run by batches, on Dask or on threads, never does.
When beginning early fails, the flow starts the run itself, and reports the same error
where it would have without.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from newsprep.config import RunConfig
from newsprep.run.engine.pool import StagePool, units_at_once
from newsprep.run.engine.shard import ShardGroup, ShardJob
from newsprep.run.planning import plan_shards_in_workers
from newsprep.run.sharded import ShardedSession, by_shards


class _HeldLogger:
    """The session's logger until the flow's takes over: the lines, kept in order."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str, tuple]] = []

    def log(self, level: int, message: str, *args: object, **_: object) -> None:
        self.lines.append((level, message, args))

    def debug(self, message: str, *args: object, **kwargs: object) -> None:
        self.log(logging.DEBUG, message, *args)

    def info(self, message: str, *args: object, **kwargs: object) -> None:
        self.log(logging.INFO, message, *args)

    def warning(self, message: str, *args: object, **kwargs: object) -> None:
        self.log(logging.WARNING, message, *args)

    def error(self, message: str, *args: object, **kwargs: object) -> None:
        self.log(logging.ERROR, message, *args)

    def exception(self, message: str, *args: object, **kwargs: object) -> None:
        self.log(logging.ERROR, message, *args)


class EarlyStart:
    """A run begun by the command: its session (open), stage pool (started), plan, and
    the groups of shards begun in the pool."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.held = _HeldLogger()
        self.session: ShardedSession | None = None
        self.pool: StagePool | None = None
        self.sjob: ShardJob | None = None
        self.groups: list[ShardGroup] = []
        self.error: BaseException | None = None
        self._begun = 0
        self._ended: list[float] = []  # when each begun group ended
        self._thread = threading.Thread(target=self._begin, name="newsprep-early-start")

    def _begin(self) -> None:
        config = self.config
        try:
            session = ShardedSession(config, self.held)
            session.__enter__()
            self.session = session
            workers = units_at_once(config.options, session.workers, session.io_bound)
            self.pool = pool = StagePool(workers, session.pipeline.tokenize.lang)
            pool.start()
            plan = plan_shards_in_workers(
                config.source, config.dest, session.pipeline, pool.call,
                config.options.slice_bytes,
            )
            self.sjob, self.groups = session.plan_shards(plan, on_progress=_no_progress)
            for group in self.groups[:workers]:
                begun = pool.begin_group(group, self.sjob)
                begun.add_done_callback(lambda _: self._ended.append(time.monotonic()))
                self._begun += 1
        except BaseException as exc:  # the flow starts the run itself, and says what failed
            self.error = exc

    def idle_seconds(self) -> float:
        """How long every begun group has been over, the workers waiting for the flow (a
        temporary Prefect server starting, say): time the run's clock leaves out."""
        ended = list(self._ended)
        if not self._begun or len(ended) < self._begun:
            return 0.0
        return max(0.0, time.monotonic() - max(ended))

    def close(self, wait: bool = True) -> None:
        """Give up a run the flow did not take, and close its session. With `wait`, its
        begun groups finish first (the flow then starts the run itself: nothing of this
        one may still be writing); without, its workers are killed in them, as kill -9
        would, and the next run takes them up again."""
        if self.pool is not None:
            self.pool.close(wait=wait)
        if self.session is not None:
            self.session.__exit__(None, None, None)

    def planned(
        self, on_progress: Callable[[float, str], None]
    ) -> tuple[ShardJob, list[ShardGroup]]:
        """`ShardedSession.plan_shards`' result, its progress now reported to the flow's
        logger and `on_progress`."""
        assert self.session is not None and self.sjob is not None
        self.session.progress.report_to(self.session.logger, on_progress)
        return self.sjob, self.groups

    @contextmanager
    def opened(self) -> Iterator[ShardedSession]:
        """The session, as `with ShardedSession(...)` gives it; closed at the end."""
        assert self.session is not None
        try:
            yield self.session
        finally:
            self.session.__exit__(None, None, None)


def _no_progress(percent: float, line: str) -> None:
    """Progress before the flow's report exists: none is heard before the flow runs."""


_waiting: EarlyStart | None = None  # begun by this process's command, not yet taken
_waiting_lock = threading.Lock()


def can_begin_early(config: RunConfig) -> bool:
    return config.options.runner == "process" and by_shards(config)


def begin_early_start(config: RunConfig) -> None:
    """Begin `config`'s run in a thread (see the module's docstring)."""
    global _waiting
    early = EarlyStart(config)
    with _waiting_lock:
        _waiting = early
    early._thread.start()


def take_early_start(config: RunConfig, logger: Any) -> EarlyStart | None:
    """The run this process's command began with this config, now the flow's: its
    session logs to `logger` from here on, and what it logged so far is logged there now.
    None when there is none, or it failed (then it is given up)."""
    global _waiting
    with _waiting_lock:
        early, _waiting = _waiting, None
    if early is None:
        return None
    early._thread.join()
    if early.error is not None or early.config != config:
        early.close()
        return None
    assert early.session is not None
    early.session.logger = logger
    # the run's processing time and rate leave out the wait for the flow, as before
    early.session.skip_clock(early.idle_seconds())
    for level, message, args in early.held.lines:
        logger.log(level, message, *args)
    logger.info("planned, and %d of %d task runs' shards begun, while the command started",
                early._begun, len(early.groups))
    return early


def give_up_early_start() -> None:
    """At the command's end (its flow could not start: no server, Ctrl-C): the run it
    began and no flow took ends here, without waiting for its begun groups, which the
    pool's workers are killed in (a group can be a 64 MiB slice: minutes of work)."""
    global _waiting
    with _waiting_lock:
        early, _waiting = _waiting, None
    if early is not None:
        early._thread.join()
        early.close(wait=False)
