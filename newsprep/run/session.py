"""A run's bookkeeping around its batches: plan what to do, account for what was done.

`RunSession.plan` prepares DEST (temp files of a killed run, the previous manifest, what
is already written) and turns the listing into batches of the articles that need work;
`record` journals each finished batch; `finish` writes the manifest and the run summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import fsspec
from fsspec.implementations.local import LocalFileSystem

from newsprep.config import RunConfig
from newsprep.run.batch import Job
from newsprep.run.executor import MAX_BATCH_SIZE, auto_batch_size, batches, cpu_count
from newsprep.run.index import RunIndex
from newsprep.run.manifest import (
    SKIPPED_PER_JOURNAL,
    ManifestWriter,
    existing_outputs,
    remove_temp_files,
)
from newsprep.run.progress import Progress
from newsprep.run.records import ArticleRecord, Batch, BatchOutcome
from newsprep.run.report import library_versions
from newsprep.run.resume import Resume
from newsprep.run.retry import RetryPolicy
from newsprep.run.summary import RunSummary, Tally, redact
from newsprep.tasks.io.listing import SourceListing, iter_articles
from newsprep.tasks.stages.tokenize import require_engine


class Plan(NamedTuple):
    job: Job
    batches: Iterator[Batch]


class RunSession:
    """One run of the normalize-corpus flow, from its config to its summary."""

    def __init__(self, config: RunConfig, logger: Any) -> None:
        self.config, self.options, self.logger = config, config.options, logger
        self.pipeline = config.pipeline()
        self.engine_versions = require_engine(self.pipeline.tokenize)
        self.fingerprint = self.pipeline.fingerprint()
        self.workers = self.options.workers or cpu_count()
        self.started_at, self._started = datetime.now(UTC), time.monotonic()
        self.dest_fs, self.dest_root = fsspec.url_to_fs(config.dest)
        self.dest_url = self.dest_fs.unstrip_protocol(self.dest_root)
        # an object store (or any filesystem but the local disk) at either end
        self.io_bound = not all(
            isinstance(fsspec.url_to_fs(url)[0], LocalFileSystem)
            for url in (config.source.rsplit("::", 1)[-1], config.dest)
        )
        self.tally = Tally()
        self.batch_count = 0
        self._skipped_records: list[ArticleRecord] = []  # journaled a batch at a time

    def __enter__(self) -> RunSession:
        self.index = RunIndex()
        return self

    def __exit__(self, *exc: object) -> None:
        self.index.close()

    def plan(self, listing: SourceListing, on_progress: Callable[[float, str], None]) -> Plan:
        """Prepare DEST; the job and the batches of the articles that need work."""
        total = listing.total if listing.countable else None
        if self.pipeline.output.format == "jsonl":
            self.batch_size = self.pipeline.output.shard_size  # not by the worker count
        else:
            expected = total or MAX_BATCH_SIZE * self.workers
            self.batch_size = self.options.batch_size or auto_batch_size(expected, self.workers)
        self.logger.info(
            "%s articles in batches of up to %d, %d %s workers, profile %s (%s)",
            total if total is not None else "streaming", self.batch_size, self.workers,
            self.options.runner, self.config.profile, self.fingerprint,
        )
        self.ignored_count = listing.ignored_count
        if listing.ignored_count:
            self.logger.info("ignored %d files that are not articles, e.g. %s",
                             listing.ignored_count, listing.ignored[0])
        removed = remove_temp_files(self.dest_fs, self.dest_root)
        if removed:
            self.logger.info("removed %d temp files left by an interrupted run", removed)
        self.manifest = ManifestWriter(self.dest_fs, self.dest_root, self.index)
        self.manifest.load_previous()
        # JSONL shards are rewritten whole, so only per-file output can skip articles
        may_skip = not self.options.force and self.pipeline.output.format == "files"
        if may_skip and self.index.has_previous():
            self.index.add_outputs(existing_outputs(self.dest_fs, self.dest_root))
        self.progress = Progress(total, self.logger, on_update=on_progress)
        job = Job(
            source_root=listing.root,
            dest_root=self.dest_url,
            pipeline=self.pipeline,
            retry=RetryPolicy(self.options.max_attempts, self.options.retry_delay_seconds),
            checkpoint_dir=str(self.index.directory / "batches"),
            parity_sample=self.options.parity_sample,
        )
        self.resume = Resume(self.index, self.fingerprint, may_skip, on_skip=self._skipped)
        articles = self.resume.plan(iter_articles(listing, self.pipeline))
        return Plan(job, batches(articles, self.batch_size))

    def _skipped(self, record: ArticleRecord) -> None:
        """An unchanged article: counted now, journaled with others, SKIPPED_PER_JOURNAL
        at a time (one journal object for them on an object store)."""
        self._skipped_records.append(record)
        self.tally.add(record)
        self.progress.advance(1)
        if len(self._skipped_records) >= SKIPPED_PER_JOURNAL:
            self._journal_skipped()

    def _journal_skipped(self) -> None:
        self.manifest.append(self._skipped_records)
        self._skipped_records = []

    def record(self, outcome: BatchOutcome) -> None:
        """A finished batch: journaled, counted, reported as progress."""
        self._account(outcome.records)
        self.batch_count += 1

    def _account(self, records: list[ArticleRecord]) -> None:
        self.manifest.append(records)
        for record in records:
            self.tally.add(record)
        self.progress.advance(len(records))

    def finish(self) -> RunSummary:
        """Write the manifest and DEST/_run.json; the run summary."""
        self._journal_skipped()
        self.manifest.compact()
        seconds = time.monotonic() - self._started
        tally, options = self.tally, self.options
        summary = RunSummary(
            source=redact(self.config.source),
            dest=redact(self.config.dest),
            profile=self.config.profile,
            overrides=self.config.overrides,
            config_fingerprint=self.fingerprint,
            pipeline=self.pipeline.model_dump(mode="json"),
            options=options.model_dump(mode="json"),
            discovered=tally.total,
            ignored_files=self.ignored_count,
            counts=dict(tally.statuses),
            changes=self.resume.changes,
            reasons=tally.top_reasons(),
            examples=dict(tally.examples),
            parity=dict(tally.parity) if options.parity_sample else None,
            batches=self.batch_count,
            batch_size=self.batch_size,
            workers=self.workers,
            started_at=self.started_at.isoformat(timespec="seconds"),
            seconds=round(seconds, 3),
            articles_per_second=round(tally.total / seconds, 1) if seconds else None,
            versions={**library_versions(), **self.engine_versions},
        )
        summary.write(self.dest_fs, self.dest_root)
        return summary
