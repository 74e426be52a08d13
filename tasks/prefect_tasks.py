"""The Prefect tasks: the only place where Prefect decorators wrap the stage code.

Tasks return small records, never article texts. The per-article retry budget lives in
`process_article`; Prefect's own retries here cover a batch that crashed as a whole.
With the `process` runner a batch's articles are processed in the run's stage pool
(newsprep/workers.py); with the others, in the task's own process.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run
from prefect.utilities.annotations import quote

from newsprep import workers
from newsprep.config import PipelineConfig
from newsprep.index import RunIndex
from newsprep.tasks.article import ArticleRef, Job, process_batch
from newsprep.tasks.discover import SourceListing, list_source


@dataclass(frozen=True)
class Batch:
    index: int
    articles: tuple[ArticleRef, ...]


@dataclass(frozen=True)
class BatchOutcome:
    index: int
    records: list[dict]


def _batch_run_name() -> str:
    batch = task_run.parameters["batch"]
    if isinstance(batch, quote):  # the flow quotes batches (see newsprep/dispatch.py)
        batch = batch.unquote()
    if len(batch.articles) == 1:
        return f"article {batch.articles[0].id}"
    return f"batch {batch.index} ({len(batch.articles)} articles)"


@task(
    name="discover-articles",
    retries=2,
    retry_delay_seconds=[2, 10],
    cache_policy=NO_CACHE,
    persist_result=False,
)
def discover_articles(
    source: str, dest: str, config: PipelineConfig, index: RunIndex
) -> SourceListing:
    """List the source's files into the run's index (archives and JSONL files are opened
    later, as a stream)."""
    return list_source(source, dest, config, index)


@task(
    name="normalize-batch",
    task_run_name=_batch_run_name,
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def normalize_batch(batch: Batch, job: Job) -> BatchOutcome:
    """Process every article of a batch; one log line per article that did not end ok."""
    logger = get_run_logger()
    pool = workers.current()  # the run's stage pool: only with the process runner
    if pool is not None:
        records = pool.run(batch.articles, batch.index, job)
    else:
        records = process_batch(batch.articles, batch.index, job)
    for record in records:
        if record.status != "ok":
            logger.warning(
                "%s %s: %s (%s)", record.status, record.id, record.reason, record.detail
            )
    return BatchOutcome(batch.index, [record.to_dict() for record in records])
