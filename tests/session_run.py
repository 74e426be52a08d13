"""Run the session and the worker's batch code in the test's process, without Prefect."""

from __future__ import annotations

import logging
from pathlib import Path

from newsprep.config import RunConfig, RunOptions
from newsprep.run.engine.batch import process_batch
from newsprep.run.ledger.records import BatchOutcome
from newsprep.run.ledger.summary import RunSummary
from newsprep.run.session import RunSession
from newsprep.tasks.io.listing import list_source


def run_session(
    src: Path, dest: Path, overrides: dict | None = None, **options: object
) -> RunSummary:
    """Plan, process every batch, finish: a whole run's bookkeeping, as the flow does it."""
    config = RunConfig(
        source=str(src), dest=str(dest), overrides=overrides or {},
        options=RunOptions(**options),
    )
    with RunSession(config, logging.getLogger("test")) as session:
        listing = list_source(config.source, config.dest, session.pipeline, session.index)
        job, batches = session.plan(listing, on_progress=lambda percent, line: None)
        for batch in batches:
            records = process_batch(batch.articles, batch.index, job)
            session.record(BatchOutcome(batch.index, records))
        return session.finish()
