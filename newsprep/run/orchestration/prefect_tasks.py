"""The Prefect tasks: the only place where Prefect's task decorator wraps newsprep code.

Tasks return small records, never article texts. Retries follow newsprep/run/retry.py:
Prefect retries the listing; a batch is never retried by Prefect (the executor runs a
crashed batch again). With the `process` runner the executor hands each batch task the
run's stage pool, with `dask` the run's Dask cluster (engine/dask_pool.py); with `thread`
a batch runs in the task's own thread.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run
from prefect.utilities.annotations import quote

from newsprep.config import PipelineConfig
from newsprep.errors import is_transient
from newsprep.run.engine.batch import Job, process_batch
from newsprep.run.engine.pool import Workers
from newsprep.run.engine.shard import ShardGroup, ShardJob, ShardOutcome, run_group
from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.records import Batch, BatchOutcome
from newsprep.run.planning import SLICE_BYTES, ShardPlan, plan_shards_in_workers
from newsprep.run.retry import DISCOVER_RETRIES, DISCOVER_RETRY_DELAYS
from newsprep.tasks.io.listing import SourceListing, list_source


def _batch_run_name() -> str:
    batch = task_run.parameters["batch"]
    if isinstance(batch, quote):  # the executor quotes batches (orchestration/executor.py)
        batch = batch.unquote()
    if len(batch.articles) == 1:
        return f"article {batch.articles[0].id}"
    return f"batch {batch.index} ({len(batch.articles)} articles)"


def _transient(task, task_run, state) -> bool:
    """Retry the listing only after a transient error (a missing source fails at once)."""
    try:
        state.result()
    except Exception as exc:  # the listing's own error, re-raised by result()
        return is_transient(exc)
    return False


# Listing the source: retried after a transient error only (a missing source fails at once).
_LISTING: dict[str, Any] = {
    "retries": DISCOVER_RETRIES,
    "retry_condition_fn": _transient,
    "retry_delay_seconds": DISCOVER_RETRY_DELAYS,
    "cache_policy": NO_CACHE,
    "persist_result": False,
}


@task(name="discover-articles", **_LISTING)
def discover_articles(
    source: str, dest: str, config: PipelineConfig, index: RunIndex
) -> SourceListing:
    """List the source's files into the run's index (archives and JSONL files are opened
    later, as a stream)."""
    return list_source(source, dest, config, index)


@task(
    name="normalize-batch",
    task_run_name=_batch_run_name,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def normalize_batch(batch: Batch, job: Job, pool: Workers | None = None) -> BatchOutcome:
    """Process every article of a batch, in `pool` when given, else here; one log line
    per article that did not end ok."""
    logger = get_run_logger()
    if pool is not None:
        records = pool.run(batch.articles, batch.index, job)
    else:
        records = process_batch(batch.articles, batch.index, job)
    for record in records:
        if record.status != "ok":
            logger.warning(
                "%s %s: %s (%s)", record.status, record.id, record.reason, record.detail
            )
    return BatchOutcome(batch.index, records)


@task(name="plan-shards", **_LISTING)
def plan_source_shards(
    source: str, dest: str, config: PipelineConfig, pool: Workers | None = None,
    slice_bytes: int = SLICE_BYTES,
) -> ShardPlan:
    """Cut the source into shards from its folder listings (no article is read; a large
    JSONL file is read once when it is cut into slices, not again while it is unchanged);
    the folders are listed and the files cut by the run's workers when there are some."""
    call = None if pool is None else pool.call
    return plan_shards_in_workers(source, dest, config, call, slice_bytes)


def _shard_run_name() -> str:
    group = task_run.parameters["shards"]
    if isinstance(group, quote):
        group = group.unquote()
    return group.name


@task(
    name="normalize-shards",
    task_run_name=_shard_run_name,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def normalize_shards(
    shards: ShardGroup, sjob: ShardJob, pool: Workers | None = None
) -> list[ShardOutcome]:
    """Take each shard of the group end to end, in `pool` when given, else here; one
    log line per article of this run that did not end ok (the first ones)."""
    logger = get_run_logger()
    outcomes = pool.run_group(shards, sjob) if pool is not None else run_group(shards, sjob)
    for outcome in outcomes:
        for line in outcome.problems:
            logger.warning("%s", line)
    unchanged = [outcome for outcome in outcomes if outcome.unchanged]
    if unchanged:  # one line a task run: a log line costs the flow as much as a shard
        skipped = sum(outcome.articles for outcome in unchanged)
        logger.info("%d of %d shards unchanged: %d articles skipped", len(unchanged),
                    len(outcomes), skipped)
    return outcomes
