"""The manifest: a journal per run, compacted into one sorted record per article."""

from __future__ import annotations

import json
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.manifest import (
    JOURNAL,
    MANIFEST,
    ManifestWriter,
    existing_outputs,
    manifest_lines,
    remove_temp_files,
)
from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.refs import ArticleRef
from newsprep.tasks.io.sinks import TEMP_MARKER

FS = LocalFileSystem()


def record(article_id: str, status: str = "ok") -> ArticleRecord:
    made = ArticleRecord.start(ArticleRef(id=article_id, source=f"src/{article_id}"), "f")
    made.status = status
    return made


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_batches_are_journaled_then_compacted_sorted_by_id(tmp_path: Path) -> None:
    with RunIndex() as index:
        writer = ManifestWriter(FS, str(tmp_path), index)
        writer.load_previous()
        writer.append([record("c"), record("a")])
        assert [r["id"] for r in lines(tmp_path / JOURNAL)] == ["c", "a"]  # durable now
        writer.append([record("b", "rejected")])
        writer.compact()
    manifest = (tmp_path / MANIFEST).read_text(encoding="utf-8")
    assert manifest == record("a").to_line() + record("b", "rejected").to_line() + record(
        "c").to_line()
    assert not (tmp_path / JOURNAL).exists()


def test_a_killed_runs_journal_is_folded_into_the_manifest_at_once(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(record("a", "failed").to_line() + record("b").to_line())
    # the killed run rewrote a, and died while writing its next line
    (tmp_path / JOURNAL).write_text(record("a").to_line() + record("z").to_line()[:20])
    with RunIndex() as index:
        writer = ManifestWriter(FS, str(tmp_path), index)
        writer.load_previous()
        assert [r["id"] for r in lines(tmp_path / MANIFEST)] == ["a", "b"]
        assert lines(tmp_path / MANIFEST)[0]["status"] == "ok"
        assert (tmp_path / JOURNAL).read_text() == ""
        assert index.previous("a") == record("a")
        writer.compact()


def test_read_manifest_stops_at_a_line_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(record("a").to_line() + "\n" + record("b").to_line()[:-1])
    read = [ArticleRecord.from_line(line) for _, line in manifest_lines(FS, str(path))]
    assert read == [record("a")]
    assert list(manifest_lines(FS, str(tmp_path / "missing.jsonl"))) == []


def test_existing_outputs_and_temp_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.txt").write_text("x")
    (tmp_path / "y.txt").write_text("y")
    stale = tmp_path / "a" / f".x.txt{TEMP_MARKER}0123"
    stale.write_text("partial")
    assert remove_temp_files(FS, str(tmp_path)) == 1
    assert not stale.exists()
    assert sorted(existing_outputs(FS, str(tmp_path))) == ["a/b/x.txt", "y.txt"]
    assert list(existing_outputs(FS, str(tmp_path / "none"))) == []
