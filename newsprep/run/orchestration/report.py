"""What a run says about itself in Prefect: the flow run's name, the progress bar, the
markdown summary and the table of rejected and failed articles (the artifacts)."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from newsprep.config import RunConfig
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.ledger.summary import RunSummary, Tally, redact
from newsprep.run.orchestration.deployment_config import with_deployment_settings

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|])")


def run_name(config: RunConfig) -> str:
    """The flow run's name: what it reads and where it writes, without credentials."""
    return f"normalize-corpus: {redact(config.source)} → {redact(config.dest)}"


def flow_run_name() -> str:
    """The name Prefect gives a starting flow run: a name a person chose stays; a
    generated one (the server's adjective-animal, the UI form's greek-star-word) becomes
    `run_name(config)`."""
    from prefect.runtime import flow_run

    current = flow_run.name or ""
    if current and not is_generated_name(current):
        return current
    config = flow_run.parameters.get("config", RunConfig())
    if not isinstance(config, RunConfig):
        config = RunConfig.model_validate(config)
    return run_name(with_deployment_settings(config))


_UI_GENERATED = re.compile(  # prefect-ui-library's random run names: chi31-aquarii-fringe
    r"(alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa|lambda|mu|nu|xi|omicron|pi"
    r"|rho|sigma|tau|upsilon|phi|chi|psi|omega)\d*-[a-z]+(-[a-z]+)?"
)


def is_generated_name(name: str) -> bool:
    """True for the names Prefect makes up for a run nobody named."""
    if _UI_GENERATED.fullmatch(name):
        return True
    adjectives, animals = _coolname_two_word_vocabulary()
    first, _, second = name.partition("-")
    return first in adjectives and second in animals


@functools.cache
def _coolname_two_word_vocabulary() -> tuple[frozenset[str], frozenset[str]]:
    """The words of Prefect's server-side names, `generate_slug(2)`: adjective-animal."""
    from coolname.data import config

    def words(list_name: str) -> set[str]:
        node = config[list_name]
        found = set(node.get("words", ()))
        for child in node.get("lists", ()):
            found |= words(child)
        return found

    return frozenset(words("adj_any")), frozenset(words("subj"))


def artifact_key(dest: str) -> str:
    """The artifacts' key: one per destination, so one artifact history is one dataset.

    Prefect keys take lowercase letters, digits and dashes: a readable slug of the
    (credential-free) destination and a short hash of it, so that `out/a-b` and `out/a/b`
    stay apart."""
    dest = redact(dest)
    slug = re.sub(r"[^a-z0-9]+", "-", dest.lower()).strip("-")[-40:].strip("-") or "root"
    return f"corpus-{slug}-{hashlib.sha256(dest.encode()).hexdigest()[:8]}"


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
        f"**{summary.discovered}** articles from {_location(summary.source)} to "
        f"{_location(summary.dest, dest_url)} in {summary.seconds} s "
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


def _location(text: str, url: str | None = None) -> str:
    """A path or URL as code text; a link only where a browser opens it (http, https)."""
    url = url or text
    shown = "`" + text.replace("`", "'") + "`"
    if re.match(r"https?://", url):
        return f"[{shown}]({url.replace(' ', '%20')})"
    return shown


def progress_artifact(dest: str) -> Callable[[float, str], None]:
    """A progress bar artifact at 0%, keyed per destination; returns the function that
    moves it and writes done/total, rate and ETA into its description (the card shows it)."""
    artifact_id = create_progress_artifact(
        0.0, key=f"{artifact_key(dest)}-progress",
        description="Articles processed: listing the source",
    )

    def update(percent: float, line: str) -> None:
        update_progress_artifact(
            artifact_id, percent, description=f"Articles processed: {line}"
        )

    return update


def publish_report(summary: RunSummary, tally: Tally, dest_url: str) -> None:
    """The markdown summary artifact, and the table of rejected and failed articles."""
    create_markdown_artifact(
        markdown_report(summary, dest_url),
        key=artifact_key(summary.dest),
        description="normalize-corpus run summary",
    )
    problems = tally.problems
    if problems:
        create_table_artifact(
            problem_rows(problems),
            key=f"{artifact_key(summary.dest)}-problems",
            description=f"Rejected and failed articles ({tally.problem_count}; first "
            f"{len(problems)} shown)",
        )
