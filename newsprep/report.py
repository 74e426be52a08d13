"""What a run says about itself: the run summary, the artifacts' text, names."""

from __future__ import annotations

import platform
import re
from importlib.metadata import version

from newsprep.config import SAMPLE_SOURCE

MAX_TABLE_ROWS = 500  # rows of the rejected/failed table artifact
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


def redact(url: str) -> str:
    """Drop user:password@ from a URL so credentials never reach the summary or artifacts."""
    return re.sub(r"(?<=://)[^/@]+@", "", url)


def artifact_key(profile: str) -> str:
    return f"normalize-corpus-{profile}".lower()


def md(text: object) -> str:
    """Escape article-derived text for markdown (a table cell, a line)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def problem_rows(problems: list[dict]) -> list[dict]:
    """Rows of the table artifact of rejected and failed articles, escaped."""
    return [
        {key: md(r[key]) for key in ("id", "status", "reason", "detail", "source")}
        for r in problems
    ]


def markdown_report(summary: dict, examples: dict[str, str], dest_url: str) -> str:
    counts = summary["counts"]
    changes = summary["changes"]
    lines = [
        f"# normalize-corpus: {md(summary['profile'])}",
        "",
        f"**{summary['discovered']}** articles from {md(summary['source'])} to "
        f"[{md(summary['dest'])}]({dest_url.replace(' ', '%20')}) in {summary['seconds']} s "
        f"({summary['articles_per_second']} articles/s).",
        "",
        f"New {changes['new']}, changed {changes['changed']}, retried {changes['retried']}, "
        f"skipped (unchanged) {changes['skipped']}.",
        "",
        "| status | articles |",
        "|---|---|",
        *(f"| {status} | {count} |" for status, count in counts.items()),
        "",
    ]
    if summary["reasons"]:
        lines += ["| reason | articles | example |", "|---|---|---|"]
        lines += [
            f"| {md(reason)} | {count} | {md(examples[reason])} |"
            for reason, count in list(summary["reasons"].items())[:10]
        ]
    lines += ["", f"Config fingerprint `{summary['config_fingerprint']}`."]
    return "\n".join(lines) + "\n"
