"""The `normalize-corpus` flow: discover articles, normalize them in mapped batches, account.

The flow only composes: discovery and batches are Prefect tasks (newsprep.tasks.prefect_tasks);
the flow appends each finished batch's records to the manifest journal, reports progress,
and at the end writes the manifest, the run summary and a markdown artifact.
"""

from __future__ import annotations

import math
import platform
import re
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import BrokenExecutor
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import fsspec
from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import unmapped

from newsprep.config import SAMPLE_SOURCE, ConfigError, ProfileName, RunConfig, RunOptions
from newsprep.index import RunIndex
from newsprep.manifest import (
    ManifestWriter,
    existing_outputs,
    remove_temp_files,
    tally,
    unchanged,
    write_run_summary,
)
from newsprep.progress import Progress
from newsprep.tasks.article import ArticleRef, Job, crashed_batch_records
from newsprep.tasks.discover import iter_articles
from newsprep.tasks.prefect_tasks import Batch, BatchOutcome, discover_articles, normalize_batch

MAX_BATCH_SIZE = 500  # past this a batch only delays progress reports and retries
BATCHES_PER_WORKER = 8  # enough batches that no worker idles long at the end
MAX_TABLE_ROWS = 500  # rows of the rejected/failed table artifact
MAX_BATCH_CRASHES = 3  # a batch whose task crashes this often fails its unfinished articles


class FailureBudgetExceeded(RuntimeError):
    """More articles failed than `max_failure_rate` allows; everything else was written."""


def auto_batch_size(articles: int, workers: int) -> int:
    """Large enough that orchestration (~10-50 ms per task run) is noise next to the text
    work (~5 ms per article), small enough that every worker gets several batches."""
    spread = math.ceil(articles / (workers * BATCHES_PER_WORKER))
    per_worker = math.ceil(articles / workers) if articles else 1
    return max(1, min(MAX_BATCH_SIZE, max(spread, min(50, per_worker))))


def make_task_runner(options: RunOptions, workers: int) -> TaskRunner:
    if options.runner == "thread":
        return ThreadPoolTaskRunner(max_workers=workers)
    if options.runner == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise ConfigError(
                "runner 'dask' needs prefect-dask: pip install 'newsprep[dask]'"
            ) from None
        if options.dask_address:
            return DaskTaskRunner(address=options.dask_address)
        # one single-threaded worker process per core: the stages hold the GIL
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True}
        )
    return ProcessPoolTaskRunner(max_workers=workers)


def library_versions() -> dict[str, str]:
    names = ("newsprep", "prefect", "ftfy", "sacremoses", "fsspec", "s3fs", "pydantic")
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except Exception:
            found[name] = "not installed"
    return found


@flow(
    name="normalize-corpus",
    flow_run_name=lambda: _run_name(flow_run.parameters),
    description="Raw news articles in, tokenized lowercased corpus out, with a manifest.",
    validate_parameters=True,
)
def normalize_corpus(
    source: str = SAMPLE_SOURCE,
    dest: str = "out",
    profile: ProfileName = "default",
    overrides: dict[str, Any] | None = None,
    options: RunOptions = RunOptions(),  # noqa: B008 - a frozen model, safe as a default
) -> dict:
    """Normalize every article under `source` into `dest`; returns the run summary.

    Args:
        source: Folder, file or fsspec URL of raw articles (s3://bucket/prefix,
            tar://*.story::s3://bucket/stories.tgz, ...).
        dest: Folder or fsspec URL the corpus, manifest and run summary are written to.
        profile: Named pipeline configuration: default, or cnndm for the CNN/DailyMail format.
        overrides: Profile settings to change, by dotted path, e.g. {"tokenize.lang": "de"}.
        options: How the run executes: batch size, workers, runner, retries, failure budget.
    """
    logger = get_run_logger()
    config = RunConfig(
        source=source, dest=dest, profile=profile, overrides=overrides or {}, options=options
    )
    pipeline = config.pipeline()
    fingerprint = pipeline.fingerprint()
    started_at, started = datetime.now(UTC), time.monotonic()

    workers = options.workers or _cpu_count()
    dest_fs, dest_root = fsspec.url_to_fs(config.dest)
    with RunIndex() as index:
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
        )
        # new: not in the last manifest; changed: its bytes or the config differ;
        # retried: it did not end ok last time; skipped: unchanged and already written.
        changes = {"new": 0, "changed": 0, "retried": 0, "skipped": 0}

        def to_process() -> Iterator[ArticleRef]:
            """Articles that need work; unchanged ones are recorded as skipped here."""
            for ref in iter_articles(listing, pipeline):
                before = index.previous(ref.id)
                if may_skip and unchanged(before, ref.signature, fingerprint, index):
                    changes["skipped"] += 1
                    manifest.append([{**before, "status": "skipped", "attempts": 0}])
                    progress.advance(1)
                    continue
                if before is None:
                    changes["new"] += 1
                elif (before.get("signature"), before.get("fingerprint")) == (
                    ref.signature, fingerprint,
                ):
                    changes["retried"] += 1
                else:
                    changes["changed"] += 1
                yield ref

        batches = (
            Batch(number, tuple(refs)) for number, refs in enumerate(chunked(to_process(), size))
        )
        count = 0
        for outcome in run_batches(options, workers, batches, job, logger):
            manifest.append(outcome.records)
            progress.advance(len(outcome.records))
            count += 1
        manifest.compact()
        result = tally(index.records(), keep_problems=MAX_TABLE_ROWS)
        ignored_count = listing.ignored_count

    seconds = time.monotonic() - started
    summary = {
        "source": _redact(config.source),
        "dest": _redact(config.dest),
        "profile": profile,
        "overrides": config.overrides,
        "config_fingerprint": fingerprint,
        "pipeline": pipeline.model_dump(mode="json"),
        "options": options.model_dump(mode="json"),
        "discovered": result.total,
        "ignored_files": ignored_count,
        "counts": dict(result.statuses),
        "changes": changes,
        "reasons": dict(result.reasons.most_common()),
        "batches": count,
        "batch_size": size,
        "workers": workers,
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "articles_per_second": round(result.total / seconds, 1) if seconds else None,
        "versions": library_versions(),
    }
    write_run_summary(dest_fs, dest_root, summary)
    create_markdown_artifact(
        _markdown_report(summary, result.examples, dest_fs.unstrip_protocol(dest_root)),
        key=_artifact_key(profile),
        description="normalize-corpus run summary",
    )
    if result.problems:
        create_table_artifact(
            [
                {key: _md(r[key]) for key in ("id", "status", "reason", "detail", "source")}
                for r in result.problems
            ],
            key=f"{_artifact_key(profile)}-problems",
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


def chunked(items: Iterable[ArticleRef], size: int) -> Iterator[list[ArticleRef]]:
    chunk: list[ArticleRef] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_batches(
    options: RunOptions, workers: int, batches: Iterator[Batch], job: Job, logger: Any
) -> Iterator[BatchOutcome]:
    """Map `normalize_batch` over the batches, at most 2 per worker in flight, yielding
    outcomes as they finish: memory stays flat however large the corpus is.

    A batch whose task crashed (its worker process died, say) runs again, on a fresh
    runner when the crash broke the pool; its checkpoint keeps it from redoing the
    articles it finished. After MAX_BATCH_CRASHES its unfinished articles fail.
    """
    in_flight = 2 * workers
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
                    elif (batch := next(batches, None)) is None:
                        exhausted = True
                    else:
                        room.append(batch)
                if room:
                    futures = runner.map(normalize_batch, {"batch": room, "job": unmapped(job)})
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


def _run_name(parameters: dict) -> str:
    source = _redact(str(parameters.get("source", SAMPLE_SOURCE)))
    return f"normalize-corpus: {source} → {_redact(str(parameters.get('dest', 'out')))}"


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _redact(url: str) -> str:
    """Drop user:password@ from a URL so credentials never reach the summary or artifacts."""
    return re.sub(r"(?<=://)[^/@]+@", "", url)


def _artifact_key(profile: str) -> str:
    return f"normalize-corpus-{profile}".lower()


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|])")


def _md(text: object) -> str:
    """Escape article-derived text for a markdown table cell."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def _markdown_report(summary: dict, examples: dict[str, str], dest_url: str) -> str:
    counts = summary["counts"]
    changes = summary["changes"]
    lines = [
        f"# normalize-corpus: {_md(summary['profile'])}",
        "",
        f"**{summary['discovered']}** articles from {_md(summary['source'])} to "
        f"[{_md(summary['dest'])}]({dest_url.replace(' ', '%20')}) in {summary['seconds']} s "
        f"({summary['articles_per_second']} articles/s).",
        "",
        f"New {changes['new']}, changed {changes['changed']}, retried {changes['retried']}, "
        f"skipped (unchanged) {changes['skipped']}.",
        "",
        "| status | articles |",
        "|---|---|",
        *(f"| {status} | {count} |" for status, count in counts.items()),
        "",
    ]
    if summary["reasons"]:
        lines += ["| reason | articles | example |", "|---|---|---|"]
        lines += [
            f"| {_md(reason)} | {count} | {_md(examples[reason])} |"
            for reason, count in list(summary["reasons"].items())[:10]
        ]
    lines += ["", f"Config fingerprint `{summary['config_fingerprint']}`."]
    return "\n".join(lines) + "\n"
