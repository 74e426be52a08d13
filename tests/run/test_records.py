"""ArticleRecord: one typed record from the worker to its manifest line."""

from __future__ import annotations

import json

from newsprep.errors import Problem, Rejected
from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.refs import ArticleRef

REF = ArticleRef(id="world/a.txt", source="file:///src/world/a.txt", signature="12-3")


def test_a_started_record_is_ok_with_the_refs_identity() -> None:
    record = ArticleRecord.start(REF, "f1")
    assert (record.id, record.source, record.status, record.attempts) == (
        "world/a.txt", "file:///src/world/a.txt", "ok", 1
    )
    assert (record.signature, record.fingerprint) == ("12-3", "f1")


def test_the_manifest_line_is_sorted_json_with_every_field() -> None:
    record = ArticleRecord.start(REF, "f1")
    record.set_problem(Rejected("binary-content", "NUL byte at offset 7").problem)
    line = record.to_line()
    assert line.endswith("\n") and line.count("\n") == 1
    data = json.loads(line)
    assert list(data) == sorted(data)
    assert (data["status"], data["reason"], data["detail"]) == (
        "rejected", "binary-content", "NUL byte at offset 7"
    )
    assert set(data) == {
        "id", "source", "status", "reason", "detail", "attempts", "output", "sha256",
        "tokens", "fixes", "quarantine", "highlights", "signature", "fingerprint", "parity",
    }


def test_non_ascii_stays_readable_and_round_trips() -> None:
    record = ArticleRecord.start(ArticleRef(id="welt/müll.txt", source="s"), "f")
    record.fixes = ["decode:cp1252", "uncurl_quotes"]
    line = record.to_line()
    assert "müll" in line
    assert ArticleRecord.from_line(line) == record


def test_a_record_from_an_older_manifest_drops_unknown_fields() -> None:
    data = json.loads(ArticleRecord.start(REF, "f").to_line()) | {"retired_field": 1}
    assert ArticleRecord.from_dict(data) == ArticleRecord.start(REF, "f")


def test_skipped_keeps_the_previous_outcome_with_no_attempts() -> None:
    previous = ArticleRecord.start(REF, "f")
    previous.output, previous.sha256, previous.fixes = "world/a.txt", "ab", ["x"]
    skipped = previous.skipped()
    assert (skipped.status, skipped.attempts, skipped.output) == ("skipped", 0, "world/a.txt")
    skipped.fixes.append("y")
    assert previous.fixes == ["x"], "the skipped record has its own list"
    assert previous.status == "ok"


def test_a_problem_sets_status_reason_and_detail() -> None:
    record = ArticleRecord.start(REF, "f")
    record.set_problem(Problem("failed", "read-error", "ConnectionResetError: reset"))
    assert (record.status, record.reason, record.detail) == (
        "failed", "read-error", "ConnectionResetError: reset"
    )


def test_a_line_asked_for_again_follows_every_change_to_the_record() -> None:
    """A worker asks twice for an article's line (its checkpoint note, its journal): the
    line is kept, but any value changed in between, a fix appended in place included,
    gives the new line; copies and pickles carry no kept line."""
    import pickle

    record = ArticleRecord.start(REF, "f1")
    first = record.to_line()
    assert record.to_line() == first
    record.fixes.append("uncurl_quotes")
    second = record.to_line()
    assert json.loads(second)["fixes"] == ["uncurl_quotes"]
    record.set_problem(Problem("failed", "write-error", "disk full"))
    record.output = None
    third = json.loads(record.to_line())
    assert (third["status"], third["reason"], third["output"]) == ("failed", "write-error", None)
    for other in (record.skipped(), pickle.loads(pickle.dumps(record))):
        assert "_line" not in vars(other)
        assert json.loads(other.to_line())["id"] == "world/a.txt"
    assert ArticleRecord.from_line(record.to_line()) == record
    assert "_line" not in json.loads(record.to_line())
