"""What a run says in Prefect: names, escaped markdown, the problems table."""

from __future__ import annotations

from test_summary import RECORDS, summary

from newsprep.run.report import artifact_key, markdown_report, md, problem_rows, redact, run_name


def test_credentials_never_reach_names() -> None:
    assert redact("s3://key:secret@bucket/x") == "s3://bucket/x"
    assert redact("/data/raw") == "/data/raw"
    name = run_name({"source": "s3://k:s@raw/news", "dest": "out"})
    assert name == "normalize-corpus: s3://raw/news → out"


def test_article_text_is_escaped_for_markdown() -> None:
    assert md("a|b *c*\nd") == "a\\|b \\*c\\* d"
    rows = problem_rows([r for r in RECORDS if r.status == "failed"])
    assert rows[0] == {
        "id": "c", "status": "failed", "reason": "read\\-error", "detail": "detail", "source": "s"
    }


def test_markdown_report() -> None:
    report = markdown_report(summary(), "file:///tmp/my out")
    assert report.startswith("# normalize-corpus: default\n")
    assert "[out](file:///tmp/my%20out)" in report
    assert "| failed | 1 |" in report
    assert "| read\\-error | 1 | x |" in report
    assert report.endswith("Config fingerprint `f`.\n")
    assert artifact_key("CNNDM") == "normalize-corpus-cnndm"
