"""A whole run without Prefect: one article from the source to its manifest line.

The session plans and accounts; here the batches run in this process (the executor and
Prefect's task runs are what the flow adds, tested in tests/flows)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from newsprep.config import RunConfig, RunOptions
from newsprep.run.batch import process_batch
from newsprep.run.records import BatchOutcome
from newsprep.run.session import RunSession
from newsprep.tasks.io.listing import list_source

LOGGER = logging.getLogger("test")


def run(src: Path, dest: Path, **options: object):
    config = RunConfig(source=str(src), dest=str(dest), options=RunOptions(**options))
    with RunSession(config, LOGGER) as session:
        listing = list_source(config.source, config.dest, session.pipeline, session.index)
        job, batches = session.plan(listing, on_progress=lambda percent, line: None)
        for batch in batches:
            records = process_batch(batch.articles, batch.index, job)
            session.record(BatchOutcome(batch.index, records))
        return session.finish()


def manifest(dest: Path) -> list[dict]:
    return [json.loads(line) for line in (dest / "_manifest.jsonl").read_text().splitlines()]


def test_a_run_accounts_for_every_article(source: Path, tmp_path: Path) -> None:
    (source / "notes.md").write_text("not an article")
    dest = tmp_path / "out"
    summary = run(source, dest, batch_size=2, workers=1)

    records = manifest(dest)
    assert [r["id"] for r in records] == sorted(r["id"] for r in records)
    assert summary.discovered == len(records) == 5
    assert summary.counts == {"ok": 4, "rejected": 1, "failed": 0, "skipped": 0}
    assert summary.reasons == {"binary-content": 1}
    assert summary.examples == {"binary-content": "broken/corrupted-upload.txt"}
    assert (summary.batches, summary.batch_size, summary.ignored_files) == (3, 2, 1)
    assert json.loads((dest / "_run.json").read_text()) == summary.to_dict()
    for record in records:
        if record["status"] == "ok":
            assert (dest / record["output"]).is_file()
    assert not (dest / "_manifest.journal").exists()


def test_a_second_run_skips_what_the_first_wrote(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    run(source, dest, workers=1)
    first = manifest(dest)
    summary = run(source, dest, workers=1)
    assert summary.changes == {"new": 0, "changed": 0, "retried": 1, "skipped": 4}
    assert summary.counts == {"ok": 0, "rejected": 1, "failed": 0, "skipped": 4}
    second = manifest(dest)
    for before, after in zip(first, second, strict=True):
        if before["status"] == "ok":
            assert after == {**before, "status": "skipped", "attempts": 0}
        else:
            assert after == before
