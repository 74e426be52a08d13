"""Run a sharded run in the test's process, without Prefect: the flow's part (plan the
shards, add up their outcomes, finish) and each shard's worker code, one after another."""

from __future__ import annotations

import logging
from pathlib import Path

from newsprep.config import RunConfig, RunOptions
from newsprep.run.engine.shard import run_group
from newsprep.run.ledger.summary import RunSummary
from newsprep.run.planning import plan_shards
from newsprep.run.sharded import ShardedSession


def run_sharded(
    src: Path | str, dest: Path | str, overrides: dict | None = None, **options: object
) -> RunSummary:
    config = RunConfig(
        source=str(src), dest=str(dest), overrides=overrides or {},
        options=RunOptions(task_unit="shard", **options),
    )
    with ShardedSession(config, logging.getLogger("test")) as session:
        plan = plan_shards(config.source, config.dest, session.pipeline,
                           slice_bytes=config.options.slice_bytes)
        sjob, groups = session.plan_shards(plan, on_progress=lambda percent, line: None)
        for group in groups:
            for outcome in run_group(group, sjob):
                session.record_shard(outcome)
        return session.finish_shards()
