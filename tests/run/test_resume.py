"""Resume: which articles a run redoes, given the previous manifest and DEST's files."""

from __future__ import annotations

import pytest
from run_helpers import manifest_rows

from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.memory_index import MemoryIndex
from newsprep.run.ledger.records import ArticleRecord
from newsprep.run.ledger.resume import Resume
from newsprep.tasks.io.refs import ArticleRef


@pytest.fixture(params=[RunIndex, MemoryIndex], ids=["sqlite", "memory"])
def Index(request):  # the class under test
    return request.param


def ref(article_id: str, signature: str = "s1") -> ArticleRef:
    return ArticleRef(id=article_id, source=f"src/{article_id}", signature=signature)


def previous(article_id: str, status: str = "ok", signature: str = "s1") -> ArticleRecord:
    record = ArticleRecord.start(ref(article_id, signature), "f1")
    record.status = status
    record.output = article_id if status == "ok" else None
    return record


def plan(
    index: RunIndex | MemoryIndex, refs: list[ArticleRef], may_skip: bool = True, fingerprint="f1"
):
    skipped: list[ArticleRecord] = []
    resume = Resume(index, fingerprint, may_skip, on_skip=skipped.append)
    todo = [r.id for r in resume.plan(refs)]
    return todo, skipped, resume.changes


def test_a_first_run_does_everything(Index) -> None:
    with Index() as index:
        todo, skipped, changes = plan(index, [ref("a"), ref("b")])
    assert todo == ["a", "b"] and skipped == []
    assert changes == {"new": 2, "changed": 0, "retried": 0, "skipped": 0}


def test_unchanged_new_changed_and_retried(Index) -> None:
    with Index() as index:
        index.add_previous_lines(manifest_rows([
            previous("same"), previous("edited"), previous("bad", "failed"),
            previous("lost"),
        ]))
        index.add_outputs(["same", "edited"])  # "lost"'s output is gone from DEST
        refs = [ref("same"), ref("edited", "s2"), ref("bad"), ref("lost"), ref("new")]
        todo, skipped, changes = plan(index, refs)
    assert todo == ["edited", "bad", "lost", "new"]
    assert [(r.id, r.status, r.attempts, r.output) for r in skipped] == [
        ("same", "skipped", 0, "same")
    ]
    assert changes == {"new": 1, "changed": 1, "retried": 2, "skipped": 1}


def rejected(article_id: str, reason: str, signature: str = "s1") -> ArticleRecord:
    record = previous(article_id, "rejected", signature)
    record.reason, record.attempts = reason, 1
    record.quarantine = f"_quarantine/{article_id}"
    return record


def test_an_unchanged_rejected_article_is_not_tried_again(Index) -> None:
    """Rejections are deterministic: same bytes, same config, same outcome. Those that
    depend on other articles (an id used first, a path in the way) are looked at again,
    and so is one whose quarantine copy (or its record of why) is gone or whose bytes
    changed."""
    with Index() as index:
        index.add_previous_lines(manifest_rows([
            rejected("binary", "binary-content"), rejected("edited", "binary-content"),
            rejected("copy-gone", "too-few-tokens"), rejected("twice", "duplicate-id"),
            rejected("blocked", "output-conflict"), rejected("why-gone", "binary-content"),
        ]))
        index.add_outputs([
            path for name in ("binary", "edited", "twice", "blocked")
            for path in (f"_quarantine/{name}", f"_quarantine/{name}.reason.json")
        ] + ["_quarantine/why-gone"])
        refs = [ref("binary"), ref("edited", "s2"), ref("copy-gone"), ref("twice"),
                ref("blocked"), ref("why-gone")]
        todo, skipped, changes = plan(index, refs)
    assert todo == ["edited", "copy-gone", "twice", "blocked", "why-gone"]
    assert [(r.id, r.status, r.reason, r.attempts, r.quarantine) for r in skipped] == [
        ("binary", "rejected", "binary-content", 0, "_quarantine/binary")
    ]
    assert changes == {"new": 0, "changed": 1, "retried": 4, "skipped": 1}


def test_other_settings_or_force_redo_everything(Index) -> None:
    with Index() as index:
        index.add_previous_lines(manifest_rows([previous("a")]))
        index.add_outputs(["a"])
        assert plan(index, [ref("a")], fingerprint="f2")[0] == ["a"]
        assert plan(index, [ref("a")], may_skip=False)[0] == ["a"]
        assert plan(index, [ref("a")])[0] == []
