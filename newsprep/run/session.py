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

from newsprep.config import RunConfig
from newsprep.run import lock as dest_lock
from newsprep.run.batching import (
    MAX_BATCH_SIZE,
    auto_batch_size,
    batch_bytes,
    batches,
    cpu_count,
)
from newsprep.run.engine.batch import Job
from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.manifest import (
    SKIPPED_PER_JOURNAL,
    ManifestWriter,
    existing_outputs,
    remove_stale_outputs,
    remove_temp_files,
)
from newsprep.run.ledger.parts import RUN_PART_KEY, OtherLedger, PartPaths
from newsprep.run.ledger.records import ArticleRecord, Batch, BatchOutcome
from newsprep.run.ledger.resume import Resume
from newsprep.run.ledger.summary import (
    RunSummary,
    Tally,
    library_versions,
    redact,
    shrinks_too_much,
)
from newsprep.run.locations import check_apart
from newsprep.run.progress import Progress
from newsprep.run.retry import RetryPolicy
from newsprep.tasks.io.footprint import Footprint
from newsprep.tasks.io.listing import SourceListing, iter_articles
from newsprep.tasks.io.paths import MANIFEST_UNREADABLE
from newsprep.tasks.io.refs import ArticleRef
from newsprep.tasks.io.sinks import output_rules
from newsprep.tasks.io.stores import forget_listings, url_on_local_disk
from newsprep.tasks.stages.fast_tokenize import require_engine


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
        forget_listings()  # a process that ran before (a test's, a deployment's)
        self.dest_fs, self.dest_root = fsspec.url_to_fs(config.dest)
        self.dest_url = self.dest_fs.unstrip_protocol(self.dest_root)
        # an object store (or any filesystem but the local disk) at either end
        self.io_bound = not (url_on_local_disk(config.source) and url_on_local_disk(config.dest))
        self.tally = Tally()
        self.batch_count = 0
        self.removed_early = 0  # stale files in the way of this run's articles
        self.outputs_listed = False  # DEST's files are in the index (plan)
        self._skipped_records: list[ArticleRecord] = []  # journaled a batch at a time

    def __enter__(self) -> RunSession:
        check_apart(self.config.source, self.config.dest)
        self.lock = dest_lock.acquire(self.config.dest)  # the CLI's, when it took one
        try:
            self.index = RunIndex()
        except BaseException:
            dest_lock.release(self.lock)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.index.close()
        finally:
            dest_lock.release(self.lock)

    def plan(self, listing: SourceListing, on_progress: Callable[[float, str], None]) -> Plan:
        """Prepare DEST; the job and the batches of the articles that need work."""
        total = listing.total if listing.countable else None
        rules = output_rules(self.pipeline.output)
        expected = total or MAX_BATCH_SIZE * self.workers
        self.batch_size = (rules.batch_size or self.options.batch_size
                           or auto_batch_size(expected, self.workers))
        self.logger.info(
            "%s articles in batches of up to %d, %d %s workers, profile %s (%s)",
            total if total is not None else "streaming", self.batch_size, self.workers,
            self.options.runner, self.config.profile, self.fingerprint,
        )
        if listing.ignored_count:
            self.logger.info("ignored %d files that are not articles, e.g. %s",
                             listing.ignored_count, listing.ignored[0])
        removed = remove_temp_files(self.dest_fs, self.dest_root)
        if removed:
            self.logger.info("removed %d temp files left by an interrupted run", removed)
        run_part = PartPaths.of(RUN_PART_KEY)
        self.manifest = ManifestWriter(
            self.dest_fs, self.dest_root, self.index,
            (run_part.records, run_part.journal, MANIFEST_UNREADABLE),
        )
        self.other_ledger = OtherLedger(self.dest_fs, self.dest_root, RUN_PART_KEY)
        self.index.add_previous_lines(self.other_ledger.lines(self.manifest.unreadable))
        self.manifest.load_previous()
        for report in self.manifest.unreadable_report():
            self.logger.warning("%s", report)
        may_skip = not self.options.force and rules.per_article
        self.outputs_listed = may_skip  # also without a ledger: files it lost (_account)
        if may_skip:
            self.index.add_outputs(existing_outputs(self.dest_fs, self.dest_root))
        self.progress = Progress(total, self.logger, on_update=on_progress)
        job = self._job(listing.root, checkpoints="batches")
        self.resume = Resume(self.index, self.fingerprint, may_skip, on_skip=self._skipped)
        self.listing = listing
        articles = self.resume.plan(iter_articles(listing, self.pipeline, job.retry))
        if self.index.has_previous():
            articles = self._clear_the_way(articles)
        return Plan(job, batches(articles, self.batch_size, batch_bytes(self.pipeline)))

    def _job(self, source_root: str, checkpoints: str) -> Job:
        """What every batch (or shard) of the run needs; checkpoints in a folder of that
        name in the run's index folder."""
        options = self.options
        return Job(
            source_root=source_root,
            dest_root=self.dest_url,
            pipeline=self.pipeline,
            retry=RetryPolicy(
                options.max_attempts, options.retry_delay_seconds,
                options.max_retry_delay_seconds, options.article_timeout_seconds,
            ),
            checkpoint_dir=str(self.index.directory / checkpoints),
            parity_sample=options.parity_sample,
            article_timeout_seconds=options.article_timeout_seconds,
            quarantine_max_item_bytes=options.quarantine_max_item_bytes,
            quarantine_max_run_bytes=options.quarantine_max_run_bytes,
            quarantine_budget=str(self.index.directory / "quarantine-bytes"),
        )

    def _clear_the_way(self, refs: Iterator[ArticleRef]) -> Iterator[ArticleRef]:
        """Before an article is written: remove what an earlier run wrote where it needs a
        folder or a file (an article `x.txt` that is now a folder `x.txt/`, or the reverse).
        Those files are stale (this run claimed the paths), but would only go at the end,
        after they had made this article an `output-conflict`."""
        for ref in refs:
            stale = self.index.previous_in_the_way(Footprint(ref.id).paths())
            if stale:
                self.removed_early += remove_stale_outputs(self.dest_fs, self.dest_root, stale)
            yield ref

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
        if self.outputs_listed:
            unnamed = [
                path for record in records for path in record.unnamed()
                if self.index.has_output(path)
            ]
            if unnamed:
                self.removed_early += remove_stale_outputs(self.dest_fs, self.dest_root, unnamed)
        for record in records:
            self.tally.add(record)
        self.progress.advance(len(records))

    def _removal_refused(self, gone: int) -> str | None:
        """Why the articles gone from SOURCE must not be removed, or None: SOURCE lists no
        file, or DEST would shrink by more than max_removal_fraction of its articles (an
        empty or wrong SOURCE looks like a deleted corpus; renamed articles do not)."""
        if not gone or self.options.allow_removal:
            return None
        return self._removal_refused_counts(
            self.index.previous_count(), self.tally.total, self.index.file_count()
        )

    def _removal_refused_counts(self, previous: int, now: int, listed: int) -> str | None:
        """The guard on counts: `previous` articles in DEST, `now` in SOURCE, `listed` files."""
        gone = previous - now
        limit = self.options.max_removal_fraction
        if listed == 0:
            why = (f"SOURCE {redact(self.config.source)} lists no file: all {gone} articles "
                   "in DEST would go")
        elif shrinks_too_much(previous, now, limit):
            why = (f"{gone} of DEST's {previous} articles are gone from SOURCE "
                   f"{redact(self.config.source)}, which has {now}: DEST would shrink by more "
                   f"than max_removal_fraction={limit}")
        else:
            return None
        return (f"{why}; kept them, removed none (an empty folder, an unmounted disk or a "
                "wrong prefix looks so); if they are meant to go, run again with "
                "--allow-removal")

    def finish(self) -> RunSummary:
        """Remove what previous runs wrote that no record accounts for any more, write the
        manifest and DEST/_run.json; the run summary.

        Stale files go before the manifest is rewritten: a run killed in between still has
        the previous manifest naming them, so its rerun removes them. The skipped articles'
        records go first: what they name is not stale."""
        self.progress.finish()
        self._journal_skipped()
        kept = self.index.keep_unlisted()
        if kept:
            self.logger.warning(
                "kept the previous records and files of %d articles under folders that "
                "could not be listed", kept,
            )
        gone = self.index.gone_count()
        refused = self._removal_refused(gone)
        if refused:
            self.logger.error("%s", refused)
            self.index.keep_gone()  # then no record of this run makes their files stale
            kept, gone = gone, 0
        else:
            kept = 0
        removed = self.removed_early + remove_stale_outputs(
            self.dest_fs, self.dest_root, self.index.stale_paths()
        )
        if gone or removed:
            self.logger.info(
                "%d articles of the previous run are gone from the source; removed %d files "
                "of articles that are gone or no longer ok", gone, removed,
            )
        self.manifest.compact()
        self.other_ledger.remove()  # its records are in the run's part now
        for warning in self.listing.warnings:
            self.logger.warning("%s", warning)
        return self._summary(
            ignored_count=self.listing.ignored_count, ignored=list(self.listing.ignored),
            warnings=list(self.listing.warnings), changes=self.resume.changes, gone=gone,
            removed=removed, refused=refused, kept=kept,
        )

    def _summary(
        self, ignored_count: int, ignored: list[str], warnings: list[str],
        changes: dict[str, int], gone: int, removed: int, refused: str | None, shards: int = 0,
        kept: int = 0,
    ) -> RunSummary:
        """The run summary, written to DEST/_run.json."""
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
            ignored_files=ignored_count,  # archives add theirs as they are read
            ignored=ignored,
            warnings=warnings,
            counts=dict(tally.statuses),
            changes=changes,
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
            removed_articles=gone,
            removed_files=removed,
            kept_gone=kept,
            removal_refused=refused,
            quarantined=tally.quarantined,
            shards=shards,
        )
        summary.write(self.dest_fs, self.dest_root)
        return summary
