"""Real articles and jobs for the run layer's tests: files on disk, no Prefect."""

from __future__ import annotations

from pathlib import Path

from newsprep.config import resolve_pipeline
from newsprep.run.engine.batch import Job
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.retry import RetryPolicy
from newsprep.tasks.io.refs import ArticleRef


def file_refs(src: Path) -> list[ArticleRef]:
    return [
        ArticleRef(id=str(p.relative_to(src)), source=p.as_uri(), path=str(p), signature="s")
        for p in sorted(src.rglob("*.txt"))
    ]


def manifest_rows(records: list[ArticleRecord]) -> list[tuple[str, str]]:
    """(id, manifest line) of each record, as a manifest holds them."""
    return [(record.id, record.to_line()) for record in records]


def make_job(src: Path, dest: Path, **changes: object) -> Job:
    fields = {
        "source_root": str(src),
        "dest_root": str(dest),
        "pipeline": resolve_pipeline("default"),
        "retry": RetryPolicy(3, 0.001),
        **changes,
    }
    return Job(**fields)
