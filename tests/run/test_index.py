"""The run's on-disk index (SQLite in a temp folder)."""

from __future__ import annotations

from run_helpers import manifest_rows

from newsprep.run.ledger import index as index_module
from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.refs import ArticleRef


def record(article_id: str, status: str = "ok") -> ArticleRecord:
    made = ArticleRecord.start(ArticleRef(id=article_id, source=f"src/{article_id}"), "f")
    made.status = status
    return made


def test_files_come_back_in_path_order_across_pages(monkeypatch) -> None:
    monkeypatch.setattr(index_module, "_PAGE", 3)  # several pages of a small listing
    names = [f"d/{n:02d}.txt" for n in range(10)]
    with RunIndex() as index:
        index.add_files((name, "/" + name, "txt", 5, "sig") for name in reversed(names))
        assert [row[0] for row in index.files()] == names
        assert index.file_count() == 10 and index.only_single_article_files()
        index.add_files([("w.jsonl", "/w.jsonl", "jsonl", 9, "sig")])
        assert not index.only_single_article_files()


def test_claim_reports_who_used_an_id_first() -> None:
    with RunIndex() as index:
        assert index.claim("a.txt", "first") is None
        assert index.claim("a.txt", "second") == "first"
        assert index.claim("a.txt~2", "second") is None


def test_previous_records_are_typed_and_ordered() -> None:
    with RunIndex() as index:
        assert not index.has_previous() and index.previous("a") is None
        index.add_previous_lines(manifest_rows([record("b"), record("a", "rejected")]))
        assert index.has_previous()
        assert index.previous("a") == record("a", "rejected")
        assert list(index.previous_lines()) == [record("a", "rejected").to_line(),
                                                record("b").to_line()]


def test_a_later_record_line_for_an_id_replaces_the_earlier() -> None:
    with RunIndex() as index:
        index.add_record_lines([("b", "b1\n"), ("a", "a1\n")])
        index.add_record_lines([("b", "b2\n")])
        assert list(index.record_lines()) == ["a1\n", "b2\n"]


def test_outputs() -> None:
    with RunIndex() as index:
        index.add_outputs(["x/a.txt", "x/a.txt", "b.txt"])
        assert index.has_output("x/a.txt") and not index.has_output("x/b.txt")
        assert not index.has_output(None)


def test_the_folder_is_removed_on_close() -> None:
    index = RunIndex()
    folder = index.directory
    assert folder.is_dir()
    index.close()
    assert not folder.exists()


def test_index_folders_of_dead_runs_are_removed_by_the_next_run(tmp_path) -> None:
    """Issue 13 class 14: a killed run's folder goes when the next index is made; a folder
    whose run is alive (its owner lock held) stays."""
    import os

    live = RunIndex(str(tmp_path))
    killed = RunIndex(str(tmp_path))
    killed._cleanup.detach()  # as if killed: nothing cleans up ...
    os.close(killed._owner)  # ... and the kernel releases its lock
    killed.db.close()
    assert killed.directory.exists()

    with RunIndex(str(tmp_path)) as later:
        assert not killed.directory.exists()
        assert live.directory.exists() and later.directory.exists()
    live.close()
    assert list(tmp_path.iterdir()) == []
