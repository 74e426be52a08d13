"""What a run says about itself in Prefect: the flow run's name, the progress bar, the
markdown summary and the table of rejected and failed articles (the artifacts).

The text work does not need the Prefect server: when it goes away mid-run (`PREFECT_API`
notices), the run finishes without it, saying so once, and Prefect's own attempts to
reach it (its client's retries, events, log shipping) stop or fall silent.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

import httpx
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogHandler, APILogWorker
from prefect.settings import PREFECT_API_URL, get_current_settings

from newsprep.config import RunConfig
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.ledger.summary import RunSummary, Tally, redact
from newsprep.run.orchestration.deployment_config import with_deployment_settings
from newsprep.run.orchestration.health import does_not_answer

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|])")
_HEALTH_TIMEOUT_SECONDS = 2.0
# Prefect's loggers that report each failed attempt to reach a server that is gone
_NOISY_LOGGERS = ("prefect.events.clients", "prefect._internal.concurrency", "prefect.client")


class PrefectApi:
    """Whether the Prefect server this process reports to still answers. One per process
    (`PREFECT_API`): the flow and the CLI around it ask it."""

    def __init__(self) -> None:
        self.gone: str | None = None  # what was seen when it went away

    def answers(self, logger: Any) -> bool:
        """False once the server has gone away (a health check; no client retries)."""
        if self.gone is not None:
            return False
        url = PREFECT_API_URL.value()
        if not url:  # an in-process (ephemeral) API cannot go away
            return True
        silent = does_not_answer(url, _HEALTH_TIMEOUT_SECONDS)
        if silent is None:
            return True
        self.went_away(f"{url} does not answer: {silent}", logger)
        return False

    def went_away(self, what: str, logger: Any | None) -> None:
        """Say it once (to `logger`, when given); stop Prefect retrying, shipping logs to
        and reporting to it."""
        if self.gone is not None:
            return
        self.gone = what
        if logger is not None:
            logger.warning(
                "the Prefect server went away: %s; the run goes on without it (no more "
                "progress, artifacts or states in the UI)", what,
            )
        get_current_settings().client.max_retries = 0  # this process's, for this run's end
        for name in ("", "prefect", *logging.Logger.manager.loggerDict):
            found = logging.getLogger(name)
            for handler in list(getattr(found, "handlers", ())):
                if isinstance(handler, APILogHandler):
                    found.removeHandler(handler)
                elif _quiet not in handler.filters:  # the console: no news of the server
                    handler.addFilter(_quiet)
        self.discard_pending()

    def discard_pending(self) -> None:
        """Drop the events and log lines Prefect still holds for the server: at exit it
        would try each in turn (~7 s apiece), for minutes. Prefect 3.8's services keep
        them in a queue.Queue (`_queue`), not public API: a change there is ignored."""
        for service in (EventsWorker, APILogWorker):
            for instance in list(getattr(service, "_instances", {}).values()):
                pending = getattr(instance, "_queue", None)
                try:
                    while pending is not None:
                        item = pending.get_nowait()
                        pending.task_done()
                        if item is None:  # the service's stop signal stays
                            pending.put_nowait(None)
                            break
                except Exception:  # queue.Empty: all gone
                    pass

    def call(self, call: Callable[[], object], logger: Any) -> None:
        """An artifact call, when the server answers; nothing once it has gone away."""
        if not self.answers(logger):
            return
        try:
            call()
        except Exception as exc:
            if not unreachable(exc):
                raise
            self.went_away(f"{type(exc).__name__}: {exc}", logger)


def _quiet(record: logging.LogRecord) -> bool:
    """A log filter once the server is gone: not Prefect's failed attempts to reach it
    (its events and client loggers, the engines' tracebacks of connection errors)."""
    if record.name.startswith(_NOISY_LOGGERS):
        return False
    return not (record.exc_info and record.exc_info[1] and unreachable(record.exc_info[1]))


def unreachable(exc: BaseException) -> bool:
    """An error reaching the server (connect, read, protocol), anywhere in the chain."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, httpx.TransportError | ConnectionError):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


PREFECT_API = PrefectApi()


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


def progress_artifact(dest: str, logger: Any) -> Callable[[float, str], None]:
    """A progress bar artifact at 0%, keyed per destination; returns the function that
    moves it and writes done/total, rate and ETA into its description (the card shows it).
    Once the server has gone away (before the bar was made, too), the function does
    nothing."""
    made: list[Any] = []
    PREFECT_API.call(lambda: made.append(create_progress_artifact(
        0.0, key=f"{artifact_key(dest)}-progress",
        description="Articles processed: listing the source",
    )), logger)

    def update(percent: float, line: str) -> None:
        if made:
            PREFECT_API.call(lambda: update_progress_artifact(
                made[0], percent, description=f"Articles processed: {line}"
            ), logger)

    return update


def publish_report(summary: RunSummary, tally: Tally, dest_url: str, logger: Any) -> None:
    """The markdown summary artifact, and the table of rejected and failed articles (not
    once the server has gone away)."""
    PREFECT_API.call(lambda: create_markdown_artifact(
        markdown_report(summary, dest_url),
        key=artifact_key(summary.dest),
        description="normalize-corpus run summary",
    ), logger)
    problems = tally.problems
    if problems:
        PREFECT_API.call(lambda: create_table_artifact(
            problem_rows(problems),
            key=f"{artifact_key(summary.dest)}-problems",
            description=f"Rejected and failed articles ({tally.problem_count}; first "
            f"{len(problems)} shown)",
        ), logger)
