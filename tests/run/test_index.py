"""The run's index: on disk (SQLite in a temp folder) and in memory (one shard's), each
test on both."""

from __future__ import annotations

import pytest
from run_helpers import manifest_rows

from newsprep.run.ledger import index as index_module
from newsprep.run.ledger.index import RunIndex
from newsprep.run.ledger.memory_index import MemoryIndex
from newsprep.run.ledger.records import ArticleRecord
from newsprep.tasks.io.refs import ArticleRef


@pytest.fixture(params=[RunIndex, MemoryIndex], ids=["sqlite", "memory"])
def Index(request):  # the class under test
    return request.param


def record(article_id: str, status: str = "ok") -> ArticleRecord:
    made = ArticleRecord.start(ArticleRef(id=article_id, source=f"src/{article_id}"), "f")
    made.status = status
    return made


def test_files_come_back_in_path_order_across_pages(monkeypatch, Index) -> None:
    monkeypatch.setattr(index_module, "_PAGE", 3)  # several pages of a small listing
    names = [f"d/{n:02d}.txt" for n in range(10)]
    with Index() as index:
        index.add_files((name, "/" + name, "txt", 5, "sig") for name in reversed(names))
        assert [row[0] for row in index.files()] == names
        assert index.file_count() == 10 and index.only_single_article_files()
        index.add_files([("w.jsonl", "/w.jsonl", "jsonl", 9, "sig")])
        assert not index.only_single_article_files()


def test_claim_reports_who_used_an_id_first(Index) -> None:
    with Index() as index:
        assert index.claim("a.txt", "first") is None
        assert index.claim("a.txt", "second") == "first"
        assert index.claim("a.txt~2", "second") is None


def test_previous_records_are_typed_and_ordered(Index) -> None:
    with Index() as index:
        assert not index.has_previous() and index.previous("a") is None
        index.add_previous_lines(manifest_rows([record("b"), record("a", "rejected")]))
        assert index.has_previous()
        assert index.previous("a") == record("a", "rejected")
        assert list(index.previous_lines()) == [record("a", "rejected").to_line(),
                                                record("b").to_line()]


def test_a_later_record_line_for_an_id_replaces_the_earlier(Index) -> None:
    with Index() as index:
        index.add_record_lines([("b", "b1\n"), ("a", "a1\n")])
        index.add_record_lines([("b", "b2\n")])
        assert list(index.record_lines()) == ["a1\n", "b2\n"]


def test_outputs(Index) -> None:
    with Index() as index:
        index.add_outputs(["x/a.txt", "x/a.txt", "b.txt"])
        assert index.has_output("x/a.txt") and not index.has_output("x/b.txt")
        assert not index.has_output(None)


def test_the_folder_is_removed_on_close(Index) -> None:
    index = Index()
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


def test_claimed_paths_keep_files_and_folders_apart(Index) -> None:
    with Index() as index:
        assert index.claim_paths(["a/b.txt", "a/b.txt.reason.json"], "s1") is None
        assert index.claim_paths(["a/b.txt"], "s2") == "'a/b.txt' is the output of s1"
        assert index.claim_paths(["a"], "s3") == "'a' is a folder of s1"
        assert index.claim_paths(["a/e/f"], "s4") is None  # a folder holds many files
        assert index.claim_paths(["a/e"], "s5") == "'a/e' is a folder of s4"
        assert index.claim_paths(["c"], "s6") is None
        assert index.claim_paths(["c/d/e"], "s7") == "'c' is a file, the output of s6"
        # a refused claim reserves none of its paths
        assert index.claim_paths(["x", "c/y"], "s8") == "'c' is a file, the output of s6"
        assert index.claim_paths(["x"], "s9") is None


def test_a_path_claimed_as_a_file_and_a_folder_at_once_stays_a_file(Index) -> None:
    with Index() as index:
        assert index.claim_paths(["p", "p/q"], "s1") is None
        assert index.claim_paths(["p/r"], "s2") == "'p' is a file, the output of s1"


def done(article_id: str, **paths: str) -> ArticleRecord:
    made = record(article_id)
    for kind, path in paths.items():
        setattr(made, kind, path)
    return made


def test_previous_files_in_the_way_of_a_folder_or_a_file(Index) -> None:
    with Index() as index:
        index.add_previous_lines(manifest_rows([
            done("a", output="a"),
            done("b/c", output="b/c", highlights="b/c.highlights"),
            done("q", quarantine="_quarantine/q"),
            done("b0", output="b0"),
            done("b.x", output="b.x"),
        ]))
        assert index.previous_in_the_way(["a/x", "_quarantine/a/x"]) == ["a"]
        assert index.previous_in_the_way(["b"]) == ["b/c", "b/c.highlights"]
        assert index.previous_in_the_way(["_quarantine", "b/c/d"]) == ["_quarantine/q", "b/c"]
        assert index.previous_in_the_way(["a", "z/y"]) == []
        index.add_previous_lines(manifest_rows([done("d/e", output="d/e")]))  # added later
        assert index.previous_in_the_way(["d"]) == ["d/e"]


def test_stale_paths_and_gone_articles(Index) -> None:
    with Index() as index:
        index.add_previous_lines(manifest_rows([
            done("a", output="a"),
            done("b", output="b", highlights="b.highlights"),
            done("c", quarantine="_quarantine/c"),
        ]))
        index.add_record_lines(manifest_rows([
            done("a", output="a"), done("b", quarantine="_quarantine/b"),
        ]))
        assert index.previous_count() == 3 and index.gone_count() == 1
        assert list(index.stale_paths()) == ["_quarantine/c", "b", "b.highlights"]
        assert index.keep_gone() == 1
        assert index.gone_count() == 0 and index.keep_gone() == 0
        assert list(index.stale_paths()) == ["b", "b.highlights"]
        assert list(index.record_lines()) == [
            done("a", output="a").to_line(),
            done("b", quarantine="_quarantine/b").to_line(),
            done("c", quarantine="_quarantine/c").to_line(),
        ]


def unlisted(article_id: str) -> ArticleRecord:
    made = record(article_id, "failed")
    made.reason = "unreadable-folder"
    return made


def test_previous_records_under_an_unlisted_folder_are_kept(Index) -> None:
    with Index() as index:
        index.add_previous_lines(manifest_rows([
            done(name, output=name) for name in ("x/1", "x/2", "x/s/3", "xy/4", "z/5")
        ]))
        index.add_record_lines(manifest_rows([
            unlisted("x#unreadable"), done("x/1", output="x/1"), record("z/5"),
        ]))
        assert index.keep_unlisted() == 2  # x/2, x/s/3: not xy/4, not x/1 (seen)
        assert list(index.record_lines()) == [
            unlisted("x#unreadable").to_line(),
            done("x/1", output="x/1").to_line(),
            done("x/2", output="x/2").to_line(),
            done("x/s/3", output="x/s/3").to_line(),
            record("z/5").to_line(),
        ]
        assert index.gone_count() == 1  # xy/4


def test_an_unlisted_source_folder_keeps_every_previous_record(Index) -> None:
    with Index() as index:
        index.add_previous_lines(manifest_rows([record("a/1"), record("b")]))
        index.add_record_lines(manifest_rows([unlisted("#unreadable")]))
        assert index.keep_unlisted() == 2 and index.gone_count() == 0


def test_files_with_a_name_that_is_not_utf8_follow_the_others(Index) -> None:
    with Index() as index:
        index.add_files([
            ("d/\\x80", b"/s/d/\x80", "txt", 1, "s1"),
            ("d/\\x80", "/s/d/\\x80", "txt", 2, "s2"),
            ("d/a", "/s/d/a", "jsonl", None, "s3"),
        ])
        index.add_files([("d/a", "/s/d/a", "txt", 4, "s4")])  # listed again: replaces
        assert list(index.files()) == [
            ("d/\\x80", "/s/d/\\x80", "txt", 2, "s2"),
            ("d/\\x80", b"/s/d/\x80", "txt", 1, "s1"),
            ("d/a", "/s/d/a", "txt", 4, "s4"),
        ]
        assert index.file_count() == 3 and index.only_single_article_files()


def test_a_memory_index_keeps_the_folder_it_is_given(tmp_path) -> None:
    with MemoryIndex(str(tmp_path)) as index:
        assert index.directory == tmp_path
    assert tmp_path.is_dir()
