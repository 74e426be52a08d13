"""The `normalize-corpus` flow: plan, map the batches, finish.

The flow only composes the run layer (newsprep/run/): the session plans and accounts,
the executor maps the `normalize-batch` task over the batches, the report publishes.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from newsprep.config import SAMPLE_SOURCE, ProfileName, RunConfig, RunOptions, TokenizerEngine
from newsprep.run.executor import BatchExecutor
from newsprep.run.prefect_tasks import discover_articles
from newsprep.run.report import progress_artifact, publish_report, run_name
from newsprep.run.session import RunSession
from newsprep.run.summary import RunSummary, check_failure_budget


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
) -> RunSummary:
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
    config = RunConfig(
        source=source, dest=dest, profile=profile, overrides=overrides or {},
        tokenizer_engine=tokenizer_engine, options=options,
    )
    logger = get_run_logger()
    with RunSession(config, logger) as run:
        lang = run.pipeline.tokenize.lang
        with BatchExecutor(options, run.workers, lang, logger, run.io_bound) as executor:
            listing = discover_articles(config.source, config.dest, run.pipeline, run.index)
            job, batches = run.plan(listing, on_progress=progress_artifact(config.dest))
            for outcome in executor.run(batches, job):
                run.record(outcome)
        summary = run.finish()
    publish_report(summary, run.tally, run.dest_url)
    check_failure_budget(summary, options.max_failure_rate)
    return summary
