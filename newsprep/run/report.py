"""What a run says about itself in Prefect: the flow run's name, the progress bar, the
markdown summary and the table of rejected and failed articles (the artifacts)."""

from __future__ import annotations

import platform
import re
from collections.abc import Callable
from importlib.metadata import version

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from newsprep.config import SAMPLE_SOURCE
from newsprep.run.records import ArticleRecord
from newsprep.run.summary import RunSummary, Tally, redact

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|])")


def library_versions() -> dict[str, str]:
    names = ("newsprep", "prefect", "ftfy", "sacremoses", "fsspec", "s3fs", "pydantic")
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except Exception:
            found[name] = "not installed"
    return found


def run_name(parameters: dict) -> str:
    """The flow run's name: what it reads and where it writes, without credentials."""
    source = redact(str(parameters.get("source", SAMPLE_SOURCE)))
    return f"normalize-corpus: {source} → {redact(str(parameters.get('dest', 'out')))}"


def artifact_key(profile: str) -> str:
    return f"normalize-corpus-{profile}".lower()


def md(text: object) -> str:
    """Escape article-derived text for markdown (a table cell, a line)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def problem_rows(problems: list[ArticleRecord]) -> list[dict]:
    """Rows of the table artifact of rejected and failed articles, escaped."""
    return [
        {key: md(getattr(r, key)) for key in ("id", "status", "reason", "detail", "source")}
        for r in problems
    ]


def markdown_report(summary: RunSummary, dest_url: str) -> str:
    counts = summary.counts
    changes = summary.changes
    lines = [
        f"# normalize-corpus: {md(summary.profile)}",
        "",
        f"**{summary.discovered}** articles from {md(summary.source)} to "
        f"[{md(summary.dest)}]({dest_url.replace(' ', '%20')}) in {summary.seconds} s "
        f"({summary.articles_per_second} articles/s).",
        "",
        f"New {changes['new']}, changed {changes['changed']}, retried {changes['retried']}, "
        f"skipped (unchanged) {changes['skipped']}.",
        "",
        "| status | articles |",
        "|---|---|",
        *(f"| {status} | {count} |" for status, count in counts.items()),
        "",
    ]
    if summary.reasons:
        lines += ["| reason | articles | example |", "|---|---|---|"]
        lines += [
            f"| {md(reason)} | {count} | {md(summary.examples[reason])} |"
            for reason, count in list(summary.reasons.items())[:10]
        ]
    lines += ["", f"Config fingerprint `{summary.config_fingerprint}`."]
    return "\n".join(lines) + "\n"


def progress_artifact() -> Callable[[float], None]:
    """A progress bar artifact at 0%; returns the function that moves it."""
    artifact_id = create_progress_artifact(0.0, description="Articles processed")
    return lambda percent: update_progress_artifact(artifact_id, percent)


def publish_report(summary: RunSummary, tally: Tally, dest_url: str) -> None:
    """The markdown summary artifact, and the table of rejected and failed articles."""
    create_markdown_artifact(
        markdown_report(summary, dest_url),
        key=artifact_key(summary.profile),
        description="normalize-corpus run summary",
    )
    problems = tally.problems
    if problems:
        create_table_artifact(
            problem_rows(problems),
            key=f"{artifact_key(summary.profile)}-problems",
            description=f"Rejected and failed articles ({tally.problem_count}; first "
            f"{len(problems)} shown)",
        )
