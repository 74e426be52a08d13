"""One batch of articles in a worker: each article read, normalized, written, recorded.

`process_article` adds the I/O around the stage chain (tasks/stages/normalize.py): the
read, the sink, the retry policy's attempts and the quarantine copy, and turns every
outcome into exactly one `ArticleRecord`. It never raises for a bad article.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import fsspec
from fsspec import AbstractFileSystem

from newsprep.config import PipelineConfig
from newsprep.errors import Problem, Rejected
from newsprep.run.engine.inflight import IORequests, WriteBehind, read_ahead
from newsprep.run.ledger.checkpoint import Checkpoint, checkpoint_path, read_checkpoint
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.retry import RetryPolicy
from newsprep.tasks.io.files import read_bytes
from newsprep.tasks.io.refs import CONTAINER_VERDICTS, ArticleRef
from newsprep.tasks.io.sinks import Sink, open_sink, output_rules, quarantine
from newsprep.tasks.io.stores import url_on_local_disk
from newsprep.tasks.io.stream import OpenFolders

if TYPE_CHECKING:
    from newsprep.tasks.stages.normalize import Normalized

logger = logging.getLogger("newsprep")
T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    """What every batch needs to process its articles; small and picklable."""

    source_root: str  # fsspec URL of the source folder
    dest_root: str  # fsspec URL of DEST
    pipeline: PipelineConfig
    retry: RetryPolicy = RetryPolicy()  # noqa: RUF009 - frozen, safe as a default
    checkpoint_dir: str | None = None  # local folder where batches note finished articles
    checkpoint_prefix: str = ""  # their files' names begin so (a shard's own)
    parity_sample: float = 0.0  # share of articles tokenized again with sacremoses
    article_timeout_seconds: float = 300.0  # one article's time limit (main thread)
    quarantine_max_item_bytes: int = 1024 * 1024  # the most one quarantine copy holds
    quarantine_max_run_bytes: int = 256 * 1024 * 1024  # the most all copies of a run hold
    quarantine_budget: str | None = None  # local file: the bytes the run's copies used

    @cached_property
    def fingerprint(self) -> str:
        return self.pipeline.fingerprint()

    @cached_property
    def reference_pipeline(self) -> PipelineConfig:
        """The pipeline with the reference tokenizer, for the parity sample."""
        tokenize = self.pipeline.tokenize.model_copy(update={"engine": "sacremoses"})
        return self.pipeline.model_copy(update={"tokenize": tokenize})

    def source_fs(self) -> AbstractFileSystem:
        return self._filesystems[0][0]

    def dest_fs(self) -> tuple[AbstractFileSystem, str]:
        return self._filesystems[1]

    def overlaps(self) -> bool:
        """Whether requests are worth overlapping: not when both ends are local disks."""
        return not (url_on_local_disk(self.source_root) and url_on_local_disk(self.dest_root))

    def checkpoint_path(self, index: int) -> Path | None:
        """Where batch `index` notes its finished articles; None when the output format
        rebuilds a batch whole (tasks/io/sinks.py, output_rules)."""
        if not output_rules(self.pipeline.output).per_article:
            return None
        return checkpoint_path(self.checkpoint_dir, index, self.checkpoint_prefix)

    def checkpoint(self, index: int) -> Checkpoint:
        return Checkpoint(self.checkpoint_path(index))

    @cached_property
    def _filesystems(self) -> tuple[tuple[AbstractFileSystem, str], tuple[AbstractFileSystem, str]]:
        """Resolved once per process that uses this job, not once per article."""
        return fsspec.url_to_fs(self.source_root), fsspec.url_to_fs(self.dest_root)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_filesystems"}


def process_batch(refs: Iterable[ArticleRef], index: int, job: Job) -> list[ArticleRecord]:
    """Process a batch's articles into one sink (files, or one JSONL shard); the records
    in the articles' order.

    On an object store the reads run ahead and the writes behind the text work
    (newsprep/run/engine/inflight.py). With files output each finished article (its output
    written) is noted in the batch's checkpoint at once, so running the batch again
    after its worker died does not redo it.
    """
    refs = tuple(refs)
    dest_fs, dest_root = job.dest_fs()
    sink = open_sink(job.pipeline.output, dest_fs, dest_root, index)
    records: list[ArticleRecord | None] = [None] * len(refs)
    # a shard's rows are kept in memory in batch order: put them in order, here
    ordered = not output_rules(job.pipeline.output).per_article
    # the folders outlast the I/O threads that read in them
    with (
        OpenFolders() as folders, job.checkpoint(index) as checkpoint,
        IORequests(job.overlaps()) as requests, BatchTimer(),
    ):

        def finished(position: int, record: ArticleRecord) -> None:
            records[position] = record
            checkpoint.note(record)

        writes: WriteBehind[int, ArticleRecord] = WriteBehind(requests, finished)
        todo = []
        for position, ref in enumerate(refs):
            records[position] = checkpoint.done.get(ref.id)
            if records[position] is None:
                todo.append(position)
        def article(position: int, record: ArticleRecord, raw: bytes | None) -> None:
            ref = refs[position]
            result = _normalize(ref, job, record, raw)
            if result is None:
                keep = partial(_quarantine, job, ref, raw, record)
                writes.submit(position, keep, len(raw or b""))
            elif ordered:
                finished(position, _write(ref, job, record, raw, result, sink))
            else:
                write = partial(_write, ref, job, record, raw, result, sink)
                writes.submit(position, write, 2 * len(result.text))

        seconds = job.article_timeout_seconds
        if not requests.overlap:  # inline: one limit for the read, text work and write
            for position in todo:
                with ArticleLimit(seconds):
                    article(position, *_read(refs[position], job, folders))
        else:  # reads ahead and writes behind in I/O threads, without a timer
            reads = read_ahead(
                todo, lambda position: _read(refs[position], job, folders),
                lambda p: _size(refs[p], job), requests, in_order=ordered,
            )
            for position, (record, raw) in reads:
                with ArticleLimit(seconds):
                    article(position, record, raw)
        writes.drain()
    written = [r for r in records if r.status == "ok"]
    try:
        _retrying(sink.close, job)
    except Exception as exc:
        for record in written:
            record.set_problem(Problem("failed", "write-error", f"{type(exc).__name__}: {exc}"))
            record.output = record.sha256 = record.highlights = None
    return records


def crashed_batch_records(
    refs: Iterable[ArticleRef], index: int, job: Job, error: str
) -> list[ArticleRecord]:
    """Records for a batch that kept crashing: what it finished stands, the rest failed."""
    done = read_checkpoint(job.checkpoint_path(index))
    records = []
    for ref in refs:
        record = done.get(ref.id)
        if record is None:
            record = ArticleRecord.start(ref, job.fingerprint)
            record.set_problem(Problem("failed", "worker-crash", error))
        records.append(record)
    return records


class ArticleTimeout(Exception):
    """An article ran past `article_timeout_seconds`."""


# Writing a path whose folder is a file (or a folder where the file goes): the same every try.
_PATH_CONFLICTS = (NotADirectoryError, IsADirectoryError, FileExistsError)


class TimeLimit:
    """A step of an article (its read, text work or write): `ArticleTimeout` is raised in
    it once the article's `ArticleLimit` has passed. Outside one, the step is limited on
    its own, as long as `seconds`. Timer signals work only in a process's main thread (as
    in the stage pool's workers); elsewhere there is no limit. Classes, not generators:
    they run for every article."""

    _installed = False  # the SIGALRM handler, once per process
    _seconds = 0.0  # the limit in force, for the message
    _deadline: float | None = None  # when the limit in force passes (time.monotonic)
    _article = False  # an ArticleLimit is in force: steps only say when they run
    _in_step = False  # the alarm raises only inside a step
    _expired = False  # the alarm came between steps: the next step ends at once
    _fires_at: float | None = None  # when the process's armed timer fires; None: not armed
    _batch = False  # inside a BatchTimer: the timer is left armed between articles

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> None:
        if not self.armed:
            return
        TimeLimit._in_step = True  # before looking at _expired: an alarm now raises
        if TimeLimit._article:
            if TimeLimit._expired:
                TimeLimit._in_step = False
                raise ArticleTimeout(_message())
            return
        _start_limit(self.seconds)

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            TimeLimit._in_step = False
            if not TimeLimit._article:
                _end_limit()


class ArticleLimit:
    """One limit for all of an article's steps in this thread (see `TimeLimit`). Inside a
    `BatchTimer` it costs no system call: the batch's timer, when it fires, either ends
    the article in force or is set again for that article's deadline."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> None:
        if self.armed:
            TimeLimit._expired = False
            TimeLimit._article = True
            _start_limit(self.seconds)

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            _end_limit()
            TimeLimit._article = TimeLimit._in_step = TimeLimit._expired = False


class BatchTimer:
    """A batch's articles share the process's timer: it is set at most once an article's
    limit (usually once a batch), not twice an article, and disarmed when the batch ends.
    A timer is not inherited by a forked process."""

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            TimeLimit._batch = True

    def __exit__(self, *exc: object) -> None:
        if TimeLimit._batch:
            TimeLimit._batch = False
            _disarm()


def _start_limit(seconds: float) -> None:
    TimeLimit._seconds = seconds
    TimeLimit._deadline = deadline = time.monotonic() + seconds
    fires_at = TimeLimit._fires_at
    if fires_at is None or fires_at > deadline:  # else it is set again when it fires
        _arm(seconds)


def _end_limit() -> None:
    TimeLimit._deadline = None
    if not TimeLimit._batch:
        _disarm()


def _arm(seconds: float) -> None:
    if not TimeLimit._installed:
        signal.signal(signal.SIGALRM, _alarm)
        TimeLimit._installed = True
    TimeLimit._fires_at = time.monotonic() + seconds
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _disarm() -> None:
    if TimeLimit._fires_at is not None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        TimeLimit._fires_at = None


def _alarm(signum: int, frame: object) -> None:
    TimeLimit._fires_at = None
    deadline = TimeLimit._deadline
    if deadline is None:  # no limit in force (a batch between articles)
        return
    left = deadline - time.monotonic()
    if left > 0:  # armed for an earlier article: wait for this one's deadline
        _arm(left)
        return
    if not TimeLimit._in_step:  # between steps: not in code that could take it
        TimeLimit._expired = True
        return
    raise ArticleTimeout(_message())


def _message() -> str:
    return f"still running after {TimeLimit._seconds:g} s (article_timeout_seconds)"


def _timed_out(record: ArticleRecord, exc: ArticleTimeout) -> None:
    record.set_problem(Problem("failed", "timeout", str(exc)))
    logger.warning("%s: %s", record.id, exc)


def process_article(ref: ArticleRef, job: Job, sink: Sink) -> ArticleRecord:
    """Read, normalize and hand one article to the sink; the record says how it ended."""
    with ArticleLimit(job.article_timeout_seconds):
        record, raw = _read(ref, job)
        result = _normalize(ref, job, record, raw)
        if result is None:
            return _quarantine(job, ref, raw, record)
        return _write(ref, job, record, raw, result, sink)


def _read(
    ref: ArticleRef, job: Job, folders: OpenFolders | None = None
) -> tuple[ArticleRecord, bytes | None]:
    """The article's new record and its bytes, read with its retry budget (local files
    in `folders`, a batch's folders kept open); never raises: a read that failed is a
    problem on the record."""
    record = ArticleRecord.start(ref, job.fingerprint)
    if ref.problem is not None:  # found while discovering: nothing to process
        record.set_problem(ref.problem)
        if ref.data is None and ref.path is not None and ref.problem.reason in _NAME_PROBLEMS:
            return record, _bytes_to_quarantine(ref, job, record, folders)
        if ref.data is None and ref.path is not None and ref.problem.reason in CONTAINER_VERDICTS:
            return record, _container_to_quarantine(ref, job, record, folders)
        return record, ref.data
    if ref.data is not None:
        return record, ref.data
    try:
        with TimeLimit(job.article_timeout_seconds):
            raw = _read_source(ref, job, record, folders)
        return record, raw
    except Rejected as exc:
        record.set_problem(exc.problem)
    except ArticleTimeout as exc:
        _timed_out(record, exc)
    except PermissionError as exc:  # the same on every try: the file's, not the run's
        record.set_problem(Problem("rejected", "permission-denied", f"{exc}"))
    except Exception as exc:
        record.set_problem(Problem("failed", "read-error", f"{type(exc).__name__}: {exc}"))
    return record, None


def _read_source(
    ref: ArticleRef, job: Job, record: ArticleRecord, folders: OpenFolders | None = None
) -> bytes:
    """The file's bytes, at most `fetch.max_bytes`, with the article's retry budget."""
    source_fs, max_bytes = job.source_fs(), job.pipeline.fetch.max_bytes
    return _retrying(
        lambda: read_bytes(source_fs, ref.path, max_bytes, job.source_root, folders), job,
        record,
    )


def _size(ref: ArticleRef, job: Job) -> int:
    """Bytes a read of this article may hold: its listed size, else the most it may be."""
    if ref.path is None:
        return len(ref.data or b"")
    return ref.size if ref.size is not None else job.pipeline.fetch.max_bytes


def _normalize(
    ref: ArticleRef, job: Job, record: ArticleRecord, raw: bytes | None
) -> Normalized | None:
    """The article's text, or None with the problem on its record."""
    # imported where it runs: a worker has it from the fork server already; the flow
    # process, which imports this module too, does not load the stages it never runs
    from newsprep.tasks.stages.normalize import normalize_text, parity

    if record.reason is not None:  # not read, or found bad while discovering
        return None
    try:
        with TimeLimit(job.article_timeout_seconds):
            result = normalize_text(raw, job.pipeline, ref.format, ref.highlights)
    except Rejected as exc:
        record.set_problem(exc.problem)
        return None
    except ArticleTimeout as exc:
        _timed_out(record, exc)
        return None
    except Exception as exc:
        record.set_problem(Problem("failed", "normalize-error", f"{type(exc).__name__}: {exc}"))
        logger.exception("unexpected error normalizing %s", ref.id)
        return None
    record.tokens, record.fixes = result.tokens, list(result.fixes)
    record.sha256 = hashlib.sha256(result.text.encode("utf-8")).hexdigest()
    if job.parity_sample and in_sample(ref.id, job.parity_sample):
        record.parity = parity(raw, result, job.reference_pipeline, ref.format, ref.highlights)
    return result


def _write(
    ref: ArticleRef, job: Job, record: ArticleRecord, raw: bytes | None, result: Normalized,
    sink: Sink,
) -> ArticleRecord:
    """Hand the text to the sink with the article's retry budget; never raises."""
    try:
        with TimeLimit(job.article_timeout_seconds):
            put = _retrying(lambda: sink.put(ref, result), job, record)
        record.output, record.highlights = put
        return record
    except _PATH_CONFLICTS as exc:
        # DEST holds a file where a folder must go (or the reverse): no retry helps
        problem = Problem("rejected", "output-conflict", f"{type(exc).__name__}: {exc}")
    except ArticleTimeout as exc:
        problem = Problem("failed", "timeout", str(exc))
    except Exception as exc:
        problem = Problem("failed", "write-error", f"{type(exc).__name__}: {exc}")
    record.set_problem(problem)
    record.tokens, record.sha256, record.fixes, record.parity = None, None, [], None
    return _quarantine(job, ref, raw, record)


# Rejections of a file for its name or place, found while discovering: its bytes are fine,
# and are copied to the quarantine like any rejected article's.
_NAME_PROBLEMS = frozenset({"duplicate-id", "output-conflict", "unsafe-id", "path-too-long"})


def _bytes_to_quarantine(
    ref: ArticleRef, job: Job, record: ArticleRecord, folders: OpenFolders | None = None
) -> bytes | None:
    """A file's bytes for its quarantine copy; None (said in the detail) when it cannot
    be read: too large, not a file any more, an I/O error past its retries."""
    try:
        return _read_source(ref, job, record, folders)
    except Exception as exc:
        _no_quarantine_copy(record, exc)
        return None


def _container_to_quarantine(
    ref: ArticleRef, job: Job, record: ArticleRecord, folders: OpenFolders | None = None
) -> bytes | None:
    """A JSONL file's or archive's bytes for the quarantine copy of its verdict; a file over
    `quarantine_max_item_bytes` is not read again (said in the detail)."""
    limit = job.quarantine_max_item_bytes
    if ref.size is not None and ref.size > limit:
        _no_quarantine_copy(record, f"{ref.size} bytes, over quarantine_max_item_bytes={limit}")
        return None
    return _bytes_to_quarantine(ref, job, record, folders)


def in_sample(article_id: str, fraction: float) -> bool:
    """The same articles every run: a hash of the id, not a random draw."""
    digest = hashlib.sha256(article_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


def _retrying(call: Callable[[], T], job: Job, record: ArticleRecord | None = None) -> T:
    """An I/O call with the article's retry budget; attempts are counted on its record."""

    def count(attempt: int, error: BaseException) -> None:
        what = record.id if record is not None else "batch output"
        logger.info("retrying %s after %s: %s", what, type(error).__name__, error)
        if record is not None:
            record.attempts = attempt

    first = record.attempts if record is not None else 1
    return job.retry.call(call, first, count)


def _quarantine(
    job: Job, ref: ArticleRef, raw: bytes | None, record: ArticleRecord
) -> ArticleRecord:
    """Copy the bytes of an article that did not end ok to DEST/_quarantine/ (best effort),
    within the run's quarantine limits: past them the record keeps the size and sha256."""
    if raw is None:
        return record
    over = _over_quarantine_limits(job, len(raw))
    if over:
        digest = hashlib.sha256(raw).hexdigest()
        _no_quarantine_copy(record, f"{len(raw)} bytes, sha256 {digest}; {over}")
        return record
    dest_fs, dest_root = job.dest_fs()
    try:
        record.quarantine = quarantine(dest_fs, dest_root, ref.id, raw, record.to_dict())
    except Exception as exc:
        _no_quarantine_copy(record, exc)
        logger.warning("could not quarantine %s: %s", ref.id, exc)
    return record


def _over_quarantine_limits(job: Job, size: int) -> str | None:
    """Which quarantine limit a copy of `size` bytes would pass (None: it is taken from the
    run's budget). The budget is a count in a local file shared by the run's processes,
    under a lock; a worker that cannot reach it (a remote Dask worker) counts alone."""
    if size > job.quarantine_max_item_bytes:
        return f"over quarantine_max_item_bytes={job.quarantine_max_item_bytes}"
    limit = job.quarantine_max_run_bytes
    try:
        if job.quarantine_budget is None:
            raise FileNotFoundError
        with open(job.quarantine_budget, "a+b") as budget:
            fcntl.flock(budget, fcntl.LOCK_EX)
            budget.seek(0)
            used = int(budget.read() or 0)
            if used + size > limit:
                return f"the run's quarantine_max_run_bytes={limit} are used up"
            budget.seek(0)
            budget.truncate()
            budget.write(str(used + size).encode())
    except (OSError, ValueError):
        global _USED_HERE
        if _USED_HERE + size > limit:
            return f"the run's quarantine_max_run_bytes={limit} are used up"
        _USED_HERE += size
    return None


_USED_HERE = 0  # quarantine bytes of this process, when the run's budget file is out of reach


def _no_quarantine_copy(record: ArticleRecord, why: BaseException | str) -> None:
    what = why if isinstance(why, str) else f"{type(why).__name__}: {why}"
    note = f"no quarantine copy: {what}"
    record.detail = f"{record.detail}; {note}" if record.detail else note
