"""The processes that run the text stages for the default `process` runner.

Prefect's task runs stay in threads of the flow process, where orchestrating one costs
little; each hands its batch to this pool of spawned worker processes. They import the
stage code and not Prefect, so they start in a fraction of a second and spend their time
on text. A worker that dies breaks the pool: the batch fails (Prefect and the flow run it
again) and the next batch gets a fresh pool.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from contextlib import contextmanager

from newsprep.tasks.article import ArticleRecord, ArticleRef, Job, process_batch
from newsprep.tasks.tokenize import moses_tokenizer


def _warm_up(lang: str) -> None:
    moses_tokenizer(lang)  # build the tokenizer before the first batch arrives


class StagePool:
    def __init__(self, workers: int, lang: str = "en") -> None:
        self.workers, self.lang = workers, lang
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_warm_up,
                    initargs=(self.lang,),
                )
            return self._executor

    def run(self, refs: Iterable[ArticleRef], index: int, job: Job) -> list[ArticleRecord]:
        executor = self._current()
        try:
            return executor.submit(process_batch, tuple(refs), index, job).result()
        except BrokenExecutor:
            with self._lock:
                if self._executor is executor:
                    self._executor = None  # the next batch starts a fresh pool
            executor.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None


_pool: StagePool | None = None


@contextmanager
def stage_pool(workers: int, lang: str = "en") -> Iterator[StagePool]:
    """The pool batches of this run use (see `current`), closed at the end of the run."""
    global _pool
    pool = _pool = StagePool(workers, lang)
    try:
        yield pool
    finally:
        _pool = None
        pool.close()


def current() -> StagePool | None:
    return _pool
