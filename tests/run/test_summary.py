"""The tally of a run's records and the typed run summary (_run.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem

from newsprep.errors import Problem
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.ledger.summary import (
    RUN_SUMMARY,
    FailureBudgetExceeded,
    RunSummary,
    Tally,
    check_failure_budget,
)
from newsprep.tasks.io.refs import ArticleRef


def record(article_id: str, status: str = "ok", reason: str | None = None, parity=None):
    made = ArticleRecord.start(ArticleRef(id=article_id, source="s"), "f")
    if reason:
        made.set_problem(Problem(status, reason, "detail"))
    made.status, made.parity = status, parity
    return made


RECORDS = [
    record("d", "rejected", "empty-output"),
    record("a"),
    record("c", "failed", "read-error"),
    record("b", "rejected", "empty-output"),
    record("e", "skipped"),
    record("f", "rejected", "binary-content"),
    record("g", "failed", "read-error"),
    record("h", parity="same"),
    record("i", parity="differs: text line 2: ..."),
]


def test_counts_reasons_and_examples() -> None:
    tally = Tally()
    for r in RECORDS:
        tally.add(r)
    assert tally.total == 9
    assert dict(tally.statuses) == {"ok": 3, "rejected": 3, "failed": 2, "skipped": 1}
    assert dict(tally.parity) == {"same": 1, "differs": 1}
    assert tally.examples == {"empty-output": "b", "read-error": "c", "binary-content": "f"}
    # most first; a tie in the order of the reasons' first ids (b before c)
    assert list(tally.top_reasons().items()) == [
        ("empty-output", 2), ("read-error", 2), ("binary-content", 1)
    ]
    assert tally.problem_count == 5
    assert [r.id for r in tally.problems] == ["b", "c", "d", "f", "g"]


def test_the_problems_kept_are_the_smallest_ids_whatever_the_order() -> None:
    tally = Tally(keep_problems=2)
    for r in RECORDS:
        tally.add(r)
    assert [r.id for r in tally.problems] == ["b", "c"] and tally.problem_count == 5


@pytest.mark.parametrize("keep", [2, 100])
def test_tallies_of_shards_add_up_to_the_tally_of_all(keep: int) -> None:
    whole = Tally(keep_problems=keep)
    for r in RECORDS:
        whole.add(r)
    added = Tally(keep_problems=keep)
    for part in (RECORDS[:3], RECORDS[3:4], [], RECORDS[4:]):
        shard = Tally(keep_problems=keep)
        for r in part:
            shard.add(r)
        added.merge(shard)
    assert (added.total, added.statuses, added.reasons, added.parity, added.examples) == (
        whole.total, whole.statuses, whole.reasons, whole.parity, whole.examples
    )
    assert added.problem_count == whole.problem_count == 5
    assert [r.id for r in added.problems] == [r.id for r in whole.problems]
    assert added.top_reasons() == whole.top_reasons()


def summary(**changes: object) -> RunSummary:
    fields = dict(
        source="src", dest="out", profile="default", overrides={}, config_fingerprint="f",
        pipeline={}, options={}, discovered=4, ignored_files=0,
        counts={"ok": 3, "rejected": 0, "failed": 1, "skipped": 0},
        changes={"new": 4, "changed": 0, "retried": 0, "skipped": 0},
        reasons={"read-error": 1}, examples={"read-error": "x"}, parity=None, batches=1,
        batch_size=4, workers=1, started_at="2026-01-01T00:00:00+00:00", seconds=1.0,
        articles_per_second=4.0, versions={},
    )
    return RunSummary(**(fields | changes))


def test_run_json_has_the_summary_without_examples(tmp_path: Path) -> None:
    summary(parity={"same": 2}).write(LocalFileSystem(), str(tmp_path))
    text = (tmp_path / RUN_SUMMARY).read_text(encoding="utf-8")
    data = json.loads(text)
    assert "examples" not in data and data["parity"] == {"same": 2}
    assert list(data) == sorted(data) and text.endswith("}\n")
    assert "parity" not in summary().to_dict()


def test_failure_budget() -> None:
    check_failure_budget(summary(), 0.25)
    with pytest.raises(FailureBudgetExceeded, match="1 of 4 articles failed") as raised:
        check_failure_budget(summary(), 0.2)
    assert raised.value.summary == summary()


def test_a_shard_that_kept_crashing_fails_the_run_whatever_the_budget() -> None:
    crashed = summary(reasons={"shard-crash": 1}, counts={"ok": 3, "rejected": 0,
                                                         "failed": 1, "skipped": 0})
    with pytest.raises(FailureBudgetExceeded, match="1 shards kept crashing"):
        check_failure_budget(crashed, 1.0)


def test_the_tally_counts_quarantine_copies_and_shards_add_them_up() -> None:
    kept = [record("q1", "rejected", "binary-content"), record("q2", "failed", "read-error")]
    kept[0].quarantine = "_quarantine/q1"
    whole, added = Tally(), Tally()
    for r in [*RECORDS, *kept]:
        whole.add(r)
    for part in (RECORDS, kept):
        shard = Tally()
        for r in part:
            shard.add(r)
        added.merge(shard)
    assert whole.quarantined == added.quarantined == 1


def test_the_printed_summary_says_what_a_refused_removal_kept_and_where_copies_are() -> None:
    from newsprep.cli import render_summary

    changes = {"new": 0, "changed": 0, "retried": 0, "skipped": 3}
    partly = render_summary(summary(changes=changes, removed_articles=2, kept_gone=3))
    assert "  since the last run: 0 new, 0 changed, 5 gone (3 of them kept: removal " \
        "refused), 3 unchanged\n" in partly
    assert "removed 0 stale files from DEST (of 2 articles gone" in partly
    # a failed article whose bytes could not be read has no copy: no folder is named
    assert "_quarantine" not in render_summary(summary())
    copied = render_summary(summary(quarantined=1))
    assert copied.endswith("\n  quarantine: out/_quarantine/")
