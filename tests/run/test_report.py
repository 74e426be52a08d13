"""What a run says in Prefect: names, escaped markdown, the problems table."""

from __future__ import annotations

import re

from test_summary import RECORDS, summary

from newsprep.config import RunConfig
from newsprep.run.orchestration.report import (
    artifact_key,
    is_generated_name,
    markdown_report,
    md,
    problem_rows,
    redact,
    run_name,
)


def test_credentials_never_reach_names() -> None:
    assert redact("s3://key:secret@bucket/x") == "s3://bucket/x"
    assert redact("/data/raw") == "/data/raw"
    name = run_name(RunConfig(source="s3://k:s@raw/news", dest="out"))
    assert name == "normalize-corpus: s3://raw/news → out"


def test_generated_run_names_are_told_from_chosen_ones() -> None:
    from prefect.utilities.names import generate_slug

    server_names = {generate_slug(2) for _ in range(200)}  # what the API gives unnamed runs
    assert all(is_generated_name(name) for name in server_names)
    # the UI form's suggestions (prefect-ui-library's random run names)
    for name in ("chi31-aquarii-fringe", "alpha-centauri", "omega7-lyrae-void"):
        assert is_generated_name(name), name
    for name in ("backfill-march", "nightly-rerun", "cnndm test 2", "normalize-corpus: a → b",
                 "fancy-rerun-of-april"):
        assert not is_generated_name(name), name


def test_article_text_is_escaped_for_markdown() -> None:
    assert md("a|b *c*\nd") == "a\\|b \\*c\\* d"
    rows = problem_rows([r for r in RECORDS if r.status == "failed"])
    assert rows[0] == {
        "id": "c", "status": "failed", "reason": "read\\-error", "detail": "detail", "source": "s"
    }


def test_markdown_report() -> None:
    report = markdown_report(summary(), "file:///tmp/my out")
    assert report.startswith("# normalize-corpus: default\n")
    assert "to `out` in" in report  # a local path is text: the UI cannot open file:// links
    assert "](file:" not in report
    assert "| failed | 1 |" in report
    assert "| read\\-error | 1 | x |" in report
    assert report.endswith("Config fingerprint `f`.\n")


def test_artifact_keys_are_per_destination() -> None:
    keys = {artifact_key(d) for d in ("out/a-b", "out/a/b", "out/a_b", "s3://k:s@bucket/a-b")}
    assert len(keys) == 4  # distinct destinations never share a history
    assert artifact_key("s3://k:s@bucket/x") == artifact_key("s3://bucket/x")  # no secret
    for key in keys:
        assert re.fullmatch(r"[a-z0-9-]+", key) and len(key) <= 64, key
    assert artifact_key("/data/corpus/2026-03").startswith("corpus-data-corpus-2026-03-")
