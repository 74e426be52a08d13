"""The `normalize-corpus` flow: plan, map the batches, finish.

The flow only composes the run layer (newsprep/run/): the session plans and accounts,
the executor maps the `normalize-batch` task over the batches, the report publishes.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Failed, State
from prefect.utilities.annotations import quote

from newsprep.config import ConfigError, RunConfig
from newsprep.run.early import take_early_start
from newsprep.run.ledger.summary import (
    FailureBudgetExceeded,
    RemovalRefused,
    RunSummary,
    check_failure_budget,
    redact,
)
from newsprep.run.locations import without_credentials
from newsprep.run.orchestration.deployment_config import with_deployment_settings
from newsprep.run.orchestration.executor import BatchExecutor, with_cluster_workers
from newsprep.run.orchestration.prefect_tasks import discover_articles, plan_source_shards
from newsprep.run.orchestration.report import flow_run_name, progress_artifact, publish_report
from newsprep.run.session import RunSession
from newsprep.run.sharded import ShardedSession, by_shards


@flow(
    name="normalize-corpus",
    flow_run_name=flow_run_name,
    description="Raw news articles in, tokenized lowercased corpus out, with a ledger.",
    validate_parameters=True,
)
def normalize_corpus(config: RunConfig = RunConfig()) -> RunSummary | State:  # noqa: B008 - frozen
    """Normalize every article under `config.source` into `config.dest`; returns the run
    summary. A configuration the run cannot start with fails the flow run at once, its
    reason in the state message.

    Args:
        config: The run: source and destination (paths or fsspec URLs), profile, profile
            overrides, tokenizer engine and how it executes (batch size, workers, runner,
            retries, failure budget). A deployment's run takes the deployment's values for
            the fields it was not given.
    """
    logger = get_run_logger()
    try:
        config = with_deployment_settings(config)  # a partial override keeps the rest
        config = without_credentials(config)  # a deployment run's URL credentials: to fsspec
        config = with_cluster_workers(config)  # a Dask cluster's size, when not given
        if by_shards(config):
            # begun by the command while it imported Prefect, when it was
            early = take_early_start(config, logger)
            with early.opened() if early else ShardedSession(config, logger) as run:
                lang = run.pipeline.tokenize.lang
                with BatchExecutor(
                    config.options, run.workers, lang, logger, run.io_bound,
                    pool=early.pool if early else None,
                ) as executor:
                    if early:
                        progress = progress_artifact(config.dest, logger)
                        sjob, shards = early.planned(on_progress=progress)
                    else:
                        plan = plan_source_shards(
                            config.source, config.dest, run.pipeline, quote(executor.pool),
                            config.options.slice_bytes,
                        )
                        progress = progress_artifact(config.dest, logger)
                        sjob, shards = run.plan_shards(plan, on_progress=progress)
                    executor.on_wait = run.hear_progress
                    for shard_outcome in executor.run_shards(shards, sjob):
                        run.record_shard(shard_outcome)
                summary = run.finish_shards()
        else:
            with RunSession(config, logger) as run:
                lang = run.pipeline.tokenize.lang
                with BatchExecutor(
                    config.options, run.workers, lang, logger, run.io_bound
                ) as executor:
                    listing = discover_articles(
                        config.source, config.dest, run.pipeline, run.index
                    )
                    progress = progress_artifact(config.dest, logger)
                    job, batches = run.plan(listing, on_progress=progress)
                    for outcome in executor.run(batches, job):
                        run.record(outcome)
                summary = run.finish()
    except ConfigError as exc:
        logger.error("cannot run: %s", redact(str(exc)))
        return Failed(message=f"cannot run: {redact(str(exc))}")
    publish_report(summary, run.tally, run.dest_url, logger)
    if summary.removal_refused:  # an expected outcome: a message, not a traceback
        refused = RemovalRefused(summary.removal_refused, summary)
        return Failed(message=redact(summary.removal_refused), data=refused)
    try:
        check_failure_budget(summary, config.options.max_failure_rate)
    except FailureBudgetExceeded as exc:  # an expected outcome too: no traceback
        logger.error("%s", redact(str(exc)))
        return Failed(message=redact(str(exc)), data=exc)
    return summary
