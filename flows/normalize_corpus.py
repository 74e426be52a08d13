"""The `normalize-corpus` flow: discover articles, normalize them in mapped batches, account.

The flow only composes: Prefect tasks list the source and normalize batches
(newsprep.tasks.prefect_tasks); the flow streams articles past the resume check into
batches, journals each finished batch, reports progress, and ends with the manifest, the
run summary and the artifacts.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import fsspec
from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.runtime import flow_run

from newsprep.config import SAMPLE_SOURCE, ProfileName, RunConfig, RunOptions, TokenizerEngine
from newsprep.dispatch import (
    MAX_BATCH_SIZE,
    auto_batch_size,
    batches,
    cpu_count,
    run_batches,
    stage_workers,
)
from newsprep.index import RunIndex
from newsprep.manifest import (
    ManifestWriter,
    existing_outputs,
    remove_temp_files,
    tally,
    write_run_summary,
)
from newsprep.progress import Progress
from newsprep.report import (
    MAX_TABLE_ROWS,
    artifact_key,
    library_versions,
    markdown_report,
    problem_rows,
    redact,
    run_name,
)
from newsprep.resume import Resume
from newsprep.tasks.article import Job
from newsprep.tasks.discover import iter_articles
from newsprep.tasks.prefect_tasks import discover_articles
from newsprep.tasks.tokenize import require_engine


class FailureBudgetExceeded(RuntimeError):
    """More articles failed than `max_failure_rate` allows; everything else was written."""


@flow(
    name="normalize-corpus",
    flow_run_name=lambda: run_name(flow_run.parameters),
    description="Raw news articles in, tokenized lowercased corpus out, with a manifest.",
    validate_parameters=True,
)
def normalize_corpus(
    source: str = SAMPLE_SOURCE,
    dest: str = "out",
    profile: ProfileName = "default",
    overrides: dict[str, Any] | None = None,
    tokenizer_engine: TokenizerEngine | None = None,
    options: RunOptions = RunOptions(),  # noqa: B008 - a frozen model, safe as a default
) -> dict:
    """Normalize every article under `source` into `dest`; returns the run summary.

    Args:
        source: Folder, file or fsspec URL of raw articles (s3://bucket/prefix,
            tar://*.story::s3://bucket/stories.tgz, ...).
        dest: Folder or fsspec URL the corpus, manifest and run summary are written to.
        profile: Named pipeline configuration: default, or cnndm for the CNN/DailyMail format.
        overrides: Profile settings to change, by dotted path, e.g. {"tokenize.lang": "de"}.
        tokenizer_engine: Moses implementation: sacremoses (the reference) or fast (C++);
            empty: the profile's.
        options: How the run executes: batch size, workers, runner, retries, failure budget.
    """
    logger = get_run_logger()
    config = RunConfig(
        source=source,
        dest=dest,
        profile=profile,
        overrides=overrides or {},
        tokenizer_engine=tokenizer_engine,
        options=options,
    )
    pipeline = config.pipeline()
    engine_versions = require_engine(pipeline.tokenize)
    fingerprint = pipeline.fingerprint()
    started_at, started = datetime.now(UTC), time.monotonic()

    workers = options.workers or cpu_count()
    dest_fs, dest_root = fsspec.url_to_fs(config.dest)
    lang = pipeline.tokenize.lang
    with RunIndex() as index, stage_workers(options, workers, lang):
        listing = discover_articles(config.source, config.dest, pipeline, index)
        total = listing.total if listing.countable else None
        if pipeline.output.format == "jsonl":
            size = pipeline.output.shard_size  # shards must not depend on the worker count
        else:
            size = options.batch_size or auto_batch_size(total or MAX_BATCH_SIZE * workers, workers)
        logger.info(
            "%s articles in batches of up to %d, %d %s workers, profile %s (%s)",
            total if total is not None else "streaming", size, workers, options.runner,
            profile, fingerprint,
        )
        if listing.ignored_count:
            logger.info("ignored %d files that are not articles, e.g. %s",
                        listing.ignored_count, listing.ignored[0])

        removed = remove_temp_files(dest_fs, dest_root)
        if removed:
            logger.info("removed %d temp files left by an interrupted run", removed)
        manifest = ManifestWriter(dest_fs, dest_root, index)
        manifest.load_previous()
        # JSONL shards are rewritten whole, so only per-file output can skip articles
        may_skip = not options.force and pipeline.output.format == "files"
        if may_skip and index.has_previous():
            index.add_outputs(existing_outputs(dest_fs, dest_root))

        progress_id = create_progress_artifact(0.0, description="Articles processed")
        progress = Progress(
            total, logger,
            on_update=lambda percent: update_progress_artifact(progress_id, percent),
        )
        job = Job(
            source_root=listing.root,
            dest_root=dest_fs.unstrip_protocol(dest_root),
            pipeline=pipeline,
            max_attempts=options.max_attempts,
            retry_delay_seconds=options.retry_delay_seconds,
            checkpoint_dir=str(index.directory / "batches"),
            parity_sample=options.parity_sample,
        )

        def skipped(record: dict) -> None:
            manifest.append([record])
            progress.advance(1)

        resume = Resume(index, fingerprint, may_skip, on_skip=skipped)
        articles = resume.plan(iter_articles(listing, pipeline))
        count = 0
        for outcome in run_batches(options, workers, batches(articles, size), job, logger):
            manifest.append(outcome.records)
            progress.advance(len(outcome.records))
            count += 1
        manifest.compact()
        result = tally(index.records(), keep_problems=MAX_TABLE_ROWS)
        ignored_count = listing.ignored_count

    seconds = time.monotonic() - started
    summary = {
        "source": redact(config.source),
        "dest": redact(config.dest),
        "profile": profile,
        "overrides": config.overrides,
        "config_fingerprint": fingerprint,
        "pipeline": pipeline.model_dump(mode="json"),
        "options": options.model_dump(mode="json"),
        "discovered": result.total,
        "ignored_files": ignored_count,
        "counts": dict(result.statuses),
        "changes": resume.changes,
        "reasons": dict(result.reasons.most_common()),
        **({"parity": dict(result.parity)} if options.parity_sample else {}),
        "batches": count,
        "batch_size": size,
        "workers": workers,
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "articles_per_second": round(result.total / seconds, 1) if seconds else None,
        "versions": {**library_versions(), **engine_versions},
    }
    write_run_summary(dest_fs, dest_root, summary)
    create_markdown_artifact(
        markdown_report(summary, result.examples, dest_fs.unstrip_protocol(dest_root)),
        key=artifact_key(profile),
        description="normalize-corpus run summary",
    )
    if result.problems:
        create_table_artifact(
            problem_rows(result.problems),
            key=f"{artifact_key(profile)}-problems",
            description=f"Rejected and failed articles ({result.problem_count}; first "
            f"{len(result.problems)} shown)",
        )
    failed = result.statuses["failed"]
    if result.total and failed / result.total > options.max_failure_rate:
        raise FailureBudgetExceeded(
            f"{failed} of {result.total} articles failed, more than max_failure_rate="
            f"{options.max_failure_rate}; see {summary['dest']}/_manifest.jsonl"
        )
    return summary
